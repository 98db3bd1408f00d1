// Running gpg and ssh-keygen: bounded in time, output collected, a missing program said plainly;
// and the private temporary folders their verification keyrings live in (removed after).
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { spawn } from 'node:child_process'
import { PolykeyError } from '../errors.js'

export interface ExecResult {
  code: number
  stdout: Buffer
  stderr: string
  /** what the program wrote on fd 3 (gpg --status-fd 3) */
  status: string
}

export function exec(
  file: string,
  args: string[],
  opts: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; statusFd?: boolean; tty?: boolean } = {},
): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    // A signing gpg or ssh-keygen may ask for a key's passphrase (ssh-keygen reads it from a
    // piped stdin if it has one): `tty` hands it the user's own stdin and stderr.
    const stdio: ('pipe' | 'inherit')[] = opts.tty ? ['inherit', 'pipe', 'inherit'] : ['pipe', 'pipe', 'pipe']
    if (opts.statusFd) stdio.push('pipe')
    const child = spawn(file, args, { env: opts.env ?? { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' }, stdio })
    const out: Buffer[] = []
    const err: Buffer[] = []
    const status: Buffer[] = []
    child.stdout!.on('data', (c: Buffer) => out.push(c))
    child.stderr?.on('data', (c: Buffer) => err.push(c))
    if (opts.statusFd) (child.stdio[3] as NodeJS.ReadableStream).on('data', (c: Buffer) => status.push(c))
    const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : null
    child.on('error', (e: NodeJS.ErrnoException) => {
      if (timer) clearTimeout(timer)
      if (e.code === 'ENOENT') reject(new PolykeyError('NOT_FOUND', `${file} is not installed (it is needed to check identity statements)`, { program: file }))
      else reject(new PolykeyError('IO', `cannot run ${file}: ${e.code ?? e.message}`, { program: file }, { cause: e }))
    })
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer)
      resolve({ code: code ?? (signal ? 128 : 1), stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString(), status: Buffer.concat(status).toString() })
    })
    child.stdin?.on('error', () => {})
    child.stdin?.end(opts.input ?? '')
  })
}

/** The first line a program printed on failure, for a one-line message. */
export function firstLine(s: string): string {
  return (
    s
      .split('\n')
      .map((l) => l.trim())
      .find((l) => l && !l.startsWith('[GNUPG:]')) ?? ''
  ).slice(0, 200)
}

/** A folder only we can enter (mkdtemp makes it 0700), removed however fn ends. */
export async function withPrivateDir<T>(prefix: string, fn: (dir: string) => Promise<T>, cleanup?: (dir: string) => Promise<void>): Promise<T> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  try {
    return await fn(dir)
  } finally {
    try {
      await cleanup?.(dir)
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }
}
