// Signed commits in git's own form (git-scm.com/docs/gitformat-signature): the signature is a
// `gpgsig` header after `committer`, each line of the armour after the first indented by one
// space; what is signed is the commit without that header. With gpg.format=ssh the armour is an
// SSHSIG in namespace "git" (src/crypto/sshsig.ts), which `git verify-commit` checks with
// ssh-keygen. Pure codecs.
import { GIT_NAMESPACE, type SshSigCheck, sshVerify } from '../crypto/sshsig.js'
import { type Commit, encodeCommit } from './objects.js'

export { GIT_NAMESPACE }
const HEADER = 'gpgsig'

/** Makes the armoured signature of a commit's payload (the node key, through src/crypto). */
export type CommitSigner = (payload: Buffer) => string

/** The commit object's content, signed when a signer is given. */
export function encodeSignedCommit(c: Commit, signer?: CommitSigner): Buffer {
  const payload = encodeCommit(c)
  return signer ? addSignature(payload, signer(payload)) : payload
}

/** Insert the `gpgsig` header at the end of the header lines (where git puts it). */
export function addSignature(payload: Buffer, armour: string): Buffer {
  const end = payload.indexOf('\n\n')
  const at = end < 0 ? payload.length : end + 1
  const lines = armour.replace(/\n$/, '').split('\n')
  const header = `${HEADER} ${lines.join('\n ')}\n`
  return Buffer.concat([payload.subarray(0, at), Buffer.from(header), payload.subarray(at)])
}

/** The signature header and the payload it signs; null for an unsigned commit. */
export function splitSignature(content: Buffer): { payload: Buffer; armour: string } | null {
  const end = content.indexOf('\n\n')
  const headEnd = end < 0 ? content.length : end + 1
  let i = 0
  while (i < headEnd) {
    const nl = content.indexOf(0x0a, i)
    const lineEnd = nl < 0 || nl >= headEnd ? headEnd : nl + 1
    if (content.subarray(i, i + HEADER.length + 1).toString('latin1') === `${HEADER} `) {
      // the header and its continuation lines (those that start with a space)
      let j = lineEnd
      while (j < headEnd && content[j] === 0x20) {
        const n = content.indexOf(0x0a, j)
        j = n < 0 || n >= headEnd ? headEnd : n + 1
      }
      const raw = content.subarray(i + HEADER.length + 1, j).toString('utf8')
      const armour = raw
        .split('\n')
        .map((l, k) => (k === 0 ? l : l.replace(/^ /, '')))
        .join('\n')
      return { payload: Buffer.concat([content.subarray(0, i), content.subarray(j)]), armour }
    }
    i = lineEnd
  }
  return null
}

export type CommitSignature =
  | { state: 'unsigned' }
  /** a good Ed25519 SSH signature; `signer` is the key in hex: a node id */
  | { state: 'good'; signer: string }
  /** a signature we cannot check: PGP, X.509, or an SSH key other than Ed25519 */
  | { state: 'unchecked'; kind: string }
  | { state: 'bad'; reason: string }

export function checkCommitSignature(content: Buffer): CommitSignature {
  const s = splitSignature(content)
  if (!s) return { state: 'unsigned' }
  if (!s.armour.startsWith('-----BEGIN SSH SIGNATURE-----')) {
    const kind = /^-----BEGIN ([A-Z0-9 ]+)-----/.exec(s.armour)?.[1] ?? 'unknown'
    return { state: 'unchecked', kind: kind.toLowerCase() }
  }
  const r: SshSigCheck = sshVerify(s.armour, s.payload, GIT_NAMESPACE)
  if (r.status === 'good') return { state: 'good', signer: r.publicKey.toString('hex') }
  if (r.status === 'unknown-key') return { state: 'unchecked', kind: r.keyType }
  return { state: 'bad', reason: r.reason }
}
