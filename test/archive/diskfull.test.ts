// A disk that fills: the save fails with one clear line, the node keeps its last saved state.
// Uses a real, tiny tmpfs (needs root to mount; skipped loudly otherwise).
import test from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { spawnSync } from 'node:child_process'
import os from 'node:os'
import { run } from '../helpers.js'

test('a full disk: exit 1, one error line, nothing lost, the next save works once there is room', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pk-diskfull-'))
  const mnt = path.join(dir, 'small')
  fs.mkdirSync(mnt)
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', mnt])
  t.after(() => {
    if (m.status === 0) spawnSync('umount', ['-l', mnt])
    fs.rmSync(dir, { recursive: true, force: true })
  })
  if (m.status !== 0) {
    t.skip(`cannot mount a small tmpfs here (${m.stderr.toString().trim()}): disk-full test not run`)
    return
  }
  const node = path.join(mnt, 'n.pk')
  assert.equal((await run(['init', '--kdf', 'test'], { node })).code, 0)
  assert.equal((await run(['repo', 'create', 'r'], { node })).code, 0)
  assert.equal((await run(['secret', 'put', 'r/a'], { node, input: 'small-value' })).code, 0)
  const before = fs.readFileSync(node)

  const big = Buffer.alloc(400_000, 7)
  const r = await run(['secret', 'put', 'r/big'], { node, input: big })
  assert.equal(r.code, 1)
  assert.match(r.stderr, /^polykey: error: .*no space left on device.*\n$/)
  assert.deepEqual(fs.readFileSync(node), before, 'the node file is exactly as it was')
  assert.equal((await run(['verify'], { node })).code, 0)
  assert.equal((await run(['secret', 'get', 'r/a'], { node })).out, 'small-value')
  assert.equal((await run(['secret', 'get', 'r/big'], { node })).code, 1)

  // room again (a larger tmpfs): the same save now works
  assert.equal(spawnSync('mount', ['-o', 'remount,size=2m', mnt]).status, 0)
  assert.equal((await run(['secret', 'put', 'r/big'], { node, input: big })).code, 0)
  assert.deepEqual((await run(['secret', 'get', 'r/big'], { node })).stdout, big)
})
