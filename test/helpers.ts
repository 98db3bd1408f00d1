// Shared test helpers: temporary folders that are always removed, and the real CLI as a user
// runs it (bin/polykey in a child process).
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
export const BIN = path.join(ROOT, 'bin', 'polykey')
export const PASS = 'correct horse battery staple'

// Polykey keeps per-user state (the rollback record, docs/SECURITY.md) under $XDG_STATE_HOME:
// every test process and every polykey it starts gets a scratch one, never the real home's.
const STATE = fs.mkdtempSync(path.join(os.tmpdir(), 'pk-test-state-'))
process.env.XDG_STATE_HOME = STATE
process.on('exit', () => fs.rmSync(STATE, { recursive: true, force: true }))

/** A temporary folder removed when the test ends (t.after). */
export function tmpdir(t: { after(fn: () => void): void }, prefix = 'pk-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

export interface RunResult {
  code: number
  stdout: Buffer
  stderr: string
  out: string
}

/** Spawn a program, feed it `input`, collect its output; SIGKILL after timeoutMs. Env values of undefined are removed. */
export function collect(
  file: string,
  args: string[],
  opts: { env: Record<string, string | undefined>; cwd: string; input?: Buffer | string; timeoutMs: number },
): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    const env = { ...opts.env }
    for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k]
    const child = spawn(file, args, { env: env as NodeJS.ProcessEnv, cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] })
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout.on('data', (c) => out.push(c))
    child.stderr.on('data', (c) => err.push(c))
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs)
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code: code ?? (signal ? 128 : 1), stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString() })
    })
    child.stdin.on('error', () => {})
    child.stdin.end(opts.input ?? '')
  })
}

/**
 * Run bin/polykey with the given args, as a shell would (its own launcher: the native fast
 * client when built, unless POLYKEY_NO_FAST_CLIENT is set — `make test` runs the CLI tests in
 * both modes); env defaults to a node in `node` with the test passphrase.
 */
export async function run(
  args: string[],
  opts: { node?: string; input?: Buffer | string; env?: Record<string, string | undefined>; cwd?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  const env: Record<string, string | undefined> = { ...process.env, POLYKEY_PASSPHRASE: PASS, ...opts.env }
  if (opts.node) env.POLYKEY_NODE = opts.node
  const r = await collect(BIN, args, { env, cwd: opts.cwd ?? ROOT, input: opts.input, timeoutMs: opts.timeoutMs ?? 60_000 })
  return { ...r, out: r.stdout.toString() }
}

/** A fresh node (cheap 'test' key-derivation profile) in a temporary folder. */
export async function newNode(t: { after(fn: () => void): void }): Promise<{ dir: string; node: string }> {
  const dir = tmpdir(t)
  const node = path.join(dir, 'node.pk')
  const r = await run(['init', '--kdf', 'test'], { node })
  if (r.code !== 0) throw new Error(`init failed: ${r.stderr}`)
  return { dir, node }
}

/**
 * Keep the node unlocked (an agent without FUSE) for the rest of the test. Afterwards the agent
 * is locked, and killed by its pid if it outlived that (the test's folder, and with it the node
 * file the lock command looks for, may already be gone).
 */
export async function unlocked(t: { after(fn: () => unknown): void }, node: string): Promise<void> {
  const r = await run(['unlock', '--timeout', '0'], { node })
  if (r.code !== 0) throw new Error(`unlock failed (${r.code}): ${r.stderr}`)
  const pid = (JSON.parse((await run(['status', '--json'], { node })).out) as { pid: number | null }).pid
  t.after(async () => {
    const l = await run(['lock'], { node })
    if (l.code === 0 && /^locked /.test(l.out)) return
    if (!pid) return
    try {
      process.kill(pid, 'SIGTERM') // it saves and exits
    } catch {
      return // gone already
    }
    // An agent whose node file went first (the test's folder is removed by an earlier hook) keeps
    // retrying its save, holding the key: after a grace period, it goes.
    for (let i = 0; i < 20; i++) {
      await new Promise((r) => setTimeout(r, 100))
      try {
        process.kill(pid, 0)
      } catch {
        return
      }
    }
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      /* gone meanwhile */
    }
  })
}
