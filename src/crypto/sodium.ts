// The only importer of sodium-native (docs/ARCHITECTURE.md: crypto lives in src/crypto).
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
// sodium-native has no bundled types; we type the handful of functions we use.
export interface Sodium {
  crypto_aead_xchacha20poly1305_ietf_encrypt(c: Buffer, m: Buffer, ad: Buffer | null, nsec: null, npub: Buffer, k: Buffer): number
  crypto_aead_xchacha20poly1305_ietf_decrypt(m: Buffer, nsec: null, c: Buffer, ad: Buffer | null, npub: Buffer, k: Buffer): number
  crypto_pwhash(out: Buffer, passwd: Buffer, salt: Buffer, opslimit: number, memlimit: number, alg: number): void
  crypto_pwhash_ALG_ARGON2ID13: number
  crypto_pwhash_MEMLIMIT_MIN: number
  crypto_pwhash_OPSLIMIT_MIN: number
  crypto_kdf_derive_from_key(subkey: Buffer, id: number, ctx: Buffer, key: Buffer): void
  crypto_generichash(out: Buffer, input: Buffer, key?: Buffer): void
  crypto_sign_seed_keypair(pk: Buffer, sk: Buffer, seed: Buffer): void
  crypto_sign_keypair(pk: Buffer, sk: Buffer): void
  crypto_sign_detached(sig: Buffer, m: Buffer, sk: Buffer): void
  crypto_sign_verify_detached(sig: Buffer, m: Buffer, pk: Buffer): boolean
  crypto_box_seal(c: Buffer, m: Buffer, pk: Buffer): void
  crypto_box_seal_open(m: Buffer, c: Buffer, pk: Buffer, sk: Buffer): boolean
  crypto_sign_ed25519_pk_to_curve25519(x: Buffer, ed: Buffer): void
  crypto_sign_ed25519_sk_to_curve25519(x: Buffer, ed: Buffer): void
  randombytes_buf(b: Buffer): void
  sodium_malloc(n: number): Buffer
  sodium_memzero(b: Buffer): void
  sodium_memcmp(a: Buffer, b: Buffer): boolean
}

export const sodium: Sodium = require('sodium-native')
