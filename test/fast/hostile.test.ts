// The fast client against an agent that answers badly (issue 18): truncated frames, frames above
// the limit, frames after the exit code, unknown types, exit frames of the wrong size, one byte
// at a time, a connection closed without an answer. The fake agent listens where a real one
// would (the user's agents folder, named after a real temporary node file), so it passes the
// client's ownership and peer checks; every answer is compared byte for byte with what the Node
// client prints for it. The fast runs have no node on PATH: agreeing output means the native
// client handled the stream itself. (The randomised counterpart is `make fuzz-client`.)
import test from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { tmpdir } from '../helpers.js'
import { agentPaths, ensureAgentDir } from '../../src/agent/paths.js'
import { MAX_FRAME, PROTOCOL_VERSION } from '../../src/agent/protocol.js'
import { assertSame, both, built } from './both.js'

const frame = (type: number, payload: Buffer | string, len?: number) => {
  const p = Buffer.from(payload)
  const h = Buffer.alloc(5)
  h[0] = type
  h.writeUInt32BE(len ?? p.length, 1)
  return Buffer.concat([h, p])
}
const exit = (code: number) => {
  const b = Buffer.alloc(4)
  b.writeInt32BE(code, 0)
  return frame(3, b)
}

/** A listener in the agent's place that answers each request with `answer` (pieces written apart when `drip`). */
async function fakeAgent(t: { after(fn: () => unknown): void }, node: string, answer: Buffer[], opts: { destroy?: boolean; mode?: number } = {}): Promise<{ requests: string[] }> {
  ensureAgentDir()
  const sock = agentPaths(node)!.socket
  fs.rmSync(sock, { force: true })
  const requests: string[] = []
  const server = net.createServer({ allowHalfOpen: true }, (c) => {
    let got = ''
    c.on('data', (d) => (got += d.toString()))
    c.on('error', () => {})
    c.on('end', async () => {
      if (!got) return void c.end() // the Node client's probe (findAgent) sends nothing
      requests.push(got)
      if (opts.destroy) return void c.destroy()
      for (const piece of answer) {
        c.write(piece)
        if (answer.length > 1) await new Promise((r) => setTimeout(r, 2))
      }
      c.end()
    })
  })
  await new Promise<void>((r) => server.listen(sock, r))
  fs.chmodSync(sock, opts.mode ?? 0o600)
  t.after(() => {
    server.close()
    fs.rmSync(sock, { force: true })
  })
  return { requests }
}

const oneByOne = (b: Buffer) => [...b].map((x) => Buffer.from([x]))

const CASES: [string, Buffer[]][] = [
  ['an answer', [Buffer.concat([frame(1, 'hello\n'), frame(2, 'polykey: warning: w\n'), exit(0)])]],
  ['stdout and stderr interleaved, each frame whole', [Buffer.concat([frame(1, 'a'), frame(2, 'b'), frame(1, 'c'), frame(2, 'd\n'), exit(5)])]],
  ['one byte at a time', oneByOne(Buffer.concat([frame(1, 'dripped'), frame(4, ''), exit(3)]))],
  ['pings and unknown types are ignored', [Buffer.concat([frame(4, ''), frame(9, 'junk'), frame(0, 'x'), frame(1, 'ok'), frame(4, ''), exit(0)])]],
  ['an empty stdout frame', [Buffer.concat([frame(1, ''), exit(0)])]],
  ['frames after the exit code are printed, the last code wins', [Buffer.concat([exit(4), frame(1, 'late'), frame(2, 'late err\n'), exit(7)])]],
  ['an exit frame of the wrong size is ignored', [Buffer.concat([frame(1, 'x'), frame(3, Buffer.from([0, 0, 0])), frame(3, Buffer.from([0, 0, 0, 0, 9]))])]],
  ['exit codes beyond a byte and negative', [Buffer.concat([exit(-1)])]],
  ['exit code 256', [exit(256)]],
  ['closed without an answer', [frame(1, 'partial output')]],
  ['a truncated header', [Buffer.concat([frame(1, 'before'), Buffer.from([1, 0, 0])])]],
  ['a truncated payload is not printed', [Buffer.concat([frame(1, 'before'), frame(1, 'cut', 100)])]],
  ['a truncated exit frame', [Buffer.concat([frame(1, 'x'), exit(0).subarray(0, 7)])]],
  ['a frame above the limit ends the answer there', [Buffer.concat([frame(1, 'kept'), frame(1, '', MAX_FRAME + 1), frame(1, 'never'), exit(0)])]],
  ['a frame above the limit after the exit code', [Buffer.concat([exit(6), frame(2, '', 0xffffffff)])]],
  ['a frame of the largest size', [Buffer.concat([frame(1, Buffer.alloc(MAX_FRAME, 0x61)), exit(0)])]],
  [
    'a version mismatch, as an agent of another version answers',
    [
      Buffer.concat([
        frame(2, `polykey: error: the node's agent speaks protocol ${PROTOCOL_VERSION + 1}, this polykey ${PROTOCOL_VERSION}; unmount or lock the node and retry\n`),
        exit(2),
      ]),
    ],
  ],
  ['binary stdout', [Buffer.concat([frame(1, Buffer.from([0, 1, 2, 255, 10, 13, 0])), exit(0)])]],
]

