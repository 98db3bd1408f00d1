// Pure byte codecs for the node file (docs/FORMAT.md). No fs, no clock, no randomness: callers
// pass nonces and keys in. Every decoder checks lengths and bounds and throws CORRUPT.
import { corrupt, PolykeyError } from '../errors.js'
import { KDF_BOUNDS, type KdfParams, hash, equal, seal, open, NONCE_BYTES, TAG_BYTES } from '../crypto/index.js'

/** The version new node files are written in; readers accept every version in READ_VERSIONS. */
export const FORMAT_VERSION = 2
export const READ_VERSIONS: readonly number[] = [1, 2]
export const MAGIC = Buffer.from('POLYKEY\0', 'latin1')
export const HEADER_SIZE = 64
export const SLOT_AREA_SIZE = 512
export const SLOT_AREAS_OFFSET = HEADER_SIZE
export const BODY_OFFSET = HEADER_SIZE + 2 * SLOT_AREA_SIZE // 1088
export const SEGMENT_HEADER_SIZE = 32
export const TRAILER_SIZE = 128
export const CHUNK_SIZE = 64 * 1024
export const CHUNK_OVERHEAD = NONCE_BYTES + TAG_BYTES // 40
export const FILE_ID_BYTES = 16
export const BLOB_ID_BYTES = 16
export const MAX_PATH_BYTES = 4096

const SLOTS_MAGIC = Buffer.from('PKSLOTS\0', 'latin1')
const SEGMENT_MAGIC = Buffer.from('PKSEGMT\0', 'latin1')
export const TRAILER_MAGIC = Buffer.from('PKTRAIL\0', 'latin1')
const AD_SLOT = Buffer.from('PKSLOT\0\0', 'latin1')
const AD_INDEX = Buffer.from('PKINDEX\0', 'latin1')
const AD_CHUNK = Buffer.from('PKCHUNK\0', 'latin1')

const u64 = (b: Buffer, off: number): number => {
  // Fast path without BigInt (index decoding calls this twice per member): high word < 2^21.
  const hi = b.readUInt32LE(off + 4)
  if (hi < 0x200000) return hi * 0x100000000 + b.readUInt32LE(off)
  const v = b.readBigUInt64LE(off)
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw corrupt('node file: 64-bit field out of range', { offset: off })
  return Number(v)
}
const putU64 = (b: Buffer, off: number, v: number) => b.writeBigUInt64LE(BigInt(v), off)

// ---------------------------------------------------------------------------------------------
// Header: magic(8) version(2) flags(2) reserved(4) fileId(16) reserved(16) checksum(16)
export interface Header {
  version: number
  fileId: Buffer
}
export function encodeHeader(h: Header): Buffer {
  const b = Buffer.alloc(HEADER_SIZE)
  MAGIC.copy(b, 0)
  b.writeUInt16LE(h.version, 8)
  h.fileId.copy(b, 16)
  hash(b.subarray(0, 48), 16).copy(b, 48)
  return b
}
export function decodeHeader(b: Buffer): Header {
  if (b.length < HEADER_SIZE || !b.subarray(0, 8).equals(MAGIC)) throw new PolykeyError('CORRUPT', 'not a Polykey node file', { region: 'header' })
  if (!equal(hash(b.subarray(0, 48), 16), b.subarray(48, 64))) throw corrupt('node file header is corrupt', { region: 'header' })
  const version = b.readUInt16LE(8)
  if (!READ_VERSIONS.includes(version))
    throw new PolykeyError('UNSUPPORTED', `node file format version ${version} is not supported (this polykey reads versions ${READ_VERSIONS.join(' and ')})`, { version })
  return { version, fileId: Buffer.from(b.subarray(16, 32)) }
}

// ---------------------------------------------------------------------------------------------
// Key slots. A slot area: magic(8) generation(8) count(2) slots… zero padding, checksum(16) at 496.
// The checksum is not security (the wrap's AEAD tag is): it tells a damaged file (exit 4) from a
// wrong passphrase (exit 3).
export const SlotType = { passphrase: 1, gpg: 2, keyfile: 3 } as const
export type SlotKind = keyof typeof SlotType
export interface PassphraseSlot {
  type: 'passphrase'
  params: KdfParams
  salt: Buffer
  nonce: Buffer
  wrapped: Buffer // 32-byte master key sealed: 48 bytes
}
/** The master key as an OpenPGP message to one gpg key (decrypted by gpg, checked by `check`). */
export interface GpgSlot {
  type: 'gpg'
  fingerprint: Buffer // the recipient's primary key fingerprint, 20 (v4) or 32 (v5) bytes
  added: number // seconds since the epoch
  check: Buffer // 16 bytes: gpgSlotCheck() — tells the right key from any other gpg could return
  message: Buffer // binary OpenPGP message whose plaintext is the master key
}
/** The master key wrapped under a key derived from a 32-byte key file. */
export interface KeyFileSlot {
  type: 'keyfile'
  added: number // seconds since the epoch
  label: string // the key file's name when the slot was added (at most 32 bytes), for slot list
  nonce: Buffer
  wrapped: Buffer // 48 bytes
}
export type Slot = PassphraseSlot | GpgSlot | KeyFileSlot
export interface SlotArea {
  generation: number
  slots: Slot[]
  /** the area's slot-record pointer (type 4): where the slots that do not fit the area are */
  record?: SlotRecordPointer | null
}
/**
 * A slot area's pointer to its slot record (docs/FORMAT.md §Slot records): the record's offset
 * and length in the body, and BLAKE2b-32 of its bytes.
 */
