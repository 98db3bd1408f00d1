// The only importer of sodium-native (docs/ARCHITECTURE.md: crypto lives in src/crypto).
import fs from 'node:fs'
import path from 'node:path'
import { Module, createRequire } from 'node:module'

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

/**
 * sodium-native finds its compiled addon through require-addon, whose resolver costs more start-up
 * time (~15 ms) than loading the addon itself (~2 ms); every command that opens a node pays it.
 * When the package holds just its prebuilt addon for this platform (no local build, not musl,
 * where the resolver would look elsewhere), that file is the one the resolver picks: it is loaded
 * straight into the place of sodium-native's binding.js, and sodium-native's own index.js (its
 * checks and wrappers) runs on it as always. Otherwise, or on any doubt, the package loads itself.
 */
function loadSodium(): Sodium {
  try {
    const index = require.resolve('sodium-native')
    const dir = path.dirname(index)
    const binding = path.join(dir, 'binding.js')
    const prebuild = path.join(dir, 'prebuilds', `${process.platform}-${process.arch}`, 'sodium-native.node')
    if (!require.cache[binding] && fs.existsSync(prebuild) && !fs.existsSync(path.join(dir, 'build')) && !fs.existsSync('/etc/alpine-release')) {
      const m = new Module(binding)
      m.filename = binding
      m.exports = require(prebuild) as unknown
      m.loaded = true
      require.cache[binding] = m
    }
  } catch {
    /* the package's own way, below */
  }
  return require('sodium-native') as Sodium
}

export const sodium: Sodium = loadSodium()
