// Hostile names are refused at the edge with exit 2 and change nothing (docs/CLI.md "Names": no '/' or NUL,
// not '.' or '..', at most 255 bytes; '.git' is reserved inside and for repositories).
import test from 'node:test'
import assert from 'node:assert/strict'
import { node, ok, fails, json } from './util.js'
import { checkName, nameProblem, parseSecretRef } from '../../src/vault/names.js'
import { PolykeyError, exitCodeOf } from '../../src/errors.js'

const long256 = 'a'.repeat(256)
const multibyte256 = 'é'.repeat(128) // 128 characters, 256 bytes
const multibyte255 = 'é'.repeat(127) + 'a' // 255 bytes: allowed

test('hostile names through the CLI: exit 2, one error line, nothing created', async (t) => {
  const { pk } = await node(t)
  ok(await pk(['repo', 'create', 'good']))
  ok(await pk(['secret', 'put', 'good/x'], { input: 'x' }))
  const bad = ['..', '.', '.git', long256, multibyte256, 'a/b', '']
  const runs = await Promise.all([
    ...bad.map((n) => pk(['repo', 'create', n])),
    ...['..', '.', '.git', long256, multibyte256, 'a/b', ''].map((n) => pk(['secret', 'put', `good/${n}`], { input: 'v' })),
    pk(['secret', 'put', '../x'], { input: 'v' }),
    pk(['secret', 'get', 'no-slash']),
    pk(['secret', 'get', 'good/..']),
    pk(['secret', 'mv', 'good/x', 'good/..']),
    pk(['secret', 'mv', 'good/x', '../x']),
    pk(['secret', 'rm', 'good/.']),
    pk(['repo', 'rename', 'good', '..']),
    pk(['repo', 'rename', 'good', '.git']),
    pk(['repo', 'delete', '..']),
    pk(['repo', 'log', '..']),
    pk(['tag', 'add', '..', 'good/x']),
    pk(['tag', 'add', 'a/b', 'good/x']),
    pk(['tag', 'add', long256, 'good/x']),
    pk(['tag', 'list', '.']),
    pk(['env', '..', '--', 'true']),
    pk(['secret', 'list', '..']),
  ])
  for (const r of runs) fails(r, 2, /invalid|expected REPO\/NAME/)

  const [repos, secrets, tags] = await Promise.all([pk(['repo', 'list', '--json']), pk(['secret', 'list', '--json']), pk(['tag', 'list', '--json'])])
  assert.deepEqual(json(repos), [{ name: 'good', secrets: 1 }])
  assert.deepEqual(
    json(secrets).map((s: any) => s.name),
    ['x'],
  )
  assert.deepEqual(json(tags), [])

  // the longest allowed name works, in bytes not characters
  ok(await pk(['secret', 'put', `good/${multibyte255}`], { input: 'v' }))
  assert.equal(ok(await pk(['secret', 'get', `good/${multibyte255}`])).out, 'v')
  // a dot-name that is not '.' or '..' is an ordinary name
  ok(await pk(['secret', 'put', 'good/.env'], { input: 'E=1\n' }))
  assert.equal(ok(await pk(['secret', 'get', 'good/.env'])).out, 'E=1\n')
})

test('the names module: NUL and the other rules, as USAGE errors (exit 2)', () => {
  assert.equal(nameProblem('a\0b'), 'contains a NUL byte')
  assert.equal(nameProblem('\0'), 'contains a NUL byte')
  assert.equal(nameProblem('a/b'), "contains '/'")
  assert.equal(nameProblem('..'), "is '..'")
  assert.equal(nameProblem('.'), "is '.'")
  assert.equal(nameProblem(''), 'is empty')
  assert.equal(nameProblem(long256), 'is longer than 255 bytes')
  assert.equal(nameProblem(multibyte256), 'is longer than 255 bytes')
  assert.equal(nameProblem(multibyte255), null)
  assert.equal(nameProblem('...'), null)
  for (const [kind, name] of [
    ['secret', 'a\0b'],
    ['repository', '.git'],
    ['secret', '.git'],
    ['tag', '..'],
  ] as const) {
    assert.throws(
      () => checkName(kind, name),
      (err: unknown) => err instanceof PolykeyError && err.code === 'USAGE' && exitCodeOf(err) === 2,
    )
  }
  assert.equal(checkName('tag', 'prod'), 'prod')
  assert.deepEqual(parseSecretRef('r/n'), { repo: 'r', name: 'n' })
  for (const ref of ['r/a\0b', 'r\0/x', 'r/a/b', 'noslash', '/x', 'r/'])
    assert.throws(
      () => parseSecretRef(ref),
      (e: unknown) => exitCodeOf(e) === 2,
      ref,
    )
})