export interface SlotRecordPointer {
  offset: number
  length: number
  hash: Buffer
}
/** Slot type 4: not a key, the pointer to the area's slot record. */
export const SLOT_RECORD_TYPE = 4
export const SLOT_RECORD_POINTER_BODY = 8 + 4 + 32
/** What a pointer costs in an area: type, length, body. */
export const SLOT_RECORD_POINTER_SIZE = 3 + SLOT_RECORD_POINTER_BODY
export const SLOT_RECORD_MAGIC = Buffer.from('PKSLOTR\0', 'latin1')
/** A record's header: magic, file id, slot count. */
export const SLOT_RECORD_HEADER = 8 + 16 + 2
/** The largest slot record written or read (a reader refuses a pointer to more before reading it). */
export const SLOT_RECORD_MAX = 64 * 1024
/** At most this many slots in a record: an open tries each gpg slot with a gpg process, so a crafted record cannot make it start thousands. */
export const SLOT_RECORD_MAX_SLOTS = 128
const PASS_SLOT_BODY = 1 + 4 + 8 + 16 + 24 + 48
/** Room for slots in an area: after magic, generation and count, before the checksum. */
export const SLOT_ROOM = SLOT_AREA_SIZE - 16 - 18
export const KEYFILE_LABEL_MAX = 32

function passphraseSlotAd(headerBytes: Buffer, s: Omit<PassphraseSlot, 'wrapped' | 'nonce'>): Buffer {
  const p = Buffer.alloc(1 + 4 + 8)
  p.writeUInt8(1, 0)
  p.writeUInt32LE(s.params.opslimit, 1)
  putU64(p, 5, s.params.memlimit)
  return Buffer.concat([AD_SLOT, headerBytes.subarray(0, 32), Buffer.from([SlotType.passphrase]), p, s.salt])
}
export function wrapPassphraseSlot(headerBytes: Buffer, kek: Buffer, master: Buffer, params: KdfParams, salt: Buffer, nonce: Buffer): PassphraseSlot {
  const ad = passphraseSlotAd(headerBytes, { type: 'passphrase', params, salt })
  return { type: 'passphrase', params, salt, nonce, wrapped: seal(kek, nonce, master, ad) }
}
/** The master key, or null if kek is the wrong key. `out` should be secure memory. */
export function unwrapPassphraseSlot(headerBytes: Buffer, kek: Buffer, s: PassphraseSlot, out: Buffer): Buffer | null {
  return open(kek, s.nonce, s.wrapped, passphraseSlotAd(headerBytes, s), out)
}

function keyFileSlotAd(headerBytes: Buffer, added: number, label: string): Buffer {
  const l = Buffer.from(label, 'utf8')
  const p = Buffer.alloc(9)
  putU64(p, 0, added)
  p.writeUInt8(l.length, 8)
  return Buffer.concat([AD_SLOT, headerBytes.subarray(0, 32), Buffer.from([SlotType.keyfile]), p, l])
}
/** `kek` is deriveFromKeyFile(key file bytes) (src/crypto). */
export function wrapKeyFileSlot(headerBytes: Buffer, kek: Buffer, master: Buffer, added: number, label: string, nonce: Buffer): KeyFileSlot {
  if (Buffer.byteLength(label) > KEYFILE_LABEL_MAX) throw new PolykeyError('USAGE', `key-file label longer than ${KEYFILE_LABEL_MAX} bytes`)
  return { type: 'keyfile', added, label, nonce, wrapped: seal(kek, nonce, master, keyFileSlotAd(headerBytes, added, label)) }
}
export function unwrapKeyFileSlot(headerBytes: Buffer, kek: Buffer, s: KeyFileSlot, out: Buffer): Buffer | null {
  return open(kek, s.nonce, s.wrapped, keyFileSlotAd(headerBytes, s.added, s.label), out)
}

/**
 * What a gpg slot's check covers: the header, the slot's fields and its message. The check is
 * BLAKE2b-16 keyed with the master key's 'slot' subkey, so only the real master key matches it.
 */
export function gpgSlotCheckInput(headerBytes: Buffer, s: Omit<GpgSlot, 'check'>): Buffer {
  const p = Buffer.alloc(1 + s.fingerprint.length + 8 + 2)
  p.writeUInt8(s.fingerprint.length, 0)
  s.fingerprint.copy(p, 1)
  putU64(p, 1 + s.fingerprint.length, s.added)
  p.writeUInt16LE(s.message.length, 9 + s.fingerprint.length)
  return Buffer.concat([AD_SLOT, headerBytes.subarray(0, 32), Buffer.from([SlotType.gpg]), p, s.message])
}

