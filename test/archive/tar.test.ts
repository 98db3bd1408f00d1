// `polykey export tar`: the live members as a POSIX pax tar that GNU tar lists and extracts —
// tags as hardlink members — and refused when stdout is a terminal.
import test from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { spawn, spawnSync } from 'node:child_process'
import { BIN, PASS, tmpdir } from '../helpers.js'
import { cliNodeCopy, cli } from './util.js'

/** bin/polykey export tar | tar ARGS, as a shell pipeline would run it. */
function pipeToTar(node: string, tarArgs: string[]): Promise<{ code: number; tarCode: number; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, POLYKEY_PASSPHRASE: PASS, POLYKEY_NODE: node }
    const pk = spawn(process.execPath, [BIN, 'export', 'tar'], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    const tar = spawn('tar', tarArgs, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, TZ: 'UTC', LC_ALL: 'C' } })
    pk.stdout.pipe(tar.stdin)
    let out = ''
    let err = ''
    tar.stdout.on('data', (d) => (out += d))
    tar.stderr.on('data', (d) => (err += d))
    pk.stderr.on('data', (d) => (err += d))
    let code = -1
    pk.on('close', (c) => (code = c ?? 1))
    pk.on('error', reject)
    tar.on('error', reject)
    tar.on('close', (tarCode) => {
      const finish = () => resolve({ code, tarCode: tarCode ?? 1, out, err })
      if (code >= 0) finish()
      else pk.on('close', finish)
    })
  })
}

test('GNU tar lists and extracts the export; tags are hardlinks to their secrets', async (t) => {
  const dir = tmpdir(t)
  const { node } = await cliNodeCopy(dir)
  const list = await pipeToTar(node, ['tvf', '-'])
  assert.equal(list.code, 0, list.err)
  assert.equal(list.tarCode, 0, list.err)
  assert.equal(list.err, '', 'GNU tar has nothing to complain about')
  const lines = list.out.trim().split('\n')
  const names = lines.map((l) => l.replace(/^.* \d\d:\d\d /, ''))
  assert.ok(names.includes('repos/'))
  assert.ok(names.includes('repos/aws/access-key'))
  assert.ok(names.includes('repos/db/password'))
  assert.ok(names.includes('tags/prod/access-key link to repos/aws/access-key'))
  assert.ok(
    names.some((n) => n.startsWith('repos/aws/.git/objects/')),
    'each repository carries its .git',
  )
  assert.ok(!names.some((n) => n.startsWith('.polykey')), 'node metadata (the identity key) is not exported')
  const link = lines.find((l) => l.includes('tags/prod/access-key'))!
  assert.match(link, /^hrw-------/, 'a hardlink member')
  assert.match(
    lines.find((l) => l.endsWith(' repos/aws/access-key'))!,
    /^-rw------- 0\/0 +20 /,
  )
  // Members come out in path order, and every link names a member that came before it.
  const plain = names.filter((n) => !n.includes(' link to '))
  assert.deepEqual(plain, [...plain].sort())

  const out = path.join(dir, 'extracted')
  fs.mkdirSync(out)
  const x = await pipeToTar(node, ['xf', '-', '-C', out])
  assert.equal(x.tarCode, 0, x.err)
  assert.equal(fs.readFileSync(path.join(out, 'repos/aws/access-key'), 'utf8'), 'AKIAFAKEFAKEFAKE0001')
  assert.equal(fs.readFileSync(path.join(out, 'repos/db/password'), 'utf8'), 'rotated-password-0004')
  assert.equal(fs.readFileSync(path.join(out, 'repos/db/big'), 'utf8'), 'x'.repeat(150_000))
  const secret = fs.statSync(path.join(out, 'repos/aws/access-key'))
  const tagged = fs.statSync(path.join(out, 'tags/prod/access-key'))
  assert.equal(tagged.ino, secret.ino, 'the tag entry is the same file')
  assert.equal(secret.nlink, 2)
  assert.equal(secret.mode & 0o777, 0o600)
  // The extracted repository is a git repository that real git can read.
  const git = spawnSync('git', ['-C', path.join(out, 'repos/db'), 'log', '--format=%s'], { encoding: 'utf8' })
  if (git.status === 0) assert.match(git.stdout, /update password/)
})

test('exact mtimes travel in pax headers', async (t) => {
  const dir = tmpdir(t)
  const { node } = await cliNodeCopy(dir)
  const r = await cli(['export', 'tar'], { node })
  assert.equal(r.code, 0)
  // Every member is preceded by a pax extended header ('x') carrying its mtime.
  const text = r.stdout.toString('latin1')
  assert.match(text, /\d+ mtime=\d+\.\d{3}\n/)
  assert.equal(r.stdout.length % 512, 0)
  assert.ok(
    r.stdout.subarray(-1024).every((b) => b === 0),
    'two zero blocks end the archive',
  )
})

test('export tar refuses a terminal (a real pty)', async (t) => {
  const { node } = await cliNodeCopy(tmpdir(t))
  const probe = spawnSync('script', ['--version'], { encoding: 'utf8' })
  if (probe.status !== 0) return t.skip('script(1) is not installed')
  const r = spawnSync('script', ['-qec', `${process.execPath} ${BIN} export tar`, '/dev/null'], {
    env: { ...process.env, POLYKEY_PASSPHRASE: PASS, POLYKEY_NODE: node },
    encoding: 'latin1',
    timeout: 30_000,
  })
  assert.equal(r.status, 1, r.stdout)
  assert.match(r.stdout, /polykey: error: refusing to write plaintext secrets to a terminal/)
  assert.match(r.stdout, /polykey: hint: redirect it/)
  assert.ok(!r.stdout.includes('AKIA'), 'no secret reached the terminal')
  assert.ok(r.stdout.length < 400)
})

test('export tar refuses a terminal (the IO path)', async (t) => {
  const { node } = await cliNodeCopy(tmpdir(t))
  const r = await cli(['export', 'tar'], { node, stdoutIsTTY: true })
  assert.equal(r.code, 1)
  assert.equal(r.stdout.length, 0)
  assert.match(r.stderr, /^polykey: error: refusing to write plaintext secrets to a terminal\npolykey: hint: /)
})
