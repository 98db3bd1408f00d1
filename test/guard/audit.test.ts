// The read audit as a user sees it: `polykey audit` lists opens through the mount and values
// handed out by the CLI (who, what, when, allowed or refused), filtered by secret and time.
import test from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import { NO_FUSE, mountedNode } from '../fuse/mount-helpers.js'
import { run } from '../helpers.js'

interface Rec {
  seq: number
  time: string
  via: string
  secret: string
  allowed: boolean
  pid: number
  exe: string
  cmdline: string[]
}

test('audit: opens through the mount and CLI reads are recorded, and kept in the node', { skip: NO_FUSE }, async (t) => {
  const s = await mountedNode(t, { seed: { app: { token: 'tok\n', db: 'db\n' } } })
  await s.ok('cat repos/app/token')
  assert.equal(await s.pkOk(['secret', 'get', 'app/db']), 'db\n')
  const a = JSON.parse(await s.pkOk(['audit', '--json'])) as { records: Rec[]; chain: { ok: boolean } }
  assert.equal(a.chain.ok, true)
  const mount = a.records.find((r) => r.via === 'mount' && r.secret === 'app/token')
  assert.ok(mount, JSON.stringify(a.records))
  assert.equal(mount.exe, fs.realpathSync('/usr/bin/cat'))
  assert.deepEqual(mount.cmdline, ['cat', 'repos/app/token'])
  assert.equal(mount.allowed, true)
  const get = a.records.find((r) => r.via === 'get' && r.secret === 'app/db')
  assert.ok(get)
  assert.ok(get.cmdline.includes('get'), JSON.stringify(get.cmdline))

  // Per secret, and since a time.
  const only = JSON.parse(await s.pkOk(['audit', '--json', 'app/token'])) as { records: Rec[] }
  assert.ok(only.records.length >= 1 && only.records.every((r) => r.secret === 'app/token'))
  const future = JSON.parse(await s.pkOk(['audit', '--json', '--since', '2999-01-01T00:00:00Z'])) as { records: Rec[] }
  assert.deepEqual(future.records, [])
  const bad = await s.pk(['audit', '--since', 'yesterday-ish'])
  assert.equal(bad.code, 2)
  assert.match(bad.stderr, /^polykey: error: not a time/)

  // Persisted: after unmount, `env` and `get` on the node file are recorded too.
  await s.unmount()
  const env = await run(['env', 'app', '--', 'sh', '-c', 'test -n "$TOKEN"'], { node: s.node })
  assert.equal(env.code, 0, env.stderr)
  const after = JSON.parse((await s.pk(['audit', '--json'])).out) as { records: Rec[]; chain: { ok: boolean } }
  assert.equal(after.chain.ok, true)
  assert.ok(after.records.some((r) => r.via === 'mount' && r.secret === 'app/token'))
  assert.ok(after.records.some((r) => r.via === 'env' && r.secret === 'app/token'))
  const text = (await s.pk(['audit', 'app/token'])).out
  assert.match(text, /allowed +mount app\/token +pid \d+ .*cat/)
})
