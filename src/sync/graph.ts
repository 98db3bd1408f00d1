// Walking commit graphs: what to offer as "haves", which objects a peer lacks, ancestry and merge
// bases, and the connectivity check of what a peer sent. Works over any object source (a
// repository, a parsed pack, or both), so nothing is written before everything is checked.
import { type Commit, type ObjectType, decodeCommit, decodeTree } from '../git/objects.js'
import type { GitRepo } from '../git/repo.js'
import type { PackObject, ParsedObject } from './pack.js'
import { badPack } from './pack.js'
import { MAX_HAVES } from './wire.js'
import { TreeDecoder } from '../git/tree-decoder.js'
import { corrupt } from '../errors.js'

export interface ObjectSource {
  has(oid: string): boolean
  /** the object; throws when it is missing */
  get(oid: string): PackObject
}

export function repoSource(git: GitRepo | null): ObjectSource {
  return {
    has: (oid) => !!git && git.hasObject(oid),
    get: (oid) => {
      if (!git) throw corrupt(`no object ${oid} in this repository`, { oid })
      const o = git.readObject(oid)
      return { type: o.type as ObjectType, content: o.content }
    },
  }
}

/** Objects received (checked, not yet stored) in front of a repository's own. */
export function overlay(received: Map<string, ParsedObject>, base: ObjectSource): ObjectSource {
  return {
    has: (oid) => received.has(oid) || base.has(oid),
    get: (oid) => received.get(oid) ?? base.get(oid),
  }
}

export class Graph {
  private commits = new Map<string, Commit>()
  /** objects read so far (commits and trees; blobs too while packing), each read and inflated once */
  private objects = new Map<string, PackObject>()
  constructor(readonly src: ObjectSource) {}

  get(oid: string, keep = true): PackObject {
    let o = this.objects.get(oid)
    if (!o) {
      o = this.src.get(oid)
      if (keep) this.objects.set(oid, o)
    }
    return o
  }

  commit(oid: string): Commit {
    let c = this.commits.get(oid)
    if (!c) {
      const o = this.get(oid)
      if (o.type !== 'commit') throw corrupt(`${oid} is a ${o.type}, not a commit`, { oid })
      c = decodeCommit(o.content)
      this.commits.set(oid, c)
    }
    return c
  }

  tree(commit: string | null): Map<string, { mode: string; oid: string }> {
    const out = new Map<string, { mode: string; oid: string }>()
    if (!commit) return out
    for (const e of decodeTree(this.get(this.commit(commit).tree).content)) out.set(e.name, { mode: e.mode, oid: e.oid })
    return out
  }

  /**
   * Commits to offer a server: the first 8 along the first-parent line, then exponentially
   * spaced ones (16, 32, 64… back), so one round trip finds a recent common commit.
   */
  haves(head: string | null, max = MAX_HAVES): string[] {
    const out: string[] = []
    let oid = head
    let i = 0
    let next = 0
    while (oid && out.length < max && i < 1 << 16) {
      if (i === next) {
        out.push(oid)
        next = i < 8 ? i + 1 : i * 2
      }
      oid = this.commit(oid).parents[0] ?? null
      i++
    }
    return out
  }

  /**
   * Commits reachable from `head` but not from any of `haves` (git's "rev-list head --not
   * haves": newest first, painting ancestors of haves as known). Also the known commits met at
   * the edge: the receiver has their trees, so their objects need not travel. Clock skew can
   * only make the answer larger, never miss a commit.
   */
  missingCommits(head: string, haves: string[]): { commits: string[]; edge: string[] } {
    const known = new Set<string>()
    const seen = new Set<string>()
    const queue: { oid: string; time: number }[] = []
    const add = (oid: string, isKnown: boolean) => {
      if (isKnown) known.add(oid)
      if (seen.has(oid)) return
      seen.add(oid)
      const time = this.commit(oid).author.timestamp
      // insertion into a small array kept sorted by time (newest last)
      let lo = 0
      let hi = queue.length
      while (lo < hi) {
        const mid = (lo + hi) >> 1
        if (queue[mid].time <= time) lo = mid + 1
        else hi = mid
      }
      queue.splice(lo, 0, { oid, time })
    }
    for (const h of haves) if (this.src.has(h)) add(h, true)
    add(head, false)
    const out: string[] = []
    const edge = new Set<string>(haves.filter((h) => this.src.has(h)))
    while (queue.some((q) => !known.has(q.oid))) {
      const { oid } = queue.pop()!
      const parents = this.commit(oid).parents
      if (known.has(oid)) {
        for (const p of parents) add(p, true)
      } else {
        out.push(oid)
        for (const p of parents) add(p, false)
      }
    }
    const commits = out.filter((c) => !known.has(c))
    for (const c of commits) for (const p of this.commit(c).parents) if (known.has(p)) edge.add(p)
    return { commits, edge: [...edge] }
  }

