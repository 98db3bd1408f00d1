// What every command handler gets: where its input and output go (so the mount's agent can run
// the same handlers for a remote CLI), which node, and how to get the passphrase.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { PolykeyError } from '../errors.js'
import type { KeySource } from '../archive/nodefile.js'
import type { OpenNode } from '../vault/node.js'
import type { Vault } from '../vault/vault.js'
import type { Session } from '../vault/session.js'
import type { IO } from '../agent/io.js'
import type { Connection } from '../agent/server.js'

export type { IO } from '../agent/io.js'
export { processIO } from '../agent/io.js'

export interface GlobalArgs {
  node?: string
  passphraseFile?: string
  keyFile?: string
  json?: boolean
  verbose?: boolean
  lockTimeout?: number
}

/** A vault the agent already holds open (the mounted node); commands then skip unlocking. */
export interface HostedVault extends Session {
  vault: Vault
  nodeId: string
  info(): { version: number; fileSize: number; seq: number }
  /** where the node is mounted: this process must never touch it synchronously (it serves it) */
  mountpoint: string
  /** the node file, after everything in memory has been committed and saved */
  savedFile(): import('../archive/nodefile.js').NodeFile
  /** 'mount' (FUSE, mountpoint set) or 'unlock' (agent only) */
  kind: 'mount' | 'unlock'
  /**
   * Save everything and end the agent (unmounting first when mounted). Refused, with what is
   * unsaved, while saving fails: a full disk must not turn an unmount into lost changes.
   */
  stop(): Promise<void>
  /** Unmount (an agent started by `unlock` stays, holding the node unlocked). */
  unmount(): Promise<void>
  /** Mount an unlocked node here (no second key derivation). */
  mountAt(mountpoint: string, opts?: { guard?: boolean; audit?: boolean }): Promise<void>
}

export interface CallResult {
  code: number
  stdout: Buffer
  stderr: string
}

export class Context {
  hosted: HostedVault | null = null
  /** the agent connection this command answers (when it runs in an agent) */
  conn: Connection | null = null
  private cachedKey: KeySource | null = null
  constructor(
    public io: IO,
    readonly args: GlobalArgs,
  ) {}

  get nodePath(): string {
    const p = this.args.node ?? this.io.env.POLYKEY_NODE ?? defaultNodePath(this.io.env)
    return path.resolve(this.io.cwd, p)
  }

  out(text: string): void {
    this.io.stdout.write(text.endsWith('\n') ? text : text + '\n')
  }
  json(value: unknown): void {
    this.io.stdout.write(JSON.stringify(value, null, 2) + '\n')
  }
  warn(msg: string): void {
    this.io.stderr.write(`polykey: warning: ${msg}\n`)
  }

  /** The passphrase: --passphrase-file, $POLYKEY_PASSPHRASE, else a no-echo prompt on the terminal. */
  async passphrase(prompt = 'Passphrase: ', opts: { file?: string; envVar?: string; confirm?: boolean } = {}): Promise<Buffer> {
    const file = opts.file ?? (opts.envVar ? undefined : this.args.passphraseFile)
    const envVar = opts.envVar ?? 'POLYKEY_PASSPHRASE'
    if (file) return readPassphraseFile(path.resolve(this.io.cwd, file))
    const env = this.io.env[envVar]
    if (env !== undefined && env !== '') return Buffer.from(env)
    if (!opts.confirm) return promptTTY(prompt)
    // A new passphrase: a mistyped repeat asks again (three tries), never ends the command.
    for (let attempt = 1; ; attempt++) {
      const first = await promptTTY(prompt)
      const again = await promptTTY('Repeat: ')
      if (first.equals(again)) {
        again.fill(0)
        return first
      }
      first.fill(0)
      again.fill(0)
      if (attempt === 3) throw new PolykeyError('USAGE', 'the passphrases did not match three times')
      this.io.stderr.write('polykey: the passphrases do not match; try again\n')
    }
  }

