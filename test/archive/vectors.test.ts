// Test vectors (docs/FORMAT.md §Test vectors). Every codec output for fixed inputs is pinned
// here with an `expect:` value, and the same values are read back out of docs/FORMAT.md, so the
// spec and the code cannot drift apart. A change here is a format change: see §Versioning.
import test from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { decodeHeader, decodeIndex, decodeSlotArea, decodeTrailer, unwrapPassphraseSlot, decryptChunks, type PassphraseSlot } from '../../src/archive/codec.js'
import { KDF_PROFILES, secureBuffer } from '../../src/crypto/index.js'
import { vectors, fileId, master, tokenEntry } from './vector-inputs.js'
import { NodeFile } from '../../src/archive/nodefile.js'
import { ROOT, tmpdir } from '../helpers.js'

// expect: values (hex). Long values are split for reading; whitespace is not part of them.
const EXPECT: Record<string, string> = {
  header: `
    504f4c594b4559000100000000000000000102030405060708090a0b0c0d0e0f
    00000000000000000000000000000000889fb841f74430e4f037b04fbd8c8915`,
  'argon2id-test': `
    1811440b03ec989c76c0a911ce2f6e78f2dd1e9348f9b7a7ffcee1a90fca6058`,
  'subkey-data': `
    514b3435e3eea6c1519bc20c0eb26b18a4f5a6c72112ead667779798feb2730f`,
  'subkey-index': `
    a92ea223d38e5212d711308085f308c3100445799729b7da5fb2e2f88f4a9179`,
  'subkey-trailer': `
    e8d2f32f12ac48fdb7b562339c364733038413fe8eac1d6e1a8d4dbc36c0b3f4`,
  'subkey-seal': `
    5f29c74475f50a1009b5d98d9008cf3a547b5e38dfcb31162d5f0acd68e4bac9`,
  'slot-area': `
    504b534c4f545300010000000000000001000165000101000000002000000000
    0000a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbd
    bebfc0c1c2c3c4c5c6c7c20b47556924b987e58d2f4a43b5b241327dbc572716
    6590747c873dc9a329196744a299509b4d5ec01f7f96c1d20fa4000000000000
    0000000000000000000000000000000000000000000000000000000000000000
    0000000000000000000000000000000000000000000000000000000000000000
    0000000000000000000000000000000000000000000000000000000000000000
    0000000000000000000000000000000000000000000000000000000000000000
    0000000000000000000000000000000000000000000000000000000000000000
    0000000000000000000000000000000000000000000000000000000000000000
    0000000000000000000000000000000000000000000000000000000000000000
    0000000000000000000000000000000000000000000000000000000000000000
    0000000000000000000000000000000000000000000000000000000000000000
    0000000000000000000000000000000000000000000000000000000000000000
    0000000000000000000000000000000000000000000000000000000000000000
    0000000000000000000000000000000095a37fa59c33e6282a91a5325fda88b0`,
  'subkey-slot': `
    b3e8d5eeaab961e2d7ab551fc987bc10808d04b3d34e974cfc00fb48017f915b`,
  'keyfile-kek': `
    306979baa9bb1ead15cbd41acde2472f32bc716e9ec3bc0755d86058b48ed0cf`,
  'keyfile-slot-body': `
    00f15365000000000663692e6b6579b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0
    c1c2c3c4c5c6c7b10734adf280ba8fed70a7c289c6d96f62d28fbe83f149395f
    780ec9a8ea967a0e3389b3fcf6b19a4371b4d48384ab7b`,
  'gpg-slot-body': `
    14303132333435363738393a3b3c3d3e3f4041424300f153650000000050c1cf
    d4bc3aad8bf7bc1a31ba4c73df1000808182838485868788898a8b8c8d8e8f`,
  'slot-area-three': `
    504b534c4f545300020000000000000003000165000101000000002000000000
    0000a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbd
    bebfc0c1c2c3c4c5c6c7c20b47556924b987e58d2f4a43b5b241327dbc572716
    6590747c873dc9a329196744a299509b4d5ec01f7f96c1d20fa4023f00143031
    32333435363738393a3b3c3d3e3f4041424300f153650000000050c1cfd4bc3a
    ad8bf7bc1a31ba4c73df1000808182838485868788898a8b8c8d8e8f03570000
    f15365000000000663692e6b6579b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1
    c2c3c4c5c6c7b10734adf280ba8fed70a7c289c6d96f62d28fbe83f149395f78
    0ec9a8ea967a0e3389b3fcf6b19a4371b4d48384ab7b00000000000000000000
    0000000000000000000000000000000000000000000000000000000000000000
    0000000000000000000000000000000000000000000000000000000000000000
    0000000000000000000000000000000000000000000000000000000000000000
    0000000000000000000000000000000000000000000000000000000000000000
    0000000000000000000000000000000000000000000000000000000000000000
    0000000000000000000000000000000000000000000000000000000000000000
    0000000000000000000000000000000090ef33d4fade5ff7143b18216788d624`,
  'slot-record': `
    504b534c4f545200000102030405060708090a0b0c0d0e0f0200023f00143031
    32333435363738393a3b3c3d3e3f4041424300f153650000000050c1cfd4bc3a
    ad8bf7bc1a31ba4c73df1000808182838485868788898a8b8c8d8e8f03570000
    f15365000000000663692e6b6579b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1
    c2c3c4c5c6c7b10734adf280ba8fed70a7c289c6d96f62d28fbe83f149395f78
    0ec9a8ea967a0e3389b3fcf6b19a4371b4d48384ab7b`,
  'slot-area-record': `
    504b534c4f545300030000000000000002000165000101000000002000000000
    0000a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbd
    bebfc0c1c2c3c4c5c6c7c20b47556924b987e58d2f4a43b5b241327dbc572716
    6590747c873dc9a329196744a299509b4d5ec01f7f96c1d20fa4042c00600400
    0000000000b60000001320748dfe4a49150c0aedbf2afcf68da788aec32b5727
    54cefa0ed0e59e8a160000000000000000000000000000000000000000000000
    0000000000000000000000000000000000000000000000000000000000000000
    0000000000000000000000000000000000000000000000000000000000000000
    0000000000000000000000000000000000000000000000000000000000000000
    0000000000000000000000000000000000000000000000000000000000000000
    0000000000000000000000000000000000000000000000000000000000000000
    0000000000000000000000000000000000000000000000000000000000000000
    0000000000000000000000000000000000000000000000000000000000000000
    0000000000000000000000000000000000000000000000000000000000000000
    0000000000000000000000000000000000000000000000000000000000000000
    0000000000000000000000000000000095a556e609211e1e6b66e2e5a6c26a7f`,
  'segment-header': `
    504b5345474d54000200000000000000d2040000000000000000000000000000`,
  'index-delta': `
    0100000004000000010a007265706f732f64656d6f02c001000000008056febc
    78420110007265706f732f64656d6f2f746f6b656e018001000000008056febc
    78420a000000000000006004000000000000101112131415161718191a1b1c1d
    1e1f010f00746167732f70726f642f746f6b656e038001000000008056febc78
    4210007265706f732f64656d6f2f746f6b656e020e007265706f732f64656d6f
    2f6f6c64`,
  'index-ad': `
    504b494e44455800000102030405060708090a0b0c0d0e0f9204000000000000
    0200000000000000`,
  'index-block': `
    d0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e70cdf48b9fc375d3d
    fa329c92ffd25fbbe3d8ff2b9dc8e5bdc289fcafdc4f48827b52cd03e2e0b44a
    ad0e73fe7c95d39a7087b4e1742f9db6d6a066d0087a0fd1411af51ca680055c
    a3403c6df084a6cfee91c0c1b6b44eb969ba4eca628f427b8b8cef36c8e51637
    7eaeaab068762f8f416cf18cfde976f491c839e4d246b7a6bd7924507d27421a
    244f50f23486c2379221dfba2c3d4eeee3127848d2e0cd33007d0aedb6362e90
    e873bcbf36df44c160b9f412`,
  trailer: `
    504b545241494c00020000000000000040040000000000009204000000000000
    cc0000000100000000a60e0000000000cc000000000000000100000000000000
    0700000000000000320000000000000000000000000000000000000000000000
    a940fee73fd7219c050e931ffa7f702c2de8b53957f29f3d18f9e00221698043`,
  'header-v2': `
    504f4c594b4559000200000000000000000102030405060708090a0b0c0d0e0f
    000000000000000000000000000000009cc62f23b11ecbb7ff8ce915e980a321`,
  'chain-link': `
    562b566cb7e602447154cc8db8d4509c`,
  'trailer-v2': `
    504b545241494c000300000000000000de05000000000000fe05000000000000
    70000000010100005e050000000000003c010000000000000200000000000000
    07000000000000003200000000000000562b566cb7e602447154cc8db8d4509c
    24d47e62be01aa49e2f832c9bffcd64fe57672cc96f1e71cec55ccd7e84d44fd`,
  'chunk-ad': `
    504b4348554e4b00000102030405060708090a0b0c0d0e0f1011121314151617
    18191a1b1c1d1e1f0000000001`,
  chunk: `
    e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f742d4d7cf50194f84
    5e0c1a89a217216fdf641457f8abe0460b5f`,
  'member-65537-blake2b': `
    18983f2baec9b16f4f073d48989daaf77353276da854b73eee63de2bf875b4f6`,
  'audit-record': `
    263a536cb8dc25e1729720569ab438a690c68bf86c56f1e58292a4f6a64360c2`,
}

