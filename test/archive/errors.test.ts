// What a user sees when the node cannot be opened: wrong passphrase (3), not a node or damaged
// (4), no node at all (1, with a hint). Always one `polykey: error:` line, never a stack trace.
import test from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { execFileSync } from 'node:child_process'
import { run, newNode, tmpdir } from '../helpers.js'
import { randomBytes } from '../../src/crypto/index.js'
import { cleanStderr, cli } from './util.js'

function oneError(stderr: string, re?: RegExp): void {
  assert.ok(cleanStderr(stderr), `stderr: ${JSON.stringify(stderr)}`)
  const errors = stderr.split('\n').filter((l) => l.startsWith('polykey: error: '))
  assert.equal(errors.length, 1, stderr)
  if (re) assert.match(errors[0], re)
}

test('wrong passphrase: exit 3, for every command that opens the node', async (t) => {
  const { node } = await newNode(t)
  const r = await run(['info'], { node, env: { POLYKEY_PASSPHRASE: 'not the passphrase' } })
  assert.equal(r.code, 3)
  oneError(r.stderr, /wrong passphrase/)
  for (const args of [['export', 'tar'], ['verify'], ['node', 'id'], ['secret', 'list'], ['passphrase', 'change']]) {
    const x = await cli(args, { node, pass: 'wrong', env: { POLYKEY_NEW_PASSPHRASE: 'whatever' } })
    assert.equal(x.code, 3, `${args.join(' ')}: ${x.stderr}`)
    oneError(x.stderr, /wrong passphrase/)
  }
})

test('random bytes, an empty file, and files that are not nodes: exit 4', async (t) => {
  const dir = tmpdir(t)
  const tarFile = path.join(dir, 'some.tar')
  fs.writeFileSync(path.join(dir, 'hello.txt'), 'hello\n')
  execFileSync('tar', ['cf', tarFile, '-C', dir, 'hello.txt'])
  const cases: [string, Buffer][] = [
    ['random-small', randomBytes(100)],
    ['random-large', randomBytes(200_000)],
    ['empty', Buffer.alloc(0)],
    ['zeros', Buffer.alloc(4096)],
    ['text', Buffer.from('# not a node\n'.repeat(200))],
    ['tar', fs.readFileSync(tarFile)],
    ['magic-only', Buffer.concat([Buffer.from('POLYKEY\0'), randomBytes(3000)])],
  ]
  for (const [name, bytes] of cases) {
    const file = path.join(dir, `${name}.pk`)
    fs.writeFileSync(file, bytes)
    const r = await cli(['info'], { node: file })
    assert.equal(r.code, 4, `${name}: ${r.stderr}`)
    oneError(r.stderr)
  }
  const r = await run(['export', 'tar'], { node: path.join(dir, 'random-large.pk') })
  assert.equal(r.code, 4)
  assert.equal(r.stdout.length, 0)
  oneError(r.stderr, /not a Polykey node file/)
  const e = await run(['verify'], { node: path.join(dir, 'empty.pk') })
  assert.equal(e.code, 4)
  oneError(e.stderr, /not a Polykey node file/)
})

test('a missing node: exit 1 and a hint to create one', async (t) => {
  const dir = tmpdir(t)
  const r = await run(['info'], { node: path.join(dir, 'nope.pk') })
  assert.equal(r.code, 1)
  oneError(r.stderr, /no such file/)
  assert.match(r.stderr, /^polykey: hint: create one with 'polykey init'$/m)
})

test('init refuses to overwrite an existing file, node or not', async (t) => {
  const { node, dir } = await newNode(t)
  const before = fs.readFileSync(node)
  const r = await run(['init', '--kdf', 'test'], { node })
  assert.equal(r.code, 1)
  oneError(r.stderr, /already exists/)
  assert.ok(fs.readFileSync(node).equals(before))
  const other = path.join(dir, 'notes.txt')
  fs.writeFileSync(other, 'keep me')
  assert.equal((await cli(['init', '--kdf', 'test'], { node: other })).code, 1)
  assert.equal(fs.readFileSync(other, 'utf8'), 'keep me')
})
