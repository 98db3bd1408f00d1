// The GitHub half of a statement's second signature: OpenSSH signatures (ssh-keygen -Y, the
// "polykey" namespace so a signature made for git or anything else never counts here).
import fs from 'node:fs'
import path from 'node:path'
import { PolykeyError } from '../errors.js'
import { exec, firstLine, withPrivateDir } from './exec.js'
import { mismatch } from './statement.js'

export const SSH_NAMESPACE = 'polykey'
const SSH_KEYGEN = 'ssh-keygen'
const TIMEOUT_MS = 30_000
const PRINCIPAL = 'statement-signer'

/** Did `key` (`TYPE BASE64`) make `signature` over `text`? Throws a one-line mismatch if not. */
export async function verifySsh(text: string, signature: string, key: string): Promise<void> {
  await withPrivateDir('pk-ssh-', async (dir) => {
    const allowed = path.join(dir, 'allowed_signers')
    const sig = path.join(dir, 'statement.sig')
    // Only the key the statement names, and only for our namespace.
    fs.writeFileSync(allowed, `${PRINCIPAL} namespaces="${SSH_NAMESPACE}" ${key}\n`, { mode: 0o600 })
    fs.writeFileSync(sig, signature, { mode: 0o600 })
    const v = await exec(SSH_KEYGEN, ['-Y', 'verify', '-f', allowed, '-I', PRINCIPAL, '-n', SSH_NAMESPACE, '-s', sig], { input: text, timeoutMs: TIMEOUT_MS })
    if (v.code === 0) return
    // Tell "someone else's key" from "altered text": check the signature on its own.
    const c = await exec(SSH_KEYGEN, ['-Y', 'check-novalidate', '-n', SSH_NAMESPACE, '-s', sig], { input: text, timeoutMs: TIMEOUT_MS })
    const fp = /key (SHA256:[A-Za-z0-9+/=]+)/.exec(c.stdout.toString())?.[1]
    if (c.code === 0) throw mismatch('user-signature', `the statement does not verify: it is signed by another SSH key (${fp ?? 'unknown'}), not the one it names`)
    throw mismatch('user-signature', `the statement does not verify: its SSH signature does not match the text (${firstLine(c.stderr || v.stderr) || 'bad signature'})`)
  })
}

/** The public key that goes with FILE: FILE itself if it is one, else FILE.pub. */
export function publicKeyFor(file: string): string {
  const pub = file.endsWith('.pub') ? file : `${file}.pub`
  try {
    return fs.readFileSync(pub, 'utf8').trim()
  } catch {
    throw new PolykeyError('NOT_FOUND', `no public key ${pub} next to ${file}`, { path: pub }, { hint: `make it with 'ssh-keygen -y -f ${file} > ${file}.pub'` })
  }
}

/** Sign through the user's ssh-keygen (it asks for the key's passphrase on the terminal, or uses the agent). */
export async function signSsh(text: string, keyFile: string, env: NodeJS.ProcessEnv): Promise<string> {
  // The statement (public, not a secret) goes in a file: ssh-keygen would read a key's
  // passphrase from a piped stdin, so stdin stays the user's terminal.
  return withPrivateDir('pk-ssh-', async (dir) => {
    const msg = path.join(dir, 'statement')
    fs.writeFileSync(msg, text, { mode: 0o600 })
    const r = await exec(SSH_KEYGEN, ['-q', '-Y', 'sign', '-n', SSH_NAMESPACE, '-f', keyFile, msg], { env, timeoutMs: 5 * 60_000, tty: true })
    let out = ''
    try {
      out = fs.readFileSync(`${msg}.sig`, 'utf8')
    } catch {}
    if (r.code !== 0 || !out.startsWith('-----BEGIN SSH SIGNATURE-----'))
      throw new PolykeyError('REFUSED', `ssh-keygen did not sign the statement with ${keyFile} (exit ${r.code})`, { path: keyFile })
    return out
  })
}
