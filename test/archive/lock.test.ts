// The lock beside the node file (NODE.lock): a second writer waits, then fails naming the holder
// (pid and host); a lock left by a dead process is taken over; writers never lose each other's
// saves.
import test from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { spawnSync } from 'node:child_process'
import { run, newNode } from '../helpers.js'
import { NodeLock } from '../../src/archive/lock.js'
import { cleanStderr, cli } from './util.js'

function holdLock(node: string, holder: { pid: number; host: string }): string {
  const lock = NodeLock.lockPath(node)
  fs.writeFileSync(lock, JSON.stringify({ ...holder, since: '2026-01-02T03:04:05.000Z' }))
  return lock
}

function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '0'])
  return r.pid!
}

test('a live holder: the second writer waits, then fails naming its pid and host', async (t) => {
  const { node } = await newNode(t)
  const before = fs.readFileSync(node)
  // This test process is alive and is not the CLI's process.
  const lock = holdLock(node, { pid: process.pid, host: os.hostname() })
  const t0 = Date.now()
  const r = await run(['repo', 'create', 'blocked', '--lock-timeout', '1'], { node })
  const waited = Date.now() - t0
  assert.equal(r.code, 1, r.stderr)
  assert.ok(cleanStderr(r.stderr), r.stderr)
  assert.match(r.stderr, new RegExp(`^polykey: error: node is locked by process ${process.pid} on ${os.hostname()} \\(since 2026-01-02T03:04:05.000Z\\)$`, 'm'))
  // It is alive: no advice to remove its lock (that hint is for a lock nobody can be holding).
  assert.match(
    r.stderr,
    new RegExp(`^polykey: hint: process ${process.pid} is running: wait for it, or if it is a mount or 'polykey unlock' of this node, 'polykey status' says where`, 'm'),
  )
  assert.ok(!r.stderr.includes('remove'), r.stderr)
  assert.ok(waited >= 1000, `gave up after ${waited} ms, before its timeout`)
  assert.ok(fs.readFileSync(node).equals(before), 'nothing was written')
  assert.ok(fs.existsSync(lock), "the holder's lock is left alone")
  // Readers do not need the lock.
  assert.equal((await cli(['info'], { node })).code, 0)
})

test('a holder on another host is never presumed dead', async (t) => {
  const { node } = await newNode(t)
  holdLock(node, { pid: 1, host: 'some-other-host.example' })
  const r = await cli(['repo', 'create', 'blocked', '--lock-timeout', '0.2'], { node })
  assert.equal(r.code, 1)
  assert.match(r.stderr, /^polykey: error: node is locked by process 1 on some-other-host\.example/m)
  assert.match(r.stderr, /^polykey: hint: unmount or stop the other polykey first$/m)
})

test('the second writer goes ahead as soon as the holder lets go', async (t) => {
  const { node } = await newNode(t)
  const lock = holdLock(node, { pid: process.pid, host: os.hostname() })
  setTimeout(() => fs.rmSync(lock), 400)
  const t0 = Date.now()
  const r = await run(['repo', 'create', 'waited', '--lock-timeout', '10'], { node })
  assert.equal(r.code, 0, r.stderr)
  assert.ok(Date.now() - t0 >= 400)
  assert.equal(fs.existsSync(lock), false, 'the lock is released after the save')
  assert.match((await cli(['repo', 'list'], { node })).out, /^waited$/m)
})

test('a stale lock from a dead process is recovered', async (t) => {
  const { node } = await newNode(t)
  const lock = holdLock(node, { pid: deadPid(), host: os.hostname() })
  const r = await run(['repo', 'create', 'after-stale', '--lock-timeout', '2'], { node })
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.stderr, '')
  assert.equal(fs.existsSync(lock), false)
  assert.match((await cli(['repo', 'list'], { node })).out, /^after-stale$/m)
})

test('a lock file left empty by a crash (between create and write) is recovered once it is old', async (t) => {
  const { node } = await newNode(t)
  const lock = NodeLock.lockPath(node)
  fs.writeFileSync(lock, '')
  const old = new Date(Date.now() - 60_000)
  fs.utimesSync(lock, old, old)
  const r = await cli(['repo', 'create', 'after-empty-lock', '--lock-timeout', '2'], { node })
  assert.equal(r.code, 0, r.stderr)
  assert.equal(fs.existsSync(lock), false)
  // A fresh empty lock is someone in the middle of taking it: wait, then name the file.
  fs.writeFileSync(lock, '')
  const busy = await cli(['repo', 'create', 'blocked', '--lock-timeout', '0.3'], { node })
  assert.equal(busy.code, 1)
  assert.ok(busy.stderr.includes(lock), busy.stderr)
})

test('concurrent writers: every save lands, none is lost', async (t) => {
  const { node } = await newNode(t)
  assert.equal((await cli(['repo', 'create', 'race'], { node })).code, 0)
  const writers = Array.from({ length: 4 }, (_, i) => run(['secret', 'put', `race/s${i}`, '--lock-timeout', '30'], { node, input: `value-${i}` }))
  for (const r of await Promise.all(writers)) assert.equal(r.code, 0, r.stderr)
  for (let i = 0; i < 4; i++) assert.equal((await cli(['secret', 'get', `race/s${i}`], { node })).out, `value-${i}`)
  assert.equal(fs.existsSync(NodeLock.lockPath(node)), false)
  assert.equal(path.basename(NodeLock.lockPath(node)), 'node.pk.lock')
})
