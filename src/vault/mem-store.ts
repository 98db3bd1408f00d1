// The Store over a memfs volume: the mounted node. The whole node is unpacked into memory; what
// changes is remembered (dirty archive paths) and saved as one appended segment.
// memfs keeps hardlinks as two Links to one Node, which is exactly a tag entry and its secret;
// its own JSON export loses them, so saving groups by inode itself (tags become link members).
import { Volume } from 'memfs'
import type { Change, NodeFile } from '../archive/nodefile.js'
import type { StatInfo, Store } from './store.js'
import { isFuseHiddenName, isScratchName } from './names.js'
import { REPOS, TAGS } from './vault.js'
import { PolykeyError } from '../errors.js'

type Vol = InstanceType<typeof Volume>
const abs = (p: string) => '/' + p

/** The parts of memfs's inode we touch (fs-core's Node). */
export interface MemNode {
  buf: Buffer
  capacity: number
  size: number
  mode: number
  nlink: number
  ino: number
  mtime: Date
  atime: Date
  ctime: Date
  /** descriptors open on it through MemStore.openFd */
  __pkOpen?: number
}
/** memfs's name of a node (fs-core's Link); a folder's children include '.' and '..'. */
export interface MemLink {
  children: Map<string, MemLink>
  getNode(): MemNode
}
interface MemCore {
  root: MemLink
  fds: Record<string, { node: MemNode } | undefined>
  inodes: Record<string, MemNode>
  releasedInos: number[]
  createNode(mode: number): MemNode
  getResolvedLink(p: string): { getNode(): MemNode; createChild(name: string, node: MemNode): unknown } | null
  __pkOrphans?: Set<MemNode>
}
const EMPTY = Buffer.alloc(0)

/**
 * memfs asks process.getuid()/getgid() (a system call each) on every path it resolves; the
 * mount serves one user, so hand it a process whose ids are read once.
 */
function newVolume(): Vol {
  const uid = process.getuid?.() ?? 0
  const gid = process.getgid?.() ?? 0
  const proc = { cwd: () => '/', platform: 'linux', emitWarning: () => {}, env: {}, getuid: () => uid, getgid: () => gid }
  const vol = (Volume as unknown as { fromNestedJSON(json: object, cwd: string, opts: object): Vol }).fromNestedJSON({}, '/', { process: proc })
  zeroDroppedBuffers(vol)
  noAccessTimes(vol)
  return vol
}

/** The prototypes of memfs's inode (Node), name (Link) and volume core (Superblock) classes, which the patches below wrap. */
function memfsProtos(vol: Vol): { nodeProto: Record<string, unknown> | null; linkProto: Record<string, unknown> | null; coreProto: Record<string, unknown> | null } {
  const core = (vol as unknown as { _core?: { root?: object; inodes?: Record<string, unknown> } })._core
  const proto = (o: unknown) => (o ? (Object.getPrototypeOf(o) as Record<string, unknown>) : null)
  return { nodeProto: proto(core?.inodes ? Object.values(core.inodes)[0] : undefined), linkProto: proto(core?.root), coreProto: proto(core) }
}

const memfsChanged = (what: string, consequence: string) =>
  new PolykeyError('INTERNAL', `memfs internals changed (${what})${consequence}`, { what }, { hint: 'install the memfs version in package-lock.json' })

/**
 * Reading never moves an access time here, as on a filesystem mounted noatime: memfs sets a
 * folder's atime on every path walk through it and a file's on every read, so a stat of a
 * folder would change with each open of a file inside, and the save that reads a file back
 * would count as an access. A secret's reads are recorded by the read audit instead
 * (docs/SECURITY.md); atime still changes when it is set (touch -a, utimensat) and when a file
 * is made. The mount relies on this: attributes change only when something is changed (the
 * binding answers repeated getattrs itself until then: docs/FUSE.md "Answered in the binding").
 */
function noAccessTimes(vol: Vol): void {
  const { nodeProto, linkProto } = memfsProtos(vol)
  const missing = (what: string) => memfsChanged(what, '')
  if (!nodeProto || !linkProto) throw missing('volume core')
  if (linkProto.__polykeyNoAtime) return
  const getChild = linkProto.getChild
  if (typeof getChild !== 'function' || !/children\.get\(name\)/.test(String(getChild))) throw missing('Link.getChild')
  linkProto.getChild = function (this: { children: Map<string, unknown> }, name: string) {
    return this.children.get(name)
  }
  for (const m of ['read', 'getBuffer', 'getString']) {
    const orig = nodeProto[m]
    if (typeof orig !== 'function') throw missing(`Node.${m}`)
    nodeProto[m] = function (this: { _atime: Date }, ...args: unknown[]) {
      const atime = this._atime
      try {
        return (orig as (...a: unknown[]) => unknown).apply(this, args)
      } finally {
        this._atime = atime
      }
    }
  }
  linkProto.__polykeyNoAtime = true
}

