// Git packfiles, version 2, without deltas (git-scm.com/docs/gitformat-pack): pure codecs.
//
//   "PACK" | version u32 = 2 | count u32 | count × (type+size varint header, zlib(content)) | SHA-1
//
// Every object read from a peer is inflated under a size ceiling, hashed to get its id (a pack
// carries no ids: an object IS its hash), and parsed: commits and trees must be well formed, and
// a tree may only hold flat secrets (mode 100644/100755, valid names). Delta objects are refused;
// we never send them. Real `git index-pack` accepts what buildPack writes.
import crypto from 'node:crypto'
import zlib from 'node:zlib'
import { type ObjectType, type TreeEntry, decodeCommit, decodeTree } from '../git/objects.js'
import { nameProblem, isScratchName } from '../vault/names.js'
import { PolykeyError } from '../errors.js'

export interface PackObject {
  type: ObjectType
  content: Buffer
}
export interface ParsedObject extends PackObject {
  oid: string
}

const TYPE_CODES: Record<ObjectType, number> = { commit: 1, tree: 2, blob: 3, tag: 4 }
const CODE_TYPES: Record<number, ObjectType> = { 1: 'commit', 2: 'tree', 3: 'blob' }
const SIGNATURE = Buffer.from('PACK')

export interface PackLimits {
  /** largest inflated object */
  maxObjectBytes: number
  /** sum of inflated sizes (a zip bomb stops here) */
  maxTotalBytes: number
  maxObjects: number
}
export const DEFAULT_PACK_LIMITS: PackLimits = { maxObjectBytes: 64 << 20, maxTotalBytes: 1 << 30, maxObjects: 2_000_000 }

export function badPack(message: string, data: Record<string, unknown> = {}): PolykeyError {
  return new PolykeyError('PEER', message, { reason: 'bad-pack', ...data })
}

