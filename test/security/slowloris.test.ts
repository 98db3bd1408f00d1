// Issue 9 item 9: idle connections that never finish their handshake (slowloris) must not lock
// real peers out of `serve`, and a server that is full says "busy" — never "did not prove it is
// node …", which reads as an impostor.
import test from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import { makeNode, serve } from '../sync/sync-helpers.js'

function idleCrowd(t: { after(fn: () => void): void }, address: string, n: number, localAddress: string): Promise<net.Socket[]> {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))]
  const socks: net.Socket[] = []
  t.after(() => socks.forEach((s) => s.destroy()))
  return Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<net.Socket>((resolve) => {
          const s = net.connect({ host, port, localAddress })
          s.on('error', () => {})
          s.once('connect', () => resolve(s))
          s.once('close', () => resolve(s))
          socks.push(s)
        }),
    ),
  )
}

test('64 idle connections from elsewhere do not keep a real peer from pulling', async (t) => {
  const [alice, bob] = await Promise.all([makeNode(t), makeNode(t)])
  await alice.ok(['repo', 'create', 'deploy'])
  await alice.ok(['secret', 'put', 'deploy/key'], { input: 'v1' })
  await alice.ok(['peer', 'add', 'bob', bob.id])
  await alice.ok(['share', 'deploy', 'bob'])
  const served = await serve(t, alice.node)
  await bob.ok(['peer', 'add', 'alice', alice.id, served.address])
  await idleCrowd(t, served.address, 64, '127.0.0.2') // all of 127/8 is loopback: another address
  const c = await bob.pk(['clone', 'alice', 'deploy'])
  assert.equal(c.code, 0, c.stderr)
  assert.equal(await bob.ok(['secret', 'get', 'deploy/key']), 'v1')
})

test('a crowd from the same address: the peer is told the server is busy (or gets in once it clears), never that it is an impostor', async (t) => {
  const [alice, bob] = await Promise.all([makeNode(t), makeNode(t)])
  await alice.ok(['repo', 'create', 'deploy'])
  await alice.ok(['secret', 'put', 'deploy/key'], { input: 'v1' })
  await alice.ok(['peer', 'add', 'bob', bob.id])
  await alice.ok(['share', 'deploy', 'bob'])
  const served = await serve(t, alice.node)
  await bob.ok(['peer', 'add', 'alice', alice.id, served.address])
  await idleCrowd(t, served.address, 64, '127.0.0.1')
  const c = await bob.pk(['clone', 'alice', 'deploy'])
  if (c.code !== 0)
    assert.match(c.stderr, /^polykey: error: peer alice at 127\.0\.0\.1:\d+ is busy \(too many connections right now\); nothing was exchanged\npolykey: hint: try again/)
  assert.ok(!/did not prove/.test(c.stderr), c.stderr)
  // The idle ones are cut after the server's handshake deadline: then there is room again.
  await new Promise((r) => setTimeout(r, 3500))
  const again = await bob.pk(['clone', 'alice', 'deploy', 'deploy2'])
  assert.equal(again.code, 0, again.stderr)
})
