// The frozen node with all three key-slot kinds (test/fixtures/v1-slots): it opens with its
// passphrase, its key file and, through real gpg, its TEST-ONLY gpg key — forever. Never
// regenerate the fixture to make this pass.
import test from 'node:test'
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { execFileSync } from 'node:child_process'
import { ROOT, run, tmpdir } from '../helpers.js'

const DIR = path.join(ROOT, 'test', 'fixtures', 'v1-slots')
const expected = JSON.parse(fs.readFileSync(path.join(DIR, 'expected.json'), 'utf8'))
const sha = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex')

test('the slots fixture is the frozen file', () => {
  assert.equal(sha(fs.readFileSync(path.join(DIR, 'node-v1-slots.pk'))), expected.sha256, 'node-v1-slots.pk was changed: it must stay frozen')
  assert.equal(sha(fs.readFileSync(path.join(DIR, 'TEST-ONLY-fixture.key'))), expected.keyFileSha256)
})

test('the slots fixture: slot list, and each of its three keys opens it', async (t) => {
  const dir = tmpdir(t)
  // A copy: a get records the read in the node's audit log (a save), and the original must stay frozen.
  const node = path.join(dir, 'node.pk')
  fs.copyFileSync(path.join(DIR, 'node-v1-slots.pk'), node)
  const key = path.join(dir, 'fixture.key')
  fs.copyFileSync(path.join(DIR, 'TEST-ONLY-fixture.key'), key)
  fs.chmodSync(key, 0o600) // git does not keep modes
  const home = tmpdir(t, 'pkg-')
  fs.chmodSync(home, 0o700)
  const env = { GNUPGHOME: home, POLYKEY_PASSPHRASE: undefined }
  t.after(() => execFileSync('gpgconf', ['--kill', 'all'], { env: { ...process.env, GNUPGHOME: home }, stdio: 'ignore' }))
  execFileSync('gpg', ['--batch', '--import', path.join(DIR, 'TEST-ONLY-gpg-secret-key.asc')], { env: { ...process.env, GNUPGHOME: home }, stdio: 'ignore' })

  const list = await run(['slot', 'list', '--json'], { node, env })
  assert.equal(list.code, 0, list.stderr)
  assert.deepEqual(JSON.parse(list.out), expected.slots)
  const want = expected.secrets['fixture/value']
  for (const [how, e, args] of [
    ['passphrase', { POLYKEY_PASSPHRASE: expected.passphrase, GNUPGHOME: path.join(dir, 'none') }, []],
    ['key file', { ...env, GNUPGHOME: path.join(dir, 'none') }, ['--key-file', key]],
    ['gpg', env, []],
  ] as const) {
    const r = await run([...args, 'secret', 'get', 'fixture/value'], { node, env: e })
    assert.equal(r.code, 0, `${how}: ${r.stderr}`)
    assert.equal(r.out, want, how)
  }
  assert.equal(sha(fs.readFileSync(path.join(DIR, 'node-v1-slots.pk'))), expected.sha256, 'the original is untouched')
})
