// How repositories keep their objects: loose, and in packs (version-2 .pack + .idx, trees as
// OFS_DELTA). The codecs against real git (its idx for our pack is byte-for-byte ours), deltas
// and the tree decoder against their plain counterparts on random input, hostile deltas, and a
// long history that packs itself as it grows and that real git reads from an export (fsck
// --strict, verify-pack, log, show).
import test from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import crypto from 'node:crypto'
import zlib from 'node:zlib'
import { spawnSync } from 'node:child_process'
import fc from 'fast-check'
import { PASS, run, tmpdir } from '../helpers.js'
import { applyDelta, prefixSuffixDelta, DeltaError } from '../../src/git/delta.js'
import { buildPack, MAX_DELTA_DEPTH, entryHeader, ofsDistance, readEntryHeader, storedZlib } from '../../src/git/pack.js'
import { PackIndex, encodePackIndex } from '../../src/git/pack-index.js'
import { TreeDecoder } from '../../src/git/tree-decoder.js'
import { decodeCommit, decodeTree, encodeObject, encodeTree, type TreeEntry } from '../../src/git/objects.js'
import { LOOSE_LIMIT } from '../../src/git/repo.js'
import { MemStore } from '../../src/vault/mem-store.js'
import { Vault } from '../../src/vault/vault.js'
import { createNode, OpenNode } from '../../src/vault/node.js'
import { KDF_PROFILES } from '../../src/crypto/index.js'
import { PolykeyError } from '../../src/errors.js'

const hasGit = spawnSync('git', ['--version']).status === 0

function git(cwd: string, ...args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync('git', args, {
    cwd,
    encoding: 'utf8',
    maxBuffer: 1 << 26,
    env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', HOME: cwd, LC_ALL: 'C' },
  })
  return { code: r.status ?? 1, out: r.stdout, err: r.stderr }
}

function memVault(): Vault {
  const s = new MemStore()
  Vault.skeleton(s)
  return new Vault(s, { name: 'tester', email: 'tester@polykey' })
}

const oidOf = (n: number) => n.toString(16).padStart(40, '0')
const tree = (names: string[], seed = 0) => encodeTree(names.map((name, i) => ({ mode: '100644', name, oid: oidOf(seed * 1000 + i + 1) })))

/** A delta by hand: sizes, then raw instruction bytes. */
function delta(baseSize: number, resultSize: number, ...ops: number[][]): Buffer {
  const varint = (n: number) => {
    const out: number[] = []
    do {
      let b = n % 128
      n = Math.floor(n / 128)
      if (n) b |= 0x80
      out.push(b)
    } while (n)
    return out
  }
  return Buffer.from([...varint(baseSize), ...varint(resultSize), ...ops.flat()])
}

test('deltas: prefix/suffix deltas apply back to the target (random input), git-style copies and inserts', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 3000 }), fc.uint8Array({ maxLength: 300 }), fc.nat(3000), fc.nat(3000), (base, middle, cut, cut2) => {
      const b = Buffer.from(base)
      const a = Math.min(cut, b.length)
      const z = Math.max(a, Math.min(cut2, b.length))
      const target = Buffer.concat([b.subarray(0, a), Buffer.from(middle), b.subarray(z)])
      const d = prefixSuffixDelta(b, target)
      if (d) {
        assert.ok(d.length * 2 <= target.length, 'only deltas that pay for themselves')
        const shape = { prefix: 0, suffix: 0 }
        assert.ok(applyDelta(b, d, 1 << 20, Buffer.allocUnsafe, shape).equals(target))
        // what the delta says the two share, they share
        assert.ok(b.subarray(0, shape.prefix).equals(target.subarray(0, shape.prefix)))
        assert.ok(b.subarray(b.length - shape.suffix).equals(target.subarray(target.length - shape.suffix)))
      }
    }),
    { numRuns: 300 },
  )
  // a 100-entry tree with one entry changed: a delta of a few dozen bytes
  const names = Array.from({ length: 100 }, (_, i) => `secret-${String(i).padStart(3, '0')}`)
  const t1 = tree(names)
  const t2 = Buffer.from(t1)
  t2[t2.length - 21 * 50 - 3] ^= 0xff // inside an id in the middle
  const d = prefixSuffixDelta(t1, t2)!
  assert.ok(d.length < 40, `${d.length} bytes`)
  assert.ok(applyDelta(t1, d, 1 << 20).equals(t2))
  // copies with every offset/size byte combination, a 0x10000 copy (size bytes omitted)
  const big = Buffer.alloc(0x20000)
  for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff
  const r = applyDelta(big, delta(big.length, 0x10000 + 3, [0x80 | 0x04, 0x01], [3, 9, 8, 7]), 1 << 20)
  assert.ok(r.subarray(0, 0x10000).equals(big.subarray(0x10000, 0x20000)))
  const r2 = applyDelta(big, delta(big.length, 0x100, [0x80 | 0x01 | 0x02 | 0x08 | 0x20, 0x02, 0x01, 0x00, 0x01]), 1 << 20)
  assert.ok(r2.equals(big.subarray(0x102, 0x202)))
  assert.deepEqual([...r.subarray(0x10000)], [9, 8, 7])
})