/** type byte, then the slot body as stored (docs/FORMAT.md). */
export function encodeSlotBody(s: Slot): Buffer {
  if (s.type === 'passphrase') {
    const b = Buffer.alloc(PASS_SLOT_BODY)
    b.writeUInt8(1, 0) // alg 1 = Argon2id v1.3
    b.writeUInt32LE(s.params.opslimit, 1)
    putU64(b, 5, s.params.memlimit)
    s.salt.copy(b, 13)
    s.nonce.copy(b, 29)
    s.wrapped.copy(b, 53)
    return b
  }
  if (s.type === 'gpg') {
    const f = s.fingerprint.length
    const b = Buffer.alloc(1 + f + 8 + 16 + 2 + s.message.length)
    b.writeUInt8(f, 0)
    s.fingerprint.copy(b, 1)
    putU64(b, 1 + f, s.added)
    s.check.copy(b, 9 + f)
    b.writeUInt16LE(s.message.length, 25 + f)
    s.message.copy(b, 27 + f)
    return b
  }
  const l = Buffer.from(s.label, 'utf8')
  const b = Buffer.alloc(8 + 1 + l.length + 24 + 48)
  putU64(b, 0, s.added)
  b.writeUInt8(l.length, 8)
  l.copy(b, 9)
  s.nonce.copy(b, 9 + l.length)
  s.wrapped.copy(b, 33 + l.length)
  return b
}

/** Bytes a slot takes in an area (type, length, body). */
export function slotSize(s: Slot): number {
  return 3 + encodeSlotBody(s).length
}

/** A slot's id for `slot list` / `slot rm`: 8 hex digits of BLAKE2b over its type and body. */
export function slotId(s: Slot): string {
  return hash(Buffer.concat([Buffer.from([SlotType[s.type]]), encodeSlotBody(s)]), 16)
    .subarray(0, 4)
    .toString('hex')
}

export function encodeSlotArea(a: SlotArea): Buffer {
  const b = Buffer.alloc(SLOT_AREA_SIZE)
  SLOTS_MAGIC.copy(b, 0)
  putU64(b, 8, a.generation)
  b.writeUInt16LE(a.slots.length + (a.record ? 1 : 0), 16)
  const need = a.slots.reduce((n, x) => n + slotSize(x), 0) + (a.record ? SLOT_RECORD_POINTER_SIZE : 0)
  if (need > SLOT_ROOM) throw new PolykeyError('REFUSED', `no room for these key slots: the slot area holds ${SLOT_ROOM} bytes of slots, these need ${need}`, { region: 'slots' })
  let off = 18
  for (const s of a.slots) {
    const body = encodeSlotBody(s)
    b.writeUInt8(SlotType[s.type], off)
    b.writeUInt16LE(body.length, off + 1)
    body.copy(b, off + 3)
    off += 3 + body.length
  }
  if (a.record) {
    b.writeUInt8(SLOT_RECORD_TYPE, off)
    b.writeUInt16LE(SLOT_RECORD_POINTER_BODY, off + 1)
    putU64(b, off + 3, a.record.offset)
    b.writeUInt32LE(a.record.length, off + 11)
    a.record.hash.copy(b, off + 15)
  }
  hash(b.subarray(0, SLOT_AREA_SIZE - 16), 16).copy(b, SLOT_AREA_SIZE - 16)
  return b
}

function decodeSlotBody(type: number, body: Buffer): Slot | null {
  if (type === SlotType.passphrase && body.length === PASS_SLOT_BODY && body.readUInt8(0) === 1) {
    const opslimit = body.readUInt32LE(1)
    const memlimit = u64(body, 5)
    if (opslimit < KDF_BOUNDS.opsMin || opslimit > KDF_BOUNDS.opsMax || memlimit < KDF_BOUNDS.memMin || memlimit > KDF_BOUNDS.memMax)
      throw corrupt(
        `node key slot asks for Argon2id with ${opslimit} passes over ${showBytes(memlimit)}, ${opslimit < KDF_BOUNDS.opsMin || memlimit < KDF_BOUNDS.memMin ? 'below' : 'above'} what polykey accepts (at most ${KDF_BOUNDS.opsMax} passes, ${showBytes(KDF_BOUNDS.memMax)}): a damaged or crafted file`,
        { region: 'slots', kdf: true, opslimit, memlimit },
      )
    return {
      type: 'passphrase',
      params: { opslimit, memlimit },
      salt: Buffer.from(body.subarray(13, 29)),
      nonce: Buffer.from(body.subarray(29, 53)),
      wrapped: Buffer.from(body.subarray(53, 101)),
    }
  }
  if (type === SlotType.gpg && body.length >= 1) {
    const f = body.readUInt8(0)
    if ((f !== 20 && f !== 32) || body.length < 27 + f || body.readUInt16LE(25 + f) !== body.length - 27 - f) throw corrupt('gpg key slot is malformed', { region: 'slots' })
    return {
      type: 'gpg',
      fingerprint: Buffer.from(body.subarray(1, 1 + f)),
      added: u64(body, 1 + f),
      check: Buffer.from(body.subarray(9 + f, 25 + f)),
      message: Buffer.from(body.subarray(27 + f)),
    }
  }
  if (type === SlotType.keyfile && body.length >= 9) {
    const l = body.readUInt8(8)
    if (l > KEYFILE_LABEL_MAX || body.length !== 9 + l + 72) throw corrupt('key-file slot is malformed', { region: 'slots' })
    return {
      type: 'keyfile',
      added: u64(body, 0),
      label: body.subarray(9, 9 + l).toString('utf8'),
      nonce: Buffer.from(body.subarray(9 + l, 33 + l)),
      wrapped: Buffer.from(body.subarray(33 + l, 81 + l)),
    }
  }
  return null // unknown slot types are skipped: a newer writer may add kinds an older reader cannot use
}

