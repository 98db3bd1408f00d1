// A peer that lies gets nothing and changes nothing. Lying servers (a fake alice in this process,
// holding alice's real key and data, answering bob's real `polykey pull`) and lying clients (a
// fake bob speaking to alice's real `polykey serve`): wrong key, bad and oversize messages, a
// corrupt pack, objects that do not hash to the ids they are sent as, a tree that escapes the
// repository, a ref update that drops history. Each cuts the connection with a clear error, and
// the node on the receiving side is byte-for-byte what it was.
import test from 'node:test'
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import fs from 'node:fs'
import { makeNode, serve } from './sync-helpers.js'
import { PASS } from '../helpers.js'
import { OpenNode } from '../../src/vault/node.js'
import { signingKeyPair } from '../../src/crypto/index.js'
import { listenTcp, connectTcp } from '../../src/sync/transport.js'
import { Channel } from '../../src/sync/channel.js'
import { encodeMessage, type Message } from '../../src/sync/wire.js'
import { packFor } from '../../src/sync/repo-ops.js'
import { buildPack, parsePack, type PackObject } from '../../src/sync/pack.js'
import { entryHeader, ofsDistance, storedZlib } from '../../src/git/pack.js'
import { encodeCommit, encodeObject, encodeTree } from '../../src/git/objects.js'
import { parseAddress } from '../../src/sync/peers.js'
import { encodeSignedCommit } from '../../src/git/signature.js'
import { sshSign } from '../../src/crypto/sshsig.js'

type Mode =
  | 'honest'
  | 'not-json'
  | 'oversize'
  | 'huge-pack'
  | 'corrupt-pack'
  | 'wrong-ids'
  | 'evil-tree'
  | 'wrong-type'
  | 'delta-beyond-base'
  | 'delta-wrong-size'
  | 'delta-self'
  | 'delta-outside'
  | 'delta-mid-entry'
  | 'delta-deep'
  | 'ref-delta'

/** A pack of hand-made entries (header, entries, SHA-1): for deltas no honest peer sends. */
function rawPack(entries: Buffer[]): Buffer {
  const head = Buffer.alloc(12)
  head.write('PACK')
  head.writeUInt32BE(2, 4)
  head.writeUInt32BE(entries.length, 8)
  const body = Buffer.concat([head, ...entries])
  return Buffer.concat([body, crypto.createHash('sha1').update(body).digest()])
}
const wholeEntry = (type: number, content: Buffer) => Buffer.concat([entryHeader(type, content.length), storedZlib(content)])
const ofsEntry = (distance: number, delta: Buffer) => Buffer.concat([entryHeader(6, delta.length), ofsDistance(distance), storedZlib(delta)])
/** A delta: base size, result size (varints), then instructions. */
function deltaOf(base: number, result: number, ops: number[]): Buffer {
  const v = (n: number) => {
    const out: number[] = []
    do {
      out.push((n & 0x7f) | (n > 0x7f ? 0x80 : 0))
      n >>>= 7
    } while (n)
    return out
  }
  return Buffer.from([...v(base), ...v(result), ...ops])
}
/** copy(offset, size) with four offset and three size bytes */
const copyOp = (off: number, size: number) => [0xff, off & 0xff, (off >> 8) & 0xff, (off >> 16) & 0xff, off >>> 24, size & 0xff, (size >> 8) & 0xff, size >> 16]

const open = (node: string) => OpenNode.open(node, { passphrase: Buffer.from(PASS) })

/** A fake alice: alice's identity and data, answering fetches as `mode` says. */
async function fakeAlice(t: { after(fn: () => Promise<void>): void }, aliceNode: string, mode: () => Mode) {
  const n = await open(aliceNode)
  const keys = n.identity().keys
  n.close()
  const l = await listenTcp(
    { host: '127.0.0.1', port: 0 },
    keys,
    (s) => {
      const ch = new Channel(s, 'bob')
      void (async () => {
        for (;;) {
          const m = await ch.recv().catch(() => null)
          if (!m) return
          if (m.t === 'fetch') await answerFetch(ch, s, m, aliceNode, mode())
        }
      })()
    },
    () => {},
  )
  t.after(() => l.close())
  return `127.0.0.1:${l.address.port}`
}

