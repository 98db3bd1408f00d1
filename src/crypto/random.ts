// Uniform random choices from the OS's cryptographic randomness (libsodium's randombytes_buf).
// `x % n` over raw bytes favours the small residues whenever n does not divide the range, so a
// draw at or above the largest multiple of n is thrown away and drawn again (rejection
// sampling): every index in [0, n) is then exactly as likely as any other.
import { sodium } from './sodium.js'

/** Where random bytes come from; tests hand in a scripted one to check the rejection rule. */
export type ByteSource = (into: Buffer) => void
export const osRandom: ByteSource = (into) => sodium.randombytes_buf(into)

const RANGE = 2 ** 32

/** The exclusive bound under which a 32-bit draw is kept for choosing among n. */
export function acceptLimit(n: number): number {
  return RANGE - (RANGE % n)
}

/** `count` independent uniform indices in [0, n); 1 ≤ n ≤ 2^32. */
export function randomIndices(count: number, n: number, source: ByteSource = osRandom): Uint32Array {
  if (!Number.isInteger(n) || n < 1 || n > RANGE) throw new RangeError(`cannot choose among ${n}`)
  const out = new Uint32Array(count)
  const limit = acceptLimit(n)
  // Draw a batch at a time: with n ≤ 2^31 at most half the draws are rejected, usually none.
  const buf = Buffer.alloc(4 * Math.max(8, count))
  let filled = 0
  while (filled < count) {
    source(buf)
    for (let off = 0; off + 4 <= buf.length && filled < count; off += 4) {
      const x = buf.readUInt32LE(off)
      if (x < limit) out[filled++] = x % n
    }
  }
  sodium.sodium_memzero(buf)
  return out
}