/** The type-length-value slots of an area or a record, from `off` to `end` (exclusive). */
function* slotTlvs(b: Buffer, off: number, end: number, count: number): Generator<{ type: number; body: Buffer; at: number }, number> {
  for (let i = 0; i < count; i++) {
    if (off + 3 > end) throw corrupt('key slot area overflows', { region: 'slots' })
    const type = b.readUInt8(off)
    const len = b.readUInt16LE(off + 1)
    if (off + 3 + len > end) throw corrupt('key slot overflows its area', { region: 'slots' })
    yield { type, body: b.subarray(off + 3, off + 3 + len), at: off }
    off += 3 + len
  }
  return off
}

/** null for an empty (all-zero) area; throws CORRUPT for a damaged one. */
export function decodeSlotArea(b: Buffer): SlotArea | null {
  if (b.length !== SLOT_AREA_SIZE) throw corrupt('key slot area truncated', { region: 'slots' })
  if (b.every((x) => x === 0)) return null
  if (!b.subarray(0, 8).equals(SLOTS_MAGIC) || !equal(hash(b.subarray(0, SLOT_AREA_SIZE - 16), 16), b.subarray(SLOT_AREA_SIZE - 16)))
    throw corrupt('key slot area is corrupt', { region: 'slots' })
  const generation = u64(b, 8)
  const slots: Slot[] = []
  let record: SlotRecordPointer | null = null
  for (const { type, body } of slotTlvs(b, 18, SLOT_AREA_SIZE - 16, b.readUInt16LE(16))) {
    if (type === SLOT_RECORD_TYPE) {
      if (record || body.length !== SLOT_RECORD_POINTER_BODY) throw corrupt('key slot area has a malformed slot-record pointer', { region: 'slots' })
      record = { offset: u64(body, 0), length: body.readUInt32LE(8), hash: Buffer.from(body.subarray(12, 44)) }
      continue
    }
    const s = decodeSlotBody(type, body)
    if (s) slots.push(s)
  }
  return record ? { generation, slots, record } : { generation, slots }
}

/**
 * A slot record: magic, the node's file id, slot count u16, then slots as in an area, nothing
 * after them. Never holds a passphrase slot (they stay in the area: the Argon2id bound per
 * open is the area's) or a pointer.
 */
export function encodeSlotRecord(fileId: Buffer, slots: Slot[]): Buffer {
  const bodies = slots.map((s) => {
    if (s.type === 'passphrase') throw new PolykeyError('INTERNAL', 'a passphrase slot belongs in the slot area, not in a slot record')
    return encodeSlotBody(s)
  })
  const length = SLOT_RECORD_HEADER + bodies.reduce((n, x) => n + 3 + x.length, 0)
  if (slots.length > SLOT_RECORD_MAX_SLOTS)
    throw new PolykeyError(
      'REFUSED',
      `no room for these key slots: a slot record holds at most ${SLOT_RECORD_MAX_SLOTS} slots`,
      { region: 'slots' },
      { hint: 'remove a slot first (polykey slot rm)' },
    )
  if (length > SLOT_RECORD_MAX)
    throw new PolykeyError(
      'REFUSED',
      `no room for these key slots: a slot record holds at most ${SLOT_RECORD_MAX} bytes, these need ${length}`,
      { region: 'slots' },
      { hint: 'remove a slot first (polykey slot rm)' },
    )
  const b = Buffer.alloc(length)
  SLOT_RECORD_MAGIC.copy(b, 0)
  fileId.copy(b, 8)
  b.writeUInt16LE(slots.length, 24)
  let off = SLOT_RECORD_HEADER
  slots.forEach((s, i) => {
    b.writeUInt8(SlotType[s.type], off)
    b.writeUInt16LE(bodies[i].length, off + 1)
    bodies[i].copy(b, off + 3)
    off += 3 + bodies[i].length
  })
  return b
}

