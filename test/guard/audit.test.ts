// The read audit as a user sees it: `polykey audit` lists opens through the mount and values
// handed out by the CLI (who, what, when, allowed or refused), filtered by secret and time.
import test from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import { NO_FUSE, mountedNode } from '../fuse/mount-helpers.js'
import { newNode, run, unlocked } from '../helpers.js'

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

test('audit: reads through an unlock agent (get, env, otp) are recorded without a save per read, and kept at lock', async (t) => {
  const { node } = await newNode(t)
  const ok = async (args: string[], input?: string) => {
    const r = await run(args, { node, input })
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`)
    return r.out
  }
  await ok(['repo', 'create', 'app'])
  await ok(['secret', 'put', 'app/token'], 'tok\n')
  await ok(['secret', 'put', 'app/totp'], 'otpauth://totp/x?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n')
  await unlocked(t, node)
  const size = fs.statSync(node).size
  for (let i = 0; i < 5; i++) assert.equal(await ok(['secret', 'get', 'app/token']), 'tok\n')
  assert.match(await ok(['otp', 'app/totp']), /^\d{6}\n$/)
  await ok(['env', 'app', '--', 'true'])
  // Reads are batched in the agent's memory (saved 10 s after the first, or at lock): the node
  // file did not grow by a segment per read...
  assert.equal(fs.statSync(node).size, size, 'no save per read')
  // ...and the agent's audit sees them at once.
  const live = JSON.parse(await ok(['audit', '--json'])) as { records: Rec[]; chain: { ok: boolean } }
  assert.equal(live.chain.ok, true)
  assert.equal(live.records.filter((r) => r.via === 'get' && r.secret === 'app/token').length, 5)
  const otp = live.records.filter((r) => r.via === 'otp')
  assert.deepEqual(
    otp.map((r) => r.secret),
    ['app/totp'],
  )
  assert.ok(otp[0].cmdline.includes('otp'), `the asking process is named: ${JSON.stringify(otp[0].cmdline)}`)
  assert.ok(live.records.some((r) => r.via === 'env' && r.secret === 'app/token'))

  // lock saves them: the node file, read without an agent, has every record.
  assert.match(await ok(['lock']), /^locked /)
  const after = JSON.parse(await ok(['audit', '--json'])) as { records: Rec[]; chain: { ok: boolean } }
  assert.equal(after.chain.ok, true)
  assert.deepEqual(
    after.records.map((r) => `${r.via} ${r.secret}`),
    live.records.map((r) => `${r.via} ${r.secret}`),
  )
})
