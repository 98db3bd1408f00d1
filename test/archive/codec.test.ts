// The pure codecs (src/archive/codec.ts): every encoder round-trips byte for byte through its
// decoder (fast-check), and every decoder fed truncated, extended or random input answers
// CORRUPT (or "not this record": null) — never another exception, never a crash.
import test from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import {
  BODY_OFFSET,
  CHUNK_OVERHEAD,
  CHUNK_SIZE,
  FORMAT_VERSION,
  HEADER_SIZE,
  MAGIC,
  SEGMENT_HEADER_SIZE,
  SLOT_AREA_SIZE,
  TRAILER_SIZE,
  chunkCount,
  decodeHeader,
  decodeIndex,
  decodeSegmentHeader,
  decodeSlotArea,
  decodeSlotRecord,
  decodeTrailer,
  decryptChunks,
  encodeHeader,
  encodeIndex,
  encodeSegmentHeader,
  encodeSlotArea,
  encodeSlotRecord,
  encodeTrailer,
  encryptMember,
  storedSize,
  type Entry,
  type IndexOp,
  type Slot,
  type SlotArea,
  type Trailer,
} from '../../src/archive/codec.js'
import { KDF_BOUNDS, hash, randomBytes } from '../../src/crypto/index.js'
import { PolykeyError } from '../../src/errors.js'

const RUNS = { numRuns: 200 }

/** fn throws a PolykeyError with code CORRUPT (or UNSUPPORTED where allowed), or returns normally. */
function corruptOrValue<T>(fn: () => T, codes = ['CORRUPT']): T | undefined {
  try {
    return fn()
  } catch (err) {
    assert.ok(err instanceof PolykeyError, `expected a PolykeyError, got ${(err as Error)?.stack ?? err}`)
    assert.ok(codes.includes(err.code), `expected ${codes.join('|')}, got ${err.code}: ${err.message}`)
    return undefined
  }
}
function mustBeCorrupt(fn: () => unknown, codes = ['CORRUPT']): void {
  try {
    fn()
  } catch (err) {
    assert.ok(err instanceof PolykeyError, `expected a PolykeyError, got ${(err as Error)?.stack ?? err}`)
    assert.ok(codes.includes(err.code), `expected ${codes.join('|')}, got ${err.code}`)
    return
  }
  assert.fail('expected CORRUPT, the decoder accepted the input')
}

const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n }).map((a) => Buffer.from(a))
const u64 = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })
const u32 = fc.integer({ min: 0, max: 0xffffffff })
const component = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }).filter((c) => c !== '.' && c !== '..' && !c.includes('/') && !c.includes('\0'))
const archivePath = fc
  .array(component, { minLength: 1, maxLength: 4 })
  .map((cs) => cs.join('/'))
  .filter((p) => Buffer.byteLength(p) <= 4096)
const mtime = fc.double({ noNaN: true })
const mode = fc.integer({ min: 0, max: 0o7777 })

const entry: fc.Arbitrary<Entry> = fc.oneof(
  fc.record({ path: archivePath, mode, mtime, size: u64, offset: u64, blobId: bytes(16) }).map((r) => ({ ...r, type: 'file' as const, target: '' })),
  fc.record({ path: archivePath, mode, mtime }).map((r) => ({ ...r, type: 'dir' as const, size: 0, offset: 0, blobId: null, target: '' })),
  fc.record({ path: archivePath, mode, mtime, target: archivePath }).map((r) => ({ ...r, type: 'link' as const, size: 0, offset: 0, blobId: null })),
)
const op: fc.Arbitrary<IndexOp> = fc.oneof(
  entry.map((e) => ({ op: 'put' as const, entry: e })),
  archivePath.map((p) => ({ op: 'delete' as const, path: p })),
)
const trailer: fc.Arbitrary<Trailer> = fc
  .record({
    seq: u64,
    segStart: u64,
    indexOffset: u64,
    indexLength: u32,
    indexKind: fc.constantFrom('full' as const, 'delta' as const),
    prevTrailer: u64,
    chainBytes: u64,
    chainCount: u32,
    memberCount: u64,
    liveBytes: u64,
    link: fc.option(bytes(16), { nil: null }),
  })
  .map((r) => ({ ...r })) // fast-check records have a null prototype; decoders return plain objects