async function answerFetch(ch: Channel, s: { write(b: Buffer): boolean }, m: Extract<Message, { t: 'fetch' }>, aliceNode: string, mode: Mode) {
  const n = await open(aliceNode)
  const real = packFor(n.vault, m.repo, m.haves)
  const head = real.head!
  const tip = n.vault.git(m.repo).readCommit(head)
  n.close()
  const send = (pack: Buffer, announced = head) => ch.sendWithData({ t: 'pack', repo: m.repo, head: announced, bytes: pack.length }, pack)
  const objects = parsePack(real.pack).map((o) => ({ type: o.type, content: o.content }) as PackObject)
  const withObjects = (objs: PackObject[]) => buildPack(objs).pack
  switch (mode) {
    case 'honest':
      return send(real.pack)
    case 'not-json': {
      const body = Buffer.from('\x01{this is not json')
      const h = Buffer.alloc(4)
      h.writeUInt32BE(body.length)
      s.write(Buffer.concat([h, body]))
      return
    }
    case 'oversize': {
      const h = Buffer.alloc(5)
      h.writeUInt32BE(50 * 1024 * 1024)
      h.writeUInt8(1, 4)
      s.write(h)
      return
    }
    case 'huge-pack':
      ch.send({ t: 'pack', repo: m.repo, head, bytes: 300 * 1024 * 1024 })
      return
    case 'corrupt-pack': {
      const p = Buffer.from(real.pack)
      p[Math.floor(p.length / 2)] ^= 0x20
      return send(p)
    }
    case 'wrong-ids': {
      // The announced head is the real one, but the commit sent in its place says something else.
      const forged = objects.map((o) => (o.type === 'commit' ? { type: o.type, content: Buffer.from(o.content.toString().replace(/\n\n/, '\n\nforged ')) } : o))
      return send(withObjects(forged as PackObject[]))
    }
    case 'evil-tree': {
      // A well-formed pack whose tree tries to write outside the repository.
      const blob = { type: 'blob' as const, content: Buffer.from('pwned') }
      const tree = { type: 'tree' as const, content: encodeTree([{ mode: '100644', name: '..', oid: encodeObject('blob', blob.content).oid }]) }
      const commit = {
        type: 'commit' as const,
        content: encodeCommit({ tree: encodeObject('tree', tree.content).oid, parents: [head], author: { ...tip.author }, message: 'evil\n' }),
      }
      return send(withObjects([commit, tree, blob]), encodeObject('commit', commit.content).oid)
    }
    case 'delta-beyond-base':
    case 'delta-wrong-size':
    case 'delta-self':
    case 'delta-outside':
    case 'delta-mid-entry':
    case 'delta-deep':
    case 'ref-delta': {
      // A real tree sent whole, then a delta against it that no honest peer would send.
      const tree = objects.find((o) => o.type === 'tree')!.content
      const first = wholeEntry(2, tree)
      const L = tree.length
      const copyAll = deltaOf(L, L, copyOp(0, L))
      const second = {
        'delta-beyond-base': () => [ofsEntry(first.length, deltaOf(L, L + 10, copyOp(0, L + 10)))],
        'delta-wrong-size': () => [ofsEntry(first.length, deltaOf(L, L + 5, copyOp(0, L)))],
        // OFS_DELTA can only point back: at itself is the nearest thing to "forward"
        'delta-self': () => [ofsEntry(0, copyAll)],
        'delta-outside': () => [ofsEntry(first.length + 100, copyAll)],
        'delta-mid-entry': () => [ofsEntry(first.length - 3, copyAll)],
        'delta-deep': () => {
          // blobs, each the one before plus a byte: all different, each within every limit but depth
          const chain: Buffer[] = [wholeEntry(3, Buffer.from('x'))]
          for (let i = 1; i <= 51; i++) chain.push(ofsEntry(chain[i - 1].length, deltaOf(i, i + 1, [...copyOp(0, i), 1, 0x79])))
          return chain
        },
        'ref-delta': () => [Buffer.concat([entryHeader(7, copyAll.length), Buffer.from(encodeObject('tree', tree).oid, 'hex'), storedZlib(copyAll)])],
      }[mode]()
      return send(rawPack([first, ...second]))
    }
    case 'wrong-type': {
      // The "tree" a commit names is really a blob.
      const blob = { type: 'blob' as const, content: Buffer.from('not a tree') }
      const commit = {
        type: 'commit' as const,
        content: encodeCommit({ tree: encodeObject('blob', blob.content).oid, parents: [head], author: { ...tip.author }, message: 'x\n' }),
      }
      return send(withObjects([commit, blob]), encodeObject('commit', commit.content).oid)
    }
  }
}

