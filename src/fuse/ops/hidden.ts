// libfuse's hidden names. A file that is open when it is removed or renamed over is not removed:
// libfuse renames it to DIR/.fuse_hiddenNNNN (through our rename) and unlinks that name at the
// last close, so the descriptors keep a path for every request (read, write, fstat, ftruncate).
//
// The same hiding rename precedes both an unlink and a rename over the file, and the two mean
// different things for a secret: removed, it leaves every tag; renamed over (an editor's save),
// it keeps its tags and its inode and takes the new content. So a hidden secret stays as it is
// — its tag entries still show it — until the next request of the same caller (the rename,
// which libfuse sends at once after hiding) or a short while; then it is settled one way or
// the other.
import { isScratchName } from '../../vault/names.js'
import type { Kind, OpsContext } from './context.js'

/** How long a hidden secret waits for the rename that would show the hiding was a rename over it. */
const SETTLE_MS = 100

interface Hidden {
  from: string
  hidden: string
  pid: number
  /** a secret (not scratch, not a tag entry): its tags wait for the settling */
  secret: boolean
  timer: NodeJS.Timeout
  /** libfuse already unlinked the hidden name (the last close came first) */
  gone: boolean
}

const pending = new WeakMap<OpsContext, Map<string, Hidden>>()
const of = (c: OpsContext) => {
  let m = pending.get(c)
  if (!m) pending.set(c, (m = new Map()))
  return m
}

/** rename(from, hidden): the file, with its descriptors, takes libfuse's hidden name. */
export function hide(c: OpsContext, from: string, hidden: string, ks: Kind, pid: number): void {
  const { s } = c
  s.move(from, hidden)
  const secret = ks.k === 'secret' && !isScratchName(ks.name)
  if (secret)
    c.host.changed(ks.repo) // committed as removed unless the rename comes
  else c.host.touched()
  const h: Hidden = { from, hidden, pid, secret, gone: false, timer: setTimeout(() => settleRemoved(c, h), SETTLE_MS) }
  h.timer.unref?.()
  of(c).set(from, h)
}

/** Every request starts here: a hidden file of this caller that its next request does not rename over is removed. */
export function settleBefore(c: OpsContext, op: string, pid: number, dest: string | null): void {
  const m = pending.get(c)
  if (!m?.size) return
  for (const h of [...m.values()]) if (h.pid === pid && pid !== 0 && !(op === 'rename' && dest === h.from)) settleRemoved(c, h)
}

/** unlink(hidden) from libfuse: true when it was a hidden file still waiting to be settled. */
export function unlinkPending(c: OpsContext, hidden: string): boolean {
  for (const h of pending.get(c)?.values() ?? [])
    if (h.hidden === hidden) {
      h.gone = true
      return true
    }
  return false
}

/** The hidden file that a rename to `to` by this caller renames over, if any. */
export function pendingHide(c: OpsContext, to: string, pid: number): { renameOver(run: () => void): void } | null {
  const h = pending.get(c)?.get(to)
  if (!h || h.pid !== pid) return null
  return {
    renameOver(run) {
      const { s } = c
      clearTimeout(h.timer)
      of(c).delete(to)
      // Back under its name for the rename over it (the secret keeps its inode and tags); what
      // its descriptors had goes to a copy, which takes the hidden name they are known by.
      s.move(h.hidden, h.from)
      c.detached = null
      try {
        run()
      } finally {
        const copy = c.detached ?? c.detach(h.from)
        c.detached = null
        if (copy && !h.gone) s.nameOrphan(copy, h.hidden)
      }
    },
  }
}

function settleRemoved(c: OpsContext, h: Hidden): void {
  const { s } = c
  clearTimeout(h.timer)
  of(c).delete(h.from)
  // Deleting a secret removes it from every tag (its entries were waiting for this).
  if (h.secret) {
    for (const l of s.tagLinksOf(h.hidden)) s.remove(l)
    c.host.touched()
  }
  if (h.gone) s.remove(h.hidden)
  c.flushKernel()
}