  /** Objects for `commits` (commit, tree, blobs) minus what the edge commits' trees hold. */
  objectsFor(commits: string[], edge: string[]): string[] {
    // In history order each tree is decoded after the one before it: only what changed is parsed.
    const trees = new TreeDecoder()
    const have = new Set<string>()
    for (const e of edge) {
      if (!this.src.has(e)) continue
      have.add(this.commit(e).tree)
      for (const x of this.tree(e).values()) have.add(x.oid)
    }
    const out: string[] = []
    const take = (oid: string) => {
      if (have.has(oid)) return false
      have.add(oid)
      out.push(oid)
      return true
    }
    for (const c of commits) {
      take(c)
      const t = this.commit(c).tree
      if (take(t)) {
        const o = this.get(t)
        if (o.type !== 'tree') throw corrupt(`${t} is a ${o.type}, not a tree`, { oid: t })
        for (const x of trees.decode(o.content)) take(x.oid)
      }
    }
    return out
  }

  /** Is `a` an ancestor of (or equal to) `b`? */
  isAncestor(a: string, b: string): boolean {
    const seen = new Set<string>()
    const stack = [b]
    while (stack.length) {
      const oid = stack.pop()!
      if (oid === a) return true
      if (seen.has(oid)) continue
      seen.add(oid)
      stack.push(...this.commit(oid).parents)
    }
    return false
  }

  /** A best common ancestor of a and b (the newest of b's history that a also reaches), or null. */
  mergeBase(a: string, b: string): string | null {
    const ofA = new Set<string>()
    const stack = [a]
    while (stack.length) {
      const oid = stack.pop()!
      if (ofA.has(oid)) continue
      ofA.add(oid)
      stack.push(...this.commit(oid).parents)
    }
    const seen = new Set<string>()
    let frontier = [b]
    while (frontier.length) {
      const hits = frontier.filter((c) => ofA.has(c))
      if (hits.length) return hits.sort((x, y) => this.commit(y).author.timestamp - this.commit(x).author.timestamp)[0]
      const next: string[] = []
      for (const c of frontier) {
        if (seen.has(c)) continue
        seen.add(c)
        next.push(...this.commit(c).parents)
      }
      frontier = next
    }
    return null
  }
}

/**
 * What a peer sent must complete our history up to `head`: every commit, tree and blob it names
 * is in the pack (with the right type) or already here. Returns the received objects that are
 * needed, in an order safe to store; anything else in the pack is dropped.
 */
export function checkConnected(received: Map<string, ParsedObject>, local: ObjectSource, head: string): ParsedObject[] {
  const need: ParsedObject[] = []
  // by type: an id met again as another type must be fetched again, and refused
  const seen = { commit: new Set<string>(), tree: new Set<string>(), blob: new Set<string>() }
  const fetch = (oid: string, type: ObjectType, why: string): ParsedObject | null => {
    if (local.has(oid)) return null
    const o = received.get(oid)
    if (!o) throw badPack(`no object in it hashes to ${type} ${oid} (${why}), and it is not here either`, { oid })
    if (o.type !== type) throw badPack(`object ${oid} is a ${o.type} where a ${type} was expected (${why})`, { oid })
    need.push(o)
    return o
  }
  // trees whose every blob has been looked for: a tree after one of them needs only its own entries
  const checked = new Set<ParsedObject>()
  const stack = [head]
  while (stack.length) {
    const oid = stack.pop()!
    if (seen.commit.has(oid)) continue
    seen.commit.add(oid)
    const c = fetch(oid, 'commit', oid === head ? 'the announced head' : 'a parent')
    if (!c) continue // we have it, and so its whole history
    const commit = c.commit ?? decodeCommit(c.content)
    if (!seen.tree.has(commit.tree)) {
      seen.tree.add(commit.tree)
      const t = fetch(commit.tree, 'tree', `tree of ${oid.slice(0, 12)}`)
      // Consecutive trees share most entries: each blob is looked for once.
      if (t) {
        const own = t.after && t.fresh && checked.has(t.after) ? t.fresh : (t.entries ?? decodeTree(t.content))
        for (const e of own) {
          if (seen.blob.has(e.oid)) continue
          seen.blob.add(e.oid)
          fetch(e.oid, 'blob', `'${e.name}' in ${oid.slice(0, 12)}`)
        }
        checked.add(t)
      }
    }
    stack.push(...commit.parents)
  }
  return need
}