test('deltas: hostile ones are refused with the reason, before allocating what they claim', () => {
  const base = Buffer.from('0123456789')
  const cases: [Buffer, RegExp][] = [
    [delta(10, 10, [0x80 | 0x01 | 0x10, 5, 10]), /copies bytes 5\.\.15 of a 10-byte base/],
    [delta(10, 20, [0x80 | 0x01 | 0x02 | 0x04 | 0x08 | 0x10, 0xff, 0xff, 0xff, 0xff, 1]), /copies bytes 4294967295\.\.4294967296 of a 10-byte base/],
    [delta(10, 5, [0x80 | 0x10, 3]), /makes 3 bytes where it declares 5/],
    [delta(10, 2, [3, 1, 2, 3]), /writes past the size it declares/],
    [delta(10, 4, [0x80 | 0x10, 3], [0x80 | 0x10, 3]), /writes past the size it declares/],
    [delta(9, 3, [0x80 | 0x10, 3]), /is for a base of 9 bytes, not 10/],
    [delta(10, 3, [0]), /reserved instruction 0/],
    [delta(10, 5, [5, 1, 2]), /truncated/],
    [delta(10, 5, [0x80 | 0x01 | 0x10, 1]), /truncated/],
    [Buffer.from([0x8a]), /truncated/],
    [delta(10, 2 ** 40, [1, 1]), /too large \(1099511627776 bytes\)/],
    [Buffer.from([10, ...Array(9).fill(0xff), 1]), /absurd/],
  ]
  for (const [d, why] of cases)
    assert.throws(
      () => applyDelta(base, d, 1 << 20),
      (err: Error) => err instanceof DeltaError && why.test(err.message),
      String(why),
    )
})

test('the tree decoder: what it reuses from the tree before is what a plain decode finds (random histories)', () => {
  const pool = ['a', 'b', 'c', 'api-key', 'api-key.old', 'db', 'é', 'z', 'Z', 'x'.repeat(40), 'token', 'token2']
  fc.assert(
    fc.property(fc.array(fc.array(fc.tuple(fc.constantFrom(...pool), fc.nat(3), fc.boolean()), { maxLength: 12 }), { minLength: 1, maxLength: 12 }), (history) => {
      const d = new TreeDecoder()
      const hinted = new TreeDecoder() // told what is shared by the delta from the tree before
      let prev: Buffer | null = null
      for (const version of history) {
        const entries = new Map<string, TreeEntry>()
        for (const [name, v, exec] of version) entries.set(name, { name, mode: exec ? '100755' : '100644', oid: oidOf(v + 1) })
        const bytes = encodeTree(entries.values())
        assert.deepEqual(d.decode(bytes), decodeTree(bytes))
        const delta: Buffer | null = prev && prefixSuffixDelta(prev, bytes)
        const shape = { prefix: 0, suffix: 0 }
        if (prev && delta) assert.ok(applyDelta(prev, delta, 1 << 20, Buffer.allocUnsafe, shape).equals(bytes))
        assert.deepEqual(hinted.decode(bytes, prev && delta ? shape : undefined), decodeTree(bytes))
        prev = bytes
      }
    }),
    { numRuns: 300 },
  )
})

