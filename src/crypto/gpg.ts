// GnuPG through the real `gpg` binary, so gpg-agent, pinentry, smartcards and subkeys work as the
// user has set them up. It lives in src/crypto although it is a process, not a library: it is the
// key-unwrapping primitive of a gpg key slot (archive calls it as it calls Argon2id), and the
// rules for key material (secure memory, wiping, nothing on disk or in argv) are kept here.
//
// What crosses the boundary: a secret goes to gpg on stdin and comes back on stdout, never on
// disk, in argv or in the environment (POLYKEY_* passphrases are removed from the environment
// gpg gets). Errors come from gpg's machine-readable status lines (--status-fd), not from its
// localised text, which is only quoted to the user as "what gpg said".
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process'
import fs from 'node:fs'
import { PolykeyError } from '../errors.js'

const BASE = ['--batch', '--no-tty', '--status-fd', '2', '--no-auto-key-retrieve', '--auto-key-locate', 'local']

export interface GpgKey {
  /** primary key fingerprint, upper-case hex */
  fingerprint: string
  /** first user id, for messages */
  uid: string
}

function gpgBinary(env: NodeJS.ProcessEnv): string {
  return env.POLYKEY_GPG || 'gpg'
}

/** The environment gpg runs with: ours minus the secrets we were given, plus GPG_TTY for pinentry. */
export function gpgEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {}
  // The same rule as every child of polykey (src/cli/child-env.ts): no variable carrying a passphrase or key.
  for (const [k, v] of Object.entries(env)) if (v !== undefined && !/(^|_)PASSPHRASE($|_)|^POLYKEY_KEY(_FILE)?$/.test(k)) out[k] = v
  // pinentry-curses needs to know the terminal; pass users set GPG_TTY in their shell, but gpg
  // cannot find it from a pipe on stdin, so give it ours when we have one.
  if (!out.GPG_TTY) {
    for (const fd of [0, 2]) {
      try {
        const t = fs.readlinkSync(`/proc/self/fd/${fd}`)
        if (t.startsWith('/dev/pts/') || t.startsWith('/dev/tty')) {
          out.GPG_TTY = t
          break
        }
      } catch {
        /* no /proc: gpg-agent falls back to its own default */
      }
    }
  }
  return out
}

function missing(bin: string): PolykeyError {
  return new PolykeyError(
    'NOT_FOUND',
    `gpg is not installed: '${bin}' was not found on PATH`,
    { gpg: 'MISSING' },
    { hint: 'install GnuPG (e.g. apt-get install gnupg), or set POLYKEY_GPG to its path' },
  )
}

/**
 * A line of gpg's that complains. Tested with key ids, fingerprints and quoted user ids taken
 * out: gpg's informative "encrypted with ECDH key, ID 0BADC93EE6C9479D" must not read as a
 * complaint because a random key id spells BAD (it once did, and became the whole message).
 */
const COMPLAINT = /\b(fail(s|ed|ure)?|error|cancel(s|l?ed)?|no secret key|bad|skipped|invalid|agent|timeout|not found|no such|denied|unusable|expired|revoked)\b/i
const plainWords = (line: string) => line.replace(/"[^"]*"/g, '').replace(/\b(0x)?[0-9A-F]{8,}\b/gi, '')

/** Status keywords of a run (`[GNUPG:] KEYWORD args…`) and gpg's own complaint line. */
export function parseStatus(stderr: string): { status: string[][]; said: string; human: string[] } {
  const status: string[][] = []
  const human: string[] = []
  for (const line of stderr.split('\n')) {
    if (line.startsWith('[GNUPG:] ')) status.push(line.slice(9).trim().split(' '))
    else if (line.startsWith('gpg: ')) human.push(line.slice(5).trim())
  }
  // The first complaint is the cause ("public key decryption failed: Operation cancelled"); the
  // last is often its consequence ("decryption failed: No secret key").
  const said = human.find((l) => COMPLAINT.test(plainWords(l))) ?? ''
  return { status, said, human }
}

const REASON_TEXT: Record<string, string> = {
  CANCELLED: 'the pinentry was cancelled',
  BAD_PASSPHRASE: 'bad passphrase for the gpg key',
  NO_PINENTRY: "no pinentry to ask for the gpg key's passphrase",
  NO_AGENT: 'gpg-agent cannot be reached',
  FAILED: 'decryption failed',
}

/**
 * Why a decryption failed. The reason comes from the status lines (machine-readable, the same in
 * every locale and whatever else gpg prints; gpg-error codes: source << 24 | code), so the
 * message says the same thing every time; gpg's own complaint follows in parentheses.
 */