const slotArea: fc.Arbitrary<SlotArea> = fc
  .record({
    generation: u64,
    slots: fc.array(
      fc
        .record({
          type: fc.constant('passphrase' as const),
          params: fc
            .record({ opslimit: fc.integer({ min: KDF_BOUNDS.opsMin, max: KDF_BOUNDS.opsMax }), memlimit: fc.integer({ min: KDF_BOUNDS.memMin, max: KDF_BOUNDS.memMax }) })
            .map((r) => ({ ...r })),
          salt: bytes(16),
          nonce: bytes(24),
          wrapped: bytes(48),
        })
        .map((r) => ({ ...r })),
      { maxLength: 4 },
    ),
  })
  .map((r) => ({ ...r }))
/** Every strictly shorter prefix, or a sample of them for long inputs. */
function prefixes(b: Buffer): Buffer[] {
  const ns = b.length <= 300 ? [...Array(b.length).keys()] : [0, 1, 7, 8, 9, b.length >> 1, b.length - 17, b.length - 16, b.length - 1]
  return ns.map((n) => b.subarray(0, n))
}

// ------------------------------------------------------------------------------------- header
test('header: round-trips, and refuses truncated, damaged or foreign bytes', () => {
  fc.assert(
    fc.property(bytes(16), (fileId) => {
      const b = encodeHeader({ version: FORMAT_VERSION, fileId })
      assert.equal(b.length, HEADER_SIZE)
      const h = decodeHeader(b)
      assert.deepEqual(h, { version: FORMAT_VERSION, fileId })
      assert.ok(encodeHeader(h).equals(b), 'parse then serialise gives the same bytes')
      for (const p of prefixes(b)) mustBeCorrupt(() => decodeHeader(p))
    }),
    RUNS,
  )
  const good = encodeHeader({ version: 1, fileId: randomBytes(16) })
  for (let i = 0; i < HEADER_SIZE; i++) {
    for (const mask of [0x01, 0x80]) {
      const b = Buffer.from(good)
      b[i] ^= mask
      mustBeCorrupt(() => decodeHeader(b))
    }
  }
  // Both known versions read; a well-formed header from a later version is UNSUPPORTED (exit 4
  // as well), not CORRUPT.
  for (const version of [1, 2]) assert.equal(decodeHeader(encodeHeader({ version, fileId: randomBytes(16) })).version, version)
  const v3 = Buffer.from(good)
  v3.writeUInt16LE(3, 8)
  hash(v3.subarray(0, 48), 16).copy(v3, 48)
  mustBeCorrupt(() => decodeHeader(v3), ['UNSUPPORTED'])
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (a) => void corruptOrValue(() => decodeHeader(Buffer.from(a)))),
    RUNS,
  )
})

// ------------------------------------------------------------------------------------- slots
test('slot area: round-trips, and refuses truncated or damaged areas', () => {
  fc.assert(
    fc.property(slotArea, (a) => {
      const b = encodeSlotArea(a)
      assert.equal(b.length, SLOT_AREA_SIZE)
      const d = decodeSlotArea(b)
      assert.deepEqual(d, a)
      assert.ok(encodeSlotArea(d!).equals(b), 'parse then serialise gives the same bytes')
      for (const p of prefixes(b)) mustBeCorrupt(() => decodeSlotArea(p))
      const flipped = Buffer.from(b)
      flipped[Math.floor(Math.random() * SLOT_AREA_SIZE)] ^= 0x10
      mustBeCorrupt(() => decodeSlotArea(flipped))
    }),
    RUNS,
  )
  assert.equal(decodeSlotArea(Buffer.alloc(SLOT_AREA_SIZE)), null, 'an all-zero area is empty, not damaged')
})

test('slot area: hostile contents behind a valid checksum are CORRUPT, never a crash or a huge allocation', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: SLOT_AREA_SIZE - 16 - 8, maxLength: SLOT_AREA_SIZE - 16 - 8 }), (body) => {
      const b = Buffer.alloc(SLOT_AREA_SIZE)
      b.write('PKSLOTS\0', 0, 'latin1')
      Buffer.from(body).copy(b, 8)
      hash(b.subarray(0, SLOT_AREA_SIZE - 16), 16).copy(b, SLOT_AREA_SIZE - 16)
      const a = corruptOrValue(() => decodeSlotArea(b))
      for (const s of a?.slots ?? []) {
        if (s.type === 'passphrase') assert.ok(s.params.memlimit <= KDF_BOUNDS.memMax && s.params.opslimit <= KDF_BOUNDS.opsMax)
      }
    }),
    RUNS,
  )
})

