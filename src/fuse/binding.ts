/**
 * Typed loader for Polykey's patched fuse-native binding (native/fuse/index.cjs
 * + native/build/Release/fuse_native.node, built by `make -C native`; see
 * docs/FUSE.md for what is patched and why).
 *
 * The API is fuse-native 2.2.6's, with these differences:
 *   - every operation gets the calling process as a last argument after its
 *     callback: `ctx: FuseContext` ({ uid, gid, pid, umask } from
 *     fuse_get_context(), and which kernel request: req, hide);
 *     `fuse.getContext()` returns it while a handler runs
 *     synchronously. For release/releasedir (and anything else the kernel does
 *     not attribute to a process) the kernel reports uid = gid = pid = 0, so
 *     never treat ctx.uid === 0 in those ops as "root asked".
 *   - utimens(path, atime, mtime, cb, ctx): milliseconds since the epoch as
 *     numbers (integers, may be negative), or null for "leave unchanged"
 *     (UTIME_OMIT, e.g. `touch -m`). UTIME_NOW arrives as the current time.
 *   - fallocate(path, mode, offset, length, fd, cb, ctx) exists.
 *   - numeric mount options equal to 0 are honoured (attrTimeout: 0, ...).
 *   - open/create answer cb(err, fd, openFlags): OPEN_DIRECT_IO asks for
 *     direct_io on that open.
 *   - read, write, flush, release, fsync, ftruncate, fallocate and fgetattr
 *     get the path "" for an open file libfuse has no name for any more
 *     (flag_nullpath_ok): use the file handle.
 *   - between libfuse and /dev/fuse sits the binding's own channel: an OPEN of
 *     a node libfuse has no name for any more opens the file by its inode
 *     number (open with the path "" and ctx.ino), other ENOENT answers to
 *     OPEN/SETATTR become ESTALE (the kernel looks the name up again), and a
 *     GETATTR of a node without a name gets the attributes last sent for it
 *     (docs/FUSE.md "Readers racing a save").
 *
 * Callbacks take a number first: 0 for success or a negative errno
 * (Fuse.ENOENT etc.); for read/write it is the byte count instead.
 */
import { createRequire } from 'node:module'
import { accessSync, constants as fsConstants, existsSync, readFileSync } from 'node:fs'
import { execFile } from 'node:child_process'
import { constants as osConstants } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

/** The process that made the request (fuse_get_context()). */
export interface FuseContext {
  uid: number
  gid: number
  pid: number
  umask: number
  /** the kernel request being served (low 32 bits of its id): the operations one request leads to share it */
  req?: number
  /** rename only: libfuse is hiding an open file (HIDE_FOR_UNLINK, HIDE_FOR_RENAME), 0: a rename asked for */
  hide?: number
  /**
   * open with the path "" only: open the file with this inode number (st_ino). The binding's
   * channel asks when the kernel opens a node libfuse has no name for any more (a reader racing
   * a rename over the file); answer ENOENT when no such file exists. Asked only of filesystems
   * implementing open, fgetattr and release (fgetattr with the path "" then gives the attributes
   * of what the handle holds).
   */
  ino?: number
}

/** ctx.hide of libfuse's rename of an open file to .fuse_hiddenNNNN while it serves an unlink of it. */
export const HIDE_FOR_UNLINK = 1
/** ctx.hide of that rename while libfuse serves a rename over the file: the rename itself follows, with the same ctx.req. */
export const HIDE_FOR_RENAME = 2

/** What getattr/fgetattr/readdir report. Times: Date or ms since the epoch (ms precision, >= 0). */
export interface FuseStat {
  mode: number
  uid?: number
  gid?: number
  size?: number
  dev?: number
  nlink?: number
  ino?: number
  rdev?: number
  blksize?: number
  blocks?: number
  atime?: Date | number
  mtime?: Date | number
  ctime?: Date | number
}

export interface FuseStatfs {
  bsize?: number
  frsize?: number
  blocks?: number
  bfree?: number
  bavail?: number
  files?: number
  ffree?: number
  favail?: number
  fsid?: number
  flag?: number
  namemax?: number
}

