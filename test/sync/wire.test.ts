// The pure parts of sharing: frame and message codecs (each parser test has a twin that feeds
// the bytes in small chunks), packfiles (real git reads ours), sealed bundles, and the whole
// protocol between two in-memory vaults over a secret-stream pair (no network).
import { nodeAuthor } from '../../src/vault/author.js'
import test from 'node:test'
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { execFileSync } from 'node:child_process'
import SecretStream from '@hyperswarm/secret-stream'
import { FrameDecoder, MAX_CHUNK, MAX_MESSAGE, encodeData, encodeMessage, type Frame, type Message } from '../../src/sync/wire.js'
import { buildPack, parsePack } from '../../src/sync/pack.js'
import { encodeObject } from '../../src/git/objects.js'
import { sealBundle, openBundle } from '../../src/sync/seal.js'
import { signingKeyPair } from '../../src/crypto/index.js'
import { MemStore } from '../../src/vault/mem-store.js'
import { Vault } from '../../src/vault/vault.js'
import { Channel } from '../../src/sync/channel.js'
import { NetRemote } from '../../src/sync/remote.js'
import { serveSession } from '../../src/sync/server.js'
import { pull, push } from '../../src/sync/sync.js'
import { addPeer, loadPeers, savePeers, share } from '../../src/sync/peers.js'
import { tmpdir } from '../helpers.js'
import { PolykeyError } from '../../src/errors.js'

const messages: Message[] = [
  { t: 'hello', version: 1 },
  { t: 'list' },
  {
    t: 'repos',
    repos: [
      { name: 'deploy', head: 'a'.repeat(40) },
      { name: 'empty', head: null },
    ],
  },
  { t: 'fetch', repo: 'deploy', haves: ['b'.repeat(40)] },
  { t: 'pack', repo: 'deploy', head: 'c'.repeat(40), bytes: 1234 },
  { t: 'push', repo: 'deploy', old: null, new: 'd'.repeat(40), bytes: 0 },
  { t: 'tags', repo: 'deploy', members: [{ tag: 'prod', name: 'key' }] },
  { t: 'ok' },
  { t: 'error', code: 'REFUSED', message: 'no' },
]

function decodeAll(bytes: Buffer, chunk: number): Frame[] {
  const d = new FrameDecoder()
  const out: Frame[] = []
  for (let i = 0; i < bytes.length; i += chunk) out.push(...d.push(bytes.subarray(i, i + chunk)))
  return out
}

test('frames: every message and data chunk round-trips, whole and in 1..7-byte pieces', () => {
  const data = Buffer.from(Array.from({ length: 3000 }, (_, i) => i & 255))
  const bytes = Buffer.concat([...messages.map(encodeMessage), encodeData(data), encodeData(Buffer.alloc(0))])
  for (const chunk of [bytes.length, 1, 2, 3, 5, 7]) {
    const frames = decodeAll(bytes, chunk)
    assert.deepEqual(
      frames.slice(0, messages.length).map((f) => (f as { message: Message }).message),
      messages,
    )
    assert.ok((frames[messages.length] as { data: Buffer }).data.equals(data))
    assert.equal((frames[messages.length + 1] as { data: Buffer }).data.length, 0)
  }
})

function rejects(bytes: Buffer, reason: string, re: RegExp) {
  for (const chunk of [bytes.length, 1, 3]) {
    assert.throws(
      () => decodeAll(bytes, chunk),
      (err: PolykeyError) => err.code === 'PEER' && err.data.reason === reason && re.test(err.message),
      `chunk ${chunk}`,
    )
  }
}
const rawFrame = (len: number, type: number, payload = Buffer.alloc(0)) => {
  const h = Buffer.alloc(5)
  h.writeUInt32BE(len)
  h.writeUInt8(type, 4)
  return Buffer.concat([h, payload])
}

test('frames: oversize, unknown type, bad JSON and bad shapes are refused (whole and in pieces)', () => {
  rejects(rawFrame(MAX_MESSAGE + 2, 1), 'oversize', /oversize message \(65537 bytes; the limit is 65536\)/)
  rejects(rawFrame(MAX_CHUNK + 2, 2), 'oversize', /oversize message/)
  rejects(rawFrame(0xffffffff, 1), 'oversize', /oversize/)
  rejects(rawFrame(3, 9, Buffer.from('xy')), 'bad-frame', /unknown type 9/)
  rejects(rawFrame(0, 1), 'bad-frame', /empty frame/)
  const msg = (s: string) => rawFrame(Buffer.byteLength(s) + 1, 1, Buffer.from(s))
  rejects(msg('{nope'), 'bad-message', /not JSON/)
  rejects(msg('[1,2]'), 'bad-message', /without a type/)
  rejects(msg('{"t":"steal"}'), 'bad-message', /malformed 'steal'/)
  for (const bad of [
    { t: 'fetch', repo: '../x', haves: [] },
    { t: 'fetch', repo: 'x', haves: ['zz'] },
    { t: 'fetch', repo: 'x', haves: Array(257).fill('a'.repeat(40)) },
    { t: 'fetch', repo: '.git', haves: [] },
    { t: 'pack', repo: 'x', head: null, bytes: -1 },
    { t: 'pack', repo: 'x', head: null, bytes: 1.5 },
    { t: 'push', repo: 'x', old: 'a'.repeat(40), new: 'A'.repeat(40), bytes: 1 },
    { t: 'tags', repo: 'x', members: [{ tag: 'a/b', name: 'k' }] },
    { t: 'repos', repos: [{ name: '', head: null }] },
    { t: 'hello' },
  ])
    rejects(msg(JSON.stringify(bad)), 'bad-message', /malformed/)
  // a decoder that failed stays failed
  const d = new FrameDecoder()
  assert.throws(() => d.push(msg('{nope')))
  assert.throws(() => d.push(encodeMessage({ t: 'ok' })))
})

