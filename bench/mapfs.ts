/**
 * Benchmark baseline: the thinnest possible read-only filesystem on the SAME
 * patched binding and the SAME kernel-cache options as Polykey's real mount,
 * serving files from a Map<string, Buffer> held in memory. The benchmark
 * compares Polykey's mount against this, so the ratio measures Polykey's own
 * work (crypto, archive, vault lookups), not FUSE's fixed costs.
 *
 * Kernel-cache options (KERNEL_CACHE_OPTIONS from src/fuse/binding.ts, applied
 * last so callers cannot drift from the real mount):
 *   attrTimeout 0, entryTimeout 0, negativeTimeout 0 -> every lookup and
 *   stat() reaches JS; kernelCache false, autoCache false -> page cache
 *   dropped at each open(); directIo false -> page cache used within an open.
 * See docs/FUSE.md for why the real mount favours correctness this way.
 *
 * Keys are paths relative to the mount root, "/"-separated, with or without a
 * leading "/" ("a.txt", "dir/b.txt"); intermediate directories are implied.
 */
import { DEFAULT_MOUNT_OPTIONS, KERNEL_CACHE_OPTIONS, loadFuse, mountFuse, unmountFuse, type FuseMountOptions, type FuseOperations, type FuseStat } from '../src/fuse/binding.js'

/** Any mount option except the kernel-cache ones, which are fixed. */
export type MapFsOptions = Omit<FuseMountOptions, keyof typeof KERNEL_CACHE_OPTIONS>

export { KERNEL_CACHE_OPTIONS }

const S_IFDIR = 0o040000
const S_IFREG = 0o100000

function normalize(p: string): string {
  const parts = p.split('/').filter((s) => s !== '' && s !== '.')
  if (parts.some((s) => s === '..')) throw new Error(`mapfs: ".." not allowed in ${JSON.stringify(p)}`)
  return '/' + parts.join('/')
}

export async function mountMapFs(mountpoint: string, files: Map<string, Buffer>, opts: MapFsOptions = {}): Promise<{ unmount(): Promise<void> }> {
  const Fuse = loadFuse()
  const now = Date.now()
  const uid = process.getuid?.() ?? 0
  const gid = process.getgid?.() ?? 0

  // Snapshot the tree: path -> content, dir -> child names.
  const contents = new Map<string, Buffer>()
  const dirs = new Map<string, Set<string>>([['/', new Set()]])
  for (const [key, data] of files) {
    const p = normalize(key)
    if (p === '/') throw new Error('mapfs: empty file name')
    contents.set(p, data)
    let child = p
    while (child !== '/') {
      const cut = child.lastIndexOf('/')
      const parent = cut === 0 ? '/' : child.slice(0, cut)
      let set = dirs.get(parent)
      if (!set) dirs.set(parent, (set = new Set()))
      set.add(child.slice(cut + 1))
      child = parent
    }
  }
  for (const p of contents.keys()) {
    if (dirs.has(p)) throw new Error(`mapfs: ${p} is both a file and a directory`)
  }

  const dirStat: FuseStat = { mode: S_IFDIR | 0o755, nlink: 2, size: 4096, uid, gid, atime: now, mtime: now, ctime: now }
  const fileStat = (size: number): FuseStat => ({ mode: S_IFREG | 0o444, nlink: 1, size, uid, gid, atime: now, mtime: now, ctime: now })

  const ops: FuseOperations = {
    getattr(p, cb) {
      if (dirs.has(p)) return cb(0, dirStat)
      const data = contents.get(p)
      if (data === undefined) return cb(Fuse.ENOENT)
      return cb(0, fileStat(data.length))
    },
    readdir(p, cb) {
      const set = dirs.get(p)
      if (!set) return cb(contents.has(p) ? Fuse.ENOTDIR : Fuse.ENOENT)
      return cb(0, [...set])
    },
    open(p, flags, cb) {
      if (!contents.has(p)) return cb(dirs.has(p) ? Fuse.EISDIR : Fuse.ENOENT)
      if ((flags & 3) !== 0) return cb(Fuse.EROFS) // O_WRONLY / O_RDWR
      return cb(0, 0)
    },
    read(p, _fd, buf, len, position, cb) {
      const data = contents.get(p)
      if (data === undefined) return cb(Fuse.ENOENT)
      if (position >= data.length) return cb(0)
      return cb(data.copy(buf, 0, position, Math.min(data.length, position + len)))
    },
    release(_p, _fd, cb) {
      return cb(0)
    },
  }

  const fuse = await mountFuse(mountpoint, ops, {
    ...DEFAULT_MOUNT_OPTIONS,
    fsname: 'mapfs',
    ...opts,
    ...KERNEL_CACHE_OPTIONS,
  })
  let done: Promise<void> | undefined
  return {
    unmount() {
      done ??= unmountFuse(fuse)
      return done
    },
  }
}
