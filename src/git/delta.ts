// Git's delta format (gitformat-pack, "Deltified representation"): pure codecs.
//
//   base size (varint) | result size (varint) | instructions
//   copy:   1xxxxxxx, then the offset bytes flagged by bits 0-3 and the size bytes flagged by
//           bits 4-6 (little-endian; a size of 0 means 0x10000): copy base[offset, offset+size)
//   insert: 0xxxxxxx (1..127): that many literal bytes follow
//   0x00 is reserved.
//
// Our repositories are flat: a tree is one sorted list of secrets, and one commit changes a few
// of them. So the delta between two trees of one history is "copy the common prefix, insert the
// middle, copy the common suffix" — tiny, and found in one pass from each end.
/** Largest copy one instruction can say (three size bytes). */
const MAX_COPY = 0xffffff

/** Length of the longest common prefix of a and b (a binary search over native compares). */
export function commonPrefix(a: Buffer, b: Buffer): number {
  let lo = 0
  let hi = Math.min(a.length, b.length)
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1
    if (a.compare(b, lo, mid, lo, mid) === 0) lo = mid
    else hi = mid - 1
  }
  return lo
}

/** Length of the longest common suffix of a and b, at most `max`. */
export function commonSuffix(a: Buffer, b: Buffer, max: number): number {
  const al = a.length
  const bl = b.length
  let lo = 0
  let hi = Math.min(max, al, bl)
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1
    if (a.compare(b, bl - mid, bl - lo, al - mid, al - lo) === 0) lo = mid
    else hi = mid - 1
  }
  return lo
}

function varint(n: number, out: number[]): void {
  do {
    let b = n % 128
    n = Math.floor(n / 128)
    if (n > 0) b |= 0x80
    out.push(b)
  } while (n > 0)
}

function copyOp(offset: number, size: number, out: number[]): void {
  const at = out.length
  out.push(0x80)
  let op = 0x80
  for (let i = 0; i < 4; i++) {
    const b = Math.floor(offset / 2 ** (8 * i)) & 0xff
    if (b) {
      op |= 1 << i
      out.push(b)
    }
  }
  for (let i = 0; i < 3; i++) {
    const b = (size >>> (8 * i)) & 0xff
    if (b) {
      op |= 1 << (4 + i)
      out.push(b)
    }
  }
  out[at] = op
}

/**
 * A delta turning `base` into `target`: their common prefix and suffix are copied, the rest is
 * inserted. Returns null when that would not be much smaller than `target` itself.
 */
export function prefixSuffixDelta(base: Buffer, target: Buffer): Buffer | null {
  const bl = base.length
  const tl = target.length
  const p = commonPrefix(base, target)
  const s = commonSuffix(base, target, Math.min(bl, tl) - p)
  const insert = tl - p - s
  // header (≤ 2 × 10) + two copies (≤ 8 each per 16 MiB) + an insert opcode per 127 bytes
  const estimate = 20 + 8 * (Math.ceil(p / MAX_COPY) + Math.ceil(s / MAX_COPY)) + insert + Math.ceil(insert / 127)
  if (estimate * 2 > tl) return null
  const head: number[] = []
  varint(bl, head)
  varint(tl, head)
  for (let o = 0; o < p; o += MAX_COPY) copyOp(o, Math.min(MAX_COPY, p - o), head)
  const out = Buffer.allocUnsafe(estimate)
  let w = Buffer.from(head).copy(out, 0)
  for (let o = p; o < tl - s; o += 127) {
    const n = Math.min(127, tl - s - o)
    out[w++] = n
    w += target.copy(out, w, o, o + n)
  }
  const tail: number[] = []
  for (let o = 0; o < s; o += MAX_COPY) copyOp(bl - s + o, Math.min(MAX_COPY, s - o), tail)
  w += Buffer.from(tail).copy(out, w)
  return out.subarray(0, w)
}

export class DeltaError extends Error {}

function readVarint(d: Buffer, at: { i: number }): number {
  let n = 0
  let mul = 1
  for (;;) {
    if (at.i >= d.length) throw new DeltaError('the delta is truncated')
    const c = d[at.i++]
    n += (c & 0x7f) * mul
    if (!(c & 0x80)) return n
    mul *= 128
    if (mul > 2 ** 49) throw new DeltaError('a delta size is absurd')
  }
}

/** The result size a delta declares, without applying it (to check a ceiling first). */
export function deltaResultSize(delta: Buffer): { base: number; result: number } {
  const at = { i: 0 }
  const base = readVarint(delta, at)
  return { base, result: readVarint(delta, at) }
}

/**
 * What a delta shows without comparing bytes: the result begins with `prefix` bytes of the base
 * (copies from offset 0 onwards) and ends with its last `suffix` bytes (a last copy that ends at
 * the base's end). Lower bounds of the true common prefix and suffix.
 */
export interface DeltaShape {
  prefix: number
  suffix: number
}

/**
 * Apply a delta. Every instruction is bounds-checked against the base and the declared result
 * size, and the result must come out exactly that size; `maxResult` is checked before anything is
 * allocated (by `alloc`, which may hand out slices of a larger buffer). Throws DeltaError on any flaw.
 */
export function applyDelta(base: Buffer, delta: Buffer, maxResult: number, alloc: (size: number) => Buffer = Buffer.allocUnsafe, shape?: DeltaShape): Buffer {
  const at = { i: 0 }
  const baseSize = readVarint(delta, at)
  if (baseSize !== base.length) throw new DeltaError(`the delta is for a base of ${baseSize} bytes, not ${base.length}`)
  const size = readVarint(delta, at)
  if (size > maxResult) throw new DeltaError(`the delta makes an object that is too large (${size} bytes)`)
  const out = alloc(size)
  let w = 0
  let i = at.i
  while (i < delta.length) {
    const op = delta[i++]
    if (op & 0x80) {
      let off = 0
      let n = 0
      for (let k = 0; k < 4; k++)
        if (op & (1 << k)) {
          if (i >= delta.length) throw new DeltaError('the delta is truncated')
          off += delta[i++] * 2 ** (8 * k)
        }
      for (let k = 0; k < 3; k++)
        if (op & (1 << (4 + k))) {
          if (i >= delta.length) throw new DeltaError('the delta is truncated')
          n += delta[i++] << (8 * k)
        }
      if (n === 0) n = 0x10000
      if (off + n > base.length) throw new DeltaError(`the delta copies bytes ${off}..${off + n} of a ${base.length}-byte base`)
      if (w + n > size) throw new DeltaError('the delta writes past the size it declares')
      // TypedArray#set on a view: Buffer#copy's argument handling costs more than these copies
      out.set(new Uint8Array(base.buffer, base.byteOffset + off, n), w)
      if (shape) {
        if (off === w && w === shape.prefix) shape.prefix += n
        shape.suffix = off + n === base.length ? n : 0
      }
      w += n
    } else if (op) {
      if (i + op > delta.length) throw new DeltaError('the delta is truncated')
      if (w + op > size) throw new DeltaError('the delta writes past the size it declares')
      out.set(new Uint8Array(delta.buffer, delta.byteOffset + i, op), w)
      if (shape) shape.suffix = 0
      w += op
      i += op
    } else throw new DeltaError('the delta holds the reserved instruction 0')
  }
  if (w !== size) throw new DeltaError(`the delta makes ${w} bytes where it declares ${size}`)
  if (shape) shape.prefix = Math.min(shape.prefix, size)
  return out
}