const recordSlot: fc.Arbitrary<Slot> = fc.oneof(
  fc
    .record({
      type: fc.constant('gpg' as const),
      fingerprint: fc.oneof(bytes(20), bytes(32)),
      added: u64,
      check: bytes(16),
      message: fc.uint8Array({ maxLength: 700 }).map((a) => Buffer.from(a)),
    })
    .map((r) => ({ ...r })),
  fc.record({ type: fc.constant('keyfile' as const), added: u64, label: fc.stringMatching(/^[a-z.]{0,32}$/), nonce: bytes(24), wrapped: bytes(48) }).map((r) => ({ ...r })),
)

test('slot area with a slot-record pointer: round-trips; a second pointer or a malformed one is CORRUPT', () => {
  fc.assert(
    fc.property(slotArea, u64, fc.integer({ min: 0, max: 0xffffffff }), bytes(32), (a, offset, length, h) => {
      const withRecord = { ...a, slots: a.slots.slice(0, 3), record: { offset, length, hash: h } }
      const b = encodeSlotArea(withRecord)
      assert.deepEqual(decodeSlotArea(b), withRecord)
      for (const p of prefixes(b)) mustBeCorrupt(() => decodeSlotArea(p))
    }),
    RUNS,
  )
  // Two pointers: hand-made (writers never make them).
  const b = encodeSlotArea({ generation: 1, slots: [], record: { offset: 1120, length: 100, hash: Buffer.alloc(32, 1) } })
  b.copy(b, 18 + 47, 18, 18 + 47)
  b.writeUInt16LE(2, 16)
  hash(b.subarray(0, SLOT_AREA_SIZE - 16), 16).copy(b, SLOT_AREA_SIZE - 16)
  mustBeCorrupt(() => decodeSlotArea(b))
})

test('slot record: round-trips; truncated, extended, foreign or hostile records are CORRUPT, never a crash', () => {
  const fileId = Buffer.alloc(16, 7)
  fc.assert(
    fc.property(fc.array(recordSlot, { minLength: 1, maxLength: 6 }), (slots) => {
      const b = encodeSlotRecord(fileId, slots)
      assert.deepEqual(decodeSlotRecord(b, fileId), slots)
      for (const p of prefixes(b)) mustBeCorrupt(() => decodeSlotRecord(p, fileId))
      mustBeCorrupt(() => decodeSlotRecord(Buffer.concat([b, Buffer.alloc(1)]), fileId))
      mustBeCorrupt(() => decodeSlotRecord(b, Buffer.alloc(16, 8)))
    }),
    RUNS,
  )
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 400 }), (body) => {
      const b = Buffer.concat([Buffer.from('PKSLOTR\0', 'latin1'), fileId, Buffer.from(body)])
      for (const s of corruptOrValue(() => decodeSlotRecord(b, fileId)) ?? []) assert.notEqual(s.type, 'passphrase', 'a record never yields a passphrase slot')
    }),
    RUNS,
  )
  const kf: Slot = { type: 'keyfile', added: 1, label: '', nonce: Buffer.alloc(24), wrapped: Buffer.alloc(48) }
  assert.throws(
    () => encodeSlotRecord(fileId, Array(129).fill(kf)),
    (e: PolykeyError) => e.code === 'REFUSED' && /at most 128 slots/.test(e.message),
  )
  const many = encodeSlotRecord(fileId, Array(128).fill(kf))
  many.writeUInt16LE(129, 24)
  mustBeCorrupt(() => decodeSlotRecord(many, fileId))
})

// ------------------------------------------------------------------------------------- segments
test('segment header: round-trips; short or foreign bytes are not a segment header', () => {
  fc.assert(
    fc.property(u64, u64, (seq, length) => {
      const b = encodeSegmentHeader({ seq, length })
      assert.equal(b.length, SEGMENT_HEADER_SIZE)
      assert.deepEqual(decodeSegmentHeader(b), { seq, length })
      for (const p of prefixes(b)) assert.equal(decodeSegmentHeader(p), null)
      const foreign = Buffer.from(b)
      foreign[3] ^= 1
      assert.equal(decodeSegmentHeader(foreign), null)
    }),
    RUNS,
  )
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (a) => void corruptOrValue(() => decodeSegmentHeader(Buffer.from(a)))),
    RUNS,
  )
})

