// A throwaway GnuPG home with a freshly generated key (ed25519 + cv25519: fast; or RSA), its own
// gpg-agent (killed when the test ends) and a scripted pinentry that answers with the key's
// passphrase, or cancels when the file `cancel` exists in the home. Real gpg, real agent.
import fs from 'node:fs'
import path from 'node:path'
import { execFileSync } from 'node:child_process'
import { tmpdir } from '../helpers.js'

export interface GpgHome {
  home: string
  fpr: string
  uid: string
  env: Record<string, string>
  gpg(args: string[], input?: Buffer | string): Buffer
  /** make the pinentry cancel (true) or answer (false); forgets cached passphrases */
  cancelPinentry(on: boolean): void
}

const PINENTRY = `#!/bin/sh
# Test-only pinentry speaking the Assuan protocol: the passphrase is in ./passphrase.
dir=$(dirname "$0")
echo "OK test pinentry"
while IFS= read -r line; do
  case "$line" in
    GETPIN*)
      if [ -e "$dir/cancel" ]; then echo "ERR 83886179 Operation cancelled <Pinentry>"
      else printf 'D %s\\n' "$(cat "$dir/passphrase")"; echo OK; fi ;;
    BYE*) echo OK; exit 0 ;;
    *) echo OK ;;
  esac
done
`

/**
 * Key kinds: `ecc` (ed25519, cv25519 encryption subkey), `rsa4096` (RSA-4096 with an RSA-4096
 * encryption subkey: its OpenPGP message to a 32-byte key is ~610 bytes, more than a slot area),
 * `rsa3072x2` (RSA-3072 with two RSA-3072 encryption subkeys: gpg encrypts to the newer, ~480 bytes).
 */
export type KeyKind = 'ecc' | 'rsa4096' | 'rsa3072x2'

export function gpgHome(t: { after(fn: () => void): void }, opts: { passphrase?: string; uid?: string; key?: KeyKind } = {}): GpgHome {
  // A short path: gpg-agent's socket path must fit in sun_path.
  const home = tmpdir(t, 'pkg-')
  fs.chmodSync(home, 0o700)
  const uid = opts.uid ?? 'Polykey Test <test@polykey.invalid>'
  fs.writeFileSync(path.join(home, 'pinentry.sh'), PINENTRY, { mode: 0o700 })
  fs.writeFileSync(path.join(home, 'passphrase'), opts.passphrase ?? '', { mode: 0o600 })
  fs.writeFileSync(path.join(home, 'gpg-agent.conf'), `pinentry-program ${path.join(home, 'pinentry.sh')}\nallow-loopback-pinentry\n`)
  const env: Record<string, string> = { ...(process.env as Record<string, string>), GNUPGHOME: home }
  delete env.GPG_AGENT_INFO
  const gpg = (args: string[], input?: Buffer | string) => execFileSync('gpg', ['--batch', '--no-tty', ...args], { env, input, stdio: ['pipe', 'pipe', 'pipe'] })
  t.after(() => {
    try {
      execFileSync('gpgconf', ['--kill', 'all'], { env, stdio: 'ignore' })
    } catch {
      /* no agent was started */
    }
  })
  const pass = ['--pinentry-mode', 'loopback', '--passphrase', opts.passphrase ?? '']
  const key = opts.key ?? 'ecc'
  const algo = { ecc: ['ed25519', 'cv25519'], rsa4096: ['rsa4096', 'rsa4096'], rsa3072x2: ['rsa3072', 'rsa3072', 'rsa3072'] }[key]
  gpg([...pass, '--quick-gen-key', uid, algo[0], 'cert,sign', '0'])
  const fpr = gpg(['--with-colons', '--list-keys', uid])
    .toString()
    .split('\n')
    .find((l) => l.startsWith('fpr'))!
    .split(':')[9]
  for (const sub of algo.slice(1)) gpg([...pass, '--quick-add-key', fpr, sub, 'encr', '0'])
  // Forget what loopback generation cached: unlocking must go through the pinentry.
  execFileSync('gpgconf', ['--reload', 'gpg-agent'], { env, stdio: 'ignore' })
  return {
    home,
    fpr,
    uid,
    env,
    gpg,
    cancelPinentry(on) {
      if (on) fs.writeFileSync(path.join(home, 'cancel'), '')
      else fs.rmSync(path.join(home, 'cancel'), { force: true })
      execFileSync('gpgconf', ['--reload', 'gpg-agent'], { env, stdio: 'ignore' })
    },
  }
}
