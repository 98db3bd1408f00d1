// What the mount tells the kernel to forget after a change (src/fuse/kernel-cache.ts), without a
// mount: the plan for each kind of change. The real mount test checks the effect.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { MemStore } from '../../src/vault/mem-store.js'
import { KernelCache, planInvalidation } from '../../src/fuse/kernel-cache.js'

function store(): MemStore {
  const s = new MemStore()
  for (const d of ['repos', 'repos/aws', 'repos/aws/.git', 'tags', 'tags/prod', 'tags/dev']) s.mkdir(d)
  s.writeFile('repos/aws/key', Buffer.from('K'))
  s.writeFile('repos/aws/solo', Buffer.from('S'))
  s.link('tags/prod/key', 'repos/aws/key')
  s.link('tags/dev/key', 'repos/aws/key')
  s.takeChanged()
  return s
}

test('a write through one name of a tagged secret: every other name, not the one written', () => {
  const s = store()
  s.writeFile('tags/prod/key', Buffer.from('K2'))
  const plan = planInvalidation(s, s.takeChanged(), new Set(['tags/prod/key']))
  assert.deepEqual(plan.entries, ['repos/aws/key', 'tags/dev/key'])
  assert.deepEqual(plan.inodes, ['repos/aws/key', 'tags/dev/key'])
})

test('an untagged secret written through its own name: nothing to do', () => {
  const s = store()
  s.writeFile('repos/aws/solo', Buffer.from('S2'))
  assert.deepEqual(planInvalidation(s, s.takeChanged(), new Set(['repos/aws/solo'])), { entries: [], inodes: [] })
})

test('a CLI change (nothing excluded): the secret, its tag entries, and folders where names came or went', () => {
  const s = store()
  s.writeFile('repos/aws/key', Buffer.from('new'))
  s.writeFile('repos/aws/fresh', Buffer.from('F'))
  s.writeFile('repos/aws/.git/objects-x', Buffer.from('hidden'))
  const plan = planInvalidation(s, s.takeChanged())
  assert.deepEqual(plan.entries, ['repos/aws/fresh', 'repos/aws/key', 'tags/dev/key', 'tags/prod/key'])
  assert.deepEqual(plan.inodes, ['repos/aws', 'repos/aws/key', 'tags/dev/key', 'tags/prod/key'], 'a new name has nothing cached but its folder')
})

test('removing a tag entry: the link count of the other names changes', () => {
  const s = store()
  s.remove('tags/dev/key')
  const plan = planInvalidation(s, s.takeChanged())
  assert.deepEqual(plan.entries, ['repos/aws/key', 'tags/dev/key', 'tags/prod/key'])
  assert.ok(plan.inodes.includes('tags/dev'), 'its folder')
})

test('a renamed folder: its names go, the subtree with them (nothing below is listed)', () => {
  const s = store()
  s.move('repos/aws', 'repos/amazon')
  const plan = planInvalidation(s, s.takeChanged())
  assert.ok(plan.entries.includes('repos/aws') && plan.entries.includes('repos/amazon'), plan.entries.join())
  assert.ok(!plan.entries.some((p) => p.startsWith('repos/aws/') || p.startsWith('repos/amazon/')), plan.entries.join())
  assert.ok(plan.inodes.includes('repos'))
})

// The queue of invalidations (KernelCache): under a stream of saves the work follows the paths
// that changed, not the number of changes, and an open waits only for its own file's. (A save
// every millisecond on a loaded machine used to queue invalidations faster than the kernel took
// them, and readers' opens, which waited for the whole queue, timed out: ETIMEDOUT after 15 s.)
test('invalidations: coalesced per path, names after attributes, and an open waits only for its own file', async () => {
  const s = store()
  const calls: string[] = []
  const held: (() => void)[] = []
  const fuse = {
    invalidate: (p: string, cb: (err: null) => void) => (calls.push(`inode ${p.slice(1)}`), held.push(() => cb(null))),
    invalidateEntry: (p: string, cb: (err: null) => void) => (calls.push(`entry ${p.slice(1)}`), held.push(() => cb(null))),
  }
  const k = new KernelCache(fuse, s, (m) => assert.fail(m))
  const release = async () => {
    while (held.length) held.shift()!()
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r))
  }
  // a write through the tag: the secret's other names (repos/aws/key, tags/dev/key)
  const save = () => {
    s.writeFile('tags/prod/key', Buffer.from(`K${calls.length}`))
    return k.flush(new Set(['tags/prod/key']))
  }
  const first = save()!
  await new Promise((r) => setImmediate(r))
  assert.deepEqual(calls.sort(), ['inode repos/aws/key', 'inode tags/dev/key'], 'attributes first')
  // 100 more saves while those are under way: one more round each, waiting behind them
  for (let i = 0; i < 100; i++) save()
  assert.equal(calls.length, 2)
  let openedKey = false
  assert.equal(k.idle('repos/aws/solo'), null, 'nothing to wait for on another file')
  void (k.idle('repos/aws/key') ?? Promise.resolve()).then(() => (openedKey = true))
  await release() // the first attributes: then the names, and the second round of attributes
  assert.deepEqual(calls.slice(2).sort(), ['entry repos/aws/key', 'entry tags/dev/key', 'inode repos/aws/key', 'inode tags/dev/key'])
  await release()
  await first
  await release()
  await release()
  assert.equal(calls.length, 8, `at most two rounds per path and kind: ${calls.join(', ')}`)
  assert.ok(openedKey)
  assert.equal(k.idle(), null, 'nothing left')
})
