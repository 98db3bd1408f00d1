// Helpers for the end-to-end vault tests: a `pk` bound to one node, and assertions that show the
// command's stderr when it fails.
import assert from 'node:assert/strict'
import { run, newNode, type RunResult } from '../helpers.js'

export type Pk = (args: string[], opts?: { input?: Buffer | string; env?: Record<string, string | undefined>; cwd?: string; timeoutMs?: number }) => Promise<RunResult>

/** A fresh node and a runner bound to it. */
export async function node(t: { after(fn: () => void): void }): Promise<{ dir: string; node: string; pk: Pk }> {
  const n = await newNode(t)
  // NODE_EXTRA_CA_CERTS (set on some CI machines) makes every node process parse certificates at
  // start-up; the CLI makes no TLS connections, and these tests start a few hundred processes.
  return { ...n, pk: (args, opts = {}) => run(args, { node: n.node, ...opts, env: { NODE_EXTRA_CA_CERTS: undefined, ...opts.env } }) }
}

/** The command succeeded; returns its result. */
export function ok(r: RunResult, what = 'command'): RunResult {
  assert.equal(r.code, 0, `${what} failed (exit ${r.code}): ${r.stderr}`)
  return r
}

/** The command failed with `code` and one `polykey: error:` line (no stack trace). */
export function fails(r: RunResult, code: number, pattern?: RegExp): RunResult {
  assert.equal(r.code, code, `expected exit ${code}, got ${r.code}; stderr: ${r.stderr}; stdout: ${r.out}`)
  assert.match(r.stderr, /^polykey: error: /m)
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace without --verbose')
  if (pattern) assert.match(r.stderr, pattern)
  return r
}

export function json<T = any>(r: RunResult): T {
  ok(r)
  return JSON.parse(r.out) as T
}

export interface LogJson {
  signer?: string | null
  verified?: boolean
  commit: string
  time: string
  message: string
}
