// libfuse's hidden names. A file that is open when it is removed or renamed over is not removed:
// libfuse renames it to DIR/.fuse_hiddenNNNN (through our rename) and unlinks that name at the
// last close, so the descriptors keep a path for every request (read, write, fstat, ftruncate).
//
// The same hiding rename precedes both an unlink and a rename over the file, and the two mean
// different things for a secret: removed, it leaves every tag; renamed over (an editor's save),
// it keeps its tags and its inode and takes the new content. The binding says which, from the
// kernel request libfuse is serving when it hides the file (ctx.hide), and which request that is
// (ctx.req): libfuse hides and then renames over the freed name within one request, on one
// thread, holding its locks on both names in between. So nothing here waits or guesses: an unlink
// settles at once, and a rename over the file is finished by the rename of the same request,
// however long the two are apart.
import { HIDE_FOR_RENAME, type FuseContext } from '../binding.js'
import { isScratchName } from '../../vault/names.js'
import type { Kind, OpsContext } from './context.js'

interface Hidden {
  from: string
  hidden: string
  /** libfuse already unlinked the hidden name (cannot happen while libfuse holds the names; kept safe) */
  gone: boolean
}

/** Renames over open files waiting for the rename of their request, by ctx.req. */
const pending = new WeakMap<OpsContext, Map<number, Hidden>>()
/** More than this many waiting means some were never finished (libfuse gave up between the halves): the oldest go. */
const MAX_PENDING = 64

/** rename(from, hidden) by libfuse (ctx.hide set): the open file takes libfuse's hidden name. */
export function hide(c: OpsContext, from: string, hidden: string, ks: Kind, ctx: FuseContext): void {
  const { s } = c
  if (ctx.hide === HIDE_FOR_RENAME) {
    // Renamed over: the rename of this same request follows and does it all (renameOver). Until
    // then nothing moves: the secret stays under its name, with its tags and in history, so a
    // lookup of the name by anyone else meanwhile still finds it (libfuse locks only the nodes).
    let m = pending.get(c)
    if (!m) pending.set(c, (m = new Map()))
    m.set(ctx.req ?? 0, { from, hidden, gone: false })
    while (m.size > MAX_PENDING) m.delete(m.keys().next().value!)
    return
  }
  // Removed: the file keeps only the hidden name, for its descriptors; a secret leaves every tag
  // at once, and its repository commits it as removed.
  s.move(from, hidden)
  const secret = ks.k === 'secret' && !isScratchName(ks.name)
  if (secret) {
    for (const l of s.tagLinksOf(hidden)) s.remove(l)
    c.host.changed(ks.repo)
  }
  c.host.touched()
}

/** unlink(hidden) from libfuse: true when it was a hidden file still waiting for its rename. */
export function unlinkPending(c: OpsContext, hidden: string): boolean {
  for (const h of pending.get(c)?.values() ?? [])
    if (h.hidden === hidden) {
      h.gone = true
      return true
    }
  return false
}

/** The hidden file that this rename (the second half of libfuse's rename over an open file) renames over, if any. */
export function pendingHide(c: OpsContext, to: string, ctx: FuseContext | undefined): { renameOver(run: () => void): void } | null {
  const req = ctx?.req ?? 0
  const m = pending.get(c)
  const h = m?.get(req)
  if (!h || h.from !== to) return null
  return {
    renameOver(run) {
      const { s } = c
      m!.delete(req)
      // The rename over the secret (it keeps its inode and tags, and takes the new content); what
      // its descriptors had goes to a copy, which takes the hidden name they are known by.
      c.detached = null
      try {
        run()
      } catch (err) {
        c.detached = null
        throw err // refused: the file stays as it was, under its name
      }
      const copy = c.detached ?? c.detach(h.from)
      c.detached = null
      if (copy && !h.gone) s.nameOrphan(copy, h.hidden)
    },
  }
}

/**
 * Every rename answer passes here: a request whose rename over an open file was refused before it
 * reached renameOver (a name too long, a read-only path) forgets it; the file never moved. (libfuse
 * keeps its node hidden for the descriptors; the kernel, told the rename failed, looks the name up
 * again and finds the file there.)
 */
export function renameAnswered(c: OpsContext, ctx: FuseContext | undefined, err: number): void {
  if (err === 0 || ctx?.hide) return
  pending.get(c)?.delete(ctx?.req ?? 0)
}
