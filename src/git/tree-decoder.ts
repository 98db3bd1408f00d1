// Decoding the trees of a history one after another. Our repositories are flat: a tree is one
// sorted list of secrets and the next commit's tree differs from it in a few entries. So each
// tree is compared with the one decoded before it: the entries that lie in their common prefix,
// and those from an entry boundary inside their common suffix on, are the previous tree's, byte
// for byte and boundary for boundary (parsing is deterministic from the same start over the same
// bytes), and are reused as they are, already decoded and already checked. Only the middle is
// parsed. A history of 1,000 trees of 100 secrets is then ~1,000 entries to decode, not 100,000.
//
// Every tree is checked whole all the same: entries well formed, names in git's order (bytes,
// each name once; fsck's treeNotSorted) — at the seams too — and `check` sees every entry that
// was not already checked in the previous tree.
import type { TreeEntry } from './objects.js'
import { commonPrefix, commonSuffix } from './delta.js'
import { corrupt } from '../errors.js'

interface Decoded {
  bytes: Buffer
  entries: TreeEntry[]
  /** where each entry starts; one more at the end: bytes.length */
  starts: number[]
}

const MODE_644 = '100644'
const MODE_755 = '100755'

export class TreeDecoder {
  private prev: Decoded | null = null
  /** the entries the last decode parsed; the others were the previous tree's */
  fresh: TreeEntry[] = []

  /** `check` is called for each entry that was not already checked in the previous tree; it throws to refuse. */
  constructor(private readonly check: (e: TreeEntry) => void = () => {}) {}

  /**
   * `shared`, when given, is a prefix and a suffix this tree is known to share with the previous
   * one (a delta against it says so: DeltaShape), so the bytes need not be compared.
   */
  decode(b: Buffer, shared?: { prefix: number; suffix: number }): TreeEntry[] {
    const prev = this.prev
    const fresh: TreeEntry[] = []
    let entries: TreeEntry[] = []
    let starts: number[] = []
    let off = 0
    let j = 0
    let shift = 0
    let suffixFrom = Infinity
    if (prev) {
      const pb = prev.bytes
      const ps = prev.starts
      const n = prev.entries.length
      const p = shared ? Math.min(shared.prefix, pb.length, b.length) : commonPrefix(pb, b)
      const s = Math.min(shared ? shared.suffix : commonSuffix(pb, b, Math.min(pb.length, b.length) - p), Math.min(pb.length, b.length) - p)
      // k: how many of the previous entries end inside the common prefix (ps is ascending)
      let lo = 0
      let hi = n
      while (lo < hi) {
        const mid = (lo + hi + 1) >>> 1
        if (ps[mid] <= p) lo = mid
        else hi = mid - 1
      }
      const k = lo
      entries = prev.entries.slice(0, k)
      starts = ps.slice(0, k)
      off = ps[k]
      shift = pb.length - b.length
      suffixFrom = b.length - s
      // j: the first previous entry that starts inside the common suffix
      lo = k
      hi = n
      while (lo < hi) {
        const mid = (lo + hi) >>> 1
        if (ps[mid] < suffixFrom + shift) lo = mid + 1
        else hi = mid
      }
      j = lo
    }
    // the name of the last entry so far, as a byte range of b (for the order check)
    let lastName = -1
    let lastNameEnd = -1
    if (entries.length) {
      const e = entries[entries.length - 1]
      lastName = starts[starts.length - 1] + e.mode.length + 1
      lastNameEnd = off - 21
    }
    const inOrder = (from: number, to: number) => lastName < 0 || b.compare(b, lastName, lastNameEnd, from, to) > 0
    while (off < b.length) {
      if (prev && off >= suffixFrom) {
        const q = off + shift
        while (j < prev.entries.length && prev.starts[j] < q) j++
        if (j < prev.entries.length && prev.starts[j] === q) {
          const e = prev.entries[j]
          if (!inOrder(off + e.mode.length + 1, prev.starts[j + 1] - shift - 21)) throw corrupt(`git tree entry '${e.name}' is out of order or repeated`, { name: e.name })
          for (let i = j; i < prev.entries.length; i++) {
            entries.push(prev.entries[i])
            starts.push(prev.starts[i] - shift)
          }
          off = b.length
          break
        }
      }
      const sp = b.indexOf(0x20, off)
      const nul = sp < 0 ? -1 : b.indexOf(0, sp)
      if (sp < 0 || nul < 0 || nul + 21 > b.length) throw corrupt('git tree is corrupt')
      // "100644" / "100755", compared as bytes: no string made for the usual modes
      const m = sp - off === 6 && b[off] === 0x31 && b[off + 1] === 0x30 && b[off + 2] === 0x30 ? b.readUInt16BE(off + 3) * 256 + b[off + 5] : -1
      const mode = m === 0x363434 ? MODE_644 : m === 0x373535 ? MODE_755 : b.toString('latin1', off, sp)
      const e: TreeEntry = { mode, name: b.toString('utf8', sp + 1, nul), oid: b.toString('hex', nul + 1, nul + 21) }
      if (!inOrder(sp + 1, nul)) throw corrupt(`git tree entry '${e.name}' is out of order or repeated`, { name: e.name })
      this.check(e)
      fresh.push(e)
      entries.push(e)
      starts.push(off)
      lastName = sp + 1
      lastNameEnd = nul
      off = nul + 21
    }
    starts.push(b.length)
    this.prev = { bytes: b, entries, starts }
    this.fresh = fresh
    return entries
  }
}
