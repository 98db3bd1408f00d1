// The one model of a node's contents: repositories of secrets (each a git repository), tags of
// hardlinks, node metadata under .polykey/. Works on any Store (node file or memfs).
import { type Store, join } from './store.js'
import { checkName, isScratchName } from './names.js'
import { GitRepo, type Author, type LogEntry } from '../git/repo.js'
import { PolykeyError, notFound } from '../errors.js'

export const REPOS = 'repos'
export const TAGS = 'tags'
export const META = '.polykey'

export interface TagMember {
  tag: string
  entry: string // the name shown in the tag folder
  repo: string
  name: string
}

export class Vault {
  constructor(
    readonly store: Store,
    readonly author: Author,
    private readonly now: () => number = Date.now,
  ) {}

  /** Folders and metadata every node has. */
  static skeleton(store: Store): void {
    store.mkdir(REPOS)
    store.mkdir(TAGS)
    store.mkdir(META)
  }

  // ------------------------------------------------------------------------ repositories
  repoPath(repo: string): string {
    return join(REPOS, repo)
  }
  git(repo: string): GitRepo {
    return new GitRepo(this.store, this.repoPath(repo))
  }
  hasRepo(repo: string): boolean {
    return this.store.stat(this.repoPath(repo))?.type === 'dir'
  }
  private needRepo(repo: string): void {
    checkName('repository', repo)
    if (!this.hasRepo(repo)) throw notFound(`no repository '${repo}'`, { repo })
  }

  repoList(): string[] {
    return this.store.list(REPOS).filter((n) => this.store.stat(join(REPOS, n))?.type === 'dir')
  }

  repoCreate(repo: string): void {
    checkName('repository', repo)
    if (this.store.stat(this.repoPath(repo))) throw new PolykeyError('EXISTS', `repository '${repo}' already exists`, { repo })
    this.store.mkdir(this.repoPath(repo))
    this.git(repo).init()
  }

  repoRename(from: string, to: string): void {
    this.needRepo(from)
    checkName('repository', to)
    if (this.store.stat(this.repoPath(to))) throw new PolykeyError('EXISTS', `repository '${to}' already exists`, { repo: to })
    const members = this.tagMembers().filter((m) => m.repo === from)
    this.store.move(this.repoPath(from), this.repoPath(to))
    for (const m of members) {
      // An entry shown as NAME@OLD follows the repository's new name.
      let entry = m.entry
      const renamed = `${m.name}@${to}`
      if (entry === `${m.name}@${from}` && Buffer.byteLength(renamed) <= 255 && !this.store.stat(join(TAGS, m.tag, renamed))) {
        this.store.remove(join(TAGS, m.tag, entry))
        entry = renamed
      }
      this.store.link(join(TAGS, m.tag, entry), join(REPOS, to, m.name))
    }
  }

  repoDelete(repo: string): void {
    this.needRepo(repo)
    for (const m of this.tagMembers().filter((m) => m.repo === repo)) this.store.remove(join(TAGS, m.tag, m.entry))
    this.removeTree(this.repoPath(repo))
  }

  private removeTree(p: string): void {
    const st = this.store.stat(p)
    if (st?.type === 'dir') for (const n of this.store.list(p)) this.removeTree(join(p, n))
    this.store.remove(p)
  }

  repoLog(repo: string, limit?: number, signatures = false): LogEntry[] {
    this.needRepo(repo)
    return this.git(repo).log(limit, signatures)
  }

  /** A new commit whose tree is the one at `rev`. Secrets that go away leave their tags. */
  repoRevert(repo: string, rev: string): string | null {
    this.needRepo(repo)
    const git = this.git(repo)
    const commit = git.resolve(rev)
    const target = git.treeOf(commit)
    const changes = new Map<string, { data: Buffer; mode: number } | null>()
    for (const name of this.secretNames(repo)) if (!target.has(name)) changes.set(name, null)
    for (const [name, e] of target) {
      const data = git.readObject(e.oid).content
      const cur = this.store.readFile(join(this.repoPath(repo), name))
      if (!cur || !cur.equals(data)) changes.set(name, { data, mode: e.mode === '100755' ? 0o700 : 0o600 })
    }
    for (const [name, v] of changes) {
      const p = join(this.repoPath(repo), name)
      if (v) this.store.writeFile(p, v.data, { mode: v.mode })
      else {
        this.untagEverywhere(repo, name)
        this.store.remove(p)
      }
    }
    return git.commit(changes, `revert to ${commit.slice(0, 12)}`, this.author, this.now(), true)
  }

  // ------------------------------------------------------------------------ secrets
  secretNames(repo: string): string[] {
    const dir = this.repoPath(repo)
    if (this.store.listFiles) return this.store.listFiles(dir).filter((n) => n !== '.git' && !isScratchName(n))
    return this.store.list(dir).filter((n) => n !== '.git' && !isScratchName(n) && this.store.stat(join(dir, n))?.type === 'file')
  }

