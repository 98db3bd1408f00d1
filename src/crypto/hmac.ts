// HMAC for one-time passwords (RFC 4226 / 6238). libsodium has no HMAC-SHA1, which nearly every
// TOTP issuer uses, so this one goes through Node's OpenSSL; it stays in src/crypto with the rest.
import nodeCrypto from 'node:crypto'

export type HmacAlgorithm = 'SHA1' | 'SHA256' | 'SHA512'

export function hmac(alg: HmacAlgorithm, key: Buffer, message: Buffer): Buffer {
  return nodeCrypto.createHmac(alg.toLowerCase(), key).update(message).digest()
}