test('the tree decoder: order and duplicates are checked at the seams with reused entries too', () => {
  const one = (name: string, oid = oidOf(1)) => encodeTree([{ mode: '100644', name, oid }])
  const cat = (...parts: Buffer[]) => Buffer.concat(parts)
  const prev = cat(one('b'), one('x'), one('y'))
  // a new first entry 'z' followed by the previous tree's 'x', 'y' (reused): out of order
  const d1 = new TreeDecoder()
  d1.decode(prev)
  assert.throws(() => d1.decode(cat(one('z'), one('x'), one('y'))), /entry 'x' is out of order/)
  // a second 'b' (another id) before the reused 'b': repeated
  const d2 = new TreeDecoder()
  const ab = cat(one('a'), one('b'))
  d2.decode(ab)
  assert.throws(() => d2.decode(cat(one('a'), one('b', oidOf(2)), one('b'))), /entry 'b' is out of order or repeated/)
  // the same, decoded alone
  assert.throws(() => new TreeDecoder().decode(cat(one('b'), one('a'))), /entry 'a' is out of order/)
  // `check` sees each entry once per change, and every new one
  const seen: string[] = []
  const d3 = new TreeDecoder((e) => seen.push(e.name))
  d3.decode(cat(one('a'), one('b'), one('c')))
  d3.decode(cat(one('a'), one('b', oidOf(9)), one('c')))
  assert.deepEqual(seen, ['a', 'b', 'c', 'b'])
})

test('pack index: byte for byte what git index-pack writes for the same pack; lookups; 64-bit offsets', { skip: !hasGit && 'git is not installed' }, (t) => {
  const names = Array.from({ length: 50 }, (_, i) => `s${String(i).padStart(2, '0')}`)
  const objs = [
    ...Array.from({ length: 40 }, (_, i) => ({ type: 'tree' as const, content: tree(names.slice(0, 5 + i)) })),
    ...Array.from({ length: 300 }, (_, i) => ({ type: 'blob' as const, content: Buffer.from(`blob ${i}`) })),
    { type: 'blob' as const, content: Buffer.alloc(100_000, 'q') },
  ]
  const { pack, entries } = buildPack(objs, { deltas: true, compressFrom: 4096 })
  const oids = objs.map((o) => encodeObject(o.type, o.content).oid)
  const ours = encodePackIndex(
    oids.map((oid, i) => ({ oid, offset: entries[i].offset, crc: zlib.crc32(pack.subarray(entries[i].offset, entries[i].end)) })),
    pack.subarray(pack.length - 20),
  )
  const dir = tmpdir(t)
  fs.writeFileSync(path.join(dir, 'p.pack'), pack)
  // (not --strict: these trees name made-up blobs; outside a repository git 2.39 crashes on --strict)
  const r = git(dir, 'index-pack', 'p.pack')
  assert.equal(r.code, 0, r.err + r.out)
  assert.ok(fs.readFileSync(path.join(dir, 'p.idx')).equals(ours), "our idx is git's")
  fs.writeFileSync(path.join(dir, 'p.idx'), ours)
  const v = git(dir, 'verify-pack', '-v', 'p.idx')
  assert.equal(v.code, 0, v.err)
  assert.match(v.out, /chain length = 1: \d+ object/, 'trees went as deltas')

  const idx = new PackIndex(ours)
  assert.equal(idx.count, objs.length)
  for (let i = 0; i < oids.length; i += 7) assert.equal(idx.offsetAt(idx.find(Buffer.from(oids[i], 'hex'))), entries[i].offset)
  assert.equal(idx.find(Buffer.alloc(20, 0xff)), -1)
  assert.equal(idx.find(Buffer.alloc(20, 0)), -1)
  // offsets past 2 GiB go to the 64-bit table
  const far = encodePackIndex(
    [
      { oid: oidOf(1), offset: 12, crc: 1 },
      { oid: oidOf(2), offset: 2 ** 33 + 5, crc: 2 },
      { oid: oidOf(3), offset: 2 ** 31, crc: 3 },
    ],
    Buffer.alloc(20),
  )
  const fi = new PackIndex(far)
  assert.deepEqual(
    [1, 2, 3].map((n) => fi.offsetAt(fi.find(Buffer.from(oidOf(n), 'hex')))),
    [12, 2 ** 33 + 5, 2 ** 31],
  )
  // damage is noticed
  const bad = Buffer.from(ours)
  bad[2000] ^= 1
  assert.throws(() => new PackIndex(bad), /checksum does not match/)
  assert.throws(() => new PackIndex(ours.subarray(0, 1000)), /wrong size|not a version-2/)
})

