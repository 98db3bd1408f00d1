// Keeping the kernel's caches true. The mount lets the kernel cache names, attributes and file
// pages (KERNEL_CACHE_OPTIONS), which is what makes reads fast; in exchange, whenever the store
// changes in a way the kernel did not do itself — a CLI command through the agent, a pull, or a
// write through one name of a secret that also shows under other names (its tags) — we tell the
// kernel to drop what it holds for the paths involved, before anyone can read them again.
import path from 'node:path'
import type { MemStore } from '../vault/mem-store.js'
import { classify } from './ops.js'
import { isFuseHiddenName } from '../vault/names.js'

export interface Invalidator {
  /** drop the attributes and cached pages of the file or folder at relPath ('/repos/r/s') */
  invalidate(relPath: string, cb: (err: (Error & { code?: string }) | null) => void): void
  /** drop the name at relPath */
  invalidateEntry(relPath: string, cb: (err: (Error & { code?: string }) | null) => void): void
}

export interface Plan {
  /** names to drop, so that the next lookup asks us (and gets fresh attributes) */
  entries: string[]
  /** files and folders whose attributes and cached pages to drop */
  inodes: string[]
}

const viewable = (p: string) => {
  const k = classify(p).k
  // libfuse's hidden names never reach the kernel (they are libfuse's, for files still open)
  return k !== 'hidden' && k !== 'invalid' && k !== 'root' && !isFuseHiddenName(p.slice(p.lastIndexOf('/') + 1))
}

/**
 * What to invalidate for a set of store changes: each changed path and every other name of a
 * changed secret loses its cached name and attributes (dropping only the attributes is not
 * enough: an open(O_APPEND) through a name still cached would write at the old size), and the
 * folders where names appeared or went lose their attributes. `exclude`: the path the operation
 * being answered acted on — the kernel's cache for it is already right, and dropping it would
 * only slow the writer down.
 */
export function planInvalidation(store: MemStore, changed: Map<string, 'entry' | 'data'>, exclude: ReadonlySet<string> = new Set()): Plan {
  const names = new Set<string>()
  const contents = new Set<string>()
  const folders = new Set<string>()
  // a secret's other names: its link count, or its content, changed under each of them
  const aliases = (p: string) => {
    for (const n of store.namesOf(p)) {
      if (n === p) continue
      names.add(n)
      contents.add(n)
    }
  }
  for (const [p, kind] of changed) {
    if (!viewable(p)) continue
    names.add(p)
    // A name that came, went or moved only needs dropping: a file still open under it keeps what
    // it had, as on any filesystem. Changed content or metadata must go from the pages and the
    // attributes too (the file may be held open, or cached under a name not yet dropped).
    if (kind === 'entry')
      folders.add(path.posix.dirname(p)) // its size, link count and times
    else contents.add(p)
    aliases(p)
  }
  const dropped = (p: string) => {
    for (let d = p; d.includes('/');) {
      d = path.posix.dirname(d)
      if (names.has(d) && !exclude.has(d)) return true
    }
    return false
  }
  const keep = (p: string) => viewable(p) && !exclude.has(p) && !dropped(p)
  return { entries: [...names].filter(keep).sort(), inodes: [...new Set([...contents, ...folders])].filter(keep).sort() }
}

/**
 * One path's invalidation of one kind ('inode': attributes and pages, 'entry': the name): at most
 * one under way and one waiting behind it. A change while one waits joins it (it has not looked
 * at the kernel yet); a change while one is under way waits for the next (the one under way may
 * already have passed). So the work follows the paths that changed, not the number of changes.
 */
interface Job {
  running: Promise<void> | null
  next: Promise<void> | null
  /** what the next start waits for first (this path's attribute invalidations, for a name) */
  after: Promise<void>[]
}

export class KernelCache {
  private jobs = new Map<string, Job>()
  private lastError = ''

  constructor(
    private readonly fuse: Invalidator,
    private readonly store: MemStore,
    private readonly log: (msg: string) => void,
  ) {}

  /**
   * Drop what the kernel holds for what changed in the store since the last call. Null when
   * there is nothing to drop.
   */
  flush(exclude?: ReadonlySet<string>): Promise<void> | null {
    const changed = this.store.takeChanged()
    if (changed.size === 0) return null
    const plan = planInvalidation(this.store, changed, exclude)
    if (plan.entries.length === 0 && plan.inodes.length === 0) return null
    // Attributes and pages first (reached through the names still cached), then the names.
    const inodes = new Map(plan.inodes.map((p) => [p, this.schedule('inode', p, null)]))
    const entries = plan.entries.map((p) => this.schedule('entry', p, inodes.get(p) ?? null))
    return Promise.all([...inodes.values(), ...entries]).then(() => undefined)
  }

  /**
   * Settles once no invalidation is under way or waiting (null when none is) — for `path`'s
   * attributes and pages only when given: an open waits for what concerns the file it opens,
   * never for other files' (under a stream of saves the whole queue may never be empty).
   */
  idle(path?: string): Promise<void> | null {
    // An open has already found its file by name: what it must not see stale is that file's
    // attributes and pages, not its name (a name's invalidation can wait on folder locks that a
    // stream of saves keeps taking).
    const keys = path === undefined ? [...this.jobs.keys()] : [`inode:${path}`]
    const waits: Promise<void>[] = []
    for (const k of keys) {
      const j = this.jobs.get(k)
      if (j?.next) waits.push(j.next)
      else if (j?.running) waits.push(j.running)
    }
    return waits.length ? Promise.all(waits).then(() => undefined) : null
  }

  private schedule(kind: 'inode' | 'entry', p: string, after: Promise<void> | null): Promise<void> {
    const key = `${kind}:${p}`
    let j = this.jobs.get(key)
    if (!j) this.jobs.set(key, (j = { running: null, next: null, after: [] }))
    const job = j
    if (after) job.after.push(after)
    if (job.next) return job.next
    const start = (): Promise<void> => {
      const deps = job.after
      job.after = []
      job.running = Promise.all(deps)
        .then(() => this.one(kind, p))
        .then(() => {
          job.running = null
          if (!job.next && this.jobs.get(key) === job) this.jobs.delete(key)
        })
      return job.running
    }
    if (!job.running) return start()
    // one is under way: the next starts when it ends (and covers every change until then)
    job.next = job.running.then(() => {
      job.next = null
      return start()
    })
    return job.next
  }

  private one(kind: 'inode' | 'entry', p: string): Promise<void> {
    const fn = kind === 'inode' ? this.fuse.invalidate : this.fuse.invalidateEntry
    return new Promise<void>((resolve) =>
      fn.call(this.fuse, '/' + p, (err) => {
        // ENOENT: the kernel had nothing by that name; ENOTCONN/ENODEV: unmounting. Anything
        // else is worth a line in the log (once): a stale cache is at worst a second old.
        if (err && !['ENOENT', 'ENOTCONN', 'ENODEV'].includes(err.code ?? '') && err.message !== this.lastError) {
          this.lastError = err.message
          this.log(`kernel cache: ${err.message}`)
        }
        resolve()
      }),
    )
  }
}
