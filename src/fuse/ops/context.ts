// What every group of FUSE operations shares: the mounted node, the open handles, the path
// classification and the error plumbing. One object, built once per mount (makeOperations).
import type { FuseStat } from '../binding.js'
import type { MemStore } from '../../vault/mem-store.js'
import { errnoOf, PolykeyError } from '../../errors.js'
import { isScratchName, nameProblem } from '../../vault/names.js'
import { REPOS, TAGS } from '../../vault/vault.js'

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
  /** the store changed outside any request (a timer): drop what the kernel cached for it */
  changedOutOfBand?(): void
}

export type Kind =
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

export const O_ACCMODE = 3
export const O_TRUNC = 0o1000
export const O_CREAT = 0o100
export const O_EXCL = 0o200

/**
 * The largest file the store holds. The whole node lives in memory, one buffer per file, and
 * a secret of a gigabyte is already far from what a secret is; beyond it: EFBIG.
 */
export const MAX_FILE_SIZE = 1 << 30

export interface Handle {
  /** the inode it was opened on (a rename over the file gives the handle a nameless copy's) */
  ino: number
  writable: boolean
  changed: boolean
}

/** A callback as libfuse gives it: 0 or -errno first, results after. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the binding's edge: each op answers its own result types
export type OpCb = (err: number, ...rest: any[]) => void

export class OpsContext {
  readonly s: MemStore
  readonly vol: MemStore['vol']
  readonly uid = process.getuid?.() ?? 0
  readonly gid = process.getgid?.() ?? 0
  readonly handles = new Map<number, Handle>()
  /** the nameless copy the last rename over a secret left its open descriptors (hidden.ts names it) */
  detached: ReturnType<MemStore['detachOpenFiles']> = null

  constructor(
    readonly host: MountHost,
    private readonly errnoOfCode: (code: string) => number,
  ) {
    this.s = host.store
    this.vol = host.store.vol
  }

  /** positive errno number for a code name (the binding's constants are negative) */
  errnoNumber(code: string): number {
    return Math.abs(this.errnoOfCode(code) || this.errnoOfCode('EIO'))
  }

  fail(code: string): PolykeyError {
    return new PolykeyError('NOT_PERMITTED', code, { errno: code })
  }

  rel(p: string): string {
    return p === '/' ? '' : p.slice(1)
  }

  /** Run a handler; map any error to -errno; unexpected errors are bugs: EIO plus a log line. */
  guard(op: string, cb: OpCb, fn: () => unknown[] | number | void): void {
    let result: unknown
    try {
      result = fn()
    } catch (err) {
      const code = err instanceof PolykeyError && err.data.errno ? String(err.data.errno) : errnoOf(err)
      if (code === 'EIO' && !(err instanceof PolykeyError)) this.host.log(`fuse ${op}: ${(err as Error)?.stack ?? err}`)
      cb(-this.errnoNumber(code))
      return
    }
    if (Array.isArray(result)) cb(0, ...result)
    else cb(typeof result === 'number' ? result : 0)
  }

  flushKernel(): void {
    this.host.changedOutOfBand?.()
  }

  /** EFBIG for a size past what the store holds. */
  checkSize(size: number): void {
    if (!(size <= MAX_FILE_SIZE)) throw this.fail('EFBIG')
  }

  /**
   * The file at r takes new content as a whole: its open descriptors keep the old content in a
   * nameless copy (POSIX: a descriptor keeps the file it opened). Their handles follow the copy:
   * what they write is no longer the secret's and is never committed. Returns the copy.
   */
  detach(r: string) {
    const copy = this.s.detachOpenFiles(r)
    if (!copy) return null
    for (const [fd, h] of this.handles) {
      if (this.s.nodeOfFd(fd) !== copy) continue
      if (h.writable) {
        const n = (this.s.openWriters.get(h.ino) ?? 1) - 1
        if (n > 0) this.s.openWriters.set(h.ino, n)
        else this.s.openWriters.delete(h.ino)
      }
      h.ino = copy.ino
      h.changed = false
    }
    return copy
  }

  repoOfPath(r: string): string | null {
    const k = classify(r)
    return k.k === 'secret' && !isScratchName(k.name) ? k.repo : null
  }

  /** The repository a file belongs to (through its inode, so tag paths count too). */
  repoOfIno(ino: number): string | null {
    const p = this.s.inodes().get(ino)
    return p ? p.split('/')[1] : null
  }

  checkNewName(name: string): void {
    const why = nameProblem(name)
    if (why) throw this.fail(Buffer.byteLength(name) > 255 ? 'ENAMETOOLONG' : 'EINVAL')
  }

  /** The attributes of the file or folder at r; ENOENT when there is none. */
  statOf(r: string): FuseStat {
    const l = this.s.linkAt(r)
    if (!l) throw this.fail('ENOENT')
    const n = l.getNode()
    return {
      mode: n.mode,
      uid: this.uid,
      gid: this.gid,
      size: n.size,
      nlink: n.nlink || 1,
      ino: n.ino,
      mtime: n.mtime.getTime(),
      atime: n.atime.getTime(),
      ctime: n.ctime.getTime(),
      blksize: 4096,
      blocks: Math.ceil(n.size / 512),
    }
  }

  /** What a handle holds (it may have no name left: nlink 0). */
  statOfFd(fd: number): FuseStat {
    const st = this.vol.fstatSync(fd)
    return { ...this.toStat(st), nlink: Number(st.nlink) }
  }

  private toStat(st: {
    mode: number | bigint
    size: number | bigint
    nlink: number | bigint
    ino: number | bigint
    mtimeMs: number | bigint
    atimeMs: number | bigint
    ctimeMs: number | bigint
  }): FuseStat {
    return {
      mode: Number(st.mode),
      uid: this.uid,
      gid: this.gid,
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

  /** The kind of a path the view shows; ENOENT for what it hides. */
  visible(r: string): Kind {
    const k = classify(r)
    if (k.k === 'hidden' || k.k === 'invalid') throw this.fail('ENOENT')
    return k
  }

  /** Like visible, but the root counts too. */
  visibleOrRoot(r: string): Kind {
    return r === '' ? { k: 'root' } : this.visible(r)
  }

  tagDir(tag: string): string {
    return `${TAGS}/${tag}`
  }

  repoDir(repo: string): string {
    return `${REPOS}/${repo}`
  }
}
