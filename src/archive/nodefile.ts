// The node file: header, two key-slot areas, then append-only segments (docs/FORMAT.md).
// Reads are random access through the in-memory index; a save appends one segment (chunks, an
// index block — a delta, or now and then a full index — and a trailer) and fsyncs.
import fs from 'node:fs'
import path from 'node:path'
import {
  BODY_OFFSET,
  CHUNK_OVERHEAD,
  CHUNK_SIZE,
  HEADER_SIZE,
  SEGMENT_HEADER_SIZE,
  SLOT_AREA_SIZE,
  TRAILER_MAGIC,
  TRAILER_SIZE,
  FORMAT_VERSION,
  FILE_ID_BYTES,
  BLOB_ID_BYTES,
  LINKED_TAIL_BYTES,
  type Entry,
  type IndexOp,
  type SlotArea,
  type Trailer,
  chainLink,
  chunkCount,
  decodeHeader,
  decodeIndex,
  decodeSegmentHeader,
  decodeTrailer,
  decryptChunks,
  encodeHeader,
  encodeIndex,
  encodeSegmentHeader,
  encodeSlotArea,
  encodeTrailer,
  encryptMember,
  indexAd,
  isValidPath,
  storedSize,
  wrapPassphraseSlot,
  type Slot,
  SLOT_AREAS_OFFSET,
  decodeSlotArea,
  encodeSlotRecord,
  relocateSlotRecord,
  slotRecordPointer,
} from './codec.js'
import { type KeySource, type SlotInfo, activeArea, describeSlot, slotSource, unlockSlots, writeSlots, makePassphraseSlot, planSlots } from './slots.js'
import { KEY_BYTES, NONCE_BYTES, SALT_BYTES, type KdfParams, deriveFromPassphrase, open as aeadOpen, randomBytes, seal, secureBuffer, subkey, wipe } from '../crypto/index.js'
import { PolykeyError, corrupt, fromFsError, notFound } from '../errors.js'
import { LazyIndex } from './lazy-index.js'
import { tryLockFile } from './os-lock.js'
import type { SeenRecord } from './seen.js'

export type Change =
  | { op: 'put'; path: string; type: 'file'; data: Buffer; mode?: number; mtime?: number }
  /** a member moved or renamed: its stored chunks are reused (their associated data names no path) */
  | { op: 'put'; path: string; type: 'file'; from: Entry; mode?: number; mtime?: number }
  | { op: 'put'; path: string; type: 'dir'; mode?: number; mtime?: number }
  | { op: 'put'; path: string; type: 'link'; target: string; mode?: number; mtime?: number }
  | { op: 'delete'; path: string }

export type { KeySource, SlotInfo }

export interface OpenOptions {
  writable?: boolean
  /** Called with a one-line warning (e.g. an incomplete save was skipped). */
  warn?: (msg: string) => void
  /** The user's rollback record (seen.ts): told what this open and every save reached. */
  seen?: SeenRecord | null
}

/** Checkpoint policy: a full index is written when the delta chain outgrows it (amortised O(delta)). */
const MIN_CHAIN_BYTES = 256 * 1024
const MAX_CHAIN_COUNT = 1000
/** Compaction: when dead bytes are more than half of a file of at least this size. */
const COMPACT_MIN_SIZE = 1024 * 1024

export class NodeFile {
  readonly path: string
  readonly fileId: Buffer
  /** the file's format version (header): version-1 files stay version 1 (docs/FORMAT.md §Versioning) */
  readonly version: number
  private fd: number
  private readonly headerBytes: Buffer
  private master: Buffer
  private dataKey: Buffer
  private indexKey: Buffer
  private macKey: Buffer
  private index = new Map<string, Entry>()
  private trailer!: Trailer
  private trailerOffset = 0
  private lastFullIndexLength = 0
  private size = 0
  private writable: boolean
  private warn?: (msg: string) => void
  private seen: SeenRecord | null = null
  /** bytes after the last complete state (an interrupted save); writers cut them before appending */
  private garbageFrom = -1
  /** the id of the key slot that opened this node (null when opened with the master key) */
  unlockedSlot: string | null = null

  private constructor(p: string, fd: number, headerBytes: Buffer, fileId: Buffer, master: Buffer, writable: boolean) {
    this.path = p
    this.version = headerBytes.readUInt16LE(8)
    this.fd = fd
    this.headerBytes = headerBytes
    this.fileId = fileId
    this.master = master
    this.dataKey = subkey(master, 'data')
    this.indexKey = subkey(master, 'index')
    this.macKey = subkey(master, 'trailer')
    this.writable = writable
  }