function docVectors(): Map<string, string> {
  const text = fs.readFileSync(path.join(ROOT, 'docs', 'FORMAT.md'), 'utf8')
  const out = new Map<string, string>()
  const re = /^vector (\S+)\n(?:.*\n)*?expect:\n((?:[ \t]+[0-9a-f ]+\n)+)/gm
  for (const m of text.matchAll(re)) out.set(m[1], m[2].replace(/\s+/g, ''))
  return out
}

const clean = (s: string) => s.replace(/\s+/g, '')

test('codec outputs for fixed inputs match the expect: values in this file and in docs/FORMAT.md', () => {
  const got = vectors()
  const doc = docVectors()
  for (const [name, bytes] of Object.entries(got)) {
    assert.ok(EXPECT[name], `no expect: value for ${name} (got ${bytes.toString('hex')})`)
    assert.equal(bytes.toString('hex'), clean(EXPECT[name]), `vector ${name}`)
    assert.equal(doc.get(name), clean(EXPECT[name]), `docs/FORMAT.md vector ${name}`)
  }
  assert.deepEqual([...doc.keys()].sort(), Object.keys(got).sort(), 'FORMAT.md lists exactly these vectors')
})

test('the vectors decode back to their inputs', () => {
  const v = vectors()
  assert.deepEqual(decodeHeader(v.header), { version: 1, fileId })
  const area = decodeSlotArea(v['slot-area'])!
  assert.equal(area.generation, 1)
  const out = secureBuffer(32)
  assert.ok(unwrapPassphraseSlot(v.header, v['argon2id-test'], area.slots[0] as PassphraseSlot, out))
  assert.ok(out.equals(master))
  const t = decodeTrailer(v.trailer, fileId, v['subkey-trailer'])!
  assert.equal(t.seq, 2)
  assert.equal(t.indexKind, 'delta')
  assert.equal(t.link, null, 'a version-1 trailer has no link')
  assert.deepEqual(decodeHeader(v['header-v2']), { version: 2, fileId })
  const t3 = decodeTrailer(v['trailer-v2'], fileId, v['subkey-trailer'])!
  assert.equal(t3.seq, 3)
  assert.equal(t3.prevTrailer, 1374)
  assert.ok(t3.link!.equals(v['chain-link']))
  const ops = decodeIndex(v['index-delta'])
  assert.equal(ops.kind, 'delta')
  assert.deepEqual(
    ops.ops.map((o) => (o.op === 'put' ? `${o.entry.type} ${o.entry.path}` : `delete ${o.path}`)),
    ['dir repos/demo', 'file repos/demo/token', 'link tags/prod/token', 'delete repos/demo/old'],
  )
  const plain = Buffer.alloc(10)
  decryptChunks(v['subkey-data'], fileId, tokenEntry, 0, v.chunk, plain, 0)
  assert.equal(plain.toString(), '0123456789')
})

