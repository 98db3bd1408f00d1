// Running one command line both ways — through the native fast client and through Node alone
// (POLYKEY_NO_FAST_CLIENT=1) — and checking that a user sees the same thing.
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { BIN, ROOT, collect, type RunResult } from '../helpers.js'
import { onPty, type PtyResult } from '../pty.js'

export const CLIENT = path.join(ROOT, 'native', 'build', 'client', 'polykey-client')
export const built = fs.existsSync(CLIENT)

/** No node on PATH: a fast run that fell back to Node fails loudly ("cannot start node"), so agreeing output proves the client answered alone. */
export const NO_NODE_PATH = '/nonexistent-polykey-test-path'

export interface Both {
  fast: RunResult
  node: RunResult
}

export interface BothOptions {
  env: Record<string, string | undefined>
  input?: Buffer | string
  cwd?: string
  /** the fast run may hand over to Node (it has node on PATH) */
  mayFallBack?: boolean
}

async function one(args: string[], env: Record<string, string | undefined>, o: BothOptions): Promise<RunResult> {
  const r = await collect(BIN, args, { env, cwd: o.cwd ?? ROOT, input: o.input, timeoutMs: 60_000 })
  return { ...r, out: r.stdout.toString() }
}

export async function both(args: string[], o: BothOptions): Promise<Both> {
  const base = { ...o.env, POLYKEY_NO_FAST_CLIENT: undefined }
  const fastEnv = o.mayFallBack ? base : { ...base, PATH: NO_NODE_PATH }
  const [fast, node] = await Promise.all([one(args, fastEnv, o), one(args, { ...base, POLYKEY_NO_FAST_CLIENT: '1' }, o)])
  return { fast, node }
}

export function assertSame(b: Both, what: string): RunResult {
  assert.equal(b.fast.stderr, b.node.stderr, `${what}: stderr`)
  assert.ok(b.fast.stdout.equals(b.node.stdout), `${what}: stdout differs: fast ${JSON.stringify(b.fast.out.slice(0, 200))} node ${JSON.stringify(b.node.out.slice(0, 200))}`)
  assert.equal(b.fast.code, b.node.code, `${what}: exit code`)
  return b.node
}

/** The same on a terminal (a pty: stdin, stdout and stderr are the terminal). */
export async function bothOnPty(args: string[], steps: [string, string][], env: Record<string, string | undefined>, cwd: string): Promise<{ fast: PtyResult; node: PtyResult }> {
  const fast = await onPty([BIN, ...args], steps, { env: { ...env, POLYKEY_NO_FAST_CLIENT: undefined }, cwd })
  const node = await onPty([BIN, ...args], steps, { env: { ...env, POLYKEY_NO_FAST_CLIENT: '1' }, cwd })
  return { fast, node }
}