  // ---------------------------------------------------------------------------------- create
  /** Create a new node file; refuses to overwrite. `initial` becomes the first segment. */
  static create(p: string, passphrase: Buffer, kdf: KdfParams, initial: Change[]): NodeFile {
    const fileId = randomBytes(FILE_ID_BYTES)
    const headerBytes = encodeHeader({ version: FORMAT_VERSION, fileId })
    const master = secureBuffer(KEY_BYTES)
    master.set(randomBytes(KEY_BYTES))
    const area = makePassphraseArea(headerBytes, master, passphrase, kdf, 1)
    let fd: number
    try {
      fd = fs.openSync(p, fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_RDWR, 0o600)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new PolykeyError('EXISTS', `${p} already exists; refusing to overwrite it`, { path: p })
      throw fromFsError(err, `cannot create ${p}`)
    }
    try {
      const head = Buffer.concat([headerBytes, encodeSlotArea(area), Buffer.alloc(SLOT_AREA_SIZE)])
      writeFull(fd, head, 0)
      const nf = new NodeFile(p, fd, headerBytes, fileId, master, true)
      nf.size = BODY_OFFSET
      nf.trailer = { seq: 0, segStart: 0, indexOffset: 0, indexLength: 0, indexKind: 'full', prevTrailer: 0, chainBytes: 0, chainCount: 0, memberCount: 0, liveBytes: 0 }
      nf.appendSegment(initial, 'full')
      fsyncDir(p)
      return nf
    } catch (err) {
      fs.closeSync(fd)
      fs.rmSync(p, { force: true })
      throw err
    }
  }

  // ---------------------------------------------------------------------------------- open
  static open(p: string, key: KeySource, opts: OpenOptions = {}): NodeFile {
    let fd: number
    try {
      fd = fs.openSync(p, opts.writable ? 'r+' : 'r')
    } catch (err) {
      const e = fromFsError(err, `cannot open node ${p}`)
      if (e.code === 'NOT_FOUND') e.hint = "create one with 'polykey init'"
      throw e
    }
    try {
      const size = fs.fstatSync(fd).size
      if (size < HEADER_SIZE) throw new PolykeyError('CORRUPT', `${p} is not a Polykey node file (too short)`, { region: 'header' })
      const head = readAt(fd, 0, Math.min(size, BODY_OFFSET))
      const header = decodeHeader(head)
      if (size < BODY_OFFSET) throw corrupt(`${p} is truncated inside its key slots`, { region: 'slots' })
      const unlocked = 'masterKey' in key ? null : unlockSlots(slotSource(fd), key)
      const master = unlocked ? unlocked.master : copySecure((key as { masterKey: Buffer }).masterKey)
      const nf = new NodeFile(p, fd, Buffer.from(head.subarray(0, HEADER_SIZE)), header.fileId, master, !!opts.writable)
      if (unlocked) nf.unlockedSlot = describeSlot(unlocked.slot).id
      nf.size = size
      nf.warn = opts.warn
      nf.load(opts.warn)
      nf.seen = opts.seen ?? null
      nf.seen?.opened(nf.fileId, nf.seq, p, () => nf.unchangedOnDisk())
      return nf
    } catch (err) {
      fs.closeSync(fd)
      throw err
    }
  }

  /** The master key (secure memory). The agent keeps it to re-open without a passphrase. */
  get masterKey(): Buffer {
    return this.master
  }
  get seq(): number {
    return this.trailer.seq
  }
  get fileSize(): number {
    return this.size
  }
  get liveBytes(): number {
    return this.trailer.liveBytes
  }

  private load(warn?: (m: string) => void): void {
    let tOff = this.size - TRAILER_SIZE
    let t = tOff >= BODY_OFFSET ? decodeTrailer(readAt(this.fd, tOff, TRAILER_SIZE), this.fileId, this.macKey) : null
    if (!t || !atOwnPlace(t, tOff)) {
      const found = this.recover()
      tOff = found.offset
      t = found.trailer
      this.garbageFrom = tOff + TRAILER_SIZE
      warn?.(`node file ends with ${this.size - this.garbageFrom} bytes of an interrupted save; opened the last complete state`)
    }
    this.trailer = t
    this.trailerOffset = tOff
    this.lastLink = null
    // Walk back to the last full index, then apply the deltas forward.
    const chain: Trailer[] = [t]
    let cur = t
    let guard = 0
    while (cur.indexKind === 'delta') {
      if (cur.prevTrailer < BODY_OFFSET || cur.prevTrailer >= cur.segStart || ++guard > MAX_CHAIN_COUNT + 2) throw corrupt('node index chain is broken', { region: 'trailer' })
      // One read: the previous trailer and the index tag before it (what cur's link covers).
      const tail = readAt(this.fd, cur.prevTrailer + TRAILER_SIZE - LINKED_TAIL_BYTES, LINKED_TAIL_BYTES)
      const prev = decodeTrailer(tail.subarray(LINKED_TAIL_BYTES - TRAILER_SIZE), this.fileId, this.macKey)
      if (!prev || prev.seq !== cur.seq - 1 || !atOwnPlace(prev, cur.prevTrailer)) throw corrupt('node file trailer is corrupt', { region: 'trailer', offset: cur.prevTrailer })
      this.checkLink(cur, tail)
      chain.push(prev)
      cur = prev
    }
    // Each link walked is checked against the save it names (above), and the full index's own
    // link too: a splice of two diverged copies puts an authentic trailer of the other copy there.
    this.checkLink(cur)
    this.lastFullIndexLength = cur.indexLength
    // The full block is decoded on demand (lazy-index.ts): a command that reads a few members of
    // a large node does not pay for decoding every entry.
    const size = this.size
    const index = new LazyIndex(this.readIndexPlain(cur), cur.memberCount, t.memberCount, (e) => {
      if (e.type === 'file' && (e.offset < BODY_OFFSET || e.offset + storedSize(e.size) > size)) throw corrupt(`member '${e.path}' points outside the file`, { region: 'index' })
    })
    for (let i = chain.length - 2; i >= 0; i--) index.applyDelta(this.readIndexBlock(chain[i]))
    this.index = index
  }

