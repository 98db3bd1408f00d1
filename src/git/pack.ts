// Git packfiles, version 2 (gitformat-pack): pure codecs, shared by the wire (src/sync/pack.ts,
// which checks everything a peer sends) and by storage (pack-file.ts, repo.ts).
//
//   "PACK" | version u32 = 2 | count u32 | count × entry | SHA-1 of everything before
//   entry: type (3 bits) and size (varint, 4 bits first) | [OFS_DELTA: distance back to the base] | zlib stream
//
// Only whole objects and OFS_DELTA (a delta against an earlier entry of the same pack) are
// written; REF_DELTA (a base named by id, possibly outside the pack) never is.
import crypto from 'node:crypto'
import zlib from 'node:zlib'
import type { ObjectType } from './objects.js'
import { prefixSuffixDelta } from './delta.js'

export const TYPE_CODES: Record<ObjectType, number> = { commit: 1, tree: 2, blob: 3, tag: 4 }
export const CODE_TYPES: Record<number, ObjectType> = { 1: 'commit', 2: 'tree', 3: 'blob', 4: 'tag' }
export const OFS_DELTA = 6
export const REF_DELTA = 7
/**
 * Longest chain of deltas (a whole object has depth 0) that we write, and that a pack may hold:
 * reading one object never applies more than this many deltas (git's default --depth is 50).
 */
export const MAX_DELTA_DEPTH = 50
export const PACK_SIGNATURE = Buffer.from('PACK')
/** header (12) + trailer (20) */
export const PACK_OVERHEAD = 32

export interface PackObject {
  type: ObjectType
  content: Buffer
}

export class PackFormatError extends Error {}

export interface BuildOptions {
  /**
   * Write each tree as an OFS_DELTA against the tree written before it, when that is much
   * smaller (prefix/suffix delta, at most MAX_DELTA_DEPTH deep). Blobs are always whole.
   */
  deltas?: boolean
  /** zlib-compress objects of at least this many bytes; smaller ones (and all, by default) are stored blocks */
  compressFrom?: number
}

/** Where each object went: its entry's bytes are pack[offset, end). */
export interface BuiltEntry {
  offset: number
  end: number
}

export function buildPack(objects: Iterable<PackObject>, opts: BuildOptions = {}): { pack: Buffer; count: number; entries: BuiltEntry[] } {
  const parts: Buffer[] = [Buffer.alloc(12)]
  const entries: BuiltEntry[] = []
  let off = 12
  let base: { content: Buffer; offset: number; depth: number } | null = null
  const compressFrom = opts.compressFrom ?? Infinity
  for (const o of objects) {
    let header: Buffer
    let data: Buffer
    let depth = 0
    const delta = opts.deltas && o.type === 'tree' && base && base.depth < MAX_DELTA_DEPTH ? prefixSuffixDelta(base.content, o.content) : null
    if (delta && base) {
      header = Buffer.concat([entryHeader(OFS_DELTA, delta.length), ofsDistance(off - base.offset)])
      data = delta
      depth = base.depth + 1
    } else {
      header = entryHeader(TYPE_CODES[o.type], o.content.length)
      data = o.content
    }
    const z = data.length >= compressFrom ? zlib.deflateSync(data, { level: 1 }) : storedZlib(data)
    parts.push(header, z)
    entries.push({ offset: off, end: off + header.length + z.length })
    if (o.type === 'tree') base = { content: o.content, offset: off, depth }
    off += header.length + z.length
  }
  PACK_SIGNATURE.copy(parts[0], 0)
  parts[0].writeUInt32BE(2, 4)
  parts[0].writeUInt32BE(entries.length, 8)
  const pack = Buffer.concat(parts, off + 20)
  crypto.createHash('sha1').update(pack.subarray(0, off)).digest().copy(pack, off)
  return { pack, count: entries.length, entries }
}

/** type (3 bits) and size, little-endian base-128 with a continuation bit; 4 size bits first. */
export function entryHeader(type: number, size: number): Buffer {
  const bytes: number[] = []
  let c = (type << 4) | (size & 0x0f)
  size = Math.floor(size / 16)
  while (size > 0) {
    bytes.push(c | 0x80)
    c = size & 0x7f
    size = Math.floor(size / 128)
  }
  bytes.push(c)
  return Buffer.from(bytes)
}

/** OFS_DELTA's distance back to the base: big-endian base-128 where each continuation adds one. */
export function ofsDistance(d: number): Buffer {
  const bytes = [d & 0x7f]
  d = Math.floor(d / 128)
  while (d > 0) {
    d -= 1
    bytes.unshift(0x80 | (d & 0x7f))
    d = Math.floor(d / 128)
  }
  return Buffer.from(bytes)
}

export interface EntryHeader {
  /** 1–4: an object type; 6: OFS_DELTA; 7: REF_DELTA */
  code: number
  /** inflated size: of the object, or of the delta data */
  size: number
  /** where the zlib stream (or, for REF_DELTA, the base id) starts */
  data: number
  /** OFS_DELTA: the absolute offset of the base entry; otherwise -1 */
  base: number
}

