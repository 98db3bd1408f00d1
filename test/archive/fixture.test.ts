// The frozen version-1 node file (test/fixtures/v1): every version of polykey must open it and
// find exactly what expected.json lists, forever (docs/FORMAT.md §Versioning). Never regenerate
// the fixture to make this test pass; a failure here means a format (or export) incompatibility.
import test from 'node:test'
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { ROOT, tmpdir } from '../helpers.js'
import { FORMAT_VERSION } from '../../src/archive/codec.js'
import { cli } from './util.js'
import { describeNode, describeThroughCli } from './fixture-describe.js'

const DIR = path.join(ROOT, 'test', 'fixtures', 'v1')
const FIXTURE = path.join(DIR, 'node-v1.pk')
const PASSPHRASE = 'polykey-fixture-v1'
const expected = JSON.parse(fs.readFileSync(path.join(DIR, 'expected.json'), 'utf8'))

test('the v1 fixture is the frozen file', () => {
  const bytes = fs.readFileSync(FIXTURE)
  assert.equal(crypto.createHash('sha256').update(bytes).digest('hex'), expected.format.sha256, 'node-v1.pk was changed: it must stay frozen')
  assert.equal(expected.passphrase, PASSPHRASE)
  assert.equal(bytes.readUInt16LE(8), 1, 'format version 1')
  assert.ok(FORMAT_VERSION >= 1)
})

test('the v1 fixture opens, and its members are exactly the expected ones', () => {
  assert.deepEqual(describeNode(FIXTURE, PASSPHRASE), expected.format)
  // A few facts spelled out, independent of the generator.
  const f = expected.format
  assert.equal(f.saves, 14)
  assert.equal(f.keySlots[0], null, 'slot area A is empty')
  assert.equal(f.keySlots[1].generation, 2, 'the passphrase was changed once: area B is active')
  assert.equal(f.segments[0].index, 'full')
  assert.ok(f.segments.slice(1).every((s: { index: string }) => s.index === 'delta'))
})

test('the v1 fixture through the CLI: the same secrets, tags and tar listing', async (t) => {
  // On a copy: `secret get` records the read in the node's audit log (a save).
  const copy = path.join(tmpdir(t), 'node-v1.pk')
  fs.copyFileSync(FIXTURE, copy)
  const got = await describeThroughCli(copy, PASSPHRASE)
  // Secret values, literally (the inputs of make-fixture.sh).
  assert.deepEqual(got.secrets, {
    'aws/access-key': 'AKIAFIXTUREFAKE00001',
    'aws/secret-access-key': 'fixture/secret/key/not-real/0002',
    'db/cert': { size: 70000, sha256: expected.secrets['db/cert'].sha256 },
    'db/password': 'fixture-password-v2',
  })
  assert.deepEqual(got.secrets, expected.secrets)
  assert.deepEqual(got.tags, expected.tags)
  assert.deepEqual(got.tarNames, expected.tarNames)
  assert.deepEqual(got.tar, expected.tar)
  // info may grow fields; the ones recorded must keep their values.
  for (const [k, v] of Object.entries(expected.info)) assert.deepEqual(got.info[k], v, `info.${k}`)
  const verify = await cli(['verify'], { node: FIXTURE, pass: PASSPHRASE })
  assert.equal(verify.code, 0, verify.stderr)
  assert.equal((await cli(['info'], { node: FIXTURE, pass: 'wrong' })).code, 3)
})

test('a copy of the v1 fixture stays writable, and the fixture itself is never touched', async (t) => {
  const before = fs.statSync(FIXTURE)
  const dir = tmpdir(t)
  const copy = path.join(dir, 'node-v1.pk')
  fs.copyFileSync(FIXTURE, copy)
  const put = await cli(['secret', 'put', 'db/new-in-a-later-version'], { node: copy, pass: PASSPHRASE, input: 'appended' })
  assert.equal(put.code, 0, put.stderr)
  const get = await cli(['secret', 'get', 'db/password'], { node: copy, pass: PASSPHRASE })
  assert.equal(get.out, 'fixture-password-v2')
  assert.equal((await cli(['secret', 'get', 'db/new-in-a-later-version'], { node: copy, pass: PASSPHRASE })).out, 'appended')
  const after = fs.statSync(FIXTURE)
  assert.equal(after.size, before.size)
  assert.equal(after.mtimeMs, before.mtimeMs)
  assert.ok(!fs.existsSync(FIXTURE + '.lock'))
})