  /**
   * The trailer's link must name the content of the save before it. Version 2 requires a link
   * on every trailer that has a predecessor; in a version-1 file, saves made by a polykey that
   * knows links carry one too (an older reader ignores it) and it is checked where present.
   */
  private checkLink(t: Trailer, tailRead?: Buffer): void {
    if (t.prevTrailer === 0) return
    if (!t.link) {
      if (this.version >= 2) throw corrupt('node file trailer chain is broken (a save without its link)', { region: 'trailer', seq: t.seq })
      return
    }
    if (t.prevTrailer < BODY_OFFSET + LINKED_TAIL_BYTES - TRAILER_SIZE || t.prevTrailer + TRAILER_SIZE > this.size)
      throw corrupt('node index chain is broken', { region: 'trailer' })
    const tail = tailRead ?? readAt(this.fd, t.prevTrailer + TRAILER_SIZE - LINKED_TAIL_BYTES, LINKED_TAIL_BYTES)
    if (!chainLink(tail).equals(t.link))
      throw corrupt('node file trailer chain is broken (a save does not follow the one before it: pieces of two copies of this node?)', {
        region: 'trailer',
        seq: t.seq,
        offset: t.prevTrailer,
      })
  }

  /**
   * Every save's link back to the first one (or the last compaction): what `polykey verify`
   * checks beyond what an open reads. O(saves) reads of 144 bytes.
   */
  verifyHistory(): number {
    let t = this.trailer
    let n = 1
    while (t.prevTrailer !== 0) {
      this.checkLink(t)
      if (t.prevTrailer < BODY_OFFSET || t.prevTrailer >= t.segStart) throw corrupt('node index chain is broken', { region: 'trailer' })
      const prev = decodeTrailer(readAt(this.fd, t.prevTrailer, TRAILER_SIZE), this.fileId, this.macKey)
      if (!prev || prev.seq !== t.seq - 1 || !atOwnPlace(prev, t.prevTrailer)) throw corrupt('node file trailer is corrupt', { region: 'trailer', offset: t.prevTrailer })
      t = prev
      n++
    }
    return n
  }

  private readIndexPlain(t: Trailer): Buffer {
    if (t.indexOffset < t.segStart || t.indexOffset + t.indexLength > this.size || t.indexLength < NONCE_BYTES + 16)
      throw corrupt('node index is out of bounds', { region: 'index' })
    const raw = readAt(this.fd, t.indexOffset, t.indexLength)
    const plain = aeadOpen(this.indexKey, raw.subarray(0, NONCE_BYTES), raw.subarray(NONCE_BYTES), indexAd(this.fileId, t.indexOffset, t.seq))
    if (!plain) throw corrupt('node index failed authentication', { region: 'index', offset: t.indexOffset })
    return plain
  }

  private readIndexBlock(t: Trailer): IndexOp[] {
    const { kind, ops } = decodeIndex(this.readIndexPlain(t))
    if (kind !== t.indexKind) throw corrupt('node index kind does not match its trailer', { region: 'index' })
    return ops
  }

  /**
   * The tail is not an authentic trailer: find the last one that is (at its own place). Only an
   * interrupted save is forgiven; a complete segment whose trailer does not verify is corruption
   * (docs/FORMAT.md §Recovery).
   */
  private recover(): { offset: number; trailer: Trailer } {
    const block = 1 << 20
    let end = this.size
    while (end > BODY_OFFSET) {
      const start = Math.max(BODY_OFFSET, end - block)
      const buf = readAt(this.fd, start, Math.min(this.size, end + TRAILER_SIZE) - start)
      for (let i = end - start - 1; i >= 0; i--) {
        if (buf[i] !== TRAILER_MAGIC[0] || !buf.subarray(i, i + 8).equals(TRAILER_MAGIC)) continue
        const off = start + i
        if (off + TRAILER_SIZE > this.size) continue
        const t = decodeTrailer(readAt(this.fd, off, TRAILER_SIZE), this.fileId, this.macKey)
        // A trailer copied away from its own place (spliced in) is not a saved state.
        if (!t || !atOwnPlace(t, off)) continue
        // What follows is an interrupted save — a tail of any length, zeros included, as a crash
        // can leave — unless it is a whole next segment that reached the disk (right sequence
        // number, its length fits the file) and only its trailer fails: that is damage, and
        // rolling back past it would silently drop a save. A trailer whose last 16 bytes are zeros
        // never reached the disk (a filesystem that grew the file before writing it); a flipped
        // byte cannot do that to a MAC.
        const rest = readAt(this.fd, off + TRAILER_SIZE, Math.min(this.size - off - TRAILER_SIZE, SEGMENT_HEADER_SIZE))
        const sh = decodeSegmentHeader(rest)
        const segEnd = sh ? off + TRAILER_SIZE + sh.length : 0
        const wholeSegment = !!sh && sh.seq === t.seq + 1 && segEnd <= this.size && sh.length >= SEGMENT_HEADER_SIZE + TRAILER_SIZE
        if (wholeSegment && !readAt(this.fd, segEnd - 16, 16).every((x) => x === 0))
          throw corrupt('node file is corrupt after its last complete save', { region: 'trailer', offset: off })
        return { offset: off, trailer: t }
      }
      end = start
    }
    throw corrupt('node file has no complete saved state (truncated or not a node)', { region: 'trailer' })
  }

