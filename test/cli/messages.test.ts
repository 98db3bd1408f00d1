// Messages that help (issue 11): each mistake a newcomer makes gets one clear line, and the
// prompts forgive a typo.
import test from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { BIN, PASS, newNode, run, tmpdir } from '../helpers.js'
import { onPty } from '../pty.js'

const oneLine = (stderr: string) => stderr.split('\n').filter(Boolean)

test('a folder as --node, a file or the node as a mountpoint: one clear line each', async (t) => {
  const { dir, node } = await newNode(t)
  const folder = await run(['secret', 'list'], { node: dir })
  assert.equal(folder.code, 2)
  assert.match(folder.stderr, /^polykey: error: .* is a folder, not a node file\npolykey: hint: give the node file itself/)
  const file = path.join(dir, 'plain.txt')
  fs.writeFileSync(file, 'x')
  const onFile = await run(['mount', file], { node })
  assert.equal(onFile.code, 2)
  assert.match(onFile.stderr, /^polykey: error: .*plain\.txt is a file, not a folder to mount on\n/)
  const onNode = await run(['mount', node], { node })
  assert.equal(onNode.code, 2)
  assert.match(onNode.stderr, /^polykey: error: .*node\.pk is the node file; name a folder to mount it on\n/)
  const missing = await run(['secret', 'list'], { node: path.join(dir, 'nope.pk') })
  assert.equal(missing.code, 1)
  assert.match(missing.stderr, /^polykey: error: no node file at .*nope\.pk \(no such file\)\npolykey: hint: create one with 'polykey init'/)
})

test('the wrong-passphrase error names the node file', async (t) => {
  const { node } = await newNode(t)
  const r = await run(['secret', 'list'], { node, env: { POLYKEY_PASSPHRASE: 'not it' } })
  assert.equal(r.code, 3)
  assert.equal(oneLine(r.stderr).length, 1)
  assert.ok(r.stderr.includes(node), r.stderr)
})

test('usage errors point at the subcommand; an unknown command suggests the nearest', async () => {
  const u = await run(['secret', 'put'])
  assert.equal(u.code, 2)
  assert.match(u.stderr, /polykey: hint: see 'polykey secret put --help'/)
  for (const [typed, meant] of [
    [['show', 'aws/key'], 'secret get'],
    [['sceret', 'list'], 'secret list'],
    [['secret', 'shwo', 'x'], 'secret get'],
    [['mout', 'x'], 'mount'],
    [['insert', 'a/b'], 'secret put'],
  ] as const) {
    const r = await run([...typed])
    assert.equal(r.code, 2)
    assert.match(r.stderr, new RegExp(`polykey: hint: did you mean 'polykey ${meant}'\\?`), `${typed.join(' ')}: ${r.stderr}`)
  }
})

test('init on a terminal: a mistyped repeat asks again; a very weak passphrase is warned about; Ctrl-C exits 130', async (t) => {
  const dir = tmpdir(t)
  const env = { ...process.env, POLYKEY_PASSPHRASE: undefined, POLYKEY_NODE: path.join(dir, 'a.pk') }
  const r = await onPty(
    [process.execPath, BIN, 'init', '--kdf', 'test'],
    [
      ['New passphrase: ', `${PASS}\r`],
      ['Repeat: ', 'a typo\r'],
      ['do not match; try again', ''],
      ['New passphrase: ', `${PASS}\r`],
      ['Repeat: ', `${PASS}\r`],
    ],
    { env, cwd: os.tmpdir() },
  )
  assert.ok(r.ok, r.out)
  assert.equal(r.code, 0, r.out)
  assert.ok(fs.existsSync(env.POLYKEY_NODE))
  assert.ok(!/very weak/.test(r.out))

  const weak = await run(['init', '--kdf', 'test'], { node: path.join(dir, 'b.pk'), env: { POLYKEY_PASSPHRASE: 'password1' } })
  assert.equal(weak.code, 0)
  assert.match(weak.stderr, /^polykey: warning: this passphrase is very weak/)

  const c = await onPty([process.execPath, BIN, 'init', '--kdf', 'test'], [['New passphrase: ', '\x03']], {
    env: { ...env, POLYKEY_NODE: path.join(dir, 'c.pk') },
    cwd: os.tmpdir(),
  })
  assert.equal(c.code, 130, c.out)
  assert.ok(!fs.existsSync(path.join(dir, 'c.pk')))
})
