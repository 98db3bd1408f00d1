// `polykey unlock` / `lock` / `status`: the node's agent without FUSE, found from the node file
// from any shell, ending after idle time, reused by a mount.
import test from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { newNode, run, tmpdir } from '../helpers.js'
import { NO_FUSE, alive, mountLine, waitExit, waitFor } from '../fuse/mount-helpers.js'

const NO_KEY = { POLYKEY_PASSPHRASE: undefined }

interface Status {
  state: string
  mountpoint: string | null
  until: string | null
  pid: number | null
}
const status = async (node: string, env: Record<string, string | undefined> = {}) => JSON.parse((await run(['status', '--json'], { node, env })).out) as Status

test('unlock once: later commands from other shells ask nothing; lock saves and ends the agent', async (t) => {
  const { dir, node } = await newNode(t)
  assert.equal((await status(node)).state, 'locked')
  const u = await run(['unlock', '--timeout', '0'], { node })
  assert.equal(u.code, 0, u.stderr)
  assert.match(u.out, /^unlocked .* until locked\n$/)
  const st = await status(node)
  assert.equal(st.state, 'unlocked')
  assert.equal(st.until, null)
  t.after(async () => {
    if (st.pid && alive(st.pid)) process.kill(st.pid, 'SIGKILL')
  })
  // No passphrase anywhere, no terminal: only the agent can answer.
  assert.equal((await run(['repo', 'create', 'r'], { node, env: NO_KEY })).code, 0)
  assert.equal((await run(['secret', 'put', 'r/k'], { node, env: NO_KEY, input: 'v1' })).code, 0)
  // Another shell: other HOME, other XDG_RUNTIME_DIR, the node through a symlink.
  const link = path.join(dir, 'alias.pk')
  fs.symlinkSync(node, link)
  const other = { ...NO_KEY, HOME: tmpdir(t), XDG_RUNTIME_DIR: tmpdir(t) }
  const g = await run(['secret', 'get', 'r/k'], { node: link, env: other })
  assert.equal(g.code, 0, g.stderr)
  assert.equal(g.out, 'v1')
  assert.equal((await status(link, other)).state, 'unlocked')
  const again = await run(['unlock'], { node, env: NO_KEY })
  assert.match(again.out, /already unlocked/)

  const l = await run(['lock'], { node, env: NO_KEY })
  assert.equal(l.code, 0, l.stderr)
  assert.match(l.out, /^locked /)
  assert.ok(!alive(st.pid!), 'the agent has exited')
  assert.equal((await status(node)).state, 'locked')
  const locked = await run(['secret', 'get', 'r/k'], { node, env: NO_KEY })
  assert.equal(locked.code, 2, 'locked again: a passphrase is needed')
  assert.equal((await run(['secret', 'get', 'r/k'], { node })).out, 'v1', 'and everything was saved')
})

test('the idle timeout ends the agent (saving first); kill -9 loses nothing already answered', async (t) => {
  const { node } = await newNode(t)
  assert.equal((await run(['repo', 'create', 'r'], { node })).code, 0)
  const started = Date.now()
  assert.equal((await run(['unlock', '--timeout', '2s'], { node })).code, 0)
  const st = await status(node)
  assert.ok(st.until && Date.parse(st.until) > started, 'status says until when')
  // (with the passphrase given: on a loaded machine the agent may already have timed out)
  assert.equal((await run(['secret', 'put', 'r/a'], { node, input: 'before-timeout' })).code, 0)
  await waitExit(st.pid!, 60_000)
  assert.equal((await status(node)).state, 'locked')
  assert.equal((await run(['secret', 'get', 'r/a'], { node })).out, 'before-timeout')

  assert.equal((await run(['unlock', '--timeout', '0'], { node })).code, 0)
  const st2 = await status(node)
  assert.equal((await run(['secret', 'put', 'r/b'], { node, env: NO_KEY, input: 'before-kill' })).code, 0)
  process.kill(st2.pid!, 'SIGKILL')
  await waitExit(st2.pid!)
  assert.equal((await status(node)).state, 'locked', 'a killed agent is not taken for a live one')
  assert.equal((await run(['secret', 'get', 'r/b'], { node })).out, 'before-kill')
})

test('mounting an unlocked node reuses its agent (no passphrase); unmount goes back to unlocked; lock is refused while mounted', { skip: NO_FUSE }, async (t) => {
  const { node } = await newNode(t)
  assert.equal((await run(['repo', 'create', 'r'], { node })).code, 0)
  assert.equal((await run(['unlock', '--timeout', '0'], { node })).code, 0)
  const st = await status(node)
  const mnt = path.join(os.tmpdir(), `pk-unlock-mnt-${process.pid}-${Date.now()}`)
  t.after(async () => {
    if (mountLine(mnt)) await run(['unmount', mnt], { node, env: NO_KEY })
    if (st.pid && alive(st.pid)) process.kill(st.pid, 'SIGKILL')
    fs.rmSync(mnt, { recursive: true, force: true })
  })
  const m = await run(['mount', mnt], { node, env: NO_KEY })
  assert.equal(m.code, 0, m.stderr)
  assert.ok(mountLine(mnt))
  const ms = await status(node)
  assert.equal(ms.state, 'mounted')
  assert.equal(ms.mountpoint, mnt)
  assert.equal(ms.pid, st.pid, 'the same process')
  fs.writeFileSync(path.join(mnt, 'repos/r/via-mount'), 'mounted write')
  const second = await run(['mount', mnt + '-2'], { node, env: NO_KEY })
  assert.equal(second.code, 1)
  assert.match(second.stderr, new RegExp(`already mounted at ${mnt.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`))
  const l = await run(['lock'], { node, env: NO_KEY })
  assert.equal(l.code, 1)
  assert.match(l.stderr, /the node is mounted at .*\npolykey: hint: unmount it instead/)
  const u = await run(['unmount', mnt], { node, env: NO_KEY })
  assert.equal(u.code, 0, u.stderr)
  assert.ok(!mountLine(mnt))
  await waitFor('status unlocked', async () => (await status(node)).state === 'unlocked')
  assert.equal((await run(['secret', 'get', 'r/via-mount'], { node, env: NO_KEY })).out, 'mounted write')
  assert.equal((await run(['lock'], { node, env: NO_KEY })).code, 0)
})
