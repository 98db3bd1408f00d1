// `secret find` (names) and `secret grep` (contents) over a whole node. grep reads every value
// of the repositories it searches in one pass over the node file (Store.readFiles: file order,
// few large reads), so it needs no mount and costs about what `grep -r` costs on plain files.
import { join } from './store.js'
import { PolykeyError } from '../errors.js'
import type { Vault } from './vault.js'

export interface Found {
  repo: string
  name: string
  tags: string[]
}

/**
 * Secrets whose REPO/NAME, or one of whose tags, contains `pattern` (case-insensitive, as
 * `pass find`): names only, no value is read.
 */
export function findSecrets(v: Vault, pattern: string): Found[] {
  const needle = pattern.toLowerCase()
  const tagsOf = new Map<string, string[]>()
  for (const m of v.tagMembers()) {
    const k = `${m.repo}/${m.name}`
    const t = tagsOf.get(k)
    if (t) t.push(m.tag)
    else tagsOf.set(k, [m.tag])
  }
  const out: Found[] = []
  for (const repo of v.repoList()) {
    for (const name of v.secretNames(repo)) {
      const tags = tagsOf.get(`${repo}/${name}`) ?? []
      if (`${repo}/${name}`.toLowerCase().includes(needle) || tags.some((t) => t.toLowerCase().includes(needle))) out.push({ repo, name, tags })
    }
  }
  return out
}

export interface GrepHit {
  repo: string
  name: string
  line: number // 1-based
  text?: string // only when asked for (--show)
}

export interface GrepOptions {
  repos?: string[]
  ignoreCase?: boolean
  /** PATTERN is a plain string, not a regular expression */
  fixed?: boolean
  /** keep the matching line's text */
  show?: boolean
}

/**
 * A matcher for one line, and a quick test of a whole value that is true whenever some line of
 * it matches (multiline: ^ and $ at line ends), so most values are never split into lines.
 */
export function lineMatcher(pattern: string, o: GrepOptions): { line: (l: string) => boolean; any: (text: string) => boolean } {
  const source = o.fixed ? pattern.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&') : pattern
  const flags = o.ignoreCase ? 'iu' : 'u'
  let re: RegExp, whole: RegExp
  try {
    re = new RegExp(source, flags)
    whole = new RegExp(source, flags + 'm')
  } catch (err) {
    throw new PolykeyError('USAGE', `invalid pattern: ${(err as Error).message}`, {}, { hint: 'PATTERN is a JavaScript regular expression; use --fixed for a plain string' })
  }
  return { line: (l) => re.test(l), any: (t) => whole.test(t) }
}

/** Every line of every secret in `repos` (default: all) that matches; in repository, name order. */
export function grepSecrets(v: Vault, pattern: string, o: GrepOptions = {}): GrepHit[] {
  const match = lineMatcher(pattern, o)
  const repos = o.repos ?? v.repoList()
  const paths: string[] = []
  const ref = new Map<string, { repo: string; name: string }>()
  for (const repo of repos) {
    for (const name of v.secretNames(repo)) {
      const p = join(v.repoPath(repo), name)
      paths.push(p)
      ref.set(p, { repo, name })
    }
  }
  const hits = new Map<string, GrepHit[]>()
  const scan = (p: string, data: Buffer) => {
    const text = data.toString('utf8')
    if (!match.any(text)) return
    let found: GrepHit[] | null = null
    let line = 1
    let start = 0
    while (start <= text.length) {
      let end = text.indexOf('\n', start)
      if (end < 0) end = text.length
      const l = text.slice(start, end)
      if (match.line(l)) {
        const { repo, name } = ref.get(p)!
        ;(found ??= []).push(o.show ? { repo, name, line, text: l } : { repo, name, line })
      }
      if (end === text.length) break
      start = end + 1
      line++
    }
    if (found) hits.set(p, found)
  }
  if (v.store.readFiles) v.store.readFiles(paths, scan)
  else
    for (const p of paths) {
      const d = v.store.readFile(p)
      if (d) scan(p, d)
    }
  return paths.flatMap((p) => hits.get(p) ?? [])
}