  // ---------------------------------------------------------------------------------- reading
  entries(): IterableIterator<Entry> {
    return this.index.values()
  }
  get(p: string): Entry | undefined {
    return this.index.get(p)
  }
  has(p: string): boolean {
    return this.index.has(p)
  }
  /** How many file members lie under the folder `dir` (at any depth). */
  filesUnder(dir: string): number {
    const prefix = dir + '/'
    if (this.index instanceof LazyIndex) return this.index.filesUnder(prefix)
    let n = 0
    for (const [p, e] of this.index) if (e.type === 'file' && p.startsWith(prefix)) n++
    return n
  }
  get memberCount(): number {
    return this.index.size
  }

  /** A member's bytes (hardlinks followed). Only this member's chunks are read and decrypted. */
  read(p: string): Buffer {
    let e = this.index.get(p)
    if (e?.type === 'link') e = this.index.get(e.target)
    if (!e) throw notFound(`no such member: ${p}`, { path: p })
    if (e.type !== 'file') throw new PolykeyError('USAGE', `${p} is a directory`, { path: p })
    return this.readEntry(e)
  }

  readEntry(e: Entry): Buffer {
    const out = Buffer.alloc(e.size)
    const stored = readAt(this.fd, e.offset, storedSize(e.size))
    decryptChunks(this.dataKey, this.fileId, e, 0, stored, out, 0)
    return out
  }

  /**
   * Decrypt many members with few large reads (in file order). fn gets each member's bytes, valid
   * during the call only: they are decrypted into one scratch buffer and zeroed when fn returns
   * (no allocation per member: `secret grep` reads 10,000 of them).
   */
  readEntries(entries: Entry[], fn: (e: Entry, data: Buffer) => void, windowBytes = 8 << 20): void {
    const sorted = [...entries].sort((a, b) => a.offset - b.offset)
    let scratch = Buffer.alloc(0)
    let i = 0
    while (i < sorted.length) {
      const start = sorted[i].offset
      let end = start + storedSize(sorted[i].size)
      let j = i + 1
      while (j < sorted.length && sorted[j].offset >= end && sorted[j].offset + storedSize(sorted[j].size) - start <= windowBytes && sorted[j].offset - end < 4096) {
        end = sorted[j].offset + storedSize(sorted[j].size)
        j++
      }
      const buf = readAt(this.fd, start, end - start)
      for (let k = i; k < j; k++) {
        const e = sorted[k]
        if (e.size > scratch.length) {
          scratch.fill(0)
          scratch = Buffer.alloc(Math.max(e.size, 4096))
        }
        const out = scratch.subarray(0, e.size)
        try {
          decryptChunks(this.dataKey, this.fileId, e, 0, buf.subarray(e.offset - start, e.offset - start + storedSize(e.size)), out, 0)
          fn(e, out)
        } finally {
          out.fill(0)
        }
      }
      i = j
    }
  }

  /** Read [pos, pos+len) of a member, decrypting only the chunks that hold it. */
  readRange(e: Entry, pos: number, len: number): Buffer {
    const end = Math.min(e.size, pos + len)
    if (pos >= end) return Buffer.alloc(0)
    const first = Math.floor(pos / CHUNK_SIZE)
    const last = Math.floor((end - 1) / CHUNK_SIZE)
    const start = e.offset + first * (CHUNK_SIZE + CHUNK_OVERHEAD)
    const stop = e.offset + Math.min(storedSize(e.size), (last + 1) * (CHUNK_SIZE + CHUNK_OVERHEAD))
    const plain = Buffer.alloc(Math.min(e.size, (last + 1) * CHUNK_SIZE) - first * CHUNK_SIZE)
    decryptChunks(this.dataKey, this.fileId, e, first, readAt(this.fd, start, stop - start), plain, 0)
    return plain.subarray(pos - first * CHUNK_SIZE, end - first * CHUNK_SIZE)
  }

  // ---------------------------------------------------------------------------------- writing
  /** Append one segment holding `changes`. Callers hold the node lock. */
  commit(changes: Change[]): void {
    if (!this.writable) throw new PolykeyError('INTERNAL', 'node file opened read-only')
    if (changes.length === 0) return
    this.appendSegment(changes, 'auto')
    this.seen?.saved(this.fileId, this.trailer.seq)
    // The save is complete and synced here; compaction is housekeeping. If it fails, the file
    // is left as it was (see compact) and the save must not be reported as failed.
    if (this.shouldCompact()) {
      try {
        this.compact()
      } catch (err) {
        this.warn?.(`could not compact the node file (${(err as Error).message}); the save is complete`)
      }
    }
  }

