// Uniform choices: the rejection rule (scripted bytes), and a chi-square check of the real
// thing whose bound is generous (a false alarm is below one in a billion) yet which a naive
// `byte % n` fails by far (the same statistic is computed for it as proof the test has power).
import test from 'node:test'
import assert from 'node:assert/strict'
import { acceptLimit, randomIndices } from '../../src/crypto/random.js'
import { randomBytes } from '../../src/crypto/index.js'

function chiSquare(counts: number[], total: number): number {
  const expected = total / counts.length
  return counts.reduce((s, c) => s + (c - expected) ** 2 / expected, 0)
}
// df = 89 (90 buckets): mean 89, sd 13.3; P(chi2 > 180) ≈ 1e-8.
const BOUND_90 = 180

test('a draw at or above the largest multiple of n is thrown away, never folded', () => {
  assert.equal(acceptLimit(3), 2 ** 32 - 1) // 2^32 = 1 mod 3
  assert.equal(acceptLimit(2 ** 32), 2 ** 32)
  const words = [0xffffffff, 0xfffffffe, 5, 0xffffffff, 7]
  let calls = 0
  const scripted = (b: Buffer) => {
    b.fill(0xff)
    if (calls++ === 0) words.forEach((w, i) => b.writeUInt32LE(w, 4 * i))
    else b.writeUInt32LE(4, 0) // the next batch starts with a keeper
  }
  // n = 3: 0xffffffff is rejected; 0xfffffffe % 3 = 2, 5 % 3 = 2, 7 % 3 = 1; then 4 % 3 = 1
  assert.deepEqual([...randomIndices(4, 3, scripted)], [2, 2, 1, 1])
  assert.equal(calls, 2)
})

test('indices from libsodium are uniform over 90 (chi-square, 180,000 draws)', () => {
  const n = 90
  const total = n * 2000
  const counts = new Array(n).fill(0)
  for (const i of randomIndices(total, n)) counts[i]++
  const chi = chiSquare(counts, total)
  assert.ok(chi < BOUND_90, `chi-square ${chi.toFixed(1)} >= ${BOUND_90}`)

  // the same test rejects modulo bias: byte % 90 makes 0..75 half again as likely as 76..89
  const naive = new Array(n).fill(0)
  for (const b of randomBytes(total)) naive[b % n]++
  assert.ok(chiSquare(naive, total) > 10 * BOUND_90)
})

test('bounds: 1 always gives 0; 0 or more than 2^32 is refused', () => {
  assert.deepEqual([...randomIndices(5, 1)], [0, 0, 0, 0, 0])
  assert.throws(() => randomIndices(1, 0), RangeError)
  assert.throws(() => randomIndices(1, 2 ** 32 + 1), RangeError)
  assert.equal(randomIndices(0, 10).length, 0)
})
