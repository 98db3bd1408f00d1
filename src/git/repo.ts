// One secret repository's history: a real git repository (refs/heads/main) kept inside the node.
// Repositories are flat, so a commit's tree is a single list of secrets.
//
// Objects are loose (objects/xx/…, one node-file member each, as a commit writes them) or in
// packs (objects/pack/pack-<sha>.pack and its version-2 .idx; the packs in use are listed in
// objects/info/packs, git's own format for that list, so finding them costs one read rather than
// a listing of the node). Reads look at loose objects first, then the packs. When a repository
// holds LOOSE_LIMIT loose objects, the next commit packs them (git's `gc --auto`), merging small
// packs into it so that pack sizes at least double (`git repack --geometric=2`): few packs, and
// each object rewritten only a logarithmic number of times.
import crypto from 'node:crypto'
import zlib from 'node:zlib'
import { createRequire } from 'node:module'
import type { LRUCache } from 'lru-cache'
import { type Store, join } from '../vault/store.js'
import { type Commit, type ObjectType, type TreeEntry, decodeCommit, decodeLoose, decodeTree, deflate, encodeObject, encodeTree } from './objects.js'
import { encodeIndex } from './index-file.js'
import { type CommitSignature, type CommitSigner, checkCommitSignature, encodeSignedCommit } from './signature.js'
import { PackIndex, encodePackIndex } from './pack-index.js'
import { StoredPack } from './pack-file.js'
import { type PackObject, PACK_SIGNATURE, buildPack } from './pack.js'
import { PolykeyError, corrupt, notFound } from '../errors.js'

export const BRANCH = 'main'
/** Loose objects that make the next commit pack them (each is a member of the node file, with its index entry). */
export const LOOSE_LIMIT = 256
const GIT_CONFIG = '[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = false\n'

/**
 * Commits and trees by id, shared by every repository a long-running process reads (`serve`
 * walks the same histories for every peer that fetches): an object is its id, so what was read
 * once is right for any repository that names it. Blobs (secret values) are never kept here.
 */
let sharedObjects: LRUCache<string, PackObject> | null = null

/** Keep up to `maxBytes` of commits and trees read by this process (0: stop). */
export function shareObjectCache(maxBytes: number): void {
  // loaded here, by the long-running processes that share objects: not at every start-up (~5 ms)
  const { LRUCache: Cache } = createRequire(import.meta.url)('lru-cache') as typeof import('lru-cache')
  sharedObjects = maxBytes > 0 ? new Cache<string, PackObject>({ maxSize: maxBytes, sizeCalculation: (o) => o.content.length + 100 }) : null
}

export interface LogEntry {
  commit: string
  time: number // seconds since the epoch
  message: string
  parents: string[]
  /** whose key signed it, and whether the signature holds (signature.ts); when asked for */
  signature?: CommitSignature
}

export interface Author {
  name: string
  email: string
  /** signs every commit made with this author (the node key); none: unsigned */
  sign?: CommitSigner
}

export class GitRepo {
  readonly gitdir: string
  constructor(
    private readonly store: Store,
    readonly dir: string,
  ) {
    this.gitdir = join(dir, '.git')
  }

  init(): void {
    const s = this.store
    s.mkdir(this.gitdir)
    for (const d of ['objects', 'refs', 'refs/heads', 'refs/tags']) s.mkdir(join(this.gitdir, d))
    s.writeFile(join(this.gitdir, 'HEAD'), Buffer.from(`ref: refs/heads/${BRANCH}\n`), { mode: 0o600 })
    s.writeFile(join(this.gitdir, 'config'), Buffer.from(GIT_CONFIG), { mode: 0o600 })
  }

  private objectPath(oid: string): string {
    return join(this.gitdir, 'objects', oid.slice(0, 2), oid.slice(2))
  }

  writeObject(type: 'blob' | 'tree' | 'commit', content: Buffer): string {
    const { oid, raw } = encodeObject(type, content)
    if (!this.hasObject(oid)) {
      this.store.mkdir(join(this.gitdir, 'objects', oid.slice(0, 2)))
      this.store.writeFile(this.objectPath(oid), deflate(raw), { mode: 0o400 })
    }
    return oid
  }

