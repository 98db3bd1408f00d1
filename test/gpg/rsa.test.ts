// RSA gpg keys, as many pass users have: an RSA-4096 key's OpenPGP message (~610 bytes) and an
// RSA-3072 one (~480) are larger than a slot area's 478 bytes of room, so their slots go into a
// slot record in the body (docs/FORMAT.md §Slot records). Real keys, real gpg and gpg-agent, in
// throwaway GNUPGHOMEs made once for this file (RSA key generation takes seconds).
import test, { after, before } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { ROOT, run, newNode, tmpdir, PASS } from '../helpers.js'
import { gpgHome, type GpgHome } from './gpg-helpers.js'
import { NodeFile, type KeySource } from '../../src/archive/nodefile.js'
import { makeGpgSlot } from '../../src/archive/slots.js'
import { collect, ids, pointer, tornStatesWithRecord } from '../archive/torn-slots.js'

const NO_PASS = { POLYKEY_PASSPHRASE: undefined }
const cleanups: (() => void)[] = []
const scope = { after: (fn: () => void) => cleanups.push(fn) }
let rsa4096: GpgHome
let rsa3072: GpgHome
before(() => {
  rsa4096 = gpgHome(scope, { uid: 'RSA 4096 <rsa4096@polykey.invalid>', key: 'rsa4096' })
  rsa3072 = gpgHome(scope, { uid: 'RSA 3072 <rsa3072@polykey.invalid>', key: 'rsa3072x2' })
  // Each home can encrypt to the other key (as a user adds a teammate's key), but holds only its own secret key.
  rsa4096.gpg(['--import'], rsa3072.gpg(['--export', rsa3072.fpr]))
})
after(() => {
  for (const f of cleanups.reverse()) f()
})

async function slots(node: string) {
  const r = await run(['slot', 'list', '--json'], { node, env: NO_PASS })
  assert.equal(r.code, 0, r.stderr)
  return JSON.parse(r.out) as { id: string; kind: string; fingerprint?: string }[]
}

test('the messages of these keys do not fit a slot area', () => {
  for (const g of [rsa4096, rsa3072]) {
    const m = g.gpg(['--trust-model', 'always', '--compress-algo', 'none', '--no-encrypt-to', '-e', '-r', g.fpr], Buffer.alloc(32))
    assert.ok(3 + 27 + 20 + m.length > 478, `${g.uid}: ${m.length} bytes`)
  }
})

test('an RSA-4096 gpg slot: add, open with only the gpg key (directly and through unlock/lock), remove', async (t) => {
  const g = rsa4096
  const { node } = await newNode(t)
  assert.equal((await run(['repo', 'create', 'r'], { node })).code, 0)
  assert.equal((await run(['secret', 'put', 'r/s'], { node, input: 'behind an RSA key' })).code, 0)
  const add = await run(['slot', 'add', 'gpg', g.fpr], { node, env: g.env })
  assert.equal(add.code, 0, add.stderr)
  assert.match(add.out, /added slot [0-9a-f]{8} \(gpg\)/)
  assert.ok(pointer(fs.readFileSync(node)), 'the slot is in a slot record')
  const list = await slots(node)
  assert.deepEqual(
    list.map((s) => [s.kind, s.fingerprint]),
    [
      ['passphrase', undefined],
      ['gpg', g.fpr],
    ],
  )
  // Only gpg: no passphrase anywhere.
  const gpgOnly = { ...g.env, ...NO_PASS }
  let r = await run(['secret', 'get', 'r/s'], { node, env: gpgOnly })
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.out, 'behind an RSA key')
  // The passphrase slot goes: the area then holds only the pointer.
  assert.equal((await run(['slot', 'rm', list[0].id], { node, env: gpgOnly })).code, 0)
  assert.deepEqual(
    (await slots(node)).map((s) => s.kind),
    ['gpg'],
  )
  assert.equal((await run(['info'], { node })).code, 3, 'the passphrase no longer opens it')
  const u = await run(['unlock', '--timeout', '0'], { node, env: gpgOnly })
  assert.equal(u.code, 0, u.stderr)
  t.after(async () => {
    await run(['lock'], { node, env: gpgOnly })
  })
  assert.equal((await run(['secret', 'put', 'r/t'], { node, input: 'through the agent', env: gpgOnly })).code, 0)
  assert.equal((await run(['lock'], { node, env: gpgOnly })).code, 0)
  r = await run(['secret', 'get', 'r/t'], { node, env: gpgOnly })
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.out, 'through the agent')
  assert.equal((await run(['verify'], { node, env: gpgOnly })).code, 0)
  // Back to a passphrase, and the RSA slot removed: no record any more.
  assert.equal((await run(['slot', 'add', 'passphrase'], { node, env: { ...gpgOnly, POLYKEY_NEW_PASSPHRASE: PASS } })).code, 0)
  const gpgId = (await slots(node)).find((s) => s.kind === 'gpg')!.id
  assert.equal((await run(['slot', 'rm', gpgId], { node })).code, 0)
  assert.equal(pointer(fs.readFileSync(node)), null)
  assert.deepEqual(
    (await slots(node)).map((s) => s.kind),
    ['passphrase'],
  )
  assert.throws(
    () => NodeFile.open(node, { gpg: { env: g.env } }),
    (e: { code?: string; message: string }) => e.code === 'WRONG_KEY' && /include no gpg key slot/.test(e.message),
  )
  assert.equal((await run(['secret', 'get', 'r/t'], { node })).out, 'through the agent')
})

