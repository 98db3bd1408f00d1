// The statement codec (docs/IDENTITY.md §Statement): the test vector printed in the docs, the
// strictness that gives one statement one encoding, and parse-after-encode over random fields.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { signingKeyPair } from '../../src/crypto/index.js'
import {
  checkDates,
  checkNames,
  checkNodeSignature,
  findClearsigned,
  findSshSigned,
  nodeSign,
  parseIdentity,
  parseStatement,
  type StatementFields,
} from '../../src/identity/statement.js'
import { parseLookup } from '../../src/identity/keybase.js'
import { parseGists, parseKeys } from '../../src/identity/github.js'

// The vector in docs/IDENTITY.md: node key from the seed 01 01 … 01 (32 bytes).
const VECTOR_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl'
const VECTOR = `polykey-identity-statement: 1
service: github
user: alice
user-key: ${VECTOR_KEY}
node: 8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c
address: 192.168.1.20:7411
created: 2026-12-01T00:00:00Z
expires: 2027-12-01T00:00:00Z
node-signature: e4ccbdad58a8f285a3e4b55d6fcdf62dc088c89909d408e5e8005e07a73adb8c5f0be5afed7c83c1d77fbef8ca830ddb4581c1cc599c1b79e2a39fb7a49de506
`

const kp = signingKeyPair(Buffer.alloc(32, 1))
const fields: StatementFields = {
  service: 'github',
  user: 'alice',
  userKey: VECTOR_KEY,
  node: kp.publicKey.toString('hex'),
  address: '192.168.1.20:7411',
  created: '2026-12-01T00:00:00Z',
  expires: '2027-12-01T00:00:00Z',
}

test('vector: the documented statement, byte for byte, and it parses back', () => {
  assert.equal(nodeSign(fields, kp.secretKey), VECTOR)
  const s = parseStatement(VECTOR)
  assert.deepEqual(s.fields, fields)
  checkNodeSignature(s)
  checkNames(s, { service: 'github', user: 'ALICE' }) // GitHub logins compare case-insensitively
  checkDates(s, Date.parse('2027-01-01T00:00:00Z'))
  assert.throws(() => checkDates(s, Date.parse('2027-12-01T00:00:00Z')), /expired on 2027-12-01T00:00:00Z/)
  assert.throws(() => checkDates(s, Date.parse('2026-11-30T00:00:00Z')), /in the future/)
  assert.throws(() => checkNames(s, { service: 'keybase', user: 'alice' }), /for github, not keybase/)
})

test('strict parse: one encoding per statement', () => {
  const bad: [string, RegExp][] = [
    [VECTOR.replace(/\n/g, '\r\n'), /LF/],
    [VECTOR.replace('polykey-identity-statement: 1', 'polykey-identity-statement: 2'), /version 2/],
    [VECTOR.replace('service: github\nuser: alice\n', 'user: alice\nservice: github\n'), /out of order/],
    [VECTOR.replace('user: alice\n', 'user: alice\nuser: bob\n'), /out of order or repeated/],
    [VECTOR.replace('user: alice\n', 'user: alice\ncomment: hi\n'), /unknown field 'comment'/],
    [VECTOR.replace('user: alice\n', 'user: alice\n\n'), /unreadable line/],
    [VECTOR.replace('user: alice', 'user:  alice'), /malformed/],
    [VECTOR.replace(/node: [0-9a-f]+/, 'node: ' + 'A'.repeat(64)), /node id is malformed/],
    [VECTOR.replace('expires: 2027', 'expires: 2025'), /expiry time is malformed/],
    [VECTOR.replace('address: 192.168.1.20:7411\n', 'address: 192.168.1.20\n'), /address is malformed/],
    [VECTOR.replace('user-key: ssh-ed25519', 'user-key: pgp:'), /user key is malformed/],
    [VECTOR.slice(0, -1), /LF/],
    [VECTOR.replace(/node-signature: .*\n/, ''), /no 'node-signature'/],
    [VECTOR + 'x'.repeat(5000) + '\n', /too long/],
  ]
  for (const [text, why] of bad)
    assert.throws(
      () => parseStatement(text),
      (e: any) => e.code === 'REFUSED' && why.test(e.message),
      `${why}`,
    )
  // every single flipped signature bit is caught
  const s = parseStatement(VECTOR.replace(/node-signature: (.)/, (_m, c) => `node-signature: ${c === '0' ? '1' : '0'}`))
  assert.throws(() => checkNodeSignature(s), /node signature does not match/)
  const nodeless = { ...fields }
  delete nodeless.address
  assert.ok(!nodeSign(nodeless, kp.secretKey).includes('address:'))
})

