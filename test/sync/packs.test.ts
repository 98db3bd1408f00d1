// What a clone or pull keeps: a big enough pack as it came (and its idx), a small one as loose
// objects (the unpack limit), never objects that nothing reaches; trees travel as deltas. In
// memory between two vaults, then over the network with the CLI and real git reading the export.
import { nodeAuthor } from '../../src/vault/author.js'
import { signingKeyPair } from '../../src/crypto/index.js'
import test from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { spawnSync } from 'node:child_process'
import { makeNode, serve } from './sync-helpers.js'
import { PASS } from '../helpers.js'
import { MemStore } from '../../src/vault/mem-store.js'
import { Vault } from '../../src/vault/vault.js'
import { OpenNode } from '../../src/vault/node.js'
import { VaultRemote, type Remote } from '../../src/sync/remote.js'
import { pull, push } from '../../src/sync/sync.js'
import { packFor } from '../../src/sync/repo-ops.js'
import { buildPack, parsePack } from '../../src/sync/pack.js'
import { UNPACK_LIMIT } from '../../src/sync/incoming.js'
import { decodeTree, encodeCommit, encodeObject, encodeTree } from '../../src/git/objects.js'
import { checkConnected, repoSource } from '../../src/sync/graph.js'
import { readEntryHeader } from '../../src/git/pack.js'

const hasGit = spawnSync('git', ['--version']).status === 0

function memVault(): Vault {
  const s = new MemStore()
  Vault.skeleton(s)
  const kp = signingKeyPair()
  return new Vault(s, nodeAuthor(s, kp.publicKey.toString('hex'), kp))
}
const remoteOf = (v: Vault) =>
  new VaultRemote(
    'alice',
    v,
    () => {},
    () => {},
  )
const commitMany = (v: Vault, repo: string, n: number, from = 0) => {
  for (let i = from; i < from + n; i++) v.secretPut(repo, `s${i % 30}`, Buffer.from(`value ${i}`))
}
const packFiles = (v: Vault, repo: string) => v.store.list(`repos/${repo}/.git/objects/pack`)

test('clone keeps the pack it received (with an idx); a small pull goes loose; a big one is a second pack', async () => {
  const alice = memVault()
  const bob = memVault()
  alice.repoCreate('r')
  commitMany(alice, 'r', 60) // 60 commits, 60 trees, 60 blobs
  const wire = packFor(alice, 'r', [])
  const trees = parsePack(wire.pack).filter((o) => o.type === 'tree')
  assert.equal(trees.length, 60)
  for (const t of trees) assert.deepEqual(t.entries, decodeTree(t.content))
  // (each signed commit carries ~430 bytes of signature that do not compress)
  assert.ok(wire.pack.length < 60 * 30 * 20 + 60 * 450, `trees travel as deltas: ${wire.pack.length} bytes`)
  if (hasGit) gitIndexPack(wire.pack)

  const cl = await pull(bob, remoteOf(alice), 'r', { clone: true })
  assert.equal(cl.objects, 180)
  const g = bob.git('r')
  assert.equal(g.looseCount(), 0)
  assert.deepEqual(packFiles(bob, 'r'), [
    `pack-${wire.pack.subarray(wire.pack.length - 20).toString('hex')}.idx`,
    `pack-${wire.pack.subarray(wire.pack.length - 20).toString('hex')}.pack`,
  ])
  assert.ok(bob.store.readFile(`repos/r/.git/objects/pack/${g.packs()[0].name}.pack`)!.equals(wire.pack), 'the pack as it came')
  assert.deepEqual(bob.repoLog('r'), alice.repoLog('r'))
  assert.equal(bob.secretGet('r', 's7').toString(), 'value 37')

  // one commit: three loose objects, the pack stays alone
  alice.secretPut('r', 's1', Buffer.from('new'))
  const p1 = await pull(bob, remoteOf(alice), 'r')
  assert.equal(p1.objects, 3)
  assert.equal(bob.git('r').looseCount(), 3)
  assert.equal(packFiles(bob, 'r').length, 2)

  // many commits (≥ the unpack limit): a second pack
  commitMany(alice, 'r', 40, 100)
  const p2 = await pull(bob, remoteOf(alice), 'r')
  assert.ok(p2.objects >= UNPACK_LIMIT, String(p2.objects))
  assert.equal(packFiles(bob, 'r').length, 4)
  assert.equal(bob.git('r').packs().length, 2)
  assert.deepEqual(bob.repoLog('r'), alice.repoLog('r'))
  assert.equal(bob.secretGet('r', 's19').toString(), 'value 139')

  // and back: a push of many commits is kept as a pack on the other side
  commitMany(bob, 'r', 50, 200)
  const ps = await push(bob, remoteOf(alice), 'r')
  assert.equal(ps.result, 'pushed')
  assert.ok(alice.git('r').packs().length >= 1)
  assert.deepEqual(alice.repoLog('r'), bob.repoLog('r'))
})

