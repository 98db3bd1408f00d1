// clone, pull, push and push --all against any Remote. A pull checks the whole pack (ids,
// parsing, connectivity) and plans the merge before it writes anything; a push sends only what
// the target lacks and never asks it to drop history.
import { loadPeers } from './peers.js'
import type { Vault } from '../vault/vault.js'
import { PolykeyError } from '../errors.js'
import { Graph, checkConnected, overlay, repoSource } from './graph.js'
import { buildPack, parsePack } from './pack.js'
import { type Plan, type Side, applyPlan, conflictError, planMerge } from './merge.js'
import type { Remote } from './remote.js'
import { tagsOf } from './repo-ops.js'
import { checkArrivingCommits } from './signatures.js'

export interface PullResult {
  repo: string
  result: 'cloned' | 'up-to-date' | 'fast-forward' | 'merged'
  head: string | null
  objects: number
  /** conflicting secrets settled by --ours / --theirs */
  resolved: string[]
}

/** A peer's bad bytes: cut the connection, and name the peer in the error. */
function blame(remote: Remote, err: unknown): unknown {
  if (err instanceof PolykeyError && (err.data.reason === 'bad-pack' || err.data.reason === 'bad-signature')) {
    const what = err.data.reason === 'bad-pack' ? `a bad pack: ${err.message}` : `history that is refused: ${err.message}; nothing was changed`
    const e = new PolykeyError('PEER', `${remote.describe} sent ${what}`, err.data, { cause: err })
    remote.abort(e)
    return e
  }
  return err
}

export async function pull(v: Vault, remote: Remote, repo: string, opts: { into?: string; clone?: boolean; prefer?: Side } = {}): Promise<PullResult> {
  const local = opts.into ?? repo
  if (opts.clone && v.hasRepo(local))
    throw new PolykeyError(
      'EXISTS',
      `repository '${local}' already exists here`,
      { repo: local },
      { hint: `pull into it with 'polykey pull ${remote.label} ${repo}', or clone under another name` },
    )
  if (!opts.clone && !v.hasRepo(local))
    throw new PolykeyError('NOT_FOUND', `no repository '${local}' here`, { repo: local }, { hint: `clone it first: 'polykey clone ${remote.label} ${repo}'` })
  const git = opts.clone ? null : v.git(local)
  const haves = new Graph(repoSource(git)).haves(git?.head() ?? null)
  const { head, pack } = await remote.fetch(repo, haves)
  try {
    // The mount may have committed while we waited: plan against the head as it is now.
    const src = repoSource(git)
    const ours = git?.head() ?? null
    const objects = parsePack(pack)
    const received = new Map(objects.map((o) => [o.oid, o]))
    const need = head ? checkConnected(received, src, head) : []
    checkArrivingCommits(need)
    const g = new Graph(overlay(received, src))
    const plan: Plan = planMerge(g, ours, head, opts.prefer)
    if (plan.kind === 'conflict') throw conflictError(local, plan.secrets, remote.label)
    if (opts.clone) v.repoCreate(local)
    const message = `merge ${repo} from ${remote.label}`
    const newHead = applyPlan(v, local, g, ours, plan, { pack, objects, need }, message, Date.now())
    const result = opts.clone ? 'cloned' : plan.kind === 'merge' ? 'merged' : plan.kind === 'fast-forward' ? 'fast-forward' : 'up-to-date'
    return { repo: local, result, head: newHead, objects: need.length, resolved: plan.kind === 'merge' ? plan.resolved : [] }
  } catch (err) {
    throw blame(remote, err)
  }
}

export interface PushResult {
  repo: string
  result: 'up-to-date' | 'pushed' | 'created-empty'
  head: string | null
  objects: number
}

export async function push(v: Vault, remote: Remote, repo: string): Promise<PushResult> {
  if (!v.hasRepo(repo)) throw new PolykeyError('NOT_FOUND', `no repository '${repo}'`, { repo })
  const git = v.git(repo)
  const theirs = await remote.head(repo)
  const ours = git.head()
  if (theirs === ours && ours) return { repo, result: 'up-to-date', head: ours, objects: 0 }
  if (!ours) {
    if (theirs)
      throw new PolykeyError('CONFLICT', `'${repo}' is empty here but has history on ${remote.label}`, { repo }, { hint: `pull it first ('polykey pull ${remote.label} ${repo}')` })
    await remote.push(repo, null, null, buildPack([]).pack)
    return { repo, result: 'created-empty', head: null, objects: 0 }
  }
  const g = new Graph(repoSource(git))
  if (theirs && (!g.src.has(theirs) || !g.isAncestor(theirs, ours)))
    throw new PolykeyError(
      'CONFLICT',
      `${remote.label} has changes to '${repo}' that this node does not have`,
      { repo },
      {
        hint: `pull them first ('polykey pull ${remote.label} ${repo}'), then push again`,
      },
    )
  const { commits, edge } = g.missingCommits(ours, theirs ? [theirs] : [])
  const oids = g.objectsFor(commits, edge)
  const { pack } = buildPack(
    oids.map((oid) => g.get(oid, false)),
    { deltas: true },
  )
  await remote.push(repo, theirs, ours, pack)
  return { repo, result: 'pushed', head: ours, objects: oids.length }
}

/** Every repository and its tags (a full backup). Repositories that cannot go are reported, not fatal. */
export async function pushAll(v: Vault, remote: Remote): Promise<{ pushed: PushResult[]; failed: { repo: string; error: PolykeyError }[] }> {
  const pushed: PushResult[] = []
  const failed: { repo: string; error: PolykeyError }[] = []
  for (const repo of v.repoList()) {
    try {
      const r = await push(v, remote, repo)
      pushed.push(r)
      await remote.setTags(repo, tagsOf(v, repo))
    } catch (err) {
      if (!(err instanceof PolykeyError) || err.code === 'PEER') throw err
      failed.push({ repo, error: err })
    }
  }
  // A backup is a whole node: who the peers are and what each may pull go too.
  await remote.setPeers(loadPeers(v))
  return { pushed, failed }
}