/**
 * memfs replaces a file's buffer when it grows or is truncated, and drops a deleted file's
 * buffer, without zeroing the old one. Wrap those paths so plaintext we let go of is overwritten
 * first. This patches memfs's internals (its Node and Superblock classes); when a memfs release
 * changes them, this throws at the first mount instead of silently leaving plaintext behind
 * (test/vault/memfs-zeroing.test.ts proves grown, truncated and deleted buffers are zeroed).
 * (JavaScript cannot promise more: V8 may have copied strings elsewhere; values are kept as
 * Buffers throughout for this reason.)
 */
export function zeroDroppedBuffers(vol: Vol): void {
  const { nodeProto, coreProto } = memfsProtos(vol)
  const missing = (what: string) => memfsChanged(what, ': refusing to hold plaintext without zeroing dropped buffers')
  if (!nodeProto || !coreProto) throw missing('volume core or inode table')
  if (nodeProto.__polykeyZeroing) return
  for (const m of ['write', 'truncate', 'setBuffer']) {
    const orig = nodeProto[m]
    if (typeof orig !== 'function') throw missing(`Node.${m}`)
    nodeProto[m] = function (this: { buf?: Buffer }, ...args: unknown[]) {
      const before = this.buf
      const r = (orig as (...a: unknown[]) => unknown).apply(this, args)
      if (before && before !== this.buf && before.length && before !== args[0]) before.fill(0)
      return r
    }
  }
  const del = coreProto.deleteNode
  if (typeof del !== 'function') throw missing('Superblock.deleteNode')
  coreProto.deleteNode = function (this: MemCore, node: MemNode) {
    const open = !!node?.__pkOpen
    // Still open (POSIX: the descriptor keeps its file until closed): zeroed at the last close
    // (MemStore.closeFd). Else at once.
    if (!open && node?.buf?.length) node.buf.fill(0)
    const r = (del as (n: unknown) => unknown).call(this, node)
    // An inode number is never handed out again: it names one file for the life of the volume
    // (the mount reports them, and reopens a file by its number: FuseContext.ino).
    const i = this.releasedInos.lastIndexOf(node.ino)
    if (i >= 0) this.releasedInos.splice(i, 1)
    if (open) this.__pkOrphans?.add(node)
    return r
  }
  nodeProto.__polykeyZeroing = true
}

/** Overwrite every file buffer of a volume (at unmount). */
export function wipeVolume(store: MemStore): void {
  const inodes = (store.vol as unknown as { _core?: { inodes?: Record<string, { buf?: Buffer }> } })._core?.inodes ?? {}
  for (const node of [...(Object.values(inodes) as { buf?: Buffer }[]), ...store.orphans]) if (node?.buf?.length) node.buf.fill(0)
}

export class MemStore implements Store {
  readonly vol: Vol = newVolume()
  /** archive paths whose state in memory may differ from the node file */
  readonly dirty = new Set<string>()
  private changed = new Map<string, 'entry' | 'data'>()
  /** inode → repository path of that secret (tags are hardlinks); rebuilt after changes */
  private inoIndex: Map<number, string> | null = null
  /** inodes with open writers: not saved until closed, so the file never holds half a write */
  readonly openWriters = new Map<number, number>()
  /** files with no name left that descriptors still hold (removed, or replaced by a rename) */
  readonly orphans = new Set<MemNode>()

  constructor() {
    this.core().__pkOrphans = this.orphans
  }

  private core(): MemCore {
    return (this.vol as unknown as { _core: MemCore })._core
  }

  // --------------------------------------------------------------------------- descriptors
  /** Open the file at p; the descriptor keeps the file it opened until closeFd, whatever happens to its names. */
  openFd(p: string, flags: number, mode?: number): number {
    const fd = this.vol.openSync(abs(p), flags, mode) as number
    const node = this.nodeOfFd(fd)!
    node.__pkOpen = (node.__pkOpen ?? 0) + 1
    return fd
  }

  closeFd(fd: number): void {
    const node = this.nodeOfFd(fd)
    this.vol.closeSync(fd)
    if (!node) return
    node.__pkOpen = Math.max(0, (node.__pkOpen ?? 1) - 1)
    if (node.__pkOpen === 0 && this.orphans.delete(node)) {
      // the last descriptor of a file nobody can name any more: its content goes
      node.buf.fill(0)
      node.buf = EMPTY
      node.size = node.capacity = 0
    }
  }

