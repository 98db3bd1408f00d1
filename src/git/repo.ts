// One secret repository's history: a real git repository (loose objects, refs/heads/main) kept
// inside the node. Repositories are flat, so a commit's tree is a single list of secrets.
import { type Store, join } from '../vault/store.js'
import { type Commit, type TreeEntry, decodeCommit, decodeLoose, decodeTree, deflate, encodeCommit, encodeObject, encodeTree } from './objects.js'
import { encodeIndex } from './index-file.js'
import { PolykeyError, notFound } from '../errors.js'

export const BRANCH = 'main'
const GIT_CONFIG = '[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = false\n'

export interface LogEntry {
  commit: string
  time: number // seconds since the epoch
  message: string
  parents: string[]
}

export interface Author {
  name: string
  email: string
}

export class GitRepo {
  readonly gitdir: string
  constructor(private readonly store: Store, readonly dir: string) {
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
    const p = this.objectPath(oid)
    if (!this.store.stat(p)) {
      this.store.mkdir(join(this.gitdir, 'objects', oid.slice(0, 2)))
      this.store.writeFile(p, deflate(raw), { mode: 0o400 })
    }
    return oid
  }

  hasObject(oid: string): boolean {
    return this.store.stat(this.objectPath(oid)) !== null
  }

  readObject(oid: string): { type: string; content: Buffer } {
    if (!/^[0-9a-f]{40}$/.test(oid)) throw new PolykeyError('USAGE', `not a commit id: ${oid}`)
    const data = this.store.readFile(this.objectPath(oid))
    if (!data) throw notFound(`no object ${oid} in ${this.dir}`, { oid })
    return decodeLoose(oid, data)
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
    const oid = this.writeObject(
      'commit',
      encodeCommit({ tree: treeOid, parents: parent ? [parent] : [], author: { ...author, timestamp: Math.floor(now / 1000), tz: '+0000' }, message }),
    )
    this.setHead(oid)
    this.writeIndex(tree.values())
    return oid
  }

  /** .git/index matching the new HEAD tree, so that real git sees a clean work tree. */
  private writeIndex(entries: Iterable<TreeEntry>): void {
    this.store.writeFile(join(this.gitdir, 'index'), encodeIndex(entries), { mode: 0o600 })
  }

  log(limit = Infinity): LogEntry[] {
    const out: LogEntry[] = []
    let oid = this.head()
    while (oid && out.length < limit) {
      const c = this.readCommit(oid)
      out.push({ commit: oid, time: c.author.timestamp, message: c.message.replace(/\n$/, ''), parents: c.parents })
      oid = c.parents[0] ?? null
    }
    return out
  }
}
