// What polykey says when gpg cannot decrypt comes from gpg's status lines, so it is the same on
// every run: it once depended on which of gpg's human lines came first matching a word list,
// and an informative "encrypted with ECDH key, ID 0BADC93EE6C9479D" — a random key id that
// spells BAD — became the whole message instead of "No secret key" (the pass-import flake).
import test from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { execFileSync } from 'node:child_process'
import { ROOT, tmpdir } from '../helpers.js'
import { gpgHome } from './gpg-helpers.js'
import { decryptFailure, decryptMany, decryptSync, parseStatus } from '../../src/crypto/gpg.js'
import { PolykeyError } from '../../src/errors.js'

// A real OpenPGP message (gpg 2.2.40, `gpg -e -r 0BADC93EE6C9479D!`) to a cv25519 subkey whose id
// contains BAD; its secret key was thrown away, so every keyring lacks it.
const TO_BAD = path.join(ROOT, 'test', 'gpg', 'fixtures', 'to-0BADC93EE6C9479D.gpg')

test('no secret key: the same message every time, whatever the key id spells', async (t) => {
  const home = tmpdir(t, 'pkg-')
  fs.chmodSync(home, 0o700)
  const env = { ...process.env, GNUPGHOME: home }
  t.after(() => execFileSync('gpgconf', ['--kill', 'all'], { env, stdio: 'ignore' }))
  const want = `gpg could not decrypt ${TO_BAD}: no secret key for 0BADC93EE6C9479D in this gpg keyring (gpg: decryption failed: No secret key)`
  const many = await decryptMany([{ file: TO_BAD }, { message: fs.readFileSync(TO_BAD) }], { env })
  assert.ok(many[0] instanceof PolykeyError)
  assert.equal(many[0].message, want)
  assert.deepEqual(many[0].data, { gpg: 'NO_SECKEY', keyIds: ['0BADC93EE6C9479D'] })
  assert.equal((many[1] as PolykeyError).message, want.replace(TO_BAD, 'a message'))
  assert.throws(
    () => decryptSync(fs.readFileSync(TO_BAD), 'the slot', env),
    (e: PolykeyError) => e.code === 'WRONG_KEY' && e.message === want.replace(TO_BAD, 'the slot'),
  )
})

test('gpg-agent that cannot be started: said as such, not as a missing key', (t) => {
  const g = gpgHome(t)
  const message = g.gpg(['--trust-model', 'always', '-e', '-r', g.fpr], 'secret')
  execFileSync('gpgconf', ['--kill', 'gpg-agent'], { env: g.env, stdio: 'ignore' })
  fs.writeFileSync(path.join(g.home, 'gpg.conf'), 'agent-program /bin/false\n')
  assert.throws(
    () => decryptSync(message, 'the slot', g.env),
    (e: PolykeyError) => e.data.gpg === 'NO_AGENT' && /^gpg could not decrypt the slot: gpg-agent cannot be reached \(gpg: .*agent.*\)$/.test(e.message),
  )
})

test("gpg's informative lines are not complaints: key ids, fingerprints and user ids are left out of the test", () => {
  const stderr = [
    '[GNUPG:] ENC_TO 0BADC93EE6C9479D 18 0',
    'gpg: encrypted with ECDH key, ID 0BADC93EE6C9479D',
    'gpg: encrypted with 255-bit ECDH key, ID FA11BAD0DEADBEEF, created 2026-12-02',
    '      "Bad Error <fail@example.invalid>"',
    '[GNUPG:] NO_SECKEY 0BADC93EE6C9479D',
    '[GNUPG:] BEGIN_DECRYPTION',
    '[GNUPG:] DECRYPTION_FAILED',
    'gpg: decryption failed: No secret key',
    '[GNUPG:] END_DECRYPTION',
  ].join('\n')
  assert.equal(parseStatus(stderr).said, 'decryption failed: No secret key')
  assert.equal(decryptFailure(stderr, 'x').message, 'gpg could not decrypt x: no secret key for 0BADC93EE6C9479D in this gpg keyring (gpg: decryption failed: No secret key)')
  // The order of gpg's lines does not matter: the reason is in the status lines.
  const shuffled = stderr.split('\n').reverse().join('\n')
  assert.equal(decryptFailure(shuffled, 'x').data.gpg, 'NO_SECKEY')
  assert.match(decryptFailure(shuffled, 'x').message, /^gpg could not decrypt x: no secret key for 0BADC93EE6C9479D in this gpg keyring/)
})