  /**
   * Run another polykey command in this process with captured output (through the agent when
   * the node is mounted). Composite commands (edit, env) use it so the passphrase is asked once.
   */
  async call(args: string[], stdin: Buffer = Buffer.alloc(0)): Promise<CallResult> {
    const { Readable, Writable } = await import('node:stream')
    const out: Buffer[] = []
    const err: Buffer[] = []
    const sink = (to: Buffer[]) => new Writable({ write: (c: Buffer, _e, cb) => (to.push(Buffer.from(c)), cb()) })
    const env = { ...this.io.env }
    const global: string[] = []
    if (this.args.node) global.push('--node', this.args.node)
    if (this.args.passphraseFile) global.push('--passphrase-file', this.args.passphraseFile)
    if (this.args.keyFile) global.push('--key-file', this.args.keyFile)
    if (this.args.lockTimeout !== undefined) global.push('--lock-timeout', String(this.args.lockTimeout))
    if (!this.hosted && !this.args.passphraseFile && !env.POLYKEY_PASSPHRASE && !this.args.keyFile && !env.POLYKEY_KEY_FILE) {
      const { findAgent } = await import('../agent/client.js')
      if (!(await findAgent(this.nodePath))) {
        // Asked once for all the inner commands; a gpg slot is asked again (gpg-agent caches it).
        const key = await this.keySource()
        if ('passphrase' in key) env.POLYKEY_PASSPHRASE = key.passphrase.toString()
      }
    }
    const { main } = await import('./main.js')
    const io: IO = { ...this.io, env, stdin: Readable.from([stdin]), stdout: sink(out), stderr: sink(err), stdinIsTTY: false, stdoutIsTTY: false, stderrIsTTY: false }
    const code = await main([...args, ...global], io, this.hosted)
    return { code, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString() }
  }

  /** What unlocks the node, asked for once per command (a composite command reuses it). */
  async keySource(): Promise<KeySource> {
    const { resolveKeySource } = await import('./key-source.js')
    this.cachedKey ??= await resolveKeySource(this)
    return this.cachedKey
  }

  /**
   * Open the node, run fn on its vault, save if it wrote. Through the agent when the node is
   * mounted (no second passphrase prompt, and the mount sees the change at once).
   */
  async withVault<T>(write: boolean, fn: (v: Vault, node: OpenNode | null) => T | Promise<T>): Promise<T> {
    if (this.hosted) return this.hosted.withVault(write, fn)
    const { FileSession } = await import('../vault/session.js')
    const { SeenRecord } = await import('../archive/seen.js')
    const { hardenProcess } = await import('../crypto/harden.js')
    hardenProcess({ lockMemory: false }) // no core dump of a process about to hold plaintext
    this.session ??= new FileSession(this.nodePath, () => this.keySource(), {
      lockTimeoutMs: (this.args.lockTimeout ?? Number(this.io.env.POLYKEY_LOCK_TIMEOUT ?? 30)) * 1000,
      warn: (m) => this.warn(m),
      seen: SeenRecord.forUser(this.io.env, (m) => this.warn(m)),
    })
    checkNodeFile(this.nodePath)
    try {
      return await this.session.withVault(write, fn)
    } catch (err) {
      throw nameTheNode(err, this.nodePath)
    }
  }
  private session: import('../vault/session.js').FileSession | null = null
}

/**
 * The default node (docs/CLI.md "Which node"): $XDG_DATA_HOME/polykey/node.pk (XDG_DATA_HOME
 * defaulting to ~/.local/share); the older ~/.polykey/node.pk when only that one exists.
 */
export function defaultNodePath(env: NodeJS.ProcessEnv): string {
  const home = env.HOME || os.homedir()
  const dataHome = env.XDG_DATA_HOME && path.isAbsolute(env.XDG_DATA_HOME) ? env.XDG_DATA_HOME : path.join(home, '.local', 'share')
  const xdg = path.join(dataHome, 'polykey', 'node.pk')
  const legacy = path.join(home, '.polykey', 'node.pk')
  if (!fs.existsSync(xdg) && fs.existsSync(legacy)) return legacy
  return xdg
}

