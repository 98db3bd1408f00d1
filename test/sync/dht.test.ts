// Nodes across networks: a peer added without an address is found by node id through the DHT.
// A hyperdht testnet on loopback stands in for the public bootstrap nodes.
import test from 'node:test'
import assert from 'node:assert/strict'
import createTestnet from 'hyperdht/testnet.js'
import { makeNode, serve } from './sync-helpers.js'

test('bob finds alice by node id alone through the DHT', async (t) => {
  const testnet = await createTestnet(3, { host: '127.0.0.1' })
  t.after(() => testnet.destroy())
  const env = { POLYKEY_DHT_BOOTSTRAP: testnet.bootstrap.map((b) => `${b.host}:${b.port}`).join(',') }
  const [alice, bob, carol] = await Promise.all([makeNode(t), makeNode(t), makeNode(t)])
  await alice.ok(['repo', 'create', 'deploy'])
  await alice.ok(['secret', 'put', 'deploy/token'], { input: 'found-through-the-dht' })
  await alice.ok(['peer', 'add', 'bob', bob.id])
  await alice.ok(['share', 'deploy', 'bob'])
  const served = await serve(t, alice.node, ['--dht'], env)
  assert.match(served.stderr(), /serving on 127\.0\.0\.1:\d+ and on the DHT/)

  await bob.ok(['peer', 'add', 'alice', alice.id])
  assert.match(await bob.ok(['peer', 'list']), /alice\t[0-9a-f]{64}\t\(dht\)/)
  const c = await bob.pk(['clone', 'alice', 'deploy'], { env })
  assert.equal(c.code, 0, c.stderr)
  assert.equal(await bob.ok(['secret', 'get', 'deploy/token']), 'found-through-the-dht')

  // the same access rules hold over the DHT: carol is refused
  await carol.ok(['peer', 'add', 'alice', alice.id])
  const cc = await carol.pk(['clone', 'alice', 'deploy'], { env })
  assert.equal(cc.code, 1)
  assert.match(cc.stderr, /peer alice: refused: node [0-9a-f]{16}… is not one of its peers/)

  // a node nobody announces is not found (bounded wait)
  await bob.ok(['peer', 'add', 'ghost', carol.id])
  const g = await bob.pk(['pull', 'ghost', 'deploy'], { env: { ...env, POLYKEY_SYNC_TIMEOUT: '5' } })
  assert.equal(g.code, 1)
  assert.match(g.stderr, /cannot reach peer ghost through the DHT/)
})