test('lying servers: bob pulls from a fake alice and nothing changes', async (t) => {
  const [alice, bob] = await Promise.all([makeNode(t), makeNode(t)])
  await alice.ok(['repo', 'create', 'deploy'])
  await alice.ok(['secret', 'put', 'deploy/key'], { input: 'v1' })
  let mode: Mode = 'honest'
  const fake = await fakeAlice(t, alice.node, () => mode)
  await bob.ok(['peer', 'add', 'alice', alice.id, fake])
  await bob.ok(['clone', 'alice', 'deploy'])
  await alice.ok(['secret', 'put', 'deploy/key'], { input: 'v2' })

  const cases: [Mode, RegExp][] = [
    ['not-json', /peer alice sent a message that is not JSON/],
    ['oversize', /peer alice sent an oversize message \(52428799 bytes; the limit is 65536\)/],
    ['huge-pack', /peer alice announced a 314572800-byte pack; the limit is 268435456/],
    ['corrupt-pack', /peer alice sent a bad pack: (the pack checksum does not match|object \d+ of the pack does not inflate)/],
    ['wrong-ids', /peer alice sent a bad pack: no object in it hashes to commit [0-9a-f]{40} \(the announced head\)/],
    ['evil-tree', /peer alice sent a bad pack: tree [0-9a-f]{40} in the pack does not parse: entry name "\.\." is '\.\.'/],
    ['wrong-type', /peer alice sent a bad pack: object [0-9a-f]{40} is a blob where a tree was expected/],
    ['delta-beyond-base', /peer alice sent a bad pack: object 1 of the pack is a bad delta: the delta copies bytes 0\.\.\d+ of a \d+-byte base/],
    ['delta-wrong-size', /peer alice sent a bad pack: object 1 of the pack is a bad delta: the delta makes \d+ bytes where it declares \d+/],
    ['delta-self', /peer alice sent a bad pack: object 1 of the pack is a delta whose base is not an earlier object of the pack/],
    ['delta-outside', /peer alice sent a bad pack: object 1 of the pack is a delta whose base is not an earlier object of the pack/],
    ['delta-mid-entry', /peer alice sent a bad pack: object 1 of the pack is a delta whose base is not an earlier object of the pack/],
    ['delta-deep', /peer alice sent a bad pack: object 52 of the pack is at the end of a chain of more than 50 deltas/],
    ['ref-delta', /peer alice sent a bad pack: the pack holds a REF_DELTA object/],
  ]
  const before = fs.readFileSync(bob.node)
  for (const [m, expected] of cases) {
    mode = m
    const r = await bob.pk(['pull', 'alice', 'deploy'])
    assert.equal(r.code, 1, `${m}: ${r.stderr}`)
    assert.match(r.stderr, expected, m)
    assert.equal(r.stderr.split('\n').filter(Boolean).length <= 2, true, `${m}: one error line (and maybe a hint): ${r.stderr}`)
    assert.ok(fs.readFileSync(bob.node).equals(before), `${m}: bob's node is unchanged`)
  }
  assert.equal(await bob.ok(['secret', 'get', 'deploy/key']), 'v1')

  // honest again: the same pull works
  mode = 'honest'
  assert.match(await bob.ok(['pull', 'alice', 'deploy']), /fast-forward/)
  assert.equal(await bob.ok(['secret', 'get', 'deploy/key']), 'v2')
})

test('a server with the wrong key gets nothing: not even our identity', async (t) => {
  const [alice, bob] = await Promise.all([makeNode(t), makeNode(t)])
  let connected = 0
  let gotData = false
  const impostor = await listenTcp(
    { host: '127.0.0.1', port: 0 },
    signingKeyPair(),
    (s) => {
      connected++
      s.on('data', () => (gotData = true))
    },
    () => {},
  )
  t.after(() => impostor.close())
  await bob.ok(['peer', 'add', 'alice', alice.id, `127.0.0.1:${impostor.address.port}`])
  const before = fs.readFileSync(bob.node)
  const r = await bob.pk(['clone', 'alice', 'deploy'])
  assert.equal(r.code, 1)
  assert.match(r.stderr, /polykey: error: peer alice at 127\.0\.0\.1:\d+ did not prove it is node [0-9a-f]{16}… \(.*\); nothing was exchanged/)
  assert.equal(connected, 0, 'the impostor never completed a handshake')
  assert.equal(gotData, false)
  assert.ok(fs.readFileSync(bob.node).equals(before))
})

