// OpenSSH signatures (openssh PROTOCOL.sshsig), the form `ssh-keygen -Y sign` writes and git
// stores in a commit's `gpgsig` header when gpg.format=ssh. Only Ed25519 keys: a node's identity.
//
//   signed data: "SSHSIG" | string namespace | string reserved ("") | string hash ("sha512") | string H(message)
//   blob:        "SSHSIG" | uint32 1 | string publickey | string namespace | string reserved | string hash | string signature
//   publickey:   string "ssh-ed25519" | string key(32)      signature: string "ssh-ed25519" | string sig(64)
//   armour:      -----BEGIN SSH SIGNATURE----- / base64 of the blob, 70 columns / -----END SSH SIGNATURE-----
// (string = uint32 BE length, then the bytes.) Ed25519 signatures are deterministic, so the
// armour for a key and a message is always the same (docs/FORMAT.md has a vector).
import nodeCrypto from 'node:crypto'
import { sign, verify } from './index.js'

const MAGIC = Buffer.from('SSHSIG')
const KEY_TYPE = 'ssh-ed25519'
/** The namespace git signs commits and tags in (`ssh-keygen -Y sign -n git`). */
export const GIT_NAMESPACE = 'git'
export const SSHSIG_BEGIN = '-----BEGIN SSH SIGNATURE-----'
export const SSHSIG_END = '-----END SSH SIGNATURE-----'

function str(b: Buffer | string): Buffer {
  const data = typeof b === 'string' ? Buffer.from(b) : b
  const len = Buffer.alloc(4)
  len.writeUInt32BE(data.length)
  return Buffer.concat([len, data])
}

/** The public key in SSH wire form (what `ssh-ed25519 AAAA…` lines hold in base64). */
export function sshPublicKeyBlob(publicKey: Buffer): Buffer {
  return Buffer.concat([str(KEY_TYPE), str(publicKey)])
}

/** `ssh-ed25519 AAAA… COMMENT`, an OpenSSH public-key line. */
export function sshPublicKeyLine(publicKey: Buffer, comment?: string): string {
  const line = `${KEY_TYPE} ${sshPublicKeyBlob(publicKey).toString('base64')}`
  return comment ? `${line} ${comment}` : line
}

function signedData(namespace: string, message: Buffer, hashAlg: 'sha512' | 'sha256' = 'sha512'): Buffer {
  const h = nodeCrypto.createHash(hashAlg).update(message).digest()
  return Buffer.concat([MAGIC, str(namespace), str(''), str(hashAlg), str(h)])
}

/** An armoured SSH signature of `message` (ends with a newline, as ssh-keygen writes it). */
export function sshSign(message: Buffer, keys: { publicKey: Buffer; secretKey: Buffer }, namespace: string): string {
  const sig = sign(signedData(namespace, message), keys.secretKey)
  const version = Buffer.alloc(4)
  version.writeUInt32BE(1)
  const blob = Buffer.concat([MAGIC, version, str(sshPublicKeyBlob(keys.publicKey)), str(namespace), str(''), str('sha512'), str(Buffer.concat([str(KEY_TYPE), str(sig)]))])
  const b64 = blob.toString('base64')
  const lines: string[] = []
  for (let i = 0; i < b64.length; i += 70) lines.push(b64.slice(i, i + 70))
  return `${SSHSIG_BEGIN}\n${lines.join('\n')}\n${SSHSIG_END}\n`
}

export type SshSigCheck =
  /** a good Ed25519 signature by `publicKey` */
  | { status: 'good'; publicKey: Buffer }
  /** well formed, but not by an Ed25519 key (RSA, ECDSA, a security key…): not checked here */
  | { status: 'unknown-key'; keyType: string }
  /** broken armour, wrong namespace, or a signature that does not verify */
  | { status: 'bad'; reason: string }

/** Check an armoured SSH signature over `message` in `namespace`. */
export function sshVerify(armoured: string, message: Buffer, namespace: string): SshSigCheck {
  const text = armoured.trim()
  if (!text.startsWith(SSHSIG_BEGIN) || !text.endsWith(SSHSIG_END)) return { status: 'bad', reason: 'not an SSH signature' }
  const body = text.slice(SSHSIG_BEGIN.length, text.length - SSHSIG_END.length).replace(/\s+/g, '')
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body)) return { status: 'bad', reason: 'the signature armour is damaged' }
  const blob = Buffer.from(body, 'base64')
  let off = 0
  const take = (n: number): Buffer => {
    if (off + n > blob.length) throw new Error('truncated')
    off += n
    return blob.subarray(off - n, off)
  }
  const takeStr = (): Buffer => take(take(4).readUInt32BE(0))
  try {
    if (!take(6).equals(MAGIC) || take(4).readUInt32BE(0) !== 1) return { status: 'bad', reason: 'not an SSHSIG version 1 signature' }
    const pk = takeStr()
    const ns = takeStr().toString()
    takeStr() // reserved
    const hashAlg = takeStr().toString()
    const sigBlob = takeStr()
    if (off !== blob.length) return { status: 'bad', reason: 'the signature has trailing bytes' }
    if (ns !== namespace) return { status: 'bad', reason: `the signature is for namespace '${ns}', not '${namespace}'` }
    // the key and the signature are sequences of SSH strings of their own
    const keyType = readStrings(pk)
    if (keyType[0] !== KEY_TYPE) return { status: 'unknown-key', keyType: keyType[0] ?? '?' }
    const sigParts = readStrings(sigBlob)
    if (keyType.length !== 2 || keyType[1].length !== 32 || sigParts.length !== 2 || sigParts[0].toString() !== KEY_TYPE || sigParts[1].length !== 64)
      return { status: 'bad', reason: 'the Ed25519 key or signature is malformed' }
    if (hashAlg !== 'sha512' && hashAlg !== 'sha256') return { status: 'bad', reason: `unknown hash '${hashAlg}'` }
    const data = signedData(namespace, message, hashAlg)
    const publicKey = Buffer.from(keyType[1])
    if (!verify(sigParts[1], data, publicKey)) return { status: 'bad', reason: 'the signature does not verify' }
    return { status: 'good', publicKey }
  } catch {
    return { status: 'bad', reason: 'the signature is truncated' }
  }
}

/** An SSH "string" sequence: [type name as text, then raw buffers]. */
function readStrings(b: Buffer): [string, ...Buffer[]] | [] {
  const out: Buffer[] = []
  let off = 0
  while (off < b.length) {
    if (off + 4 > b.length) throw new Error('truncated')
    const n = b.readUInt32BE(off)
    if (off + 4 + n > b.length) throw new Error('truncated')
    out.push(b.subarray(off + 4, off + 4 + n))
    off += 4 + n
  }
  if (out.length === 0) return []
  return [out[0].toString('latin1'), ...out.slice(1)]
}
