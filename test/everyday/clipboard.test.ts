// --clip on secret get, secret generate and otp, against a real X server (Xvfb) and the real
// xclip / xsel: the value lands on the clipboard (not stdout), the detached helper clears it after
// --clip-seconds, but leaves alone whatever the user copied meanwhile; no tool: one clear line.
import test from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { node, ok, fails } from '../vault/util.js'
import { NO_X, clipboard, helperPids, setClipboard, startXvfb } from './xvfb.js'
import { waitFor } from '../fuse/mount-helpers.js'

const skip = NO_X || false

test('secret get --clip: on the clipboard, not on stdout; cleared after --clip-seconds', { skip }, async (t) => {
  const display = await startXvfb(t)
  const { pk } = await node(t)
  ok(await pk(['repo', 'create', 'web']))
  ok(await pk(['secret', 'put', 'web/github'], { input: 'pa55 word\nsecond line' }))
  const r = ok(await pk(['secret', 'get', 'web/github', '--clip', '--clip-seconds', '1'], { env: { DISPLAY: display } }))
  assert.equal(r.out, '', 'nothing on stdout')
  assert.match(r.stderr, /copied web\/github to the clipboard; it is cleared in 1 s/)
  assert.doesNotMatch(r.stderr, /pa55/)
  // the clearer may already have run on a slow machine: either it is still there, or it is gone and was ours
  const first = clipboard(display)
  assert.ok(first === 'pa55 word\nsecond line' || first === '', `clipboard holds ${JSON.stringify(first)}`)
  await waitFor('the clipboard to be cleared', () => clipboard(display) === '', 20_000)
  await waitFor('the helper to exit', () => helperPids(display).length === 0, 20_000)
})

test('the helper leaves alone what the user copied meanwhile', { skip }, async (t) => {
  const display = await startXvfb(t)
  const { pk } = await node(t)
  ok(await pk(['repo', 'create', 'web']))
  ok(await pk(['secret', 'put', 'web/a'], { input: 'ours' }))
  ok(await pk(['secret', 'get', 'web/a', '--clip', '--clip-seconds', '2'], { env: { DISPLAY: display } }))
  assert.equal(clipboard(display), 'ours')
  setClipboard(display, 'the user copied this')
  await waitFor('the helper to exit', () => helperPids(display).length === 0, 20_000)
  assert.equal(clipboard(display), 'the user copied this')
})

test('secret generate --clip stores the password and copies it, printing nothing', { skip }, async (t) => {
  const display = await startXvfb(t)
  const { pk } = await node(t)
  ok(await pk(['repo', 'create', 'web']))
  const r = ok(await pk(['secret', 'generate', 'web/new', '--clip', '--clip-seconds', '0'], { env: { DISPLAY: display } }))
  assert.equal(r.out, '')
  const stored = ok(await pk(['secret', 'get', 'web/new'])).out
  assert.equal(stored.length, 24)
  assert.equal(clipboard(display), stored)
  assert.equal(helperPids(display).length, 0, '--clip-seconds 0: no clearer')
})

test('otp --clip copies the code (xsel when it is the only tool)', { skip: skip || (!fs.existsSync('/usr/bin/xsel') && 'xsel missing') }, async (t) => {
  const display = await startXvfb(t)
  const { dir, pk } = await node(t)
  // a PATH with xsel and nothing else of the clipboard kind
  const bin = path.join(dir, 'bin')
  fs.mkdirSync(bin)
  fs.symlinkSync('/usr/bin/xsel', path.join(bin, 'xsel'))
  ok(await pk(['repo', 'create', 'web']))
  ok(await pk(['secret', 'put', 'web/totp'], { input: 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n' }))
  const r = ok(await pk(['otp', 'web/totp', '--clip', '--clip-seconds', '1'], { env: { DISPLAY: display, PATH: bin, POLYKEY_TEST_TIME: '59' } }))
  assert.equal(r.out, '')
  assert.match(r.stderr, /copied the code for web\/totp/)
  const c = clipboard(display)
  assert.ok(c === '287082' || c === '' || c === null, `clipboard ${JSON.stringify(c)}`)
  await waitFor('xsel --delete to clear it', () => !clipboard(display), 20_000)
})

test('no clipboard tool or no display: one clear line, exit 1, and generate stores nothing', async (t) => {
  const { pk } = await node(t)
  ok(await pk(['repo', 'create', 'web']))
  ok(await pk(['secret', 'put', 'web/a'], { input: 'x' }))
  const none = { DISPLAY: undefined, WAYLAND_DISPLAY: undefined }
  const r = fails(await pk(['secret', 'get', 'web/a', '--clip'], { env: none }), 1, /no clipboard to copy to/)
  assert.equal(r.stderr.split('\n').filter((l) => l.startsWith('polykey: error:')).length, 1)
  assert.equal(r.out, '')
  fails(await pk(['secret', 'generate', 'web/b', '--clip'], { env: none }), 1, /no clipboard/)
  assert.doesNotMatch(ok(await pk(['secret', 'list', 'web'])).out, /web\/b/)
  fails(await pk(['otp', 'web/a', '--clip'], { env: none }), 1, /no clipboard/)
  fails(await pk(['secret', 'get', 'web/a', '--clip', '--clip-seconds', '-1'], { env: none }), 2, /--clip-seconds/)
})

test('unlocked: get --clip reads through the agent and copies here, with no passphrase', { skip }, async (t) => {
  const display = await startXvfb(t)
  const { pk } = await node(t)
  ok(await pk(['repo', 'create', 'web']))
  ok(await pk(['secret', 'put', 'web/a'], { input: 'via the agent' }))
  ok(await pk(['unlock', '--timeout', '0']))
  t.after(() => pk(['lock'], { env: { POLYKEY_PASSPHRASE: undefined } }))
  const r = ok(await pk(['secret', 'get', 'web/a', '--clip', '--clip-seconds', '0'], { env: { DISPLAY: display, POLYKEY_PASSPHRASE: undefined } }))
  assert.equal(r.out, '')
  assert.equal(clipboard(display), 'via the agent')
})