test('packs: what we build, real git indexes; what we parse is checked', (t) => {
  const objs = [
    { type: 'blob' as const, content: Buffer.from('hello\n') },
    { type: 'blob' as const, content: Buffer.alloc(70000, 7) },
    { type: 'tree' as const, content: Buffer.concat([Buffer.from('100644 a\0'), Buffer.from(encodeObject('blob', Buffer.from('hello\n')).oid, 'hex')]) },
  ]
  const { pack, count } = buildPack(objs)
  assert.equal(count, 3)
  const parsed = parsePack(pack)
  assert.deepEqual(
    parsed.map((o) => o.oid),
    objs.map((o) => encodeObject(o.type, o.content).oid),
  )
  const dir = tmpdir(t)
  execFileSync('git', ['init', '-q', '--bare', dir])
  const out = execFileSync('git', ['index-pack', '--stdin', '--strict'], { cwd: dir, input: pack }).toString()
  assert.match(out, /^pack\s+[0-9a-f]{40}/)
  assert.equal(execFileSync('git', ['cat-file', '-p', parsed[0].oid], { cwd: dir }).toString(), 'hello\n')

  // and real git's packs (without deltas) parse here, ids equal
  const gitPack = fs.readdirSync(path.join(dir, 'objects', 'pack')).find((f) => f.endsWith('.pack'))!
  assert.deepEqual(
    parsePack(fs.readFileSync(path.join(dir, 'objects', 'pack', gitPack)))
      .map((o) => o.oid)
      .sort(),
    parsed.map((o) => o.oid).sort(),
  )

  const flip = (i: number) => {
    const p = Buffer.from(pack)
    p[i] ^= 1
    return p
  }
  assert.throws(() => parsePack(flip(20)), /checksum does not match/)
  assert.throws(() => parsePack(pack.subarray(0, 40)), /checksum|truncated|more than it can hold/)
  assert.throws(() => parsePack(Buffer.concat([Buffer.from('PACK'), Buffer.alloc(40)])), /unsupported pack version/)
  const withCount = (n: number) => {
    const body = Buffer.from(pack.subarray(0, pack.length - 20))
    body.writeUInt32BE(n, 8)
    return Buffer.concat([body, crypto.createHash('sha1').update(body).digest()])
  }
  assert.throws(() => parsePack(withCount(4)), /ends before its last object|more than it can hold/)
  assert.throws(() => parsePack(withCount(2)), /bytes after its last object/)
  assert.throws(() => parsePack(withCount(100000)), /more than it can hold/)
  // size limits: a small pack that inflates beyond the ceiling is refused before inflating
  assert.throws(() => parsePack(pack, { maxObjectBytes: 1000, maxTotalBytes: 1 << 30, maxObjects: 10 }), /too large \(70000 bytes\)/)
  // trees: only flat secrets with valid names
  for (const [entry, why] of [
    ['40000 sub', /mode 40000/],
    ['120000 link', /mode 120000/],
    ['100644 .git', /reserved/],
    ['100644 a/b', /contains '\/'/],
    ['100644 ..', /is '\.\.'/],
  ] as const) {
    const tree = Buffer.concat([Buffer.from(`${entry}\0`), Buffer.alloc(20, 1)])
    assert.throws(() => parsePack(buildPack([{ type: 'tree', content: tree }]).pack), why)
  }
  assert.throws(() => parsePack(buildPack([{ type: 'commit', content: Buffer.from('tree nope\n\nmsg\n') }]).pack), /does not parse/)
})