// ------------------------------------------------------------------------------------- trailer
test('trailer: round-trips under its key; any changed byte, other key or other file is rejected', () => {
  fc.assert(
    fc.property(trailer, bytes(16), bytes(32), fc.nat(TRAILER_SIZE - 1), (t, fileId, key, at) => {
      const b = encodeTrailer(t, fileId, key)
      assert.equal(b.length, TRAILER_SIZE)
      const d = decodeTrailer(b, fileId, key)
      assert.deepEqual(d, t)
      assert.ok(encodeTrailer(d!, fileId, key).equals(b), 'parse then serialise gives the same bytes')
      const flipped = Buffer.from(b)
      flipped[at] ^= 0x04
      assert.equal(decodeTrailer(flipped, fileId, key), null)
      const otherKey = Buffer.from(key)
      otherKey[0] ^= 1
      assert.equal(decodeTrailer(b, fileId, otherKey), null)
      const otherFile = Buffer.from(fileId)
      otherFile[15] ^= 1
      assert.equal(decodeTrailer(b, otherFile, key), null)
      for (const p of prefixes(b)) assert.equal(decodeTrailer(p, fileId, key), null)
    }),
    RUNS,
  )
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), bytes(32), (a, key) => void corruptOrValue(() => decodeTrailer(Buffer.from(a), Buffer.alloc(16), key))),
    RUNS,
  )
})

// ------------------------------------------------------------------------------------- index
test('index: full and delta blocks round-trip byte for byte', () => {
  fc.assert(
    fc.property(fc.constantFrom('full' as const, 'delta' as const), fc.array(op, { maxLength: 30 }), (kind, ops) => {
      const b = encodeIndex(kind, ops)
      const d = decodeIndex(b)
      assert.equal(d.kind, kind)
      assert.deepEqual(d.ops, ops)
      assert.ok(encodeIndex(d.kind, d.ops).equals(b), 'parse then serialise gives the same bytes')
    }),
    RUNS,
  )
})

test('index: truncated, extended, damaged or random blocks are CORRUPT', () => {
  fc.assert(
    fc.property(fc.array(op, { minLength: 1, maxLength: 10 }), fc.uint8Array({ minLength: 1, maxLength: 8 }), (ops, extra) => {
      const b = encodeIndex('delta', ops)
      for (const p of prefixes(b)) mustBeCorrupt(() => decodeIndex(p))
      mustBeCorrupt(() => decodeIndex(Buffer.concat([b, Buffer.from(extra)])))
    }),
    { numRuns: 60 },
  )
  const b = encodeIndex('full', [{ op: 'put', entry: { path: 'a/b', type: 'file', mode: 0o600, mtime: 1, size: 3, offset: BODY_OFFSET, blobId: Buffer.alloc(16), target: '' } }])
  for (let i = 0; i < b.length; i++) {
    for (const v of [0x00, 0xff, 0x2f, 0x2e]) {
      const c = Buffer.from(b)
      c[i] = v
      corruptOrValue(() => decodeIndex(c))
    }
  }
  for (const bad of ['', '/a', 'a/', 'a//b', '.', 'a/../b', 'a/./b', 'a\0b']) {
    const p = Buffer.from(bad)
    const raw = Buffer.concat([Buffer.from([1, 0, 0, 0, 1, 0, 0, 0, 2, p.length, 0]), p])
    mustBeCorrupt(() => decodeIndex(raw))
  }
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (a) => void corruptOrValue(() => decodeIndex(Buffer.from(a)))),
    { numRuns: 500 },
  )
  // A count of four billion entries in eight bytes fails fast rather than looping or allocating.
  mustBeCorrupt(() => decodeIndex(Buffer.from([0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff])))
})

// ------------------------------------------------------------------------------------- chunks
const BOUNDARY_SIZES = [0, 1, 10, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 2 * CHUNK_SIZE - 1, 2 * CHUNK_SIZE, 2 * CHUNK_SIZE + 1, 3 * CHUNK_SIZE + 7]

function member(size: number) {
  const key = randomBytes(32)
  const fileId = randomBytes(16)
  const blobId = randomBytes(16)
  const data = randomBytes(size)
  const stored = encryptMember(key, fileId, blobId, data, () => randomBytes(24))
  const e: Entry = { path: 'm', type: 'file', mode: 0o600, mtime: 0, size, offset: BODY_OFFSET, blobId, target: '' }
  return { key, fileId, blobId, data, stored, e }
}

