// GitHub as an identity service: the SSH keys it publishes for a user (https://github.com/USER.keys)
// and the user's public gists (REST API GET /users/USER/gists), where statements are published.
import { PolykeyError } from '../errors.js'
import { get, parseJson, statusError, type HttpOptions } from './http.js'
import { sshKeyOf } from './statement.js'

export const KEYS_MAX_BYTES = 256 * 1024
export const GISTS_MAX_BYTES = 1 << 20
export const DOCUMENT_MAX_BYTES = 64 * 1024
/** Gist files looked at, newest gists first: statements are small and few. */
const MAX_CANDIDATES = 8
/** polykey.txt is what `identity claim` suggests; polykey-*.txt / .asc are accepted too. */
export const STATEMENT_FILE = /^polykey(?:[-_.][\w.-]*)?\.(?:txt|asc)$/i

type Net = Omit<HttpOptions, 'label' | 'maxBytes'>

function join(base: URL, rest: string): string {
  return base.href.replace(/\/*$/, '/') + rest
}

/** The keys GitHub lists for USER, each as `TYPE BASE64`. Pure. */
export function parseKeys(text: string): string[] {
  const keys: string[] = []
  for (const line of text.split('\n')) {
    if (!line.trim()) continue
    const k = sshKeyOf(line)
    if (k && !keys.includes(k)) keys.push(k)
  }
  return keys
}

export async function githubKeys(base: URL, user: string, net: Net): Promise<string[]> {
  const opts: HttpOptions = { ...net, label: 'GitHub', maxBytes: KEYS_MAX_BYTES, requireTls: true, accept: 'text/plain' }
  const a = await get(join(base, `${encodeURIComponent(user)}.keys`), opts)
  if (a.status === 404) throw new PolykeyError('NOT_FOUND', `GitHub has no user '${user}'`, { service: 'github', user })
  if (a.status !== 200) throw statusError(opts, a, `${user}'s keys`)
  const text = a.body.toString('utf8')
  const keys = parseKeys(text)
  if (keys.length === 0 && text.trim()) throw new PolykeyError('PEER', `GitHub answered something that is not a list of SSH keys for ${user}`, { reason: 'malformed' })
  return keys
}

export interface Candidate {
  url: string
  /** the document, or why it could not be fetched */
  doc: string | null
  problem?: string
  /** nothing there (HTTP 404 or 410), as opposed to a failure to fetch */
  absent?: boolean
}

/** Where statements might be: files named like polykey.txt in USER's gists (raw URLs). Pure. */
export function parseGists(doc: unknown, user: string): string[] {
  const malformed = () => new PolykeyError('PEER', `GitHub answered a malformed gist list for ${user}`, { reason: 'malformed' })
  if (!Array.isArray(doc)) throw malformed()
  const urls: string[] = []
  for (const g of doc) {
    if (!g || typeof g !== 'object') throw malformed()
    const gist = g as { files?: unknown; owner?: { login?: unknown }; public?: unknown }
    // The list is the user's own; a gist some other owner shows up in is not theirs to vouch for.
    if (typeof gist.owner?.login === 'string' && gist.owner.login.toLowerCase() !== user.toLowerCase()) continue
    if (!gist.files || typeof gist.files !== 'object') continue
    for (const f of Object.values(gist.files as Record<string, unknown>)) {
      const file = f as { filename?: unknown; raw_url?: unknown; size?: unknown }
      if (typeof file?.filename !== 'string' || typeof file.raw_url !== 'string') continue
      if (!STATEMENT_FILE.test(file.filename)) continue
      if (typeof file.size === 'number' && file.size > DOCUMENT_MAX_BYTES) continue
      if (!urls.includes(file.raw_url)) urls.push(file.raw_url)
    }
  }
  return urls.slice(0, MAX_CANDIDATES)
}

export async function githubGistFiles(api: URL, user: string, net: Net): Promise<string[]> {
  const opts: HttpOptions = { ...net, label: 'the GitHub API', maxBytes: GISTS_MAX_BYTES, requireTls: true, accept: 'application/vnd.github+json' }
  const a = await get(join(api, `users/${encodeURIComponent(user)}/gists?per_page=100`), opts)
  if (a.status === 404) throw new PolykeyError('NOT_FOUND', `GitHub has no user '${user}'`, { service: 'github', user })
  if (a.status !== 200) throw statusError(opts, a, `${user}'s gists`)
  return parseGists(parseJson(opts, a, `${user}'s gists`), user)
}

/** Fetch one published document; a failure is kept as the candidate's problem, not thrown. */
export async function fetchDocument(url: string, label: string, net: Net): Promise<Candidate> {
  const opts: HttpOptions = { ...net, label, maxBytes: DOCUMENT_MAX_BYTES, accept: 'text/plain' }
  try {
    const a = await get(url, opts)
    if (a.status === 404 || a.status === 410) return { url, doc: null, problem: `${url} is gone (HTTP ${a.status})`, absent: true }
    if (a.status !== 200) return { url, doc: null, problem: statusError(opts, a, url).message }
    return { url, doc: a.body.toString('utf8') }
  } catch (err) {
    if (err instanceof PolykeyError && err.code !== 'USAGE') return { url, doc: null, problem: err.message }
    throw err
  }
}
