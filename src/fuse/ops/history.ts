// The history/ folder (src/fuse/history.ts) in front of the other operations: a path under
// /history is answered here, read-only (EROFS for any change, whichever side of a rename or
// link it is on); everything else goes through unchanged, except that the root lists history.
import type { FuseOperations, FuseStat } from '../binding.js'
import type { OpsContext, OpCb } from './context.js'
import { HISTORY, type HistoryKind, type HistoryView } from '../history.js'
import { O_ACCMODE, O_TRUNC } from './context.js'

const S_IFDIR = 0o040000
const S_IFREG = 0o100000
/** Handles of past secrets: far above memfs's descriptors, so read/release know whose it is. */
const FD_BASE = 1 << 30

const under = (p: string) => p === `/${HISTORY}` || p.startsWith(`/${HISTORY}/`)

/** Called for each open of a past secret before it is read: throw to refuse (EACCES). */
export type HistoryOpenCheck = (rel: string, k: Extract<HistoryKind, { k: 'file' }>, ctx: { pid: number; uid: number } | undefined) => void

export function withHistory(c: OpsContext, ops: FuseOperations, view: HistoryView, onOpen?: HistoryOpenCheck): FuseOperations {
  const open = new Map<number, Buffer>()
  let nextFd = FD_BASE
  const t0 = Date.now()

  const find = (p: string): HistoryKind => {
    const k = view.classify(c.rel(p))
    if (!k) throw c.fail('ENOENT')
    return k
  }
  const stat = (p: string, k: HistoryKind): FuseStat => {
    const base = { uid: c.uid, gid: c.gid, ino: view.ino(c.rel(p)), blksize: 4096 }
    if (k.k === 'file') {
      const size = view.size(k.repo, k.entry)
      const t = k.commit.time * 1000
      return { ...base, mode: S_IFREG | (k.entry.executable ? 0o500 : 0o400), size, nlink: 1, mtime: t, atime: t, ctime: t, blocks: Math.ceil(size / 512) }
    }
    const t = k.k === 'commit' ? k.commit.time * 1000 : t0
    return { ...base, mode: S_IFDIR | 0o500, size: 0, nlink: 2, mtime: t, atime: t, ctime: t, blocks: 0 }
  }
  const erofs = (name: string, cb: OpCb) =>
    c.guard(name, cb, () => {
      throw c.fail('EROFS')
    })

  // Which argument of each changing operation is a path (both for rename and link).
  const changing: Record<string, number[]> = {
    chmod: [0],
    chown: [0],
    utimens: [0],
    truncate: [0],
    create: [0],
    mkdir: [0],
    rmdir: [0],
    unlink: [0],
    symlink: [1],
    mknod: [0],
    rename: [0, 1],
    link: [0, 1],
  }
  const out: Record<string, unknown> = { ...ops }
  for (const [name, at] of Object.entries(changing)) {
    const fn = (ops as Record<string, ((...a: unknown[]) => void) | undefined>)[name]
    if (!fn) continue
    out[name] = (...args: unknown[]) => {
      if (at.some((i) => typeof args[i] === 'string' && under(args[i] as string))) {
        // A history path that does not exist is still EROFS for creating ops, ENOENT otherwise.
        return erofs(name, args.find((a) => typeof a === 'function') as OpCb)
      }
      fn(...args)
    }
  }

  const ho: Partial<FuseOperations> = {
    getattr(path, cb, ctx) {
      if (!under(path)) return ops.getattr!(path, cb, ctx)
      c.guard('getattr', cb, () => [stat(path, find(path))])
    },
    access(path, mode, cb, ctx) {
      if (!under(path)) return ops.access!(path, mode, cb, ctx)
      c.guard('access', cb, () => {
        find(path)
        if (mode & 2) throw c.fail('EROFS')
      })
    },
    readdir(path, cb, ctx) {
      if (!under(path)) {
        if (path !== '/') return ops.readdir!(path, cb, ctx)
        return ops.readdir!(path, ((err: number, names?: string[]) => (err ? cb(err) : cb(0, [...(names ?? []), HISTORY]))) as typeof cb, ctx)
      }
      c.guard('readdir', cb, () => {
        const k = find(path)
        if (k.k === 'top') return [['.', '..', ...view.repos()]]
        if (k.k === 'repo') return [['.', '..', ...view.commits(k.repo)!.map((x) => x.folder)]]
        if (k.k === 'commit') return [['.', '..', ...view.tree(k.repo, k.commit).keys()]]
        throw c.fail('ENOTDIR')
      })
    },
    open(path, flags, cb, ctx) {
      if (!under(path)) return ops.open!(path, flags, cb, ctx)
      c.guard('open', cb, () => {
        const k = find(path)
        if (k.k !== 'file') throw c.fail('EISDIR')
        if ((flags & O_ACCMODE) !== 0 || flags & O_TRUNC) throw c.fail('EROFS')
        onOpen?.(c.rel(path), k, ctx)
        const fd = nextFd++
        if (nextFd >= 2 ** 31 - 1) nextFd = FD_BASE
        open.set(fd, view.read(k.repo, k.entry))
        return [fd]
      })
    },
    read(path, fd, buf, len, pos, cb, ctx) {
      const data = open.get(fd)
      if (!data) return ops.read!(path, fd, buf, len, pos, cb, ctx)
      const n = Math.max(0, Math.min(len, data.length - pos))
      if (n > 0) data.copy(buf, 0, pos, pos + n)
      cb(n)
    },
    write(path, fd, buf, len, pos, cb, ctx) {
      if (open.has(fd)) return cb(-c.errnoNumber('EBADF'))
      ops.write!(path, fd, buf, len, pos, cb, ctx)
    },
    release(path, fd, cb, ctx) {
      const data = open.get(fd)
      if (!data) return ops.release!(path, fd, cb, ctx)
      open.delete(fd)
      data.fill(0)
      cb(0)
    },
    fsync(path, datasync, fd, cb, ctx) {
      if (open.has(fd)) return cb(0)
      ops.fsync!(path, datasync, fd, cb, ctx)
    },
    ftruncate(path, fd, size, cb, ctx) {
      if (open.has(fd)) return erofs('ftruncate', cb)
      ops.ftruncate!(path, fd, size, cb, ctx)
    },
    fallocate(path, mode, offset, length, fd, cb, ctx) {
      if (open.has(fd)) return erofs('fallocate', cb)
      ops.fallocate!(path, mode, offset, length, fd, cb, ctx)
    },
  }
  return { ...(out as FuseOperations), ...ho }
}