/** 0 or a negative errno. */
export type FuseErr = number
export type FuseDoneCb = (err: FuseErr) => void
/**
 * Result is a file handle (> 0, stored in fi->fh and passed back as `fd`); 0 leaves fh unset.
 * open/create also take `openFlags` (OPEN_DIRECT_IO): how the kernel treats this open.
 */
export type FuseFdCb = (err: FuseErr, fd?: number, openFlags?: number) => void
/** openFlags bit: reads and writes through this open bypass the kernel's page cache (fi->direct_io). */
export const OPEN_DIRECT_IO = 1
/**
 * openFlags bit (mounts with fastAnswers): the binding may answer this open's release itself and
 * hand it to the release op later, in a batch (fd only, path "", no caller) — for opens whose
 * release changes nothing anyone can see, such as read-only ones. Requests that could tell find
 * it done: the binding hands pending releases over before any request other than getattr,
 * open, read, release and the directory reads.
 */
export const OPEN_RELEASE_LATER = 2
/** For read/write: the number of bytes transferred, or a negative errno. */
export type FuseBytesCb = (result: number) => void

export interface FuseOperations {
  init?(cb: FuseDoneCb): void
  error?(cb: FuseDoneCb): void
  access?(path: string, mode: number, cb: FuseDoneCb, ctx: FuseContext): void
  statfs?(path: string, cb: (err: FuseErr, statfs?: FuseStatfs) => void, ctx: FuseContext): void
  getattr?(path: string, cb: (err: FuseErr, stat?: FuseStat) => void, ctx: FuseContext): void
  fgetattr?(path: string, fd: number, cb: (err: FuseErr, stat?: FuseStat) => void, ctx: FuseContext): void
  flush?(path: string, fd: number, cb: FuseDoneCb, ctx: FuseContext): void
  fsync?(path: string, datasync: number, fd: number, cb: FuseDoneCb, ctx: FuseContext): void
  fsyncdir?(path: string, datasync: number, fd: number, cb: FuseDoneCb, ctx: FuseContext): void
  /** names without "." / ".."; stats (same length as names) are optional. */
  readdir?(path: string, cb: (err: FuseErr, names?: string[], stats?: FuseStat[]) => void, ctx: FuseContext): void
  truncate?(path: string, size: number, cb: FuseDoneCb, ctx: FuseContext): void
  ftruncate?(path: string, fd: number, size: number, cb: FuseDoneCb, ctx: FuseContext): void
  /** Times in ms since the epoch; null = leave that time unchanged (UTIME_OMIT). */
  utimens?(path: string, atime: number | null, mtime: number | null, cb: FuseDoneCb, ctx: FuseContext): void
  readlink?(path: string, cb: (err: FuseErr, target?: string) => void, ctx: FuseContext): void
  chown?(path: string, uid: number, gid: number, cb: FuseDoneCb, ctx: FuseContext): void
  chmod?(path: string, mode: number, cb: FuseDoneCb, ctx: FuseContext): void
  mknod?(path: string, mode: number, dev: number, cb: FuseDoneCb, ctx: FuseContext): void
  open?(path: string, flags: number, cb: FuseFdCb, ctx: FuseContext): void
  opendir?(path: string, flags: number, cb: FuseFdCb, ctx: FuseContext): void
  /** Fill `buf` (a view of the kernel's buffer, valid until cb) and call cb(bytesRead). */
  read?(path: string, fd: number, buf: Buffer, len: number, position: number, cb: FuseBytesCb, ctx: FuseContext): void
  /** `buf` is only valid until cb is called: copy what you keep. cb(bytesWritten). */
  write?(path: string, fd: number, buf: Buffer, len: number, position: number, cb: FuseBytesCb, ctx: FuseContext): void
  /** ctx is all zeros here (the kernel does not attribute release to a process). */
  release?(path: string, fd: number, cb: FuseDoneCb, ctx: FuseContext): void
  releasedir?(path: string, fd: number, cb: FuseDoneCb, ctx: FuseContext): void
  create?(path: string, mode: number, cb: FuseFdCb, ctx: FuseContext): void
  unlink?(path: string, cb: FuseDoneCb, ctx: FuseContext): void
  rename?(src: string, dest: string, cb: FuseDoneCb, ctx: FuseContext): void
  /** Hard link: `dest` is the new name for the existing `src`. */
  link?(src: string, dest: string, cb: FuseDoneCb, ctx: FuseContext): void
  /** fuse-native order: `target` is the link's content, `linkPath` the new link. */
  symlink?(target: string, linkPath: string, cb: FuseDoneCb, ctx: FuseContext): void
  mkdir?(path: string, mode: number, cb: FuseDoneCb, ctx: FuseContext): void
  rmdir?(path: string, cb: FuseDoneCb, ctx: FuseContext): void
  /** mode: 0 or FALLOC_FL_* bits (KEEP_SIZE = 1, PUNCH_HOLE = 2, ...); return EOPNOTSUPP for unsupported modes. */
  fallocate?(path: string, mode: number, offset: number, length: number, fd: number, cb: FuseDoneCb, ctx: FuseContext): void
}

