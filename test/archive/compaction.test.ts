// Compaction: once dead bytes are more than half of the file, a save rewrites it (temporary file,
// fsync, rename, fsync of the folder). Contents stay equal, the file shrinks, and a compaction
// that fails midway leaves the previous file exactly as it was.
import test, { mock } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { PASS, tmpdir, run } from '../helpers.js'
import { NodeFile, type Change } from '../../src/archive/nodefile.js'
import { buildNode, cli, dir, layout, openSnapshot, put, snapshot } from './util.js'

const open = (file: string, writable = true, warn?: (m: string) => void) => NodeFile.open(file, { passphrase: Buffer.from(PASS) }, { writable, warn })
const big = (i: number) => Buffer.alloc(120_000, i)

function overwrites(from: number, to: number): Change[][] {
  const out: Change[][] = []
  for (let i = from; i < to; i++) out.push([put('data/big', big(i)), put(`data/small-${i % 5}`, `small ${i}`)])
  return out
}

function tmpFiles(folder: string): string[] {
  return fs.readdirSync(folder).filter((f) => f.includes('.compact-'))
}

test('after many overwrites the file is compacted: smaller, same contents, still a valid chain', (t) => {
  const folder = tmpdir(t)
  const file = path.join(folder, 'c.pk')
  buildNode(file, [[dir('data'), put('data/keep', 'kept through every compaction')]])
  const nf = open(file)
  const sizes: number[] = []
  let shrunk = 0
  for (const batch of overwrites(0, 40)) {
    const before = nf.fileSize
    const seq = nf.seq
    nf.commit(batch)
    assert.equal(nf.seq > seq, true)
    if (nf.fileSize < before) shrunk++
    sizes.push(nf.fileSize)
  }
  const inMemory = snapshot(nf)
  const seq = nf.seq
  nf.close()
  assert.ok(shrunk >= 3, `compacted ${shrunk} times`)
  const max = Math.max(...sizes)
  assert.ok(max < 1.3 * 1024 * 1024 + 2 * 120_000, `the file never grew far past the threshold (max ${max})`)
  const again = openSnapshot(file)
  assert.equal(again.seq, seq, 'the save counter keeps counting across compactions')
  assert.deepEqual(again.members, inMemory)
  assert.equal(Buffer.from(again.members['data/big'].split(' ').pop()!, 'hex').equals(big(39)), true)
  assert.deepEqual(tmpFiles(folder), [])
  // The compacted file is one full segment (plus any saves after it), all authentic.
  const map = layout(file)
  assert.equal(map.segments[0].trailer.indexKind, 'full')
  assert.equal(map.segments[0].trailer.prevTrailer, 0)
})

test('explicit compaction: same members and bytes, no dead space, fsync of the folder', (t) => {
  const folder = tmpdir(t)
  const file = path.join(folder, 'c.pk')
  buildNode(file, [
    [dir('data')],
    ...overwrites(0, 6),
    [
      { op: 'delete', path: 'data/small-0' },
      { op: 'put', path: 'data/link', type: 'link', target: 'data/big' },
    ],
  ])
  const before = openSnapshot(file)
  const sizeBefore = fs.statSync(file).size
  // what a compaction killed midway left behind (another process's id); a stranger's file stays
  const leftover = path.join(folder, '.c.pk.compact-999999.tmp')
  fs.writeFileSync(leftover, Buffer.alloc(4096, 1))
  fs.writeFileSync(path.join(folder, '.c.pk.compact-notes.txt'), 'mine')
  const nf = open(file)
  nf.compact()
  const after = snapshot(nf)
  nf.close()
  assert.deepEqual(tmpFiles(folder), ['.c.pk.compact-notes.txt'], "the dead compaction's file is gone, nothing else")
  assert.deepEqual(after, before.members)
  const size = fs.statSync(file).size
  assert.ok(size < sizeBefore / 3, `${sizeBefore} -> ${size}`)
  assert.deepEqual(openSnapshot(file).members, before.members)
  assert.equal(openSnapshot(file).seq, before.seq + 1)
})

const failures: [string, (tmp: { fd: number | null }) => void][] = [
  // As if the folder were read-only (we may run as root, where chmod would not stop us).
  [
    'the temporary file cannot be created',
    () => {
      const real = fs.openSync
      mock.method(fs, 'openSync', (p: fs.PathLike, ...rest: any[]) => {
        if (String(p).includes('.compact-')) throw Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' })
        return (real as any)(p, ...rest)
      })
    },
  ],
  [
    'the disk fills up while copying',
    (tmp) => {
      const realOpen = fs.openSync
      const realWrite = fs.writeSync
      mock.method(fs, 'openSync', (p: fs.PathLike, ...rest: any[]) => {
        const fd = (realOpen as any)(p, ...rest)
        if (String(p).includes('.compact-')) tmp.fd = fd
        return fd
      })
      let n = 0
      mock.method(fs, 'writeSync', (fd: number, ...rest: any[]) => {
        if (fd === tmp.fd && ++n === 2) throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' })
        return (realWrite as any)(fd, ...rest)
      })
    },
  ],
  [
    'fsync of the temporary file fails',
    (tmp) => {
      const realOpen = fs.openSync
      const realFsync = fs.fsyncSync
      mock.method(fs, 'openSync', (p: fs.PathLike, ...rest: any[]) => {
        const fd = (realOpen as any)(p, ...rest)
        if (String(p).includes('.compact-')) tmp.fd = fd
        return fd
      })
      mock.method(fs, 'fsyncSync', (fd: number) => {
        if (fd === tmp.fd) throw Object.assign(new Error('EIO: i/o error'), { code: 'EIO' })
        return realFsync(fd)
      })
    },
  ],
  [
    'the rename fails',
    () => {
      mock.method(fs, 'renameSync', () => {
        throw Object.assign(new Error('EXDEV'), { code: 'EXDEV' })
      })
    },
  ],
]