test('a repository packs itself as it grows: few packs, every object readable, history intact', () => {
  const v = memVault()
  v.repoCreate('r')
  const commits = 700
  const name = (i: number) => `s${String(i % 60).padStart(2, '0')}`
  for (let i = 0; i < commits; i++) v.secretPut('r', name(i), Buffer.from(`value ${i}`))
  const g = v.git('r')
  assert.ok(g.looseCount() < LOOSE_LIMIT, `${g.looseCount()} loose objects`)
  const packs = g.packs()
  assert.ok(packs.length >= 1 && packs.length <= 4, `${packs.length} packs`)
  // sizes at least double (geometric)
  const sizes = packs.map((p) => p.count).sort((a, b) => a - b)
  for (let i = 1; i < sizes.length; i++) assert.ok(sizes[i] >= sizes[i - 1], String(sizes))
  const log = v.repoLog('r')
  assert.equal(log.length, commits)
  // old values, read from packs through delta chains: at commit i, s39 holds the last j ≤ i with name(j) = s39
  assert.equal(g.readBlobAt(log[commits - 5].commit, 's04').toString(), 'value 4')
  const at = commits - 1 - 100
  assert.equal(v.secretGet('r', 's39', log[100].commit.slice(0, 12)).toString(), `value ${at - ((at - 39) % 60)}`)
  // the pack list is git's objects/info/packs
  const info = v.store.readFile('repos/r/.git/objects/info/packs')!.toString()
  assert.equal(info, packs.map((p) => `P ${p.name}.pack\n`).join('') + '\n')
  // one pack for everything on request, still the same history
  g.repack(true)
  const again = v.git('r')
  assert.equal(again.packs().length, 1)
  assert.deepEqual(v.repoLog('r'), log)
})

test('a damaged pack or idx is reported as corrupt, never read as other data', () => {
  const v = memVault()
  v.repoCreate('r')
  for (let i = 0; i < 120; i++) v.secretPut('r', `s${i % 7}`, Buffer.from(`v${i}`))
  v.git('r').repack(true)
  const p = v.git('r').packs()[0]
  const file = `repos/r/.git/objects/pack/${p.name}.pack`
  const good = v.store.readFile(file)!
  const bad = Buffer.from(good)
  bad[good.length >> 1] ^= 1
  v.store.writeFile(file, bad)
  const head = v.git('r').head()!
  assert.throws(
    () => v.git('r').readCommit(head),
    (err: Error) => err instanceof PolykeyError && err.code === 'CORRUPT' && /does not match its checksum/.test(err.message),
  )
  v.store.writeFile(file, good)
  const idxFile = `repos/r/.git/objects/pack/${p.name}.idx`
  const idx = Buffer.from(v.store.readFile(idxFile)!)
  idx[1100] ^= 1
  v.store.writeFile(idxFile, idx)
  assert.throws(
    () => v.git('r').readCommit(head),
    (err: Error) => err instanceof PolykeyError && err.code === 'CORRUPT' && /idx is corrupt/.test(err.message),
  )
})