/** The pointer an area keeps to a record written at `offset`. */
export function slotRecordPointer(offset: number, record: Buffer): SlotRecordPointer {
  return { offset, length: record.length, hash: hash(record, 32) }
}

/** The slots of a record already matched against its pointer's hash; throws CORRUPT. */
export function decodeSlotRecord(b: Buffer, fileId: Buffer): Slot[] {
  if (b.length < SLOT_RECORD_HEADER || !b.subarray(0, 8).equals(SLOT_RECORD_MAGIC)) throw corrupt('key slot record is corrupt (no record magic)', { region: 'slots' })
  if (!b.subarray(8, 24).equals(fileId)) throw corrupt("key slot record belongs to another node (its file id is not this node's)", { region: 'slots' })
  const slots: Slot[] = []
  const count = b.readUInt16LE(24)
  if (count > SLOT_RECORD_MAX_SLOTS)
    throw corrupt(`key slot record claims ${count} slots, more than the ${SLOT_RECORD_MAX_SLOTS} polykey writes: a damaged or crafted file`, { region: 'slots' })
  const tlvs = slotTlvs(b, SLOT_RECORD_HEADER, b.length, count)
  let r = tlvs.next()
  for (; !r.done; r = tlvs.next()) {
    const { type, body } = r.value
    if (type === SlotType.passphrase || type === SLOT_RECORD_TYPE)
      throw corrupt(`key slot record holds a ${type === SLOT_RECORD_TYPE ? 'pointer' : 'passphrase slot'}: a damaged or crafted file`, { region: 'slots' })
    const s = decodeSlotBody(type, body)
    if (s) slots.push(s)
  }
  if (r.value !== b.length) throw corrupt('key slot record has bytes after its slots', { region: 'slots' })
  return slots
}

/** The area's bytes with its pointer moved to `offset` (compaction moves records), checksum redone; unknown slots kept as they are. */
export function relocateSlotRecord(area: Buffer, offset: number): Buffer {
  const b = Buffer.from(area)
  for (const { type, at } of slotTlvs(b, 18, SLOT_AREA_SIZE - 16, b.readUInt16LE(16))) if (type === SLOT_RECORD_TYPE) putU64(b, at + 3, offset)
  hash(b.subarray(0, SLOT_AREA_SIZE - 16), 16).copy(b, SLOT_AREA_SIZE - 16)
  return b
}

function showBytes(n: number): string {
  if (n >= 2 ** 30) return `${Math.round(n / 2 ** 30)} GiB`
  if (n >= 2 ** 20) return `${Math.round(n / 2 ** 20)} MiB`
  return `${Math.round(n / 2 ** 10)} KiB`
}

// ---------------------------------------------------------------------------------------------
// Segment header: magic(8) seq(8) length(8) reserved(8). length covers header..trailer inclusive.
export interface SegmentHeader {
  seq: number
  length: number
}
export function encodeSegmentHeader(h: SegmentHeader): Buffer {
  const b = Buffer.alloc(SEGMENT_HEADER_SIZE)
  SEGMENT_MAGIC.copy(b, 0)
  putU64(b, 8, h.seq)
  putU64(b, 16, h.length)
  return b
}
export function decodeSegmentHeader(b: Buffer): SegmentHeader | null {
  if (b.length < SEGMENT_HEADER_SIZE || !b.subarray(0, 8).equals(SEGMENT_MAGIC)) return null
  return { seq: u64(b, 8), length: u64(b, 16) }
}

// ---------------------------------------------------------------------------------------------
// Trailer (128 bytes), authenticated by a keyed BLAKE2b-256 MAC over fileId || bytes[0..96].
// Since format version 2 a trailer also holds a link to the save before it (flags bit 0, link at
// 80..96): an offset alone names a place, and a copy of the node that diverged has an authentic
// trailer at the same place; the link names its content.
export const LINK_BYTES = 16
export const LINKED_TAIL_BYTES = TAG_BYTES + 128 // what a link covers: the index block's tag, then the trailer
const TRAILER_FLAG_LINKED = 1
export interface Trailer {
  seq: number
  segStart: number
  indexOffset: number
  indexLength: number
  indexKind: 'full' | 'delta'
  prevTrailer: number // offset of the previous trailer, 0 for the first segment
  chainBytes: number // bytes of delta index blocks since the last full index (this one included)
  chainCount: number
  memberCount: number
  liveBytes: number // stored bytes of the live members' chunks
  /** BLAKE2b-16 of the previous save's tail (chainLink); absent in the first segment and in version-1 writers' trailers */
  link?: Buffer | null
}
/**
 * The link to a save: BLAKE2b-16 of its last 144 bytes — the 16-byte tag that ends its index
 * block (which directly precedes its trailer), then its 128-byte trailer. The trailer pins the
 * index block's place, length, seq and counters; the tag pins the block's content (its nonce and
 * every entry, through the AEAD).
 */
