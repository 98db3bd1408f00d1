// `polykey env REPO… -- CMD`: each secret a variable, later repositories win with a warning, the
// command's exit code passed through.
import test from 'node:test'
import assert from 'node:assert/strict'
import { node, ok, fails } from './util.js'

test('env: names, collisions, exit codes, stdio', async (t) => {
  const { pk } = await node(t)
  ok(await pk(['repo', 'create', 'app']))
  ok(await pk(['repo', 'create', 'other']))
  ok(await pk(['secret', 'put', 'app/db-url'], { input: 'postgres://app' }))
  ok(await pk(['secret', 'put', 'app/api.key'], { input: 'k1' }))
  ok(await pk(['secret', 'put', 'app/Mixed_Case9'], { input: 'm' }))
  ok(await pk(['secret', 'put', 'app/multi'], { input: 'line1\nline2' }))
  ok(await pk(['secret', 'put', 'other/DB_URL'], { input: 'postgres://other' }))
  ok(await pk(['secret', 'put', 'other/nul'], { input: Buffer.from('a\0b') }))

  const show = ['sh', '-c', 'printf "%s|%s|%s|%s|%s" "$DB_URL" "$API_KEY" "$MIXED_CASE9" "$MULTI" "${NUL-unset}"']
  const [later, earlier, code, none, missing, notFound, passthrough, stdin] = await Promise.all([
    pk(['env', 'app', 'other', '--', ...show]),
    pk(['env', 'other', 'app', '--', ...show]),
    pk(['env', 'app', '--', 'sh', '-c', 'exit 7']),
    pk(['env', 'app', '--']),
    pk(['env', 'nope', '--', 'true']),
    pk(['env', 'app', '--', 'polykey-no-such-command']),
    pk(['env', 'app', '--', 'sh', '-c', 'printf "%s" "$OUTER"'], { env: { OUTER: 'kept' } }),
    pk(['env', 'app', '--', 'cat'], { input: 'through stdin' }),
  ])
  assert.equal(ok(later).out, 'postgres://other|k1|m|line1\nline2|unset')
  assert.match(later.stderr, /^polykey: warning: DB_URL: other\/DB_URL overrides app\/db-url$/m)
  assert.match(later.stderr, /other\/nul contains a NUL byte/)
  assert.equal(ok(earlier).out, 'postgres://app|k1|m|line1\nline2|unset')
  assert.match(earlier.stderr, /DB_URL: app\/db-url overrides other\/DB_URL/)
  assert.equal(code.code, 7, 'the exit code is passed through')
  assert.equal(code.stderr, '')
  fails(none, 2, /name a command/)
  fails(missing, 1, /no repository 'nope'/)
  assert.equal(notFound.code, 127)
  assert.match(notFound.stderr, /command not found/)
  assert.equal(ok(passthrough).out, 'kept', 'the rest of the environment is kept')
  assert.equal(ok(stdin).out, 'through stdin')
})
