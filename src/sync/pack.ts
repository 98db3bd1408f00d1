// Packs from peers (git-scm.com/docs/gitformat-pack): everything a peer sends is checked before
// anything is kept. The codecs are in src/git/pack.ts; this is the checking parser.
//
// Every object read from a peer is inflated under a size ceiling, hashed to get its id (a pack
// carries no ids: an object IS its hash), and parsed: commits and trees must be well formed, and
// a tree may only hold flat secrets (mode 100644/100755, valid names, sorted). Deltas are
// accepted only as OFS_DELTA against an earlier object of the same pack, at most MAX_DELTA_DEPTH
// deep, every copy and insert bounds-checked; REF_DELTA (and tags) are refused: we never send
// them. Real `git index-pack` accepts what buildPack writes.
import crypto from 'node:crypto'
import { type Commit, type ObjectType, type TreeEntry, decodeCommit } from '../git/objects.js'
import { CODE_TYPES, MAX_DELTA_DEPTH, OFS_DELTA, PACK_SIGNATURE, REF_DELTA, type PackObject, PackFormatError, inflateEntry, readEntryHeader } from '../git/pack.js'
import { type DeltaShape, DeltaError, applyDelta, deltaResultSize } from '../git/delta.js'
import { TreeDecoder } from '../git/tree-decoder.js'
import { nameProblem, isScratchName } from '../vault/names.js'
import { PolykeyError } from '../errors.js'

export { buildPack, storedZlib, type PackObject } from '../git/pack.js'

export interface ParsedObject extends PackObject {
  oid: string
  /** this object's entry is pack[offset, end) */
  offset: number
  end: number
  /** a tree's entries, decoded once while checking it */
  entries?: TreeEntry[]
  /** a commit, decoded once while checking it */
  commit?: Commit
  /** a tree whose other entries are some of `after`'s (the tree before it in the pack): these are its own */
  fresh?: TreeEntry[]
  after?: ParsedObject
}

export interface PackLimits {
  /** largest inflated object (and delta) */
  maxObjectBytes: number
  /** sum of inflated sizes, deltas and the objects they make included (a zip bomb stops here) */
  maxTotalBytes: number
  maxObjects: number
}
export const DEFAULT_PACK_LIMITS: PackLimits = { maxObjectBytes: 64 << 20, maxTotalBytes: 1 << 30, maxObjects: 2_000_000 }

export function badPack(message: string, data: Record<string, unknown> = {}): PolykeyError {
  return new PolykeyError('PEER', message, { reason: 'bad-pack', ...data })
}