  secretList(repo?: string): { repo: string; name: string; size: number; mtime: number }[] {
    const repos = repo === undefined ? this.repoList() : (this.needRepo(repo), [repo])
    return repos.flatMap((r) =>
      this.secretNames(r).map((name) => {
        const st = this.store.stat(join(this.repoPath(r), name))!
        return { repo: r, name, size: st.size, mtime: st.mtime }
      }),
    )
  }

  secretGet(repo: string, name: string, rev?: string): Buffer {
    this.needRepo(repo)
    checkName('secret', name)
    if (rev !== undefined) {
      const git = this.git(repo)
      return git.readBlobAt(git.resolve(rev), name)
    }
    const data = this.store.readFile(join(this.repoPath(repo), name))
    if (!data) throw notFound(`no secret '${repo}/${name}'`, { repo, name })
    return data
  }

  /** Create or update; returns the commit id (null when the value did not change). */
  secretPut(repo: string, name: string, data: Buffer): string | null {
    this.needRepo(repo)
    checkName('secret', name)
    const p = join(this.repoPath(repo), name)
    const old = this.store.stat(p)
    if (old?.type === 'dir') throw new PolykeyError('REFUSED', `${repo}/${name} is a folder`)
    if (old && this.store.readFile(p)!.equals(data)) return null
    this.store.writeFile(p, data)
    const mode = old?.mode ?? 0o600
    return this.git(repo).commit(new Map([[name, { data, mode }]]), `${old ? 'update' : 'add'} ${name}`, this.author, this.now())
  }

  secretRm(repo: string, name: string): string | null {
    this.needRepo(repo)
    checkName('secret', name)
    const p = join(this.repoPath(repo), name)
    if (this.store.stat(p)?.type !== 'file') throw notFound(`no secret '${repo}/${name}'`, { repo, name })
    this.untagEverywhere(repo, name)
    this.store.remove(p)
    return this.git(repo).commit(new Map([[name, null]]), `remove ${name}`, this.author, this.now())
  }

  /** Rename within a repository, or move across repositories (a commit in each). Tags follow. */
  secretMv(from: { repo: string; name: string }, to: { repo: string; name: string }): void {
    this.needRepo(from.repo)
    this.needRepo(to.repo)
    checkName('secret', from.name)
    checkName('secret', to.name)
    const src = join(this.repoPath(from.repo), from.name)
    const dst = join(this.repoPath(to.repo), to.name)
    if (this.store.stat(src)?.type !== 'file') throw notFound(`no secret '${from.repo}/${from.name}'`, from)
    if (src === dst) return
    if (this.store.stat(dst)) throw new PolykeyError('EXISTS', `'${to.repo}/${to.name}' already exists`, to)
    const data = this.store.readFile(src)!
    const mode = this.store.stat(src)!.mode
    const tagged = this.tagMembers().filter((m) => m.repo === from.repo && m.name === from.name)
    this.store.move(src, dst)
    for (const m of tagged) {
      this.store.remove(join(TAGS, m.tag, m.entry))
      this.linkIntoTag(m.tag, to.repo, to.name)
    }
    if (from.repo === to.repo) {
      this.git(to.repo).commit(
        new Map([
          [from.name, null],
          [to.name, { data, mode }],
        ]),
        `rename ${from.name} to ${to.name}`,
        this.author,
        this.now(),
      )
    } else {
      this.git(from.repo).commit(new Map([[from.name, null]]), `move ${from.name} to ${to.repo}/${to.name}`, this.author, this.now())
      this.git(to.repo).commit(new Map([[to.name, { data, mode }]]), `add ${to.name} (moved from ${from.repo}/${from.name})`, this.author, this.now())
    }
  }

  /** A copy of a secret's value (and mode) as another secret: one commit in the target repository. Tags stay with the original. */
  secretCp(from: { repo: string; name: string }, to: { repo: string; name: string }, force = false): string | null {
    this.needRepo(from.repo)
    this.needRepo(to.repo)
    checkName('secret', from.name)
    checkName('secret', to.name)
    const src = join(this.repoPath(from.repo), from.name)
    const dst = join(this.repoPath(to.repo), to.name)
    if (this.store.stat(src)?.type !== 'file') throw notFound(`no secret '${from.repo}/${from.name}'`, from)
    if (src === dst) throw new PolykeyError('USAGE', 'source and target are the same secret')
    const old = this.store.stat(dst)
    if (old?.type === 'dir') throw new PolykeyError('REFUSED', `${to.repo}/${to.name} is a folder`)
    if (old && !force) throw new PolykeyError('EXISTS', `'${to.repo}/${to.name}' already exists`, to, { hint: 'add --force to overwrite it' })
    const data = this.store.readFile(src)!
    const mode = this.store.stat(src)!.mode
    if (old && this.store.readFile(dst)!.equals(data)) return null
    this.store.writeFile(dst, data, { mode })
    return this.git(to.repo).commit(new Map([[to.name, { data, mode }]]), `${old ? 'update' : 'add'} ${to.name} (copied from ${from.repo}/${from.name})`, this.author, this.now())
  }