test('worked size: a node with one 10-byte member is exactly the size FORMAT.md gives', (t) => {
  const dir = tmpdir(t)
  const file = path.join(dir, 'one.pk')
  const nf = NodeFile.create(file, Buffer.from('pw'), KDF_PROFILES.test, [{ op: 'put', path: 'repos/demo/token', type: 'file', data: Buffer.from('0123456789') }])
  const size = nf.fileSize
  nf.close()
  // 1088 (header + slot areas) + 32 (segment header) + 50 (chunk: 24 + 10 + 16)
  // + 112 (index block: 24 + 8 + 64 + 16) + 128 (trailer)
  assert.equal(size, 1410)
  assert.equal(fs.statSync(file).size, 1410)
  const edit = NodeFile.open(file, { passphrase: Buffer.from('pw') }, { writable: true })
  edit.commit([{ op: 'put', path: 'repos/demo/token', type: 'file', data: Buffer.from('9876543210') }])
  // 32 + 50 + 112 (a delta index with the one entry) + 128
  assert.equal(edit.fileSize - size, 322, 'one small edit (a delta index) grows the file by 322 bytes')
  edit.close()
})

test('the three-slot vector decodes back: the key file unwraps the master key, the gpg check matches', async () => {
  const { unwrapKeyFileSlot } = await import('../../src/archive/codec.js')
  const { deriveFromKeyFile, subkey, hash } = await import('../../src/crypto/index.js')
  const { gpgSlotCheckInput } = await import('../../src/archive/codec.js')
  const { keyFile } = await import('./vector-inputs.js')
  const v = vectors()
  const area = decodeSlotArea(v['slot-area-three'])!
  assert.deepEqual(
    area.slots.map((s) => s.type),
    ['passphrase', 'gpg', 'keyfile'],
  )
  const kf = area.slots[2]
  assert.ok(kf.type === 'keyfile' && kf.label === 'ci.key' && kf.added === 1_700_000_000)
  const out = secureBuffer(32)
  assert.ok(unwrapKeyFileSlot(v.header, deriveFromKeyFile(keyFile), kf, out))
  assert.ok(out.equals(master))
  const g = area.slots[1]
  assert.ok(g.type === 'gpg')
  assert.equal(g.fingerprint.toString('hex'), '303132333435363738393a3b3c3d3e3f40414243')
  assert.ok(hash(gpgSlotCheckInput(v.header, g), 16, subkey(master, 'slot')).equals(g.check))
})

test('the slot-record vectors decode back: the area points at the record, whose slots are the gpg and key-file slots', async () => {
  const { decodeSlotRecord } = await import('../../src/archive/codec.js')
  const { hash } = await import('../../src/crypto/index.js')
  const v = vectors()
  const area = decodeSlotArea(v['slot-area-record'])!
  assert.equal(area.generation, 3)
  assert.deepEqual(
    area.slots.map((s) => s.type),
    ['passphrase'],
  )
  assert.deepEqual(area.record, { offset: 1120, length: 182, hash: hash(v['slot-record'], 32) })
  const slots = decodeSlotRecord(v['slot-record'], fileId)
  const three = decodeSlotArea(v['slot-area-three'])!.slots
  assert.deepEqual(slots, three.slice(1), 'the same slots as slot-area-three holds after its passphrase slot')
  assert.throws(() => decodeSlotRecord(v['slot-record'], Buffer.alloc(16)), /belongs to another node/)
})
