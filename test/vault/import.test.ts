// `polykey import dir DIR`: folders become repositories, files secrets, one commit per repository.
import test from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { tmpdir } from '../helpers.js'
import { node, ok, fails, json, type LogJson } from './util.js'

test('import dir: one commit per repository, values exact, sub-folders and loose files skipped with a warning', async (t) => {
  const { pk } = await node(t)
  const src = tmpdir(t, 'pk-import-')
  const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i))
  const files: Record<string, Buffer> = {
    'web/token': Buffer.from('tok'),
    'web/.env': Buffer.from('A=1\nB=2\n'),
    'web/empty': Buffer.alloc(0),
    'web/binary': all,
    'db/password': Buffer.from('hunter2'),
  }
  for (const [p, data] of Object.entries(files)) {
    fs.mkdirSync(path.join(src, path.dirname(p)), { recursive: true })
    fs.writeFileSync(path.join(src, p), data)
  }
  fs.mkdirSync(path.join(src, 'db', 'nested'))
  fs.writeFileSync(path.join(src, 'db', 'nested', 'deeper'), 'x')
  fs.writeFileSync(path.join(src, 'README'), 'loose file')
  fs.mkdirSync(path.join(src, 'emptyrepo'))

  const r = ok(await pk(['import', 'dir', src]))
  assert.equal(r.out, 'imported 5 secrets into 3 repositories\n')
  assert.match(r.stderr, /^polykey: warning: skipping README: only folders become repositories$/m)
  assert.match(r.stderr, /^polykey: warning: skipping db\/nested: repositories are flat \(files only\)$/m)

  const [repos, web, db, secrets] = await Promise.all([
    pk(['repo', 'list', '--json']),
    pk(['repo', 'log', 'web', '--json']),
    pk(['repo', 'log', 'db', '--json']),
    pk(['secret', 'list', '--json']),
  ])
  assert.deepEqual(json(repos), [
    { name: 'db', secrets: 1 },
    { name: 'emptyrepo', secrets: 0 },
    { name: 'web', secrets: 4 },
  ])
  assert.deepEqual(
    json<LogJson[]>(web).map((e) => e.message),
    ['import 4 secrets'],
  )
  assert.deepEqual(
    json<LogJson[]>(db).map((e) => e.message),
    ['import 1 secret'],
  )
  assert.deepEqual(
    json<{ repo: string; name: string }[]>(secrets).map((s) => `${s.repo}/${s.name}`),
    ['db/password', 'web/.env', 'web/binary', 'web/empty', 'web/token'],
  )
  const got = await Promise.all(Object.keys(files).map((p) => pk(['secret', 'get', p])))
  Object.values(files).forEach((data, i) => assert.ok(ok(got[i]).stdout.equals(data), Object.keys(files)[i]))

  // again into existing repositories, with --json: one more commit where something changed
  const again = tmpdir(t, 'pk-import-')
  fs.mkdirSync(path.join(again, 'web'))
  fs.writeFileSync(path.join(again, 'web', 'token'), 'tok2')
  fs.writeFileSync(path.join(again, 'web', 'new'), 'n')
  fs.mkdirSync(path.join(again, 'fresh'))
  fs.writeFileSync(path.join(again, 'fresh', 'one'), '1')
  const summary = json<{ repo: string; secrets: number; commit: string | null }[]>(await pk(['import', 'dir', again, '--json']))
  assert.deepEqual(
    summary.map((s) => [s.repo, s.secrets]),
    [
      ['fresh', 1],
      ['web', 2],
    ],
  )
  for (const s of summary) assert.match(s.commit!, /^[0-9a-f]{40}$/)
  const webLog = json<LogJson[]>(await pk(['repo', 'log', 'web', '--json']))
  assert.deepEqual(
    webLog.map((e) => e.message),
    ['import 2 secrets', 'import 4 secrets'],
  )
  assert.equal(webLog[0].commit, summary[1].commit)
  assert.equal(ok(await pk(['secret', 'get', 'web/token'])).out, 'tok2')

  // refused before anything is written: a missing folder (exit 1), a hostile folder name (exit 2)
  fails(await pk(['import', 'dir', path.join(src, 'missing')]), 1)
  const hostile = tmpdir(t, 'pk-import-')
  fs.mkdirSync(path.join(hostile, 'ok'))
  fs.writeFileSync(path.join(hostile, 'ok', 'x'), 'x')
  fs.mkdirSync(path.join(hostile, '.git'))
  fails(await pk(['import', 'dir', hostile]), 2, /'\.git'/)
  fails(await pk(['repo', 'log', 'ok']), 1)
})