test('published forms: only the signed block counts, text around it is ignored', () => {
  const pgp = '-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nbody\n-----BEGIN PGP SIGNATURE-----\n\nxx\n-----END PGP SIGNATURE-----'
  assert.equal(findClearsigned(`intro\r\n${pgp}\r\ntrailer`), pgp + '\n')
  assert.equal(findClearsigned('no block here'), null)
  assert.equal(findClearsigned(`x${pgp}`), null)
  const ssh = '-----BEGIN SSH SIGNATURE-----\nabc\n-----END SSH SIGNATURE-----'
  const found = findSshSigned(`Some intro\n${VECTOR}\n${ssh}\nmore`)
  assert.deepEqual(found, { text: VECTOR, signature: ssh + '\n' })
  assert.equal(findSshSigned(`${VECTOR}words between\n${ssh}`), null)
  assert.equal(findSshSigned(VECTOR), null)
})

test('parse after encode: random well-formed fields give back the same fields and bytes', () => {
  const user = fc.stringMatching(/^[A-Za-z0-9]{1,20}$/)
  const when = fc.integer({ min: Date.parse('2000-01-01T00:00:00Z') / 1000, max: Date.parse('2090-01-01T00:00:00Z') / 1000 })
  fc.assert(
    fc.property(user, when, fc.integer({ min: 1, max: 10_000_000 }), fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }), (u, c, span, port) => {
      const f: StatementFields = {
        service: 'github',
        user: u,
        userKey: VECTOR_KEY,
        node: fields.node,
        ...(port ? { address: `example.org:${port}` } : {}),
        created: new Date(c * 1000).toISOString().replace('.000Z', 'Z'),
        expires: new Date((c + span) * 1000).toISOString().replace('.000Z', 'Z'),
      }
      const text = nodeSign(f, kp.secretKey)
      const s = parseStatement(text)
      assert.deepEqual(s.fields, f)
      assert.equal(s.text, text)
      checkNodeSignature(s)
    }),
    { numRuns: 200 },
  )
})

test('identities on the command line', () => {
  assert.deepEqual(parseIdentity('keybase:Alice'), { service: 'keybase', user: 'alice' })
  assert.deepEqual(parseIdentity('github:Alice-B'), { service: 'github', user: 'Alice-B' })
  assert.equal(parseIdentity('a'.repeat(64)), null)
  assert.equal(parseIdentity('twitter:alice'), null)
  assert.throws(() => parseIdentity('github:a--b'), /not a GitHub user name/)
  assert.throws(() => parseIdentity('keybase:../x'), /not a Keybase user name/)
})

test('service answers parse defensively', () => {
  const ok = {
    status: { code: 0 },
    them: [
      {
        basics: { username: 'alice' },
        public_keys: { primary: { key_fingerprint: 'ab'.repeat(20), bundle: '-----BEGIN PGP PUBLIC KEY BLOCK-----\nx' }, pgp_public_keys: [42, null] },
        proofs_summary: { all: [null, 7, { proof_type: 'dns', nametag: 'alice.example', state: 1 }, { proof_type: 'github', nametag: 'gh', state: 3 }] },
      },
    ],
  }
  const u = parseLookup(ok, 'alice')
  assert.equal(u.bundles.length, 1)
  assert.equal(u.primary, 'AB'.repeat(20))
  assert.deepEqual(u.proofs, [{ type: 'dns', name: 'alice.example' }])
  for (const bad of [null, 3, 'x', {}, { status: {} }, { status: { code: 0 } }, { status: { code: 0 }, them: [5] }, { status: { code: 0 }, them: [{}] }])
    assert.throws(
      () => parseLookup(bad, 'alice'),
      (e: any) => e.code === 'PEER' || e.code === 'NOT_FOUND',
    )
  assert.throws(() => parseLookup({ status: { code: 0 }, them: [] }, 'alice'), /no user 'alice'/)
  assert.throws(() => parseLookup({ status: { code: 602, name: 'RATE_LIMIT' } }, 'alice'), /rate-limiting/)
  assert.deepEqual(parseKeys(`${VECTOR_KEY} me@laptop\n\nnot a key\n${VECTOR_KEY}\n`), [VECTOR_KEY])
  assert.deepEqual(
    parseGists(
      [
        { owner: { login: 'Alice' }, files: { 'polykey.txt': { filename: 'polykey.txt', raw_url: 'https://x/1' }, 'a.md': { filename: 'a.md', raw_url: 'https://x/2' } } },
        { owner: { login: 'mallory' }, files: { 'polykey.txt': { filename: 'polykey.txt', raw_url: 'https://x/3' } } },
      ],
      'alice',
    ),
    ['https://x/1'],
  )
  assert.throws(() => parseGists({}, 'alice'), /malformed gist list/)
})
