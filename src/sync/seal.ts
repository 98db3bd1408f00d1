// Offline sharing: a repository as one encrypted file for one peer (docs/SHARING.md §Sealed
// bundles). Pure codec:
//
//   "PKSEAL01" | crypto_box_seal to the recipient's key (X25519 from its Ed25519 id) of
//      u32 BE header length | header (JSON: repo, head, from, to, created) | pack | Ed25519 signature
//
// The signature (by the sealing node, over magic, header and pack) says who made it; only the
// recipient can open it; the pack inside is checked like any pack from a peer.
import { sealTo, sign, unsealWith, verify, type SigningKeyPair } from '../crypto/index.js'
import { PolykeyError } from '../errors.js'
import { NODE_ID } from './peers.js'
import { nameProblem } from '../vault/names.js'

export const SEAL_MAGIC = Buffer.from('PKSEAL01')

export interface BundleHeader {
  repo: string
  head: string | null
  from: string
  to: string
  created: string
}

const bad = (msg: string) => new PolykeyError('CORRUPT', msg, { reason: 'bad-bundle' })

export function sealBundle(h: BundleHeader, pack: Buffer, sender: SigningKeyPair): Buffer {
  const header = Buffer.from(JSON.stringify(h))
  const len = Buffer.alloc(4)
  len.writeUInt32BE(header.length)
  const body = Buffer.concat([len, header, pack])
  const sig = sign(Buffer.concat([SEAL_MAGIC, body]), sender.secretKey)
  return Buffer.concat([SEAL_MAGIC, sealTo(Buffer.from(h.to, 'hex'), Buffer.concat([body, sig]))])
}

export function openBundle(file: Buffer, recipient: SigningKeyPair): { header: BundleHeader; pack: Buffer } {
  if (file.length < SEAL_MAGIC.length || !file.subarray(0, SEAL_MAGIC.length).equals(SEAL_MAGIC)) throw bad('not a sealed Polykey bundle')
  const plain = unsealWith(recipient, file.subarray(SEAL_MAGIC.length))
  if (!plain) throw new PolykeyError('WRONG_KEY', 'this bundle is not sealed to this node (or it is damaged)')
  if (plain.length < 4 + 64) throw bad('the bundle is truncated')
  const hlen = plain.readUInt32BE(0)
  if (hlen > 64 * 1024 || 4 + hlen + 64 > plain.length) throw bad('the bundle header is corrupt')
  let header: BundleHeader
  try {
    header = JSON.parse(plain.subarray(4, 4 + hlen).toString('utf8')) as BundleHeader
  } catch {
    throw bad('the bundle header is corrupt')
  }
  if (
    typeof header?.repo !== 'string' ||
    nameProblem(header.repo) ||
    header.repo === '.git' ||
    !(header.head === null || /^[0-9a-f]{40}$/.test(String(header.head))) ||
    !NODE_ID.test(String(header.from)) ||
    !NODE_ID.test(String(header.to))
  )
    throw bad('the bundle header is corrupt')
  const body = plain.subarray(0, plain.length - 64)
  const sig = plain.subarray(plain.length - 64)
  if (!verify(sig, Buffer.concat([SEAL_MAGIC, body]), Buffer.from(header.from, 'hex'))) throw bad('the bundle signature does not verify')
  if (header.to !== recipient.publicKey.toString('hex')) throw bad('the bundle names another recipient')
  return { header, pack: body.subarray(4 + hlen) }
}
