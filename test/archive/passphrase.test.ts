// Changing the passphrase rewrites a key-slot area only — never the body — and a crash at any
// point of the change leaves the old or the new passphrase working (docs/FORMAT.md §Key slots).
import test, { mock } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { run, tmpdir, PASS } from '../helpers.js'
import { BODY_OFFSET, HEADER_SIZE, SLOT_AREA_SIZE, decodeSlotArea, type PassphraseSlot } from '../../src/archive/codec.js'
import { NodeFile } from '../../src/archive/nodefile.js'
import { cliNodeCopy, cli, copyWith, TEST_KDF } from './util.js'

const NEW = 'a brand new passphrase'
const A = [HEADER_SIZE, HEADER_SIZE + SLOT_AREA_SIZE] as const
const B = [HEADER_SIZE + SLOT_AREA_SIZE, BODY_OFFSET] as const

async function works(node: string, pass: string): Promise<number> {
  // export tar, not secret get: a get is recorded in the node's read audit (a save), and this
  // test checks that the body is byte for byte untouched.
  const r = await cli(['export', 'tar'], { node, pass })
  if (r.code === 0) assert.ok(r.stdout.includes('AKIAFAKEFAKEFAKE0001'))
  return r.code
}

test('passphrase change: the old one stops working, the new one works, the body is untouched', async (t) => {
  const dir = tmpdir(t)
  const { node } = await cliNodeCopy(dir)
  const before = fs.readFileSync(node)
  const newFile = path.join(dir, 'new-pass')
  fs.writeFileSync(newFile, NEW + '\n')
  const r = await run(['passphrase', 'change', '--new-passphrase-file', newFile], { node })
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.out, 'passphrase changed\n')
  const after = fs.readFileSync(node)
  assert.equal(after.length, before.length)
  assert.ok(after.subarray(BODY_OFFSET).equals(before.subarray(BODY_OFFSET)), 'every byte after offset 1088 is unchanged')
  assert.ok(after.subarray(0, HEADER_SIZE).equals(before.subarray(0, HEADER_SIZE)), 'the header is unchanged')
  // The new slot went to the unused area (B, generation 2); the old area (A) is wiped.
  assert.ok(after.subarray(...A).every((x) => x === 0))
  const area = decodeSlotArea(after.subarray(...B))!
  assert.equal(area.generation, 2)
  assert.deepEqual((area.slots[0] as PassphraseSlot).params, TEST_KDF, 'the Argon2id profile is kept')
  assert.equal(await works(node, PASS), 3)
  assert.equal(await works(node, NEW), 0)
  const old = await run(['info'], { node })
  assert.equal(old.code, 3)
  // And back again: area A, generation 3.
  const again = await cli(['passphrase', 'change'], { node, pass: NEW, env: { POLYKEY_NEW_PASSPHRASE: PASS } })
  assert.equal(again.code, 0, again.stderr)
  const third = fs.readFileSync(node)
  assert.equal(decodeSlotArea(third.subarray(...A))!.generation, 3)
  assert.ok(third.subarray(...B).every((x) => x === 0))
  assert.ok(third.subarray(BODY_OFFSET).equals(before.subarray(BODY_OFFSET)))
  assert.equal(await works(node, PASS), 0)
  assert.equal(await works(node, NEW), 3)
})

test('a crash during the change leaves the old or the new passphrase working (file states)', async (t) => {
  const dir = tmpdir(t)
  const { node } = await cliNodeCopy(dir)
  const old = fs.readFileSync(node)
  assert.equal((await cli(['passphrase', 'change'], { node, env: { POLYKEY_NEW_PASSPHRASE: NEW } })).code, 0)
  const neu = fs.readFileSync(node)
  const file = path.join(dir, 'crashed.pk')
  const state = (edit: (b: Buffer) => void) =>
    copyWith(node, file, () => {
      const b = Buffer.from(old)
      edit(b)
      return b
    })
  // 1. The new area is written (and synced), the old not yet wiped: both work.
  state((b) => neu.copy(b, B[0], B[0], B[1]))
  assert.equal(await works(file, PASS), 0)
  assert.equal(await works(file, NEW), 0)
  // 2. The new area is torn (half written): the old works; the new one is simply not there yet.
  state((b) => neu.copy(b, B[0], B[0], B[0] + 200))
  assert.equal(await works(file, PASS), 0)
  assert.equal(await works(file, NEW), 3)
  // 3. The wipe of the old area is torn: the new works; what is left of the old is ignored.
  state((b) => {
    neu.copy(b, B[0], B[0], B[1])
    b.fill(0, A[0], A[0] + 300)
  })
  assert.equal(await works(file, PASS), 3)
  assert.equal(await works(file, NEW), 0)
  // 4. Done.
  state((b) => neu.copy(b, A[0], A[0], B[1]))
  assert.equal(await works(file, NEW), 0)
})

test('the real changePassphrase writes and syncs the new area before it wipes the old one', async (t) => {
  const dir = tmpdir(t)
  const { node } = await cliNodeCopy(dir)
  const nf = NodeFile.open(node, { passphrase: Buffer.from(PASS) }, { writable: true })
  t.after(() => nf.close())
  const order: string[] = []
  const realWrite = fs.writeSync
  mock.method(fs, 'fsyncSync', () => order.push('fsync'))
  mock.method(fs, 'writeSync', (fd: number, buf: Buffer, off: number, len: number, pos: number) => {
    const wipe = buf.subarray(off, off + len).every((x) => x === 0)
    order.push(`${wipe ? 'wipe' : 'write'} ${pos}`)
    if (wipe) throw Object.assign(new Error('simulated crash'), { code: 'EIO' })
    return realWrite(fd, buf, off, len, pos)
  })
  try {
    assert.throws(() => nf.changePassphrase(Buffer.from(NEW), TEST_KDF), /simulated crash/)
  } finally {
    mock.restoreAll()
  }
  assert.deepEqual(order, [`write ${B[0]}`, 'fsync', `wipe ${A[0]}`])
  assert.equal(await works(node, PASS), 0)
  assert.equal(await works(node, NEW), 0)
})