export function chainLink(tail: Buffer): Buffer {
  if (tail.length !== LINKED_TAIL_BYTES) throw new PolykeyError('INTERNAL', 'chainLink: wrong length')
  return hash(tail, LINK_BYTES)
}
export function encodeTrailer(t: Trailer, fileId: Buffer, macKey: Buffer): Buffer {
  const b = Buffer.alloc(TRAILER_SIZE)
  TRAILER_MAGIC.copy(b, 0)
  putU64(b, 8, t.seq)
  putU64(b, 16, t.segStart)
  putU64(b, 24, t.indexOffset)
  b.writeUInt32LE(t.indexLength, 32)
  b.writeUInt8(t.indexKind === 'full' ? 0 : 1, 36)
  if (t.link) {
    if (t.link.length !== LINK_BYTES) throw new PolykeyError('INTERNAL', 'trailer link must be 16 bytes')
    b.writeUInt8(TRAILER_FLAG_LINKED, 37)
    t.link.copy(b, 80)
  }
  putU64(b, 40, t.prevTrailer)
  putU64(b, 48, t.chainBytes)
  b.writeUInt32LE(t.chainCount, 56)
  putU64(b, 64, t.memberCount)
  putU64(b, 72, t.liveBytes)
  hash(Buffer.concat([fileId, b.subarray(0, 96)]), 32, macKey).copy(b, 96)
  return b
}
/** null when the bytes are not an authentic trailer of this file. */
export function decodeTrailer(b: Buffer, fileId: Buffer, macKey: Buffer): Trailer | null {
  if (b.length !== TRAILER_SIZE || !b.subarray(0, 8).equals(TRAILER_MAGIC)) return null
  if (!equal(hash(Buffer.concat([fileId, b.subarray(0, 96)]), 32, macKey), b.subarray(96, 128))) return null
  const kind = b.readUInt8(36)
  const flags = b.readUInt8(37)
  if (kind > 1 || flags > TRAILER_FLAG_LINKED) return null
  return {
    seq: u64(b, 8),
    segStart: u64(b, 16),
    indexOffset: u64(b, 24),
    indexLength: b.readUInt32LE(32),
    indexKind: kind === 0 ? 'full' : 'delta',
    prevTrailer: u64(b, 40),
    chainBytes: u64(b, 48),
    chainCount: b.readUInt32LE(56),
    memberCount: u64(b, 64),
    liveBytes: u64(b, 72),
    link: flags & TRAILER_FLAG_LINKED ? Buffer.from(b.subarray(80, 96)) : null,
  }
}

// ---------------------------------------------------------------------------------------------
// Index entries. An index block is a list of operations; a full block lists every live member.
export type EntryType = 'file' | 'dir' | 'link'
export interface Entry {
  path: string
  type: EntryType
  mode: number // permission bits (0o7777)
  mtime: number // milliseconds since the epoch (fractions allowed)
  size: number // files: plaintext bytes
  offset: number // files: file offset of the first chunk
  blobId: Buffer | null // files: binds the chunks (associated data)
  target: string // links: path of the member this is a hardlink to
}
export type IndexOp = { op: 'put'; entry: Entry } | { op: 'delete'; path: string }
const TYPE_CODE: Record<EntryType, number> = { file: 1, dir: 2, link: 3 }
const CODE_TYPE: Record<number, EntryType> = { 1: 'file', 2: 'dir', 3: 'link' }

/** Archive paths: relative, '/'-separated, no empty/'.'/'..' components, no NUL. */
export function isValidPath(p: string): boolean {
  // One pass over the characters (opening a node checks every member path).
  const n = p.length
  if (n === 0 || n > MAX_PATH_BYTES || (n * 3 > MAX_PATH_BYTES && Buffer.byteLength(p) > MAX_PATH_BYTES)) return false
  let start = 0
  for (let i = 0; i <= n; i++) {
    const c = i === n ? 0x2f : p.charCodeAt(i)
    if (c === 0) return false
    if (c !== 0x2f) continue
    const len = i - start
    if (len === 0 || (len <= 2 && p.charCodeAt(start) === 0x2e && (len === 1 || p.charCodeAt(start + 1) === 0x2e))) return false
    start = i + 1
  }
  return true
}

export function encodeIndex(kind: 'full' | 'delta', ops: IndexOp[]): Buffer {
  const parts: Buffer[] = []
  const head = Buffer.alloc(8)
  head.writeUInt8(kind === 'full' ? 0 : 1, 0)
  head.writeUInt32LE(ops.length, 4)
  parts.push(head)
  for (const o of ops) {
    const path = Buffer.from(o.op === 'put' ? o.entry.path : o.path)
    if (o.op === 'delete') {
      const b = Buffer.alloc(3)
      b.writeUInt8(2, 0)
      b.writeUInt16LE(path.length, 1)
      parts.push(b, path)
      continue
    }
    const e = o.entry
    const b = Buffer.alloc(3 + 1 + 4 + 8)
    b.writeUInt8(1, 0)
    b.writeUInt16LE(path.length, 1)
    b.writeUInt8(TYPE_CODE[e.type], 3)
    b.writeUInt32LE(e.mode & 0o7777, 4)
    b.writeDoubleLE(e.mtime, 8)
    parts.push(b.subarray(0, 3), path, b.subarray(3))
    if (e.type === 'file') {
      const f = Buffer.alloc(16)
      putU64(f, 0, e.size)
      putU64(f, 8, e.offset)
      parts.push(f, e.blobId!)
    } else if (e.type === 'link') {
      const t = Buffer.from(e.target)
      const l = Buffer.alloc(2)
      l.writeUInt16LE(t.length, 0)
      parts.push(l, t)
    }
  }
  return Buffer.concat(parts)
}

