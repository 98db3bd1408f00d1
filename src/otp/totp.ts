// Time-based one-time passwords (RFC 6238 over RFC 4226's HOTP) from what a secret holds: an
// `otpauth://totp/…` URI on its first line (the format QR codes carry), or a bare base32 key.
// Pure: the time is an argument.
import { hmac, type HmacAlgorithm } from '../crypto/hmac.js'
import { PolykeyError } from '../errors.js'

export interface TotpParams {
  key: Buffer
  algorithm: HmacAlgorithm
  digits: number
  period: number
  issuer?: string
  label?: string
}

const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'

/** RFC 4648 base32; case, spaces, hyphens and '=' padding are ignored as authenticator apps do. */
export function base32Decode(text: string): Buffer {
  const clean = text.replace(/[\s-]/g, '').replace(/=+$/, '').toUpperCase()
  if (clean.length === 0) throw bad('the key is empty')
  const out: number[] = []
  let bits = 0
  let value = 0
  for (const ch of clean) {
    const v = B32.indexOf(ch)
    if (v < 0) throw bad('the key is not base32 (letters A–Z and digits 2–7)')
    value = (value << 5) | v
    bits += 5
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff)
      bits -= 8
    }
  }
  value = 0
  const b = Buffer.from(out)
  out.fill(0)
  return b
}

function bad(msg: string): PolykeyError {
  return new PolykeyError('REFUSED', `not a TOTP secret: ${msg}`, {}, { hint: 'store an otpauth://totp/… URI on the first line, or the base32 key alone' })
}

/** What the secret's first line says; `value` is not kept. */
export function parseTotp(value: Buffer): TotpParams {
  const text = value.toString('utf8')
  const first = text.split(/\r?\n/)[0].trim()
  if (!/^otpauth:\/\//i.test(first)) return { key: base32Decode(first), algorithm: 'SHA1', digits: 6, period: 30 }
  let url: URL
  try {
    url = new URL(first)
  } catch {
    throw bad('the otpauth URI does not parse')
  }
  if (url.hostname.toLowerCase() !== 'totp') throw bad(`only otpauth://totp is supported, not ${url.hostname || 'this kind'}`)
  const q = url.searchParams
  const secret = q.get('secret')
  if (!secret) throw bad('the otpauth URI has no secret parameter')
  const algorithm = (q.get('algorithm') ?? 'SHA1').toUpperCase()
  if (algorithm !== 'SHA1' && algorithm !== 'SHA256' && algorithm !== 'SHA512') throw bad(`unsupported algorithm ${algorithm} (SHA1, SHA256 or SHA512)`)
  const digits = Number(q.get('digits') ?? 6)
  if (!Number.isInteger(digits) || digits < 6 || digits > 8) throw bad('digits must be 6, 7 or 8')
  const period = Number(q.get('period') ?? 30)
  if (!Number.isInteger(period) || period < 1 || period > 86400) throw bad('period must be a whole number of seconds from 1 to 86400')
  const label = decodeURIComponent(url.pathname.replace(/^\//, ''))
  return { key: base32Decode(secret), algorithm, digits, period, issuer: q.get('issuer') ?? undefined, label: label || undefined }
}

/** RFC 4226 §5.3: HMAC of the 8-byte big-endian counter, dynamically truncated. */
export function hotp(key: Buffer, counter: number, digits: number, algorithm: HmacAlgorithm): string {
  const msg = Buffer.alloc(8)
  msg.writeBigUInt64BE(BigInt(counter))
  const mac = hmac(algorithm, key, msg)
  const off = mac[mac.length - 1] & 0x0f
  const bin = ((mac[off] & 0x7f) << 24) | (mac[off + 1] << 16) | (mac[off + 2] << 8) | mac[off + 3]
  mac.fill(0)
  return String(bin % 10 ** digits).padStart(digits, '0')
}

/** The code at `unixSeconds`, and how many seconds it stays valid. */
export function totp(p: TotpParams, unixSeconds: number): { code: string; remaining: number } {
  const counter = Math.floor(unixSeconds / p.period)
  return { code: hotp(p.key, counter, p.digits, p.algorithm), remaining: p.period - (Math.floor(unixSeconds) % p.period) }
}
