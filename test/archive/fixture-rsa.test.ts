// The frozen node whose RSA-4096 gpg slot is in a slot record (test/fixtures/v2-rsa): it opens
// with its passphrase, its key file and, through real gpg and from the record, its TEST-ONLY RSA
// key — forever. Never regenerate the fixture to make this pass.
import test from 'node:test'
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { execFileSync } from 'node:child_process'
import { ROOT, run, tmpdir } from '../helpers.js'
import { pointer } from './torn-slots.js'

const DIR = path.join(ROOT, 'test', 'fixtures', 'v2-rsa')
const FIXTURE = path.join(DIR, 'node-v2-rsa.pk')
const expected = JSON.parse(fs.readFileSync(path.join(DIR, 'expected.json'), 'utf8'))
const sha = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex')

test('the RSA fixture is the frozen file, and its gpg slot is in a slot record', () => {
  const bytes = fs.readFileSync(FIXTURE)
  assert.equal(sha(bytes), expected.sha256, 'node-v2-rsa.pk was changed: it must stay frozen')
  assert.equal(sha(fs.readFileSync(path.join(DIR, 'TEST-ONLY-fixture.key'))), expected.keyFileSha256)
  assert.equal(bytes.readUInt16LE(8), 2, 'format version 2')
  const p = pointer(bytes)!
  assert.deepEqual({ offset: p.offset, length: p.length, hash: p.hash.toString('hex') }, expected.slotRecord)
})

test('the RSA fixture: slot list, and each of its three keys opens a copy (gpg from the record)', async (t) => {
  const dir = tmpdir(t)
  // A copy: reads are saves (the read audit), and the original must stay frozen.
  const node = path.join(dir, 'node.pk')
  fs.copyFileSync(FIXTURE, node)
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
  const v = await run(['verify'], { node, env })
  assert.equal(v.code, 0, v.stderr)
  assert.equal(sha(fs.readFileSync(FIXTURE)), expected.sha256, 'the original is untouched')
})