export function decodeIndex(b: Buffer): { kind: 'full' | 'delta'; ops: IndexOp[] } {
  // Written as one flat loop without closures: opening a node decodes every member's entry.
  const bad = (why: string) => corrupt(`node index is corrupt (${why})`, { region: 'index' })
  const len = b.length
  if (len < 8) throw bad('short')
  const kindCode = b[0]
  if (kindCode > 1) throw bad('kind')
  const count = b.readUInt32LE(4)
  const ops: IndexOp[] = []
  let off = 8
  for (let i = 0; i < count; i++) {
    if (off + 3 > len) throw bad('truncated entry')
    const op = b[off]
    const plen = b[off + 1] | (b[off + 2] << 8)
    off += 3
    if (off + plen > len) throw bad('truncated entry')
    const path = b.toString('utf8', off, off + plen)
    off += plen
    if (!isValidPath(path)) throw bad('bad path')
    if (op === 2) {
      ops.push({ op: 'delete', path })
      continue
    }
    if (op !== 1) throw bad('op')
    if (off + 13 > len) throw bad('truncated entry')
    const type = CODE_TYPE[b[off]]
    if (!type) throw bad('type')
    const mode = b.readUInt32LE(off + 1)
    const mtime = b.readDoubleLE(off + 5)
    off += 13
    const entry: Entry = { path, type, mode, mtime, size: 0, offset: 0, blobId: null, target: '' }
    if (type === 'file') {
      if (off + 32 > len) throw bad('truncated entry')
      entry.size = u64(b, off)
      entry.offset = u64(b, off + 8)
      entry.blobId = Buffer.from(b.subarray(off + 16, off + 32))
      off += 32
    } else if (type === 'link') {
      if (off + 2 > len) throw bad('truncated entry')
      const tl = b[off] | (b[off + 1] << 8)
      off += 2
      if (off + tl > len) throw bad('truncated entry')
      entry.target = b.toString('utf8', off, off + tl)
      off += tl
      if (!isValidPath(entry.target)) throw bad('bad path')
    }
    ops.push({ op: 'put', entry })
  }
  if (off !== len) throw bad('trailing bytes')
  return { kind: kindCode === 0 ? 'full' : 'delta', ops }
}

/**
 * The entry for `path` in an index block, found by walking its bytes without decoding the other
 * entries (a lookup in a large node before it is worth decoding whole). The last operation on the
 * path wins: its entry, null for a delete, undefined when the block does not name it.
 */
export function findInIndex(b: Buffer, path: Buffer): Entry | null | undefined {
  const bad = (why: string) => corrupt(`node index is corrupt (${why})`, { region: 'index' })
  const len = b.length
  if (len < 8 || b[0] > 1) throw bad('short')
  const count = b.readUInt32LE(4)
  const plen = path.length
  let found = -1
  let off = 8
  for (let i = 0; i < count; i++) {
    if (off + 3 > len) throw bad('truncated entry')
    const start = off
    const n = b[off + 1] | (b[off + 2] << 8)
    off += 3
    if (n === plen && off + n <= len) {
      let k = n - 1 // paths share prefixes: compare from the end
      while (k >= 0 && b[off + k] === path[k]) k--
      if (k < 0) found = start
    }
    off += n
    if (b[start] === 1) off = afterPut(b, off, bad)
  }
  if (off !== len) throw bad('trailing bytes')
  if (found < 0) return undefined
  // Decode the one entry through the full decoder (all of its checks) as a one-entry block.
  let end = found + 3 + plen
  if (b[found] === 1) {
    const type = b[end]
    end += 13 + (type === 1 ? 32 : type === 3 ? 2 + (b[end + 13] | (b[end + 14] << 8)) : 0)
  }
  const one = Buffer.alloc(8 + end - found)
  one.writeUInt32LE(1, 4)
  b.copy(one, 8, found, end)
  const [op] = decodeIndex(one).ops
  return op.op === 'put' ? op.entry : null
}

/** Where a put entry's fields (after its path, at `off`) end: 13 bytes, then a file's 32-byte blob id or a link's target. */
function afterPut(b: Buffer, off: number, bad: (why: string) => Error): number {
  if (off + 13 > b.length) throw bad('truncated entry')
  const type = b[off]
  off += 13
  if (type === 1) return off + 32
  if (type === 3) {
    if (off + 2 > b.length) throw bad('truncated entry')
    return off + 2 + (b[off] | (b[off + 1] << 8))
  }
  return off
}