test('malformed answers: the fast client prints exactly what the Node client prints', { skip: !built && 'native client not built' }, async (t) => {
  const dir = tmpdir(t)
  for (const [what, answer] of CASES) {
    const node = path.join(dir, `${what.replace(/\W+/g, '-')}.pk`)
    fs.writeFileSync(node, 'not opened: every command goes to the agent')
    const fake = await fakeAgent(t, node, answer)
    const r = assertSame(await both(['secret', 'get', 'r/a'], { env: { ...process.env, POLYKEY_NODE: node, POLYKEY_PASSPHRASE: undefined } }), what)
    assert.equal(fake.requests.length, 2, `${what}: both clients asked the agent`)
    if (what === 'an answer') assert.equal(r.code, 0)
  }
})

test("the request the fast client sends is the Node client's: arguments, folder, terminal state, forwarded variables", { skip: !built && 'native client not built' }, async (t) => {
  const dir = tmpdir(t)
  const node = path.join(dir, 'n.pk')
  fs.writeFileSync(node, '')
  const fake = await fakeAgent(t, node, [exit(0)])
  const args = ['secret', 'get', 'r/é "quoted" \\ \t\u0001 ✓', '--node', node, '--rev', 'HEAD']
  const env = {
    ...process.env,
    POLYKEY_NODE: undefined,
    POLYKEY_PASSPHRASE: undefined,
    COLUMNS: '77',
    POLYKEY_SYNC_TIMEOUT: '',
    POLYKEY_TARGET_PASSPHRASE: 'peer "pass"',
    HOME: process.env.HOME,
  }
  assertSame(await both(args, { env, cwd: dir }), 'request')
  assert.equal(fake.requests.length, 2)
  const [a, b] = fake.requests.map((r) => JSON.parse(r.slice(0, r.indexOf('\n'))))
  assert.deepEqual(a, b)
  assert.deepEqual(a.args, args)
  assert.equal(a.cwd, fs.realpathSync(dir))
  assert.deepEqual(a.env, { POLYKEY_TARGET_PASSPHRASE: 'peer "pass"', POLYKEY_SYNC_TIMEOUT: '', COLUMNS: '77' })
})

test('the agent hangs up after the request: both report the lost answer the same way', { skip: !built && 'native client not built' }, async (t) => {
  const dir = tmpdir(t)
  const node = path.join(dir, 'n.pk')
  fs.writeFileSync(node, '')
  await fakeAgent(t, node, [], { destroy: true })
  const r = assertSame(await both(['repo', 'list'], { env: { ...process.env, POLYKEY_NODE: node, POLYKEY_PASSPHRASE: undefined } }), 'hang-up')
  assert.equal(r.code, 1)
  assert.match(r.stderr, /^polykey: error: /)
})

test('a socket others can reach is never used by the fast client: Node gives its refusal', { skip: !built && 'native client not built' }, async (t) => {
  const dir = tmpdir(t)
  const node = path.join(dir, 'n.pk')
  fs.writeFileSync(node, '')
  const fake = await fakeAgent(t, node, [frame(1, 'from a socket anyone could have planted'), exit(0)], { mode: 0o666 })
  const r = assertSame(await both(['secret', 'get', 'r/a'], { env: { ...process.env, POLYKEY_NODE: node, POLYKEY_PASSPHRASE: undefined }, mayFallBack: true }), 'planted socket')
  assert.equal(r.code, 1)
  assert.match(r.stderr, /refusing to use the agent socket/)
  assert.equal(fake.requests.length, 0, 'nothing was sent to it')
})
