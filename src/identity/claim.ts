// Making a statement: ask the service which keys it lists for the user, have the node sign the
// body, have the user's own key sign the result, then check the outcome exactly as a peer will
// (so a statement that would never verify is not handed out to be published).
import fs from 'node:fs'
import path from 'node:path'
import { PolykeyError } from '../errors.js'
import { clearsign, verifyClearsigned } from './gpg.js'
import { githubKeys } from './github.js'
import { lookupKeybase, wellKnownUrl } from './keybase.js'
import { publicKeyFor, signSsh } from './ssh.js'
import { isoSeconds, sshKeyOf, sshPublished, type Service, type StatementFields } from './statement.js'
import { checkGithubDocument, checkKeybaseDocument, type IdentityConfig } from './verify.js'

export interface ClaimOptions {
  service: Service
  user: string
  gpgKey?: string
  sshKey?: string
  address?: string
  days: number
  nowMs: number
  /** the user's environment: their GNUPGHOME, SSH agent, HOME */
  env: NodeJS.ProcessEnv
}

export interface Claim {
  /** the document to publish */
  published: string
  fields: StatementFields
  /** where to publish it, one suggestion per line */
  where: string[]
}

/** fields without the node id → the signed text (body + node-signature line), made by the node. */
export type NodeSigner = (fields: Omit<StatementFields, 'node'>) => Promise<string>

const net = (c: IdentityConfig) => ({ timeoutMs: c.timeoutMs, ...(c.signal ? { signal: c.signal } : {}) })

export function normaliseFingerprint(s: string): string {
  const f = s.replace(/\s+/g, '').replace(/^0x/i, '').toUpperCase()
  if (!/^(?:[0-9A-F]{40}|[0-9A-F]{64})$/.test(f)) throw new PolykeyError('USAGE', `not a PGP fingerprint: ${JSON.stringify(s)} (40 hex digits, as 'gpg --fingerprint' prints)`)
  return f
}

function dates(o: ClaimOptions): { created: string; expires: string } {
  if (!Number.isInteger(o.days) || o.days < 1 || o.days > 3660) throw new PolykeyError('USAGE', '--days must be a whole number of days from 1 to 3660')
  return { created: isoSeconds(o.nowMs), expires: isoSeconds(o.nowMs + o.days * 86_400_000) }
}

export async function claimKeybase(o: ClaimOptions, cfg: IdentityConfig, nodeSign: NodeSigner): Promise<Claim> {
  const kb = await lookupKeybase(cfg.keybase, o.user, net(cfg))
  if (kb.bundles.length === 0)
    throw new PolykeyError(
      'REFUSED',
      `Keybase lists no PGP key for ${kb.username}`,
      {},
      { hint: 'add one to your Keybase profile first (keybase pgp select / keybase pgp import)' },
    )
  // Which keys Keybase lists, as gpg reads them (the answer's own fingerprint field is not trusted).
  const { listed } = await verifyClearsigned(null, kb.bundles, `Keybase (for ${kb.username})`)
  const fpr = o.gpgKey ? normaliseFingerprint(o.gpgKey) : kb.primary && listed.includes(kb.primary) ? kb.primary : listed[0]
  if (!listed.includes(fpr))
    throw new PolykeyError('REFUSED', `Keybase does not list PGP key ${fpr} for ${kb.username}`, { fingerprint: fpr }, { hint: `it lists: ${listed.join(', ')}` })
  const text = await nodeSign({ service: 'keybase', user: kb.username, userKey: `pgp:${fpr}`, ...(o.address ? { address: o.address } : {}), ...dates(o) })
  const published = await clearsign(text, fpr, o.env)
  const s = await checkKeybaseDocument(published, kb, o.nowMs)
  const where = kb.proofs.flatMap((p) => (p.type === 'github' ? [`a public gist of github:${p.name} with a file named polykey.txt`] : wellKnownUrl(p) ? [wellKnownUrl(p)!] : []))
  where.push('or anywhere else: give the address to your peers for `--proof URL`')
  return { published, fields: s.fields, where }
}

/** The SSH key to sign with: --ssh-key, else the first of ~/.ssh/id_* that GitHub lists. */
function chooseSshKey(o: ClaimOptions, keys: string[]): { file: string; key: string } {
  if (o.sshKey) {
    const key = sshKeyOf(publicKeyFor(o.sshKey))
    if (!key) throw new PolykeyError('USAGE', `${o.sshKey}.pub is not an OpenSSH public key`)
    if (!keys.includes(key))
      throw new PolykeyError(
        'REFUSED',
        `GitHub does not list ${o.sshKey.replace(/\.pub$/, '')}.pub for ${o.user}`,
        {},
        { hint: 'add it at https://github.com/settings/keys (or pick a listed key with --ssh-key FILE)' },
      )
    return { file: o.sshKey.replace(/\.pub$/, ''), key }
  }
  const home = o.env.HOME ?? ''
  for (const name of ['id_ed25519', 'id_ecdsa', 'id_ed25519_sk', 'id_ecdsa_sk', 'id_rsa']) {
    const file = path.join(home, '.ssh', name)
    if (!fs.existsSync(`${file}.pub`)) continue
    const key = sshKeyOf(fs.readFileSync(`${file}.pub`, 'utf8'))
    if (key && keys.includes(key)) return { file, key }
  }
  throw new PolykeyError('NOT_FOUND', `none of your SSH keys in ~/.ssh is one GitHub lists for ${o.user}`, {}, { hint: 'name one with --ssh-key FILE' })
}

export async function claimGithub(o: ClaimOptions, cfg: IdentityConfig, nodeSign: NodeSigner): Promise<Claim> {
  const keys = await githubKeys(cfg.github, o.user, net(cfg))
  if (keys.length === 0) throw new PolykeyError('REFUSED', `GitHub lists no SSH keys for ${o.user}`, {}, { hint: 'add one at https://github.com/settings/keys' })
  const { file, key } = chooseSshKey(o, keys)
  const text = await nodeSign({ service: 'github', user: o.user, userKey: key, ...(o.address ? { address: o.address } : {}), ...dates(o) })
  const published = sshPublished(text, await signSsh(text, file, o.env))
  const s = await checkGithubDocument(published, o.user, keys, o.nowMs)
  return { published, fields: s.fields, where: [`a public gist of ${o.user} with a file named polykey.txt (https://gist.github.com, or: gh gist create --public polykey.txt)`] }
}
