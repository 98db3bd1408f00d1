// Bringing another node's history into a repository: fast-forward when one side contains the
// other; otherwise a three-way merge of the flat trees (a merge commit keeps both sides' changes
// to different secrets); the same secret changed on both sides is a conflict, resolved only on
// request (--ours / --theirs). Planning reads objects only; applying is synchronous, so a
// mounted node never shows half a pull.
import { encodeObject, encodeTree } from '../git/objects.js'
import { encodeSignedCommit } from '../git/signature.js'
import { encodeIndex } from '../git/index-file.js'
import type { Vault } from '../vault/vault.js'
import { TAGS } from '../vault/vault.js'
import { join } from '../vault/store.js'
import { PolykeyError } from '../errors.js'
import type { Graph } from './graph.js'
import { type Incoming, storeIncoming } from './incoming.js'

export type Side = 'ours' | 'theirs'
type Entry = { mode: string; oid: string }
type Tree = Map<string, Entry>

export type Plan =
  | { kind: 'up-to-date' }
  | { kind: 'fast-forward'; head: string }
  | { kind: 'merge'; ours: string; theirs: string; tree: Tree; resolved: string[] }
  | { kind: 'conflict'; secrets: string[] }

const same = (a?: Entry, b?: Entry) => (!a && !b) || (!!a && !!b && a.oid === b.oid && a.mode === b.mode)

export function planMerge(g: Graph, ours: string | null, theirs: string | null, prefer?: Side): Plan {
  if (!theirs || ours === theirs) return { kind: 'up-to-date' }
  if (!ours || g.isAncestor(ours, theirs)) return { kind: 'fast-forward', head: theirs }
  if (g.isAncestor(theirs, ours)) return { kind: 'up-to-date' }
  const base = g.mergeBase(ours, theirs)
  const [b, o, t] = [g.tree(base), g.tree(ours), g.tree(theirs)]
  const tree: Tree = new Map()
  const conflicts: string[] = []
  for (const name of new Set([...b.keys(), ...o.keys(), ...t.keys()])) {
    const [be, oe, te] = [b.get(name), o.get(name), t.get(name)]
    let pick: Entry | undefined
    if (same(oe, te) || same(te, be)) pick = oe
    else if (same(oe, be)) pick = te
    else {
      conflicts.push(name)
      pick = prefer === 'theirs' ? te : oe
    }
    if (pick) tree.set(name, pick)
  }
  conflicts.sort()
  if (conflicts.length && !prefer) return { kind: 'conflict', secrets: conflicts }
  return { kind: 'merge', ours, theirs, tree, resolved: conflicts }
}

/**
 * Make the repository's files and HEAD match `plan`, storing what the peer sent (checked) first.
 * Files the mount changed but has not committed yet are never overwritten.
 */
export function applyPlan(vault: Vault, repo: string, g: Graph, ours: string | null, plan: Plan, incoming: Incoming | null, message: string, now: number): string | null {
  if (plan.kind === 'up-to-date' || plan.kind === 'conflict') return ours
  const git = vault.git(repo)
  const from = g.tree(ours)
  const to = plan.kind === 'fast-forward' ? g.tree(plan.head) : plan.tree
  const dir = vault.repoPath(repo)
  const changed = [...new Set([...from.keys(), ...to.keys()])].filter((n) => !same(from.get(n), to.get(n)))
  for (const name of changed) {
    const cur = vault.store.readFile(join(dir, name))
    const was = from.get(name)
    const clean = was ? !!cur && encodeObject('blob', cur).oid === was.oid : !cur
    if (!clean)
      throw new PolykeyError(
        'CONFLICT',
        `'${repo}/${name}' has an edit that is not committed yet; nothing was changed`,
        { repo, name },
        { hint: 'try again in a moment (edits are committed a second after the file is closed)' },
      )
  }
  // Checked: from here on nothing fails short of the store itself.
  if (incoming) storeIncoming(git, incoming)
  let head: string
  if (plan.kind === 'fast-forward') head = plan.head
  else {
    const treeOid = git.writeObject('tree', encodeTree([...to].map(([name, e]) => ({ name, mode: e.mode, oid: e.oid }))))
    const who = { name: vault.author.name, email: vault.author.email, timestamp: Math.floor(now / 1000), tz: '+0000' }
    head = git.writeObject('commit', encodeSignedCommit({ tree: treeOid, parents: [plan.ours, plan.theirs], author: who, message }, vault.author.sign))
  }
  for (const name of changed) {
    const p = join(dir, name)
    const e = to.get(name)
    if (e) vault.store.writeFile(p, g.src.get(e.oid).content, { mode: e.mode === '100755' ? 0o700 : 0o600 })
    else {
      for (const m of vault.tagMembers()) if (m.repo === repo && m.name === name) vault.store.remove(join(TAGS, m.tag, m.entry))
      vault.store.remove(p)
    }
  }
  git.setHead(head)
  vault.store.writeFile(join(git.gitdir, 'index'), encodeIndex([...to].map(([name, e]) => ({ name, mode: e.mode, oid: e.oid }))), { mode: 0o600 })
  return head
}

export function conflictError(repo: string, secrets: string[], peer: string): PolykeyError {
  const names = secrets.map((s) => `'${repo}/${s}'`).join(', ')
  return new PolykeyError(
    'CONFLICT',
    `both this node and ${peer} changed ${names}; nothing was changed`,
    { repo, secrets },
    {
      hint: `pull again with --ours to keep this node's version or --theirs to take ${peer}'s`,
    },
  )
}