  /**
   * The file we have open must still be the one at our path. A sync or restore tool that renames
   * another file over the node leaves us holding the old inode: every later save would go to a
   * file nobody will ever open again. Refuse instead; the caller keeps the changes.
   */
  private assertStillAtPath(): void {
    let st: fs.Stats | null = null
    try {
      st = fs.statSync(this.path)
    } catch {
      /* removed or renamed away */
    }
    const mine = fs.fstatSync(this.fd)
    if (st && st.ino === mine.ino && st.dev === mine.dev) return
    throw new PolykeyError(
      'CONFLICT',
      `${this.path} was ${st ? 'replaced by another file' : 'removed or renamed'} since it was opened (a sync or restore tool?); not saving into the old file`,
      { path: this.path },
      {
        hint: 'the changes are not saved; close this polykey (unmount) and open the node again to see which file it is now',
      },
    )
  }

  /** `extra`: bytes no member owns, right after the segment header (a slot record); returns their offset. */
  private appendSegment(changes: Change[], kindWanted: 'auto' | 'full', extra?: Buffer): number {
    if (this.size > BODY_OFFSET) this.assertStillAtPath() // (a file being created is ours)
    if (this.garbageFrom >= 0) {
      fs.ftruncateSync(this.fd, this.garbageFrom)
      this.size = this.garbageFrom
      this.garbageFrom = -1
    }
    const segStart = this.size
    const seq = this.trailer.seq + 1
    const now = Date.now()
    const parts: Buffer[] = [Buffer.alloc(0)] // segment header, filled in below
    let w = segStart + SEGMENT_HEADER_SIZE
    const extraOffset = w
    if (extra) {
      parts.push(extra)
      w += extra.length
    }
    const ops: IndexOp[] = []
    // This batch's changes, on top of this.index (which is left alone until the segment is on
    // disk, so a failed save changes nothing in memory). Copying the index here would make every
    // save O(members); the overlay keeps it O(changes).
    const touched = new Map<string, Entry | null>()
    const lookup = (p: string) => (touched.has(p) ? (touched.get(p) ?? undefined) : this.index.get(p))
    let memberCount = this.index.size
    let liveBytes = this.trailer.liveBytes
    for (const c of changes) {
      if (!isValidPath(c.path)) throw new PolykeyError('USAGE', `invalid member path: ${JSON.stringify(c.path)}`)
      const old = lookup(c.path)
      if (c.op === 'delete') {
        if (!old) continue
        if (old.type === 'file') liveBytes -= storedSize(old.size)
        touched.set(c.path, null)
        memberCount--
        ops.push({ op: 'delete', path: c.path })
        continue
      }
      if (old?.type === 'file') liveBytes -= storedSize(old.size)
      const entry: Entry = { path: c.path, type: c.type, mode: c.mode ?? (c.type === 'dir' ? 0o700 : 0o600), mtime: c.mtime ?? now, size: 0, offset: 0, blobId: null, target: '' }
      if (c.type === 'file' && 'from' in c) {
        entry.blobId = c.from.blobId
        entry.size = c.from.size
        entry.offset = c.from.offset
        liveBytes += storedSize(c.from.size)
      } else if (c.type === 'file') {
        entry.blobId = randomBytes(BLOB_ID_BYTES)
        entry.size = c.data.length
        entry.offset = w
        const stored = encryptMember(this.dataKey, this.fileId, entry.blobId, c.data, () => randomBytes(NONCE_BYTES))
        parts.push(stored)
        w += stored.length
        liveBytes += stored.length
      } else if (c.type === 'link') {
        entry.target = c.target
      }
      if (!old) memberCount++
      touched.set(c.path, entry)
      ops.push({ op: 'put', entry })
    }
    // Delta or full? A full index once the delta chain outgrows it keeps opens bounded.
    let kind: 'full' | 'delta' = 'delta'
    let payload = encodeIndex('delta', ops)
    const chainBytes = this.trailer.chainBytes + payload.length + NONCE_BYTES + 16
    if (kindWanted === 'full' || this.trailer.seq === 0 || chainBytes > Math.max(MIN_CHAIN_BYTES, this.lastFullIndexLength) || this.trailer.chainCount + 1 > MAX_CHAIN_COUNT) {
      kind = 'full'
      payload = encodeIndex('full', this.fullIndexOps(touched))
    }
    const indexOffset = w
    const nonce = randomBytes(NONCE_BYTES)
    const indexBlock = Buffer.concat([nonce, seal(this.indexKey, nonce, payload, indexAd(this.fileId, indexOffset, seq))])
    parts.push(indexBlock)
    w += indexBlock.length
    const trailer: Trailer = {
      seq,
      segStart,
      indexOffset,
      indexLength: indexBlock.length,
      indexKind: kind,
      prevTrailer: this.trailer.seq === 0 ? 0 : this.trailerOffset,
      link: this.trailer.seq === 0 ? null : this.linkToLast(),
      chainBytes: kind === 'full' ? 0 : this.trailer.chainBytes + indexBlock.length,
      chainCount: kind === 'full' ? 0 : this.trailer.chainCount + 1,
      memberCount,
      liveBytes,
    }
    const trailerOffset = w
    parts.push(encodeTrailer(trailer, this.fileId, this.macKey))
    w += TRAILER_SIZE
    parts[0] = encodeSegmentHeader({ seq, length: w - segStart })
    const segment = Buffer.concat(parts)
    try {
      writeFull(this.fd, segment, segStart)
      fs.fdatasyncSync(this.fd)
    } catch (err) {
      // Cut what we wrote: the previous state stays the last complete one either way.
      try {
        fs.ftruncateSync(this.fd, segStart)
      } catch {
        this.garbageFrom = segStart
      }
      throw fromFsError(err, `cannot save ${this.path}`)
    }
    this.size = w
    this.lastLink = chainLink(segment.subarray(segment.length - LINKED_TAIL_BYTES))
    for (const [p, e] of touched) {
      if (e) this.index.set(p, e)
      else this.index.delete(p)
    }
    this.trailer = trailer
    this.trailerOffset = trailerOffset
    if (kind === 'full') this.lastFullIndexLength = indexBlock.length
    return extraOffset
  }