for (const [name, inject] of failures) {
  test(`compaction fails midway (${name}): the previous file is intact and the save still counts`, (t) => {
    const folder = tmpdir(t)
    const file = path.join(folder, 'c.pk')
    buildNode(file, [[dir('data')], ...overwrites(0, 8)])
    const nf = open(file)
    t.after(() => nf.close())
    const beforeBytes = fs.readFileSync(file)
    const warnings: string[] = []
    const warnOpen = open(file, true, (m) => warnings.push(m))
    nf.close()
    // The save that triggers the compaction: appended and synced first, then the rewrite fails.
    const tmp = { fd: null as number | null }
    inject(tmp)
    try {
      warnOpen.commit(overwrites(8, 9)[0])
    } finally {
      mock.restoreAll()
    }
    const afterBytes = fs.readFileSync(file)
    assert.ok(afterBytes.length > beforeBytes.length, 'the save was appended, not compacted')
    assert.ok(afterBytes.subarray(0, beforeBytes.length).equals(beforeBytes), 'every earlier byte is as it was')
    assert.deepEqual(tmpFiles(folder), [], 'the temporary file is gone')
    assert.equal(warnings.length, 1, 'the failed compaction is reported')
    assert.match(warnings[0], /^could not compact the node file/)
    const on = openSnapshot(file)
    assert.deepEqual(on.members, snapshot(warnOpen))
    assert.equal(on.seq, warnOpen.seq)
    assert.ok(Buffer.from(on.members['data/big'].split(' ').pop()!, 'hex').equals(big(8)))
    // The next save compacts for real.
    warnOpen.commit(overwrites(9, 10)[0])
    assert.ok(fs.statSync(file).size < afterBytes.length)
    assert.deepEqual(openSnapshot(file).members, snapshot(warnOpen))
    warnOpen.close()
  })
}

test('compacting a file that ends in an interrupted save, then saving: nothing is lost', (t) => {
  const folder = tmpdir(t)
  const file = path.join(folder, 'c.pk')
  buildNode(file, [[dir('data')], ...overwrites(0, 3)])
  // Half of a save that never finished, at the end.
  const other = path.join(folder, 'other.pk')
  fs.copyFileSync(file, other)
  const o = open(other)
  o.commit([put('data/never', 'never saved')])
  o.close()
  const size = fs.statSync(file).size
  fs.appendFileSync(file, fs.readFileSync(other).subarray(size, size + 100))
  const expected = openSnapshot(file).members
  const nf = open(file, true, () => {})
  nf.compact()
  nf.commit([put('data/after', 'after compaction')])
  nf.close()
  const got = openSnapshot(file).members
  const map = layout(file) // segments tile the file: no hole where the old tail was
  assert.equal(map.segments.length, 2)
  assert.equal(map.segments[1].start, map.segments[0].end)
  assert.equal(Buffer.from(got['data/after'].split(' ').pop()!, 'hex').toString(), 'after compaction')
  delete got['data/after']
  assert.deepEqual(got, expected)
})

test('the CLI: a save that compacts still exits 0 and leaves a smaller node', async (t) => {
  const folder = tmpdir(t)
  const node = path.join(folder, 'node.pk')
  assert.equal((await cli(['init', '--kdf', 'test'], { node })).code, 0)
  assert.equal((await cli(['repo', 'create', 'r'], { node })).code, 0)
  let shrunk = 0
  let last = fs.statSync(node).size
  for (let i = 0; i < 6; i++) {
    const r = await cli(['secret', 'put', 'r/blob'], { node, input: Buffer.alloc(300_000, i) })
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stderr, '')
    const size = fs.statSync(node).size
    if (size < last) shrunk++
    last = size
  }
  assert.ok(shrunk >= 1, 'a save compacted the node')
  const get = await run(['secret', 'get', 'r/blob'], { node }) // the real process, once
  assert.ok(get.stdout.equals(Buffer.alloc(300_000, 5)))
  const log = await cli(['repo', 'log', 'r', '--json'], { node })
  assert.equal(JSON.parse(log.out).length, 6, 'history survives compaction (git objects are live members)')
})