test('sealed bundles: only the recipient opens them, the sender is proven, any flip is caught', () => {
  const alice = signingKeyPair()
  const bob = signingKeyPair()
  const carol = signingKeyPair()
  const pack = buildPack([{ type: 'blob', content: Buffer.from('sealed secret') }]).pack
  const header = { repo: 'deploy', head: null, from: alice.publicKey.toString('hex'), to: bob.publicKey.toString('hex'), created: new Date(0).toISOString() }
  const bundle = sealBundle(header, pack, alice)
  assert.equal(bundle.indexOf(Buffer.from('sealed secret')), -1)
  assert.equal(bundle.indexOf(Buffer.from('deploy')), -1)
  const opened = openBundle(bundle, bob)
  assert.deepEqual(opened.header, header)
  assert.ok(opened.pack.equals(pack))
  assert.throws(
    () => openBundle(bundle, carol),
    (e: PolykeyError) => e.code === 'WRONG_KEY',
  )
  for (const i of [0, 10, bundle.length - 1]) {
    const b = Buffer.from(bundle)
    b[i] ^= 1
    assert.throws(() => openBundle(b, bob), PolykeyError)
  }
  // a bundle made by carol but claiming to be from alice: the signature gives it away
  const forged = sealBundle({ ...header }, pack, carol)
  assert.throws(() => openBundle(forged, bob), /signature does not verify/)
})

// ------------------------------------------------------------------ protocol over a stream pair
function memVault(): { v: Vault; id: string; keys: ReturnType<typeof signingKeyPair> } {
  const store = new MemStore()
  Vault.skeleton(store)
  const keys = signingKeyPair()
  store.writeFile('.polykey/identity', Buffer.from(keys.secretKey))
  const id = keys.publicKey.toString('hex')
  return { v: new Vault(store, nodeAuthor(store, id, keys)), id, keys }
}

function connect(server: ReturnType<typeof memVault>, client: ReturnType<typeof memVault>, log: string[] = []) {
  const a = new SecretStream(true, null, { keyPair: client.keys })
  const b = new SecretStream(false, null, { keyPair: server.keys })
  a.rawStream.pipe(b.rawStream).pipe(a.rawStream)
  let wire = 0
  a.rawStream.on('data', (d: Buffer) => (wire += d.length))
  b.rawStream.on('data', (d: Buffer) => (wire += d.length))
  void b.opened.then(() =>
    serveSession(b, b.remotePublicKey!.toString('hex'), {
      access: { withVault: async (_w, fn) => fn(server.v, null) },
      keys: server.keys,
      log: (m) => log.push(m),
    }),
  )
  const remote = new NetRemote(new Channel(a, 'peer alice', 5000), 'alice')
  return { remote, wire: () => wire }
}

test('protocol in memory: clone, incremental pull (only new objects), push, access rules', async () => {
  const alice = memVault()
  const bob = memVault()
  alice.v.repoCreate('r')
  for (let i = 0; i < 50; i++) alice.v.secretPut('r', `s${i % 10}`, Buffer.from(`value ${i}`))
  const book = loadPeers(alice.v)
  addPeer(book, { alias: 'bob', id: bob.id, owner: true }, alice.id)
  share(book, 'r', book.peers[0])
  savePeers(alice.v, book)
  const bb = loadPeers(bob.v)
  addPeer(bb, { alias: 'alice', id: alice.id, owner: false }, bob.id)
  savePeers(bob.v, bb)

  let c = connect(alice, bob)
  const cl = await pull(bob.v, c.remote, 'r', { clone: true })
  assert.equal(cl.result, 'cloned')
  assert.equal(cl.objects, 50 + 50 + 50) // every commit, tree and (distinct) blob
  assert.deepEqual(bob.v.repoLog('r'), alice.v.repoLog('r'))
  assert.deepEqual(await c.remote.list(), [{ name: 'r', head: alice.v.git('r').head() }])
  await assert.rejects(c.remote.fetch('nope', []), /peer alice: no repository 'nope' is shared with you/)

  // one new commit: three objects travel, a few hundred bytes on the wire
  alice.v.secretPut('r', 's3', Buffer.from('new'))
  const before = c.wire()
  const p = await pull(bob.v, c.remote, 'r')
  assert.equal(p.result, 'fast-forward')
  assert.equal(p.objects, 3)
  assert.ok(c.wire() - before < 2048, `${c.wire() - before} bytes for one commit`)
  assert.equal(bob.v.secretGet('r', 's3').toString(), 'new')

  // bob (an owner) pushes back
  bob.v.secretPut('r', 's4', Buffer.from('from bob'))
  const ps = await push(bob.v, c.remote, 'r')
  assert.equal(ps.result, 'pushed')
  assert.equal(alice.v.secretGet('r', 's4').toString(), 'from bob')
  await c.remote.close()

  // no longer an owner: the push is refused, nothing changes
  const b2 = loadPeers(alice.v)
  b2.peers[0].owner = false
  savePeers(alice.v, b2)
  bob.v.secretPut('r', 'bob-only', Buffer.from('again'))
  c = connect(alice, bob)
  await assert.rejects(push(bob.v, c.remote, 'r'), /only owners of this node may push to it/)
  assert.throws(() => alice.v.secretGet('r', 'bob-only'), /no secret/)
})
