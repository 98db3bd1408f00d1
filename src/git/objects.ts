// Git's loose-object, tree and commit formats (git-scm.com/docs/gitformat-*): pure codecs.
// Writing them ourselves (node's sha1 and zlib) keeps `import dir` of 10,000 secrets within a
// small factor of real git. Packs, their indexes and deltas are ours too (pack*.ts, delta.ts),
// checked against real git in the tests.
import crypto from 'node:crypto'
import zlib from 'node:zlib'
import { corrupt } from '../errors.js'

export type ObjectType = 'blob' | 'tree' | 'commit' | 'tag'

export function encodeObject(type: ObjectType, content: Buffer): { oid: string; raw: Buffer } {
  const raw = Buffer.concat([Buffer.from(`${type} ${content.length}\0`), content])
  return { oid: crypto.createHash('sha1').update(raw).digest('hex'), raw }
}

export function deflate(raw: Buffer): Buffer {
  // zlib allocates and clears its window and hash table on every call: for a small object (a
  // secret, a commit) a 512-byte window costs a tenth of the default and compresses the same.
  if (raw.length <= 4096) return zlib.deflateSync(raw, { level: 1, windowBits: 9, memLevel: 1, chunkSize: raw.length + 64 })
  return zlib.deflateSync(raw, { level: 1 })
}

export function decodeLoose(oid: string, deflated: Buffer): { type: ObjectType; content: Buffer } {
  let raw: Buffer
  try {
    raw = zlib.inflateSync(deflated, { chunkSize: Math.min(1 << 16, Math.max(1024, deflated.length * 4)) })
  } catch (err) {
    throw corrupt(`git object ${oid} is corrupt`, { oid }, err)
  }
  if (crypto.createHash('sha1').update(raw).digest('hex') !== oid) throw corrupt(`git object ${oid} does not hash to its id`, { oid })
  const nul = raw.indexOf(0)
  const [type, len] = raw.subarray(0, nul).toString('latin1').split(' ')
  if (!['blob', 'tree', 'commit', 'tag'].includes(type) || Number(len) !== raw.length - nul - 1) throw corrupt(`git object ${oid} has a bad header`, { oid })
  return { type: type as ObjectType, content: raw.subarray(nul + 1) }
}

export interface TreeEntry {
  mode: string // '100644' | '100755'
  name: string
  oid: string
}
/**
 * Entries with their UTF-8 names, in byte order of the names: git's order for a flat tree (no
 * sub-trees) and for the index. Names without surrogates (below U+D800) compare the same as
 * strings and as UTF-8 bytes, which spares a Buffer comparison per step for a 10,000-entry tree.
 */
export function sortByName<T extends { name: string }>(entries: Iterable<T>): { e: T; name: Buffer }[] {
  const named = [...entries].map((e) => ({ e, name: Buffer.from(e.name) }))
  const simple = named.every(({ e }) => !/[\ud800-\uffff]/.test(e.name))
  named.sort(simple ? (a, b) => (a.e.name < b.e.name ? -1 : a.e.name > b.e.name ? 1 : 0) : (a, b) => Buffer.compare(a.name, b.name))
  return named
}

export function encodeTree(entries: Iterable<TreeEntry>): Buffer {
  const named = sortByName(entries)
  let size = 0
  for (const { e, name } of named) size += e.mode.length + 1 + name.length + 1 + 20
  const out = Buffer.allocUnsafe(size)
  let off = 0
  for (const { e, name } of named) {
    off += out.write(e.mode, off, 'latin1')
    out[off++] = 0x20
    off += name.copy(out, off)
    out[off++] = 0
    off += out.write(e.oid, off, 20, 'hex')
  }
  return out
}
export function decodeTree(b: Buffer): TreeEntry[] {
  const out: TreeEntry[] = []
  let off = 0
  while (off < b.length) {
    const sp = b.indexOf(0x20, off)
    const nul = b.indexOf(0, sp)
    if (sp < 0 || nul < 0 || nul + 21 > b.length) throw corrupt('git tree is corrupt')
    out.push({ mode: b.toString('latin1', off, sp), name: b.toString('utf8', sp + 1, nul), oid: b.toString('hex', nul + 1, nul + 21) })
    off = nul + 21
  }
  return out
}

export interface Commit {
  tree: string
  parents: string[]
  author: { name: string; email: string; timestamp: number; tz: string }
  message: string
}
export function encodeCommit(c: Commit): Buffer {
  const who = `${c.author.name} <${c.author.email}> ${c.author.timestamp} ${c.author.tz}`
  const lines = [`tree ${c.tree}`, ...c.parents.map((p) => `parent ${p}`), `author ${who}`, `committer ${who}`, '', c.message.endsWith('\n') ? c.message : c.message + '\n']
  return Buffer.from(lines.join('\n'))
}
export function decodeCommit(b: Buffer): Commit {
  const text = b.toString('utf8')
  const split = text.indexOf('\n\n')
  const headEnd = split < 0 ? text.length : split
  const c: Commit = { tree: '', parents: [], author: { name: '', email: '', timestamp: 0, tz: '+0000' }, message: split < 0 ? '' : text.slice(split + 2) }
  // header lines up to the blank line; a clone checks a thousand commits, so no arrays of lines
  for (let i = 0; i <= headEnd;) {
    let nl = text.indexOf('\n', i)
    if (nl < 0 || nl > headEnd) nl = headEnd
    // key: up to the first space; a line without one reads as its text minus the last character
    let sp = text.indexOf(' ', i)
    if (sp < 0 || sp > nl) sp = -1
    const keyLen = sp < 0 ? nl - 1 - i : sp - i
    const val = () => text.slice(sp < 0 ? i : sp + 1, nl)
    if (keyLen === 4 && text.startsWith('tree', i)) c.tree = val()
    else if (keyLen === 6 && text.startsWith('parent', i)) c.parents.push(val())
    else if (keyLen === 6 && text.startsWith('author', i)) c.author = signature(val()) ?? c.author
    i = nl + 1
  }
  if (!/^[0-9a-f]{40}$/.test(c.tree)) throw corrupt('git commit is corrupt')
  return c
}

/**
 * "NAME <EMAIL> SECONDS ±HHMM", read from the end: what /^(.*) <(.*)> (\d+) ([+-]\d{4})$/ finds
 * (the last " <" before the ">" that precedes the time), without its backtracking.
 */
function signature(val: string): Commit['author'] | null {
  if (/[\r\u2028\u2029]/.test(val)) {
    // '.' does not match these: keep the regular expression's answer
    const m = /^(.*) <(.*)> (\d+) ([+-]\d{4})$/.exec(val)
    return m ? { name: m[1], email: m[2], timestamp: Number(m[3]), tz: m[4] } : null
  }
  const n = val.length
  if (n < 10 || val[n - 6] !== ' ') return null
  const tz = val.slice(n - 5)
  if (!/^[+-]\d{4}$/.test(tz)) return null
  let d = n - 6
  while (d > 0 && val.charCodeAt(d - 1) >= 48 && val.charCodeAt(d - 1) <= 57) d--
  if (d === n - 6 || d < 4 || val[d - 1] !== ' ' || val[d - 2] !== '>') return null
  const gt = d - 2
  const lt = val.lastIndexOf(' <', gt - 2)
  if (lt < 0) return null
  return { name: val.slice(0, lt), email: val.slice(lt + 2, gt), timestamp: Number(val.slice(d, n - 6)), tz }
}