test('several RSA gpg slots: each key opens the node alone (a slot whose key is missing is skipped)', async (t) => {
  const { node } = await newNode(t)
  assert.equal((await run(['slot', 'add', 'gpg', rsa4096.fpr], { node, env: rsa4096.env })).code, 0)
  assert.equal((await run(['slot', 'add', 'gpg', rsa3072.fpr], { node, env: rsa4096.env })).code, 0)
  const list = await slots(node)
  assert.deepEqual(
    list.map((s) => s.fingerprint ?? s.kind),
    ['passphrase', rsa4096.fpr, rsa3072.fpr],
  )
  for (const g of [rsa4096, rsa3072]) {
    const r = await run(['info', '--json'], { node, env: { ...g.env, ...NO_PASS } })
    assert.equal(r.code, 0, `${g.uid}: ${r.stderr}`)
  }
  // Neither key: exit 3, what gpg said for the first one tried.
  const stranger = gpgHome(t, { uid: 'Stranger <stranger@polykey.invalid>' })
  const r = await run(['info'], { node, env: { ...stranger.env, ...NO_PASS } })
  assert.equal(r.code, 3)
  assert.match(r.stderr, /^polykey: error: gpg could not decrypt the gpg key slot \([0-9A-F]{40}\) of .*: no secret key for [0-9A-F]{16} in this gpg keyring/)
  assert.match(r.stderr, /\npolykey: hint: this node also opens with --passphrase-file or \$POLYKEY_PASSPHRASE\n/)
})

test('existing nodes gain an RSA slot as they are: the frozen v1 and v2 files (copies) keep their format version', async (t) => {
  const dir = tmpdir(t)
  for (const [v, pass] of [
    ['v1', 'polykey-fixture-v1'],
    ['v2', 'polykey-fixture-v2'],
  ] as const) {
    const node = path.join(dir, `${v}.pk`)
    fs.copyFileSync(path.join(ROOT, 'test', 'fixtures', v, `node-${v}.pk`), node)
    const env = { ...rsa4096.env, POLYKEY_PASSPHRASE: pass }
    const before = fs.readFileSync(node)
    const add = await run(['slot', 'add', 'gpg', rsa4096.fpr], { node, env })
    assert.equal(add.code, 0, `${v}: ${add.stderr}`)
    const after = fs.readFileSync(node)
    assert.equal(after.readUInt16LE(8), v === 'v1' ? 1 : 2, `${v}: the format version is unchanged`)
    assert.ok(after.subarray(0, 64).equals(before.subarray(0, 64)), `${v}: the header is unchanged`)
    assert.ok(after.subarray(1088, before.length).equals(before.subarray(1088)), `${v}: the body is only appended to`)
    const r = await run(['secret', 'list', 'aws', '--json'], { node, env: { ...rsa4096.env, ...NO_PASS } })
    assert.equal(r.code, 0, `${v}: ${r.stderr}`)
    assert.ok(JSON.parse(r.out).length > 0)
    assert.equal((await run(['verify'], { node, env: { ...rsa4096.env, ...NO_PASS } })).code, 0, v)
  }
})

test('crash at any byte while an RSA-4096 slot is added: the old or the new set is in force, and opens', async (t) => {
  const g = rsa4096
  const { node } = await newNode(t)
  const dir = tmpdir(t)
  const pass: KeySource = { passphrase: Buffer.from(PASS) }
  const before = fs.readFileSync(node)
  const oldIds = ids(node)
  const nf = NodeFile.open(node, pass, { writable: true })
  const added = nf.addSlot((h, m) => makeGpgSlot(h, m, g.fpr, 1_700_000_000, g.env))
  nf.close()
  const after = fs.readFileSync(node)
  const newIds = [...oldIds, added.id]
  assert.deepEqual(ids(node), newIds)
  const file = path.join(dir, 'torn.pk')
  const states = [...tornStatesWithRecord(before, after)]
  let lastSet = ''
  let gpgOpens = 0
  for (let i = 0; i < states.length; i++) {
    fs.writeFileSync(file, states[i])
    const inForce = ids(file)
    assert.ok(
      [oldIds, newIds].some((s) => JSON.stringify(s) === JSON.stringify(inForce)),
      `state ${i}: ${inForce}`,
    )
    NodeFile.open(file, pass).close()
    // gpg itself (tens of ms with RSA-4096) where the set changes, and at every 64th state.
    const set = JSON.stringify(inForce)
    if (inForce.includes(added.id) && (set !== lastSet || i % 64 === 0 || i === states.length - 1)) {
      const nf = NodeFile.open(file, { gpg: { env: g.env } })
      assert.equal(nf.unlockedSlot, added.id, `state ${i}`)
      nf.close()
      gpgOpens++
    }
    lastSet = set
    if (i % 128 === 0) await collect()
  }
  assert.ok(gpgOpens >= 10, `${gpgOpens} states opened through gpg`)
})
