// The Keybase half of a statement's second signature, done by the real gpg. Verifying uses a
// throwaway GNUPGHOME holding only the keys the service listed (never the user's own keyring,
// whose trust settings and other keys must not count); its agent is stopped and the folder
// removed afterwards. Signing uses the user's own gpg, as they have set it up.
import fs from 'node:fs'
import path from 'node:path'
import { PolykeyError } from '../errors.js'
import { exec, firstLine, withPrivateDir } from './exec.js'
import { mismatch } from './statement.js'

const GPG = 'gpg'
const TIMEOUT_MS = 30_000

function gpgEnv(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' }
}

function cleanupHome(home: string): Promise<void> {
  // gpg starts an agent (and maybe keyboxd) lazily; none may outlive its home folder.
  return exec('gpgconf', ['--homedir', home, '--kill', 'all'], { env: gpgEnv(), timeoutMs: 10_000 }).then(
    () => {},
    () => {},
  )
}

/** Primary key fingerprints (upper-case hex) in `--with-colons` output. */
export function primaryFingerprints(colons: string): string[] {
  const out: string[] = []
  let wantFpr = false
  for (const line of colons.split('\n')) {
    const f = line.split(':')
    if (f[0] === 'pub') wantFpr = true
    else if (f[0] === 'fpr' && wantFpr) {
      out.push(f[9].toUpperCase())
      wantFpr = false
    } else if (f[0] === 'sub') wantFpr = false
  }
  return out
}

export interface PgpCheck {
  /** the text the signature covers, as gpg decoded it */
  text: string
  /** the primary key of the key that signed */
  signer: string
}

/**
 * Import `bundles` (ASCII-armoured public keys from the service) into a fresh keyring and check
 * `clearsigned` (if given) against them. `listed` gets the primary fingerprints the bundles hold.
 */
export async function verifyClearsigned(
  clearsigned: string | null,
  bundles: string[],
  label: string,
): Promise<{ listed: string[]; check: PgpCheck | null; problem: string | null }> {
  return withPrivateDir(
    'pk-gpg-',
    async (home) => {
      const base = ['--batch', '--no-tty', '--homedir', home, '--no-auto-key-locate', '--no-auto-key-retrieve', '--keyid-format', 'long']
      const imp = await exec(GPG, [...base, '--import'], { input: bundles.join('\n'), env: gpgEnv(), timeoutMs: TIMEOUT_MS })
      const list = await exec(GPG, [...base, '--with-colons', '--fingerprint', '--list-keys'], { env: gpgEnv(), timeoutMs: TIMEOUT_MS })
      const listed = primaryFingerprints(list.stdout.toString())
      if (listed.length === 0) throw new PolykeyError('PEER', `${label} lists no PGP key gpg can read${imp.code ? ` (${firstLine(imp.stderr)})` : ''}`, { reason: 'malformed' })
      if (clearsigned === null) return { listed, check: null, problem: null }
      const v = await exec(GPG, [...base, '--status-fd', '3', '--decrypt'], { input: clearsigned, env: gpgEnv(), timeoutMs: TIMEOUT_MS, statusFd: true })
      const status = v.status.split('\n').map((l) => l.replace(/^\[GNUPG:\] /, '').split(' '))
      const has = (k: string) => status.filter((s) => s[0] === k)
      const valid = has('VALIDSIG')
      const signer = valid.length === 1 ? (valid[0][10] ?? valid[0][1]).toUpperCase() : null
      if (v.code === 0 && has('GOODSIG').length === 1 && signer && !['BADSIG', 'ERRSIG', 'EXPKEYSIG', 'REVKEYSIG', 'EXPSIG'].some((k) => has(k).length))
        return { listed, check: { text: v.stdout.toString('utf8'), signer }, problem: null }
      const err = has('ERRSIG')[0]
      if (err && err[6] === '9') return { listed, check: null, problem: `it is signed by PGP key ${err[1]}, which ${label} does not list` }
      if (has('BADSIG').length) return { listed, check: null, problem: 'its PGP signature does not match the text (it was altered)' }
      if (has('EXPKEYSIG').length) return { listed, check: null, problem: 'it is signed by a PGP key that has expired' }
      if (has('REVKEYSIG').length) return { listed, check: null, problem: 'it is signed by a PGP key that was revoked' }
      return { listed, check: null, problem: `gpg could not check its signature (${firstLine(v.stderr) || 'no signature found'})` }
    },
    cleanupHome,
  )
}

/** Clearsign `text` with the user's key FPR, through the user's own gpg (and its pinentry). */
export async function clearsign(text: string, fpr: string, env: NodeJS.ProcessEnv): Promise<string> {
  const secret = await exec(GPG, ['--batch', '--with-colons', '--list-secret-keys', fpr], { env, timeoutMs: TIMEOUT_MS })
  if (secret.code !== 0 || !primaryFingerprints(secret.stdout.toString().replace(/^sec:/gm, 'pub:')).includes(fpr))
    throw new PolykeyError('NOT_FOUND', `gpg has no secret key ${fpr}`, { fingerprint: fpr }, { hint: 'import it (gpg --import) or name the key Keybase lists with --gpg-key FPR' })
  // gpg asks for the key's passphrase through its agent's pinentry; the text goes in a file so
  // stdin stays the user's.
  const r = await withPrivateDir('pk-sign-', async (dir) => {
    const msg = path.join(dir, 'statement')
    fs.writeFileSync(msg, text, { mode: 0o600 })
    return exec(GPG, ['--armor', '--clearsign', '--local-user', fpr, '--output', '-', msg], { env, timeoutMs: 5 * 60_000, tty: true })
  })
  const out = r.stdout.toString('utf8')
  if (r.code !== 0 || !out.startsWith('-----BEGIN PGP SIGNED MESSAGE-----'))
    throw new PolykeyError('REFUSED', `gpg did not sign the statement (exit ${r.code})`, { fingerprint: fpr })
  return out
}

export function pgpMismatch(problem: string): PolykeyError {
  return mismatch('user-signature', `the statement does not verify: ${problem}`)
}