/** Options of `new Fuse(mnt, ops, opts)` (-o options for libfuse 2.9). */
export interface FuseMountOptions {
  /** Per-operation timeout in ms (false or 0: none; default 15000), or per-op map with `default`. */
  timeout?: number | false | ({ default?: number | false } & { [op: string]: number | false | undefined })
  force?: boolean
  mkdir?: boolean
  debug?: boolean
  allowOther?: boolean
  allowRoot?: boolean
  autoUnmount?: boolean
  defaultPermissions?: boolean
  blkdev?: boolean
  blksize?: number
  maxRead?: number
  maxWrite?: number
  fd?: number
  userId?: number
  fsname?: string
  subtype?: string
  kernelCache?: boolean
  autoCache?: boolean
  bigWrites?: boolean
  directIo?: boolean
  hardRemove?: boolean
  useIno?: boolean
  readdirIno?: boolean
  atomicOTrunc?: boolean
  /** A number is written in octal (0o077 -> umask=0077). */
  umask?: number | string
  uid?: number
  gid?: number
  /** Seconds. */
  entryTimeout?: number
  negativeTimeout?: number
  attrTimeout?: number
  acAttrTimeout?: number
  noforget?: boolean
  remember?: number
  modules?: string
  /** Raw extra -o options (validated: no commas/spaces). */
  extraOptions?: string[]
  /**
   * The binding answers a getattr it was given the answer to before, while nothing changed since
   * (and OPEN_RELEASE_LATER works). Every request except the ones that only look (getattr, a
   * read-only open, read, readdir, release, statfs, access, xattr reads, readlink,
   * opendir/releasedir) counts as a change; the filesystem promises that those change no
   * attribute (no access times moved by reads), and calls attrsChanged() whenever anything else
   * changes what getattr answers.
   */
  fastAnswers?: boolean
}

export interface FuseInstance {
  readonly mnt: string
  readonly opts: FuseMountOptions
  readonly opened: boolean
  readonly closed: boolean
  mount(cb: (err: Error | null) => void): void
  unmount(cb: (err: (Error & { unmountFailure?: boolean }) | null) => void): void
  /** Caller of the op whose handler is running synchronously right now, else null. */
  getContext(): FuseContext | null
  errno(code: string): number
  /**
   * Drop the kernel's cached attributes and pages for the file or folder at relPath (relative to
   * the mountpoint: '/repos/web/db'). Runs off the JS thread; err.code 'ENOENT' means nothing
   * by that name was cached.
   */
  invalidate(relPath: string, cb: (err: (Error & { code?: string }) | null) => void): void
  /** Drop the kernel's cached name at relPath (a rename or removal it did not see). */
  invalidateEntry(relPath: string, cb: (err: (Error & { code?: string }) | null) => void): void
  /** fastAnswers: something getattr answers may have changed by other means than a request. */
  attrsChanged(): void
}

