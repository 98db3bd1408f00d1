// The node's side of `git-remote-polykey` (docs/SHARING.md §Real git): what real git may see of a
// repository, the pack for what it wants, and pushes of commits that real git made.
//
// Real git does not sign with the node key, so a push is kept as it came (commit ids unchanged)
// and the node adds one commit on top, signed by its key, with the same tree and the pushed
// commit as first parent: the "push commit" (its message ends with the PUSH_TRAILER line). Its
// signature names the whole pushed history by hash, so peers accept the unsigned commits under
// it (signatures.ts). Git is shown the push commit's first parent while the push commit is the
// head, so a clone stays "up to date" after a push; the next push of a descendant of that
// parent is a fast-forward "through" the push commit: the new push commit has both the pushed
// commit and the old push commit as parents, so the node's own history only ever moves forward.
import type { Vault } from '../vault/vault.js'
import { checkCommitSignature, encodeSignedCommit } from '../git/signature.js'
import { PolykeyError } from '../errors.js'
import { Graph, checkConnected, overlay, repoSource } from './graph.js'
import { type ParsedObject, DEFAULT_PACK_LIMITS, buildPack, parsePack } from './pack.js'
import { applyPlan } from './merge.js'
import { headOf, packFor } from './repo-ops.js'
import { checkArrivingCommits } from './signatures.js'

export const PUSH_TRAILER = 'Polykey-Push: git'
const OID = /^[0-9a-f]{40}$/

/** Is `oid` a push commit made by node `self`? */
function isPushCommit(v: Vault, repo: string, oid: string, self: string): boolean {
  const git = v.git(repo)
  const o = git.readObject(oid)
  if (o.type !== 'commit') return false
  const c = git.readCommit(oid)
  if (c.parents.length === 0 || !c.message.trimEnd().endsWith(PUSH_TRAILER)) return false
  const sig = checkCommitSignature(o.content)
  return sig.state === 'good' && sig.signer === self && git.readCommit(c.parents[0]).tree === c.tree
}

/** The head git is shown: the node's head, or the first parent of a push commit at the head. */
export function gitVisibleHead(v: Vault, repo: string, self: string): string | null {
  const head = headOf(v, repo)
  if (!head) return null
  return isPushCommit(v, repo, head, self) ? v.git(repo).readCommit(head).parents[0] : head
}

/** The objects of `want` (a commit of this repository) that a client holding `haves` lacks. */
export function packForWant(v: Vault, repo: string, want: string, haves: string[]): { pack: Buffer; count: number } {
  if (!OID.test(want)) throw new PolykeyError('USAGE', `not a commit id: ${want}`)
  const git = v.git(repo)
  if (want === git.head()) return packFor(v, repo, haves)
  if (!git.hasObject(want)) throw new PolykeyError('NOT_FOUND', `no commit ${want.slice(0, 12)} in '${repo}' (it moved on: fetch again)`, { repo })
  const g = new Graph(repoSource(git))
  const { commits, edge } = g.missingCommits(
    want,
    haves.filter((h) => OID.test(h)),
  )
  return buildPack(
    g.objectsFor(commits, edge).map((oid) => g.get(oid, false)),
    { deltas: true },
  )
}

/**
 * packForWant() as the parts of the pack in the order they are sent: for a clone of the head,
 * the stored packs go first, as they are, while the loose objects are still to be read
 * (Repo.wholePackParts). Read the parts at once: they are the repository as it is then.
 */
export function packPartsForWant(v: Vault, repo: string, want: string, haves: string[]): Iterable<Buffer> {
  if (haves.length === 0 && OID.test(want) && want === v.git(repo).head()) {
    const whole = v.git(repo).wholePackParts()
    if (whole) return whole.parts
  }
  return [packForWant(v, repo, want, haves).pack]
}

export interface GitPush {
  /** the head git was shown (gitVisibleHead) when it decided to push */
  seen: string | null
  next: string
  pack: Buffer
  /** `+` in git's refspec: the new head need not descend from the old */
  force: boolean
  /** this node's id: the push commit's signer */
  self: string
  now: number
}

/**
 * Take a push from real git: checked like any push (pack, connectivity, signatures that are
 * there must verify), fast-forward only unless forced, then the signed push commit on top.
 */
export function receiveGitPush(v: Vault, repo: string, p: GitPush): { head: string; pushed: number; forced: boolean } {
  if (!v.hasRepo(repo)) throw new PolykeyError('NOT_FOUND', `no repository '${repo}'`, { repo })
  if (!OID.test(p.next)) throw new PolykeyError('USAGE', `not a commit id: ${p.next}`)
  const cur = headOf(v, repo)
  const visible = gitVisibleHead(v, repo, p.self)
  if (visible !== p.seen) throw new PolykeyError('CONFLICT', `'${repo}' changed since git looked (now at ${visible?.slice(0, 12) ?? 'nothing'}): fetch first`, { repo })
  const git = v.git(repo)
  const local = repoSource(git)
  let objects: ParsedObject[]
  let need: ParsedObject[]
  try {
    objects = parsePack(p.pack, DEFAULT_PACK_LIMITS)
    need = checkConnected(new Map(objects.map((o) => [o.oid, o])), local, p.next)
  } catch (err) {
    if (err instanceof PolykeyError && err.data.reason === 'bad-pack') throw new PolykeyError('REFUSED', err.message, err.data)
    throw err
  }
  const g = new Graph(overlay(new Map(objects.map((o) => [o.oid, o])), local))
  if (p.next === visible) return { head: cur!, pushed: 0, forced: false }
  if (!v.author.sign) throw new PolykeyError('INTERNAL', 'this node cannot sign commits here')
  const through = !!cur && !!visible && visible !== cur && g.isAncestor(visible, p.next) // past our push commit
  const ff = !cur || g.isAncestor(cur, p.next) || through
  if (!ff && !p.force)
    throw new PolykeyError(
      'REFUSED',
      `not a fast-forward: ${p.next.slice(0, 12)} does not contain ${visible?.slice(0, 12)}`,
      { repo, reason: 'non-fast-forward' },
      {
        hint: 'fetch and merge (or rebase) first, or force with +',
      },
    )
  checkArrivingCommits(need, { unsignedOk: true })
  applyPlan(v, repo, g, cur, { kind: 'fast-forward', head: p.next }, { pack: p.pack, objects, need }, '', p.now)
  const forced = !ff
  const parents = [p.next, ...(through ? [cur!] : [])]
  const n = need.filter((o) => o.type === 'commit').length
  const who = { name: v.author.name, email: v.author.email, timestamp: Math.floor(p.now / 1000), tz: '+0000' }
  const message = `git push${forced ? ' (forced)' : ''}: ${n} commit${n === 1 ? '' : 's'}, up to ${p.next.slice(0, 12)}\n\n${PUSH_TRAILER}\n`
  const tree = g.commit(p.next).tree
  const head = git.writeObject('commit', encodeSignedCommit({ tree, parents, author: who, message }, v.author.sign))
  git.setHead(head)
  return { head, pushed: n, forced }
}
