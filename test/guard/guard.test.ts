// A guarded mount (`polykey mount --guard`) as a user drives it: programs without a rule get
// EACCES and show in `access pending`; `access allow` lets exactly that program (or that
// interpreter running that script) in; the audit names every open.
import test from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { NO_FUSE, mountedNode, mountLine, q, type Session } from '../fuse/mount-helpers.js'

const CAT = fs.realpathSync('/usr/bin/cat')
const PY = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : null

async function guarded(t: { after(fn: () => unknown): void }): Promise<Session> {
  const s = await mountedNode(t, { mount: false, seed: { app: { token: 'tok-1\n', other: 'o-1\n' }, ops: { key: 'k-1\n' } } })
  const r = await s.pk(['mount', s.mnt, '--guard'])
  assert.equal(r.code, 0, r.stderr)
  assert.ok(mountLine(s.mnt))
  return s
}

test('guarded mount: cat is allowed, a copy of cat elsewhere is refused; pending lists it; allow approves', { skip: NO_FUSE }, async (t) => {
  const s = await guarded(t)
  // Nothing is allowed yet: EACCES, and the attempt is pending.
  const first = await s.sh('cat repos/app/token')
  assert.notEqual(first.code, 0)
  assert.match(first.err, /Permission denied/)
  const pending = JSON.parse(await s.pkOk(['access', 'pending', '--json'])) as { program: string; secrets: string[]; cmdline: string[]; allow: string }[]
  const p = pending.find((x) => x.program === CAT)
  assert.ok(p, JSON.stringify(pending))
  assert.deepEqual(p.secrets, ['app/token'])
  assert.deepEqual(p.cmdline, ['cat', 'repos/app/token'])
  assert.equal(p.allow, `polykey access allow ${CAT}`)

  await s.pkOk(['access', 'allow', CAT])
  assert.equal(await s.ok('cat repos/app/token'), 'tok-1\n')
  assert.equal(await s.ok('cat tags/../repos/ops/key'), 'k-1\n')
  // No longer pending once allowed.
  assert.ok(!(JSON.parse(await s.pkOk(['access', 'pending', '--json'])) as { program: string }[]).some((x) => x.program === CAT))

  // The same bytes at another path are another file (another inode): refused.
  const copy = path.join(s.dir, 'mycat')
  fs.copyFileSync(CAT, copy)
  fs.chmodSync(copy, 0o755)
  const r = await s.sh(`${q(copy)} repos/app/token`)
  assert.notEqual(r.code, 0)
  assert.match(r.err, /Permission denied/)
  assert.ok((JSON.parse(await s.pkOk(['access', 'pending', '--json'])) as { program: string }[]).some((x) => x.program === copy))

  // Rules list and removal.
  const rules = JSON.parse(await s.pkOk(['access', 'list', '--json'])) as { id: string; program: string; scope: string }[]
  assert.deepEqual(
    rules.map((x) => [x.program, x.scope]),
    [[CAT, 'node']],
  )
  await s.pkOk(['access', 'rm', rules[0].id])
  assert.notEqual((await s.sh('cat repos/app/token')).code, 0)
  const rm = await s.pk(['access', 'rm', rules[0].id])
  assert.equal(rm.code, 1)
  assert.match(rm.stderr, /^polykey: error: no access rule/)
})

test('guarded mount: a rule for one repository or one tag allows only those secrets', { skip: NO_FUSE }, async (t) => {
  const s = await guarded(t)
  await s.pkOk(['access', 'allow', CAT, '--repo', 'ops'])
  assert.equal(await s.ok('cat repos/ops/key'), 'k-1\n')
  assert.notEqual((await s.sh('cat repos/app/token')).code, 0)
  await s.pkOk(['tag', 'add', 'ci', 'app/other'])
  const head = fs.realpathSync('/usr/bin/head')
  await s.pkOk(['access', 'allow', head, '--tag', 'ci'])
  assert.equal(await s.ok('head -n1 repos/app/other'), 'o-1\n')
  assert.equal(await s.ok('head -n1 tags/ci/other'), 'o-1\n')
  assert.notEqual((await s.sh('head -n1 repos/app/token')).code, 0)
})

test('guarded mount: an allowed interpreter runs the allowed script, not another one', { skip: NO_FUSE || !PY ? 'needs FUSE and /usr/bin/python3' : false }, async (t) => {
  const s = await guarded(t)
  const good = path.join(s.dir, 'deploy.py')
  const bad = path.join(s.dir, 'postinstall.py')
  const body = `print(open(${JSON.stringify(s.repo('app', 'token'))}).read(), end='')\n`
  fs.writeFileSync(good, body)
  fs.writeFileSync(bad, body)
  await s.pkOk(['access', 'allow', PY!, '--script', good])
  assert.equal(await s.ok(`${PY} ${q(good)}`), 'tok-1\n')
  // Relative script paths resolve against the process's working folder.
  assert.equal(await s.ok(`cd ${q(s.dir)} && ${PY} -u deploy.py`), 'tok-1\n')
  const r = await s.sh(`${PY} ${q(bad)}`)
  assert.notEqual(r.code, 0)
  assert.match(r.err, /PermissionError/)
  // Inline code is not the allowed script.
  assert.notEqual((await s.sh(`${PY} -c ${q(body)}`)).code, 0)
  const pending = JSON.parse(await s.pkOk(['access', 'pending', '--json'])) as { script: string | null; allow: string }[]
  const p = pending.find((x) => x.script === bad)
  assert.ok(p, JSON.stringify(pending))
  assert.match(p.allow, /--script .*postinstall\.py$/)
  // Editing the allowed script revokes it (its hash is part of the rule).
  fs.appendFileSync(good, '# changed\n')
  assert.notEqual((await s.sh(`${PY} ${q(good)}`)).code, 0)
})
