// Offline sharing: `seal REPO PEER > file` on one node, `unseal FILE` on the peer.
import test from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { withoutSigner, makeNode } from './sync-helpers.js'

test('seal to a peer, carry the file, unseal there; nobody else can open it', async (t) => {
  const [alice, bob, carol] = await Promise.all([makeNode(t), makeNode(t), makeNode(t)])
  await alice.ok(['repo', 'create', 'deploy'])
  await alice.ok(['secret', 'put', 'deploy/token'], { input: 'sealed-token-value' })
  await alice.ok(['peer', 'add', 'bob', bob.id])
  const s = await alice.pk(['seal', 'deploy', 'bob'])
  assert.equal(s.code, 0, s.stderr)
  const file = path.join(bob.dir, 'deploy.pkseal')
  fs.writeFileSync(file, s.stdout)
  assert.equal(s.stdout.indexOf(Buffer.from('sealed-token-value')), -1)
  assert.equal(s.stdout.indexOf(Buffer.from('deploy')), -1)

  // bob does not know alice yet: refused unless he says so
  const unknown = await bob.pk(['unseal', file])
  assert.equal(unknown.code, 1)
  assert.match(unknown.stderr, /sealed by node [0-9a-f]{16}…, which is not a known peer/)
  await bob.ok(['peer', 'add', 'alice', alice.id])
  const u = await bob.pk(['unseal', file])
  assert.equal(u.code, 0, u.stderr)
  assert.match(u.out, /cloned deploy from a bundle from alice/)
  assert.equal(await bob.ok(['secret', 'get', 'deploy/token']), 'sealed-token-value')
  assert.deepEqual(withoutSigner(JSON.parse(await bob.ok(['repo', 'log', 'deploy', '--json']))), withoutSigner(JSON.parse(await alice.ok(['repo', 'log', 'deploy', '--json']))))

  // a later bundle brings the new commits into the existing repository
  await alice.ok(['secret', 'put', 'deploy/token'], { input: 'v2' })
  fs.writeFileSync(file, (await alice.pk(['seal', 'deploy', 'bob'])).stdout)
  assert.match(await bob.ok(['unseal', file]), /deploy: fast-forward/)
  assert.equal(await bob.ok(['secret', 'get', 'deploy/token']), 'v2')

  // carol cannot open bob's bundle
  const c = await carol.pk(['unseal', file])
  assert.equal(c.code, 3)
  assert.match(c.stderr, /this bundle is not sealed to this node/)
  // a damaged bundle is caught
  const bad = Buffer.from(fs.readFileSync(file))
  bad[bad.length - 100] ^= 1
  fs.writeFileSync(file, bad)
  assert.notEqual((await bob.pk(['unseal', file])).code, 0)
})