test('chunks: members round-trip at and around every 64 KiB boundary; stored size is size + 40 per chunk', () => {
  for (const size of BOUNDARY_SIZES) {
    const m = member(size)
    assert.equal(m.stored.length, storedSize(size))
    assert.equal(storedSize(size), size + chunkCount(size) * CHUNK_OVERHEAD)
    assert.equal(chunkCount(size), Math.max(1, Math.ceil(size / CHUNK_SIZE)))
    const out = Buffer.alloc(size)
    decryptChunks(m.key, m.fileId, m.e, 0, m.stored, out, 0)
    assert.ok(out.equals(m.data), `size ${size}`)
    // Decrypting from a later chunk on (random access) gives the tail.
    for (let first = 1; first < chunkCount(size); first++) {
      const tail = Buffer.alloc(size - first * CHUNK_SIZE)
      decryptChunks(m.key, m.fileId, m.e, first, m.stored.subarray(first * (CHUNK_SIZE + CHUNK_OVERHEAD)), tail, 0)
      assert.ok(tail.equals(m.data.subarray(first * CHUNK_SIZE)))
    }
  }
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 3 * CHUNK_SIZE + 100 }), (size) => {
      const m = member(size)
      const out = Buffer.alloc(size)
      decryptChunks(m.key, m.fileId, m.e, 0, m.stored, out, 0)
      assert.ok(out.equals(m.data))
    }),
    { numRuns: 40 },
  )
})

test('chunks: truncated, flipped, reordered, re-sized or transplanted chunks are CORRUPT', () => {
  for (const size of BOUNDARY_SIZES) {
    const m = member(size)
    const out = Buffer.alloc(size)
    // decryptChunks is also the range reader: a prefix that ends on a chunk boundary is a
    // shorter range (the caller asks for whole chunks); any other prefix is a truncated chunk.
    const L = CHUNK_SIZE + CHUNK_OVERHEAD
    for (const p of prefixes(m.stored).filter((p) => p.length % L !== 0)) mustBeCorrupt(() => decryptChunks(m.key, m.fileId, m.e, 0, p, Buffer.alloc(size), 0))
    for (const at of [0, 23, 24, m.stored.length >> 1, m.stored.length - 1]) {
      const c = Buffer.from(m.stored)
      c[at] ^= 0x20
      mustBeCorrupt(() => decryptChunks(m.key, m.fileId, m.e, 0, c, out, 0))
    }
    // Another member (blob id), another file (file id) or another key: the chunks do not open.
    mustBeCorrupt(() => decryptChunks(m.key, m.fileId, { ...m.e, blobId: randomBytes(16) }, 0, m.stored, out, 0))
    mustBeCorrupt(() => decryptChunks(m.key, randomBytes(16), m.e, 0, m.stored, out, 0))
    mustBeCorrupt(() => decryptChunks(randomBytes(32), m.fileId, m.e, 0, m.stored, out, 0))
  }
  // Dropping the last chunk and shortening the size: the new last chunk was not sealed as final.
  const m = member(2 * CHUNK_SIZE + 5)
  const twoChunks = m.stored.subarray(0, 2 * (CHUNK_SIZE + CHUNK_OVERHEAD))
  mustBeCorrupt(() => decryptChunks(m.key, m.fileId, { ...m.e, size: 2 * CHUNK_SIZE }, 0, twoChunks, Buffer.alloc(2 * CHUNK_SIZE), 0))
  // Swapping two full chunks: each is bound to its position.
  const c = Buffer.from(m.stored)
  const L = CHUNK_SIZE + CHUNK_OVERHEAD
  m.stored.copy(c, 0, L, 2 * L)
  m.stored.copy(c, L, 0, L)
  mustBeCorrupt(() => decryptChunks(m.key, m.fileId, m.e, 0, c, Buffer.alloc(m.e.size), 0))
})

test('magic numbers are what FORMAT.md says', () => {
  assert.equal(MAGIC.toString('latin1'), 'POLYKEY\0')
  assert.equal(BODY_OFFSET, HEADER_SIZE + 2 * SLOT_AREA_SIZE)
  assert.equal(BODY_OFFSET, 1088)
})
