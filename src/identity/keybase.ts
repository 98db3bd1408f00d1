// Keybase's user lookup (GET /_/api/1.0/user/lookup.json), read defensively: Keybase answers
// HTTP 200 with an error code inside, `them: [null]` for a user it does not know, and is
// dormant enough that any field may be missing. We take the PGP keys it lists and the proofs it
// marks as checked (state 1); nothing else of the answer is used.
import { PolykeyError } from '../errors.js'
import { get, parseJson, statusError, type HttpOptions } from './http.js'

export interface KeybaseProof {
  /** github, twitter, reddit, generic_web_site, dns, … */
  type: string
  /** the name on that service (a domain for web and dns proofs) */
  name: string
  serviceUrl?: string
  proofUrl?: string
}

export interface KeybaseUser {
  username: string
  /** ASCII-armoured PGP public keys, as Keybase lists them */
  bundles: string[]
  /** what Keybase says the primary key's fingerprint is (upper-case hex), if it says */
  primary: string | null
  /** proofs Keybase has checked (state OK) */
  proofs: KeybaseProof[]
}

export const KEYBASE_MAX_BYTES = 1 << 20
const MAX_BUNDLES = 16
const MAX_PROOFS = 64

export function keybaseLookupUrl(base: URL, user: string): URL {
  const u = new URL(base.href.replace(/\/*$/, '/') + '_/api/1.0/user/lookup.json')
  u.searchParams.set('usernames', user)
  u.searchParams.set('fields', 'basics,public_keys,proofs_summary')
  return u
}

const str = (x: unknown): string | undefined => (typeof x === 'string' && x.length < 256 * 1024 ? x : undefined)

/** Turn a lookup answer into what we use, or say in one line why it cannot be used. Pure. */
export function parseLookup(doc: unknown, user: string): KeybaseUser {
  const malformed = (why: string) => new PolykeyError('PEER', `Keybase answered a malformed lookup (${why})`, { reason: 'malformed' })
  if (!doc || typeof doc !== 'object') throw malformed('not an object')
  const d = doc as { status?: { code?: unknown; name?: unknown; desc?: unknown }; them?: unknown }
  const code = d.status?.code
  if (typeof code !== 'number') throw malformed('no status')
  if (code !== 0) {
    const name = str(d.status?.name) ?? ''
    const desc = (str(d.status?.desc) ?? name).slice(0, 120)
    if (/RATE|THROTTL/i.test(name) || code === 602) throw new PolykeyError('PEER', 'Keybase is rate-limiting requests; try again later', { reason: 'rate-limited', code })
    if (/NOT_FOUND/i.test(name)) throw new PolykeyError('NOT_FOUND', `Keybase has no user '${user}'`, { service: 'keybase', user })
    throw new PolykeyError('PEER', `Keybase refused the lookup: ${desc || 'error'} (code ${code})`, { reason: 'status', code })
  }
  if (!Array.isArray(d.them)) throw malformed("no 'them'")
  const them = d.them[0]
  if (them === null || them === undefined) throw new PolykeyError('NOT_FOUND', `Keybase has no user '${user}'`, { service: 'keybase', user })
  if (typeof them !== 'object') throw malformed('user is not an object')
  const t = them as { basics?: { username?: unknown }; public_keys?: Record<string, unknown>; proofs_summary?: { all?: unknown } }
  const username = str(t.basics?.username)
  if (!username) throw malformed('no user name')
  if (username.toLowerCase() !== user.toLowerCase()) throw malformed(`asked for '${user}', got '${username.slice(0, 40)}'`)
  const pk = (t.public_keys ?? {}) as { primary?: { bundle?: unknown; key_fingerprint?: unknown }; pgp_public_keys?: unknown }
  const bundles: string[] = []
  const add = (b: unknown) => {
    const s = str(b)
    if (s && s.includes('-----BEGIN PGP PUBLIC KEY BLOCK-----') && !bundles.includes(s) && bundles.length < MAX_BUNDLES) bundles.push(s)
  }
  add(pk.primary?.bundle)
  if (Array.isArray(pk.pgp_public_keys)) pk.pgp_public_keys.forEach(add)
  const fpr = str(pk.primary?.key_fingerprint)
  const primary = fpr && /^[0-9a-fA-F]{40}$|^[0-9a-fA-F]{64}$/.test(fpr) ? fpr.toUpperCase() : null
  const proofs: KeybaseProof[] = []
  const all = t.proofs_summary?.all
  if (Array.isArray(all))
    for (const p of all.slice(0, MAX_PROOFS)) {
      if (!p || typeof p !== 'object') continue
      const q = p as Record<string, unknown>
      const type = str(q.proof_type)
      const name = str(q.nametag)
      // state 1 is "OK" (checked by Keybase and still in place); others are pending, broken, revoked.
      if (!type || !name || q.state !== 1) continue
      proofs.push({
        type: type.slice(0, 40),
        name: name.slice(0, 200),
        ...(str(q.service_url) ? { serviceUrl: str(q.service_url) } : {}),
        ...(str(q.proof_url) ? { proofUrl: str(q.proof_url) } : {}),
      })
    }
  return { username, bundles, primary, proofs }
}

export async function lookupKeybase(base: URL, user: string, net: Omit<HttpOptions, 'label' | 'maxBytes'>): Promise<KeybaseUser> {
  const opts: HttpOptions = { ...net, label: 'Keybase', maxBytes: KEYBASE_MAX_BYTES, requireTls: true, accept: 'application/json' }
  const a = await get(keybaseLookupUrl(base, user), opts)
  if (a.status !== 200) throw statusError(opts, a, `user '${user}'`)
  return parseLookup(parseJson(opts, a, `user '${user}'`), user)
}

/** How a proof reads on one line: github:alice, twitter:alice, https://alice.example */
export function proofLabel(p: KeybaseProof): string {
  if (p.type === 'generic_web_site' || p.type === 'dns') return p.serviceUrl ?? p.name
  return `${p.type}:${p.name}`
}

/** Where a statement is looked for on a web site (or domain) the user has proven on Keybase. */
export function wellKnownUrl(p: KeybaseProof): string | null {
  if (p.type !== 'generic_web_site' && p.type !== 'dns') return null
  try {
    return `${new URL(p.serviceUrl ?? `https://${p.name}`).origin}/.well-known/polykey.txt`
  } catch {
    return null
  }
}