/** Parse and check a whole pack; any flaw throws (reason 'bad-pack') and nothing is returned. */
export function parsePack(pack: Buffer, limits: PackLimits = DEFAULT_PACK_LIMITS): ParsedObject[] {
  if (pack.length < 32) throw badPack('the pack is truncated')
  if (!pack.subarray(0, 4).equals(PACK_SIGNATURE)) throw badPack('the pack does not start with PACK')
  if (pack.readUInt32BE(4) !== 2) throw badPack(`unsupported pack version ${pack.readUInt32BE(4)}`)
  const count = pack.readUInt32BE(8)
  const end = pack.length - 20
  // Each object needs at least a header byte and an 8-byte zlib stream.
  if (count > limits.maxObjects || count * 9 > end - 12) throw badPack(`the pack claims ${count} objects, more than it can hold`)
  const sum = crypto.createHash('sha1').update(pack.subarray(0, end)).digest()
  if (!sum.equals(pack.subarray(end))) throw badPack('the pack checksum does not match (corrupt in transit or forged)')
  const out: ParsedObject[] = []
  const depth: number[] = []
  const at = new Map<number, number>() // entry offset → index
  const ids = new Set<string>()
  const trees = treeChecker()
  let lastTree = -1
  // Objects made from deltas are slices of a few large buffers: thousands of 4 KiB trees would
  // otherwise each be an allocation for the garbage collector to track. They live as long as the
  // parsed pack does, as the objects read straight from it do.
  let chunk = Buffer.alloc(0)
  let used = 0
  const arena = (size: number) => {
    if (size > 1 << 18) return Buffer.allocUnsafe(size)
    if (used + size > chunk.length) {
      chunk = Buffer.allocUnsafe(1 << 20)
      used = 0
    }
    used += size
    return chunk.subarray(used - size, used)
  }
  let off = 12
  let total = 0
  const addTotal = (n: number) => {
    total += n
    if (total > limits.maxTotalBytes) throw badPack('the pack inflates to more than the limit')
  }
  for (let i = 0; i < count; i++) {
    const start = off
    let h: ReturnType<typeof readEntryHeader>
    try {
      h = readEntryHeader(pack, off, end)
    } catch (err) {
      throw badPack((err as Error).message)
    }
    if (h.code === REF_DELTA) throw badPack('the pack holds a REF_DELTA object (a delta against an object named by id: not accepted)', { index: i })
    const whole: ObjectType | undefined = h.code === 4 ? undefined : CODE_TYPES[h.code]
    if (!whole && h.code !== OFS_DELTA) throw badPack(`the pack holds an object of unknown type ${h.code}`)
    if (h.size > limits.maxObjectBytes) throw badPack(`an object in the pack is too large (${h.size} bytes)`)
    addTotal(h.size)
    let data: Buffer
    let took: number
    try {
      ;({ content: data, used: took } = inflateEntry(pack, h.data, end, h.size))
    } catch (err) {
      if (!(err instanceof PackFormatError)) throw err
      throw badPack(`object ${i} of the pack ${err.message}`, { index: i })
    }
    off = h.data + took
    let type: ObjectType
    let content: Buffer
    let shape: DeltaShape | undefined
    if (whole) {
      type = whole
      content = data
      depth.push(0)
    } else {
      const b = at.get(h.base)
      if (b === undefined) throw badPack(`object ${i} of the pack is a delta whose base is not an earlier object of the pack`, { index: i })
      if (depth[b] + 1 > MAX_DELTA_DEPTH) throw badPack(`object ${i} of the pack is at the end of a chain of more than ${MAX_DELTA_DEPTH} deltas`, { index: i })
      try {
        const { result } = deltaResultSize(data)
        if (result > limits.maxObjectBytes) throw new DeltaError(`the delta makes an object that is too large (${result} bytes)`)
        addTotal(result)
        // a tree made from a delta against the tree checked just before: the delta says what they share
        shape = b === lastTree ? { prefix: 0, suffix: 0 } : undefined
        content = applyDelta(out[b].content, data, limits.maxObjectBytes, arena, shape)
      } catch (err) {
        if (!(err instanceof DeltaError)) throw err
        throw badPack(`object ${i} of the pack is a bad delta: ${err.message}`, { index: i })
      }
      type = out[b].type
      depth.push(depth[b] + 1)
    }
    const oid = crypto.createHash('sha1').update(`${type} ${content.length}\0`).update(content).digest('hex')
    if (ids.has(oid)) throw badPack(`the pack holds ${type} ${oid} twice`, { oid })
    ids.add(oid)
    const o: ParsedObject = { oid, type, content, offset: start, end: off }
    if (type !== 'blob') {
      const parsed = checkObject(type, content, oid, trees, shape)
      if (type === 'tree') {
        o.entries = parsed.entries
        if (lastTree >= 0) {
          o.fresh = trees.fresh
          o.after = out[lastTree]
        }
        lastTree = i
      } else o.commit = parsed.commit
    }
    at.set(start, i)
    out.push(o)
  }
  if (off !== end) throw badPack('the pack has bytes after its last object')
  return out
}

/**
 * An object we will store must parse: commits with a tree, flat trees of secrets (mode 100644 or
 * 100755, a valid name, names in git's order and each once). Returns what it decoded. `trees`
 * decodes each tree after the one before it (tree-decoder.ts): what they share is checked once.
 */
export function checkObject(type: ObjectType, content: Buffer, oid: string, trees: TreeDecoder = treeChecker(), shared?: DeltaShape): { entries?: TreeEntry[]; commit?: Commit } {
  try {
    if (type === 'commit') {
      const commit = decodeCommit(content)
      if (!commit.parents.every((p) => /^[0-9a-f]{40}$/.test(p))) throw new PolykeyError('PEER', 'bad parent')
      return { commit }
    }
    if (type === 'tree') return { entries: trees.decode(content, shared) }
    return {}
  } catch (err) {
    throw badPack(`${type} ${oid} in the pack does not parse: ${(err as Error).message}`, { oid })
  }
}

/** A TreeDecoder that refuses anything but flat secrets with valid names. */
export function treeChecker(): TreeDecoder {
  const goodNames = new Set<string>()
  return new TreeDecoder((e) => {
    if (e.mode !== '100644' && e.mode !== '100755') throw new PolykeyError('PEER', `entry '${e.name}' has mode ${e.mode} (only flat secrets are allowed)`)
    if (goodNames.has(e.name)) return
    const why = nameProblem(e.name)
    if (why) throw new PolykeyError('PEER', `entry name ${JSON.stringify(e.name)} ${why}`)
    if (e.name === '.git' || isScratchName(e.name)) throw new PolykeyError('PEER', `entry name ${JSON.stringify(e.name)} is reserved`)
    goodNames.add(e.name)
  })
}