export interface FuseErrnos {
  readonly EPERM: number
  readonly ENOENT: number
  readonly EINTR: number
  readonly EIO: number
  readonly ENXIO: number
  readonly EBADF: number
  readonly EAGAIN: number
  readonly ENOMEM: number
  readonly EACCES: number
  readonly EBUSY: number
  readonly EEXIST: number
  readonly EXDEV: number
  readonly ENOTDIR: number
  readonly EISDIR: number
  readonly EINVAL: number
  readonly ENFILE: number
  readonly EMFILE: number
  readonly EFBIG: number
  readonly ENOSPC: number
  readonly EROFS: number
  readonly EMLINK: number
  readonly ERANGE: number
  readonly ENAMETOOLONG: number
  readonly ENOSYS: number
  readonly ENOTEMPTY: number
  readonly ELOOP: number
  readonly ENODATA: number
  readonly EOPNOTSUPP: number
  readonly ENOTCONN: number
  readonly ETIMEDOUT: number
  readonly ESTALE: number
  readonly EDQUOT: number
  readonly [code: `E${string}`]: number
}

export interface FuseConstructor extends FuseErrnos {
  new (mnt: string, ops: FuseOperations, opts?: FuseMountOptions): FuseInstance
  /** `fusermount -u -z mnt` (lazy unmount). */
  unmount(mnt: string, cb: (err: Error | null) => void): void
  isConfigured(cb: (err: Error | null, configured: boolean) => void): void
  /** What the binding's channel did by itself, over every mount of this process. */
  stats(): { rescuedOpens: number; attrsAnswered: number; releasesDeferred: number }
  /** Absolute path of the loaded fuse_native.node. */
  readonly bindingPath: string
}

/**
 * Kernel-cache options for every Polykey mount, and for the benchmark
 * baseline (bench/mapfs.ts), so both pay the same costs. The kernel may cache,
 * because the mount tells it when something changed behind its back (a CLI
 * command through the agent, a pull, a write through another name of a tagged
 * secret): src/fuse/kernel-cache.ts drops the names, attributes and pages
 * concerned (fuse.invalidate / invalidateEntry, our addition to the binding)
 * before the command answers or the next open() of those paths proceeds.
 *   - attrTimeout 1, entryTimeout 1 (libfuse's own defaults): a stat() or a
 *     path lookup within a second of the last one is answered by the kernel.
 *   - negativeTimeout 0: "does not exist" is not cached (new files are seen
 *     at once without invalidating anything).
 *   - kernelCache true: file pages survive close/open; a second `cat` of an
 *     unchanged secret never reaches us.
 *   - autoCache false: we know when content changes; no guessing from mtimes.
 *   - directIo false: the page cache serves reads, and mmap/exec work.
 */
export const KERNEL_CACHE_OPTIONS = Object.freeze({
  attrTimeout: 1,
  entryTimeout: 1,
  negativeTimeout: 0,
  kernelCache: true,
  autoCache: false,
  directIo: false,
} as const satisfies FuseMountOptions)

/**
 * Recommended full option set: KERNEL_CACHE_OPTIONS plus
 *   - bigWrites: up to 128 KiB per write request instead of 4 KiB;
 *   - autoUnmount: a fusermount helper unmounts if this process dies (even on
 *     SIGKILL), so a crash never leaves a dead "Transport endpoint is not
 *     connected" mountpoint behind.
 */
export const DEFAULT_MOUNT_OPTIONS = Object.freeze({
  ...KERNEL_CACHE_OPTIONS,
  bigWrites: true,
  autoUnmount: true,
} as const satisfies FuseMountOptions)

export class FuseUnavailableError extends Error {
  readonly code = 'FUSE_UNAVAILABLE'
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'FuseUnavailableError'
  }
}

const here = path.dirname(fileURLToPath(import.meta.url))

/**
 * native/fuse/index.cjs: from dist/src/fuse/binding.js it is
 * ../../../native/fuse/index.cjs; running the .ts directly (a TS loader) it is
 * ../../native/fuse/index.cjs.
 */
export function bindingEntryPath(): string {
  const candidates = [path.resolve(here, '..', '..', '..', 'native', 'fuse', 'index.cjs'), path.resolve(here, '..', '..', 'native', 'fuse', 'index.cjs')]
  return candidates.find((p) => existsSync(p)) ?? candidates[0]
}

