// slot add / slot rm rewrite only the key-slot areas, and a crash at any byte of that rewrite
// leaves the old or the new set of slots in force, every slot of it working (docs/FORMAT.md
// §Key-slot changes). Every torn state is built byte by byte and opened in-process.
import test from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { newNode, tmpdir, PASS } from '../helpers.js'
import { BODY_OFFSET, SLOT_AREA_SIZE, decodeSlotArea, encodeSlotArea } from '../../src/archive/codec.js'
import { NodeFile, type KeySource } from '../../src/archive/nodefile.js'
import { gpgSlotFromMessage, makeKeyFileSlot, makePassphraseSlot } from '../../src/archive/slots.js'
import { KDF_PROFILES, randomBytes } from '../../src/crypto/index.js'
import { put } from './util.js'
import { areaOf, collect, ids, pointer, tornStates, tornStatesWithRecord } from './torn-slots.js'

function opens(file: string, key: KeySource): boolean {
  try {
    NodeFile.open(file, key).close()
    return true
  } catch (err) {
    assert.equal((err as { code?: string }).code, 'WRONG_KEY', (err as Error).message)
    return false
  }
}

test('slot add and slot rm: a crash at any byte leaves the old or the new slot set, and it works', async (t) => {
  const { node } = await newNode(t)
  const dir = tmpdir(t)
  const key = randomBytes(32)
  const pass: KeySource = { passphrase: Buffer.from(PASS) }
  const before = fs.readFileSync(node)
  const oldIds = ids(node)
  const nf = NodeFile.open(node, pass, { writable: true })
  const added = nf.addSlot((h, m) => makeKeyFileSlot(h, m, key, 'k', 1_700_000_000))
  nf.close()
  const withKey = fs.readFileSync(node)
  const newIds = ids(node)
  assert.deepEqual(newIds, [...oldIds, added.id])
  const nf2 = NodeFile.open(node, { keyFile: key }, { writable: true })
  nf2.removeSlot(oldIds[0])
  nf2.close()
  const keyOnly = fs.readFileSync(node)
  const file = path.join(dir, 'torn.pk')
  let states = 0
  for (const [from, to, sets] of [
    [before, withKey, [oldIds, newIds]],
    [withKey, keyOnly, [newIds, [added.id]]],
  ] as const) {
    for (const state of tornStates(from, to)) {
      fs.writeFileSync(file, state)
      const inForce = ids(file)
      assert.ok(
        sets.some((s) => JSON.stringify(s) === JSON.stringify(inForce)),
        `state ${states}: ${inForce}`,
      )
      // Every slot in force opens the node.
      if (inForce.includes(oldIds[0])) assert.ok(opens(file, pass), `state ${states}: the passphrase`)
      if (inForce.includes(added.id)) assert.ok(opens(file, { keyFile: key }), `state ${states}: the key file`)
      states++
    }
  }
  assert.equal(states, 2 * (2 * SLOT_AREA_SIZE + 1))
})

