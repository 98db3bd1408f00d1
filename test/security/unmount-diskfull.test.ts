// Issue 9 item 4: with the node file's disk full, unmount and SIGTERM must not lose what was
// written through the mount and the agent. Real FUSE mount, real tiny tmpfs (root only).
import test from 'node:test'
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { spawnSync } from 'node:child_process'
import { run } from '../helpers.js'
import { NO_FUSE, alive, mountLine, waitExit } from '../fuse/mount-helpers.js'

function smallDisk(t: { after(fn: () => void): void; skip(m: string): void }): string | null {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pk-full-'))
  const disk = path.join(dir, 'disk')
  fs.mkdirSync(disk)
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', disk])
  t.after(() => {
    if (m.status === 0) spawnSync('umount', ['-l', disk])
    fs.rmSync(dir, { recursive: true, force: true })
  })
  if (m.status !== 0) {
    t.skip('cannot mount a small tmpfs here')
    return null
  }
  return disk
}

/** Fill the disk so that no further append fits. */
function fill(disk: string): string {
  const filler = path.join(disk, 'filler')
  const fd = fs.openSync(filler, 'w')
  const chunk = Buffer.alloc(4096, 1)
  try {
    for (;;) fs.writeSync(fd, chunk)
  } catch {
    /* ENOSPC: full */
  }
  fs.closeSync(fd)
  return filler
}

async function mounted(t: { after(fn: () => unknown): void }, disk: string) {
  const node = path.join(disk, 'n.pk')
  const mnt = fs.mkdtempSync(path.join(os.tmpdir(), 'pk-full-mnt-'))
  assert.equal((await run(['init', '--kdf', 'test'], { node })).code, 0)
  assert.equal((await run(['repo', 'create', 'r'], { node })).code, 0)
  const m = await run(['mount', mnt, '--json'], { node })
  assert.equal(m.code, 0, m.stderr)
  const pid = (JSON.parse(m.out) as { pid: number }).pid
  t.after(async () => {
    if (mountLine(mnt)) spawnSync('fusermount', ['-u', '-z', mnt])
    if (alive(pid)) process.kill(pid, 'SIGKILL')
    fs.rmSync(mnt, { recursive: true, force: true })
  })
  return { node, mnt, pid }
}

test('disk full: unmount refuses (exit 1, says why), keeps the mount; after freeing space it saves everything', { skip: NO_FUSE }, async (t) => {
  const disk = smallDisk(t)
  if (!disk) return
  const { node, mnt, pid } = await mounted(t, disk)
  const filler = fill(disk)
  // Values bigger than a page: an append must need new blocks (the last one may have room).
  const viaMount = crypto.randomBytes(40_000)
  const viaAgent = crypto.randomBytes(40_000)
  fs.writeFileSync(path.join(mnt, 'repos/r/via-mount'), viaMount)
  const put = await run(['secret', 'put', 'r/via-agent'], { node, input: viaAgent, env: { POLYKEY_PASSPHRASE: undefined } })
  assert.equal(put.code, 1)
  assert.match(put.stderr, /kept in memory but could not be saved/)

  const u = await run(['unmount', mnt], { node, env: { POLYKEY_PASSPHRASE: undefined } })
  assert.equal(u.code, 1, 'unmount refused')
  assert.match(u.stderr, /^polykey: error: not stopping: changes are kept in memory but cannot be saved \(.*no space left on device.*\)\npolykey: hint: free space/)
  assert.ok(mountLine(mnt), 'still mounted')
  assert.ok(alive(pid))
  assert.deepEqual(fs.readFileSync(path.join(mnt, 'repos/r/via-agent')), viaAgent)

  fs.rmSync(filler)
  const u2 = await run(['unmount', mnt], { node, env: { POLYKEY_PASSPHRASE: undefined } })
  assert.equal(u2.code, 0, u2.stderr)
  await waitExit(pid)
  assert.deepEqual((await run(['secret', 'get', 'r/via-mount'], { node })).stdout, viaMount)
  assert.deepEqual((await run(['secret', 'get', 'r/via-agent'], { node })).stdout, viaAgent)
})

test('disk full: SIGTERM keeps the mount and retries; once there is room it saves and exits', { skip: NO_FUSE }, async (t) => {
  const disk = smallDisk(t)
  if (!disk) return
  const { node, mnt, pid } = await mounted(t, disk)
  const filler = fill(disk)
  const late = crypto.randomBytes(40_000)
  fs.writeFileSync(path.join(mnt, 'repos/r/late'), late)
  await new Promise((r) => setTimeout(r, 1500)) // the mount commits (and fails to save)
  process.kill(pid, 'SIGTERM')
  await new Promise((r) => setTimeout(r, 2500))
  assert.ok(alive(pid), 'the mount process is still there')
  assert.ok(mountLine(mnt), 'and still mounted')
  fs.rmSync(filler)
  await waitExit(pid, 15_000)
  assert.ok(!mountLine(mnt))
  assert.deepEqual((await run(['secret', 'get', 'r/late'], { node })).stdout, late)
})