  /**
   * The memfs link at p ('repos/r/s'; '' is the root), found by walking the tree itself: no
   * access checks (the mount serves its one user), no atime written into every folder on the
   * way, no error objects for a name that is not there. The mount's getattr and readdir — its
   * hottest path (ls -lR) — cost several times less so than through memfs's own resolution.
   */
  linkAt(p: string): MemLink | null {
    let l: MemLink | undefined = this.core().root
    if (p === '') return l
    for (let at = 0; l;) {
      const end = p.indexOf('/', at)
      const name = end < 0 ? p.slice(at) : p.slice(at, end)
      if (name === '' || name === '.' || name === '..') return null
      l = l.children.get(name)
      if (end < 0) break
      at = end + 1
    }
    return l ?? null
  }

  /** The names in the folder at p (unsorted; without '.' and '..'), or null when p is no folder. */
  namesIn(p: string): string[] | null {
    const l = this.linkAt(p)
    if (!l || (l.getNode().mode & 0o170000) !== 0o040000) return null
    const out: string[] = []
    for (const n of l.children.keys()) if (n !== '.' && n !== '..') out.push(n)
    return out
  }

  nodeOfFd(fd: number): MemNode | null {
    return this.core().fds[String(fd)]?.node ?? null
  }

  /**
   * The file at p is about to take new content as a whole (a rename over it): descriptors open
   * on it keep what they had, in a nameless copy (returned; null when none is open). The bytes
   * move to the copy, they are not duplicated; the file at p is left empty.
   */
  detachOpenFiles(p: string): MemNode | null {
    const core = this.core()
    const node = core.getResolvedLink(abs(p))?.getNode()
    if (!node?.__pkOpen) return null
    const copy = core.createNode(node.mode)
    delete core.inodes[copy.ino]
    copy.buf = node.buf
    copy.capacity = node.capacity
    copy.size = node.size
    copy.mtime = node.mtime
    copy.atime = node.atime
    copy.nlink = 0
    node.buf = EMPTY
    node.capacity = node.size = 0
    let n = 0
    for (const f of Object.values(core.fds))
      if (f?.node === node) {
        f.node = copy
        n++
      }
    copy.__pkOpen = n
    node.__pkOpen = 0
    this.orphans.add(copy)
    return copy
  }

  /** Give a nameless file (detachOpenFiles) the name p, in a folder that exists. */
  nameOrphan(node: MemNode, p: string): void {
    const dir = p.slice(0, p.lastIndexOf('/'))
    this.core()
      .getResolvedLink(abs(dir))!
      .createChild(p.slice(p.lastIndexOf('/') + 1), node)
    node.nlink = 1
    this.core().inodes[node.ino] = node
    this.orphans.delete(node)
    this.touchEntry(p)
  }

  /** Unpack a node file into memory. */
  static load(node: NodeFile): MemStore {
    const s = new MemStore()
    s.vol.chmodSync('/', 0o700) // the mount's root: private to the mounting user
    const entries = [...node.entries()].sort((a, b) => (a.path < b.path ? -1 : 1))
    const times: [string, number][] = []
    for (const e of entries) {
      if (e.type === 'dir') {
        s.vol.mkdirSync(abs(e.path), { recursive: true, mode: e.mode })
        s.vol.chmodSync(abs(e.path), e.mode)
        times.push([e.path, e.mtime])
      }
    }
    // File contents in file order: large sequential reads instead of one read per member.
    node.readEntries(
      entries.filter((e) => e.type === 'file'),
      (e, data) => {
        s.vol.writeFileSync(abs(e.path), data, { mode: 0o600 })
        data.fill(0) // memfs keeps its own copy
        s.vol.chmodSync(abs(e.path), e.mode)
        times.push([e.path, e.mtime])
      },
    )
    for (const e of entries) if (e.type === 'link' && node.get(e.target)?.type === 'file') s.vol.linkSync(abs(e.target), abs(e.path))
    // Folder mtimes last: creating their children moved them.
    for (const [p, m] of times.reverse()) s.vol.utimesSync(abs(p), m / 1000, m / 1000)
    return s
  }

  /** Told of every change as it is recorded (the mount: answers the binding kept are stale: fuse.attrsChanged). */
  onChange: ((p: string) => void) | null = null

  /** p's content or metadata changed: save it. */
  touch(p: string): void {
    this.dirty.add(p)
    if (!this.changed.has(p)) this.changed.set(p, 'data')
    this.onChange?.(p)
  }