/**
 * Paths of the file entries (puts of type file) of an index block that start with `prefix`,
 * found by walking its bytes as findInIndex does: counting what lies under a folder of a large
 * node (a repository's loose git objects) without decoding the whole block.
 */
export function filesInIndex(b: Buffer, prefix: Buffer): string[] {
  const bad = (why: string) => corrupt(`node index is corrupt (${why})`, { region: 'index' })
  const len = b.length
  if (len < 8 || b[0] > 1) throw bad('short')
  const count = b.readUInt32LE(4)
  const plen = prefix.length
  const out: string[] = []
  let off = 8
  for (let i = 0; i < count; i++) {
    if (off + 3 > len) throw bad('truncated entry')
    const start = off
    const n = b[off + 1] | (b[off + 2] << 8)
    off += 3
    const pathAt = off
    off += n
    if (b[start] !== 1) continue
    const type = b[off]
    off = afterPut(b, off, bad)
    if (type === 1 && n > plen && b.compare(prefix, 0, plen, pathAt, pathAt + plen) === 0) out.push(b.toString('utf8', pathAt, pathAt + n))
  }
  if (off !== len) throw bad('trailing bytes')
  return out
}

export function indexAd(fileId: Buffer, offset: number, seq: number): Buffer {
  const b = Buffer.alloc(8 + 16 + 16)
  AD_INDEX.copy(b, 0)
  fileId.copy(b, 8)
  putU64(b, 24, offset)
  putU64(b, 32, seq)
  return b
}

// ---------------------------------------------------------------------------------------------
// Member chunks: nonce(24) || ciphertext || tag(16), at most CHUNK_SIZE plaintext each. The
// associated data binds each chunk to the file, its member (blob id), its position and whether it
// is the last one, so chunks cannot be moved, reordered, dropped or spliced between members.
export function chunkCount(size: number): number {
  return Math.max(1, Math.ceil(size / CHUNK_SIZE))
}
export function storedSize(size: number): number {
  return size + chunkCount(size) * CHUNK_OVERHEAD
}
export function chunkAd(fileId: Buffer, blobId: Buffer, index: number, final: boolean, into?: Buffer): Buffer {
  const b = into ?? Buffer.alloc(8 + 16 + 16 + 5)
  AD_CHUNK.copy(b, 0)
  fileId.copy(b, 8)
  blobId.copy(b, 24)
  b.writeUInt32LE(index, 40)
  b.writeUInt8(final ? 1 : 0, 44)
  return b
}
/** Encrypt a member into its stored form. nonces(i) supplies the i-th 24-byte nonce. */
export function encryptMember(key: Buffer, fileId: Buffer, blobId: Buffer, data: Buffer, nonces: (i: number) => Buffer): Buffer {
  const n = chunkCount(data.length)
  const out = Buffer.allocUnsafe(storedSize(data.length))
  let w = 0
  for (let i = 0; i < n; i++) {
    const nonce = nonces(i)
    const plain = data.subarray(i * CHUNK_SIZE, Math.min(data.length, (i + 1) * CHUNK_SIZE))
    nonce.copy(out, w)
    seal(key, nonce, plain, chunkAd(fileId, blobId, i, i === n - 1)).copy(out, w + NONCE_BYTES)
    w += NONCE_BYTES + plain.length + TAG_BYTES
  }
  return out
}
/** Decrypt chunks [first, first+stored.length…) of a member; throws CORRUPT on any bad chunk. */
/** The associated data of the chunk being decrypted (not secret; reused: decryption is synchronous). */
const AD_SCRATCH = Buffer.alloc(8 + 16 + 16 + 5)
export function decryptChunks(key: Buffer, fileId: Buffer, e: Entry, firstChunk: number, stored: Buffer, out: Buffer, outOffset: number): void {
  const n = chunkCount(e.size)
  let r = 0
  let w = outOffset
  for (let i = firstChunk; r < stored.length; i++) {
    const plainLen = Math.min(CHUNK_SIZE, e.size - i * CHUNK_SIZE)
    const len = NONCE_BYTES + Math.max(0, plainLen) + TAG_BYTES
    if (r + len > stored.length) throw corrupt('member chunk truncated', { region: 'segment', path: e.path })
    const nonce = stored.subarray(r, r + NONCE_BYTES)
    const sealed = stored.subarray(r + NONCE_BYTES, r + len)
    const ok = open(key, nonce, sealed, chunkAd(fileId, e.blobId!, i, i === n - 1, AD_SCRATCH), out.subarray(w, w + Math.max(0, plainLen)))
    if (!ok) throw corrupt(`member '${e.path}' failed authentication (chunk ${i})`, { region: 'segment', path: e.path, chunk: i })
    r += len
    w += Math.max(0, plainLen)
  }
}
