// slot add / slot rm rewrite only the key-slot areas, and a crash at any byte of that rewrite
// leaves the old or the new set of slots in force, every slot of it working (docs/FORMAT.md
// §Key-slot changes). Every torn state is built byte by byte and opened in-process.
import test from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { newNode, tmpdir, PASS } from '../helpers.js'
import { BODY_OFFSET, SLOT_AREA_SIZE, SLOT_AREAS_OFFSET, decodeSlotArea, encodeSlotArea } from '../../src/archive/codec.js'
import { NodeFile, type KeySource } from '../../src/archive/nodefile.js'
import { gpgSlotFromMessage, makeKeyFileSlot, makePassphraseSlot } from '../../src/archive/slots.js'
import { KDF_PROFILES, randomBytes } from '../../src/crypto/index.js'
import { put } from './util.js'
import v8 from 'node:v8'
import vm from 'node:vm'

// Every open takes locked memory (sodium_malloc) that is given back when its buffers are
// collected and finalized; thousands of opens in a synchronous loop outrun that and
// RLIMIT_MEMLOCK (8 MiB here).
v8.setFlagsFromString('--expose-gc')
const gc = vm.runInNewContext('gc') as () => void
/** Collect, and let the finalizers that free locked memory run (Node runs them on a later turn). */
async function collect(): Promise<void> {
  gc()
  await new Promise((r) => setImmediate(r))
}

function opens(file: string, key: KeySource): boolean {
  try {
    NodeFile.open(file, key).close()
    return true
  } catch (err) {
    assert.equal((err as { code?: string }).code, 'WRONG_KEY', (err as Error).message)
    return false
  }
}

function ids(file: string): string[] {
  return NodeFile.peekSlots(file).map((s) => s.id)
}

/** Every state a crash can leave between `before` and `after` (which differ in the slot areas only). */
function* tornStates(before: Buffer, after: Buffer): Generator<Buffer> {
  assert.ok(after.subarray(BODY_OFFSET).equals(before.subarray(BODY_OFFSET)), 'the body is untouched')
  const areaOf = (i: number) => [SLOT_AREAS_OFFSET + i * SLOT_AREA_SIZE, SLOT_AREAS_OFFSET + (i + 1) * SLOT_AREA_SIZE] as const
  const target = after.subarray(...areaOf(0)).every((x) => x === 0) ? 1 : 0
  const [t0] = areaOf(target)
  const [o0] = areaOf(1 - target)
  // 1. the new area written up to byte k (the old one whole)
  for (let k = 0; k <= SLOT_AREA_SIZE; k++) {
    const b = Buffer.from(before)
    after.copy(b, t0, t0, t0 + k)
    yield b
  }
  // 2. the new area whole, the old one wiped up to byte k
  for (let k = 1; k <= SLOT_AREA_SIZE; k++) {
    const b = Buffer.from(before)
    after.copy(b, t0, t0, t0 + SLOT_AREA_SIZE)
    b.fill(0, o0, o0 + k)
    yield b
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

// ------------------------------------------------------------------------------ slot records
const areaOf = (i: number) => [SLOT_AREAS_OFFSET + i * SLOT_AREA_SIZE, SLOT_AREAS_OFFSET + (i + 1) * SLOT_AREA_SIZE] as const
/** The pointer of the area in force, if any. */
function pointer(file: Buffer) {
  const areas = [0, 1].map((i) => decodeSlotArea(file.subarray(...areaOf(i))))
  const a = areas.filter((x) => !!x).sort((x, y) => y!.generation - x!.generation)[0]!
  return a.record ?? null
}

/**
 * Every state a crash can leave when a slot change appends a slot record and then rewrites the
 * areas: the record's save written up to each byte (or the file grown with zeros where it was
 * not written yet), then each byte of the new area, then each byte of the old area wiped.
 */
function* tornStatesWithRecord(before: Buffer, after: Buffer): Generator<Buffer> {
  assert.ok(after.length > before.length, 'a record was appended')
  assert.ok(after.subarray(BODY_OFFSET, before.length).equals(before.subarray(BODY_OFFSET)), 'the body before it is untouched')
  const appended = after.subarray(before.length)
  for (let k = 0; k < appended.length; k++) {
    yield Buffer.concat([before, appended.subarray(0, k)])
    // (Zeros over only part of the trailer's last 16 bytes are damage for every save, exit 4:
    // docs/FORMAT.md §Recovery, test/archive/truncation.test.ts.)
    if (k <= appended.length - 16) yield Buffer.concat([before, appended.subarray(0, k), Buffer.alloc(appended.length - k)])
  }
  const full = Buffer.concat([before.subarray(0, BODY_OFFSET), after.subarray(BODY_OFFSET)])
  yield* tornStates(full, after)
}

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
