// FUSE operations over the mounted node's memfs volume (DESIGN.md "The filesystem view").
// Handlers never throw: every outcome is an errno, and a bug becomes EIO plus a log line.
import os from 'node:os'
import type { FuseOperations, FuseStat } from './binding.js'
import type { MemStore } from '../vault/mem-store.js'
import { errnoOf, PolykeyError } from '../errors.js'
import { isScratchName, nameProblem } from '../vault/names.js'
import { REPOS, TAGS } from '../vault/vault.js'

/** What the operations need from the mounted node. */
export interface MountHost {
  store: MemStore
  /** the repository's working tree changed: commit soon (coalesced) */
  changed(repo: string): void
  /** non-history change (tags, modes, folders): save soon */
  touched(): void
  /** commit and save this repository now (fsync) */
  syncNow(repo: string | null): void
  createRepo(name: string, mode: number): void
  deleteRepo(name: string): void
  log(msg: string): void
}

type Kind =
  | { k: 'root' }
  | { k: 'top'; top: 'repos' | 'tags' }
  | { k: 'repo'; repo: string }
  | { k: 'secret'; repo: string; name: string }
  | { k: 'tag'; tag: string }
  | { k: 'tagentry'; tag: string; name: string }
  | { k: 'hidden' } // .git, node metadata: not part of the view
  | { k: 'invalid' } // anything deeper: refused

export function classify(rel: string): Kind {
  if (rel === '') return { k: 'root' }
  const p = rel.split('/')
  if (p[0] !== REPOS && p[0] !== TAGS) return { k: 'hidden' }
  if (p.length === 1) return { k: 'top', top: p[0] as 'repos' | 'tags' }
  if (p[0] === REPOS) {
    if (p.length === 2) return { k: 'repo', repo: p[1] }
    if (p[2] === '.git') return { k: 'hidden' }
    if (p.length === 3) return { k: 'secret', repo: p[1], name: p[2] }
    return { k: 'invalid' }
  }
  if (p.length === 2) return { k: 'tag', tag: p[1] }
  if (p.length === 3) return { k: 'tagentry', tag: p[1], name: p[2] }
  return { k: 'invalid' }
}

const O_ACCMODE = 3
const O_TRUNC = 0o1000
const O_CREAT = 0o100
const O_EXCL = 0o200

interface Handle {
  ino: number
  writable: boolean
  changed: boolean
}