  /** Many secrets in one commit (import). Returns the commit id or null. */
  secretPutMany(repo: string, secrets: Map<string, Buffer>, message: string): string | null {
    this.needRepo(repo)
    if (secrets.size === 0) return null // an empty folder: a repository, but no commit
    const changes = new Map<string, { data: Buffer; mode: number } | null>()
    for (const [name, data] of secrets) {
      checkName('secret', name)
      const p = join(this.repoPath(repo), name)
      const old = this.store.stat(p)
      this.store.writeFile(p, data)
      changes.set(name, { data, mode: old?.mode ?? 0o600 })
    }
    return this.git(repo).commit(changes, message, this.author, this.now())
  }

  /**
   * One commit of many changes (null = remove) with a given message and time: replaying another
   * tool's history (import pass --history). Tags are not touched.
   */
  secretsCommitAt(repo: string, changes: Map<string, Buffer | null>, message: string, timeMs: number): string | null {
    this.needRepo(repo)
    const git = new Map<string, { data: Buffer; mode: number } | null>()
    for (const [name, data] of changes) {
      checkName('secret', name)
      const p = join(this.repoPath(repo), name)
      const old = this.store.stat(p)
      if (data === null) {
        if (old?.type !== 'file') continue
        this.untagEverywhere(repo, name)
        this.store.remove(p)
        git.set(name, null)
      } else {
        this.store.writeFile(p, data)
        git.set(name, { data, mode: old?.mode ?? 0o600 })
      }
    }
    if (git.size === 0) return null
    return this.git(repo).commit(git, message, this.author, timeMs)
  }

  /** Per-repository metadata kept beside its git data (moves and goes with the repository). */
  repoMetaRead(repo: string, name: string): Buffer | null {
    return this.store.readFile(join(this.repoPath(repo), '.git', `polykey-${name}`))
  }
  repoMetaWrite(repo: string, name: string, data: Buffer): void {
    this.needRepo(repo)
    this.store.writeFile(join(this.repoPath(repo), '.git', `polykey-${name}`), data, { mode: 0o600 })
  }

  // ------------------------------------------------------------------------ tags
  tagNames(): string[] {
    return this.store.list(TAGS).filter((n) => this.store.stat(join(TAGS, n))?.type === 'dir')
  }

  tagMembers(tag?: string): TagMember[] {
    const tags = tag === undefined ? this.tagNames() : [tag]
    const out: TagMember[] = []
    for (const t of tags) {
      for (const entry of this.store.list(join(TAGS, t))) {
        const target = this.store.linkTarget(join(TAGS, t, entry))
        if (!target) continue // scratch files made in a tag folder belong to no repository
        const [, repo, name] = target.split('/')
        out.push({ tag: t, entry, repo, name })
      }
    }
    return out
  }

  tagAdd(tag: string, repo: string, name: string): string {
    checkName('tag', tag)
    this.needRepo(repo)
    checkName('secret', name)
    if (this.store.stat(join(this.repoPath(repo), name))?.type !== 'file') throw notFound(`no secret '${repo}/${name}'`, { repo, name })
    const existing = this.tagMembers(this.hasTag(tag) ? tag : undefined).filter((m) => m.tag === tag && m.repo === repo && m.name === name)
    if (existing.length) return existing[0].entry
    return this.linkIntoTag(tag, repo, name)
  }

  hasTag(tag: string): boolean {
    return this.store.stat(join(TAGS, tag))?.type === 'dir'
  }

  /** Entry name: the secret's name, or NAME@REPO when the tag already shows another NAME. */
  private linkIntoTag(tag: string, repo: string, name: string): string {
    this.store.mkdir(join(TAGS, tag))
    let entry = name
    if (this.store.stat(join(TAGS, tag, entry))) entry = `${name}@${repo}`
    if (Buffer.byteLength(entry) > 255 || this.store.stat(join(TAGS, tag, entry)))
      throw new PolykeyError('CONFLICT', `tag '${tag}' already shows an entry named '${entry}'`, { tag, entry })
    this.store.link(join(TAGS, tag, entry), join(this.repoPath(repo), name))
    return entry
  }

  tagRm(tag: string, repo: string, name: string): void {
    checkName('tag', tag)
    if (!this.hasTag(tag)) throw notFound(`no tag '${tag}'`, { tag })
    const hit = this.tagMembers(tag).find((m) => m.repo === repo && m.name === name)
    if (!hit) throw notFound(`'${repo}/${name}' is not tagged '${tag}'`, { tag, repo, name })
    this.store.remove(join(TAGS, tag, hit.entry))
    if (this.store.list(join(TAGS, tag)).length === 0) this.store.remove(join(TAGS, tag))
  }

  private untagEverywhere(repo: string, name: string): void {
    for (const m of this.tagMembers()) if (m.repo === repo && m.name === name) this.store.remove(join(TAGS, m.tag, m.entry))
  }

  // ------------------------------------------------------------------------ metadata
  readMeta(name: string): Buffer | null {
    return this.store.readFile(join(META, name))
  }
  writeMeta(name: string, data: Buffer): void {
    this.store.mkdir(META)
    this.store.writeFile(join(META, name), data, { mode: 0o600 })
  }
}