  /** p was created, removed, moved or linked: save it, and the inode → secret map is stale. */
  touchEntry(p: string): void {
    this.dirty.add(p)
    this.changed.set(p, 'entry')
    this.inoIndex = null
    this.onChange?.(p)
  }

  /** The other names of the file at p changed too (for the kernel's caches only: nothing to save). */
  private noteOtherNames(p: string): void {
    for (const n of this.namesOf(p)) if (n !== p && !this.changed.has(n)) this.changed.set(n, 'data')
  }

  get hasChanged(): boolean {
    return this.changed.size > 0
  }

  /**
   * What changed since the last call, for the kernel's caches (the mount drops what the kernel
   * cached for these paths): 'entry' when the name itself appeared, went or moved, 'data' when
   * only content or metadata changed.
   */
  takeChanged(): Map<string, 'entry' | 'data'> {
    const out = this.changed
    this.changed = new Map()
    return out
  }

  // --------------------------------------------------------------------------- Store
  readFile(p: string): Buffer | null {
    try {
      return this.vol.readFileSync(abs(p)) as Buffer
    } catch {
      return null
    }
  }

  /** readFile gives copies (memfs), so each is zeroed once fn has seen it (grep). */
  readFiles(paths: string[], fn: (p: string, data: Buffer) => void): void {
    for (const p of paths) {
      const data = this.readFile(p)
      if (!data) continue
      try {
        fn(p, data)
      } finally {
        data.fill(0)
      }
    }
  }
  stat(p: string): StatInfo | null {
    try {
      const st = this.vol.statSync(abs(p))
      return { type: st.isDirectory() ? 'dir' : 'file', mode: Number(st.mode) & 0o7777, mtime: Number(st.mtimeMs), size: Number(st.size) }
    } catch {
      return null
    }
  }
  list(dir: string): string[] {
    try {
      return (this.vol.readdirSync(abs(dir)) as string[]).map(String).sort()
    } catch {
      return []
    }
  }
  listFiles(dir: string): string[] {
    try {
      const entries = this.vol.readdirSync(abs(dir), { withFileTypes: true }) as unknown as { name: string | Buffer; isFile(): boolean }[]
      return entries
        .filter((e) => e.isFile())
        .map((e) => String(e.name))
        .sort()
    } catch {
      return []
    }
  }
  countFiles(dir: string): number {
    let n = 0
    const walk = (d: string) => {
      let entries: { name: string | Buffer; isDirectory(): boolean; isFile(): boolean }[]
      try {
        entries = this.vol.readdirSync(abs(d), { withFileTypes: true }) as unknown as typeof entries
      } catch {
        return
      }
      for (const e of entries) {
        if (e.isDirectory()) walk(`${d}/${String(e.name)}`)
        else if (e.isFile()) n++
      }
    }
    walk(dir)
    return n
  }
  writeFile(p: string, data: Buffer, opts: { mode?: number; mtime?: number } = {}): void {
    // Writing into the existing inode keeps its hardlinks: a secret stays in its tags.
    const existed = this.stat(p)
    if (existed && (existed.mode & 0o200) === 0) this.vol.chmodSync(abs(p), existed.mode | 0o200)
    this.vol.writeFileSync(abs(p), data, existed ? {} : { mode: 0o600 })
    if (existed && opts.mode === undefined) this.vol.chmodSync(abs(p), existed.mode)
    if (opts.mode !== undefined) this.vol.chmodSync(abs(p), opts.mode)
    if (opts.mtime !== undefined) this.vol.utimesSync(abs(p), opts.mtime / 1000, opts.mtime / 1000)
    if (existed) this.touch(p)
    else this.touchEntry(p)
  }
  mkdir(p: string, mode = 0o700): void {
    if (this.stat(p)) return
    this.vol.mkdirSync(abs(p), { mode })
    this.vol.chmodSync(abs(p), mode)
    this.touchEntry(p)
  }
  remove(p: string): void {
    const st = this.stat(p)
    if (!st) return
    if (st.type === 'dir') this.vol.rmdirSync(abs(p))
    else {
      this.noteOtherNames(p) // their link count drops
      this.vol.unlinkSync(abs(p))
    }
    this.touchEntry(p)
  }
  move(from: string, to: string): void {
    const st = this.stat(from)
    if (!st) return
    if (st.type === 'dir') this.markTree(from)
    else this.markTagsOf(from)
    this.vol.renameSync(abs(from), abs(to))
    this.touchEntry(from)
    if (st.type === 'dir') this.markTree(to)
    else this.markTagsOf(to)
    this.touchEntry(to)
  }
  link(p: string, target: string): void {
    if (this.stat(p)) this.vol.unlinkSync(abs(p))
    this.vol.linkSync(abs(target), abs(p))
    this.touchEntry(p)
  }
  linkTarget(p: string): string | null {
    if (!p.startsWith(TAGS + '/')) return null
    const ino = this.ino(p)
    return ino === null ? null : (this.inodes().get(ino) ?? null)
  }

