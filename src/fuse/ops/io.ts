// Open, read, write: everything done through a file handle, from open/create to release.
// Data lives in memory; a changed file is committed when its last writer closes it (or fsyncs).
import { OPEN_DIRECT_IO, OPEN_RELEASE_LATER, type FuseOperations } from '../binding.js'
import { errnoOf } from '../../errors.js'
import { MAX_FILE_SIZE, O_ACCMODE, O_CREAT, O_EXCL, O_TRUNC, classify, type OpsContext } from './context.js'

type IoOps = Pick<FuseOperations, 'open' | 'create' | 'read' | 'write' | 'ftruncate' | 'fallocate' | 'fsync' | 'release'>

export function ioOps(c: OpsContext): IoOps {
  const { s, vol, handles } = c
  return {
    open(path, flags, cb, ctx) {
      c.guard('open', cb, () => {
        const r = c.rel(path)
        const k = c.visible(r)
        if (k.k !== 'secret' && k.k !== 'tagentry') throw c.fail('EISDIR')
        // One walk to the file for its mode, inode and link count (the open is the hot path).
        const node = s.linkAt(r)?.getNode()
        if (!node) throw c.fail('ENOENT')
        // Modes are honoured: the owner (the only user who can reach the mount) needs the bit.
        if (ctx?.uid !== 0) {
          const acc = flags & O_ACCMODE
          if ((acc !== 1 && !(node.mode & 0o400)) || (acc !== 0 && !(node.mode & 0o200))) throw c.fail('EACCES')
        }
        const fd = s.openFd(r, flags & (O_ACCMODE | O_TRUNC))
        const writable = (flags & O_ACCMODE) !== 0
        const ino = node.ino
        handles.set(fd, { ino, writable, changed: writable && (flags & O_TRUNC) !== 0 })
        if (writable) s.openWriters.set(ino, (s.openWriters.get(ino) ?? 0) + 1)
        if (writable && flags & O_TRUNC) s.touch(r)
        // A file with several names (a tagged secret: repos/R/S and tags/T/S) is several kernel
        // inodes under libfuse 2's path API, each with its own page cache, kept true by
        // invalidation when the file changes through another name. A cached read racing such an
        // invalidation can be handed zeros never written (the kernel keeps the size it had and
        // zero-fills past the shorter answer), so such files are opened around the page cache.
        // A read-only open's release changes nothing anyone sees: the binding may answer it and
        // hand it over later, in a batch (docs/FUSE.md "Answered in the binding").
        return [fd, (node.nlink > 1 ? OPEN_DIRECT_IO : 0) | (writable ? 0 : OPEN_RELEASE_LATER)]
      })
    },
    create(path, mode, cb, ctx) {
      c.guard('create', cb, () => {
        const r = c.rel(path)
        const k = classify(r)
        if (k.k === 'secret') {
          c.checkNewName(k.name)
          if (!s.stat(c.repoDir(k.repo))) throw c.fail('ENOENT')
        } else if (k.k === 'tagentry') {
          c.checkNewName(k.name)
          if (!s.stat(c.tagDir(k.tag))) throw c.fail('ENOENT')
        } else throw c.fail(k.k === 'hidden' && r.includes('/') ? 'ENOENT' : 'EPERM') // .git stays invisible; MOUNT/x is refused
        // The mode it was created with, less the umask (the kernel applies it before we see the
        // mode; ctx.umask is 0 then). The mount itself is private to its user whatever the modes.
        const perm = mode & 0o7777 & ~(ctx?.umask ?? 0)
        // (made writable first: the creator may write whatever mode it asked for, even 0)
        const fd = s.openFd(r, O_CREAT | 2 /* O_RDWR */ | O_EXCL, 0o600)
        vol.fchmodSync(fd, perm)
        const ino = s.ino(r)!
        handles.set(fd, { ino, writable: true, changed: true })
        s.openWriters.set(ino, (s.openWriters.get(ino) ?? 0) + 1)
        s.touchEntry(r)
        return [fd, 0]
      })
    },
    read(_path, fd, buf, len, pos, cb) {
      try {
        cb(vol.readSync(fd, buf, 0, len, pos) as number)
      } catch (err) {
        c.host.log(`fuse read: ${(err as Error).message}`)
        cb(-c.errnoNumber(errnoOf(err)))
      }
    },
    write(path, fd, buf, len, pos, cb) {
      try {
        if (pos + len > MAX_FILE_SIZE) return cb(-c.errnoNumber('EFBIG'))
        const n = vol.writeSync(fd, buf, 0, len, pos) as number
        const h = handles.get(fd)
        if (h) h.changed = true
        if (path) s.touch(c.rel(path)) // "": libfuse has no name for it any more
        cb(n)
      } catch (err) {
        cb(-c.errnoNumber(errnoOf(err)))
      }
    },
    ftruncate(path, fd, size, cb) {
      c.guard('ftruncate', cb, () => {
        c.checkSize(size)
        vol.ftruncateSync(fd, size)
        const h = handles.get(fd)
        if (h) h.changed = true
        if (path) s.touch(c.rel(path)) // "": libfuse has no name for it any more
      })
    },
    fallocate(path, mode, offset, length, fd, cb) {
      c.guard('fallocate', cb, () => {
        if (mode !== 0) throw c.fail('EOPNOTSUPP')
        c.checkSize(offset + length)
        const size = Number(vol.fstatSync(fd).size)
        if (offset + length > size) {
          vol.ftruncateSync(fd, offset + length)
          const h = handles.get(fd)
          if (h) h.changed = true
          if (path) s.touch(c.rel(path)) // "": libfuse has no name for it any more
        }
      })
    },
    // No flush handler: it would cost one more kernel round trip per close, and there is nothing
    // to do in it (data is in memory; commits happen on release). fgetattr: ops.ts.
    fsync(path, _datasync, fd, cb) {
      c.guard('fsync', cb, () => {
        const h = handles.get(fd)
        const repo = h ? c.repoOfIno(h.ino) : c.repoOfPath(c.rel(path))
        if (h?.changed && repo) {
          // The data is durable once committed; the release that follows finds nothing new.
          const n = s.openWriters.get(h.ino) ?? 0
          s.openWriters.delete(h.ino)
          try {
            c.host.changed(repo)
            c.host.syncNow(repo)
          } finally {
            if (n) s.openWriters.set(h.ino, n)
          }
          h.changed = false
        } else c.host.syncNow(null)
      })
    },
    release(path, fd, cb) {
      c.guard('release', cb, () => {
        const h = handles.get(fd)
        handles.delete(fd)
        s.closeFd(fd)
        if (!h) return
        if (h.writable) {
          const n = (s.openWriters.get(h.ino) ?? 1) - 1
          if (n > 0) s.openWriters.set(h.ino, n)
          else s.openWriters.delete(h.ino)
        }
        if (h.changed) {
          const repo = c.repoOfIno(h.ino) ?? c.repoOfPath(c.rel(path))
          if (repo) c.host.changed(repo)
          else c.host.touched()
        }
      })
    },
  }
}
