// Repositories are readable by real git: `polykey export tar | tar x`, then git log, fsck, show
// and a clean `git status` (we write .git/index with every commit).
import test from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { spawnSync } from 'node:child_process'
import { tmpdir } from '../helpers.js'
import { node, ok, json, type LogJson } from '../vault/util.js'
import { encodeIndex } from '../../src/git/index-file.js'

const hasGit = spawnSync('git', ['--version']).status === 0

function git(cwd: string, ...args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync('git', args, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', HOME: cwd, LC_ALL: 'C' },
  })
  return { code: r.status ?? 1, out: r.stdout, err: r.stderr }
}

test('an exported repository is a git repository: log, fsck, show HEAD~1:NAME, status clean', { skip: !hasGit && 'git is not installed' }, async (t) => {
  const { pk } = await node(t)
  ok(await pk(['repo', 'create', 'proj']))
  ok(await pk(['repo', 'create', 'empty']))
  ok(await pk(['repo', 'create', 'gone']))
  ok(await pk(['secret', 'put', 'proj/a'], { input: 'one' }))
  ok(await pk(['secret', 'put', 'proj/b'], { input: 'bee' }))
  ok(await pk(['secret', 'put', 'proj/a'], { input: 'two' }))
  ok(await pk(['secret', 'mv', 'proj/b', 'proj/c']))
  ok(await pk(['secret', 'put', 'proj/bin'], { input: Buffer.from([0, 1, 2, 255]) }))
  ok(await pk(['tag', 'add', 'prod', 'proj/a']))
  ok(await pk(['secret', 'put', 'gone/x'], { input: 'x' }))
  ok(await pk(['secret', 'rm', 'gone/x']))
  const log = json<LogJson[]>(await pk(['repo', 'log', 'proj', '--json']))

  const out = tmpdir(t, 'pk-export-')
  const tarFile = path.join(out, 'node.tar')
  fs.writeFileSync(tarFile, ok(await pk(['export', 'tar'])).stdout)
  const x = spawnSync('tar', ['-xf', tarFile, '-C', out], { encoding: 'utf8' })
  assert.equal(x.status, 0, x.stderr)
  const list = spawnSync('tar', ['-tvf', tarFile], { encoding: 'utf8' }).stdout
  assert.match(list, /tags\/prod\/a link to repos\/proj\/a/, 'tags are hardlink members')
  assert.ok(!list.includes('.polykey'), 'node metadata is not exported')
  assert.equal(fs.statSync(path.join(out, 'tags/prod/a')).ino, fs.statSync(path.join(out, 'repos/proj/a')).ino)

  const repo = path.join(out, 'repos', 'proj')
  const gl = git(repo, 'log', '--format=%H %s')
  assert.equal(gl.code, 0, gl.err)
  assert.deepEqual(
    gl.out.trim().split('\n'),
    log.map((e) => `${e.commit} ${e.message}`),
  )
  const fsck = git(repo, 'fsck', '--full', '--strict', '--no-dangling')
  assert.equal(fsck.code, 0, fsck.err + fsck.out)
  assert.equal(git(repo, 'show', 'HEAD~1:c').out, 'bee')
  assert.equal(git(repo, 'show', 'HEAD~2:b').out, 'bee')
  assert.equal(git(repo, 'show', 'HEAD~3:a').out, 'one')
  assert.equal(git(repo, 'show', 'HEAD:a').out, 'two')
  assert.match(git(repo, 'cat-file', '-p', 'HEAD').out, /^author polykey-([0-9a-f]{16}) <\1@polykey> /m, 'the author is the default node name, the email the node id prefix')

  // the index names every secret with its blob; status and diff see a clean work tree
  const staged = git(repo, 'ls-files', '--stage').out.trim().split('\n')
  const blob = (name: string) => git(repo, 'hash-object', name).out.trim()
  assert.deepEqual(
    staged,
    ['a', 'bin', 'c'].map((n) => `100644 ${blob(n)} 0\t${n}`),
  )
  const status = git(repo, 'status', '--porcelain')
  assert.equal(status.code, 0, status.err)
  assert.equal(status.out, '')
  assert.equal(git(repo, 'diff', '--quiet', 'HEAD').code, 0)
  // and a change made with plain tools shows up as a change
  fs.writeFileSync(path.join(repo, 'a'), 'edited')
  assert.equal(git(repo, 'status', '--porcelain').out, ' M a\n')

  // a repository with no commits, and one whose last secret was removed
  assert.equal(git(path.join(out, 'repos', 'empty'), 'status', '--porcelain').code, 0)
  const gone = path.join(out, 'repos', 'gone')
  assert.equal(git(gone, 'status', '--porcelain').out, '')
  assert.equal(git(gone, 'ls-files').out, '')
  assert.equal(git(gone, 'fsck', '--strict', '--no-dangling').code, 0)
})

test('the git index encoder: entries sorted by name bytes, read back by git', { skip: !hasGit && 'git is not installed' }, (t) => {
  const dir = tmpdir(t, 'pk-gitindex-')
  assert.equal(git(dir, 'init', '-q').code, 0)
  const oid = (n: number) => n.toString(16).padStart(40, '0')
  const names = ['b', 'a', 'Z', 'é', 'a.b', 'a-b', 'x'.repeat(255)]
  const index = encodeIndex(names.map((name, i) => ({ name, mode: i === 1 ? '100755' : '100644', oid: oid(i + 1) })))
  fs.writeFileSync(path.join(dir, '.git', 'index'), index)
  const r = git(dir, 'ls-files', '--stage', '-z')
  assert.equal(r.code, 0, r.err)
  const rows = r.out.split('\0').filter(Boolean)
  const sorted = [...names].sort((p, q) => Buffer.compare(Buffer.from(p), Buffer.from(q)))
  assert.deepEqual(
    rows.map((l) => l.split('\t')[1]),
    sorted,
  )
  assert.equal(rows[sorted.indexOf('a')], `100755 ${oid(2)} 0\ta`)
  // empty index
  fs.writeFileSync(path.join(dir, '.git', 'index'), encodeIndex([]))
  assert.equal(git(dir, 'ls-files').code, 0)
})
