// The patch on memfs's internals (mem-store.ts zeroDroppedBuffers): buffers memfs lets go of —
// when a file grows, is truncated, or is deleted — are zeroed; and a memfs whose internals no
// longer match fails loudly instead of silently leaving plaintext in memory.
import test from 'node:test'
import assert from 'node:assert/strict'
import { Volume } from 'memfs'
import { MemStore, zeroDroppedBuffers } from '../../src/vault/mem-store.js'

type Inode = { buf?: Buffer }
const inodeOf = (vol: InstanceType<typeof Volume>, p: string): Inode => {
  const core = (vol as unknown as { _core: { getResolvedLink(p: string): { getNode(): Inode } } })._core
  return core.getResolvedLink(p).getNode()
}

test('grown, truncated and deleted file buffers are zeroed', () => {
  const s = new MemStore()
  const vol = s.vol
  vol.writeFileSync('/f', Buffer.from('SECRET-SECRET-SECRET'))
  const first = inodeOf(vol, '/f').buf!
  assert.ok(first.includes('SECRET'))
  // grow: memfs allocates a bigger buffer and copies
  const fd = vol.openSync('/f', 'a')
  vol.writeSync(fd, Buffer.alloc(4096, 0x41))
  vol.closeSync(fd)
  assert.notEqual(inodeOf(vol, '/f').buf, first)
  assert.ok(
    first.every((b) => b === 0),
    'the buffer dropped on growth is zero',
  )
  // truncate
  const second = inodeOf(vol, '/f').buf!
  vol.truncateSync('/f', 3)
  if (inodeOf(vol, '/f').buf !== second)
    assert.ok(
      second.every((b) => b === 0),
      'the buffer dropped on truncate is zero',
    )
  // delete
  vol.writeFileSync('/g', Buffer.from('DELETE-ME-SECRET'))
  const g = inodeOf(vol, '/g').buf!
  vol.unlinkSync('/g')
  assert.ok(
    g.every((b) => b === 0),
    "a deleted file's buffer is zero",
  )
})

test('a memfs whose internals changed is refused loudly', () => {
  const vol = new Volume()
  const core = (vol as unknown as { _core: object })._core
  // a volume whose inode class lacks what we patch
  const fake = { _core: Object.create({ deleteNode() {} }, { inodes: { value: { 0: Object.create({ write() {}, truncate() {} }) } } }) }
  assert.ok(core)
  assert.throws(() => zeroDroppedBuffers(fake as never), /memfs internals changed \(Node\.setBuffer\)/)
  assert.throws(() => zeroDroppedBuffers({} as never), /memfs internals changed/)
})
