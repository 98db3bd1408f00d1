// Issue 9 item 8: an older copy of a node put back in its place (a restored backup, or someone
// who swapped the file) opens cleanly — nothing inside a file can tell it is old. A per-user
// record outside the node (like ssh's known_hosts) remembers the highest save counter seen for
// each node, and opening below it warns, loudly and once, naming both counts.
import test from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { run, tmpdir } from '../helpers.js'
import { cleanStderr } from '../archive/util.js'
import { NO_FUSE, mountedNode } from '../fuse/mount-helpers.js'

async function saves(node: string, env: Record<string, string | undefined>): Promise<number> {
  const r = await run(['info', '--json'], { node, env })
  assert.equal(r.code, 0, r.stderr)
  return JSON.parse(r.out).saves
}

test('a node rolled back to an older copy: one loud warning naming both counts, then quiet', async (t) => {
  const dir = tmpdir(t)
  const state = path.join(dir, 'state')
  const env = { XDG_STATE_HOME: state }
  const node = path.join(dir, 'node.pk')
  assert.equal((await run(['init', '--kdf', 'test'], { node, env })).code, 0)
  assert.equal((await run(['repo', 'create', 'r'], { node, env })).code, 0)
  assert.equal((await run(['secret', 'put', 'r/s'], { node, env, input: 'old value' })).code, 0)
  const old = path.join(dir, 'backup.pk')
  fs.copyFileSync(node, old)
  const oldSaves = await saves(node, env)
  assert.equal((await run(['secret', 'put', 'r/s'], { node, env, input: 'new value' })).code, 0)
  assert.equal((await run(['secret', 'put', 'r/t'], { node, env, input: 'more' })).code, 0)
  const newSaves = await saves(node, env)
  assert.ok(newSaves > oldSaves)

  // The record: per user, private, outside the node.
  const folder = path.join(state, 'polykey')
  const record = path.join(folder, 'seen')
  assert.equal(fs.statSync(folder).mode & 0o777, 0o700)
  assert.equal(fs.statSync(record).mode & 0o777, 0o600)
  assert.ok(!fs.readFileSync(record, 'utf8').includes('value'))

  // The attack: the older copy is put back in the node's place.
  fs.copyFileSync(old, node)
  const get = await run(['secret', 'get', 'r/s'], { node, env })
  assert.equal(get.code, 0, get.stderr)
  assert.equal(get.out, 'old value')
  assert.ok(cleanStderr(get.stderr), get.stderr)
  const warnings = get.stderr.split('\n').filter((l) => l.startsWith('polykey: warning: '))
  assert.equal(warnings.length, 1, get.stderr)
  assert.match(warnings[0], new RegExp(`ROLLBACK.* ${oldSaves} saves.* ${newSaves} saves`), get.stderr)
  // Once: the next command is quiet (the record now follows this copy).
  const again = await run(['secret', 'get', 'r/s'], { node, env })
  assert.equal(again.stderr, '')
  // Going forward again is not a warning.
  fs.writeFileSync(node, fs.readFileSync(old))
  assert.equal((await run(['secret', 'put', 'r/u'], { node, env, input: 'x' })).stderr, '')
})

test('without XDG_STATE_HOME the record is under ~/.local/state; a record others can write is not trusted', async (t) => {
  const dir = tmpdir(t)
  const home = path.join(dir, 'home')
  fs.mkdirSync(home, { mode: 0o700 })
  const env = { HOME: home, XDG_STATE_HOME: undefined }
  const node = path.join(dir, 'node.pk')
  assert.equal((await run(['init', '--kdf', 'test'], { node, env })).code, 0)
  assert.equal((await run(['repo', 'create', 'r'], { node, env })).code, 0)
  const record = path.join(home, '.local', 'state', 'polykey', 'seen')
  assert.ok(fs.existsSync(record), 'the record is in the scratch home')
  // Another user who can write the folder could lower the counts: the record is refused, loudly.
  fs.chmodSync(path.dirname(record), 0o777)
  const before = fs.readFileSync(record)
  const r = await run(['repo', 'create', 'q'], { node, env })
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stderr, /^polykey: warning: not using the rollback record .*: .*writable by others/m)
  assert.ok(fs.readFileSync(record).equals(before), 'an untrusted record is not written')
})

test('mounting a rolled-back node warns on the terminal of `polykey mount`', { skip: NO_FUSE }, async (t) => {
  const s = await mountedNode(t, { mount: false, seed: { r: { s: 'old' } } })
  const old = path.join(s.dir, 'backup.pk')
  fs.copyFileSync(s.node, old)
  const oldSaves = await saves(s.node, {})
  assert.equal((await s.pk(['secret', 'put', 'r/s'], { input: 'new' })).code, 0)
  const newSaves = await saves(s.node, {})
  fs.copyFileSync(old, s.node)
  const r = await run(['mount', s.mnt], { node: s.node })
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stderr, new RegExp(`^polykey: warning: ROLLBACK: .* ${oldSaves} saves.* ${newSaves} saves`, 'm'))
  assert.equal(await s.ok('cat repos/r/s'), 'old')
  await s.unmount()
})