test('slots that do not fit the area go to a slot record: a crash at any byte of adding or removing one leaves the old or the new set, every slot working', async (t) => {
  const { node } = await newNode(t)
  const dir = tmpdir(t)
  const key = randomBytes(32)
  const pass: KeySource = { passphrase: Buffer.from(PASS) }
  // Four passphrase slots fill the area (they never go to a record): a key-file slot does not fit beside them.
  const nf = NodeFile.open(node, pass, { writable: true })
  for (const p of ['two', 'three', 'four']) nf.addSlot((h, m) => makePassphraseSlot(h, m, Buffer.from(p), KDF_PROFILES.test))
  nf.close()
  const before = fs.readFileSync(node)
  assert.equal(pointer(before), null, 'four passphrase slots fit the area')
  const oldIds = ids(node)
  const nf2 = NodeFile.open(node, pass, { writable: true })
  const added = nf2.addSlot((h, m) => makeKeyFileSlot(h, m, key, 'in-the-record', 1_700_000_000))
  nf2.close()
  const withKey = fs.readFileSync(node)
  const newIds = ids(node)
  assert.deepEqual(newIds, [...oldIds, added.id])
  const p = pointer(withKey)!
  assert.ok(p, 'the key-file slot went to a record')
  assert.ok(p.offset >= before.length && p.offset + p.length <= withKey.length, 'the record was appended')
  assert.ok(opens(node, { keyFile: key }))
  // Removing it: the set fits the area again, nothing is appended.
  const nf3 = NodeFile.open(node, pass, { writable: true })
  nf3.removeSlot(added.id)
  nf3.close()
  const removed = fs.readFileSync(node)
  assert.equal(pointer(removed), null)
  assert.equal(removed.length, withKey.length)
  const file = path.join(dir, 'torn.pk')
  let states = 0
  for (const [gen, sets] of [
    [tornStatesWithRecord(before, withKey), [oldIds, newIds]],
    [tornStates(withKey, removed), [newIds, oldIds]],
  ] as const) {
    for (const state of gen) {
      fs.writeFileSync(file, state)
      const inForce = ids(file)
      assert.ok(
        sets.some((s) => JSON.stringify(s) === JSON.stringify(inForce)),
        `state ${states}: ${inForce}`,
      )
      assert.ok(opens(file, pass), `state ${states}: the passphrase`)
      // (Between writing the new area and wiping the old one both sets open: docs/FORMAT.md.)
      if (inForce.includes(added.id)) assert.ok(opens(file, { keyFile: key }), `state ${states}: the key file, from the record`)
      if (++states % 128 === 0) await collect()
    }
  }
  assert.ok(states > 4 * SLOT_AREA_SIZE)
})

test('an unchanged record is pointed to again, not rewritten; compaction moves it', async (t) => {
  const { node } = await newNode(t)
  const key = randomBytes(32)
  const pass: KeySource = { passphrase: Buffer.from(PASS) }
  const nf = NodeFile.open(node, pass, { writable: true })
  // A gpg slot of an RSA-4096 size (its message is a stand-in: only its size matters here).
  const big = nf.addSlot((h, m) => gpgSlotFromMessage(h, m, Buffer.alloc(20, 1), 1_700_000_000, Buffer.alloc(610, 2)))
  const size = fs.statSync(node).size
  const p = pointer(fs.readFileSync(node))!
  assert.ok(p)
  // A key file fits the area beside the pointer: the record stays as it is.
  const kf = nf.addSlot((h, m) => makeKeyFileSlot(h, m, key, 'k', 1_700_000_000))
  assert.equal(fs.statSync(node).size, size, 'nothing appended')
  assert.deepEqual(pointer(fs.readFileSync(node)), p)
  nf.changePassphrase(Buffer.from('changed'), KDF_PROFILES.test)
  assert.equal(fs.statSync(node).size, size, 'a passphrase change keeps the record')
  const list = nf.slots().map((s) => s.id)
  assert.deepEqual(list.slice(1), [kf.id, big.id])
  // Enough dead bytes to compact: the record goes first in the new segment.
  for (let i = 0; i < 3; i++) nf.commit([put('repos/r/big', Buffer.alloc(1 << 20, i))])
  nf.close()
  const after = fs.readFileSync(node)
  assert.ok(after.length < 3 << 20, 'compacted')
  const moved = pointer(after)!
  assert.equal(moved.offset, BODY_OFFSET + 32)
  assert.ok(moved.hash.equals(p.hash))
  assert.ok(after.subarray(...areaOf(1)).every((x) => x === 0) || after.subarray(...areaOf(0)).every((x) => x === 0), 'one area in force, the other empty')
  assert.deepEqual(ids(node), list)
  assert.ok(opens(node, { keyFile: key }))
  assert.ok(opens(node, { passphrase: Buffer.from('changed') }))
  const v = NodeFile.open(node, { keyFile: key })
  v.verifySlots()
  assert.equal(v.verifyHistory(), 1)
  v.close()
})

