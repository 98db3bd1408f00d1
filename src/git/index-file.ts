// Git's index ("dircache", version 2; git-scm.com/docs/index-format): a pure encoder. We write one
// for every commit so that real git, run inside an exported repository, sees a clean work tree
// instead of every secret "deleted" and "untracked".
//
// Stat fields (ctime, mtime, dev, ino, uid, gid, size) are all zero: that is what `git read-tree`
// leaves, and git treats an entry whose size is zero but whose blob is not empty as "racily
// smudged" and compares contents instead (read-cache.c, ce_match_stat_basic / ie_modified).
import crypto from 'node:crypto'
import { sortByName } from './objects.js'

export interface IndexEntry {
  mode: string // '100644' | '100755'
  name: string // a flat repository: no '/' in names
  oid: string // 40 hex digits
}

const HEADER_SIZE = 12
const FIXED_SIZE = 62 // 10 × uint32 stat fields, 20-byte id, uint16 flags
const NAME_MASK = 0xfff

/** Entry length: fixed part and name, then 1–8 NULs to a multiple of eight (version 2). */
const entryLength = (nameBytes: number) => (FIXED_SIZE + nameBytes + 8) & ~7

export function encodeIndex(entries: Iterable<IndexEntry>): Buffer {
  const named = sortByName(entries) // by name as unsigned bytes (stage is always 0 here)
  let size = HEADER_SIZE
  for (const n of named) size += entryLength(n.name.length)
  const out = Buffer.alloc(size + 20) // zero-filled: stat fields and name padding
  out.write('DIRC', 0, 'latin1')
  out.writeUInt32BE(2, 4)
  out.writeUInt32BE(named.length, 8)
  let off = HEADER_SIZE
  for (const { e, name } of named) {
    out.writeUInt32BE(parseInt(e.mode, 8), off + 24)
    out.write(e.oid, off + 40, 20, 'hex')
    out.writeUInt16BE(Math.min(name.length, NAME_MASK), off + 60)
    name.copy(out, off + FIXED_SIZE)
    off += entryLength(name.length)
  }
  crypto.createHash('sha1').update(out.subarray(0, size)).digest().copy(out, size)
  return out
}
