// What every command handler gets: where its input and output go (so the mount's agent can run
// the same handlers for a remote CLI), which node, and how to get the passphrase.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { PolykeyError } from '../errors.js'
import type { KeySource } from '../archive/nodefile.js'
import type { OpenNode } from '../vault/node.js'
import type { Vault } from '../vault/vault.js'

export interface IO {
  stdin: NodeJS.ReadableStream
  stdout: NodeJS.WritableStream
  stderr: NodeJS.WritableStream
  stdinIsTTY: boolean
  stdoutIsTTY: boolean
  env: NodeJS.ProcessEnv
  cwd: string
  /** aborted when whoever asked for this command has gone (the agent's client hung up) */
  signal?: AbortSignal
}

export function processIO(): IO {
  return {
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    stdinIsTTY: !!process.stdin.isTTY,
    stdoutIsTTY: !!process.stdout.isTTY,
    env: process.env,
    cwd: process.cwd(),
  }
}

export interface GlobalArgs {
  node?: string
  passphraseFile?: string
  json?: boolean
  verbose?: boolean
  lockTimeout?: number
}

/** A vault the agent already holds open (the mounted node); commands then skip unlocking. */
export interface HostedVault {
  vault: Vault
  nodeId: string
  /** run fn with exclusive access; persist (commit + append) after a writing fn */
  withVault<T>(write: boolean, fn: (v: Vault) => T | Promise<T>): Promise<T>
  info(): { version: number; fileSize: number; seq: number }
  /** where the node is mounted: this process must never touch it synchronously (it serves it) */
  mountpoint: string
  /** the node file, after everything in memory has been committed and saved */
  savedFile(): import('../archive/nodefile.js').NodeFile
}

export interface CallResult {
  code: number
  stdout: Buffer
  stderr: string
}

export class Context {
  hosted: HostedVault | null = null
  private cachedPassphrase: Buffer | null = null
  constructor(
    readonly io: IO,
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
    const first = await promptTTY(prompt)
    if (opts.confirm) {
      const again = await promptTTY('Repeat: ')
      if (!first.equals(again)) throw new PolykeyError('USAGE', 'the passphrases do not match')
    }
    return first
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
    if (this.args.lockTimeout !== undefined) global.push('--lock-timeout', String(this.args.lockTimeout))
    if (!this.hosted && !this.args.passphraseFile && !env.POLYKEY_PASSPHRASE) {
      const { agentAvailable } = await import('../agent/client.js')
      if (!(await agentAvailable(this.nodePath))) {
        this.cachedPassphrase ??= await this.passphrase()
        env.POLYKEY_PASSPHRASE = this.cachedPassphrase.toString()
      }
    }
    const { main } = await import('./main.js')
    const io: IO = { ...this.io, env, stdin: Readable.from([stdin]), stdout: sink(out), stderr: sink(err), stdinIsTTY: false, stdoutIsTTY: false }
    const code = await main([...args, ...global], io, this.hosted)
    return { code, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString() }
  }

  async keySource(): Promise<KeySource> {
    return { passphrase: await this.passphrase() }
  }

  /**
   * Open the node, run fn on its vault, save if it wrote. Through the agent when the node is
   * mounted (no second passphrase prompt, and the mount sees the change at once).
   */
  async withVault<T>(write: boolean, fn: (v: Vault, node: OpenNode | null) => T | Promise<T>): Promise<T> {
    if (this.hosted) return this.hosted.withVault(write, (v) => fn(v, null))
    const { OpenNode } = await import('../vault/node.js')
    const { hardenProcess } = await import('../crypto/harden.js')
    hardenProcess({ lockMemory: false }) // no core dump of a process about to hold plaintext
    const node = await OpenNode.open(this.nodePath, await this.keySource(), {
      write,
      lockTimeoutMs: (this.args.lockTimeout ?? Number(this.io.env.POLYKEY_LOCK_TIMEOUT ?? 30)) * 1000,
      warn: (m) => this.warn(m),
    })
    try {
      const result = await fn(node.vault, node)
      if (write) node.save()
      return result
    } finally {
      node.close()
    }
  }
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

/** Read a line from the controlling terminal without echo. */
async function promptTTY(prompt: string): Promise<Buffer> {
  let fd: number
  try {
    fd = fs.openSync('/dev/tty', 'r+')
  } catch {
    throw new PolykeyError('NO_PASSPHRASE', 'no passphrase given and no terminal to ask on', {}, {
      hint: 'use --passphrase-file FILE or set POLYKEY_PASSPHRASE',
    })
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
          if (c === 0x0d || c === 0x0a) return resolve()
          if (c === 0x03) return reject(new PolykeyError('USAGE', 'interrupted'))
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