/** One clear line for a node path that is no node file (missing, a folder) before anything opens it. */
export function checkNodeFile(nodePath: string): void {
  let st: fs.Stats
  try {
    st = fs.statSync(nodePath)
  } catch {
    throw new PolykeyError('NOT_FOUND', `no node file at ${nodePath} (no such file)`, {}, { hint: "create one with 'polykey init'" })
  }
  if (st.isDirectory()) throw new PolykeyError('USAGE', `${nodePath} is a folder, not a node file`, {}, { hint: 'give the node file itself: --node ~/secrets.pk' })
}

/** A wrong key names the node it did not open (a user with several nodes needs to know which). */
export function nameTheNode(err: unknown, nodePath: string): unknown {
  if (err instanceof PolykeyError && err.code === 'WRONG_KEY' && !err.message.includes(nodePath))
    // ' of this node' (key-slot messages) names it in place; otherwise it is appended.
    err.message = err.message.includes(' of this node') ? err.message.replace(' of this node', ` of ${nodePath}`) : `${err.message.replace(/ for this node$/, '')} for ${nodePath}`
  return err
}

export function readPassphraseFile(file: string): Buffer {
  let b: Buffer
  try {
    b = fs.readFileSync(file)
  } catch (err) {
    throw new PolykeyError('USAGE', `cannot read passphrase file ${file}: ${(err as NodeJS.ErrnoException).code}`)
  }
  // One trailing newline is how editors and `echo` end a file; it is not part of the passphrase.
  let end = b.length
  if (end > 0 && b[end - 1] === 0x0a) end--
  if (end > 0 && b[end - 1] === 0x0d) end--
  return b.subarray(0, end)
}

/**
 * A secret value typed on the terminal: without echo, asked twice (a typo must not become the
 * secret); with multiline, lines until Ctrl-D, asked once.
 */
export async function readSecretFromTerminal(multiline: boolean): Promise<Buffer> {
  if (multiline) return promptTTY('Value (end with Ctrl-D on an empty line; not shown): ', true)
  for (;;) {
    const first = await promptTTY('Value (not shown): ')
    const again = await promptTTY('Repeat the value: ')
    if (first.equals(again)) {
      again.fill(0)
      return first
    }
    first.fill(0)
    again.fill(0)
    process.stderr.write('polykey: the two values differ; try again\n')
  }
}

/**
 * Read from the controlling terminal without echo: one line, or with multi until Ctrl-D.
 * Ctrl-C ends the command with exit 130.
 */
async function promptTTY(prompt: string, multi = false): Promise<Buffer> {
  let fd: number
  try {
    fd = fs.openSync('/dev/tty', 'r+')
  } catch {
    throw new PolykeyError(
      'NO_PASSPHRASE',
      'no passphrase given and no terminal to ask on',
      {},
      {
        hint: 'use --passphrase-file FILE or set POLYKEY_PASSPHRASE',
      },
    )
  }
  const tty = await import('node:tty')
  const input = new tty.ReadStream(fd)
  const output = fs.createWriteStream('', { fd: fs.openSync('/dev/tty', 'w') })
  output.write(prompt)
  input.setRawMode(true)
  const chunks: number[] = []
  try {
    await new Promise<void>((resolve, reject) => {
      input.on('data', (d: Buffer) => {
        for (const c of d) {
          if (multi && c === 0x04) return resolve()
          if (multi && (c === 0x0d || c === 0x0a)) {
            chunks.push(0x0a)
            continue
          }
          if (c === 0x0d || c === 0x0a) return resolve()
          if (c === 0x03) return reject(new PolykeyError('INTERRUPTED', 'interrupted'))
          if (c === 0x7f || c === 0x08) chunks.pop()
          else chunks.push(c)
        }
      })
    })
  } finally {
    input.setRawMode(false)
    output.write('\n')
    input.destroy()
    output.end()
  }
  const b = Buffer.from(chunks)
  chunks.fill(0)
  return b
}
