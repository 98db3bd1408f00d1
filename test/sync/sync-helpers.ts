// Helpers for the sharing tests: nodes with ids, `polykey serve` as a child process that is
// always stopped (by its pid), and a loopback TCP proxy that records every byte it forwards.
import net from 'node:net'
import { spawn, type ChildProcess } from 'node:child_process'
import assert from 'node:assert/strict'
import { BIN, PASS, newNode, run, type RunResult } from '../helpers.js'

type T = { after(fn: () => void | Promise<void>): void }

export interface TestNode {
  node: string
  dir: string
  id: string
  /** run polykey on this node; extra env wins */
  pk(args: string[], opts?: { input?: string | Buffer; env?: Record<string, string | undefined> }): Promise<RunResult>
  /** like pk, but the command must succeed */
  ok(args: string[], opts?: { input?: string | Buffer; env?: Record<string, string | undefined> }): Promise<string>
}

export async function makeNode(t: T): Promise<TestNode> {
  const { node, dir } = await newNode(t)
  const pk = (args: string[], opts: { input?: string | Buffer; env?: Record<string, string | undefined> } = {}) => run(args, { node, ...opts })
  const ok = async (args: string[], opts: { input?: string | Buffer; env?: Record<string, string | undefined> } = {}) => {
    const r = await pk(args, opts)
    assert.equal(r.code, 0, `polykey ${args.join(' ')} failed (${r.code}): ${r.stderr}`)
    return r.out
  }
  const id = (await ok(['node', 'id'])).trim()
  return { node, dir, id, pk, ok }
}

export interface Served {
  address: string
  child: ChildProcess
  stderr: () => string
  stop(): Promise<void>
}

/** `polykey serve` on a node; resolves once it prints its address. Stopped when the test ends. */
export async function serve(t: T, node: string, args: string[] = [], env: Record<string, string | undefined> = {}): Promise<Served> {
  const fullEnv: Record<string, string | undefined> = { ...process.env, POLYKEY_PASSPHRASE: PASS, POLYKEY_NODE: node, ...env }
  for (const k of Object.keys(fullEnv)) if (fullEnv[k] === undefined) delete fullEnv[k]
  const child = spawn(process.execPath, [BIN, 'serve', ...args], { env: fullEnv as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stderr!.on('data', (d) => (err += d))
  let exited = false
  const gone = new Promise<void>((r) => child.on('exit', () => ((exited = true), r())))
  const stop = async () => {
    if (!exited) child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
    await gone
    clearTimeout(timer)
  }
  t.after(stop)
  const address = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${err}`)), 15_000)
    child.stdout!.on('data', (d) => {
      out += d
      const line = out.split('\n')
      if (line.length > 1) {
        clearTimeout(timer)
        resolve(line[0].trim())
      }
    })
    child.on('exit', (code) => reject(new Error(`serve exited ${code}: ${err}`)))
  })
  return { address, child, stderr: () => err, stop }
}

/** A loopback TCP proxy to `target` that keeps a copy of every byte in both directions. */
export async function recordingProxy(t: T, target: string): Promise<{ address: string; bytes: () => Buffer; count: () => { up: number; down: number } }> {
  const [host, port] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))]
  const chunks: Buffer[] = []
  let up = 0
  let down = 0
  const sockets = new Set<net.Socket>()
  const server = net.createServer((client) => {
    const upstream = net.connect(port, host)
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('error', () => {})
      s.on('close', () => sockets.delete(s))
    }
    client.on('data', (d) => ((up += d.length), chunks.push(Buffer.from(d)), upstream.write(d)))
    upstream.on('data', (d) => ((down += d.length), chunks.push(Buffer.from(d)), client.write(d)))
    client.on('end', () => upstream.end())
    upstream.on('end', () => client.end())
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  t.after(
    () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy()
        server.close(() => r())
      }),
  )
  return { address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`, bytes: () => Buffer.concat(chunks), count: () => ({ up, down }) }
}

/** `repo log --json` entries without `signer`, which names the signer as the node showing the log knows it (self, an alias). */
export function withoutSigner(log: { signer?: unknown }[]): unknown[] {
  return log.map(({ signer: _signer, ...rest }) => rest)
}
