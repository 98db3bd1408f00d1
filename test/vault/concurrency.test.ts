// Two CLI processes on one node never lose an update; a writer that cannot get the lock fails
// clearly after --lock-timeout.
import test from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import { node, ok, fails, json, type LogJson } from './util.js'

test('20 concurrent `secret put` of different secrets all land, one commit each', async (t) => {
  const { pk } = await node(t)
  ok(await pk(['repo', 'create', 'c']))
  const n = 20
  const puts = await Promise.all(Array.from({ length: n }, (_, i) => pk(['secret', 'put', `c/s${i}`], { input: `value ${i}` })))
  puts.forEach((r, i) => ok(r, `put ${i}`))
  const [list, log] = await Promise.all([pk(['secret', 'list', 'c', '--json']), pk(['repo', 'log', 'c', '--json'])])
  assert.deepEqual(
    json<{ name: string }[]>(list)
      .map((s) => s.name)
      .sort(),
    Array.from({ length: n }, (_, i) => `s${i}`).sort(),
  )
  assert.equal(json<LogJson[]>(log).length, n)
  // every value, in one process: env makes S0…S19 variables
  const values = ok(await pk(['env', 'c', '--', process.execPath, '-e', `process.stdout.write(JSON.stringify(Array.from({ length: ${n} }, (_, i) => process.env['S' + i])))`]))
  assert.deepEqual(
    JSON.parse(values.out),
    Array.from({ length: n }, (_, i) => `value ${i}`),
  )
})

test('a lock held by a live process: the writer waits --lock-timeout, then exits 1 naming the holder; readers go on', async (t) => {
  const { pk, node: file } = await node(t)
  ok(await pk(['repo', 'create', 'c']))
  ok(await pk(['secret', 'put', 'c/a'], { input: 'a' }))
  const lock = `${file}.lock`
  // this test process is alive: its lock is not stale
  fs.writeFileSync(lock, JSON.stringify({ pid: process.pid, host: os.hostname(), since: new Date().toISOString() }), { mode: 0o600 })
  t.after(() => fs.rmSync(lock, { force: true }))
  const t0 = Date.now()
  const [put, get] = await Promise.all([pk(['secret', 'put', 'c/b', '--lock-timeout', '1'], { input: 'b' }), pk(['secret', 'get', 'c/a'])])
  const waited = Date.now() - t0
  fails(put, 1, new RegExp(`locked by process ${process.pid} on ${os.hostname()}`))
  assert.match(put.stderr, /^polykey: hint: /m)
  assert.ok(waited >= 900, `waited ${waited} ms`)
  assert.equal(ok(get).out, 'a', 'reading needs no lock')
  fails(await pk(['secret', 'get', 'c/b']), 1)

  fs.rmSync(lock)
  ok(await pk(['secret', 'put', 'c/b'], { input: 'b' }))
  assert.equal(ok(await pk(['secret', 'get', 'c/b'])).out, 'b')
})
