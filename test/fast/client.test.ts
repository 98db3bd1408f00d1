// The fast client's build and launcher (issue 18): its table comes from the command table, the
// launcher works (silently, on Node) where nothing was compiled, and `make` says what it built.
import test from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { spawnSync } from 'node:child_process'
import { ROOT, collect, tmpdir } from '../helpers.js'
import { groups, topLevel } from '../../src/cli/commands.js'
import { fastClientSpec } from '../../src/cli/fast-client-spec.js'
import { FORWARDED_ENV, PROTOCOL_VERSION } from '../../src/agent/protocol.js'
import { built } from './both.js'

test('the client forwards exactly the commands the table runs in the agent, with their stdin', () => {
  const spec = fastClientSpec()
  // Names that are not plain words (the hidden `__complete`) always go to Node.
  const word = (c: { command: string }) => /^[a-z][a-z0-9-]*$/.test(c.command.split(' ')[0])
  const all = [
    ...topLevel.filter(word).map((c) => ({ words: [c.command.split(' ')[0]], c })),
    ...groups.flatMap((g) => g.commands.filter(word).map((c) => ({ words: [g.name, c.command.split(' ')[0]], c }))),
  ]
  assert.equal(spec.commands.length, all.length)
  for (const { words, c } of all) {
    const f = spec.commands.find((x) => x.words.join(' ') === words.join(' '))!
    assert.equal(f.forward, c.needs.runs === 'agent' && !c.needs.terminal, words.join(' '))
    assert.equal(f.stdin, c.needs.stdin ?? 'none', words.join(' '))
    assert.equal(f.noTerminalOut, !!c.needs.noTerminalOut, words.join(' '))
  }
  assert.ok(spec.globalOptions.withValue.includes('node') && spec.globalOptions.withValue.includes('passphrase-file'), JSON.stringify(spec.globalOptions))
  assert.equal(spec.protocolVersion, PROTOCOL_VERSION)
  assert.deepEqual(spec.forwardedEnv, [...FORWARDED_ENV])
})

test('the generated header is what the table says now', { skip: !built && 'native client not built' }, () => {
  const h = fs.readFileSync(path.join(ROOT, 'native', 'build', 'client', 'table.h'), 'utf8')
  assert.match(h, new RegExp(`#define PK_PROTOCOL_VERSION ${PROTOCOL_VERSION}\\n`))
  assert.match(h, /\{ "secret", "put", 1, PK_STDIN_SECRET, 0, NULL \}/)
  assert.match(h, /\{ "secret", "edit", 0, PK_STDIN_NONE, 0, NULL \}/)
  assert.match(h, /\{ "env", NULL, 0, /)
})

test('without a compiler nothing is built and make says so; the launcher then runs Node and prints nothing of it', async (t) => {
  const dir = tmpdir(t)
  const m = spawnSync('make', ['--no-print-directory', '-C', path.join(ROOT, 'native', 'client'), 'CC=/nonexistent/cc'], { encoding: 'utf8' })
  assert.equal(m.status, 0, m.stderr)
  assert.match(m.stdout, /native client: not built \(no C compiler '\/nonexistent\/cc'\); polykey runs on Node alone/)
  // A checkout where native/ was never built: bin/ and dist/ only.
  fs.mkdirSync(path.join(dir, 'bin'))
  fs.copyFileSync(path.join(ROOT, 'bin', 'polykey'), path.join(dir, 'bin', 'polykey'))
  fs.chmodSync(path.join(dir, 'bin', 'polykey'), 0o755)
  fs.symlinkSync(path.join(ROOT, 'dist'), path.join(dir, 'dist'))
  const r = await collect(path.join(dir, 'bin', 'polykey'), ['--version'], { env: { ...process.env, POLYKEY_FAST_CLIENT_TRACE: '1' }, cwd: dir, timeoutMs: 30_000 })
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.stderr, '')
  assert.match(r.stdout.toString(), /^\d+\.\d+\.\d+\n$/)
  // And through a symlink to the launcher (npm link), with the client built: the client runs.
  if (built) {
    fs.symlinkSync(path.join(ROOT, 'bin', 'polykey'), path.join(dir, 'polykey'))
    const s = await collect(path.join(dir, 'polykey'), ['--version'], { env: { ...process.env, POLYKEY_FAST_CLIENT_TRACE: '1' }, cwd: dir, timeoutMs: 30_000 })
    assert.equal(s.code, 0, s.stderr)
    assert.equal(s.stderr, 'polykey-client: node: help or version\n')
  }
})
