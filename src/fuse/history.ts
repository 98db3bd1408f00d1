// Every past commit of every repository as a read-only folder (docs/FUSE.md "History"):
//   history/REPO/WHEN-COMMIT/SECRET
// WHEN is the commit's author time in UTC, ISO-8601 with '-' for ':' (2026-12-01T23-12-42Z:
// no colons, so the name is one shell word and works with scp, tar, make and Windows tools);
// COMMIT is the first 12 hex digits of the commit id. Nothing here is unpacked at mount time:
// listing history/REPO walks that repository's log, opening a commit folder reads its tree,
// and both are kept in bounded caches (an LRU) keyed by what makes them true (the branch head,
// the commit id), so memory follows what was looked at, not how long the history is. Secret
// values are never cached: an open reads the blob, the handle holds it until release.
import { LRUCache } from 'lru-cache'
import type { Store } from '../vault/store.js'
import { GitRepo } from '../git/repo.js'
import { REPOS } from '../vault/vault.js'
import { isScratchName } from '../vault/names.js'

export const HISTORY = 'history'

/** The folder name of a commit: pure (tested). */
export function commitFolderName(timeSeconds: number, oid: string): string {
  const iso = new Date(timeSeconds * 1000).toISOString() // 2026-12-01T23:12:42.000Z
  return `${iso.slice(0, 19).replace(/:/g, '-')}Z-${oid.slice(0, 12)}`
}

const FOLDER = /^(\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ)-([0-9a-f]{12})$/

export interface HistoryCommit {
  folder: string
  oid: string
  time: number // seconds
}

export interface HistoryEntry {
  oid: string
  executable: boolean
}

export type HistoryKind =
  | { k: 'top' }
  | { k: 'repo'; repo: string }
  | { k: 'commit'; repo: string; commit: HistoryCommit }
  | { k: 'file'; repo: string; commit: HistoryCommit; name: string; entry: HistoryEntry }

/** Bounds of the caches: commit lists (per repository head) and trees (per commit). */
const MAX_LOGS = 64
const MAX_TREES = 1024
const MAX_INODES = 100_000
/** Inode numbers of history entries: above anything memfs hands out (it counts up from 1). */
const INO_BASE = 0x8000_0000

export class HistoryView {
  private logs = new LRUCache<string, { list: HistoryCommit[]; byFolder: Map<string, HistoryCommit> }>({ max: MAX_LOGS })
  private trees = new LRUCache<string, Map<string, HistoryEntry>>({ max: MAX_TREES })
  private sizes = new LRUCache<string, number>({ max: MAX_INODES })
  private inos = new LRUCache<string, number>({ max: MAX_INODES })
  private nextIno = INO_BASE

  constructor(private readonly store: Store) {}

  private git(repo: string): GitRepo | null {
    if (isScratchName(repo) || this.store.stat(`${REPOS}/${repo}/.git`)?.type !== 'dir') return null
    return new GitRepo(this.store, `${REPOS}/${repo}`)
  }

  repos(): string[] {
    return this.store.list(REPOS).filter((r) => this.git(r) !== null)
  }

  /**
   * Every commit reachable from the head (all parents, so merged-in history shows too), newest
   * first; keyed by the head, so a new commit makes a new list and the old one ages out.
   */
  commits(repo: string): HistoryCommit[] | null {
    return this.log(repo)?.list ?? null
  }

  private log(repo: string) {
    const git = this.git(repo)
    if (!git) return null
    const head = git.head()
    const key = `${repo}\0${head}`
    let l = this.logs.get(key)
    if (!l) {
      const list: HistoryCommit[] = []
      const seen = new Set<string>()
      const todo = head ? [head] : []
      while (todo.length) {
        const oid = todo.pop()!
        if (seen.has(oid)) continue
        seen.add(oid)
        const c = git.readCommit(oid)
        list.push({ folder: commitFolderName(c.author.timestamp, oid), oid, time: c.author.timestamp })
        for (let i = c.parents.length - 1; i >= 0; i--) todo.push(c.parents[i])
      }
      list.sort((a, b) => b.time - a.time || (a.oid < b.oid ? -1 : 1))
      l = { list, byFolder: new Map(list.map((c) => [c.folder, c])) }
      this.logs.set(key, l)
    }
    return l
  }

  tree(repo: string, commit: HistoryCommit): Map<string, HistoryEntry> {
    let t = this.trees.get(commit.oid)
    if (!t) {
      t = new Map()
      for (const [name, e] of this.git(repo)!.treeOf(commit.oid)) t.set(name, { oid: e.oid, executable: e.mode === '100755' })
      this.trees.set(commit.oid, t)
    }
    return t
  }

  /** What a path under history/ is; null when there is nothing there. `rel` is relative to the mount root. */
  classify(rel: string): HistoryKind | null {
    const p = rel.split('/')
    if (p[0] !== HISTORY) return null
    if (p.length === 1) return { k: 'top' }
    const repo = p[1]
    if (!this.git(repo)) return null
    if (p.length === 2) return { k: 'repo', repo }
    if (!FOLDER.test(p[2])) return null
    const commit = this.log(repo)!.byFolder.get(p[2])
    if (!commit) return null
    if (p.length === 3) return { k: 'commit', repo, commit }
    if (p.length > 4) return null
    const entry = this.tree(repo, commit).get(p[3])
    return entry ? { k: 'file', repo, commit, name: p[3], entry } : null
  }

  /** A past secret's bytes (the caller wipes them when done). */
  read(repo: string, entry: HistoryEntry): Buffer {
    const data = this.git(repo)!.readObject(entry.oid).content
    this.sizes.set(entry.oid, data.length)
    return data
  }

  size(repo: string, entry: HistoryEntry): number {
    let n = this.sizes.get(entry.oid)
    if (n === undefined) {
      const data = this.read(repo, entry)
      n = data.length
      data.fill(0)
    }
    return n
  }

  /** A stable inode number per path while it is remembered (ls -i, diff -r and cp -a compare them). */
  ino(rel: string): number {
    let n = this.inos.get(rel)
    if (n === undefined) {
      n = this.nextIno++
      if (this.nextIno >= 0xffff_ffff) this.nextIno = INO_BASE
      this.inos.set(rel, n)
    }
    return n
  }
}
