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

export class KernelCache {
  private inflight = new Set<Promise<void>>()
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
    const p = this.run(plan).finally(() => this.inflight.delete(p))
    this.inflight.add(p)
    return p
  }

  /** Settles once no invalidation is under way (null when none is). */
  idle(): Promise<void> | null {
    if (this.inflight.size === 0) return null
    return Promise.all([...this.inflight]).then(() => undefined)
  }

  private async run(plan: Plan): Promise<void> {
    const one = (fn: Invalidator['invalidate'], p: string) =>
      new Promise<void>((resolve) =>
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
    // Attributes and pages first (reached through the names still cached), then the names.
    await Promise.all(plan.inodes.map((p) => one(this.fuse.invalidate, p)))
    await Promise.all(plan.entries.map((p) => one(this.fuse.invalidateEntry, p)))
  }
}
