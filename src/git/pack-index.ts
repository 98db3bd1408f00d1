// Git's pack index, version 2 (gitformat-pack, "Version 2 pack-*.idx files"): pure codecs.
//
//   "\377tOc" | version u32 = 2 | fanout: 256 × u32 (objects whose first id byte is ≤ i)
//   | N × 20-byte ids, sorted | N × CRC-32 of each packed entry | N × u32 offset
//   | M × u64 offset (an offset with its top bit set is an index into this table)
//   | the pack's SHA-1 | SHA-1 of everything before
//
// Lookups binary-search the ids in the buffer itself: nothing is decoded up front.
import crypto from 'node:crypto'
import { corrupt } from '../errors.js'

const MAGIC = Buffer.from([0xff, 0x74, 0x4f, 0x63])
const HEADER = 8
const FANOUT = 256 * 4

export interface PackIndexEntry {
  oid: string
  offset: number
  /** CRC-32 of the entry's bytes in the pack (header and zlib stream) */
  crc: number
}

export function encodePackIndex(entries: PackIndexEntry[], packChecksum: Buffer): Buffer {
  const sorted = [...entries].sort((a, b) => (a.oid < b.oid ? -1 : a.oid > b.oid ? 1 : 0))
  const n = sorted.length
  const large = sorted.filter((e) => e.offset >= 0x80000000)
  const out = Buffer.alloc(HEADER + FANOUT + n * 28 + large.length * 8 + 40)
  MAGIC.copy(out, 0)
  out.writeUInt32BE(2, 4)
  const ids = HEADER + FANOUT
  const crcs = ids + n * 20
  const offs = crcs + n * 4
  const big = offs + n * 4
  let li = 0
  for (let i = 0; i < n; i++) {
    const e = sorted[i]
    if (i > 0 && e.oid === sorted[i - 1].oid) throw corrupt(`object ${e.oid} is twice in one pack`, { oid: e.oid })
    out.write(e.oid, ids + i * 20, 20, 'hex')
    out.writeUInt32BE(e.crc >>> 0, crcs + i * 4)
    if (e.offset < 0x80000000) out.writeUInt32BE(e.offset, offs + i * 4)
    else {
      out.writeUInt32BE((0x80000000 | li) >>> 0, offs + i * 4)
      out.writeBigUInt64BE(BigInt(e.offset), big + li * 8)
      li++
    }
  }
  // fanout[b]: how many ids start with a byte ≤ b
  let k = 0
  for (let b = 0; b < 256; b++) {
    while (k < n && out[ids + k * 20] <= b) k++
    out.writeUInt32BE(k, HEADER + b * 4)
  }
  const tail = big + large.length * 8
  packChecksum.copy(out, tail)
  crypto
    .createHash('sha1')
    .update(out.subarray(0, tail + 20))
    .digest()
    .copy(out, tail + 20)
  return out
}

export class PackIndexError extends Error {}

export class PackIndex {
  readonly count: number
  private readonly ids: number
  private readonly crcs: number
  private readonly offs: number
  private readonly big: number
  private readonly bigCount: number

  /** Checks the layout and the checksum; lookups then trust it. */
  constructor(readonly buf: Buffer) {
    if (buf.length < HEADER + FANOUT + 40 || !buf.subarray(0, 4).equals(MAGIC) || buf.readUInt32BE(4) !== 2) throw new PackIndexError('not a version-2 pack index')
    const n = buf.readUInt32BE(HEADER + 255 * 4)
    let prev = 0
    for (let b = 0; b < 256; b++) {
      const v = buf.readUInt32BE(HEADER + b * 4)
      if (v < prev) throw new PackIndexError('the pack index fanout is not sorted')
      prev = v
    }
    const rest = buf.length - (HEADER + FANOUT + n * 28 + 40)
    if (rest < 0 || rest % 8 !== 0) throw new PackIndexError('the pack index has the wrong size')
    const sum = crypto
      .createHash('sha1')
      .update(buf.subarray(0, buf.length - 20))
      .digest()
    if (!sum.equals(buf.subarray(buf.length - 20))) throw new PackIndexError('the pack index checksum does not match')
    this.count = n
    this.ids = HEADER + FANOUT
    this.crcs = this.ids + n * 20
    this.offs = this.crcs + n * 4
    this.big = this.offs + n * 4
    this.bigCount = rest / 8
  }

  /** The SHA-1 of the pack this indexes (its trailer). */
  get packChecksum(): Buffer {
    return this.buf.subarray(this.buf.length - 40, this.buf.length - 20)
  }

  /** Position of the id (20 raw bytes) in the sorted table, or -1. */
  find(id: Buffer): number {
    const b = this.buf
    const first = id[0]
    let lo = first === 0 ? 0 : b.readUInt32BE(HEADER + (first - 1) * 4)
    let hi = b.readUInt32BE(HEADER + first * 4)
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      const at = this.ids + mid * 20
      const c = b.compare(id, 0, 20, at, at + 20)
      if (c === 0) return mid
      if (c > 0) hi = mid
      else lo = mid + 1
    }
    return -1
  }

  /** The id at position i, as 20 raw bytes (a view of the index). */
  idAt(i: number): Buffer {
    return this.buf.subarray(this.ids + i * 20, this.ids + i * 20 + 20)
  }

  oidAt(i: number): string {
    return this.buf.toString('hex', this.ids + i * 20, this.ids + i * 20 + 20)
  }

  crcAt(i: number): number {
    return this.buf.readUInt32BE(this.crcs + i * 4)
  }

  offsetAt(i: number): number {
    const v = this.buf.readUInt32BE(this.offs + i * 4)
    if (!(v & 0x80000000)) return v
    const j = v & 0x7fffffff
    if (j >= this.bigCount) throw new PackIndexError('the pack index has a bad large offset')
    const big = this.buf.readBigUInt64BE(this.big + j * 8)
    if (big > BigInt(Number.MAX_SAFE_INTEGER)) throw new PackIndexError('the pack index has a bad large offset')
    return Number(big)
  }
}
