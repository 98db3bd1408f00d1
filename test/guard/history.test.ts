// MOUNT/history/REPO/WHEN-COMMIT/SECRET: every commit of every repository as a read-only
// folder, browsed with ls, cat, diff -r and cp; a revert is a cp over the current file.
import test from 'node:test'
import assert from 'node:assert/strict'
import { NO_FUSE, mountedNode, sleep } from '../fuse/mount-helpers.js'
import { commitFolderName } from '../../src/fuse/history.js'

test('commit folder names: ISO-8601 UTC without colons, then 12 hex digits', () => {
  assert.equal(commitFolderName(Date.UTC(2026, 11, 1, 23, 12, 42) / 1000, '0123456789abcdef0123456789abcdef01234567'), '2026-12-01T23-12-42Z-0123456789ab')
})

test('history folders: every commit with its contents, read-only; cp of an old version is a new commit', { skip: NO_FUSE }, async (t) => {
  const s = await mountedNode(t, { seed: { app: { token: 'v1\n' } } })
  await s.pkOk(['secret', 'put', 'app/token'], { input: 'v2\n' })
  await s.pkOk(['secret', 'put', 'app/extra'], { input: 'x\n' })
  const log = JSON.parse(await s.pkOk(['repo', 'log', 'app', '--json'])) as { commit: string }[]
  assert.equal(log.length, 3)
  assert.deepEqual((await s.ok('ls history')).split('\n').filter(Boolean), ['app'])
  const folders = (await s.ok('ls history/app')).split('\n').filter(Boolean)
  assert.equal(folders.length, 3)
  for (const f of folders) assert.match(f, /^\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ-[0-9a-f]{12}$/)
  // Newest last in ls order (names sort by time); each names its commit.
  const byCommit = new Map(folders.map((f) => [f.slice(-12), f]))
  const [c3, c2, c1] = log.map((e) => byCommit.get(e.commit.slice(0, 12))!)
  assert.ok(c1 && c2 && c3, `${JSON.stringify(folders)} vs ${JSON.stringify(log)}`)
  assert.equal(await s.ok(`cat history/app/${c1}/token`), 'v1\n')
  assert.equal(await s.ok(`cat history/app/${c2}/token`), 'v2\n')
  assert.deepEqual((await s.ok(`ls history/app/${c3}`)).split('\n').filter(Boolean), ['extra', 'token'])
  assert.equal(await s.ok(`stat -c %s history/app/${c1}/token`), '3\n')
  // diff -r between two commits.
  const d = await s.sh(`diff -r history/app/${c1} history/app/${c3}`)
  assert.equal(d.code, 1)
  assert.match(d.out, /Only in history\/app\/.*: extra/)
  assert.match(d.out, /< v1\n---\n> v2/)

  // Read-only: every change is EROFS.
  for (const cmd of [
    `echo x > history/app/${c1}/token`,
    `echo x >> history/app/${c1}/token`,
    `touch history/app/${c1}/new`,
    `rm history/app/${c1}/token`,
    `mkdir history/app/${c1}/d`,
    `mkdir history/x`,
    `rmdir history/app/${c1}`,
    `mv history/app/${c1}/token history/app/${c1}/t2`,
    `mv repos/app/extra history/app/`,
    `ln repos/app/extra history/app/${c1}/e`,
    `chmod 700 history/app/${c1}/token`,
    `truncate -s 0 history/app/${c1}/token`,
  ]) {
    const r = await s.sh(cmd)
    assert.notEqual(r.code, 0, cmd)
    assert.match(r.err, /Read-only file system/, `${cmd}: ${r.err}`)
  }
  assert.equal(await s.ok('cat repos/app/extra'), 'x\n')

  // A revert: cp the old version over the current one; it becomes a commit, and a new folder.
  await s.ok(`cp history/app/${c1}/token repos/app/token`)
  await s.waitLog('app', (l) => l.length === 4)
  assert.equal(await s.pkOk(['secret', 'get', 'app/token']), 'v1\n')
  await sleep(10)
  assert.equal((await s.ok('ls history/app')).split('\n').filter(Boolean).length, 4)

  // The view is not part of the node: not in the export, nothing persisted under history.
  await s.unmount()
  const names = await s.exported()
  assert.ok(!names.some((n) => n.startsWith('history')), JSON.stringify(names))
})
