// Three nodes on loopback, as three people would use them: alice serves and shares `deploy`
// with bob; carol, whom alice does not know, is refused; unshare stops bob; only an owner pushes.
// Also: the bytes on the wire hold no secret (a recording proxy sits between bob and alice).
import test from 'node:test'
import assert from 'node:assert/strict'
import zlib from 'node:zlib'
import { withoutSigner, makeNode, serve, recordingProxy } from './sync-helpers.js'

const SECRET = 'AKIA-very-secret-value-4242'

test('alice shares deploy with bob; carol is refused; unshare stops bob; only owners push', async (t) => {
  const [alice, bob, carol] = await Promise.all([makeNode(t), makeNode(t), makeNode(t)])
  await alice.ok(['repo', 'create', 'deploy'])
  await alice.ok(['repo', 'create', 'private'])
  await alice.ok(['secret', 'put', 'deploy/api-key'], { input: SECRET })
  await alice.ok(['secret', 'put', 'private/diary'], { input: 'dear diary' })
  await alice.ok(['peer', 'add', 'bob', bob.id])
  await alice.ok(['share', 'deploy', 'bob'])

  const peers = JSON.parse(await alice.ok(['peer', 'list', '--json']))
  assert.deepEqual(peers, [{ alias: 'bob', id: bob.id, address: null, owner: false, repos: ['deploy'] }])

  const served = await serve(t, alice.node)
  assert.match(served.address, /^127\.0\.0\.1:\d+$/)
  await bob.ok(['peer', 'add', 'alice', alice.id, served.address])
  await carol.ok(['peer', 'add', 'alice', alice.id, served.address])

  // bob clones the whole history and reads the secret
  const c = await bob.pk(['clone', 'alice', 'deploy'])
  assert.equal(c.code, 0, c.stderr)
  assert.match(c.out, /cloned deploy from alice/)
  assert.equal(await bob.ok(['secret', 'get', 'deploy/api-key']), SECRET)
  const aliceLog = JSON.parse(await alice.ok(['repo', 'log', 'deploy', '--json']))
  assert.deepEqual(withoutSigner(JSON.parse(await bob.ok(['repo', 'log', 'deploy', '--json']))), withoutSigner(aliceLog))

  // what is not shared is invisible to bob: refused exactly like a repository that does not exist
  const p1 = await bob.pk(['clone', 'alice', 'private'])
  assert.equal(p1.code, 1)
  assert.match(p1.stderr, /polykey: error: peer alice: no repository 'private' is shared with you/)
  const p2 = await bob.pk(['clone', 'alice', 'nothing-here'])
  assert.equal(p2.stderr.replace('nothing-here', 'private'), p1.stderr)

  // carol is unknown to alice: refused before any repository is looked at
  const cc = await carol.pk(['clone', 'alice', 'deploy'])
  assert.equal(cc.code, 1)
  assert.match(cc.stderr, /peer alice: refused: node [0-9a-f]{16}… is not one of its peers/)
  assert.equal((await carol.ok(['repo', 'list'])).trim(), '')
  assert.match(served.stderr(), /refused unknown node/)

  // a new commit on alice: bob's pull fast-forwards
  await alice.ok(['secret', 'put', 'deploy/db-url'], { input: 'postgres://x' })
  const pl = await bob.pk(['pull', 'alice', 'deploy'])
  assert.equal(pl.code, 0, pl.stderr)
  assert.match(pl.out, /deploy: fast-forward to [0-9a-f]{12} \(3 objects from alice\)/)
  assert.equal(await bob.ok(['secret', 'get', 'deploy/db-url']), 'postgres://x')
  assert.match(await bob.ok(['pull', 'alice', 'deploy']), /already up to date/)

  // bob is not an owner: his push is refused and alice is unchanged
  await bob.ok(['secret', 'put', 'deploy/api-key'], { input: 'bob was here' })
  const push = await bob.pk(['push', 'deploy', 'alice'])
  assert.equal(push.code, 1)
  assert.match(push.stderr, /peer alice: only owners of this node may push to it/)
  assert.equal(await alice.ok(['secret', 'get', 'deploy/api-key']), SECRET)

  // alice makes bob an owner (re-add): now the push lands, and shows on alice
  await alice.ok(['peer', 'rm', 'bob'])
  assert.deepEqual(JSON.parse(await alice.ok(['peer', 'list', '--json'])), [])
  await alice.ok(['peer', 'add', 'bob', bob.id, '--owner'])
  await alice.ok(['share', 'deploy', 'bob'])
  const push2 = await bob.pk(['push', 'deploy', 'alice'])
  assert.equal(push2.code, 0, push2.stderr)
  assert.match(push2.out, /deploy: pushed [0-9a-f]{12} to alice \(3 objects\)/)
  assert.equal(await alice.ok(['secret', 'get', 'deploy/api-key']), 'bob was here')
  assert.match(await bob.ok(['push', 'deploy', 'alice']), /already up to date/)

  // unshare: bob's next pull is refused, his copy stays as it was
  await alice.ok(['unshare', 'deploy', 'bob'])
  const after = await bob.pk(['pull', 'alice', 'deploy'])
  assert.equal(after.code, 1)
  assert.match(after.stderr, /no repository 'deploy' is shared with you/)
  assert.equal(await bob.ok(['secret', 'get', 'deploy/api-key']), 'bob was here')
  const un = await alice.pk(['unshare', 'deploy', 'bob'])
  assert.equal(un.code, 1)
  assert.match(un.stderr, /'deploy' is not shared with bob/)
})

test('the bytes on the wire hold no secret, no name and no commit id', async (t) => {
  const [alice, bob] = await Promise.all([makeNode(t), makeNode(t)])
  const names = ['wire-repo-name', 'wire-secret-name']
  await alice.ok(['repo', 'create', names[0]])
  await alice.ok(['secret', 'put', `${names[0]}/${names[1]}`], { input: SECRET })
  await alice.ok(['peer', 'add', 'bob', bob.id, '--owner'])
  await alice.ok(['share', names[0], 'bob'])
  const served = await serve(t, alice.node)
  const proxy = await recordingProxy(t, served.address)
  await bob.ok(['peer', 'add', 'alice', alice.id, proxy.address])
  await bob.ok(['clone', 'alice', names[0]])
  await bob.ok(['secret', 'put', `${names[0]}/second`], { input: SECRET + '-2' })
  await bob.ok(['push', names[0], 'alice'])
  assert.equal(await alice.ok(['secret', 'get', `${names[0]}/second`]), SECRET + '-2')

  const wire = proxy.bytes()
  assert.ok(wire.length > 500, 'the proxy saw the traffic')
  const head = JSON.parse(await alice.ok(['repo', 'log', names[0], '--json']))[0].commit as string
  for (const needle of [SECRET, ...names, 'PACK', head, 'fetch', 'push']) {
    assert.equal(wire.indexOf(Buffer.from(needle)), -1, `'${needle}' appears on the wire`)
    assert.equal(wire.indexOf(Buffer.from(needle, 'utf16le')), -1)
  }
  assert.equal(wire.indexOf(Buffer.from(head, 'hex')), -1, 'a binary commit id appears on the wire')
  // Looks encrypted: it does not compress (JSON, git objects and names would, by far).
  const packed = zlib.deflateSync(wire, { level: 9 })
  assert.ok(packed.length > wire.length * 0.97, `the wire compresses to ${packed.length} of ${wire.length} bytes: plaintext?`)
})