  /** The link a save appended now carries: kept from the last save this process wrote, else read. */
  private linkToLast(): Buffer {
    return this.lastLink ?? chainLink(readAt(this.fd, this.trailerOffset + TRAILER_SIZE - LINKED_TAIL_BYTES, LINKED_TAIL_BYTES))
  }
  private lastLink: Buffer | null = null

  /** Every live member after `touched` is applied (index order, then new members). */
  private fullIndexOps(touched: Map<string, Entry | null>): IndexOp[] {
    const ops: IndexOp[] = []
    for (const [p, e] of this.index) {
      const t = touched.has(p) ? touched.get(p) : e
      if (t) ops.push({ op: 'put', entry: t })
    }
    for (const [p, e] of touched) if (e && !this.index.has(p)) ops.push({ op: 'put', entry: e })
    return ops
  }

  private shouldCompact(): boolean {
    const live = BODY_OFFSET + this.trailer.liveBytes + this.lastFullIndexLength + this.trailer.chainBytes
    if (!(this.size >= COMPACT_MIN_SIZE && this.size - live > this.size / 2)) return false
    // Compaction renames a new file over this name: another hard link would keep the old file,
    // and the node would silently become two diverging files.
    if (fs.fstatSync(this.fd).nlink > 1) {
      if (!this.warnedLinks) this.warn?.(`not compacting ${this.path}: it has other hard links, which would keep the old file`)
      this.warnedLinks = true
      return false
    }
    return true
  }
  private warnedLinks = false

  /**
   * Rewrite the file with only live members: temporary file beside it, fsync, rename, fsync of
   * the folder. Chunks are copied still encrypted (their associated data names the member, not
   * its offset). If anything fails the original file is untouched.
   */
  compact(): void {
    const folder = path.dirname(this.path)
    const prefix = `.${path.basename(this.path)}.compact-`
    const tmp = path.join(folder, `${prefix}${process.pid}.tmp`)
    // A compaction killed midway (SIGKILL, power loss) leaves its temporary file (ciphertext
    // only). Whoever compacts holds the node lock, so any such file is a dead one's: remove it.
    for (const f of fs.readdirSync(folder)) if (f.startsWith(prefix) && /^\d+\.tmp$/.test(f.slice(prefix.length))) fs.rmSync(path.join(folder, f), { force: true })
    let fd = -1
    try {
      this.assertStillAtPath()
      fd = fs.openSync(tmp, 'wx+', 0o600)
      // The new file becomes the node: it carries the OS lock (os-lock.ts) before anyone can open it
      // by the node's name, so the lock stays one lock on the file the name means.
      tryLockFile(fd)
      const head = readAt(this.fd, 0, BODY_OFFSET)
      const seq = this.trailer.seq + 1
      const segStart = BODY_OFFSET
      let w = segStart + SEGMENT_HEADER_SIZE
      // A slot record moves with the body: it goes first in the new segment, and the head gets
      // the area in force with its pointer moved there, and an empty other area (what a finished
      // slot rewrite leaves). A head with no pointer is copied as it is.
      const src = slotSource(this.fd)
      const areas = [0, 1].map((i) => {
        try {
          return decodeSlotArea(head.subarray(SLOT_AREAS_OFFSET + i * SLOT_AREA_SIZE, SLOT_AREAS_OFFSET + (i + 1) * SLOT_AREA_SIZE))
        } catch {
          return null
        }
      })
      if (areas.some((a) => a?.record)) {
        const inForce = activeArea(src)
        const i = areas.findIndex((a) => a?.generation === inForce.generation)
        let area = head.subarray(SLOT_AREAS_OFFSET + i * SLOT_AREA_SIZE, SLOT_AREAS_OFFSET + (i + 1) * SLOT_AREA_SIZE)
        if (inForce.record && !inForce.recordError) {
          writeFull(fd, src.read(inForce.record.offset, inForce.record.length), w)
          area = relocateSlotRecord(area, w)
          w += inForce.record.length
        }
        writeFull(fd, Buffer.concat([head.subarray(0, SLOT_AREAS_OFFSET), area, Buffer.alloc(SLOT_AREA_SIZE)]), 0)
      } else writeFull(fd, head, 0)
      const next = new Map<string, Entry>()
      const pending: Buffer[] = []
      let pendingBytes = 0
      let flushAt = w
      const flush = () => {
        if (pending.length) writeFull(fd, Buffer.concat(pending), flushAt)
        flushAt += pendingBytes
        pending.length = 0
        pendingBytes = 0
      }
      for (const e of this.index.values()) {
        if (e.type !== 'file') {
          next.set(e.path, e)
          continue
        }
        const stored = readAt(this.fd, e.offset, storedSize(e.size))
        pending.push(stored)
        pendingBytes += stored.length
        next.set(e.path, { ...e, offset: w })
        w += stored.length
        if (pendingBytes > 8 << 20) flush()
      }
      flush()
      const payload = encodeIndex(
        'full',
        [...next.values()].map((entry) => ({ op: 'put' as const, entry })),
      )
      const nonce = randomBytes(NONCE_BYTES)
      const indexBlock = Buffer.concat([nonce, seal(this.indexKey, nonce, payload, indexAd(this.fileId, w, seq))])
      const trailer: Trailer = {
        seq,
        segStart,
        indexOffset: w,
        indexLength: indexBlock.length,
        indexKind: 'full',
        prevTrailer: 0,
        chainBytes: 0,
        chainCount: 0,
        memberCount: next.size,
        liveBytes: this.trailer.liveBytes,
      }
      const trailerOffset = w + indexBlock.length
      writeFull(fd, Buffer.concat([indexBlock, encodeTrailer(trailer, this.fileId, this.macKey)]), w)
      writeFull(fd, encodeSegmentHeader({ seq, length: trailerOffset + TRAILER_SIZE - segStart }), segStart)
      fs.fsyncSync(fd)
      fs.renameSync(tmp, this.path)
      fsyncDir(this.path)
      fs.closeSync(this.fd)
      this.fd = fd
      fd = -1
      this.size = trailerOffset + TRAILER_SIZE
      this.garbageFrom = -1 // an interrupted tail of the old file is gone with it
      this.index = next
      this.trailer = trailer
      this.trailerOffset = trailerOffset
      this.lastLink = null
      this.lastFullIndexLength = indexBlock.length
    } catch (err) {
      if (fd >= 0) fs.closeSync(fd)
      fs.rmSync(tmp, { force: true })
      throw fromFsError(err, `cannot compact ${this.path}`)
    }
  }

