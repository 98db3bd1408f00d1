// Divergent histories: different secrets changed on each side merge into a merge commit; the
// same secret changed on both sides is refused (exit 1, naming it, nothing changed) until the
// user picks --ours or --theirs. Real git agrees with the result.
import test from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { execFileSync } from 'node:child_process'
import { makeNode } from './sync-helpers.js'
import { run, tmpdir } from '../helpers.js'

const USB_PASS = 'other side'

test('merge of different secrets, conflicts on the same one, --ours and --theirs', async (t) => {
  const me = await makeNode(t)
  const dir = tmpdir(t)
  const usb = path.join(dir, 'other.pk')
  const env = { POLYKEY_TARGET_PASSPHRASE: USB_PASS }
  assert.equal((await run(['init', '--kdf', 'test'], { node: usb, env: { POLYKEY_PASSPHRASE: USB_PASS } })).code, 0)
  const there = (args: string[], input?: string) => run(args, { node: usb, env: { POLYKEY_PASSPHRASE: USB_PASS }, input })

  await me.ok(['repo', 'create', 'r'])
  for (const [k, v] of [
    ['a', 'A0'],
    ['b', 'B0'],
    ['c', 'C0'],
    ['d', 'D0'],
  ])
    await me.ok(['secret', 'put', `r/${k}`], { input: v })
  await me.ok(['tag', 'add', 'keep', 'r/a'])
  await me.ok(['push', 'r', usb], { env })

  // here: a changes; there: b changes, c goes, e is new
  await me.ok(['secret', 'put', 'r/a'], { input: 'A1' })
  await there(['secret', 'put', 'r/b'], 'B1')
  await there(['secret', 'rm', 'r/c'])
  await there(['secret', 'put', 'r/e'], 'E1')
  const ours = JSON.parse(await me.ok(['repo', 'log', 'r', '--json']))[0].commit
  const theirs = JSON.parse((await there(['repo', 'log', 'r', '--json'])).out)[0].commit
  const m = await me.pk(['pull', usb, 'r'], { env })
  assert.equal(m.code, 0, m.stderr)
  assert.match(m.out, /r: merged changes from .*other\.pk \(merge commit [0-9a-f]{12}\)/)
  const files = JSON.parse(await me.ok(['secret', 'list', 'r', '--json'])).map((s: { name: string }) => s.name)
  assert.deepEqual(files, ['a', 'b', 'd', 'e'])
  assert.equal(await me.ok(['secret', 'get', 'r/a']), 'A1')
  assert.equal(await me.ok(['secret', 'get', 'r/b']), 'B1')
  assert.equal(await me.ok(['secret', 'get', 'r/e']), 'E1')
  assert.match(await me.ok(['tag', 'list', 'keep']), /a/)
  const log = JSON.parse(await me.ok(['repo', 'log', 'r', '--json']))
  assert.match(log[0].message, /^merge r from /)

  // real git sees a two-parent merge commit and a clean tree
  const tar = await me.pk(['export', 'tar'])
  const out = path.join(dir, 'x')
  fs.mkdirSync(out)
  execFileSync('tar', ['x', '-C', out], { input: tar.stdout })
  const gitDir = path.join(out, 'repos', 'r')
  assert.equal(execFileSync('git', ['-C', gitDir, 'rev-list', '--parents', '-n', '1', 'HEAD']).toString().trim(), `${log[0].commit} ${ours} ${theirs}`)
  assert.equal(execFileSync('git', ['-C', gitDir, 'status', '--porcelain']).toString(), '')
  execFileSync('git', ['-C', gitDir, 'fsck', '--strict'], { stdio: 'pipe' })

  // the merge goes back; then both sides change d (and one removes a): a conflict
  await me.ok(['push', 'r', usb], { env })
  await me.ok(['secret', 'put', 'r/d'], { input: 'D-mine' })
  await me.ok(['secret', 'put', 'r/b'], { input: 'B-mine' })
  await there(['secret', 'put', 'r/d'], 'D-theirs')
  await there(['secret', 'rm', 'r/a'])
  await me.ok(['secret', 'put', 'r/a'], { input: 'A-mine' })
  await there(['secret', 'put', 'r/e'], 'E-theirs')
  const before = fs.readFileSync(me.node)
  const c = await me.pk(['pull', usb, 'r'], { env })
  assert.equal(c.code, 1)
  assert.match(c.stderr, /^polykey: error: both this node and .*other\.pk changed 'r\/a', 'r\/d'; nothing was changed\n/)
  assert.match(c.stderr, /polykey: hint: pull again with --ours .* or --theirs/)
  assert.ok(fs.readFileSync(me.node).equals(before), 'the node file is unchanged')

  const both = await me.pk(['pull', usb, 'r', '--ours', '--theirs'], { env })
  assert.equal(both.code, 2)

  const o = await me.pk(['pull', usb, 'r', '--ours'], { env })
  assert.equal(o.code, 0, o.stderr)
  assert.match(o.out, /'r\/a' changed on both sides: kept this node's version/)
  assert.match(o.out, /'r\/d' changed on both sides: kept this node's version/)
  assert.equal(await me.ok(['secret', 'get', 'r/d']), 'D-mine')
  assert.equal(await me.ok(['secret', 'get', 'r/a']), 'A-mine')
  assert.equal(await me.ok(['secret', 'get', 'r/e']), 'E-theirs') // no conflict there: merged
  assert.equal(await me.ok(['secret', 'get', 'r/b']), 'B-mine')

  // --theirs, the other way round
  await me.ok(['push', 'r', usb], { env })
  await me.ok(['secret', 'put', 'r/d'], { input: 'D-mine-2' })
  await there(['secret', 'put', 'r/d'], 'D-theirs-2')
  const th = await me.pk(['pull', usb, 'r', '--theirs'], { env })
  assert.equal(th.code, 0, th.stderr)
  assert.equal(await me.ok(['secret', 'get', 'r/d']), 'D-theirs-2')
})
