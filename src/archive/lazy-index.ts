// The node's member index, decoded on demand. A command that touches a few members of a large
// node (`polykey secret get` on 10,000 secrets) should pay for the key derivation and a handful
// of decryptions, not for turning every index entry into an object: until enough lookups justify
// decoding the full index block, a lookup walks the block's bytes (codec.findInIndex). Changes and
// lookups made meanwhile are kept aside and applied when the block is finally decoded.
//
// It is a Map, so the node file uses it like the one it replaces; anything that iterates it
// (listing, export, a full index write, compaction) decodes it whole first.
import { type Entry, type IndexOp, decodeIndex, filesInIndex, findInIndex } from './codec.js'
import { corrupt } from '../errors.js'
import { PolykeyError } from '../errors.js'

/** Lookups by walking the bytes before the block is decoded whole (each costs about 1/50 of that). */
const MAX_SCANS = 32

export class LazyIndex extends Map<string, Entry> {
  private full: Buffer | null
  /** state of the paths looked up or changed while `full` is not decoded (null: no such member) */
  private readonly known = new Map<string, Entry | null>()
  private count: number
  private scans = 0

  /**
   * `full`: the plaintext of the last full index block (it lists `fullCount` members); `count`:
   * the member count after the deltas that follow it; `check` throws on an entry that cannot be
   * right (a member outside the file).
   */
  constructor(
    full: Buffer,
    fullCount: number,
    count: number,
    private readonly check: (e: Entry) => void,
  ) {
    super()
    if (full.length < 8 || full[0] !== 0) throw corrupt('node index kind does not match its trailer', { region: 'index' })
    if (full.readUInt32LE(4) !== fullCount) throw corrupt('node index does not match its trailer', { region: 'index' })
    this.full = full
    this.count = count
  }

  /** The operations of a delta block that follows the full one (in order). */
  applyDelta(ops: IndexOp[]): void {
    if (!this.full) throw new PolykeyError('INTERNAL', 'LazyIndex.applyDelta after decoding')
    for (const op of ops) {
      if (op.op === 'put') {
        this.check(op.entry)
        this.known.set(op.entry.path, op.entry)
      } else this.known.set(op.path, null)
    }
  }

  override get(p: string): Entry | undefined {
    if (!this.full) return super.get(p)
    const k = this.known.get(p)
    if (k !== undefined) return k ?? undefined
    if (++this.scans > MAX_SCANS) {
      this.decode()
      return super.get(p)
    }
    const e = findInIndex(this.full, Buffer.from(p))
    if (e) this.check(e)
    this.known.set(p, e ?? null)
    return e ?? undefined
  }

  /** How many file members lie under `prefix` (a folder path ending in '/'), without decoding the block. */
  filesUnder(prefix: string): number {
    let n = 0
    if (!this.full) {
      for (const [p, e] of super.entries()) if (e.type === 'file' && p.startsWith(prefix)) n++
      return n
    }
    for (const p of filesInIndex(this.full, Buffer.from(prefix))) if (!this.known.has(p)) n++
    for (const [p, e] of this.known) if (e?.type === 'file' && p.startsWith(prefix)) n++
    return n
  }

  override has(p: string): boolean {
    return this.get(p) !== undefined
  }

  override set(p: string, e: Entry): this {
    if (!this.full) return super.set(p, e)
    if (this.get(p) === undefined) this.count++
    if (this.full) this.known.set(p, e)
    else super.set(p, e) // the lookup above decoded the block
    return this
  }

  override delete(p: string): boolean {
    if (!this.full) return super.delete(p)
    if (this.get(p) === undefined) return false
    this.count--
    if (this.full) this.known.set(p, null)
    else super.delete(p)
    return true
  }

  override get size(): number {
    return this.full ? this.count : super.size
  }

  override clear(): void {
    this.full = null
    this.known.clear()
    super.clear()
  }

  override keys(): MapIterator<string> {
    this.decode()
    return super.keys()
  }
  override values(): MapIterator<Entry> {
    this.decode()
    return super.values()
  }
  override entries(): MapIterator<[string, Entry]> {
    this.decode()
    return super.entries()
  }
  override [Symbol.iterator](): MapIterator<[string, Entry]> {
    this.decode()
    return super[Symbol.iterator]()
  }
  override forEach(fn: (value: Entry, key: string, map: Map<string, Entry>) => void, thisArg?: unknown): void {
    this.decode()
    super.forEach(fn, thisArg)
  }

  /** Decode the full block, then apply what happened since it was written. */
  private decode(): void {
    const full = this.full
    if (!full) return
    this.full = null
    for (const op of decodeIndex(full).ops) {
      if (op.op !== 'put') throw corrupt('node index is corrupt (delete in a full block)', { region: 'index' })
      if (!this.known.has(op.entry.path)) this.check(op.entry)
      super.set(op.entry.path, op.entry)
    }
    for (const [p, e] of this.known) {
      if (e) super.set(p, e)
      else super.delete(p)
    }
    this.known.clear()
    if (super.size !== this.count) throw corrupt('node index does not match its trailer', { region: 'index' })
  }
}