  hasObject(oid: string): boolean {
    if (this.store.stat(this.objectPath(oid)) !== null) return true
    const packs = this.packs()
    if (packs.length === 0) return false
    const id = Buffer.from(oid, 'hex')
    return packs.some((p) => p.has(id))
  }

  readObject(oid: string): { type: string; content: Buffer } {
    if (!/^[0-9a-f]{40}$/.test(oid)) throw new PolykeyError('USAGE', `not a commit id: ${oid}`)
    const hit = sharedObjects?.get(oid)
    if (hit) return hit
    const o = this.readStored(oid)
    if (sharedObjects && o.type !== 'blob') sharedObjects.set(oid, o)
    return o
  }

  private readStored(oid: string): PackObject {
    const data = this.store.readFile(this.objectPath(oid))
    if (data) return decodeLoose(oid, data)
    const id = Buffer.from(oid, 'hex')
    for (const p of this.packs()) {
      const o = p.read(oid, id)
      if (o) return o
    }
    throw notFound(`no object ${oid} in ${this.dir}`, { oid })
  }

  // ------------------------------------------------------------------------------ packs
  private packList: StoredPack[] | null = null

  private packPath(name: string, ext: 'pack' | 'idx'): string {
    return join(this.gitdir, 'objects', 'pack', `${name}.${ext}`)
  }

  /** The packs listed in objects/info/packs, largest first; each idx is read and checked once. */
  packs(): StoredPack[] {
    if (this.packList) return this.packList
    const info = this.store.readFile(join(this.gitdir, 'objects', 'info', 'packs'))
    const out: StoredPack[] = []
    for (const line of info ? info.toString('latin1').split('\n') : []) {
      if (line === '') continue
      const m = /^P (pack-[0-9a-f]{40})\.pack$/.exec(line)
      if (!m) throw corrupt(`${this.gitdir}/objects/info/packs is corrupt`, { repo: this.dir })
      const name = m[1]
      const idx = this.store.readFile(this.packPath(name, 'idx'))
      if (!idx) throw corrupt(`git pack ${name} has no index`, { pack: name })
      let index: PackIndex
      try {
        index = new PackIndex(idx)
      } catch (err) {
        throw corrupt(`git pack index ${name}.idx is corrupt: ${(err as Error).message}`, { pack: name }, err)
      }
      out.push(new StoredPack(name, index, () => this.store.readFile(this.packPath(name, 'pack'))))
    }
    out.sort((a, b) => b.count - a.count)
    this.packList = out
    return out
  }

  private writePackList(packs: StoredPack[]): void {
    const dir = join(this.gitdir, 'objects', 'info')
    this.store.mkdir(dir)
    const text = packs.map((p) => `P ${p.name}.pack\n`).join('') + '\n'
    this.store.writeFile(join(dir, 'packs'), Buffer.from(text), { mode: 0o600 })
    this.packList = [...packs].sort((a, b) => b.count - a.count)
  }

  /**
   * Store a pack (already checked by the caller: every object hashed and parsed, deltas only
   * against earlier entries of the same pack) with a version-2 idx made from `entries`, and list
   * it. Returns its name; a pack with the same name (the same bytes) is kept as it is.
   */
  addPack(pack: Buffer, entries: { oid: string; offset: number; end: number }[]): string {
    const packs = this.packs()
    const name = `pack-${pack.subarray(pack.length - 20).toString('hex')}`
    if (packs.some((p) => p.name === name)) return name
    this.writePackList([...packs, this.writePack(pack, entries)])
    return name
  }