test('a pack with objects that nothing here reaches is not kept as it is: only what is needed is', async () => {
  const alice = memVault()
  const bob = memVault()
  alice.repoCreate('r')
  commitMany(alice, 'r', 50)
  const stray = { type: 'blob' as const, content: Buffer.from('nobody points at me') }
  const strayOid = encodeObject('blob', stray.content).oid
  const real = packFor(alice, 'r', [])
  const padded = buildPack([...parsePack(real.pack), stray], { deltas: true }).pack
  const liar: Remote = Object.assign(remoteOf(alice), { fetch: async () => ({ head: real.head, pack: padded }) })
  const cl = await pull(bob, liar, 'r', { clone: true })
  assert.equal(cl.objects, 150)
  const g = bob.git('r')
  assert.equal(g.hasObject(strayOid), false, 'the stray object was dropped')
  assert.equal(g.packs().length, 1)
  assert.equal(g.packs()[0].count, 150)
  assert.notEqual(g.packs()[0].name, `pack-${padded.subarray(padded.length - 20).toString('hex')}`)
  assert.deepEqual(bob.repoLog('r'), alice.repoLog('r'))

  // objects already here are not strays: the pack is kept as it came (as git keeps duplicates)
  const bob2 = memVault()
  await pull(bob2, remoteOf(alice), 'r', { clone: true })
  commitMany(alice, 'r', 40, 50)
  const whole = packFor(alice, 'r', []) // everything, though bob2 has most of it
  await pull(bob2, Object.assign(remoteOf(alice), { fetch: async () => ({ head: whole.head, pack: whole.pack }) }), 'r')
  assert.ok(
    bob2
      .git('r')
      .packs()
      .some((p) => p.name === `pack-${whole.pack.subarray(whole.pack.length - 20).toString('hex')}`),
  )
  assert.deepEqual(bob2.repoLog('r'), alice.repoLog('r'))
})