test('slot records have bounds: 64 KiB, and a gpg message a slot can hold', async (t) => {
  const { node } = await newNode(t)
  const nf = NodeFile.open(node, { passphrase: Buffer.from(PASS) }, { writable: true })
  t.after(() => nf.close())
  nf.addSlot((h, m) => gpgSlotFromMessage(h, m, Buffer.alloc(20, 1), 1_700_000_000, Buffer.alloc(60_000, 2)))
  const before = fs.readFileSync(node)
  assert.throws(
    () => nf.addSlot((h, m) => gpgSlotFromMessage(h, m, Buffer.alloc(20, 3), 1_700_000_000, Buffer.alloc(6_000, 4))),
    (e: { code?: string; message: string }) => e.code === 'REFUSED' && /^no room for these key slots: a slot record holds at most 65536 bytes/.test(e.message),
  )
  assert.throws(
    () => nf.addSlot((h, m) => gpgSlotFromMessage(h, m, Buffer.alloc(20, 3), 1_700_000_000, Buffer.alloc(70_000, 4))),
    (e: { code?: string; message: string }) => e.code === 'REFUSED' && /gpg message of 70000 bytes/.test(e.message),
  )
  assert.ok(fs.readFileSync(node).equals(before), 'nothing written')
})

test("a damaged slot record: the area's own slots still open, its slots are said to be missing, slot changes and verify refuse (exit 4)", async (t) => {
  const { node } = await newNode(t)
  const key = randomBytes(32)
  const nf = NodeFile.open(node, { passphrase: Buffer.from(PASS) }, { writable: true })
  for (const p of ['two', 'three', 'four']) nf.addSlot((h, m) => makePassphraseSlot(h, m, Buffer.from(p), KDF_PROFILES.test))
  nf.addSlot((h, m) => makeKeyFileSlot(h, m, key, 'k', 1_700_000_000))
  nf.close()
  const good = fs.readFileSync(node)
  const p = pointer(good)!
  const dir = tmpdir(t)
  const damaged = path.join(dir, 'damaged.pk')
  const b = Buffer.from(good)
  b[p.offset + p.length - 1] ^= 1
  fs.writeFileSync(damaged, b)
  const warned: string[] = []
  assert.equal(NodeFile.peekSlots(damaged, (m) => warned.push(m)).length, 4)
  assert.match(warned[0], /^key slot record at offset \d+ does not match its hash .*: the key slots it held are missing from this list$/)
  assert.ok(opens(damaged, { passphrase: Buffer.from(PASS) }))
  assert.throws(
    () => NodeFile.open(damaged, { keyFile: key }),
    (e: { code?: string; message: string }) => e.code === 'CORRUPT' && /does not match its hash .*: the key slots it holds cannot be tried$/.test(e.message),
  )
  const w = NodeFile.open(damaged, { passphrase: Buffer.from(PASS) }, { writable: true })
  assert.throws(() => w.verifySlots(), /does not match its hash/)
  assert.throws(
    () => w.addSlot((h, m) => makeKeyFileSlot(h, m, randomBytes(32), 'x', 1)),
    (e: { code?: string }) => e.code === 'CORRUPT',
  )
  w.close()
  // Cut off (an older polykey's compaction, or a rolled-back body under a newer head): the same.
  fs.writeFileSync(damaged, good.subarray(0, p.offset))
  assert.ok(opens(damaged, { passphrase: Buffer.from(PASS) }), 'the save before the record is the last complete state')
  assert.throws(() => NodeFile.open(damaged, { keyFile: key }), /outside the file/)
  // A record of another node (same offset, its own file id) is not this node's.
  const other = await newNode(t)
  const o = NodeFile.open(other.node, { passphrase: Buffer.from(PASS) }, { writable: true })
  for (const x of ['two', 'three', 'four']) o.addSlot((h, m) => makePassphraseSlot(h, m, Buffer.from(x), KDF_PROFILES.test))
  o.addSlot((h, m) => makeKeyFileSlot(h, m, key, 'k', 1_700_000_000))
  o.close()
  const ob = fs.readFileSync(other.node)
  const op = pointer(ob)!
  const planted = Buffer.from(good)
  ob.copy(planted, p.offset, op.offset, op.offset + op.length)
  // The attacker fixes the pointer's hash and the area's checksum (both unkeyed).
  for (const i of [0, 1]) {
    const a = decodeSlotArea(planted.subarray(...areaOf(i)))
    if (a?.record) encodeSlotArea({ ...a, record: { ...a.record, hash: op.hash, length: op.length } }).copy(planted, areaOf(i)[0])
  }
  fs.writeFileSync(damaged, planted)
  assert.throws(() => NodeFile.open(damaged, { keyFile: key }), /belongs to another node/)
})
