// A `pass` store (passwordstore.org) read as a plan for a node: which repository and name each
// entry becomes, its tags, the `.gpg-id` recipients of each folder and, with history, the
// store's git commits. Mapping (docs/CLI.md "import pass"):
//   TOP.gpg                  → repository `pass`, secret TOP
//   REPO/NAME.gpg            → repository REPO, secret NAME
//   REPO/A/B/NAME.gpg        → repository REPO, secret `A:B:NAME`, tags A and B
// Each path component is escaped (`%` → `%25`, `:` → `%3A`) before joining with `:`, so the
// mapping is reversible: split on `:`, unescape, join with `/`.
import fs from 'node:fs'
import path from 'node:path'
import { spawnSync } from 'node:child_process'
import { PolykeyError } from '../errors.js'
import { nameProblem } from './names.js'

export const TOP_REPO = 'pass'
export const SEPARATOR = ':'

export interface PassTarget {
  repo: string
  name: string
  tags: string[]
}

const esc = (c: string) => c.replace(/%/g, '%25').replace(/:/g, '%3A')
const unesc = (c: string) => c.replace(/%3A/gi, ':').replace(/%25/g, '%')

/** Where the entry at `rel` (a store path without `.gpg`, `/`-separated) goes in the node. */
export function mapPassPath(rel: string): PassTarget {
  const parts = rel.split('/')
  if (parts.length === 1) return { repo: TOP_REPO, name: esc(parts[0]), tags: [] }
  return { repo: parts[0], name: parts.slice(1).map(esc).join(SEPARATOR), tags: parts.slice(1, -1) }
}

/** The store path of a mapped name (the mapping's inverse). */
export function unmapPassName(repo: string, name: string): string {
  const rel = name.split(SEPARATOR).map(unesc).join('/')
  return repo === TOP_REPO && !name.includes(SEPARATOR) ? rel : `${repo}/${rel}`
}

export interface PassEntry {
  rel: string // store path without .gpg
  file: string // absolute path of the .gpg file
  target: PassTarget
}

export interface PassScan {
  root: string
  entries: PassEntry[]
  /** `.gpg-id` recipients by folder ('' = the store's root) */
  gpgIds: Map<string, string[]>
  /** problems that stop the import: name collisions, invalid names */
  problems: string[]
}

/** Every `*.gpg` entry of the store (hidden files and folders, like `.git`, are not entries). */
export function scanStore(root: string): PassScan {
  let st: fs.Stats
  try {
    st = fs.statSync(root)
  } catch {
    throw new PolykeyError('NOT_FOUND', `no pass store at ${root}`, { path: root }, { hint: 'name it with --store DIR or $PASSWORD_STORE_DIR' })
  }
  if (!st.isDirectory()) throw new PolykeyError('USAGE', `${root} is not a folder`, { path: root })
  const entries: PassEntry[] = []
  const gpgIds = new Map<string, string[]>()
  const walk = (dir: string, rel: string) => {
    for (const d of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      const r = rel ? `${rel}/${d.name}` : d.name
      if (d.name === '.gpg-id' && d.isFile()) {
        gpgIds.set(rel, readGpgId(path.join(dir, d.name)))
        continue
      }
      if (d.name.startsWith('.')) continue
      if (d.isDirectory()) walk(path.join(dir, d.name), r)
      else if (d.isFile() && d.name.endsWith('.gpg') && d.name.length > 4) {
        const e = r.slice(0, -4)
        entries.push({ rel: e, file: path.join(dir, d.name), target: mapPassPath(e) })
      }
    }
  }
  walk(root, '')
  return { root, entries, gpgIds, problems: checkTargets(entries.map((e) => e.rel)) }
}

export function readGpgId(file: string): string[] {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim())
    .filter(Boolean)
}

/** Collisions (two store paths, one secret) and names a node cannot hold, one line each. */
export function checkTargets(rels: Iterable<string>): string[] {
  const byTarget = new Map<string, string[]>()
  const problems: string[] = []
  for (const rel of rels) {
    const t = mapPassPath(rel)
    const bad = nameProblem(t.repo) ?? (t.repo === '.git' ? 'is reserved' : null)
    if (bad) problems.push(`${rel}: repository name ${JSON.stringify(t.repo)} ${bad}`)
    const badName = nameProblem(t.name) ?? (t.name === '.git' ? 'is reserved' : null)
    if (badName) problems.push(`${rel}: secret name ${JSON.stringify(t.name)} ${badName}`)
    for (const tag of t.tags) {
      const badTag = nameProblem(tag)
      if (badTag) problems.push(`${rel}: tag name ${JSON.stringify(tag)} ${badTag}`)
    }
    const key = `${t.repo}/${t.name}`
    const list = byTarget.get(key) ?? []
    list.push(rel)
    byTarget.set(key, list)
  }
  for (const [key, list] of byTarget) if (list.length > 1) problems.push(`${list.map((r) => JSON.stringify(r)).join(' and ')} would both become ${key}`)
  return problems
}

