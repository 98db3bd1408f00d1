// Attacks on slot records (docs/FORMAT.md §Slot records), the key slots that do not fit a slot
// area (RSA gpg keys) and live in the body, found through an unkeyed pointer:
// 1. The record rewritten by someone holding the file — a gpg slot's message swapped for
//    another one to the same public key, the pointer's hash and the area's checksum fixed (both
//    unkeyed): gpg decrypts it, but it is not the node's key. Refused (exit 3), never used.
// 2. Splices of two diverged copies that each wrote a record: the record's save is a save like
//    any other, linked into the trailer chain, so every splice at a boundary both copies share
//    is corruption (exit 4), as test/security/splice.test.ts shows for ordinary saves.
import test from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { execFileSync } from 'node:child_process'
import { PASS, newNode, run, tmpdir } from '../helpers.js'
import { gpgHome } from '../gpg/gpg-helpers.js'
import { BODY_OFFSET, SLOT_AREA_SIZE, SLOT_AREAS_OFFSET, decodeSlotArea, decodeSlotRecord, encodeSlotArea, encodeSlotRecord, slotRecordPointer } from '../../src/archive/codec.js'
import { NodeFile } from '../../src/archive/nodefile.js'
import { gpgSlotFromMessage, makePassphraseSlot } from '../../src/archive/slots.js'
import { KDF_PROFILES } from '../../src/crypto/index.js'
import { cleanStderr, cli, layout, put } from '../archive/util.js'
import { pointer } from '../archive/torn-slots.js'

/** Three more passphrase slots: the area is nearly full, so a gpg slot (even an ECC one) goes to a record. */
function fillArea(node: string): void {
  const nf = NodeFile.open(node, { passphrase: Buffer.from(PASS) }, { writable: true })
  for (const p of ['two', 'three', 'four']) nf.addSlot((h, m) => makePassphraseSlot(h, m, Buffer.from(p), KDF_PROFILES.test))
  nf.close()
}

test('a gpg message swapped inside a slot record is refused, not used', async (t) => {
  const g = gpgHome(t)
  const { node } = await newNode(t)
  fillArea(node)
  assert.equal((await run(['slot', 'add', 'gpg', g.fpr], { node, env: g.env })).code, 0)
  const b = fs.readFileSync(node)
  const p = pointer(b)!
  assert.ok(p, 'the gpg slot is in the record')
  const fileId = b.subarray(16, 32)
  const slots = decodeSlotRecord(b.subarray(p.offset, p.offset + p.length), fileId)
  const other = execFileSync('gpg', ['--batch', '--trust-model', 'always', '-z', '0', '-e', '-r', g.fpr], { env: g.env, input: Buffer.alloc(32, 0x41) })
  const forged = encodeSlotRecord(
    fileId,
    slots.map((s) => (s.type === 'gpg' ? { ...s, message: other } : s)),
  )
  // Appended by the attacker, and pointed to.
  const out = Buffer.concat([b, forged])
  for (const i of [0, 1]) {
    const off = SLOT_AREAS_OFFSET + i * SLOT_AREA_SIZE
    const a = decodeSlotArea(out.subarray(off, off + SLOT_AREA_SIZE))
    if (a?.record) encodeSlotArea({ ...a, record: slotRecordPointer(b.length, forged) }).copy(out, off)
  }
  fs.writeFileSync(node, out)
  const r = await run(['info'], { node, env: { ...g.env, POLYKEY_PASSPHRASE: undefined } })
  assert.equal(r.code, 3)
  assert.match(r.stderr, /^polykey: error: the gpg key slot decrypted to something other than the key of \/.*node\.pk \(a damaged or substituted slot\)/)
  // (The appended bytes are an interrupted save's tail to the body: it still opens, and the next save cuts them.)
  assert.equal((await run(['info'], { node })).code, 0)
})

test('splices of two diverged copies that each wrote a slot record are corruption (exit 4)', async (t) => {
  const dir = tmpdir(t)
  const { node: base } = await newNode(t)
  assert.equal((await cli(['repo', 'create', 'r'], { node: base })).code, 0)
  const copies = ['a', 'b'].map((name, k) => {
    const f = path.join(dir, `${name}.pk`)
    fs.copyFileSync(base, f)
    const nf = NodeFile.open(f, { passphrase: Buffer.from(PASS) }, { writable: true })
    nf.commit([put('repos/r/before', `${name}-before`)])
    // The same shapes in both copies (a gpg slot of an RSA-4096 size; stand-in messages), so that
    // their segment boundaries line up, as the attack needs.
    nf.addSlot((h, m) => gpgSlotFromMessage(h, m, Buffer.alloc(20, 1), 1_700_000_000, Buffer.alloc(610, k)))
    for (const x of ['x', 'y', 'z']) nf.commit([put(`repos/r/${x}`, `${name}-${x}`)])
    nf.close()
    return f
  })
  const [A, B] = copies.map((f) => fs.readFileSync(f))
  let differ = BODY_OFFSET
  while (differ < A.length && A[differ] === B[differ]) differ++
  const endsA = new Set(layout(copies[0]).segments.map((s) => s.end))
  const recordEnd = layout(copies[1]).segments.find((s) => s.start <= pointer(B)!.offset && pointer(B)!.offset < s.end)!.end
  const cuts = layout(copies[1])
    .segments.map((s) => s.end)
    .filter((n) => n > differ && endsA.has(n) && n < A.length)
  assert.ok(cuts.includes(recordEnd), "a cut right after B's slot record")
  for (const n of cuts) {
    const spliced = path.join(dir, `spliced-${n}.pk`)
    fs.writeFileSync(spliced, Buffer.concat([B.subarray(0, n), A.subarray(n)]), { mode: 0o600 })
    const verify = await cli(['verify'], { node: spliced })
    assert.equal(verify.code, 4, `the splice at ${n} was accepted: ${verify.out}${verify.stderr}`)
    assert.ok(cleanStderr(verify.stderr), verify.stderr)
    assert.match(verify.stderr, /^polykey: error: node file trailer chain is broken/m)
  }
  for (const f of copies) assert.equal((await cli(['verify'], { node: f })).code, 0)
})
