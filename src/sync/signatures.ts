// Signatures of commits that arrive (clone, pull, push, unseal, and pushes from real git), checked
// with the rest of what a peer sent before anything is kept (docs/SHARING.md §Signed history):
//
// - a commit with an SSH signature by an Ed25519 key must verify (namespace git, the commit as
//   signed); if it does not, the whole update is refused;
// - a commit without a signature (or with one we cannot check: PGP, X.509, another SSH key
//   type) is accepted when a commit of the same update with a good signature descends from it:
//   the signer vouches for the history it names, as a signed commit names all of it by hash;
//   or when it was made before UNSIGNED_BEFORE (history written by Polykey before commits were
//   signed). Otherwise it is refused.
//
// A good signature by a key that is neither this node nor a known peer is accepted (history is
// passed on between peers), and `repo log` shows it by node id.
import type { ParsedObject } from './pack.js'
import { decodeCommit } from '../git/objects.js'
import { checkCommitSignature } from '../git/signature.js'
import { PolykeyError } from '../errors.js'

/** 2026-12-01T00:00:00Z: unsigned commits dated before it are accepted as older nodes' history. */
export const UNSIGNED_BEFORE = Date.UTC(2026, 11, 1) / 1000

export function badSignature(message: string, data: Record<string, unknown> = {}): PolykeyError {
  return new PolykeyError('PEER', message, { reason: 'bad-signature', ...data })
}

/**
 * Check the commits among `need` (objects this repository lacks, as checkConnected returns them).
 * Throws (reason 'bad-signature') when one is refused; returns how many were signed.
 * `unsignedOk`: the owner pushes through real git, and the node signs what it takes (git-serve.ts).
 */
export function checkArrivingCommits(need: ParsedObject[], opts: { unsignedOk?: boolean } = {}): { signed: number; unsigned: number } {
  const commits = new Map<string, { parents: string[]; time: number; state: string }>()
  for (const o of need) {
    if (o.type !== 'commit') continue
    const c = o.commit ?? decodeCommit(o.content)
    const sig = checkCommitSignature(o.content)
    if (sig.state === 'bad') throw badSignature(`commit ${o.oid.slice(0, 12)} carries a signature that does not verify (${sig.reason})`, { oid: o.oid })
    commits.set(o.oid, { parents: c.parents, time: c.author.timestamp, state: sig.state })
  }
  // everything a good signature covers, within this update
  const vouched = new Set<string>()
  const stack = [...commits].filter(([, c]) => c.state === 'good').map(([oid]) => oid)
  while (stack.length) {
    const oid = stack.pop()!
    for (const p of commits.get(oid)?.parents ?? []) {
      if (!commits.has(p) || vouched.has(p)) continue
      vouched.add(p)
      stack.push(p)
    }
  }
  let signed = 0
  for (const [oid, c] of commits) {
    if (c.state === 'good') {
      signed++
      continue
    }
    if (opts.unsignedOk || vouched.has(oid) || c.time < UNSIGNED_BEFORE) continue
    throw badSignature(`commit ${oid.slice(0, 12)} is not signed, and no signed commit that came with it descends from it`, { oid })
  }
  return { signed, unsigned: commits.size - signed }
}