/** The recipients that apply to a folder: its own `.gpg-id`, else the nearest parent's (as pass does). */
export function recipientsFor(gpgIds: Map<string, string[]>, folder: string): string[] {
  let f = folder
  for (;;) {
    const r = gpgIds.get(f)
    if (r) return r
    if (f === '') return []
    f = f.includes('/') ? f.slice(0, f.lastIndexOf('/')) : ''
  }
}

/** Per repository: the `.gpg-id` recipients by folder below it ('' = the repository itself). */
export function recipientsByRepo(scan: PassScan, repos: Iterable<string>): Map<string, Record<string, string[]>> {
  const out = new Map<string, Record<string, string[]>>()
  for (const repo of repos) {
    const folder = repo === TOP_REPO && !fs.existsSync(path.join(scan.root, TOP_REPO)) ? '' : repo
    const rec: Record<string, string[]> = { '': recipientsFor(scan.gpgIds, folder) }
    for (const [f, r] of scan.gpgIds) if (folder && f.startsWith(folder + '/')) rec[f.slice(folder.length + 1)] = r
    out.set(repo, rec)
  }
  return out
}

// ---------------------------------------------------------------------------------- history
export interface PassCommit {
  hash: string
  time: number // author time, seconds
  message: string
  /** store paths (without .gpg) added or changed (blob at this commit) and removed */
  changes: { rel: string; deleted: boolean }[]
}

function git(root: string, args: string[], input?: string): Buffer {
  const r = spawnSync('git', ['-C', root, ...args], { input, maxBuffer: 1 << 30, env: { ...process.env, GIT_TERMINAL_PROMPT: '0' } })
  if (r.error) throw new PolykeyError('NOT_FOUND', `cannot run git: ${(r.error as NodeJS.ErrnoException).code}`, {}, { hint: 'install git to import the history' })
  if (r.status !== 0) throw new PolykeyError('REFUSED', `git ${args[0]} failed in ${root}: ${r.stderr.toString().trim().split('\n').pop()}`)
  return r.stdout
}

/** The store's first-parent history, oldest first, with the entries each commit changed. */
export function readHistory(root: string): PassCommit[] {
  if (!fs.existsSync(path.join(root, '.git')))
    throw new PolykeyError('REFUSED', `${root} is not a git repository: there is no history to import`, {}, { hint: 'drop --history, or run pass git init first' })
  const out = git(root, ['log', '--reverse', '--first-parent', '--diff-merges=first-parent', '--no-renames', '--format=%x1e%H%x1f%at%x1f%B%x1f', '--name-status', '-z']).toString(
    'utf8',
  )
  const commits: PassCommit[] = []
  for (const rec of out.split('\x1e').slice(1)) {
    const a = rec.indexOf('\x1f')
    const b = rec.indexOf('\x1f', a + 1)
    const c = rec.indexOf('\x1f\0', b + 1)
    const hash = rec.slice(0, a)
    const time = Number(rec.slice(a + 1, b))
    const message = rec.slice(b + 1, c < 0 ? undefined : c).replace(/\n+$/, '')
    const tokens =
      c < 0
        ? []
        : rec
            .slice(c + 2)
            .replace(/^\n/, '')
            .split('\0')
    const changes: PassCommit['changes'] = []
    for (let i = 0; i + 1 < tokens.length; i += 2) {
      const status = tokens[i]
      const p = tokens[i + 1]
      if (!p.endsWith('.gpg') || p.split('/').some((c) => c.startsWith('.'))) continue
      changes.push({ rel: p.slice(0, -4), deleted: status === 'D' })
    }
    commits.push({ hash, time, message, changes })
  }
  return commits
}

/** The encrypted blobs `COMMIT:PATH.gpg` of many versions, with one `git cat-file --batch`. */
export function readBlobs(root: string, refs: { commit: string; rel: string }[]): Buffer[] {
  if (refs.length === 0) return []
  const out = git(root, ['cat-file', '--batch'], refs.map((r) => `${r.commit}:${r.rel}.gpg\n`).join(''))
  const blobs: Buffer[] = []
  let off = 0
  for (const r of refs) {
    const nl = out.indexOf(0x0a, off)
    const head = out.subarray(off, nl).toString('utf8').split(' ')
    if (head[1] !== 'blob') throw new PolykeyError('CORRUPT', `the store's git history has no ${r.rel}.gpg at ${r.commit.slice(0, 12)}`)
    const size = Number(head[2])
    blobs.push(Buffer.from(out.subarray(nl + 1, nl + 1 + size)))
    off = nl + 1 + size + 1
  }
  return blobs
}