test('stored packs: a chain longer than the limit, or a delta whose base is not before it, is corrupt', () => {
  // hand-made packs: a whole tree, then deltas each against the entry before
  const t0 = tree(['a', 'b', 'c'])
  const entries: Buffer[] = [Buffer.concat([entryHeader(2, t0.length), storedZlib(t0)])]
  const d = delta(t0.length, t0.length, [0x80 | 0x10, t0.length])
  for (let i = 0; i < MAX_DELTA_DEPTH + 1; i++) entries.push(Buffer.concat([entryHeader(6, d.length), ofsDistance(entries[entries.length - 1].length), storedZlib(d)]))
  const head = Buffer.alloc(12)
  head.write('PACK')
  head.writeUInt32BE(2, 4)
  head.writeUInt32BE(entries.length, 8)
  const body = Buffer.concat([head, ...entries])
  const pack = Buffer.concat([body, crypto.createHash('sha1').update(body).digest()])
  const h = readEntryHeader(pack, 12 + entries[0].length, pack.length - 20)
  assert.equal(h.base, 12, 'the distance encoding points at the entry before')
  const v = memVault()
  v.repoCreate('r')
  const g = v.git('r')
  let off = 12
  const offsets = entries.map((e) => ((off += e.length), off - e.length))
  // every entry is the same tree, so index each under a made-up id and read by them
  const ids = offsets.map((_, i) => oidOf(i + 1))
  g.addPack(
    pack,
    ids.map((oid, i) => ({ oid, offset: offsets[i], end: offsets[i] + entries[i].length })),
  )
  const read = (i: number) => v.git('r').readObject(ids[i])
  assert.throws(() => read(MAX_DELTA_DEPTH + 1), /chain of more than 50 deltas/)
  assert.throws(() => read(3), /does not hash to its id/, 'the ids are made up: caught')
})

test(
  'a long history in a node file: real git reads the export (fsck --strict, verify-pack, log, show); the CLI reads old values',
  { skip: !hasGit && 'git is not installed' },
  async (t) => {
    const dir = tmpdir(t)
    const file = path.join(dir, 'node.pk')
    createNode(file, Buffer.from(PASS), KDF_PROFILES.test)
    const n = await OpenNode.open(file, { passphrase: Buffer.from(PASS) }, { write: true })
    const commits = 400
    let loose = -1
    try {
      n.vault.repoCreate('big')
      for (let i = 0; i < commits; i++) n.vault.secretPut('big', `s${String(i % 50).padStart(2, '0')}`, Buffer.from(`value ${i}\n`))
      n.vault.repoCreate('small')
      n.vault.secretPut('small', 'only', Buffer.from('loose objects only'))
      loose = n.vault.git('big').looseCount()
      n.save()
    } finally {
      n.close()
    }
    // counted from the saved index (a walk of its bytes), the same as while the changes were pending
    const again = await OpenNode.open(file, { passphrase: Buffer.from(PASS) })
    assert.equal(again.vault.git('big').looseCount(), loose)
    assert.equal(again.vault.git('small').looseCount(), 3)
    again.close()
    const env = { POLYKEY_NODE: file, NODE_EXTRA_CA_CERTS: undefined }
    const log = JSON.parse((await run(['repo', 'log', 'big', '--json'], { env })).out) as { commit: string }[]
    assert.equal(log.length, commits)
    const old = await run(['secret', 'get', 'big/s07', '--rev', log[commits - 8].commit.slice(0, 12)], { env })
    assert.equal(old.code, 0, old.stderr)
    assert.equal(old.out, 'value 7\n')

    const tar = await run(['export', 'tar'], { env })
    assert.equal(tar.code, 0, tar.stderr)
    const out = path.join(dir, 'x')
    fs.mkdirSync(out)
    assert.equal(spawnSync('tar', ['-x', '-C', out], { input: tar.stdout }).status, 0)
    const repo = path.join(out, 'repos', 'big')
    const packs = fs.readdirSync(path.join(repo, '.git', 'objects', 'pack'))
    const fanout = fs.readdirSync(path.join(repo, '.git', 'objects')).filter((d) => /^[0-9a-f]{2}$/.test(d))
    assert.equal(
      fanout.reduce((n, d) => n + fs.readdirSync(path.join(repo, '.git', 'objects', d)).length, 0),
      loose,
    )
    assert.ok(packs.some((f) => f.endsWith('.idx')) && packs.some((f) => f.endsWith('.pack')), String(packs))
    const fsck = git(repo, 'fsck', '--full', '--strict', '--no-dangling')
    assert.equal(fsck.code, 0, fsck.err + fsck.out)
    for (const idx of packs.filter((f) => f.endsWith('.idx'))) {
      const vp = git(repo, 'verify-pack', '-v', path.join('.git', 'objects', 'pack', idx))
      assert.equal(vp.code, 0, vp.err)
    }
    assert.equal(git(repo, 'rev-list', '--count', 'HEAD').out.trim(), String(commits))
    assert.equal(git(repo, 'log', '--format=%H').out.trim().split('\n').join(), log.map((e) => e.commit).join())
    assert.equal(git(repo, 'show', `${log[commits - 1].commit}:s00`).out, 'value 0\n')
    assert.equal(git(repo, 'status', '--porcelain').out, '')
    const small = path.join(out, 'repos', 'small')
    assert.equal(git(small, 'fsck', '--strict', '--no-dangling').code, 0)
    assert.match(git(small, 'count-objects').out, /^3 objects/, 'a short history stays loose')
  },
)

