// TOTP: RFC 6238 appendix B's test vectors for SHA-1, SHA-256 and SHA-512 (8 digits, 30 s), and
// the otpauth URI and base32 forms a secret may hold.
import test from 'node:test'
import assert from 'node:assert/strict'
import { base32Decode, hotp, parseTotp, totp, type TotpParams } from '../../src/otp/totp.js'

const SEEDS = {
  SHA1: Buffer.from('12345678901234567890'),
  SHA256: Buffer.from('12345678901234567890123456789012'),
  SHA512: Buffer.from('1234567890123456789012345678901234567890123456789012345678901234'),
}
// RFC 6238 Appendix B: time (s) → SHA1, SHA256, SHA512
export const RFC6238: [number, string, string, string][] = [
  [59, '94287082', '46119246', '90693936'],
  [1111111109, '07081804', '68084774', '25091201'],
  [1111111111, '14050471', '67062674', '99943326'],
  [1234567890, '89005924', '91819424', '93441116'],
  [2000000000, '69279037', '90698825', '38618901'],
  [20000000000, '65353130', '77737706', '47863826'],
]

test('RFC 6238 test vectors', () => {
  for (const [time, sha1, sha256, sha512] of RFC6238) {
    const p = (algorithm: TotpParams['algorithm']): TotpParams => ({ key: SEEDS[algorithm], algorithm, digits: 8, period: 30 })
    assert.equal(totp(p('SHA1'), time).code, sha1, `SHA1 at ${time}`)
    assert.equal(totp(p('SHA256'), time).code, sha256, `SHA256 at ${time}`)
    assert.equal(totp(p('SHA512'), time).code, sha512, `SHA512 at ${time}`)
  }
})

test('RFC 4226 appendix D: HOTP values of its first counters (6 digits)', () => {
  const want = ['755224', '287082', '359152', '969429', '338314', '254676', '287922', '162583', '399871', '520489']
  want.forEach((code, i) => assert.equal(hotp(SEEDS.SHA1, i, 6, 'SHA1'), code))
})

test('base32: case, spaces and padding ignored; other letters refused', () => {
  const b32 = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ' // "12345678901234567890"
  assert.ok(base32Decode(b32).equals(SEEDS.SHA1))
  assert.ok(base32Decode('gezd gnbv gy3t qojq gezd gnbv gy3t qojq').equals(SEEDS.SHA1))
  assert.ok(base32Decode('MZXW6===').equals(Buffer.from('foo')))
  assert.throws(() => base32Decode('GEZ1'), { code: 'REFUSED' })
  assert.throws(() => base32Decode(''), { code: 'REFUSED' })
})

test('otpauth URIs: algorithm, digits and period; bare keys default to SHA1, 6 digits, 30 s', () => {
  const uri = 'otpauth://totp/ACME%20Co:alice@example.org?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=ACME%20Co&algorithm=SHA256&digits=8&period=60'
  const p = parseTotp(Buffer.from(uri + '\nnotes on the second line\n'))
  assert.equal(p.algorithm, 'SHA256')
  assert.equal(p.digits, 8)
  assert.equal(p.period, 60)
  assert.equal(p.issuer, 'ACME Co')
  assert.equal(p.label, 'ACME Co:alice@example.org')
  assert.ok(p.key.equals(SEEDS.SHA1))
  const bare = parseTotp(Buffer.from('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n'))
  assert.deepEqual({ a: bare.algorithm, d: bare.digits, p: bare.period }, { a: 'SHA1', d: 6, p: 30 })
  assert.equal(totp(bare, 59).code, '287082')
  assert.equal(totp(bare, 59).remaining, 1)
  const seven = parseTotp(Buffer.from('otpauth://totp/x?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&digits=7'))
  assert.equal(totp(seven, 59).code, '4287082')
})

test('what is not a TOTP secret is refused with one clear reason', () => {
  for (const bad of [
    'otpauth://hotp/x?secret=GEZDGNBV&counter=1',
    'otpauth://totp/x?algorithm=SHA1',
    'otpauth://totp/x?secret=GEZDGNBV&algorithm=MD5',
    'otpauth://totp/x?secret=GEZDGNBV&digits=9',
    'otpauth://totp/x?secret=GEZDGNBV&period=0',
    'hunter2!',
  ])
    assert.throws(() => parseTotp(Buffer.from(bad)), { code: 'REFUSED' }, bad)
})