  // ---------------------------------------------------------------------------------- key slots
  /** The key slots in force (docs/FORMAT.md §Key slots). Needs no key. `warn` hears of a damaged slot record. */
  static peekSlots(p: string, warn?: (msg: string) => void): SlotInfo[] {
    let fd: number
    try {
      fd = fs.openSync(p, 'r')
    } catch (err) {
      throw fromFsError(err, `cannot open node ${p}`)
    }
    try {
      const src = slotSource(fd)
      decodeHeader(src.head)
      const area = activeArea(src)
      if (area.recordError) warn?.(`${area.recordError}: the key slots it held are missing from this list`)
      return area.slots.map(describeSlot)
    } finally {
      fs.closeSync(fd)
    }
  }

  /** The slots in force, to be rewritten: the file re-read first (callers hold the lock; another writer may have saved or compacted since we opened it). */
  private slotsInForce(): Slot[] {
    this.refresh(this.warn)
    const area = activeArea(slotSource(this.fd))
    // Rewriting the set from a list that lacks the record's slots would drop them for good.
    if (area.recordError)
      throw new PolykeyError(
        'CORRUPT',
        `${area.recordError}; not changing the key slots`,
        { region: 'slots' },
        { hint: 'polykey verify says more; a backup of the node file may still have the record' },
      )
    return area.slots
  }
  slots(): SlotInfo[] {
    return activeArea(slotSource(this.fd)).slots.map(describeSlot)
  }
  /** What `polykey verify` adds for the key slots: the slot record in force matches its pointer. */
  verifySlots(): void {
    const area = activeArea(slotSource(this.fd))
    if (area.recordError) throw corrupt(area.recordError, { region: 'slots' })
  }

  /**
   * Make `slots` the slot set. Those that do not fit the area go into a slot record, which is
   * appended as a save of its own (no member changes; synced) before the area that points to it
   * is written: a crash before the area is written leaves the old set and a harmless save. An
   * unchanged record (a passphrase change beside RSA gpg slots) is pointed to again, not
   * rewritten. Callers hold the lock.
   */
  private setSlots(slots: Slot[]): void {
    const { inline, overflow } = planSlots(slots)
    let record = null
    if (overflow.length) {
      const bytes = encodeSlotRecord(this.fileId, overflow)
      const cur = activeArea(slotSource(this.fd))
      const want = slotRecordPointer(0, bytes)
      if (cur.record && !cur.recordError && cur.record.length === want.length && cur.record.hash.equals(want.hash)) record = cur.record
      else {
        record = slotRecordPointer(this.appendSegment([], 'auto', bytes), bytes)
        this.seen?.saved(this.fileId, this.trailer.seq)
      }
    }
    writeSlots(this.fd, inline, record)
  }

  /** Add a slot made for this node (slots.ts makes them from the master key). Callers hold the lock. */
  addSlot(make: (headerBytes: Buffer, master: Buffer) => Slot): SlotInfo {
    if (!this.writable) throw new PolykeyError('INTERNAL', 'node file opened read-only')
    const slot = make(this.headerBytes, this.master)
    this.setSlots([...this.slotsInForce(), slot])
    return describeSlot(slot)
  }

