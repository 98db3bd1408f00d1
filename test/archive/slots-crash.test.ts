// slot add / slot rm rewrite only the key-slot areas, and a crash at any byte of that rewrite
// leaves the old or the new set of slots in force, every slot of it working (docs/FORMAT.md
// §Key-slot changes). Every torn state is built byte by byte and opened in-process.
import test from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { newNode, tmpdir, PASS } from '../helpers.js'
import { BODY_OFFSET, SLOT_AREA_SIZE, SLOT_AREAS_OFFSET } from '../../src/archive/codec.js'
import { NodeFile, type KeySource } from '../../src/archive/nodefile.js'
import { gpgSlotFromMessage, makeKeyFileSlot } from '../../src/archive/slots.js'
import { randomBytes } from '../../src/crypto/index.js'

function opens(file: string, key: KeySource): boolean {
  try {
    NodeFile.open(file, key).close()
    return true
  } catch (err) {
    assert.equal((err as { code?: string }).code, 'WRONG_KEY')
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

test('a slot that does not fit the area is refused before anything is written', async (t) => {
  const { node } = await newNode(t)
  const before = fs.readFileSync(node)
  const nf = NodeFile.open(node, { passphrase: Buffer.from(PASS) }, { writable: true })
  t.after(() => nf.close())
  // An RSA-4096 recipient's OpenPGP message is ~550 bytes: more than the whole area.
  assert.throws(
    () => nf.addSlot((h, m) => gpgSlotFromMessage(h, m, Buffer.alloc(20, 1), 1_700_000_000, Buffer.alloc(550, 2))),
    (e: { code?: string; message: string }) => e.code === 'REFUSED' && /^no room for this key slot/.test(e.message),
  )
  assert.ok(fs.readFileSync(node).equals(before))
})