  /** pack-H.pack and its idx (made from `entries`: where each object's entry lies). */
  private writePack(pack: Buffer, entries: { oid: string; offset: number; end: number }[]): StoredPack {
    const sum = pack.subarray(pack.length - 20)
    const name = `pack-${sum.toString('hex')}`
    const idx = encodePackIndex(
      entries.map((e) => ({ oid: e.oid, offset: e.offset, crc: zlib.crc32(pack.subarray(e.offset, e.end)) })),
      sum,
    )
    this.store.mkdir(join(this.gitdir, 'objects', 'pack'))
    this.store.writeFile(this.packPath(name, 'pack'), pack, { mode: 0o400 })
    this.store.writeFile(this.packPath(name, 'idx'), idx, { mode: 0o400 })
    return new StoredPack(name, new PackIndex(idx), () => pack)
  }

  /**
   * Everything this repository keeps, as one pack, reusing the stored packs' bytes as they are
   * (as git reuses packs): each pack's entries are copied whole, so their OFS_DELTA distances stay
   * right, and the loose objects follow, whole. For a peer that has none of the history (a clone,
   * a sealed bundle): it gets what a clone needs, plus at most objects that nothing reaches any
   * more, which the receiver drops. Null when there is no pack to reuse, or when an object is
   * kept twice (a pack must hold each object once): then the caller builds a pack object by object.
   */
  wholePack(): { pack: Buffer; count: number } | null {
    const w = this.wholePackParts()
    return w && { pack: Buffer.concat([...w.parts]), count: w.count }
  }

  /**
   * wholePack() in the order it is written (the header, each stored pack's entries, the loose
   * objects, the checksum), made as it is read: a caller that sends each part at once has most
   * of the pack on its way before the loose objects are read. Whether there is such a pack
   * (and its count) is known before any part is made. Read the parts at once (synchronously):
   * they are this repository's state when they are read.
   */
  wholePackParts(): { count: number; parts: Iterable<Buffer> } | null {
    const packs = this.packs()
    if (packs.length === 0) return null
    // an object in two packs: each pack's ids looked up in the (sorted) tables of the larger ones
    for (let a = 1; a < packs.length; a++)
      for (let i = 0; i < packs[a].count; i++) {
        const id = packs[a].index.idAt(i)
        for (let b = 0; b < a; b++) if (packs[b].index.find(id) >= 0) return null
      }
    const loose = this.looseOids().filter((oid) => {
      const id = Buffer.from(oid, 'hex')
      return !packs.some((p) => p.index.find(id) >= 0)
    })
    const count = packs.reduce((n, p) => n + p.count, 0) + loose.length
    const readObject = (oid: string) => this.readObject(oid) as PackObject
    function* parts(): Generator<Buffer> {
      const sum = crypto.createHash('sha1')
      const header = Buffer.alloc(12)
      PACK_SIGNATURE.copy(header, 0)
      header.writeUInt32BE(2, 4)
      header.writeUInt32BE(count, 8)
      sum.update(header)
      yield header
      for (const p of packs) {
        const raw = p.raw()
        const body = raw.subarray(12, raw.length - 20)
        sum.update(body)
        yield body
      }
      const objs = new Map<string, PackObject>(loose.map((oid) => [oid, readObject(oid)]))
      const extra = buildPack(
        packOrder(objs).map((oid) => objs.get(oid)!),
        { deltas: true },
      ).pack
      const body = extra.subarray(12, extra.length - 20)
      sum.update(body)
      yield body
      yield sum.digest()
    }
    return { count, parts: parts() }
  }

  /** The ids of the loose objects. */
  private looseOids(): string[] {
    const objects = join(this.gitdir, 'objects')
    const loose: string[] = []
    for (const d of this.store.list(objects)) {
      if (!/^[0-9a-f]{2}$/.test(d)) continue
      for (const f of this.store.list(join(objects, d))) if (/^[0-9a-f]{38}$/.test(f)) loose.push(d + f)
    }
    return loose
  }

  /** Loose objects: files under objects/ other than packs and the pack list. */
  looseCount(): number {
    const objects = join(this.gitdir, 'objects')
    return this.store.countFiles(objects) - this.store.countFiles(join(objects, 'pack')) - this.store.countFiles(join(objects, 'info'))
  }