export function buildPack(objects: Iterable<PackObject>): { pack: Buffer; count: number } {
  const parts: Buffer[] = [Buffer.alloc(12)]
  let count = 0
  let bytes = 12 + 20
  for (const o of objects) {
    const h = objectHeader(TYPE_CODES[o.type], o.content.length)
    const z = storedZlib(o.content)
    parts.push(h, z)
    bytes += h.length + z.length
    count++
  }
  SIGNATURE.copy(parts[0], 0)
  parts[0].writeUInt32BE(2, 4)
  parts[0].writeUInt32BE(count, 8)
  const sum = crypto.createHash('sha1')
  for (const p of parts) sum.update(p)
  parts.push(sum.digest())
  return { pack: Buffer.concat(parts, bytes), count }
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

/** The fast path of parsing: a stored-blocks zlib stream, or null to let zlib do it. */
function readStored(buf: Buffer, off: number, size: number): { content: Buffer; used: number } | null {
  if (buf[off] !== 0x78 || (buf[off] * 256 + buf[off + 1]) % 31 !== 0 || buf[off + 1] & 0x20) return null
  let r = off + 2
  // One block (any object under 64 KiB): the content is a view of the pack, no copy.
  let content: Buffer | null = null
  let got = 0
  for (;;) {
    if (r + 5 > buf.length) return null
    const head = buf[r]
    if ((head & 0x06) !== 0) return null // not a stored block
    const len = buf.readUInt16LE(r + 1)
    if ((buf.readUInt16LE(r + 3) ^ 0xffff) !== len || got + len > size || r + 5 + len > buf.length) return null
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
  if (got !== size || r + 4 > buf.length || buf.readUInt32BE(r) !== adler32(content)) return null
  return { content, used: r + 4 - off }
}

function adler32(b: Buffer): number {
  let a = 1
  let s = 0
  for (let i = 0; i < b.length; ) {
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

/** type (3 bits) and size, little-endian base-128 with a continuation bit; 4 size bits first. */
function objectHeader(type: number, size: number): Buffer {
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

/** Parse and check a whole pack; any flaw throws (reason 'bad-pack') and nothing is returned. */
export function parsePack(pack: Buffer, limits: PackLimits = DEFAULT_PACK_LIMITS): ParsedObject[] {
  if (pack.length < 32) throw badPack('the pack is truncated')
  if (!pack.subarray(0, 4).equals(SIGNATURE)) throw badPack('the pack does not start with PACK')
  if (pack.readUInt32BE(4) !== 2) throw badPack(`unsupported pack version ${pack.readUInt32BE(4)}`)
  const count = pack.readUInt32BE(8)
  const end = pack.length - 20
  // Each object needs at least a header byte and an 8-byte zlib stream.
  if (count > limits.maxObjects || count * 9 > end - 12) throw badPack(`the pack claims ${count} objects, more than it can hold`)
  const sum = crypto.createHash('sha1').update(pack.subarray(0, end)).digest()
  if (!sum.equals(pack.subarray(end))) throw badPack('the pack checksum does not match (corrupt in transit or forged)')
  const out: ParsedObject[] = []
  const goodNames = new Set<string>()
  let off = 12
  let total = 0
  for (let i = 0; i < count; i++) {
    if (off >= end) throw badPack('the pack ends before its last object')
    let c = pack[off++]
    const code = (c >> 4) & 7
    let size = c & 0x0f
    let mul = 16
    while (c & 0x80) {
      if (off >= end || mul > 2 ** 35) throw badPack('an object header in the pack is corrupt')
      c = pack[off++]
      size += (c & 0x7f) * mul
      mul *= 128
    }
    const type = CODE_TYPES[code]
    if (!type) throw badPack(code === 6 || code === 7 ? 'the pack holds delta objects (not accepted)' : `the pack holds an object of unknown type ${code}`)
    if (size > limits.maxObjectBytes) throw badPack(`an object in the pack is too large (${size} bytes)`)
    total += size
    if (total > limits.maxTotalBytes) throw badPack('the pack inflates to more than the limit')
    let content: Buffer
    let used: number
    const stored = readStored(pack.subarray(0, end), off, size)
    if (stored) ({ content, used } = stored)
    else {
      try {
        const r = zlib.inflateSync(pack.subarray(off, end), { info: true, maxOutputLength: Math.max(1, size) }) as unknown as { buffer: Buffer; engine: { bytesWritten: number } }
        content = r.buffer
        used = r.engine.bytesWritten
      } catch (err) {
        throw badPack(`object ${i} of the pack does not inflate (${(err as { code?: string }).code ?? 'zlib error'})`, { index: i })
      }
    }
    if (content.length !== size) throw badPack(`object ${i} of the pack is not the size its header says`, { index: i })
    off += used
    const oid = crypto.createHash('sha1').update(`${type} ${content.length}\0`).update(content).digest('hex')
    checkObject(type, content, oid, goodNames)
    out.push({ oid, type, content })
  }
  if (off !== end) throw badPack('the pack has bytes after its last object')
  return out
}

/** An object we will store must parse: flat trees of secrets, commits with a tree. */
export function checkObject(type: ObjectType, content: Buffer, oid: string, goodNames = new Set<string>()): void {
  try {
    if (type === 'commit') {
      const c = decodeCommit(content)
      if (!c.parents.every((p) => /^[0-9a-f]{40}$/.test(p))) throw new Error('bad parent')
    } else if (type === 'tree') {
      const seen = new Set<string>()
      for (const e of decodeTree(content)) {
        if (e.mode !== '100644' && e.mode !== '100755') throw new Error(`entry '${e.name}' has mode ${e.mode} (only flat secrets are allowed)`)
        if (!goodNames.has(e.name)) {
          checkTreeEntry(e)
          goodNames.add(e.name)
        }
        if (seen.has(e.name)) throw new Error('duplicate name')
        seen.add(e.name)
      }
    }
  } catch (err) {
    throw badPack(`${type} ${oid} in the pack does not parse: ${(err as Error).message}`, { oid })
  }
}

function checkTreeEntry(e: TreeEntry): void {
  if (e.mode !== '100644' && e.mode !== '100755') throw new Error(`entry '${e.name}' has mode ${e.mode} (only flat secrets are allowed)`)
  const why = nameProblem(e.name)
  if (why) throw new Error(`entry name ${JSON.stringify(e.name)} ${why}`)
  if (e.name === '.git' || isScratchName(e.name)) throw new Error(`entry name ${JSON.stringify(e.name)} is reserved`)
}
