// Attacks on the agent's control socket and on what the CLI forwards to it (issue 9, items 1,
// 3 and 6): another user's socket where ours is looked for, stdin lost to option order, the
// caller's terminal hidden from the agent, a value typed before the passphrase prompt.
import test from 'node:test'
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { spawnSync } from 'node:child_process'
import { BIN, PASS, newNode, run, unlocked } from '../helpers.js'
import { onPty } from '../pty.js'
import { agentDir, agentPaths } from '../../src/agent/paths.js'
import { fakeAgent, NOBODY } from './fake-agent.js'

test('the socket an attacker plants in /tmp (XDG_RUNTIME_DIR unset) is never used: put, get and env stay local', async (t) => {
  if (process.getuid?.() !== 0) return t.skip('needs root to act as another user')
  const { node } = await newNode(t)
  assert.equal((await run(['repo', 'create', 'r'], { node })).code, 0)
  // Where the previous versions looked: /tmp/polykey-UID/<sha256(realpath)[:20]>.sock
  const dir = path.join(os.tmpdir(), `polykey-${process.getuid!()}`)
  const existed = fs.existsSync(dir)
  fs.mkdirSync(dir, { recursive: true, mode: 0o777 })
  fs.chmodSync(dir, 0o777)
  const sock = path.join(dir, `${crypto.createHash('sha256').update(fs.realpathSync(node)).digest('hex').slice(0, 20)}.sock`)
  const fake = fakeAgent(sock, NOBODY, 'attacker text')
  t.after(() => {
    fake.kill()
    fs.rmSync(sock, { force: true })
    fs.rmSync(sock + '.got', { force: true })
    if (!existed) fs.rmSync(dir, { recursive: true, force: true })
  })
  await fake.ready
  const env = { XDG_RUNTIME_DIR: undefined }
  const put = await run(['secret', 'put', 'r/token'], { node, env, input: 'the real value' })
  assert.equal(put.code, 0, put.stderr)
  const get = await run(['secret', 'get', 'r/token'], { node, env })
  assert.equal(get.out, 'the real value')
  assert.equal(fake.received(), '', 'the planted socket received nothing')
})

test('a socket in the agent folder that another user owns, or a folder others can enter, is refused in one line', async (t) => {
  if (process.getuid?.() !== 0) return t.skip('needs root to chown')
  const { node } = await newNode(t)
  assert.equal((await run(['repo', 'create', 'r'], { node })).code, 0)
  fs.mkdirSync(agentDir(), { recursive: true, mode: 0o700 })
  const p = agentPaths(node)!
  const fake = fakeAgent(p.socket, 0, 'attacker text')
  t.after(() => {
    fake.kill()
    fs.rmSync(p.socket, { force: true })
    fs.rmSync(p.socket + '.got', { force: true })
  })
  await fake.ready
  fs.chownSync(p.socket, NOBODY, NOBODY)
  const r = await run(['secret', 'put', 'r/x'], { node, input: 'value' })
  assert.equal(r.code, 1)
  assert.match(r.stderr, /^polykey: error: refusing to use the agent socket: .* belongs to uid 65534/)
  assert.equal(r.stderr.split('\n').filter(Boolean).length, 2, 'an error line and a hint')
  assert.equal(fake.received(), '')
})

test("the agent's kernel credentials are checked: a listener of another user behind a socket file of ours gets nothing", async (t) => {
  if (process.getuid?.() !== 0) return t.skip('needs root to act as another user')
  const { node } = await newNode(t)
  assert.equal((await run(['repo', 'create', 'r'], { node })).code, 0)
  fs.mkdirSync(agentDir(), { recursive: true, mode: 0o700 })
  const p = agentPaths(node)!
  // nobody listens in a folder of its own; the socket file is then moved into ours and given to
  // us: every file check passes, only SO_PEERCRED can tell.
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'pk-nobody-'))
  fs.chmodSync(scratch, 0o777)
  const theirs = path.join(scratch, 's.sock')
  const fake = fakeAgent(theirs, NOBODY, 'attacker text')
  t.after(() => {
    fake.kill()
    fs.rmSync(p.socket, { force: true })
    fs.rmSync(scratch, { recursive: true, force: true })
  })
  await fake.ready
  fs.renameSync(theirs, p.socket)
  fs.chownSync(p.socket, 0, 0)
  fs.chmodSync(p.socket, 0o600)
  const r = await run(['secret', 'get', 'r/x'], { node })
  assert.equal(r.code, 1)
  assert.match(r.stderr, /^polykey: error: refusing the agent at .*: it runs as uid 65534, not as you/)
  assert.ok(!r.out.includes('attacker'))
})

