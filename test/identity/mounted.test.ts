// While mounted: `identity claim` signs with the user's key here and has the mount's agent sign
// for the node (no passphrase asked); `peer add github:USER` and `identity verify` run in the
// agent, with the service URLs passed to it from the caller's environment.
import test from 'node:test'
import assert from 'node:assert/strict'
import { NO_FUSE, mountedNode } from '../fuse/mount-helpers.js'
import { fakeServices, sshUser } from './fixtures.js'

test('identities while mounted: claim, peer add, verify, peer list', { skip: NO_FUSE }, async (t) => {
  const svc = await fakeServices(t)
  const alice = await mountedNode(t)
  const bob = await mountedNode(t)
  const aliceId = (await alice.pkOk(['node', 'id'])).trim()
  const key = sshUser(t, 'alice')
  svc.githubKeys('alice', [key.key])
  const claim = await alice.pk(['identity', 'claim', 'github', 'alice', '--ssh-key', key.file], { env: svc.env })
  assert.equal(claim.code, 0, claim.stderr)
  assert.ok(claim.out.includes(`node: ${aliceId}\n`))
  svc.gists('alice', [{ name: 'polykey.txt', path: '/raw/p' }])
  svc.doc('/raw/p', claim.out)
  const add = await bob.pk(['peer', 'add', 'al', 'github:alice'], { env: svc.env })
  assert.equal(add.code, 0, add.stderr)
  assert.match(add.out, new RegExp(`added peer al: node ${aliceId}`))
  assert.match(await bob.pkOk(['peer', 'list']), /identity: github:alice\n/)
  svc.gists('alice', [])
  const v = await bob.pk(['identity', 'verify', 'al'], { env: svc.env })
  assert.equal(v.code, 1)
  assert.match(v.stderr, /al: github:alice no longer holds/)
  assert.match(await bob.pkOk(['peer', 'list']), /NOT verified/)
})
