// What the mount tells the kernel to forget after a change (src/fuse/kernel-cache.ts), without a
// mount: the plan for each kind of change. The real mount test checks the effect.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { MemStore } from '../../src/vault/mem-store.js'
import { planInvalidation } from '../../src/fuse/kernel-cache.js'

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
