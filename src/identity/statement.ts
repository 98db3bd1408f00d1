// The identity statement (docs/IDENTITY.md §Statement): "user U of service S, holder of key K,
// runs node N". Pure codec: text in, fields out, and back. No clock (callers pass `now`), no
// I/O. The node's Ed25519 signature is checked here too; the user's own signature (gpg or
// ssh-keygen) is checked by the caller, which hands us only the bytes that signature covers.
import { sign, verify } from '../crypto/index.js'
import { PolykeyError } from '../errors.js'

export type Service = 'keybase' | 'github'
export const SERVICES: readonly Service[] = ['keybase', 'github']

export interface StatementFields {
  service: Service
  user: string
  /** `pgp:FINGERPRINT` (Keybase) or `TYPE BASE64` (an OpenSSH public key, GitHub) */
  userKey: string
  /** the node id: 64 lowercase hex digits, the node's Ed25519 public key */
  node: string
  address?: string
  /** whole seconds, UTC: 2026-12-01T23:20:00Z */
  created: string
  expires: string
}

export interface Statement {
  fields: StatementFields
  /** the lines the node signed (everything before `node-signature:`) */
  body: string
  nodeSignature: Buffer
  /** body and the node-signature line: what the user's key signs */
  text: string
}

export const HEADER = 'polykey-identity-statement: 1'
/** Prefixed to the body before the node signs it, so no other message of ours can be mistaken for one. */
export const NODE_SIGNATURE_CONTEXT = Buffer.from('polykey identity statement\0')
export const MAX_STATEMENT_BYTES = 4096

/** A statement that does not hold: exit 1, one line saying what did not match. */
export function mismatch(check: string, message: string, data: Record<string, unknown> = {}): PolykeyError {
  return new PolykeyError('REFUSED', message, { check, ...data })
}

