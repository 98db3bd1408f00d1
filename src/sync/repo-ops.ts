// What the answering side does with a repository, on whatever vault it holds (a served node, a
// mounted node, a node file used as a peer): build the pack a fetcher lacks, take a pushed pack
// only if it checks out and moves history forward, mirror tags. No I/O here.
import type { Vault } from '../vault/vault.js'
import { TAGS } from '../vault/vault.js'
import { join } from '../vault/store.js'
import { PolykeyError } from '../errors.js'
import { Graph, checkConnected, overlay, repoSource } from './graph.js'
import { type PackLimits, type ParsedObject, DEFAULT_PACK_LIMITS, buildPack, parsePack } from './pack.js'
import { applyPlan } from './merge.js'
import { checkArrivingCommits } from './signatures.js'

export function headOf(v: Vault, repo: string): string | null {
  return v.hasRepo(repo) ? v.git(repo).head() : null
}

/** The objects of `repo` that a node holding `haves` lacks, as a pack. */
export function packFor(v: Vault, repo: string, haves: string[]): { head: string | null; pack: Buffer; count: number } {
  const head = headOf(v, repo)
  if (!head) return { head, ...buildPack([]) }
  if (haves.length === 0) {
    // a peer with none of the history: the stored packs go as they are
    const whole = v.git(repo).wholePack()
    if (whole) return { head, ...whole }
  }
  const g = new Graph(repoSource(v.git(repo)))
  const { commits, edge } = g.missingCommits(head, haves)
  const oids = g.objectsFor(commits, edge)
  const { pack, count } = buildPack(
    oids.map((oid) => g.get(oid, false)),
    { deltas: true },
  )
  return { head, pack, count }
}

/** The pack of a whole repository (clone, seal). */
export function packAll(v: Vault, repo: string) {
  return packFor(v, repo, [])
}

/**
 * A pushed update: `old` must be what the pusher saw (compare-and-swap), the pack must complete
 * the history up to `next`, and `next` must descend from our head. Creates the repository when
 * it is new. Checks everything before writing anything.
 */
export function receivePush(
  v: Vault,
  repo: string,
  old: string | null,
  next: string | null,
  pack: Buffer,
  from: string,
  limits: PackLimits = DEFAULT_PACK_LIMITS,
): { head: string | null; changed: boolean } {
  const cur = headOf(v, repo)
  if (cur !== old) throw new PolykeyError('CONFLICT', `'${repo}' changed here since ${from} looked (now at ${cur?.slice(0, 12) ?? 'nothing'}); pull, then push again`, { repo })
  if (next === null) {
    // An empty repository: created if missing; a repository with history is never emptied.
    if (cur) throw new PolykeyError('REFUSED', `the update of '${repo}' from ${from} would drop all its history`, { repo, reason: 'drops-history' })
    if (v.hasRepo(repo)) return { head: null, changed: false }
    v.repoCreate(repo)
    return { head: null, changed: true }
  }
  const exists = v.hasRepo(repo)
  const local = repoSource(exists ? v.git(repo) : null)
  let objects: ParsedObject[]
  let received: Map<string, ParsedObject>
  let need: ParsedObject[]
  try {
    objects = parsePack(pack, limits)
    received = new Map(objects.map((o) => [o.oid, o]))
    need = checkConnected(received, local, next)
  } catch (err) {
    if (err instanceof PolykeyError && err.data.reason === 'bad-pack') throw new PolykeyError('PEER', `${from} sent a bad pack: ${err.message}`, err.data)
    throw err
  }
  const g = new Graph(overlay(received, local))
  if (cur && next !== cur && !g.isAncestor(cur, next))
    throw new PolykeyError(
      'REFUSED',
      `the update of '${repo}' from ${from} would drop history (${next.slice(0, 12)} does not contain ${cur.slice(0, 12)})`,
      { repo, reason: 'drops-history' },
      {
        hint: 'pull and merge first, then push',
      },
    )
  if (cur === next) return { head: next, changed: false }
  try {
    checkArrivingCommits(need)
  } catch (err) {
    if (err instanceof PolykeyError) throw new PolykeyError('PEER', `${from} sent history that is refused: ${err.message}; nothing was changed`, err.data)
    throw err
  }
  if (!exists) v.repoCreate(repo)
  applyPlan(v, repo, g, cur, { kind: 'fast-forward', head: next }, { pack, objects, need }, '', Date.now())
  return { head: next, changed: true }
}

/** Tag membership of one repository's secrets, as pushed with `push --all`. */
export function tagsOf(v: Vault, repo: string): { tag: string; name: string }[] {
  return v
    .tagMembers()
    .filter((m) => m.repo === repo)
    .map((m) => ({ tag: m.tag, name: m.name }))
}

/** Make this node's tags of `repo` the given ones (secrets that do not exist here are skipped). */
export function setTags(v: Vault, repo: string, members: { tag: string; name: string }[]): void {
  if (!v.hasRepo(repo)) throw new PolykeyError('NOT_FOUND', `no repository '${repo}'`, { repo })
  const want = new Set(members.map((m) => `${m.tag}\0${m.name}`))
  for (const m of v.tagMembers().filter((m) => m.repo === repo)) {
    if (want.delete(`${m.tag}\0${m.name}`)) continue
    v.store.remove(join(TAGS, m.tag, m.entry))
    if (v.store.list(join(TAGS, m.tag)).length === 0) v.store.remove(join(TAGS, m.tag))
  }
  for (const key of want) {
    const [tag, name] = key.split('\0')
    if (v.store.stat(join(v.repoPath(repo), name))?.type === 'file') v.tagAdd(tag, repo, name)
  }
}
