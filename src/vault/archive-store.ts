// The Store over a node file, for CLI commands: reads decrypt only the members they touch;
// writes collect in an overlay and become one appended segment on flush().
import type { Change, NodeFile } from '../archive/nodefile.js'
import type { Entry } from '../archive/codec.js'
import type { StatInfo, Store } from './store.js'

type Pending =
  | { type: 'file'; data: Buffer; mode: number; mtime: number }
  | { type: 'moved'; entry: Entry; mtime: number }
  | { type: 'dir'; mode: number; mtime: number }
  | { type: 'link'; target: string; mtime: number }

const parentOf = (p: string) => {
  const i = p.lastIndexOf('/')
  return i < 0 ? '' : p.slice(0, i)
}
const baseOf = (p: string) => p.slice(p.lastIndexOf('/') + 1)

export class ArchiveStore implements Store {
  private overlay = new Map<string, Pending | null>()
  private children: Map<string, Set<string>> | null = null
  /** countFiles answers so far, kept current by setPending */
  private readonly fileCounts = new Map<string, number>()

  constructor(
    readonly node: NodeFile,
    private readonly now: () => number = Date.now,
  ) {}

  /** The effective entry at p: pending change first, then the archive. */
  private look(p: string): { pending?: Pending; entry?: Entry } | null {
    if (this.overlay.has(p)) {
      const v = this.overlay.get(p)
      return v ? { pending: v } : null
    }
    const e = this.node.get(p)
    return e ? { entry: e } : null
  }

  private childIndex(): Map<string, Set<string>> {
    if (!this.children) {
      const c = new Map<string, Set<string>>()
      const add = (p: string) => {
        const dir = parentOf(p)
        let s = c.get(dir)
        if (!s) c.set(dir, (s = new Set()))
        s.add(baseOf(p))
      }
      for (const e of this.node.entries()) if (!this.overlay.has(e.path)) add(e.path)
      for (const [p, v] of this.overlay) if (v) add(p)
      this.children = c
    }
    return this.children
  }

  private setPending(p: string, v: Pending | null): void {
    // keep the counts asked for so far right, without counting again
    for (const [dir, n] of this.fileCounts) {
      if (!p.startsWith(dir + '/')) continue
      const was = this.isFile(p)
      const now = !!v && (v.type === 'file' || v.type === 'moved')
      if (was !== now) this.fileCounts.set(dir, n + (now ? 1 : -1))
    }
    this.overlay.set(p, v)
    if (!this.children) return
    const dir = parentOf(p)
    let s = this.children.get(dir)
    if (v) {
      if (!s) this.children.set(dir, (s = new Set()))
      s.add(baseOf(p))
    } else s?.delete(baseOf(p))
  }

  readFile(p: string): Buffer | null {
    const l = this.look(p)
    if (!l) return null
    if (l.pending) {
      const v = l.pending
      if (v.type === 'file') return v.data
      if (v.type === 'moved') return this.node.readEntry(v.entry)
      if (v.type === 'link') return this.readFile(v.target)
      return null
    }
    const e = l.entry!
    if (e.type === 'link') return this.readFile(e.target)
    if (e.type === 'file') return this.node.readEntry(e)
    return null
  }

  /** Pending files one by one; the archive's in file order with few large reads (readEntries). */
  readFiles(paths: string[], fn: (p: string, data: Buffer) => void): void {
    const byEntry = new Map<Entry, string[]>()
    for (const p of paths) {
      const l = this.look(p)
      if (!l) continue
      if (l.pending) {
        const data = this.readFile(p)
        if (data) fn(p, data)
        continue
      }
      let e: Entry | undefined = l.entry!
      if (e.type === 'link') {
        const t = this.look(e.target)
        if (t?.pending) {
          const data = this.readFile(p)
          if (data) fn(p, data)
          continue
        }
        e = t?.entry
      }
      if (e?.type !== 'file') continue
      const list = byEntry.get(e)
      if (list) list.push(p)
      else byEntry.set(e, [p])
    }
    this.node.readEntries([...byEntry.keys()], (e, data) => {
      for (const p of byEntry.get(e)!) fn(p, data)
      data.fill(0) // decrypted here for this call only
    })
  }