const KEYBASE_USER = /^[a-z0-9_]{2,16}$/
// GitHub logins: alphanumerics and single hyphens, not at either end, at most 39 characters.
const GITHUB_USER = /^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$/
const PGP_KEY = /^pgp:(?:[0-9A-F]{40}|[0-9A-F]{64})$/
const SSH_KEY = /^(?:ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(?:256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]{16,2000}={0,2}$/
const NODE = /^[0-9a-f]{64}$/
const TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/
// As peers.ts parseAddress accepts: HOST:PORT or [V6]:PORT, no spaces.
const ADDRESS = /^(?:\[[0-9a-fA-F:.]+\]|[^:\s[\]]+):\d{1,5}$/

export function checkService(s: string): Service {
  if (!(SERVICES as readonly string[]).includes(s)) throw new PolykeyError('USAGE', `unknown identity service '${s}' (expected keybase or github)`)
  return s as Service
}

/** The user name as the service spells it canonically (Keybase: lower case), or a usage error. */
export function checkUser(service: Service, user: string): string {
  if (service === 'keybase') {
    const u = user.toLowerCase()
    if (!KEYBASE_USER.test(u)) throw new PolykeyError('USAGE', `not a Keybase user name: ${JSON.stringify(user)}`)
    return u
  }
  if (!GITHUB_USER.test(user)) throw new PolykeyError('USAGE', `not a GitHub user name: ${JSON.stringify(user)}`)
  return user
}

/** Names compare as the service compares them (GitHub logins are case-insensitive). */
export function sameUser(service: Service, a: string, b: string): boolean {
  return service === 'github' ? a.toLowerCase() === b.toLowerCase() : a === b
}

/** `keybase:alice` / `github:alice` as typed on the command line. */
export function parseIdentity(s: string): { service: Service; user: string } | null {
  const i = s.indexOf(':')
  if (i < 0) return null
  const service = s.slice(0, i)
  if (!(SERVICES as readonly string[]).includes(service)) return null
  return { service: service as Service, user: checkUser(service as Service, s.slice(i + 1)) }
}

/** An OpenSSH public key line reduced to `TYPE BASE64` (the comment is not part of the key). */
export function sshKeyOf(line: string): string | null {
  const parts = line.trim().split(/\s+/)
  if (parts.length < 2) return null
  const k = `${parts[0]} ${parts[1]}`
  return SSH_KEY.test(k) ? k : null
}

export function isoSeconds(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z')
}

function checkFields(f: StatementFields): void {
  const bad = (what: string) => mismatch('format', `the statement's ${what} is malformed`)
  checkService(f.service)
  try {
    if (checkUser(f.service, f.user) !== f.user) throw bad('user')
  } catch {
    throw bad('user')
  }
  if (f.service === 'keybase' ? !PGP_KEY.test(f.userKey) : !SSH_KEY.test(f.userKey)) throw bad('user key')
  if (!NODE.test(f.node)) throw bad('node id')
  if (f.address !== undefined && (!ADDRESS.test(f.address) || Number(f.address.slice(f.address.lastIndexOf(':') + 1)) > 65535)) throw bad('address')
  if (!TIME.test(f.created) || Number.isNaN(Date.parse(f.created))) throw bad('creation time')
  if (!TIME.test(f.expires) || Number.isNaN(Date.parse(f.expires))) throw bad('expiry time')
  if (Date.parse(f.expires) <= Date.parse(f.created)) throw bad('expiry time')
}

/** The lines the node signs, in their one order, each ending in LF. */
export function encodeBody(f: StatementFields): string {
  checkFields(f)
  const lines = [HEADER, `service: ${f.service}`, `user: ${f.user}`, `user-key: ${f.userKey}`, `node: ${f.node}`]
  if (f.address !== undefined) lines.push(`address: ${f.address}`)
  lines.push(`created: ${f.created}`, `expires: ${f.expires}`)
  return lines.map((l) => l + '\n').join('')
}

export function nodeSignedMessage(body: string): Buffer {
  return Buffer.concat([NODE_SIGNATURE_CONTEXT, Buffer.from(body, 'utf8')])
}

export function withNodeSignature(body: string, signature: Buffer): string {
  return `${body}node-signature: ${signature.toString('hex')}\n`
}

/** The node's half: body and node-signature line, signed with the node's Ed25519 secret key. */
export function nodeSign(f: StatementFields, secretKey: Buffer): string {
  const body = encodeBody(f)
  return withNodeSignature(body, sign(nodeSignedMessage(body), secretKey))
}

const KEYS = ['service', 'user', 'user-key', 'node', 'address', 'created', 'expires', 'node-signature'] as const

/**
 * Parse the text a user signature covers: the body and its node-signature line, nothing else.
 * Strict: the one order, LF endings, no blank or unknown lines, so one statement has one encoding.
 */
export function parseStatement(text: string): Statement {
  const bad = (why: string) => mismatch('format', `not a Polykey identity statement (${why})`)
  if (Buffer.byteLength(text) > MAX_STATEMENT_BYTES) throw bad('too long')
  if (!text.endsWith('\n') || text.includes('\r')) throw bad('lines must end in LF')
  const lines = text.slice(0, -1).split('\n')
  if (lines[0] !== HEADER) throw bad(lines[0]?.startsWith('polykey-identity-statement:') ? `version ${lines[0].slice(28).trim()} is not one this Polykey reads` : 'no header line')
  const seen = new Map<string, string>()
  let at = 0
  for (const line of lines.slice(1)) {
    const m = /^([a-z-]+): (.+)$/.exec(line)
    if (!m) throw bad(`unreadable line ${JSON.stringify(line.slice(0, 40))}`)
    const k = KEYS.indexOf(m[1] as (typeof KEYS)[number])
    if (k < 0) throw bad(`unknown field '${m[1]}'`)
    if (k < at) throw bad(`field '${m[1]}' out of order or repeated`)
    at = k + 1
    seen.set(m[1], m[2])
  }
  for (const k of KEYS) if (k !== 'address' && !seen.has(k)) throw bad(`no '${k}' field`)
  const sigHex = seen.get('node-signature')!
  if (!/^[0-9a-f]{128}$/.test(sigHex)) throw mismatch('format', "the statement's node signature is malformed")
  const fields: StatementFields = {
    service: checkServiceField(seen.get('service')!),
    user: seen.get('user')!,
    userKey: seen.get('user-key')!,
    node: seen.get('node')!,
    ...(seen.has('address') ? { address: seen.get('address')! } : {}),
    created: seen.get('created')!,
    expires: seen.get('expires')!,
  }
  checkFields(fields)
  const body = encodeBody(fields)
  // The re-encoding must give back the very bytes signed; it does, given the strict parse above.
  if (withNodeSignature(body, Buffer.from(sigHex, 'hex')) !== text) throw bad('not in canonical form')
  return { fields, body, nodeSignature: Buffer.from(sigHex, 'hex'), text }
}

function checkServiceField(s: string): Service {
  if (!(SERVICES as readonly string[]).includes(s)) throw mismatch('format', `the statement names an unknown service '${s}'`)
  return s as Service
}

/** The node id holder signed exactly this body. */
export function checkNodeSignature(s: Statement): void {
  if (!verify(s.nodeSignature, nodeSignedMessage(s.body), Buffer.from(s.fields.node, 'hex')))
    throw mismatch('node-signature', `the node signature does not match node ${s.fields.node.slice(0, 16)}… (the statement was altered, or the node id swapped)`)
}

/** The statement is about the service and user we looked up. */
export function checkNames(s: Statement, want: { service: Service; user: string }): void {
  const f = s.fields
  if (f.service !== want.service) throw mismatch('names', `the statement is for ${f.service}, not ${want.service}`)
  if (!sameUser(f.service, f.user, want.user)) throw mismatch('names', `the statement names ${f.service} user '${f.user}', not '${want.user}'`)
}

/** Still current at nowMs. */
export function checkDates(s: Statement, nowMs: number): void {
  const f = s.fields
  if (Date.parse(f.expires) <= nowMs) throw mismatch('expired', `the statement expired on ${f.expires}`, { expires: f.expires })
  // A little slack for clocks that disagree; a statement from the future is not one yet.
  if (Date.parse(f.created) > nowMs + 10 * 60_000) throw mismatch('expired', `the statement is dated ${f.created}, in the future`)
}

// ------------------------------------------------------------------------------ published forms
const PGP_BEGIN = '-----BEGIN PGP SIGNED MESSAGE-----'
const PGP_SIG_END = '-----END PGP SIGNATURE-----'
const SSH_BEGIN = '-----BEGIN SSH SIGNATURE-----'
const SSH_END = '-----END SSH SIGNATURE-----'

function normalise(doc: string): string {
  return doc.replace(/\r\n/g, '\n')
}

/**
 * The one clearsigned block of a published document (Keybase form), or null. Text around it is
 * ignored, and only what gpg reports as signed is ever parsed, so nothing outside can count.
 */
export function findClearsigned(doc: string): string | null {
  const d = normalise(doc)
  const start = d.indexOf(PGP_BEGIN)
  if (start < 0 || (start > 0 && d[start - 1] !== '\n')) return null
  const end = d.indexOf(PGP_SIG_END, start)
  if (end < 0) return null
  if (d.indexOf(PGP_BEGIN, start + 1) >= 0 && d.indexOf(PGP_BEGIN, start + 1) < end) return null
  return d.slice(start, end + PGP_SIG_END.length) + '\n'
}

/** GitHub form: the statement text followed by an `ssh-keygen -Y sign` armoured signature. */
export function findSshSigned(doc: string): { text: string; signature: string } | null {
  const d = normalise(doc)
  let start = 0
  if (!d.startsWith(HEADER + '\n')) {
    const i = d.indexOf('\n' + HEADER + '\n')
    if (i < 0) return null
    start = i + 1
  }
  const sigLine = d.indexOf('\nnode-signature: ', start)
  if (sigLine < 0) return null
  const textEnd = d.indexOf('\n', sigLine + 1)
  if (textEnd < 0) return null
  const text = d.slice(start, textEnd + 1)
  const sigStart = d.indexOf(SSH_BEGIN, textEnd)
  const sigEnd = d.indexOf(SSH_END, sigStart)
  if (sigStart < 0 || sigEnd < 0 || d.slice(textEnd + 1, sigStart).trim() !== '') return null
  return { text, signature: d.slice(sigStart, sigEnd + SSH_END.length) + '\n' }
}

export function sshPublished(text: string, signature: string): string {
  return text + (signature.endsWith('\n') ? signature : signature + '\n')
}