export function decryptFailure(stderr: string, what: string): PolykeyError {
  const { status, said, human } = parseStatus(stderr)
  const has = (k: string) => status.find((s) => s[0] === k)
  const keyIds = [...new Set(status.filter((s) => s[0] === 'NO_SECKEY' && s[1]).map((s) => s[1]))]
  // gpg names an agent it cannot reach in words only (no status line says so).
  const agent = human.find((l) => /\bagent\b/i.test(plainWords(l)) && /\b(fail\w*|error|can't|cannot|no|not|timeout|problem)\b/i.test(plainWords(l)))
  let reason = 'FAILED'
  const err = status.find((s) => (s[0] === 'ERROR' || s[0] === 'FAILURE') && /^\d+$/.test(s[2] ?? ''))
  const code = err ? Number(err[2]) & 0xffff : 0
  if (code === 99 || code === 179)
    reason = 'CANCELLED' // GPG_ERR_CANCELED, GPG_ERR_FULLY_CANCELED
  else if (code === 11) reason = 'BAD_PASSPHRASE'
  else if (code === 85) reason = 'NO_PINENTRY'
  else if (agent)
    reason = 'NO_AGENT' // (gpg then reports the key as missing too: the agent is the cause)
  else if (has('NO_SECKEY')) reason = 'NO_SECKEY'
  const gpgSaid = reason === 'NO_AGENT' ? agent! : said
  let text: string
  if (reason === 'NO_SECKEY') text = `no secret key for ${keyIds.join(', ') || 'it'} in this gpg keyring`
  else if (reason === 'FAILED') text = gpgSaid || REASON_TEXT.FAILED
  else text = REASON_TEXT[reason]
  if (gpgSaid && text !== gpgSaid) text += ` (gpg: ${gpgSaid})`
  return new PolykeyError('WRONG_KEY', `gpg could not decrypt ${what}: ${text}`, { gpg: reason, keyIds })
}

function runSync(args: string[], input: Buffer | undefined, env: NodeJS.ProcessEnv): SpawnSyncReturns<Buffer> {
  const bin = gpgBinary(env)
  const r = spawnSync(bin, [...BASE, ...args], { input, env: gpgEnv(env), stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 64 << 20 })
  if (r.error) {
    if ((r.error as NodeJS.ErrnoException).code === 'ENOENT') throw missing(bin)
    throw new PolykeyError('IO', `cannot run gpg: ${(r.error as NodeJS.ErrnoException).code ?? r.error.message}`, {}, { cause: r.error })
  }
  return r
}

/** The one public key RECIPIENT names (as `gpg -r` takes it) that can encrypt. */
export function resolveRecipient(recipient: string, env: NodeJS.ProcessEnv = process.env): GpgKey {
  if (recipient.startsWith('-')) throw new PolykeyError('USAGE', `invalid gpg recipient ${JSON.stringify(recipient)}`)
  const r = runSync(['--with-colons', '--fixed-list-mode', '--list-keys', '--', recipient], undefined, env)
  const keys: (GpgKey & { canEncrypt: boolean })[] = []
  let cur: (GpgKey & { canEncrypt: boolean }) | null = null
  let wantFpr = false
  for (const line of r.stdout.toString('utf8').split('\n')) {
    const f = line.split(':')
    if (f[0] === 'pub') {
      // field 12: capabilities of the whole key; upper-case E means some usable subkey encrypts
      cur = { fingerprint: '', uid: '', canEncrypt: f[11]?.includes('E') && !/[rei]/.test(f[1] ?? '') }
      keys.push(cur)
      wantFpr = true
    } else if (f[0] === 'fpr' && cur && wantFpr) {
      cur.fingerprint = f[9]
      wantFpr = false
    } else if (f[0] === 'uid' && cur && !cur.uid) cur.uid = f[9].replace(/\\x3a/g, ':')
    else if (f[0] === 'sub') wantFpr = false
  }
  if (keys.length === 0)
    throw new PolykeyError(
      'NOT_FOUND',
      `gpg has no public key for ${JSON.stringify(recipient)}`,
      { recipient },
      { hint: "import it first ('gpg --import'), or name it by fingerprint" },
    )
  const usable = keys.filter((k) => k.canEncrypt)
  if (usable.length === 0) throw new PolykeyError('REFUSED', `gpg key ${keys[0].fingerprint} (${keys[0].uid}) cannot encrypt (no valid encryption subkey)`, { recipient })
  if (usable.length > 1)
    throw new PolykeyError(
      'USAGE',
      `${JSON.stringify(recipient)} names ${usable.length} gpg keys: ${usable.map((k) => k.fingerprint).join(', ')}`,
      { recipient },
      { hint: 'name one by its fingerprint' },
    )
  return { fingerprint: usable[0].fingerprint, uid: usable[0].uid }
}

/**
 * Encrypt `data` to one key (binary OpenPGP, no compression: the message must fit a key slot).
 * `--trust-model always`: the user names the key explicitly, as `pass init` does.
 */
export function encryptTo(fingerprint: string, data: Buffer, env: NodeJS.ProcessEnv = process.env): Buffer {
  const r = runSync(['--trust-model', 'always', '--compress-algo', 'none', '--no-encrypt-to', '--encrypt', '--recipient', fingerprint], data, env)
  if (r.status !== 0 || r.stdout.length === 0) {
    const { said } = parseStatus(r.stderr.toString('utf8'))
    throw new PolykeyError('REFUSED', `gpg could not encrypt to ${fingerprint}: ${said || `exit ${r.status}`}`, { fingerprint })
  }
  return r.stdout
}

/** Decrypt one message given on stdin; the plaintext comes back on stdout. Sync: for unlocking. */
export function decryptSync(message: Buffer, what: string, env: NodeJS.ProcessEnv = process.env): Buffer {
  const r = runSync(['--decrypt'], message, env)
  const stderr = r.stderr.toString('utf8')
  if (r.status !== 0 || !/\[GNUPG:\] DECRYPTION_OKAY/.test(stderr)) {
    r.stdout.fill(0)
    throw decryptFailure(stderr, what)
  }
  return r.stdout
}

export interface DecryptJob {
  /** a file gpg reads itself (a pass entry), or a message to give on stdin (an old version) */
  file?: string
  message?: Buffer
}

/**
 * Decrypt many messages, `concurrency` gpg processes at a time; gpg-agent serves them in
 * parallel. One process cannot do them all: `--decrypt-files` (`--multifile --decrypt`) writes
 * each plaintext to a file beside its input — plaintext on disk — and several messages
 * concatenated on stdin are refused ("multiple plaintexts seen", gpg 2.2). Spawning gpg without
 * pass's shell around it is already several times faster than a loop of `pass show`. Results
 * are in the order of `jobs`: the plaintext, or the error gpg gave for that one.
 */
export async function decryptMany(
  jobs: DecryptJob[],
  opts: { env?: NodeJS.ProcessEnv; concurrency?: number; onDone?: () => void; signal?: AbortSignal } = {},
): Promise<(Buffer | PolykeyError)[]> {
  const env = gpgEnv(opts.env ?? process.env)
  const bin = gpgBinary(opts.env ?? process.env)
  const out: (Buffer | PolykeyError)[] = new Array(jobs.length)
  let next = 0
  let fatal: PolykeyError | null = null
  const one = (job: DecryptJob): Promise<Buffer | PolykeyError> =>
    new Promise((resolve, reject) => {
      const args = [...BASE, '--decrypt']
      if (job.file) args.push('--', job.file)
      const child = spawn(bin, args, { env, stdio: [job.file ? 'ignore' : 'pipe', 'pipe', 'pipe'] })
      const chunks: Buffer[] = []
      const errs: Buffer[] = []
      child.stdout!.on('data', (c: Buffer) => chunks.push(c))
      child.stderr!.on('data', (c: Buffer) => errs.push(c))
      child.on('error', (e: NodeJS.ErrnoException) => reject(e.code === 'ENOENT' ? missing(bin) : new PolykeyError('IO', `cannot run gpg: ${e.code ?? e.message}`)))
      if (!job.file) {
        child.stdin!.on('error', () => {}) // gpg may exit before reading all of a bad message
        child.stdin!.end(job.message)
      }
      child.on('close', (status) => {
        const stderr = Buffer.concat(errs).toString('utf8')
        const data = Buffer.concat(chunks)
        for (const c of chunks) c.fill(0)
        if (status === 0 && /\[GNUPG:\] DECRYPTION_OKAY/.test(stderr)) resolve(data)
        else {
          data.fill(0)
          resolve(decryptFailure(stderr, job.file ?? 'a message'))
        }
      })
    })
  const worker = async () => {
    while (next < jobs.length && !fatal && !opts.signal?.aborted) {
      const i = next++
      try {
        out[i] = await one(jobs[i])
      } catch (e) {
        fatal = e as PolykeyError
      }
      opts.onDone?.()
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.concurrency ?? 4, jobs.length)) }, worker))
  if (fatal) {
    for (const r of out) if (Buffer.isBuffer(r)) r.fill(0)
    throw fatal
  }
  if (opts.signal?.aborted) throw new PolykeyError('USAGE', 'interrupted')
  return out
}