test('options before the command do not lose stdin: `--node N secret put` through the agent stores the value', async (t) => {
  const { node } = await newNode(t)
  assert.equal((await run(['repo', 'create', 'r'], { node })).code, 0)
  assert.equal((await run(['secret', 'put', 'r/s'], { node, input: 'old' })).code, 0)
  await unlocked(t, node)
  for (const args of [
    ['--node', node, 'secret', 'put', 'r/s'],
    ['secret', '--node', node, 'put', 'r/s'],
    ['secret', 'put', '--node', node, 'r/s'],
  ]) {
    const value = `new value via ${args.indexOf('put')}`
    const r = await run(args, { input: value, env: { POLYKEY_PASSPHRASE: undefined } })
    assert.equal(r.code, 0, r.stderr)
    const got = await run(['secret', 'get', 'r/s'], { node, env: { POLYKEY_PASSPHRASE: undefined } })
    assert.equal(got.out, value, `stored through ${args.join(' ')}`)
  }
})

test('through the agent, export tar, seal and secret dump on a terminal are refused and print nothing secret', async (t) => {
  const { node } = await newNode(t)
  assert.equal((await run(['repo', 'create', 'r'], { node })).code, 0)
  assert.equal((await run(['secret', 'put', 'r/key'], { node, input: 'AKIAPLAINTEXT' })).code, 0)
  await unlocked(t, node)
  const env = { ...process.env, POLYKEY_NODE: node, POLYKEY_PASSPHRASE: undefined }
  for (const args of [
    ['export', 'tar'],
    ['secret', 'dump', 'r'],
    ['--node', node, 'export', 'tar'],
  ]) {
    const r = await onPty([BIN, ...args], [], { env, cwd: os.tmpdir() })
    assert.equal(r.code, 1, r.out)
    assert.match(r.out, /polykey: error: refusing to write plaintext secrets to a terminal/)
    assert.ok(!r.out.includes('AKIAPLAINTEXT'), `${args.join(' ')}: no secret on the terminal`)
  }
  // The agent is still the one answering (nothing fell back to a local open).
  const st = await run(['status', '--json'], { node })
  assert.equal(JSON.parse(st.out).state, 'unlocked')
})

test('secret put on a terminal asks the passphrase first, then the value twice without echo', async (t) => {
  const { node } = await newNode(t)
  assert.equal((await run(['repo', 'create', 'r'], { node })).code, 0)
  const env = { ...process.env, POLYKEY_NODE: node, POLYKEY_PASSPHRASE: undefined }
  const r = await onPty(
    [BIN, 'secret', 'put', 'r/typed'],
    [
      ['Passphrase: ', PASS + '\r'],
      ['Value \\(not shown\\): ', 'hunter2-typed\r'],
      ['Repeat the value: ', 'hunter2-typed\r'],
    ],
    { env, cwd: os.tmpdir() },
  )
  assert.ok(r.ok, `prompts in order; the terminal showed: ${JSON.stringify(r.out)}`)
  assert.equal(r.code, 0, r.out)
  assert.ok(!r.out.includes('hunter2'), 'the value was not echoed')
  assert.ok(!r.out.includes(PASS), 'nor the passphrase')
  const got = await run(['secret', 'get', 'r/typed'], { node })
  assert.equal(got.out, 'hunter2-typed')
})

test('secret put on a terminal through the agent: no passphrase, a mistyped repeat asks again', async (t) => {
  const { node } = await newNode(t)
  assert.equal((await run(['repo', 'create', 'r'], { node })).code, 0)
  await unlocked(t, node)
  const env = { ...process.env, POLYKEY_NODE: node, POLYKEY_PASSPHRASE: undefined }
  const r = await onPty(
    [BIN, 'secret', 'put', 'r/typed'],
    [
      ['Value \\(not shown\\): ', 'first\r'],
      ['Repeat the value: ', 'frist\r'],
      ['differ; try again', ''],
      ['Value \\(not shown\\): ', 'second\r'],
      ['Repeat the value: ', 'second\r'],
    ],
    { env, cwd: os.tmpdir() },
  )
  assert.ok(r.ok, r.out)
  assert.equal(r.code, 0, r.out)
  assert.equal((await run(['secret', 'get', 'r/typed'], { node })).out, 'second')
})