  /** Remove a slot by id; the last one is refused. Callers hold the lock. */
  removeSlot(id: string): SlotInfo {
    if (!this.writable) throw new PolykeyError('INTERNAL', 'node file opened read-only')
    const slots = this.slotsInForce()
    const hit = slots.filter((s) => describeSlot(s).id === id.toLowerCase())
    if (hit.length === 0) throw notFound(`no key slot '${id}'`, { id })
    if (slots.length === 1)
      throw new PolykeyError(
        'REFUSED',
        `slot ${id} is the node's only key slot; removing it would lock the node forever`,
        { id },
        { hint: 'add another slot first (polykey slot add)' },
      )
    this.setSlots(slots.filter((s) => !hit.includes(s)))
    return describeSlot(hit[0])
  }

  /**
   * Replace the passphrase slot that opened the node (or the only one) by one for the new
   * passphrase; other slots are kept. Crash-safe: the old or the new set works (slots.ts).
   */
  changePassphrase(newPassphrase: Buffer, kdf: KdfParams): void {
    if (!this.writable) throw new PolykeyError('INTERNAL', 'node file opened read-only')
    const slots = this.slotsInForce()
    const pass = slots.filter((s) => s.type === 'passphrase')
    let i = slots.findIndex((s) => s.type === 'passphrase' && describeSlot(s).id === this.unlockedSlot)
    if (i < 0 && pass.length === 1) i = slots.indexOf(pass[0])
    if (i < 0)
      throw new PolykeyError(
        'REFUSED',
        pass.length ? 'which passphrase slot? unlock with the passphrase to change' : 'this node has no passphrase slot',
        {},
        { hint: pass.length ? 'give the current passphrase (--passphrase-file)' : 'add one with polykey slot add passphrase' },
      )
    slots[i] = makePassphraseSlot(this.headerBytes, this.master, newPassphrase, kdf)
    this.setSlots(slots)
    this.unlockedSlot = describeSlot(slots[i]).id
  }

  /** The Argon2id parameters of the passphrase slot in force (kept when only the passphrase changes). */
  currentKdf(): KdfParams {
    const s = activeArea(slotSource(this.fd)).slots.find((x) => x.type === 'passphrase')
    return s?.type === 'passphrase' ? s.params : { opslimit: 3, memlimit: 256 * 1024 * 1024 }
  }

  /** Whether the file at our path is still the one we read, at the size we read. */
  unchangedOnDisk(): boolean {
    try {
      const mine = fs.fstatSync(this.fd)
      const st = fs.statSync(this.path)
      return mine.ino === st.ino && mine.dev === st.dev && mine.size === this.size
    } catch {
      return false
    }
  }

  /** Re-read the file if another process appended since we opened it (callers hold the lock). */
  refresh(warn?: (m: string) => void): void {
    const size = fs.fstatSync(this.fd).size
    const st = fs.statSync(this.path)
    if (st.ino !== fs.fstatSync(this.fd).ino) {
      fs.closeSync(this.fd)
      this.fd = fs.openSync(this.path, this.writable ? 'r+' : 'r')
      this.size = fs.fstatSync(this.fd).size
    } else if (size === this.size) return
    else this.size = size
    this.garbageFrom = -1
    this.load(warn)
  }

  close(): void {
    if (this.fd >= 0) fs.closeSync(this.fd)
    this.fd = -1
    wipe(this.master)
    wipe(this.dataKey)
    wipe(this.indexKey)
    wipe(this.macKey)
    this.index.clear()
  }
}

// ------------------------------------------------------------------------------------ helpers
function makePassphraseArea(headerBytes: Buffer, master: Buffer, passphrase: Buffer, kdf: KdfParams, generation: number): SlotArea {
  const salt = randomBytes(SALT_BYTES)
  const kek = deriveFromPassphrase(passphrase, salt, kdf)
  try {
    return { generation, slots: [wrapPassphraseSlot(headerBytes, kek, master, kdf, salt, randomBytes(NONCE_BYTES))] }
  } finally {
    wipe(kek)
  }
}

/** A trailer names its segment and index block, and follows the index block directly. */
function atOwnPlace(t: Trailer, offset: number): boolean {
  return t.segStart >= BODY_OFFSET && t.indexOffset >= t.segStart + SEGMENT_HEADER_SIZE && t.indexOffset + t.indexLength === offset
}

function copySecure(b: Buffer): Buffer {
  const out = secureBuffer(b.length)
  b.copy(out)
  return out
}

function readAt(fd: number, pos: number, len: number): Buffer {
  const b = Buffer.allocUnsafe(len)
  let got = 0
  while (got < len) {
    const n = fs.readSync(fd, b, got, len - got, pos + got)
    if (n === 0) throw corrupt('node file is truncated', { offset: pos + got })
    got += n
  }
  return b
}

function writeFull(fd: number, b: Buffer, pos: number): void {
  let done = 0
  while (done < b.length) done += fs.writeSync(fd, b, done, b.length - done, pos + done)
}

function fsyncDir(p: string): void {
  try {
    const d = fs.openSync(path.dirname(path.resolve(p)), 'r')
    try {
      fs.fsyncSync(d)
    } finally {
      fs.closeSync(d)
    }
  } catch {
    /* some filesystems (FAT, some FUSE) refuse fsync on folders: the rename itself still holds */
  }
}

export { chunkCount }
