// The node's access rules for a guarded mount (docs/SECURITY.md "Guarded mount"), kept inside
// the node (.polykey/access.json: encrypted with everything else, in no repository's history,
// so never synced by pull or clone). A rule names a program by its executable's device, inode
// and hash — replacing the file (a new inode, or new bytes) revokes it — and, for an
// interpreter, the script it runs, identified the same way. A rule allows the whole node, one
// repository, or the secrets of one tag.
import { PolykeyError } from '../errors.js'
import type { Vault } from './vault.js'
import { checkName } from './names.js'

export const ACCESS_META = 'access.json'

export interface ProgramId {
  path: string
  dev: number
  ino: number
  hash: string
}

export interface AccessRule {
  id: string
  program: ProgramId
  /** for an interpreter: the script it must run (null: only inline code, -c/-e/stdin) */
  script: ProgramId | null
  repo?: string
  tag?: string
  /** ms since the epoch */
  added: number
}

export interface AccessBook {
  version: 1
  rules: AccessRule[]
}

export function loadAccess(v: Vault): AccessBook {
  const raw = v.readMeta(ACCESS_META)
  if (!raw) return { version: 1, rules: [] }
  let b: AccessBook
  try {
    b = JSON.parse(raw.toString('utf8')) as AccessBook
  } catch (err) {
    throw new PolykeyError('CORRUPT', 'the access rules of this node do not parse', {}, { cause: err })
  }
  if (b?.version !== 1 || !Array.isArray(b.rules)) throw new PolykeyError('CORRUPT', 'the access rules of this node are damaged')
  return b
}

export function saveAccess(v: Vault, b: AccessBook): void {
  v.writeMeta(ACCESS_META, Buffer.from(JSON.stringify(b, null, 1) + '\n'))
  versions.set(v.store, accessVersion(v.store) + 1)
}

const versions = new WeakMap<object, number>()

/** Bumped at each saveAccess on that store: a guard re-reads the rules only when it changed. */
export function accessVersion(store: object): number {
  return versions.get(store) ?? 0
}

const sameFile = (a: ProgramId | null, b: ProgramId | null): boolean =>
  a === null || b === null ? a === b : a.hash !== '' && a.dev === b.dev && a.ino === b.ino && a.hash === b.hash

/** Add a rule (an identical one is not added twice); returns it. */
export function addRule(b: AccessBook, r: Omit<AccessRule, 'id' | 'added'>, now: number, newId: () => string): AccessRule {
  if (r.repo !== undefined) checkName('repository', r.repo)
  if (r.tag !== undefined) checkName('tag', r.tag)
  if (!r.program.hash) throw new PolykeyError('REFUSED', `cannot read ${r.program.path} to identify it`)
  if (r.script && !r.script.hash) throw new PolykeyError('REFUSED', `cannot read ${r.script.path} to identify it`)
  const same = b.rules.find((x) => sameFile(x.program, r.program) && sameFile(x.script, r.script) && x.repo === r.repo && x.tag === r.tag)
  if (same) return same
  let id = newId()
  while (b.rules.some((x) => x.id === id)) id = newId()
  const rule: AccessRule = {
    id,
    program: r.program,
    script: r.script,
    ...(r.repo !== undefined ? { repo: r.repo } : {}),
    ...(r.tag !== undefined ? { tag: r.tag } : {}),
    added: now,
  }
  b.rules.push(rule)
  return rule
}

export function removeRule(b: AccessBook, id: string): AccessRule {
  const r = b.rules.find((x) => x.id === id)
  if (!r) throw new PolykeyError('NOT_FOUND', `no access rule '${id}'`, { id }, { hint: "'polykey access list' shows the rules" })
  b.rules = b.rules.filter((x) => x !== r)
  return r
}

/** The rules that let this program (and script) open anything at all; the caller checks the scope. */
export function rulesFor(b: AccessBook, program: ProgramId, script: ProgramId | null): AccessRule[] {
  return b.rules.filter((r) => sameFile(r.program, program) && sameFile(r.script, script))
}

export function scopeOf(r: AccessRule): string {
  return r.repo !== undefined ? `repo ${r.repo}` : r.tag !== undefined ? `tag ${r.tag}` : 'node'
}