/** native/build/Release/fuse_native.node next to the given index.cjs. */
function addonPathFor(entry: string): string {
  return path.resolve(path.dirname(entry), '..', 'build', 'Release', 'fuse_native.node')
}

let cached: FuseConstructor | undefined

/**
 * Load the patched binding. Throws FuseUnavailableError (code
 * 'FUSE_UNAVAILABLE') when the native build is missing or cannot be loaded
 * (e.g. libfuse.so.2 not installed).
 */
export function loadFuse(): FuseConstructor {
  if (cached) return cached
  const entry = bindingEntryPath()
  const addon = addonPathFor(entry)
  if (!existsSync(entry)) {
    throw new FuseUnavailableError(`FUSE binding missing: ${entry} not found (broken checkout?)`)
  }
  if (!existsSync(addon)) {
    throw new FuseUnavailableError(
      `FUSE binding not built: ${addon} is missing. Run \`make build\` (or \`make -C native\`); ` + 'it needs Debian libfuse-dev and pkg-config (`make system-deps`).',
    )
  }
  const require = createRequire(import.meta.url)
  try {
    cached = require(entry) as FuseConstructor
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err)
    throw new FuseUnavailableError(`FUSE binding failed to load from ${addon}: ${why}`, { cause: err })
  }
  return cached
}

/**
 * Negative errno for an errno name ('ENOENT' -> -2), as FUSE callbacks want
 * it (e.g. with errnoOf() from src/errors.ts). Unknown names give -EIO.
 */
export function errno(name: string): number {
  const n = (osConstants.errno as Record<string, number | undefined>)[name]
  return typeof n === 'number' && n > 0 ? -n : -osConstants.errno.EIO
}

/** True if /dev/fuse can be opened for reading and writing by this process. */
export function fuseDeviceAvailable(): boolean {
  try {
    accessSync('/dev/fuse', fsConstants.R_OK | fsConstants.W_OK)
    return true
  } catch {
    return false
  }
}

/** Is `mnt` (absolute) currently a mountpoint, per /proc/self/mountinfo? */
export function isMounted(mnt: string): boolean {
  const target = path.resolve(mnt)
  let info: string
  try {
    info = readFileSync('/proc/self/mountinfo', 'utf8')
  } catch {
    return false
  }
  for (const line of info.split('\n')) {
    const fields = line.split(' ')
    if (fields.length > 4 && unescapeMountPath(fields[4]) === target) return true
  }
  return false
}

function unescapeMountPath(p: string): string {
  return p.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)))
}

/** Create a Fuse instance and mount it; resolves once the kernel has sent INIT. */
export async function mountFuse(mnt: string, ops: FuseOperations, opts: FuseMountOptions = DEFAULT_MOUNT_OPTIONS): Promise<FuseInstance> {
  const Fuse = loadFuse()
  const fuse = new Fuse(mnt, ops, opts)
  await new Promise<void>((resolve, reject) => {
    fuse.mount((err) => (err ? reject(err) : resolve()))
  })
  return fuse
}

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve) => {
    execFile(cmd, args, () => resolve())
  })
}

/**
 * Unmount and make sure the mountpoint is really gone: fuse.unmount() (lazy
 * `fusermount -u -z`), then, if something is still mounted there,
 * `fusermount -u -z` and (root only) `umount -l` again.
 */
export async function unmountFuse(fuse: FuseInstance): Promise<void> {
  let firstError: Error | null = null
  await new Promise<void>((resolve) => {
    fuse.unmount((err) => {
      firstError = err
      resolve()
    })
  })
  if (!isMounted(fuse.mnt)) return
  await run('fusermount', ['-u', '-z', fuse.mnt])
  if (isMounted(fuse.mnt) && process.getuid?.() === 0) await run('umount', ['-l', fuse.mnt])
  if (isMounted(fuse.mnt)) {
    const why = firstError ? `: ${(firstError as Error).message}` : ''
    throw new Error(`could not unmount ${fuse.mnt}${why}`)
  }
}