  stat(p: string): StatInfo | null {
    const l = this.look(p)
    if (!l) return null
    if (l.pending) {
      const v = l.pending
      if (v.type === 'dir') return { type: 'dir', mode: v.mode, mtime: v.mtime, size: 0 }
      if (v.type === 'file') return { type: 'file', mode: v.mode, mtime: v.mtime, size: v.data.length }
      if (v.type === 'moved') return { type: 'file', mode: v.entry.mode, mtime: v.mtime, size: v.entry.size }
      return this.stat(v.target)
    }
    const e = l.entry!
    if (e.type === 'link') return this.stat(e.target)
    return { type: e.type === 'dir' ? 'dir' : 'file', mode: e.mode, mtime: e.mtime, size: e.size }
  }

  list(dir: string): string[] {
    return [...(this.childIndex().get(dir) ?? [])].sort()
  }

  /**
   * Files under `dir`: the node's (a walk of its index bytes, not a decode) corrected by the
   * pending changes; then kept up to date by every change, since a repository asks after each
   * commit how many loose objects it holds.
   */
  countFiles(dir: string): number {
    const known = this.fileCounts.get(dir)
    if (known !== undefined) return known
    const prefix = dir + '/'
    let n = this.node.filesUnder(dir)
    for (const [p, v] of this.overlay) {
      if (!p.startsWith(prefix)) continue
      if (this.node.get(p)?.type === 'file') n--
      if (v && (v.type === 'file' || v.type === 'moved')) n++
    }
    this.fileCounts.set(dir, n)
    return n
  }

  private isFile(p: string): boolean {
    if (this.overlay.has(p)) {
      const v = this.overlay.get(p)
      return !!v && (v.type === 'file' || v.type === 'moved')
    }
    return this.node.get(p)?.type === 'file'
  }

  writeFile(p: string, data: Buffer, opts: { mode?: number; mtime?: number } = {}): void {
    const old = this.stat(p)
    this.setPending(p, { type: 'file', data, mode: opts.mode ?? old?.mode ?? 0o600, mtime: opts.mtime ?? this.now() })
  }

  mkdir(p: string, mode = 0o700): void {
    if (this.stat(p)) return
    this.setPending(p, { type: 'dir', mode, mtime: this.now() })
  }

  remove(p: string): void {
    if (this.look(p)) this.setPending(p, null)
  }

  link(p: string, target: string): void {
    this.setPending(p, { type: 'link', target, mtime: this.now() })
  }

  linkTarget(p: string): string | null {
    const l = this.look(p)
    if (l?.pending?.type === 'link') return l.pending.target
    if (l?.entry?.type === 'link') return l.entry.target
    return null
  }

  move(from: string, to: string): void {
    const l = this.look(from)
    if (!l) return
    const st = this.stat(from)!
    if (st.type === 'dir') {
      this.setPending(to, { type: 'dir', mode: st.mode, mtime: st.mtime })
      for (const name of this.list(from)) this.move(`${from}/${name}`, `${to}/${name}`)
    } else if (l.pending) {
      this.setPending(to, l.pending)
    } else if (l.entry!.type === 'file') {
      this.setPending(to, { type: 'moved', entry: l.entry!, mtime: l.entry!.mtime })
    } else if (l.entry!.type === 'link') {
      this.setPending(to, { type: 'link', target: l.entry!.target, mtime: l.entry!.mtime })
    }
    this.setPending(from, null)
  }

  get dirty(): boolean {
    return this.overlay.size > 0
  }

  /** The pending changes as node-file changes (parents before children, deletions last). */
  changes(): Change[] {
    const puts: Change[] = []
    const dels: Change[] = []
    for (const [p, v] of [...this.overlay].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
      if (!v) {
        if (this.node.has(p)) dels.push({ op: 'delete', path: p })
      } else if (v.type === 'file') puts.push({ op: 'put', path: p, type: 'file', data: v.data, mode: v.mode, mtime: v.mtime })
      else if (v.type === 'moved') puts.push({ op: 'put', path: p, type: 'file', from: v.entry, mode: v.entry.mode, mtime: v.mtime })
      else if (v.type === 'dir') puts.push({ op: 'put', path: p, type: 'dir', mode: v.mode, mtime: v.mtime })
      else puts.push({ op: 'put', path: p, type: 'link', target: v.target, mtime: v.mtime })
    }
    return [...puts, ...dels.reverse()]
  }

  flush(): void {
    const changes = this.changes()
    this.node.commit(changes)
    this.overlay.clear()
    this.children = null
  }
}
