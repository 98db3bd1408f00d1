// Find a user's published statement and check all of it (docs/IDENTITY.md §Checks): the user's
// signature by a key the service lists for that user today, the node's signature, the names,
// the dates. The first candidate that holds wins; if none does, the most telling refusal of the
// first one is the answer.
import { PolykeyError } from '../errors.js'
import { verifyClearsigned, pgpMismatch } from './gpg.js'
import { fetchDocument, githubGistFiles, githubKeys, type Candidate } from './github.js'
import { lookupKeybase, proofLabel, wellKnownUrl, type KeybaseUser } from './keybase.js'
import { verifySsh } from './ssh.js'
import { checkDates, checkNames, checkNodeSignature, findClearsigned, findSshSigned, mismatch, parseStatement, type Service, type Statement } from './statement.js'

export interface IdentityConfig {
  keybase: URL
  github: URL
  githubApi: URL
  timeoutMs: number
  signal?: AbortSignal
}

export interface Proven {
  statement: Statement
  /** where the statement was found */
  url: string
  /** the user's other identities the service vouches for (Keybase proofs in state OK) */
  others: string[]
}

const net = (c: IdentityConfig) => ({ timeoutMs: c.timeoutMs, ...(c.signal ? { signal: c.signal } : {}) })

/** Check one Keybase-form document against what Keybase lists for the user. */
export async function checkKeybaseDocument(doc: string, kb: KeybaseUser, nowMs: number): Promise<Statement> {
  const block = findClearsigned(doc)
  if (!block) throw mismatch('format', 'no clearsigned Polykey statement in it')
  if (kb.bundles.length === 0) throw mismatch('key-not-listed', `Keybase lists no PGP key for ${kb.username}`)
  const { listed, check, problem } = await verifyClearsigned(block, kb.bundles, `Keybase (for ${kb.username})`)
  if (!check) throw pgpMismatch(problem!)
  const s = parseStatement(check.text)
  checkNames(s, { service: 'keybase', user: kb.username })
  const fpr = s.fields.userKey.slice(4)
  if (!listed.includes(fpr)) throw mismatch('key-not-listed', `the statement names PGP key ${fpr}, which Keybase no longer lists for ${kb.username}`)
  if (check.signer !== fpr) throw pgpMismatch(`it is signed by PGP key ${check.signer}, not by the key it names (${fpr})`)
  checkNodeSignature(s)
  checkDates(s, nowMs)
  return s
}

/** Check one GitHub-form document against the SSH keys GitHub lists for the user. */
export async function checkGithubDocument(doc: string, user: string, keys: string[], nowMs: number): Promise<Statement> {
  const found = findSshSigned(doc)
  if (!found) throw mismatch('format', 'no SSH-signed Polykey statement in it')
  const s = parseStatement(found.text)
  checkNames(s, { service: 'github', user })
  if (!keys.includes(s.fields.userKey)) throw mismatch('key-not-listed', `the statement names SSH key ${s.fields.userKey.slice(0, 40)}…, which GitHub no longer lists for ${user}`)
  await verifySsh(found.text, found.signature, s.fields.userKey)
  checkNodeSignature(s)
  checkDates(s, nowMs)
  return s
}

async function firstThatHolds(
  candidates: Candidate[],
  check: (doc: string) => Promise<Statement>,
  who: string,
  looked: string[],
  explicit: boolean,
): Promise<{ s: Statement; url: string }> {
  let refusal: PolykeyError | null = null
  const gone: string[] = []
  for (const c of candidates) {
    if (c.doc === null) {
      // A place we only guessed (a site's .well-known) being empty is no failure; a given --proof URL is.
      if (!c.absent || explicit) gone.push(c.problem ?? c.url)
      continue
    }
    try {
      return { s: await check(c.doc), url: c.url }
    } catch (err) {
      if (!(err instanceof PolykeyError) || (err.code !== 'REFUSED' && err.code !== 'PEER')) throw err
      // "not a statement at all" is the weakest answer: any real mismatch says more.
      if (!refusal || (refusal.data.check === 'format' && err.data.check !== 'format')) {
        refusal = err
        err.message = `${who}: ${err.message} (${c.url})`
      }
    }
  }
  if (refusal) throw refusal
  if (gone.length) throw new PolykeyError('NOT_FOUND', `no Polykey statement for ${who}: ${gone[0]}`, { check: 'not-found' })
  throw new PolykeyError(
    'NOT_FOUND',
    `no Polykey statement published for ${who}${looked.length ? ` (looked in ${looked.join(', ')})` : ''}`,
    { check: 'not-found' },
    {
      hint: 'ask them to publish the output of `polykey identity claim` (see docs/IDENTITY.md), or give its address with --proof URL',
    },
  )
}

/** Where a Keybase user's statement may be: gists of proven GitHub accounts, proven web sites. */
function keybasePlaces(kb: KeybaseUser): { label: string; url?: string; github?: string }[] {
  const places: { label: string; url?: string; github?: string }[] = []
  for (const p of kb.proofs) {
    if (p.type === 'github') places.push({ label: `gists of github:${p.name}`, github: p.name })
    else {
      const url = wellKnownUrl(p)
      if (url) places.push({ label: url, url })
    }
  }
  return places
}

export async function discover(service: Service, user: string, opts: { proof?: string; nowMs: number }, cfg: IdentityConfig): Promise<Proven> {
  const who = `${service}:${user}`
  if (service === 'keybase') {
    const kb = await lookupKeybase(cfg.keybase, user, net(cfg))
    const candidates: Candidate[] = []
    const looked: string[] = []
    if (opts.proof) candidates.push(await fetchDocument(opts.proof, 'the proof URL', net(cfg)))
    else
      for (const place of keybasePlaces(kb)) {
        looked.push(place.label)
        if (place.url) candidates.push(await fetchDocument(place.url, place.url, net(cfg)))
        else {
          let files: string[] = []
          try {
            files = await githubGistFiles(cfg.githubApi, place.github!, net(cfg))
          } catch (err) {
            if (!(err instanceof PolykeyError) || err.code === 'USAGE') throw err
            candidates.push({ url: place.label, doc: null, problem: err.message })
          }
          for (const f of files) candidates.push(await fetchDocument(f, 'the gist', net(cfg)))
        }
      }
    const { s, url } = await firstThatHolds(candidates, (doc) => checkKeybaseDocument(doc, kb, opts.nowMs), who, looked, !!opts.proof)
    return { statement: s, url, others: kb.proofs.map(proofLabel) }
  }
  const keys = await githubKeys(cfg.github, user, net(cfg))
  if (keys.length === 0) throw mismatch('key-not-listed', `GitHub lists no SSH keys for ${user}`)
  const urls = opts.proof ? [opts.proof] : await githubGistFiles(cfg.githubApi, user, net(cfg))
  const candidates: Candidate[] = []
  for (const u of urls) candidates.push(await fetchDocument(u, opts.proof ? 'the proof URL' : 'the gist', net(cfg)))
  const { s, url } = await firstThatHolds(candidates, (doc) => checkGithubDocument(doc, user, keys, opts.nowMs), who, opts.proof ? [] : [`the gists of ${user}`], !!opts.proof)
  return { statement: s, url, others: [] }
}