test('lying clients: alice cuts off bad pushes and stays as she was', async (t) => {
  const [alice, bob] = await Promise.all([makeNode(t), makeNode(t)])
  await alice.ok(['repo', 'create', 'deploy'])
  await alice.ok(['secret', 'put', 'deploy/key'], { input: 'v1' })
  await alice.ok(['peer', 'add', 'bob', bob.id, '--owner'])
  await alice.ok(['share', 'deploy', 'bob'])
  const served = await serve(t, alice.node)
  const n = await open(bob.node)
  const bobKeys = n.identity().keys
  n.close()
  const a = await open(alice.node)
  const head = a.vault.git('deploy').head()!
  const tip = a.vault.git('deploy').readCommit(head)
  a.close()

  const newRoot = () => {
    const blob = { type: 'blob' as const, content: Buffer.from('replaced') }
    const tree = { type: 'tree' as const, content: encodeTree([{ mode: '100644', name: 'key', oid: encodeObject('blob', blob.content).oid }]) }
    const commit = {
      type: 'commit' as const,
      content: encodeCommit({ tree: encodeObject('tree', tree.content).oid, parents: [], author: { ...tip.author }, message: 'history? what history?\n' }),
    }
    return { oid: encodeObject('commit', commit.content).oid, pack: buildPack([commit, tree, blob]).pack }
  }
  const child = (extra: Partial<{ corrupt: boolean }> = {}) => {
    const blob = { type: 'blob' as const, content: Buffer.from('v2') }
    const tree = { type: 'tree' as const, content: encodeTree([{ mode: '100644', name: 'key', oid: encodeObject('blob', blob.content).oid }]) }
    // signed by bob, as his node signs every commit it makes
    const content = encodeSignedCommit({ tree: encodeObject('tree', tree.content).oid, parents: [head], author: { ...tip.author }, message: 'v2\n' }, (p) =>
      sshSign(p, bobKeys, 'git'),
    )
    const commit = { type: 'commit' as const, content }
    const pack = buildPack([commit, tree, blob]).pack
    if (extra.corrupt) pack[pack.length - 30] ^= 1
    return { oid: encodeObject('commit', commit.content).oid, pack }
  }

  type Lie = (ch: Channel, s: { write(b: Buffer): boolean }) => Promise<void>
  const lies: [string, Lie, RegExp][] = [
    [
      'drops history',
      async (ch) => {
        const r = newRoot()
        await ch.sendWithData({ t: 'push', repo: 'deploy', old: head, new: r.oid, bytes: r.pack.length }, r.pack)
      },
      /the update of 'deploy' from bob \([0-9a-f]{16}…\) would drop history/,
    ],
    [
      'corrupt pack',
      async (ch) => {
        const r = child({ corrupt: true })
        await ch.sendWithData({ t: 'push', repo: 'deploy', old: head, new: r.oid, bytes: r.pack.length }, r.pack)
      },
      /bob \([0-9a-f]{16}…\) sent a bad pack: /,
    ],
    [
      'pack without its head',
      async (ch) => {
        const r = child()
        const other = newRoot()
        await ch.sendWithData({ t: 'push', repo: 'deploy', old: head, new: r.oid, bytes: other.pack.length }, other.pack)
      },
      /sent a bad pack: no object in it hashes to commit [0-9a-f]{40} \(the announced head\)/,
    ],
    [
      'oversize message',
      async (_ch, s) => {
        const h = Buffer.alloc(5)
        h.writeUInt32BE(0x7fffffff)
        h.writeUInt8(2, 4)
        s.write(h)
      },
      /sent an oversize message \(2147483646 bytes; the limit is 1048576\)/,
    ],
    [
      'bad message',
      async (ch) => {
        ch.send({ t: 'repos', repos: [] } as Message)
      },
      /sent an unexpected 'repos' message/,
    ],
    [
      'malformed message',
      async (_ch, s) => {
        s.write(encodeMessage({ t: 'fetch', repo: '../etc', haves: [] } as Message))
      },
      /sent a malformed 'fetch' message/,
    ],
  ]
  const before = fs.readFileSync(alice.node)
  for (const [name, lie, expected] of lies) {
    const s = await connectTcp(parseAddress(served.address), bobKeys, alice.id, 'peer alice')
    const ch = new Channel(s, 'peer alice', 5000)
    ch.send({ t: 'hello', version: 1 })
    await lie(ch, s)
    // the answer is an error naming the lie, then the connection ends
    await assert.rejects(ch.recv(), (err: Error) => (assert.match(err.message, expected, name), true))
    await assert.rejects(ch.recv(), /closed the connection|failed/, `${name}: the connection is cut`)
    assert.ok(fs.readFileSync(alice.node).equals(before), `${name}: alice's node is unchanged`)
  }
  assert.equal(await alice.ok(['secret', 'get', 'deploy/key']), 'v1')
  assert.equal((served.stderr().match(/cut off bob/g) ?? []).length, lies.length, served.stderr())

  // and an honest push on a fresh connection still works
  const s = await connectTcp(parseAddress(served.address), bobKeys, alice.id, 'peer alice')
  const ch = new Channel(s, 'peer alice', 5000)
  ch.send({ t: 'hello', version: 1 })
  const r = child()
  await ch.sendWithData({ t: 'push', repo: 'deploy', old: head, new: r.oid, bytes: r.pack.length }, r.pack)
  assert.equal((await ch.recv()).t, 'ok')
  ch.close()
  assert.equal(await alice.ok(['secret', 'get', 'deploy/key']), 'v2')
})
