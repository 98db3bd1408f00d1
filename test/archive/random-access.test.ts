// Random access: reading one member reads and decrypts that member's chunks only — the rest of
// the node (even damaged) is never touched.
import test, { mock } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { PASS, tmpdir } from '../helpers.js'
import { NodeFile, type Change } from '../../src/archive/nodefile.js'
import { CHUNK_OVERHEAD, CHUNK_SIZE, storedSize } from '../../src/archive/codec.js'
import { buildNode, cli, copyWith, put } from './util.js'

test('secret get of one secret works when another member is damaged', async (t) => {
  const dir = tmpdir(t)
  const node = path.join(dir, 'node.pk')
  assert.equal((await cli(['init', '--kdf', 'test'], { node })).code, 0)
  assert.equal((await cli(['repo', 'create', 'r'], { node })).code, 0)
  assert.equal((await cli(['secret', 'put', 'r/first'], { node, input: 'first-value' })).code, 0)
  assert.equal((await cli(['secret', 'put', 'r/second'], { node, input: 'S'.repeat(5000) })).code, 0)
  // Find the second secret's chunks and damage them.
  const nf = NodeFile.open(node, { passphrase: Buffer.from(PASS) })
  const second = nf.get('repos/r/second')!
  nf.close()
  const file = copyWith(node, path.join(dir, 'damaged.pk'), (b) => ((b[second.offset + 100] ^= 0xff), b))
  const first = await cli(['secret', 'get', 'r/first'], { node: file })
  assert.equal(first.code, 0, first.stderr)
  assert.equal(first.out, 'first-value')
  const bad = await cli(['secret', 'get', 'r/second'], { node: file })
  assert.equal(bad.code, 4)
  assert.match(bad.stderr, /^polykey: error: member 'repos\/r\/second' failed authentication \(chunk 0\)\n$/)
})

test('a node of 5,000 members: reading one member is one read of its own stored bytes', (t) => {
  const dir = tmpdir(t)
  const file = path.join(dir, 'big.pk')
  const members: Change[] = []
  for (let i = 0; i < 5000; i++) members.push(put(`repos/r/s${i}`, `value-${i}-${'v'.repeat(i % 97)}`))
  members.push(put('repos/r/large', Buffer.alloc(5 * CHUNK_SIZE + 123, 0x5a)))
  buildNode(file, [members, [put('repos/r/s17', 'edited')]])
  const nf = NodeFile.open(file, { passphrase: Buffer.from(PASS) })
  t.after(() => nf.close())
  const reads: { pos: number; len: number }[] = []
  const realRead = fs.readSync
  mock.method(fs, 'readSync', (fd: number, buf: Buffer, off: number, len: number, pos: number) => {
    reads.push({ pos, len })
    return (realRead as any)(fd, buf, off, len, pos)
  })
  try {
    const e = nf.get('repos/r/s4321')!
    assert.equal(nf.read('repos/r/s4321').toString(), `value-4321-${'v'.repeat(4321 % 97)}`)
    assert.deepEqual(reads, [{ pos: e.offset, len: storedSize(e.size) }])
    reads.length = 0
    assert.equal(nf.read('repos/r/s17').toString(), 'edited')
    assert.equal(reads.length, 1)
    // A range inside the large member reads only the chunks that hold it (here: chunks 2 and 3).
    reads.length = 0
    const large = nf.get('repos/r/large')!
    const part = nf.readRange(large, 3 * CHUNK_SIZE - 10, 20)
    assert.ok(part.equals(Buffer.alloc(20, 0x5a)))
    assert.equal(reads.length, 1)
    assert.equal(reads[0].pos, large.offset + 2 * (CHUNK_SIZE + CHUNK_OVERHEAD))
    assert.equal(reads[0].len, 2 * (CHUNK_SIZE + CHUNK_OVERHEAD))
    // The last, short chunk.
    reads.length = 0
    assert.ok(nf.readRange(large, large.size - 5, 100).equals(Buffer.alloc(5, 0x5a)))
    assert.equal(reads[0].len, 123 + CHUNK_OVERHEAD)
  } finally {
    mock.restoreAll()
  }
})