test('commits: the line-by-line decoder finds what the split-and-regex one did (random headers, odd signatures)', () => {
  // the decoder as it was: split the header into lines, the author by /^(.*) <(.*)> (\d+) ([+-]\d{4})$/
  const reference = (b: Buffer) => {
    const text = b.toString('utf8')
    const split = text.indexOf('\n\n')
    const c = { tree: '', parents: [] as string[], author: { name: '', email: '', timestamp: 0, tz: '+0000' }, message: split < 0 ? '' : text.slice(split + 2) }
    for (const line of text.slice(0, split < 0 ? text.length : split).split('\n')) {
      const sp = line.indexOf(' ')
      const [key, val] = [line.slice(0, sp), line.slice(sp + 1)]
      if (key === 'tree') c.tree = val
      else if (key === 'parent') c.parents.push(val)
      else if (key === 'author') {
        const m = /^(.*) <(.*)> (\d+) ([+-]\d{4})$/.exec(val)
        if (m) c.author = { name: m[1], email: m[2], timestamp: Number(m[3]), tz: m[4] }
      }
    }
    if (!/^[0-9a-f]{40}$/.test(c.tree)) throw new Error('corrupt')
    return c
  }
  const frag = fc.constantFrom(
    'tree ',
    'parent ',
    'author ',
    'committer ',
    'a'.repeat(40),
    oidOf(7),
    ' <',
    '>',
    '> ',
    ' 123',
    ' +0000',
    ' -0130',
    '\n',
    '\n\n',
    ' ',
    '<',
    'x',
    '\r',
    '\u2028',
    'é',
    '12',
    '+',
    'tree',
    'author',
    'parentx',
  )
  const words = (n: number) => fc.array(frag, { maxLength: n }).map((a) => a.join(''))
  const signed = fc
    .tuple(words(6), words(6), fc.nat(), fc.constantFrom('+0000', '-0130', '+12345', 'x'))
    .map(([name, email, ts, tz]) => `tree ${'a'.repeat(40)}\nparent ${oidOf(2)}\nauthor ${name} <${email}> ${ts} ${tz}\ncommitter x <y> 1 +0000\n\nmsg\n`)
  fc.assert(
    fc.property(
      fc.oneof(
        words(30).map((t) => `tree ${'a'.repeat(40)}\n${t}`),
        words(30),
        signed,
      ),
      (t) => {
        const b = Buffer.from(t)
        let want: unknown
        try {
          want = reference(b)
        } catch {
          assert.throws(() => decodeCommit(b), /corrupt/)
          return
        }
        assert.deepEqual(decodeCommit(b), want)
      },
    ),
    { numRuns: 3000 },
  )
})

test('a damaged loose object does not stop commits: packing waits, the damage is reported where it is read', () => {
  const v = memVault()
  v.repoCreate('r')
  v.secretPut('r', 'old', Buffer.from('will be damaged'))
  const blob = encodeObject('blob', Buffer.from('will be damaged')).oid
  v.store.writeFile(`repos/r/.git/objects/${blob.slice(0, 2)}/${blob.slice(2)}`, Buffer.from('not zlib'))
  for (let i = 0; i < 100; i++) v.secretPut('r', `s${i % 10}`, Buffer.from(`v${i}`))
  const g = v.git('r')
  assert.ok(g.looseCount() >= LOOSE_LIMIT, 'not packed')
  assert.equal(g.packs().length, 0)
  assert.equal(v.repoLog('r').length, 101)
  assert.throws(
    () => g.readObject(blob),
    (err: Error) => err instanceof PolykeyError && err.code === 'CORRUPT',
  )
})