  // --------------------------------------------------------------------------- inodes
  ino(p: string): number | null {
    try {
      const st = this.vol.lstatSync(abs(p))
      return st.isFile() ? Number(st.ino) : null
    } catch {
      return null
    }
  }

  /** inode → 'repos/R/N' for every secret. */
  inodes(): Map<number, string> {
    if (!this.inoIndex) {
      const m = new Map<number, string>()
      for (const r of this.list(REPOS)) {
        for (const n of this.list(`${REPOS}/${r}`)) {
          if (n === '.git' || isScratchName(n)) continue
          const ino = this.ino(`${REPOS}/${r}/${n}`)
          if (ino !== null) m.set(ino, `${REPOS}/${r}/${n}`)
        }
      }
      this.inoIndex = m
    }
    return this.inoIndex
  }

  /** Every name of the file at p (its repository path, its tag entries); [p] when it has one, [] when p is no file. */
  namesOf(p: string): string[] {
    let st
    try {
      st = this.vol.lstatSync(abs(p))
    } catch {
      return []
    }
    if (!st.isFile()) return []
    if (Number(st.nlink) <= 1) return [p]
    const secret = this.inodes().get(Number(st.ino))
    return [...(secret ? [secret] : []), ...this.tagLinksOf(secret ?? p)]
  }

  /** Tag entries that are hardlinks of the file at p. */
  tagLinksOf(p: string): string[] {
    const ino = this.ino(p)
    if (ino === null) return []
    const out: string[] = []
    // (not libfuse's hidden names: they belong to a descriptor, not to the tag)
    for (const t of this.list(TAGS)) for (const e of this.list(`${TAGS}/${t}`)) if (!isFuseHiddenName(e) && this.ino(`${TAGS}/${t}/${e}`) === ino) out.push(`${TAGS}/${t}/${e}`)
    return out
  }

  markTagsOf(p: string): void {
    for (const l of this.tagLinksOf(p)) this.touch(l)
  }

  markTree(p: string): void {
    this.touch(p)
    const st = this.stat(p)
    if (st?.type !== 'dir') {
      this.markTagsOf(p)
      return
    }
    for (const n of this.list(p)) this.markTree(`${p}/${n}`)
  }

  // --------------------------------------------------------------------------- saving
  /**
   * What the node file must change so it matches memory for the dirty paths. Scratch files are
   * never persisted; a file in a tag folder that is no secret's hardlink is scratch too. Files
   * with open writers wait for their close.
   */
  changes(node: NodeFile): { changes: Change[]; saved: string[] } {
    const puts: Change[] = []
    const dels: Change[] = []
    const saved: string[] = []
    const inodes = this.inodes()
    for (const p of [...this.dirty].sort()) {
      const st = this.stat(p)
      const base = p.slice(p.lastIndexOf('/') + 1)
      const parts = p.split('/')
      if (st?.type === 'file' && this.openWriters.get(this.ino(p)!)) continue
      saved.push(p)
      let want: Change | null = null
      if (st?.type === 'dir') {
        if (!(parts[0] === REPOS && parts.length > 2 && parts[2] !== '.git')) want = { op: 'put', path: p, type: 'dir', mode: st.mode, mtime: st.mtime }
      } else if (st?.type === 'file') {
        if (parts[0] === TAGS && parts.length === 3) {
          const target = isFuseHiddenName(base) ? undefined : inodes.get(this.ino(p)!)
          if (target) want = { op: 'put', path: p, type: 'link', target, mode: st.mode, mtime: st.mtime }
        } else if (!(parts[0] === REPOS && parts.length === 3 && isScratchName(base))) {
          want = { op: 'put', path: p, type: 'file', data: this.readFile(p)!, mode: st.mode, mtime: st.mtime }
        }
      }
      if (want) puts.push(want)
      else if (node.has(p)) dels.push({ op: 'delete', path: p })
    }
    return { changes: [...puts, ...dels.reverse()], saved }
  }

  /** Append the dirty state to the node file (one segment). Returns how many members changed. */
  save(node: NodeFile): number {
    const { changes, saved } = this.changes(node)
    if (changes.length) node.commit(changes)
    for (const p of saved) this.dirty.delete(p)
    return changes.length
  }
}
