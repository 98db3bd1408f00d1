// While mounted: clone, pull, push and serve run in the mount process (through its agent, no
// passphrase asked), pulled changes show in the mount at once, and a `polykey serve` run
// against the mounted node serves until it is interrupted.
import test from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import net from 'node:net'
import { NO_FUSE, mountedNode, waitFor } from '../fuse/mount-helpers.js'
import { makeNode, serve } from './sync-helpers.js'
import { run, tmpdir } from '../helpers.js'

const portOpen = (address: string) =>
  new Promise<boolean>((resolve) => {
    const i = address.lastIndexOf(':')
    const s = net.connect(Number(address.slice(i + 1)), address.slice(0, i))
    s.on('connect', () => (s.destroy(), resolve(true)))
    s.on('error', () => resolve(false))
  })

test('sharing while mounted: pull shows in the mount, push, push to a node file, serve from the mount', { skip: NO_FUSE }, async (t) => {
  const alice = await makeNode(t)
  const bob = await mountedNode(t)
  const bobId = (await bob.pkOk(['node', 'id'])).trim()
  await alice.ok(['repo', 'create', 'deploy'])
  await alice.ok(['secret', 'put', 'deploy/token'], { input: 'v1' })
  await alice.ok(['peer', 'add', 'bob', bobId, '--owner'])
  await alice.ok(['share', 'deploy', 'bob'])
  const served = await serve(t, alice.node)

  await bob.pkOk(['peer', 'add', 'alice', alice.id, served.address])
  assert.match(await bob.pkOk(['clone', 'alice', 'deploy']), /cloned deploy from alice/)
  assert.equal(fs.readFileSync(bob.repo('deploy', 'token'), 'utf8'), 'v1')

  await alice.ok(['secret', 'put', 'deploy/token'], { input: 'v2' })
  assert.match(await bob.pkOk(['pull', 'alice', 'deploy']), /fast-forward/)
  assert.equal(fs.readFileSync(bob.repo('deploy', 'token'), 'utf8'), 'v2', 'the pull shows in the mount without remounting')

  // an edit in the mount becomes a commit; bob pushes it to alice
  fs.writeFileSync(bob.repo('deploy', 'added-in-mount'), 'from the mount')
  await bob.waitLog('deploy', (log) => log[0] === 'add added-in-mount')
  assert.match(await bob.pkOk(['push', 'deploy', 'alice']), /deploy: pushed/)
  assert.equal(await alice.ok(['secret', 'get', 'deploy/added-in-mount']), 'from the mount')

  // push --all to a node file, its passphrase passed to the agent from the environment
  const usb = path.join(tmpdir(t), 'usb.pk')
  assert.equal((await run(['init', '--kdf', 'test'], { node: usb, env: { POLYKEY_PASSPHRASE: 'usb' } })).code, 0)
  const all = await bob.pk(['push', '--all', usb], { env: { POLYKEY_TARGET_PASSPHRASE: 'usb' } })
  assert.equal(all.code, 0, all.stderr)
  assert.equal((await run(['secret', 'get', 'deploy/added-in-mount'], { node: usb, env: { POLYKEY_PASSPHRASE: 'usb' } })).out, 'from the mount')

  // bob serves from the mount; alice pulls from him
  const fromMount = await serve(t, bob.node, [], { POLYKEY_PASSPHRASE: undefined })
  await bob.pkOk(['share', 'deploy', 'alice'])
  await alice.ok(['peer', 'rm', 'bob'])
  await alice.ok(['peer', 'add', 'bob', bobId, fromMount.address])
  fs.writeFileSync(bob.repo('deploy', 'token'), 'v3-from-mount')
  await bob.waitLog('deploy', (log) => log[0] === 'update token')
  assert.match(await alice.ok(['pull', 'bob', 'deploy']), /fast-forward/)
  assert.equal(await alice.ok(['secret', 'get', 'deploy/token']), 'v3-from-mount')

  // interrupting that `polykey serve` stops the serving inside the mount process
  await fromMount.stop()
  await waitFor('the mount to stop serving', async () => !(await portOpen(fromMount.address)), 5000)
  assert.ok(bob.mounted())
  await bob.unmount()
})
