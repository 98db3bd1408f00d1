// Attack: keep an unlocked node unlocked for ever. A caller of the agent asks for an answer larger
// than the socket holds (a pack, an export) and hangs up without reading it. The agent used to wait
// for the socket to drain, which never happened: the command never ended, the agent stayed busy,
// and a busy agent never reaches its idle timeout. `git ls-remote polykey::…` did this without
// meaning to (the helper reads the first line of a fetch and leaves). Now the rest of the answer
// is dropped, the command ends, and the idle timeout locks the node.
import test from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import { newNode, run } from '../helpers.js'
import { alive, waitExit } from '../fuse/mount-helpers.js'
import { agentPaths } from '../../src/agent/paths.js'
import { PROTOCOL_VERSION } from '../../src/agent/protocol.js'

test('a caller that hangs up in the middle of a large answer does not keep the node unlocked past its idle timeout', async (t) => {
  const { node } = await newNode(t)
  assert.equal((await run(['repo', 'create', 'r'], { node })).code, 0)
  // larger than any socket buffer, and not compressible
  const big = Buffer.alloc(8 << 20)
  for (let i = 0; i < big.length; i += 4) big.writeUInt32LE((Math.imul(i, 2654435761) ^ (i >>> 9)) >>> 0, i)
  assert.equal((await run(['secret', 'put', 'r/big'], { node, input: big })).code, 0)
  assert.equal((await run(['unlock', '--timeout', '3s'], { node })).code, 0)
  const st = JSON.parse((await run(['status', '--json'], { node })).out) as { pid: number }
  t.after(() => {
    if (alive(st.pid)) process.kill(st.pid, 'SIGKILL')
  })

  for (const args of [
    ['export', 'tar'],
    ['git-serve', 'fetch', 'r', 'HEAD'],
  ]) {
    // the first bytes of the answer, then gone
    await new Promise<void>((resolve, reject) => {
      const c = net.connect(agentPaths(node)!.socket)
      c.on('error', reject)
      c.on('connect', () => {
        c.write(JSON.stringify({ v: PROTOCOL_VERSION, args: [...args, '--node', node], cwd: '/', tty: { stdin: false, stdout: false, stderr: false }, env: {} }) + '\n')
        c.end()
      })
      c.once('data', () => {
        c.destroy()
        resolve()
      })
    })
  }
  await waitExit(st.pid, 60_000)
  assert.equal(JSON.parse((await run(['status', '--json'], { node })).out).state, 'locked')
})
