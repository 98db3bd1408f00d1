// The index is decoded on demand (src/archive/lazy-index.ts): lookups before, during and after
// decoding, with delta blocks and changes on top, give exactly what an eagerly built Map gives.
import test from 'node:test'
import assert from 'node:assert/strict'
import path from 'node:path'
import { NodeFile, type Change } from '../../src/archive/nodefile.js'
import { type Entry, encodeIndex, findInIndex } from '../../src/archive/codec.js'
import { LazyIndex } from '../../src/archive/lazy-index.js'
import { KDF_PROFILES } from '../../src/crypto/index.js'
import { PolykeyError } from '../../src/errors.js'
import { tmpdir } from '../helpers.js'

const pass = Buffer.from('p')
const file = (p: string, data: string): Change => ({ op: 'put', path: p, type: 'file', data: Buffer.from(data) })
/** Whether the node's full index block is still undecoded (white-box: the point of the class). */
const lazy = (nf: NodeFile) => (nf as any).index instanceof LazyIndex && (nf as any).index.full !== null
const snapshot = (nf: NodeFile) => new Map([...nf.entries()].map((e) => [e.path, { ...e }]))

test('findInIndex: finds an entry by its bytes, the last operation wins, damage is CORRUPT', () => {
  const e = (p: string, type: Entry['type'] = 'file'): Entry => ({
    path: p,
    type,
    mode: 0o600,
    mtime: 1,
    size: type === 'file' ? 3 : 0,
    offset: type === 'file' ? 2000 : 0,
    blobId: type === 'file' ? Buffer.alloc(16, 7) : null,
    target: type === 'link' ? 'repos/r/a' : '',
  })
  const block = encodeIndex('delta', [
    { op: 'put', entry: e('repos/r/a') },
    { op: 'put', entry: e('repos/r', 'dir') },
    { op: 'put', entry: e('tags/t/a', 'link') },
    { op: 'put', entry: e('repos/r/b') },
    { op: 'delete', path: 'repos/r/b' },
    { op: 'put', entry: e('repos/r/é') },
  ])
  assert.deepEqual(findInIndex(block, Buffer.from('repos/r/a')), e('repos/r/a'))
  assert.deepEqual(findInIndex(block, Buffer.from('tags/t/a')), e('tags/t/a', 'link'))
  assert.deepEqual(findInIndex(block, Buffer.from('repos/r')), e('repos/r', 'dir'))
  assert.deepEqual(findInIndex(block, Buffer.from('repos/r/é')), e('repos/r/é'))
  assert.equal(findInIndex(block, Buffer.from('repos/r/b')), null, 'deleted')
  assert.equal(findInIndex(block, Buffer.from('repos/r/c')), undefined)
  assert.equal(findInIndex(block, Buffer.from('repos/r/')), undefined)
  const corrupt = (err: unknown) => err instanceof PolykeyError && err.code === 'CORRUPT'
  assert.throws(() => findInIndex(block.subarray(0, block.length - 5), Buffer.from('repos/r/zz')), corrupt)
  assert.throws(() => findInIndex(Buffer.concat([block, Buffer.from([0])]), Buffer.from('repos/r/zz')), corrupt)
  assert.throws(() => findInIndex(Buffer.alloc(4), Buffer.from('x')), corrupt)
})

test('a reopened node answers lookups lazily and iterates exactly like the eager index', (t) => {
  const dir = tmpdir(t)
  const p = path.join(dir, 'n.pk')
  const initial: Change[] = [{ op: 'put', path: 'repos', type: 'dir' }]
  for (let i = 0; i < 300; i++) initial.push(file(`repos/s${i}`, `v${i}`))
  NodeFile.create(p, pass, KDF_PROFILES.test, initial).close()
  // a few small saves: delta blocks after the full one (puts, an overwrite, deletes, a link)
  let nf = NodeFile.open(p, { passphrase: pass }, { writable: true })
  nf.commit([file('repos/new', 'n'), file('repos/s1', 'changed'), { op: 'delete', path: 'repos/s2' }])
  nf.commit([
    { op: 'put', path: 'tags', type: 'dir' },
    { op: 'put', path: 'tags/t', type: 'dir' },
    { op: 'put', path: 'tags/t/s3', type: 'link', target: 'repos/s3' },
    { op: 'delete', path: 'repos/s4' },
  ])
  const expected = snapshot(nf)
  nf.close()

  // lookups only: never decoded whole
  nf = NodeFile.open(p, { passphrase: pass })
  assert.equal(nf.memberCount, expected.size)
  assert.equal(nf.read('repos/s1').toString(), 'changed')
  assert.equal(nf.read('repos/s7').toString(), 'v7')
  assert.equal(nf.read('tags/t/s3').toString(), 'v3', 'a hardlink is followed')
  assert.equal(nf.read('repos/new').toString(), 'n')
  assert.equal(nf.has('repos/s2'), false)
  assert.equal(nf.has('repos/s4'), false)
  assert.equal(nf.has('repos/nope'), false)
  assert.deepEqual(nf.get('repos/s9'), expected.get('repos/s9'))
  assert.ok(lazy(nf), 'a few lookups do not decode the index')
  assert.deepEqual(snapshot(nf), expected, 'iterating decodes the rest')
  assert.ok(!lazy(nf))
  nf.close()

  // many lookups: past the scan budget it decodes whole, answers stay the same
  nf = NodeFile.open(p, { passphrase: pass })
  for (let i = 0; i < 300; i++) assert.deepEqual(nf.get(`repos/s${i}`), expected.get(`repos/s${i}`), `s${i}`)
  assert.ok(!lazy(nf), 'decoded once lookups add up')
  assert.deepEqual(snapshot(nf), expected)
  nf.close()

  // saving while lazy: the count and the next open agree with an eager replay
  nf = NodeFile.open(p, { passphrase: pass }, { writable: true })
  nf.commit([file('repos/s5', 'again'), file('repos/later', 'l'), { op: 'delete', path: 'repos/s6' }, { op: 'delete', path: 'repos/never-there' }])
  expected.delete('repos/s6')
  assert.equal(nf.memberCount, expected.size + 1)
  nf.commit([{ op: 'delete', path: 'repos/later' }])
  assert.equal(nf.memberCount, expected.size)
  assert.equal(nf.read('repos/s5').toString(), 'again')
  const after = snapshot(nf)
  nf.close()
  nf = NodeFile.open(p, { passphrase: pass })
  assert.deepEqual(snapshot(nf), after)
  assert.equal(nf.read('repos/s5').toString(), 'again')
  nf.close()
})

test('LazyIndex: a count that does not match its trailer is CORRUPT when decoded, a bad kind at once', () => {
  const entry: Entry = { path: 'a', type: 'dir', mode: 0o700, mtime: 1, size: 0, offset: 0, blobId: null, target: '' }
  const full = encodeIndex('full', [{ op: 'put', entry }])
  const corrupt = (err: unknown) => err instanceof PolykeyError && err.code === 'CORRUPT'
  assert.throws(() => new LazyIndex(encodeIndex('delta', []), 0, 0, () => {}), corrupt)
  assert.throws(() => new LazyIndex(full, 2, 2, () => {}), corrupt)
  const wrong = new LazyIndex(full, 1, 3, () => {})
  assert.equal(wrong.get('a')?.type, 'dir')
  assert.throws(() => [...wrong.values()], corrupt)
  const checked = new LazyIndex(full, 1, 1, () => {
    throw new PolykeyError('CORRUPT', 'outside')
  })
  assert.throws(() => checked.get('a'), corrupt)
})