/** Read the entry header at `off`; `end` is where entries stop (the trailer). */
export function readEntryHeader(buf: Buffer, off: number, end: number): EntryHeader {
  const start = off
  if (off >= end) throw new PackFormatError('the pack ends before its last object')
  let c = buf[off++]
  const code = (c >> 4) & 7
  let size = c & 0x0f
  let mul = 16
  while (c & 0x80) {
    if (off >= end || mul > 2 ** 35) throw new PackFormatError('an object header in the pack is corrupt')
    c = buf[off++]
    size += (c & 0x7f) * mul
    mul *= 128
  }
  let base = -1
  if (code === OFS_DELTA) {
    if (off >= end) throw new PackFormatError('an object header in the pack is corrupt')
    c = buf[off++]
    let d = c & 0x7f
    while (c & 0x80) {
      if (off >= end || d > 2 ** 40) throw new PackFormatError('a delta in the pack has a corrupt base offset')
      c = buf[off++]
      d = (d + 1) * 128 + (c & 0x7f)
    }
    base = start - d
  }
  return { code, size, data: off, base }
}

/**
 * The zlib stream at `off` (before `end`), which must inflate to exactly `size` bytes: a stored-
 * blocks stream is read without zlib (its content is a view of `buf` when it is one block).
 * Returns the content and how many bytes the stream took.
 */
export function inflateEntry(buf: Buffer, off: number, end: number, size: number): { content: Buffer; used: number } {
  const stored = readStored(buf, off, end, size)
  if (stored) return stored
  let r: { buffer: Buffer; engine: { bytesWritten: number } }
  try {
    r = zlib.inflateSync(buf.subarray(off, end), { info: true, maxOutputLength: Math.max(1, size) }) as unknown as typeof r
  } catch (err) {
    throw new PackFormatError(`does not inflate (${(err as { code?: string }).code ?? 'zlib error'})`)
  }
  if (r.buffer.length !== size) throw new PackFormatError('is not the size its header says')
  return { content: r.buffer, used: r.engine.bytesWritten }
}

/**
 * A zlib stream of "stored" (uncompressed) deflate blocks (RFC 1950/1951): what secrets, ids and
 * short names gain from compression is small, and a zlib engine per object is what a pack of
 * thousands of small objects would spend its time on. Any inflater reads it.
 */
export function storedZlib(data: Buffer): Buffer {
  const blocks = Math.max(1, Math.ceil(data.length / 0xffff))
  const out = Buffer.allocUnsafe(2 + blocks * 5 + data.length + 4)
  out[0] = 0x78
  out[1] = 0x01
  let w = 2
  for (let i = 0; i < blocks; i++) {
    const chunk = data.subarray(i * 0xffff, (i + 1) * 0xffff)
    out[w] = i === blocks - 1 ? 1 : 0
    out.writeUInt16LE(chunk.length, w + 1)
    out.writeUInt16LE(~chunk.length & 0xffff, w + 3)
    chunk.copy(out, w + 5)
    w += 5 + chunk.length
  }
  out.writeUInt32BE(adler32(data), w)
  return out
}

/** The fast path: a stored-blocks zlib stream of exactly `size` bytes, or null to let zlib do it. */
function readStored(buf: Buffer, off: number, end: number, size: number): { content: Buffer; used: number } | null {
  if (off + 2 > end || buf[off] !== 0x78 || (buf[off] * 256 + buf[off + 1]) % 31 !== 0 || buf[off + 1] & 0x20) return null
  let r = off + 2
  // One block (any object under 64 KiB): the content is a view of the pack, no copy.
  let content: Buffer | null = null
  let got = 0
  for (;;) {
    if (r + 5 > end) return null
    const head = buf[r]
    if ((head & 0x06) !== 0) return null // not a stored block
    const len = buf.readUInt16LE(r + 1)
    if ((buf.readUInt16LE(r + 3) ^ 0xffff) !== len || got + len > size || r + 5 + len > end) return null
    if (got === 0 && head & 1) content = buf.subarray(r + 5, r + 5 + len)
    else {
      content ??= Buffer.allocUnsafe(size)
      buf.copy(content, got, r + 5, r + 5 + len)
    }
    got += len
    r += 5 + len
    if (head & 1) break
  }
  content ??= Buffer.alloc(0)
  if (got !== size || r + 4 > end || buf.readUInt32BE(r) !== adler32(content)) return null
  return { content, used: r + 4 - off }
}

function adler32(b: Buffer): number {
  let a = 1
  let s = 0
  for (let i = 0; i < b.length;) {
    const end = Math.min(b.length, i + 3800)
    for (; i < end; i++) {
      a += b[i]
      s += a
    }
    a %= 65521
    s %= 65521
  }
  return ((s << 16) | a) >>> 0
}