export function makeOperations(host: MountHost, errnoOfCode: (code: string) => number): FuseOperations {
  /** positive errno number for a code name (the binding's constants are negative) */
  const errnoNumber = (code: string) => Math.abs(errnoOfCode(code) || errnoOfCode('EIO'))
  const s = host.store
  const vol = s.vol
  const uid = process.getuid?.() ?? 0
  const gid = process.getgid?.() ?? 0
  const handles = new Map<number, Handle>()
  const fail = (code: string) => new PolykeyError('NOT_PERMITTED', code, { errno: code })
  const rel = (p: string) => (p === '/' ? '' : p.slice(1))

  /** Run a handler; map any error to -errno; unexpected errors are bugs: EIO plus a log line. */
  function guard<T extends unknown[]>(op: string, cb: (err: number, ...rest: any[]) => void, fn: () => T | number | void): void {
    let result: unknown
    try {
      result = fn()
    } catch (err) {
      const code = err instanceof PolykeyError && err.data.errno ? String(err.data.errno) : errnoOf(err)
      if (code === 'EIO' && !(err instanceof PolykeyError)) host.log(`fuse ${op}: ${(err as Error)?.stack ?? err}`)
      cb(-errnoNumber(code))
      return
    }
    if (Array.isArray(result)) cb(0, ...result)
    else cb(typeof result === 'number' ? result : 0)
  }

  const repoOfPath = (r: string): string | null => {
    const k = classify(r)
    return k.k === 'secret' && !isScratchName(k.name) ? k.repo : null
  }
  /** The repository a file belongs to (through its inode, so tag paths count too). */
  const repoOfIno = (ino: number): string | null => {
    const p = s.inodes().get(ino)
    return p ? p.split('/')[1] : null
  }

  const checkNewName = (name: string) => {
    const why = nameProblem(name)
    if (why) throw fail(Buffer.byteLength(name) > 255 ? 'ENAMETOOLONG' : 'EINVAL')
  }

  const statOf = (r: string): FuseStat => {
    const st = vol.lstatSync('/' + r)
    return {
      mode: Number(st.mode),
      uid,
      gid,
      size: Number(st.size),
      nlink: Number(st.nlink) || 1,
      ino: Number(st.ino),
      mtime: Number(st.mtimeMs),
      atime: Number(st.atimeMs),
      ctime: Number(st.ctimeMs),
      blksize: 4096,
      blocks: Math.ceil(Number(st.size) / 512),
    }
  }

  const visible = (r: string) => {
    const k = classify(r)
    if (k.k === 'hidden' || k.k === 'invalid') throw fail('ENOENT')
    return k
  }

  return {
    init(cb) {
      cb(0)
    },
    access(path, _mode, cb) {
      guard('access', cb, () => {
        visible(rel(path))
        vol.lstatSync(path)
      })
    },
    statfs(_path, cb) {
      guard('statfs', cb, () => {
        const total = os.totalmem()
        const free = os.freemem()
        return [{ bsize: 4096, frsize: 4096, blocks: Math.floor(total / 4096), bfree: Math.floor(free / 4096), bavail: Math.floor(free / 4096), files: 1_000_000, ffree: 1_000_000, favail: 1_000_000, fsid: 0x706b, flag: 0, namemax: 255 }]
      })
    },
    getattr(path, cb) {
      guard('getattr', cb, () => {
        const r = rel(path)
        if (r !== '') visible(r)
        return [statOf(r)]
      })
    },
    readdir(path, cb) {
      guard('readdir', cb, () => {
        const r = rel(path)
        const k = r === '' ? ({ k: 'root' } as Kind) : visible(r)
        if (k.k === 'root') return [['.', '..', REPOS, TAGS]]
        const names = (vol.readdirSync(path) as string[]).map(String)
        return [['.', '..', ...(k.k === 'repo' ? names.filter((n) => n !== '.git') : names)]]
      })
    },
    open(path, flags, cb, ctx) {
      guard('open', cb, () => {
        const r = rel(path)
        const k = visible(r)
        if (k.k !== 'secret' && k.k !== 'tagentry') throw fail('EISDIR')
        // Modes are honoured: the owner (the only user who can reach the mount) needs the bit.
        if (ctx?.uid !== 0) {
          const mode = s.stat(r)!.mode
          const acc = flags & O_ACCMODE
          if ((acc !== 1 && !(mode & 0o400)) || (acc !== 0 && !(mode & 0o200))) throw fail('EACCES')
        }
        const fd = vol.openSync(path, flags & (O_ACCMODE | O_TRUNC)) as number
        const writable = (flags & O_ACCMODE) !== 0
        const ino = s.ino(r)!
        handles.set(fd, { ino, writable, changed: writable && (flags & O_TRUNC) !== 0 })
        if (writable) s.openWriters.set(ino, (s.openWriters.get(ino) ?? 0) + 1)
        if (writable && flags & O_TRUNC) s.touch(r)
        return [fd]
      })
    },
    create(path, mode, cb) {
      guard('create', cb, () => {
        const r = rel(path)
        const k = classify(r)
        if (k.k === 'secret') {
          checkNewName(k.name)
          if (!s.stat(`${REPOS}/${k.repo}`)) throw fail('ENOENT')
        } else if (k.k === 'tagentry') {
          checkNewName(k.name)
          if (!s.stat(`${TAGS}/${k.tag}`)) throw fail('ENOENT')
        } else throw fail(k.k === 'hidden' && r.includes('/') ? 'ENOENT' : 'EPERM') // .git stays invisible; MOUNT/x is refused
        // New files are 0600 whatever the creating process's umask: secrets stay private unless chmod says otherwise.
        void mode
        const fd = vol.openSync(path, O_CREAT | 2 /* O_RDWR */ | O_EXCL, 0o600) as number
        vol.fchmodSync(fd, 0o600)
        const ino = s.ino(r)!
        handles.set(fd, { ino, writable: true, changed: true })
        s.openWriters.set(ino, (s.openWriters.get(ino) ?? 0) + 1)
        s.touchEntry(r)
        return [fd]
      })
    },
    read(_path, fd, buf, len, pos, cb) {
      try {
        cb(vol.readSync(fd, buf, 0, len, pos) as number)
      } catch (err) {
        host.log(`fuse read: ${(err as Error).message}`)
        cb(-errnoNumber(errnoOf(err)))
      }
    },
    write(path, fd, buf, len, pos, cb) {
      try {
        const n = vol.writeSync(fd, buf, 0, len, pos) as number
        const h = handles.get(fd)
        if (h) h.changed = true
        s.touch(rel(path))
        cb(n)
      } catch (err) {
        cb(-errnoNumber(errnoOf(err)))
      }
    },
    truncate(path, size, cb) {
      guard('truncate', cb, () => {
        const r = rel(path)
        const k = visible(r)
        if (k.k !== 'secret' && k.k !== 'tagentry') throw fail('EISDIR')
        vol.truncateSync(path, size)
        s.touch(r)
        const repo = repoOfIno(s.ino(r)!)
        // An open writer commits on release; a plain truncate(1) is a whole change by itself.
        if (repo && !s.openWriters.get(s.ino(r)!)) host.changed(repo)
      })
    },
    ftruncate(path, fd, size, cb) {
      guard('ftruncate', cb, () => {
        vol.ftruncateSync(fd, size)
        const h = handles.get(fd)
        if (h) h.changed = true
        s.touch(rel(path))
      })
    },
    fallocate(path, mode, offset, length, fd, cb) {
      guard('fallocate', cb, () => {
        if (mode !== 0) throw fail('EOPNOTSUPP')
        const size = Number(vol.fstatSync(fd).size)
        if (offset + length > size) {
          vol.ftruncateSync(fd, offset + length)
          const h = handles.get(fd)
          if (h) h.changed = true
          s.touch(rel(path))
        }
      })
    },
    // No flush/fgetattr handlers: each would cost one more kernel round trip per close/open,
    // and there is nothing to do in them (data is in memory; commits happen on release).
    fsync(path, _datasync, fd, cb) {
      guard('fsync', cb, () => {
        const h = handles.get(fd)
        const repo = h ? repoOfIno(h.ino) : repoOfPath(rel(path))
        if (h?.changed && repo) {
          // The data is durable once committed; the release that follows finds nothing new.
          const n = s.openWriters.get(h.ino) ?? 0
          s.openWriters.delete(h.ino)
          try {
            host.changed(repo)
            host.syncNow(repo)
          } finally {
            if (n) s.openWriters.set(h.ino, n)
          }
          h.changed = false
        } else host.syncNow(null)
      })
    },
    release(path, fd, cb) {
      guard('release', cb, () => {
        const h = handles.get(fd)
        handles.delete(fd)
        vol.closeSync(fd)
        if (!h) return
        if (h.writable) {
          const n = (s.openWriters.get(h.ino) ?? 1) - 1
          if (n > 0) s.openWriters.set(h.ino, n)
          else s.openWriters.delete(h.ino)
        }
        if (h.changed) {
          const repo = repoOfIno(h.ino) ?? repoOfPath(rel(path))
          if (repo) host.changed(repo)
          else host.touched()
        }
      })
    },
    unlink(path, cb) {
      guard('unlink', cb, () => {
        const r = rel(path)
        const k = visible(r)
        if (k.k === 'secret') {
          const repo = isScratchName(k.name) ? null : k.repo
          // Deleting a secret removes it from every tag.
          if (repo) for (const l of s.tagLinksOf(r)) s.remove(l)
          s.remove(r)
          if (repo) host.changed(repo)
        } else if (k.k === 'tagentry') {
          s.remove(r)
          host.touched()
        } else throw fail('EISDIR')
      })
    },
    rename(src, dest, cb) {
      guard('rename', cb, () => rename(rel(src), rel(dest)))
    },
    link(src, dest, cb) {
      guard('link', cb, () => {
        const rs = rel(src)
        const rd = rel(dest)
        const ks = visible(rs)
        const kd = classify(rd)
        if (ks.k !== 'secret' && ks.k !== 'tagentry') throw fail('EPERM') // no hardlinked folders
        const ino = s.ino(rs)
        const target = ino === null ? undefined : s.inodes().get(ino)
        if (!target) throw fail('EPERM') // only secrets can be tagged
        if (kd.k !== 'tagentry') throw fail('EPERM') // a secret lives in one repository
        checkNewName(kd.name)
        if (!s.stat(`${TAGS}/${kd.tag}`)) throw fail('ENOENT')
        if (s.stat(rd)) throw fail('EEXIST')
        s.link(rd, target)
        host.touched()
      })
    },
    mkdir(path, _mode, cb) {
      guard('mkdir', cb, () => {
        const r = rel(path)
        const k = classify(r)
        if (k.k === 'hidden' || k.k === 'invalid') throw fail('EPERM') // before EEXIST: .git stays invisible
        if (s.stat(r)) throw fail('EEXIST')
        if (k.k === 'repo') {
          checkNewName(k.repo)
          if (k.repo === '.git') throw fail('EINVAL')
          host.createRepo(k.repo, 0o700)
        } else if (k.k === 'tag') {
          checkNewName(k.tag)
          s.mkdir(r, 0o700)
          host.touched()
        } else throw fail('EPERM') // repositories are flat
      })
    },
    rmdir(path, cb) {
      guard('rmdir', cb, () => {
        const r = rel(path)
        const k = visible(r)
        if (k.k === 'repo') {
          if (s.list(r).some((n) => n !== '.git')) throw fail('ENOTEMPTY')
          host.deleteRepo(k.repo)
        } else if (k.k === 'tag') {
          if (s.list(r).length) throw fail('ENOTEMPTY')
          s.remove(r)
          host.touched()
        } else if (k.k === 'secret' || k.k === 'tagentry') throw fail('ENOTDIR')
        else throw fail('EPERM')
      })
    },
    chmod(path, mode, cb) {
      guard('chmod', cb, () => {
        const r = rel(path)
        const k = r === '' ? ({ k: 'root' } as Kind) : visible(r)
        if (k.k === 'root' || k.k === 'top') throw fail('EPERM')
        vol.chmodSync(path, mode & 0o7777)
        s.touch(r)
        const repo = k.k === 'secret' || k.k === 'tagentry' ? repoOfIno(s.ino(r)!) : null
        if (repo) {
          s.touch(s.inodes().get(s.ino(r)!)!)
          host.changed(repo) // the executable bit is part of git history
        } else host.touched()
      })
    },
    chown(path, u, g, cb) {
      guard('chown', cb, () => {
        visible(rel(path))
        // Everything is owned by the mounting user; "changing" to that is fine, anything else is not.
        if ((u !== -1 && u !== uid && u !== 0xffffffff) || (g !== -1 && g !== gid && g !== 0xffffffff)) throw fail('EPERM')
      })
    },
    utimens(path, atime, mtime, cb) {
      guard('utimens', cb, () => {
        const r = rel(path)
        const k = r === '' ? ({ k: 'root' } as Kind) : visible(r)
        if (k.k === 'root') return
        const st = vol.lstatSync(path)
        const a = atime ?? Number(st.atimeMs)
        const m = mtime ?? Number(st.mtimeMs)
        vol.utimesSync(path, a / 1000, m / 1000)
        s.touch(r)
        const ino = s.ino(r)
        const secret = ino === null ? undefined : s.inodes().get(ino)
        if (secret) s.touch(secret)
        host.touched()
      })
    },
    symlink(_target, _path, cb) {
      cb(-errnoNumber('EPERM'))
    },
    mknod(_path, _mode, _dev, cb) {
      cb(-errnoNumber('EPERM'))
    },
    readlink(_path, cb) {
      cb(-errnoNumber('EINVAL'))
    },
  }

  /** Rename tag entry `entry` to NAME, or NAME@REPO when the tag shows another NAME (vault.ts linkIntoTag). */
  function renameTagEntry(entry: string, repo: string, name: string): void {
    const dir = entry.slice(0, entry.lastIndexOf('/'))
    const ino = s.ino(entry)
    for (const want of [name, `${name}@${repo}`]) {
      const p = `${dir}/${want}`
      if (p === entry) return
      if (Buffer.byteLength(want) > 255) return
      if (s.stat(p)) {
        if (s.ino(p) === ino) return
        continue
      }
      s.move(entry, p)
      return
    }
  }

  function rename(rs: string, rd: string): void {
    const ks = visible(rs)
    const kd = classify(rd)
    if (kd.k === 'hidden' || kd.k === 'invalid' || kd.k === 'root' || kd.k === 'top') throw fail('EPERM')
    if (ks.k === 'root' || ks.k === 'top') throw fail('EPERM')
    // Folders: repository and tag renames.
    if (ks.k === 'repo' || ks.k === 'tag') {
      if (kd.k !== ks.k) throw fail('EPERM')
      const name = kd.k === 'repo' ? kd.repo : (kd as { tag: string }).tag
      checkNewName(name)
      if (name === '.git') throw fail('EINVAL')
      const dst = s.stat(rd)
      if (dst) {
        if (dst.type !== 'dir') throw fail('ENOTDIR')
        if (s.list(rd).some((n) => n !== '.git')) throw fail('ENOTEMPTY')
        if (kd.k === 'repo') host.deleteRepo((kd as { repo: string }).repo)
        else s.remove(rd)
      }
      s.move(rs, rd)
      host.touched()
      return
    }
    // Files.
    if (kd.k !== 'secret' && kd.k !== 'tagentry') throw fail('EPERM')
    checkNewName(kd.name)
    const srcIno = s.ino(rs)!
    const srcRepo = repoOfIno(srcIno)
    const dstStat = s.stat(rd)
    if (dstStat?.type === 'dir') throw fail('EISDIR')
    const dstIno = dstStat ? s.ino(rd) : null
    if (dstIno !== null && dstIno === srcIno) {
      // rename(2) between two links of one file does nothing
      return
    }
    const dstSecret = dstIno === null ? undefined : s.inodes().get(dstIno)
    if (dstSecret) {
      // Renaming over a secret (editors' write-temp-then-rename, sed -i, cp+mv, through a tag
      // path or a repository path): the secret keeps its identity — its tags, its repository —
      // and takes the new content and mode. What was renamed goes away.
      const data = s.readFile(rs)!
      const mode = s.stat(rs)!.mode
      const mtime = s.stat(rs)!.mtime
      if (srcRepo) for (const l of s.tagLinksOf(rs)) if (l !== rd) s.remove(l)
      s.remove(rs)
      s.writeFile(dstSecret, data, { mode, mtime })
      data.fill(0)
      if (srcRepo) host.changed(srcRepo)
      host.changed(dstSecret.split('/')[1])
      return
    }
    if (kd.k === 'secret') {
      if (ks.k === 'tagentry' && srcRepo) throw fail('EPERM') // a tag entry cannot become a new secret
      if (!s.stat(`${REPOS}/${kd.repo}`)) throw fail('ENOENT')
      if (dstStat) s.remove(rd)
      const links = srcRepo && !isScratchName(kd.name) ? s.tagLinksOf(rs) : []
      s.move(rs, rd)
      // A tag entry is named after its secret (as `polykey secret mv` does): entries follow.
      for (const l of links) renameTagEntry(l, kd.repo, kd.name)
      if (srcRepo) host.changed(srcRepo)
      if (!isScratchName(kd.name)) host.changed(kd.repo)
      host.touched()
      return
    }
    // Into a tag folder: a tag entry moving between tags / renamed, or scratch staying scratch.
    if (ks.k === 'secret' && srcRepo) throw fail('EPERM') // to tag a secret, ln it
    if (!s.stat(`${TAGS}/${kd.tag}`)) throw fail('ENOENT')
    if (dstStat) s.remove(rd)
    s.move(rs, rd)
    host.touched()
  }
}