  /**
   * Pack the loose objects when there are LOOSE_LIMIT of them or more. A damaged object (which
   * repack reads before it writes anything) leaves them loose: packing is housekeeping, and must
   * not stop commits; the damage is reported where the object is needed and by `polykey verify`.
   */
  maybePack(): boolean {
    if (this.looseCount() < LOOSE_LIMIT) return false
    try {
      this.repack()
    } catch (err) {
      if (err instanceof PolykeyError && err.code === 'CORRUPT') return false
      throw err
    }
    return true
  }

  /**
   * Every loose object, and the packs it is worth merging with (the smallest ones, while the
   * next is not at least twice as large as what is merged so far), into one new pack; then the
   * loose objects and the merged packs go. `all` merges every pack (one pack per repository).
   */
  repack(all = false): void {
    const objects = join(this.gitdir, 'objects')
    const loose = this.looseOids()
    const packs = this.packs()
    const merge: StoredPack[] = []
    let total = loose.length
    for (const p of [...packs].sort((a, b) => a.count - b.count)) {
      if (!all && p.count >= 2 * total) break
      merge.push(p)
      total += p.count
    }
    if (loose.length === 0 && merge.length < 2) return
    const objs = new Map<string, PackObject>()
    for (const oid of loose) objs.set(oid, this.readObject(oid) as PackObject)
    for (const p of merge) for (const o of p.objects()) if (!objs.has(o.oid)) objs.set(o.oid, { type: o.type, content: o.content })
    const order = packOrder(objs)
    const { pack, entries } = buildPack(
      order.map((oid) => objs.get(oid)!),
      { deltas: true, compressFrom: 4096 },
    )
    const made = this.writePack(
      pack,
      order.map((oid, i) => ({ oid, ...entries[i] })),
    )
    const gone = new Set(merge.map((p) => p.name))
    gone.delete(made.name)
    for (const p of gone) {
      this.store.remove(this.packPath(p, 'pack'))
      this.store.remove(this.packPath(p, 'idx'))
    }
    this.writePackList([...packs.filter((p) => !gone.has(p.name) && p.name !== made.name), made])
    for (const oid of loose) this.store.remove(this.objectPath(oid))
    for (const d of new Set(loose.map((oid) => oid.slice(0, 2)))) if (this.store.list(join(objects, d)).length === 0) this.store.remove(join(objects, d))
  }

  head(): string | null {
    const ref = this.store.readFile(join(this.gitdir, 'refs', 'heads', BRANCH))
    return ref ? ref.toString().trim() : null
  }

  setHead(oid: string): void {
    this.store.writeFile(join(this.gitdir, 'refs', 'heads', BRANCH), Buffer.from(oid + '\n'), { mode: 0o600 })
  }

  readCommit(oid: string): Commit {
    const o = this.readObject(oid)
    if (o.type !== 'commit') throw new PolykeyError('USAGE', `${oid} is not a commit`)
    return decodeCommit(o.content)
  }

  /** Resolve a full or abbreviated (≥4 hex) commit id reachable from HEAD. */
  resolve(rev: string): string {
    if (/^[0-9a-f]{40}$/.test(rev)) {
      this.readCommit(rev)
      return rev
    }
    if (!/^[0-9a-f]{4,39}$/.test(rev)) throw new PolykeyError('USAGE', `not a commit id: ${rev}`)
    const hits = this.log().filter((e) => e.commit.startsWith(rev))
    if (hits.length === 0) throw notFound(`no commit ${rev} in this repository`, { rev })
    if (hits.length > 1) throw new PolykeyError('USAGE', `commit id ${rev} is ambiguous`, { rev })
    return hits[0].commit
  }

  treeOf(commit: string | null): Map<string, TreeEntry> {
    const out = new Map<string, TreeEntry>()
    if (!commit) return out
    const o = this.readObject(this.readCommit(commit).tree)
    for (const e of decodeTree(o.content)) out.set(e.name, e)
    return out
  }

