// Polykey's cryptography, in one place (docs/FORMAT.md §Crypto).
//   AEAD: XChaCha20-Poly1305 (IETF), 24-byte random nonces, 16-byte tags.
//   Passphrases: Argon2id v1.3, parameters stored in the key slot.
//   Subkeys: libsodium crypto_kdf (BLAKE2b) from the master key, one per named purpose.
//   Checksums / MACs: BLAKE2b (crypto_generichash), keyed for MACs.
//   Identity: Ed25519.
import { sodium } from './sodium.js'

export const KEY_BYTES = 32
export const NONCE_BYTES = 24
export const TAG_BYTES = 16
export const SALT_BYTES = 16

export type KdfProfile = 'test' | 'interactive' | 'moderate' | 'sensitive'
export interface KdfParams {
  opslimit: number
  memlimit: number
}
// 'test' is deliberately weak: for the test suite and benchmarks only (never offered by --help).
export const KDF_PROFILES: Record<KdfProfile, KdfParams> = {
  test: { opslimit: 1, memlimit: 8192 },
  interactive: { opslimit: 2, memlimit: 64 * 1024 * 1024 },
  moderate: { opslimit: 3, memlimit: 256 * 1024 * 1024 },
  sensitive: { opslimit: 4, memlimit: 1024 * 1024 * 1024 },
}
// Bounds accepted when reading a slot: anything outside is a corrupt (or hostile) file, not a
// reason to spend an hour or allocate 4 GiB on every open. The strongest profile ('sensitive')
// with twice its passes and twice its memory as headroom: at most about 4 times its cost.
export const KDF_BOUNDS = { opsMin: 1, opsMax: 8, memMin: 8192, memMax: 2 * 1024 * 1024 * 1024 }

/** Named purposes for subkeys of the master key. Never reuse an id for another purpose. */
export const Purpose = {
  data: 1, // member chunks
  index: 2, // index blocks
  trailer: 3, // trailer MACs
  seal: 4, // sealed bundles
} as const
export type PurposeName = keyof typeof Purpose
const KDF_CONTEXT = Buffer.from('PKNODE01')

export function randomBytes(n: number): Buffer {
  const b = Buffer.alloc(n)
  sodium.randombytes_buf(b)
  return b
}

/** Key memory: locked (no swap), guarded, wiped on free. */
export function secureBuffer(n: number): Buffer {
  return sodium.sodium_malloc(n)
}

export function wipe(b: Buffer | null | undefined): void {
  if (b) sodium.sodium_memzero(b)
}

export function subkey(master: Buffer, purpose: PurposeName): Buffer {
  const out = secureBuffer(KEY_BYTES)
  sodium.crypto_kdf_derive_from_key(out, Purpose[purpose], KDF_CONTEXT, master)
  return out
}

export function deriveFromPassphrase(passphrase: Buffer, salt: Buffer, p: KdfParams): Buffer {
  const out = secureBuffer(KEY_BYTES)
  sodium.crypto_pwhash(out, passphrase, salt, p.opslimit, p.memlimit, sodium.crypto_pwhash_ALG_ARGON2ID13)
  return out
}

/** nonce || ciphertext || tag is the caller's business; this returns ciphertext||tag. */
export function seal(key: Buffer, nonce: Buffer, plain: Buffer, ad: Buffer): Buffer {
  const out = Buffer.allocUnsafe(plain.length + TAG_BYTES)
  sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(out, plain, ad, null, nonce, key)
  return out
}

/** Returns the plaintext, or null when the tag does not verify (wrong key or tampered bytes). */
export function open(key: Buffer, nonce: Buffer, sealed: Buffer, ad: Buffer, out?: Buffer): Buffer | null {
  if (sealed.length < TAG_BYTES) return null
  const plain = out ?? Buffer.allocUnsafe(sealed.length - TAG_BYTES)
  try {
    sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(plain, null, sealed, ad, nonce, key)
    return plain
  } catch {
    return null
  }
}

export function hash(input: Buffer, bytes = 32, key?: Buffer): Buffer {
  const out = Buffer.alloc(bytes)
  if (key) sodium.crypto_generichash(out, input, key)
  else sodium.crypto_generichash(out, input)
  return out
}

export function equal(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && sodium.sodium_memcmp(a, b)
}

export interface SigningKeyPair {
  publicKey: Buffer
  secretKey: Buffer
}
export function signingKeyPair(seed?: Buffer): SigningKeyPair {
  const publicKey = Buffer.alloc(32)
  const secretKey = secureBuffer(64)
  if (seed) sodium.crypto_sign_seed_keypair(publicKey, secretKey, seed)
  else sodium.crypto_sign_keypair(publicKey, secretKey)
  return { publicKey, secretKey }
}
export function sign(message: Buffer, secretKey: Buffer): Buffer {
  const sig = Buffer.alloc(64)
  sodium.crypto_sign_detached(sig, message, secretKey)
  return sig
}
export function verify(sig: Buffer, message: Buffer, publicKey: Buffer): boolean {
  return sig.length === 64 && publicKey.length === 32 && sodium.crypto_sign_verify_detached(sig, message, publicKey)
}

/** Anonymous public-key encryption to an Ed25519 identity (converted to X25519). */
export function sealTo(publicKeyEd: Buffer, message: Buffer): Buffer {
  const x = Buffer.alloc(32)
  sodium.crypto_sign_ed25519_pk_to_curve25519(x, publicKeyEd)
  const out = Buffer.alloc(message.length + 48)
  sodium.crypto_box_seal(out, message, x)
  return out
}
export function unsealWith(kp: SigningKeyPair, sealed: Buffer): Buffer | null {
  if (sealed.length < 48) return null
  const xpk = Buffer.alloc(32)
  const xsk = secureBuffer(32)
  sodium.crypto_sign_ed25519_pk_to_curve25519(xpk, kp.publicKey)
  sodium.crypto_sign_ed25519_sk_to_curve25519(xsk, kp.secretKey)
  const out = Buffer.alloc(sealed.length - 48)
  const ok = sodium.crypto_box_seal_open(out, sealed, xpk, xsk)
  wipe(xsk)
  return ok ? out : null
}
