// Issue 9 item 2: the node lock is on the file, not on one of its names. Two names of one node —
// a symlink, a hard link — used at once must be one lock: concurrent writers through both lose
// no update and leave a node that opens; a mount through one name refuses a mount through the
// other; and a node file replaced under an open writer (renamed over by a sync or restore tool)
// is not written to any more.
import test from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { PASS, newNode, run, tmpdir } from '../helpers.js'
import { NodeFile } from '../../src/archive/nodefile.js'
import { PolykeyError } from '../../src/errors.js'
import { NodeLock } from '../../src/archive/lock.js'
import { cleanStderr, put, buildNode } from '../archive/util.js'
import { NO_FUSE, mountedNode } from '../fuse/mount-helpers.js'

/** `secret put` N times through one name, one after the other. */
async function puts(node: string, prefix: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const r = await run(['secret', 'put', `race/${prefix}${i}`, '--lock-timeout', '60'], { node, input: `${prefix}-value-${i}` })
    assert.equal(r.code, 0, `put ${prefix}${i} through ${path.basename(node)}: ${r.stderr}`)
  }
}

async function twoNames(t: test.TestContext, makeAlias: (node: string, alias: string) => void, n: number): Promise<void> {
  const { dir, node } = await newNode(t)
  assert.equal((await run(['repo', 'create', 'race'], { node })).code, 0)
  const alias = path.join(dir, 'alias.pk')
  makeAlias(node, alias)
  await Promise.all([puts(node, 'n', n), puts(alias, 'a', n)])
  const verify = await run(['verify'], { node })
  assert.equal(verify.code, 0, `the node opens after both writers: ${verify.stderr}`)
  const list = (await run(['secret', 'list', 'race'], { node })).out.split('\n').filter(Boolean)
  assert.equal(list.length, 2 * n, `every put landed: ${list.join(' ')}`)
  for (let i = 0; i < n; i++) {
    assert.equal((await run(['secret', 'get', `race/n${i}`], { node: alias })).out, `n-value-${i}`)
    assert.equal((await run(['secret', 'get', `race/a${i}`], { node })).out, `a-value-${i}`)
  }
  for (const f of fs.readdirSync(dir)) assert.ok(!f.endsWith('.lock'), `no lock file left: ${f}`)
}

test('twenty puts through each of a node and a symlink to it, at once: none is lost, the node opens', async (t) => {
  await twoNames(t, (node, alias) => fs.symlinkSync(path.basename(node), alias), 20)
})

test('puts through each of a node and a hard link to it, at once: none is lost, the node opens', async (t) => {
  await twoNames(t, (node, alias) => fs.linkSync(node, alias), 10)
})

test('a node mounted through one name: a mount through a symlink or a hard link is refused as locked', { skip: NO_FUSE }, async (t) => {
  const s = await mountedNode(t, { seed: { r: { s: 'v' } } })
  const sym = path.join(s.dir, 'sym.pk')
  const hard = path.join(s.dir, 'hard.pk')
  fs.symlinkSync(s.node, sym)
  fs.linkSync(s.node, hard)
  for (const alias of [sym, hard]) {
    const mnt = path.join(s.dir, `mnt-${path.basename(alias)}`)
    const r = await run(['mount', mnt, '--lock-timeout', '0.5'], { node: alias })
    assert.equal(r.code, 1, `mount through ${path.basename(alias)}: ${r.stderr}`)
    // The agent finds the mount by the file's device and inode and says so first; the node lock
    // is the guard below it (next test).
    assert.match(r.stderr, /^polykey: error: (node is locked by |.* is already mounted at )/m)
    assert.ok(cleanStderr(r.stderr), r.stderr)
  }
  await s.unmount()
  assert.equal((await run(['verify'], { node: s.node })).code, 0)
  assert.equal((await run(['secret', 'get', 'r/s'], { node: hard })).out, 'v')
})

test('a node open for writing through one name: a writer through a symlink or a hard link is refused as locked', async (t) => {
  const { dir, node } = await newNode(t)
  const sym = path.join(dir, 'sym.pk')
  const hard = path.join(dir, 'hard.pk')
  fs.symlinkSync(node, sym)
  fs.linkSync(node, hard)
  const before = fs.readFileSync(node)
  const lock = await NodeLock.acquire(node)
  try {
    const viaSym = await run(['repo', 'create', 'x', '--lock-timeout', '0.3'], { node: sym })
    assert.equal(viaSym.code, 1, viaSym.stderr)
    assert.match(viaSym.stderr, new RegExp(`^polykey: error: node is locked by process ${process.pid} on `, 'm'))
    const viaHard = await run(['repo', 'create', 'x', '--lock-timeout', '0.3'], { node: hard })
    assert.equal(viaHard.code, 1, viaHard.stderr)
    assert.match(viaHard.stderr, /^polykey: error: node is locked by another process \(through another name of this node/m)
    assert.ok(cleanStderr(viaHard.stderr), viaHard.stderr)
  } finally {
    lock.release()
  }
  assert.ok(fs.readFileSync(node).equals(before), 'nothing was written while locked')
  assert.equal((await run(['repo', 'create', 'x'], { node: hard })).code, 0, 'and the lock is free once released')
})

test('a node file renamed over while open for writing: the next save is refused, nothing goes to the orphaned file', (t) => {
  const dir = tmpdir(t)
  const node = path.join(dir, 'node.pk')
  buildNode(node, [[put('a', 'one')]])
  const nf = NodeFile.open(node, { passphrase: Buffer.from(PASS) }, { writable: true })
  t.after(() => nf.close())
  nf.commit([put('b', 'two')])
  // A restore tool puts an older copy back by renaming it over the node.
  const restored = path.join(dir, '.restore.tmp')
  buildNode(restored, [[put('a', 'restored')]])
  fs.renameSync(restored, node)
  const before = fs.readFileSync(node)
  assert.throws(
    () => nf.commit([put('c', 'three')]),
    (err: unknown) => err instanceof PolykeyError && err.code === 'CONFLICT' && /was replaced by another file/.test(err.message),
  )
  assert.ok(fs.readFileSync(node).equals(before), 'the file now at the path is untouched')
  fs.rmSync(node)
  assert.throws(
    () => nf.commit([put('c', 'three')]),
    (err: unknown) => err instanceof PolykeyError && /removed or renamed/.test(err.message),
  )
})
