// Attributes: what a path is (getattr, access, statfs) and changes to it that keep its content
// (chmod, chown, utimens) — plus truncate by path, which changes only the size.
import os from 'node:os'
import type { FuseOperations } from '../binding.js'
import type { OpsContext } from './context.js'

type AttrOps = Pick<FuseOperations, 'access' | 'statfs' | 'getattr' | 'chmod' | 'chown' | 'utimens' | 'truncate'>

export function attrOps(c: OpsContext): AttrOps {
  const { s, vol } = c
  return {
    access(path, _mode, cb) {
      c.guard('access', cb, () => {
        c.visible(c.rel(path))
        vol.lstatSync(path)
      })
    },
    statfs(_path, cb) {
      c.guard('statfs', cb, () => {
        const total = os.totalmem()
        const free = os.freemem()
        return [
          {
            bsize: 4096,
            frsize: 4096,
            blocks: Math.floor(total / 4096),
            bfree: Math.floor(free / 4096),
            bavail: Math.floor(free / 4096),
            files: 1_000_000,
            ffree: 1_000_000,
            favail: 1_000_000,
            fsid: 0x706b,
            flag: 0,
            namemax: 255,
          },
        ]
      })
    },
    getattr(path, cb) {
      c.guard('getattr', cb, () => {
        const r = c.rel(path)
        if (r !== '') c.visible(r)
        return [c.statOf(r)]
      })
    },
    chmod(path, mode, cb) {
      c.guard('chmod', cb, () => {
        const r = c.rel(path)
        const k = c.visibleOrRoot(r)
        if (k.k === 'root' || k.k === 'top') throw c.fail('EPERM')
        vol.chmodSync(path, mode & 0o7777)
        s.touch(r)
        const repo = k.k === 'secret' || k.k === 'tagentry' ? c.repoOfIno(s.ino(r)!) : null
        if (repo) {
          s.touch(s.inodes().get(s.ino(r)!)!)
          c.host.changed(repo) // the executable bit is part of git history
        } else c.host.touched()
      })
    },
    chown(path, u, g, cb) {
      c.guard('chown', cb, () => {
        c.visible(c.rel(path))
        // Everything is owned by the mounting user; "changing" to that is fine, anything else is not.
        if ((u !== -1 && u !== c.uid && u !== 0xffffffff) || (g !== -1 && g !== c.gid && g !== 0xffffffff)) throw c.fail('EPERM')
      })
    },
    utimens(path, atime, mtime, cb) {
      c.guard('utimens', cb, () => {
        const r = c.rel(path)
        const k = c.visibleOrRoot(r)
        if (k.k === 'root') return
        const st = vol.lstatSync(path)
        const a = atime ?? Number(st.atimeMs)
        const m = mtime ?? Number(st.mtimeMs)
        vol.utimesSync(path, a / 1000, m / 1000)
        s.touch(r)
        const ino = s.ino(r)
        const secret = ino === null ? undefined : s.inodes().get(ino)
        if (secret) s.touch(secret)
        c.host.touched()
      })
    },
    truncate(path, size, cb) {
      c.guard('truncate', cb, () => {
        const r = c.rel(path)
        const k = c.visible(r)
        if (k.k !== 'secret' && k.k !== 'tagentry') throw c.fail('EISDIR')
        c.checkSize(size)
        vol.truncateSync(path, size)
        s.touch(r)
        const repo = c.repoOfIno(s.ino(r)!)
        // An open writer commits on release; a plain truncate(1) is a whole change by itself.
        if (repo && !s.openWriters.get(s.ino(r)!)) c.host.changed(repo)
      })
    },
  }
}
