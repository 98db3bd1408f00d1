// The native git helper (native/client/git-remote.c) talks to the node's agent as the CLI and its
// fast client do: the same checked socket path, and the kernel's credentials of whoever listens.
// Another user's listener planted where the agent is looked for gets nothing from `git clone`,
// and nothing it answers becomes a work tree: the clone fails in one line.
import test from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { ROOT, newNode, run, tmpdir } from '../helpers.js'
import { agentDir, agentPaths } from '../../src/agent/paths.js'
import { gitEnv, git, hasGit } from '../git/git-util.js'
import { fakeAgent, NOBODY } from './fake-agent.js'

const FAST = fs.existsSync(path.join(ROOT, 'native/build/client/git-remote-polykey'))
const skip = process.getuid?.() !== 0 ? 'needs root to act as another user' : !hasGit ? 'needs git' : !FAST ? 'the native client is not built' : false

/** A node with one secret, and git's environment with no passphrase: only an agent could answer. */
async function setup(t: { after(fn: () => void): void }) {
  const { node } = await newNode(t)
  assert.equal((await run(['repo', 'create', 'r'], { node })).code, 0)
  assert.equal((await run(['secret', 'put', 'r/key'], { node, input: 'the real value' })).code, 0)
  const work = tmpdir(t)
  const env = gitEnv(path.join(work, 'home'), { POLYKEY_NODE: node, POLYKEY_PASSPHRASE: undefined, POLYKEY_FAST_CLIENT_TRACE: '1', POLYKEY_NO_FAST_CLIENT: undefined })
  fs.mkdirSync(agentDir(), { recursive: true, mode: 0o700 })
  return { node, work, env, socket: agentPaths(node)!.socket }
}

const errorLines = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('polykey: error:'))

test('git clone: a listener of another user behind a socket file of ours is refused by its kernel credentials before anything is sent', { skip }, async (t) => {
  const { node, work, env, socket } = await setup(t)
  // nobody listens in a folder of its own; the socket file is then moved into ours and given to
  // us: every check of the file passes, only SO_PEERCRED can tell
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'pk-nobody-'))
  fs.chmodSync(scratch, 0o777)
  const fake = fakeAgent(path.join(scratch, 's.sock'), NOBODY, '0000000000000000000000000000000000000000 HEAD\n')
  t.after(() => {
    fake.kill()
    fs.rmSync(socket, { force: true })
    fs.rmSync(scratch, { recursive: true, force: true })
  })
  await fake.ready
  fs.renameSync(path.join(scratch, 's.sock'), socket)
  fs.chownSync(socket, 0, 0)
  fs.chmodSync(socket, 0o600)
  const clone = await git(work, ['clone', `polykey::${node}#r`, 'r'], env)
  assert.notEqual(clone.code, 0)
  assert.deepEqual(
    errorLines(clone.stderr).map((l) => l.replace(socket, 'SOCKET')),
    ['polykey: error: refusing the agent at SOCKET: it runs as uid 65534, not as you'],
    clone.stderr,
  )
  assert.ok(!/ ms: node: /.test(clone.stderr), `the native helper refused it itself: ${clone.stderr}`)
  assert.equal(fake.received(), '', 'the listener was sent nothing')
  assert.equal(fs.existsSync(path.join(work, 'r', 'key')), false, 'no work tree from its answer')
})

test('git clone: a socket in the agent folder that another user owns is refused in one line, and gets nothing', { skip }, async (t) => {
  const { node, work, env, socket } = await setup(t)
  const fake = fakeAgent(socket, 0, 'attacker text')
  t.after(() => {
    fake.kill()
    fs.rmSync(socket, { force: true })
    fs.rmSync(socket + '.got', { force: true })
  })
  await fake.ready
  fs.chownSync(socket, NOBODY, NOBODY)
  const clone = await git(work, ['clone', `polykey::${node}#r`, 'r'], env)
  assert.notEqual(clone.code, 0)
  const errors = errorLines(clone.stderr)
  assert.equal(errors.length, 1, clone.stderr)
  assert.match(errors[0], /^polykey: error: refusing to use the agent socket: .* belongs to uid 65534/)
  assert.equal(fake.received(), '', 'the listener was sent nothing')
  assert.ok(!clone.stderr.includes('attacker'), clone.stderr)
  assert.equal(fs.existsSync(path.join(work, 'r', 'key')), false)
})
