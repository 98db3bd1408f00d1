// A pack kept in a repository (.git/objects/pack/pack-<sha>.pack with its .idx): objects by id,
// OFS_DELTA chains resolved. The idx is searched in place; the pack's bytes are read once (one
// node-file member) when the first object is wanted, and checked against the idx and their own
// checksum. Resolved delta bases are kept (objects are immutable by id), so walking a history,
// newest tree first and each older one a delta against it, applies each delta once.
import crypto from 'node:crypto'
import { LRUCache } from 'lru-cache'
import { corrupt } from '../errors.js'
import type { ObjectType } from './objects.js'
import { PackIndex } from './pack-index.js'
import { CODE_TYPES, MAX_DELTA_DEPTH, OFS_DELTA, PACK_OVERHEAD, PACK_SIGNATURE, type PackObject, inflateEntry, readEntryHeader } from './pack.js'
import { applyDelta } from './delta.js'

/** Resolved objects kept per pack, in bytes. */
const CACHE_BYTES = 16 << 20
/** No stored object is larger than what a Buffer can hold; the wire's ceilings are far lower. */
const MAX_STORED_OBJECT = 2 ** 31 - 1

export class StoredPack {
  private bytes: Buffer | null = null
  private readonly cache = new LRUCache<number, PackObject>({ maxSize: CACHE_BYTES, sizeCalculation: (o) => o.content.length + 64 })

  constructor(
    /** "pack-<40 hex>" */
    readonly name: string,
    readonly index: PackIndex,
    private readonly load: () => Buffer | null,
  ) {}

  get count(): number {
    return this.index.count
  }

  has(id: Buffer): boolean {
    return this.index.find(id) >= 0
  }

  /** The object with this id (20 raw bytes), or null when this pack does not hold it. */
  read(oid: string, id: Buffer): PackObject | null {
    const i = this.index.find(id)
    if (i < 0) return null
    const o = this.readAt(this.index.offsetAt(i), 0)
    const sum = crypto.createHash('sha1').update(`${o.type} ${o.content.length}\0`).update(o.content).digest('hex')
    if (sum !== oid) throw corrupt(`git object ${oid} in ${this.name} does not hash to its id`, { oid, pack: this.name })
    return o
  }

  /** Every object of the pack, in pack order (bases before their deltas). */
  *objects(): Generator<{ oid: string } & PackObject> {
    const order = Array.from({ length: this.index.count }, (_, i) => ({ i, offset: this.index.offsetAt(i) })).sort((a, b) => a.offset - b.offset)
    for (const { i, offset } of order) {
      const o = this.readAt(offset, 0)
      yield { oid: this.index.oidAt(i), type: o.type, content: o.content }
    }
  }

  /** The pack's bytes, checked against its checksum and its index. */
  raw(): Buffer {
    return this.pack()
  }

  private pack(): Buffer {
    if (this.bytes) return this.bytes
    const b = this.load()
    if (!b) throw corrupt(`git pack ${this.name} is missing`, { pack: this.name })
    const end = b.length - 20
    if (b.length < PACK_OVERHEAD || !b.subarray(0, 4).equals(PACK_SIGNATURE) || b.readUInt32BE(4) !== 2 || b.readUInt32BE(8) !== this.index.count)
      throw corrupt(`git pack ${this.name} is corrupt (header)`, { pack: this.name })
    if (!b.subarray(end).equals(this.index.packChecksum) || !crypto.createHash('sha1').update(b.subarray(0, end)).digest().equals(b.subarray(end)))
      throw corrupt(`git pack ${this.name} does not match its checksum or its index`, { pack: this.name })
    this.bytes = b
    return b
  }

  private readAt(offset: number, depth: number): PackObject {
    const hit = this.cache.get(offset)
    if (hit) return hit
    const b = this.pack()
    const end = b.length - 20
    const bad = (why: string) => corrupt(`git pack ${this.name} is corrupt at offset ${offset} (${why})`, { pack: this.name, offset })
    if (offset < 12 || offset >= end) throw bad('outside the pack')
    let o: PackObject
    try {
      const h = readEntryHeader(b, offset, end)
      if (h.code === OFS_DELTA) {
        if (depth >= MAX_DELTA_DEPTH) throw bad(`a chain of more than ${MAX_DELTA_DEPTH} deltas`)
        if (h.base < 12 || h.base >= offset) throw bad('a delta whose base is not before it')
        const base = this.readAt(h.base, depth + 1)
        const delta = inflateEntry(b, h.data, end, h.size).content
        o = { type: base.type, content: applyDelta(base.content, delta, MAX_STORED_OBJECT) }
      } else {
        const type: ObjectType | undefined = CODE_TYPES[h.code]
        if (!type) throw bad(`object type ${h.code}`)
        o = { type, content: inflateEntry(b, h.data, end, h.size).content }
      }
    } catch (err) {
      if (err instanceof Error && err.name === 'PolykeyError') throw err
      throw bad((err as Error).message)
    }
    // Keep trees (delta bases, walked again and again); a blob is read once, for its value.
    if (o.type !== 'blob') this.cache.set(offset, o)
    return o
  }
}
