// The node's identity keys, read from the vault itself (.polykey/identity: the Ed25519 secret
// key), so the same code works on a node file and on a mounted node's memory.
import { type SigningKeyPair, secureBuffer, signingKeyPair, wipe } from '../crypto/index.js'
import { corrupt } from '../errors.js'
import type { Vault } from '../vault/vault.js'

export function identityKeys(v: Vault): { id: string; keys: SigningKeyPair } {
  const sk = v.readMeta('identity')
  if (!sk || sk.length !== 64) throw corrupt('node identity is missing or damaged', { region: 'identity' })
  const seed = secureBuffer(32)
  sk.copy(seed, 0, 0, 32)
  const keys = signingKeyPair(seed)
  wipe(seed)
  return { id: keys.publicKey.toString('hex'), keys }
}