test('passphrase variables reach no child: env, the editor, the unlock agent', async (t) => {
  const { dir, node } = await newNode(t)
  assert.equal((await run(['repo', 'create', 'r'], { node })).code, 0)
  assert.equal((await run(['secret', 'put', 'r/token'], { node, input: 't' })).code, 0)
  const extra = { OTHER_PASSPHRASE: 'other-secret', POLYKEY_NEW_PASSPHRASE: 'new-secret' }
  const e = await run(['env', 'r', '--', 'env'], { node, env: extra })
  assert.equal(e.code, 0, e.stderr)
  assert.ok(e.out.includes('TOKEN=t'))
  assert.ok(!/PASSPHRASE/.test(e.out), `env's child saw: ${e.out.split('\n').filter((l) => /PASSPHRASE/.test(l))}`)
  // The editor: a script that writes its environment down (the file holds no secret value).
  const dump = path.join(dir, 'editor-env')
  const editor = path.join(dir, 'editor.sh')
  fs.writeFileSync(editor, `#!/bin/sh\nenv > ${dump}\nprintf changed > "$1"\n`, { mode: 0o700 })
  const ed = await run(['secret', 'edit', 'r/token'], { node, env: { ...extra, EDITOR: editor, VISUAL: undefined } })
  assert.equal(ed.code, 0, ed.stderr)
  assert.ok(!/PASSPHRASE/.test(fs.readFileSync(dump, 'utf8')))
  await unlocked(t, node)
  const st = JSON.parse((await run(['status', '--json'], { node })).out) as { pid: number }
  const environ = fs.readFileSync(`/proc/${st.pid}/environ`, 'latin1')
  assert.ok(!/PASSPHRASE/.test(environ), 'the agent process has no passphrase in its environment')
})

test('env skips variables that change how programs run, unless allowed by name', async (t) => {
  const { node } = await newNode(t)
  assert.equal((await run(['repo', 'create', 'shared'], { node })).code, 0)
  for (const [name, value] of [
    ['LD_PRELOAD', '/tmp/evil.so'],
    ['BASH_ENV', '/tmp/evil.sh'],
    ['path', '/tmp/evil'],
    ['NODE_OPTIONS', '--require /tmp/evil.js'],
    ['PYTHONSTARTUP', '/tmp/evil.py'],
    ['API_TOKEN', 'fine'],
  ])
    assert.equal((await run(['secret', 'put', `shared/${name}`], { node, input: value })).code, 0)
  const r = await run(['env', 'shared', '--', 'env'], { node })
  assert.equal(r.code, 0, r.stderr)
  assert.ok(r.out.includes('API_TOKEN=fine'))
  for (const v of ['LD_PRELOAD=', 'BASH_ENV=', 'NODE_OPTIONS=', 'PYTHONSTARTUP=']) assert.ok(!r.out.includes(v), `${v} not set`)
  assert.ok(!r.out.includes('PATH=/tmp/evil'), 'PATH not replaced')
  assert.match(r.stderr, /skipping shared\/LD_PRELOAD: LD_PRELOAD changes how programs load or run; allow it with --allow-var LD_PRELOAD/)
  const allowed = await run(['env', 'shared', '--allow-var', 'PYTHONSTARTUP', '--', 'env'], { node })
  assert.ok(allowed.out.includes('PYTHONSTARTUP=/tmp/evil.py'))
  assert.ok(!allowed.out.includes('LD_PRELOAD='))
})

test('secret edit with vim leaves no viminfo, swap, undo or backup file with the value', async (t) => {
  if (spawnSync('vim', ['--version']).status !== 0) return t.skip('vim is not installed')
  const { dir, node } = await newNode(t)
  const home = path.join(dir, 'home')
  fs.mkdirSync(home)
  assert.equal((await run(['repo', 'create', 'r'], { node })).code, 0)
  assert.equal((await run(['secret', 'put', 'r/pw'], { node, input: 'yank-me-secret\n' })).code, 0)
  // A vimrc that keeps undo, backup and swap files in HOME; then yank the line, put it, search
  // for it and write: all of which vim would otherwise remember in ~/.viminfo and ~/undo.
  const vimrc = path.join(dir, 'vimrc')
  fs.writeFileSync(vimrc, `set undofile undodir=${home} backup backupdir=${home} writebackup swapfile directory=${home} viminfo='100,<50,s10,h\n`)
  const editor = `vim -es -u ${vimrc} -c 'normal yyp' -c '/yank-me' -c wq`
  const r = await run(['secret', 'edit', 'r/pw'], { node, env: { HOME: home, EDITOR: editor, VISUAL: undefined } })
  assert.equal(r.code, 0, r.stderr)
  assert.equal((await run(['secret', 'get', 'r/pw'], { node })).out, 'yank-me-secret\nyank-me-secret\n')
  const left = spawnSync('grep', ['-rl', 'yank-me', home, '/dev/shm'], { encoding: 'utf8' }).stdout
  assert.equal(left, '', 'nothing under HOME or /dev/shm holds the value')
  assert.deepEqual(fs.readdirSync(home), [], 'no ~/.viminfo or other file was written')
})