  readBlobAt(commit: string, name: string): Buffer {
    const e = this.treeOf(commit).get(name)
    if (!e) throw notFound(`${name} does not exist at ${commit.slice(0, 12)}`, { name, commit })
    return this.readObject(e.oid).content
  }

  /**
   * One commit from the current HEAD tree with `changes` applied (null = removed). Returns the
   * new commit id, or null when the tree would not change.
   */
  commit(changes: Map<string, { data: Buffer; mode: number } | null>, message: string, author: Author, now: number, force = false): string | null {
    const parent = this.head()
    const tree = this.treeOf(parent)
    let changed = false
    for (const [name, v] of changes) {
      if (v === null) {
        changed = tree.delete(name) || changed
        continue
      }
      const oid = this.writeObject('blob', v.data)
      const mode = v.mode & 0o111 ? '100755' : '100644'
      const old = tree.get(name)
      if (!old || old.oid !== oid || old.mode !== mode) changed = true
      tree.set(name, { mode, name, oid })
    }
    if (!changed && !force && parent) return null
    const treeOid = this.writeObject('tree', encodeTree(tree.values()))
    const who = { name: author.name, email: author.email, timestamp: Math.floor(now / 1000), tz: '+0000' }
    const oid = this.writeObject('commit', encodeSignedCommit({ tree: treeOid, parents: parent ? [parent] : [], author: who, message }, author.sign))
    this.setHead(oid)
    this.writeIndex(tree.values())
    this.maybePack()
    return oid
  }

  /** .git/index matching the new HEAD tree, so that real git sees a clean work tree. */
  private writeIndex(entries: Iterable<TreeEntry>): void {
    this.store.writeFile(join(this.gitdir, 'index'), encodeIndex(entries), { mode: 0o600 })
  }

  log(limit = Infinity, signatures = false): LogEntry[] {
    const out: LogEntry[] = []
    let oid = this.head()
    while (oid && out.length < limit) {
      const o = this.readObject(oid)
      if (o.type !== 'commit') throw new PolykeyError('USAGE', `${oid} is not a commit`)
      const c = decodeCommit(o.content)
      out.push({
        commit: oid,
        time: c.author.timestamp,
        message: c.message.replace(/\n$/, ''),
        parents: c.parents,
        ...(signatures ? { signature: checkCommitSignature(o.content) } : {}),
      })
      oid = c.parents[0] ?? null
    }
    return out
  }
}

/**
 * An order that makes good deltas: commits newest first along first-parent lines (then what is
 * left, newest first), their trees in that order, other trees, then blobs. Each tree is then a
 * delta against the tree of the commit just after it in history.
 */
function packOrder(objs: Map<string, PackObject>): string[] {
  const commits = new Map<string, Commit>()
  for (const [oid, o] of objs) if (o.type === 'commit') commits.set(oid, decodeCommit(o.content))
  const isParent = new Set<string>()
  for (const c of commits.values()) for (const p of c.parents) isParent.add(p)
  const newest = [...commits.keys()].sort((a, b) => commits.get(b)!.author.timestamp - commits.get(a)!.author.timestamp)
  const done = new Set<string>()
  const history: string[] = []
  const line = (oid: string | undefined) => {
    while (oid && commits.has(oid) && !done.has(oid)) {
      done.add(oid)
      history.push(oid)
      oid = commits.get(oid)!.parents[0]
    }
  }
  for (const oid of newest) if (!isParent.has(oid)) line(oid)
  for (const oid of newest) line(oid)
  const out = [...history]
  const taken = new Set(out)
  for (const c of history) {
    const t = commits.get(c)!.tree
    if (objs.get(t)?.type === 'tree' && !taken.has(t)) {
      taken.add(t)
      out.push(t)
    }
  }
  const rest = (type: ObjectType) => {
    for (const [oid, o] of objs)
      if (o.type === type && !taken.has(oid)) {
        taken.add(oid)
        out.push(oid)
      }
  }
  rest('tree')
  rest('blob')
  rest('tag')
  return out
}
