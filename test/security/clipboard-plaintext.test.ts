// After --clip, the value is on the clipboard and nowhere else we can see: not in any file under
// the test's folder, HOME or TMPDIR, not in the argv or environment of the detached clearer or
// of the clipboard tool (nor is the passphrase passed on to them). The clearer gets a keyed
// hash over a pipe; this replays a reader of /proc and of the user's files.
import test from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import crypto from 'node:crypto'
import { node, ok } from '../vault/util.js'
import { PASS } from '../helpers.js'
import { NO_X, clipboard, cmdline, helperPids, pidsOnDisplay, startXvfb } from '../everyday/xvfb.js'
import { waitFor } from '../fuse/mount-helpers.js'

function filesUnder(dir: string): string[] {
  const out: string[] = []
  for (const d of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, d.name)
    if (d.isDirectory()) out.push(...filesUnder(p))
    else if (d.isFile()) out.push(p)
  }
  return out
}

test('no plaintext left anywhere after --clip (files, argv, environment)', { skip: NO_X || false }, async (t) => {
  const display = await startXvfb(t)
  const { dir, pk } = await node(t)
  const home = path.join(dir, 'home')
  const tmp = path.join(dir, 'tmp')
  fs.mkdirSync(home)
  fs.mkdirSync(tmp)
  const value = `clip-marker-${crypto.randomBytes(12).toString('hex')}`
  ok(await pk(['repo', 'create', 'web']))
  ok(await pk(['secret', 'put', 'web/x'], { input: value }))
  const env = { DISPLAY: display, HOME: home, TMPDIR: tmp, XDG_RUNTIME_DIR: undefined }
  ok(await pk(['secret', 'get', 'web/x', '--clip', '--clip-seconds', '60'], { env }))
  const gen = ok(await pk(['secret', 'generate', 'web/y', '--words', '6', '--clip', '--clip-seconds', '60'], { env }))
  assert.equal(gen.out, '')
  const generated = ok(await pk(['secret', 'get', 'web/y'])).out
  assert.equal(clipboard(display), generated)

  const helpers = await waitFor('the clearers', () => (helperPids(display).length === 2 ? helperPids(display) : null), 10_000)
  const tools = pidsOnDisplay(display).filter((p) => !helpers.includes(p))
  assert.ok(tools.length >= 1, 'xclip keeps serving the selection')
  for (const pid of [...helpers, ...tools]) {
    const argv = cmdline(pid)
    const environ = fs.readFileSync(`/proc/${pid}/environ`, 'latin1')
    for (const secret of [value, generated, PASS]) {
      assert.ok(!argv.includes(secret), `argv of ${pid} (${argv}) holds a secret`)
      assert.ok(!environ.includes(secret), `environment of ${pid} (${argv}) holds a secret`)
    }
    assert.ok(!environ.includes('POLYKEY_PASSPHRASE'), `environment of ${pid} carries POLYKEY_PASSPHRASE`)
  }
  for (const f of [...filesUnder(dir), ...filesUnder('/dev/shm').filter((f) => fs.statSync(f).uid === process.getuid!())]) {
    let data: Buffer
    try {
      data = fs.readFileSync(f)
    } catch {
      continue
    }
    assert.ok(!data.includes(value) && !data.includes(generated), `${f} holds the value`)
  }
  for (const pid of helpers) process.kill(pid, 'SIGKILL')
})