/** Real git takes the pack: `git index-pack --strict` in a scratch bare repository. */
function gitIndexPack(pack: Buffer): void {
  const dir = fs.mkdtempSync(path.join(fs.realpathSync('/tmp'), 'pk-idxpack-'))
  try {
    assert.equal(git(dir, 'init', '-q', '--bare').code, 0)
    const r = spawnSync('git', ['index-pack', '--strict', '--stdin'], { cwd: dir, input: pack })
    assert.equal(r.status, 0, `git index-pack --strict: ${r.stderr}`)
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

function git(cwd: string, ...args: string[]) {
  const r = spawnSync('git', args, {
    cwd,
    encoding: 'utf8',
    maxBuffer: 1 << 26,
    env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', HOME: cwd, LC_ALL: 'C' },
  })
  return { code: r.status ?? 1, out: r.stdout, err: r.stderr }
}

/** `polykey export tar` of a node, unpacked; returns the path of one repository in it. */
async function exported(
  node: { ok(args: string[]): Promise<string>; pk(args: string[]): Promise<{ code: number; stdout: Buffer; stderr: string }>; dir: string },
  repo: string,
  tag: string,
): Promise<string> {
  const r = await node.pk(['export', 'tar'])
  assert.equal(r.code, 0, r.stderr)
  const out = path.join(node.dir, `export-${tag}`)
  fs.mkdirSync(out)
  assert.equal(spawnSync('tar', ['-x', '-C', out], { input: r.stdout }).status, 0)
  return path.join(out, 'repos', repo)
}

test('clone over the network, then pull: real git reads what was stored (fsck --strict, verify-pack, log)', { skip: !hasGit && 'git is not installed' }, async (t) => {
  const [alice, bob] = await Promise.all([makeNode(t), makeNode(t)])
  // a history of 150 commits, made directly (the CLI would take a process per commit)
  const n = await OpenNode.open(alice.node, { passphrase: Buffer.from(PASS) }, { write: true })
  try {
    n.vault.repoCreate('deploy')
    commitMany(n.vault, 'deploy', 150)
    n.save()
  } finally {
    n.close()
  }
  await alice.ok(['peer', 'add', 'bob', bob.id])
  await alice.ok(['share', 'deploy', 'bob'])
  const served = await serve(t, alice.node)
  await bob.ok(['peer', 'add', 'alice', alice.id, served.address])
  assert.match(await bob.ok(['clone', 'alice', 'deploy']), /cloned deploy from alice \(450 objects, at [0-9a-f]{12}\)/)

  const check = async (tag: string, commits: number) => {
    const repo = await exported(bob, 'deploy', tag)
    const fsck = git(repo, 'fsck', '--full', '--strict', '--no-dangling')
    assert.equal(fsck.code, 0, fsck.err + fsck.out)
    const idx = fs.readdirSync(path.join(repo, '.git', 'objects', 'pack')).filter((f) => f.endsWith('.idx'))
    assert.equal(idx.length, 1)
    const vp = git(repo, 'verify-pack', '-v', path.join('.git', 'objects', 'pack', idx[0]))
    assert.equal(vp.code, 0, vp.err)
    assert.match(vp.out, /chain length = 1: /, 'trees are stored as deltas')
    assert.equal(git(repo, 'rev-list', '--count', 'HEAD').out.trim(), String(commits))
    assert.equal(git(repo, 'status', '--porcelain').out, '')
    return repo
  }
  await check('clone', 150)
  await alice.ok(['secret', 'put', 'deploy/s3'], { input: 'changed' })
  assert.match(await bob.ok(['pull', 'alice', 'deploy']), /fast-forward to [0-9a-f]{12} \(3 objects from alice\)/)
  const repo = await check('pull', 151)
  assert.equal(git(repo, 'show', 'HEAD:s3').out, 'changed')
  assert.equal(git(repo, 'count-objects').out.split(' ')[0], '3', 'the pulled commit is loose')
  assert.equal(await bob.ok(['secret', 'get', 'deploy/s4']), 'value 124')
})

test("git's own packs, with its deltas (OFS_DELTA, any copy/insert mix), parse and check here", { skip: !hasGit && 'git is not installed' }, (t) => {
  const dir = fs.mkdtempSync(path.join(fs.realpathSync('/tmp'), 'pk-gitdelta-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  assert.equal(git(dir, 'init', '-q').code, 0)
  for (let c = 0; c < 30; c++) {
    for (let f = 0; f < 50; f++)
      if (c === 0 || f % 7 === c % 7) fs.writeFileSync(path.join(dir, `secret-${f}`), `value ${f} ${c} ${'long enough to be worth a delta '.repeat(f % 5)}\n`)
    git(dir, 'add', '-A')
    assert.equal(git(dir, '-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-qm', `c${c}`).code, 0)
  }
  const pack = spawnSync('git', ['pack-objects', '--revs', '--stdout', '--delta-base-offset', '--window=50', '--depth=50'], {
    cwd: dir,
    input: 'HEAD\n',
    maxBuffer: 1 << 26,
  }).stdout
  const objects = parsePack(pack)
  const want = git(dir, 'rev-list', '--objects', 'HEAD')
    .out.trim()
    .split('\n')
    .map((l) => l.slice(0, 40))
    .sort()
  assert.deepEqual(objects.map((o) => o.oid).sort(), want)
  // entries reused from the tree before (told by git's deltas what they share) are the right ones
  for (const o of objects) if (o.type === 'tree') assert.deepEqual(o.entries, decodeTree(o.content))
  // git made deltas of this history (else the test proves nothing)
  const deltas = objects.filter((o) => readEntryHeader(pack, o.offset, pack.length - 20).code === 6)
  assert.ok(deltas.some((o) => o.type === 'tree') && deltas.some((o) => o.type === 'blob'), `${deltas.length} deltas`)
})

test('a tree that shares entries with a tree nothing reaches still has every blob it names checked', () => {
  const blob = (s: string) => ({ type: 'blob' as const, content: Buffer.from(s) })
  const x = blob('x is never sent')
  const y = blob('y')
  const entry = (name: string, b: { content: Buffer }) => ({ mode: '100644', name, oid: encodeObject('blob', b.content).oid })
  const t1 = { type: 'tree' as const, content: encodeTree([entry('a', x)]) } // reaches nothing
  const t2 = { type: 'tree' as const, content: encodeTree([entry('a', x), entry('b', y)]) } // a delta of t1: 'a' is reused
  const commit = {
    type: 'commit' as const,
    content: encodeCommit({ tree: encodeObject('tree', t2.content).oid, parents: [], author: { name: 't', email: 't@t', timestamp: 1, tz: '+0000' }, message: 'm\n' }),
  }
  const pack = buildPack([commit, t1, t2, y], { deltas: true }).pack
  const objects = parsePack(pack)
  const t2p = objects.find((o) => o.oid === encodeObject('tree', t2.content).oid)!
  assert.equal(t2p.after?.oid, encodeObject('tree', t1.content).oid, 't2 reuses entries of t1')
  assert.deepEqual(
    t2p.fresh?.map((e) => e.name),
    ['b'],
  )
  assert.throws(
    () => checkConnected(new Map(objects.map((o) => [o.oid, o])), repoSource(null), encodeObject('commit', commit.content).oid),
    new RegExp(`no object in it hashes to blob ${entry('a', x).oid} \\('a' in`),
  )
})

test('a clone reuses the stored packs as they are, with the loose objects after them; an object kept twice falls back to building', async () => {
  const alice = memVault()
  alice.repoCreate('r')
  commitMany(alice, 'r', 130) // 390 objects: auto-packing has run, the newest are loose
  alice.secretPut('r', 's0', Buffer.from('value 0')) // a blob already in a pack, now written loose again
  const g = alice.git('r')
  assert.ok(g.packs().length >= 1 && g.looseCount() > 0, `packs ${g.packs().length}, loose ${g.looseCount()}`)
  const wire = packFor(alice, 'r', [])
  for (const p of g.packs()) {
    const raw = p.raw()
    assert.ok(wire.pack.includes(raw.subarray(12, raw.length - 20)), `${p.name} travels byte for byte`)
  }
  const objects = parsePack(wire.pack) // each object once, deltas resolved, ids checked
  assert.equal(objects.length, wire.count)
  const bob = memVault()
  const cl = await pull(bob, remoteOf(alice), 'r', { clone: true })
  assert.equal(cl.head, g.head())
  assert.deepEqual(
    bob
      .git('r')
      .log()
      .map((e) => e.commit),
    g.log().map((e) => e.commit),
  )
  assert.equal(bob.secretGet('r', 's0').toString(), 'value 0')
  if (hasGit) gitIndexPack(wire.pack)
  // the same objects in two packs: not reusable as one pack, built object by object instead
  const head = g.readObject(g.head()!)
  const dup = buildPack([
    { type: 'commit', content: head.content },
    { type: 'blob', content: Buffer.from('value 0') },
  ])
  g.addPack(
    dup.pack,
    parsePack(dup.pack).map((o) => ({ oid: o.oid, offset: o.offset, end: o.end })),
  )
  assert.equal(g.wholePack(), null)
  const built = packFor(alice, 'r', [])
  assert.equal(parsePack(built.pack).length, built.count)
  const bob2 = memVault()
  assert.equal((await pull(bob2, remoteOf(alice), 'r', { clone: true })).head, g.head())
})
