// The everyday verbs end to end through bin/polykey on a locked node (the passphrase given each
// time): generate, otp (RFC 6238 vectors through the CLI), find, grep, cp.
import test from 'node:test'
import assert from 'node:assert/strict'
import { node, ok, fails, json } from '../vault/util.js'

test('secret generate: prints and stores 24 characters; refuses to overwrite without --force', async (t) => {
  const { pk } = await node(t)
  ok(await pk(['repo', 'create', 'web']))
  const r = ok(await pk(['secret', 'generate', 'web/github']))
  assert.match(r.out, /^[A-Za-z0-9!#$%&()*+,\-./:;<=>?@[\]^_{|}~]{24}\n$/)
  assert.equal(ok(await pk(['secret', 'get', 'web/github'])).out, r.out.trimEnd(), 'stored without the newline')
  fails(await pk(['secret', 'generate', 'web/github']), 1, /already exists; refusing to overwrite/)
  assert.equal(ok(await pk(['secret', 'get', 'web/github'])).out, r.out.trimEnd(), 'unchanged')
  const forced = ok(await pk(['secret', 'generate', 'web/github', '--force', '--length', '64', '--no-symbols']))
  assert.match(forced.out, /^[A-Za-z0-9]{64}\n$/)
  const words = ok(await pk(['secret', 'generate', 'web/phrase', '--words', '5', '--separator', ' ']))
    .out.trimEnd()
    .split(' ')
  assert.equal(words.length, 5)
  fails(await pk(['secret', 'generate', 'web/bad', '--words', '5', '--length', '9']), 2, /--words/)
  fails(await pk(['secret', 'generate', 'web/bad', '--length', '0']), 2, /--length/)
  fails(await pk(['secret', 'generate', 'nope/x']), 1, /no repository 'nope'/)
  const log = json<{ message: string }[]>(await pk(['repo', 'log', 'web', '--json'])).map((e) => e.message)
  assert.deepEqual(log, ['add phrase', 'update github', 'add github'])
})

test('otp: RFC 6238 vectors for SHA-1/256/512 from otpauth URIs, and a bare base32 key', async (t) => {
  const { pk } = await node(t)
  ok(await pk(['repo', 'create', 'otp']))
  const b32 = (s: string) => {
    const A = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'
    let bits = ''
    for (const b of Buffer.from(s)) bits += b.toString(2).padStart(8, '0')
    return bits
      .match(/.{1,5}/g)!
      .map((c) => A[parseInt(c.padEnd(5, '0'), 2)])
      .join('')
  }
  const seeds = { SHA1: '12345678901234567890', SHA256: '12345678901234567890123456789012', SHA512: '1234567890123456789012345678901234567890123456789012345678901234' }
  for (const [alg, seed] of Object.entries(seeds))
    ok(await pk(['secret', 'put', `otp/${alg}`], { input: `otpauth://totp/Example:alice?secret=${b32(seed)}&algorithm=${alg}&digits=8&period=30\n` }))
  const vectors: [number, string, string, string][] = [
    [59, '94287082', '46119246', '90693936'],
    [1111111109, '07081804', '68084774', '25091201'],
    [1234567890, '89005924', '91819424', '93441116'],
    [20000000000, '65353130', '77737706', '47863826'],
  ]
  for (const [time, ...codes] of vectors)
    for (const [i, alg] of ['SHA1', 'SHA256', 'SHA512'].entries())
      assert.equal(ok(await pk(['otp', `otp/${alg}`], { env: { POLYKEY_TEST_TIME: String(time) } })).out, `${codes[i]}\n`, `${alg} at ${time}`)
  ok(await pk(['secret', 'put', 'otp/bare'], { input: b32(seeds.SHA1).toLowerCase() }))
  const j = json<{ code: string; remaining: number; period: number }>(await pk(['otp', 'otp/bare', '--json'], { env: { POLYKEY_TEST_TIME: '1111111109' } }))
  assert.deepEqual(j, { code: '081804', remaining: 1, period: 30, digits: 6, algorithm: 'SHA1' })
  ok(await pk(['secret', 'put', 'otp/password'], { input: 'hunter2!' }))
  fails(await pk(['otp', 'otp/password']), 1, /not a TOTP secret/)
  fails(await pk(['otp', 'otp/missing']), 1, /no secret/)
})

test('secret find: names across repositories and tags; grep: names and line numbers, text only with --show', async (t) => {
  const { pk } = await node(t)
  for (const r of ['web', 'mail']) ok(await pk(['repo', 'create', r]))
  ok(await pk(['secret', 'put', 'web/github'], { input: 'user: alice\npassword: s3cret-gh\n' }))
  ok(await pk(['secret', 'put', 'web/gitlab'], { input: 'token glpat-123' }))
  ok(await pk(['secret', 'put', 'mail/imap'], { input: 'host: imap.example.org\nuser: Alice\npassword: s3cret-imap' }))
  ok(await pk(['tag', 'add', 'Prod', 'mail/imap']))

  assert.equal(ok(await pk(['secret', 'find', 'GIT'])).out, 'web/github\nweb/gitlab\n')
  assert.equal(ok(await pk(['secret', 'find', 'prod'])).out, 'mail/imap\n', 'a tag matches too')
  assert.equal(ok(await pk(['secret', 'find', 'mail/'])).out, 'mail/imap\n')
  assert.deepEqual(json(await pk(['secret', 'find', 'imap', '--json'])), [{ secret: 'mail/imap', repo: 'mail', name: 'imap', tags: ['Prod'] }])
  const none = await pk(['secret', 'find', 'nothing-like-this'])
  assert.equal(none.code, 1)
  assert.equal(none.out + none.stderr, '', 'no match: exit 1 and silence, as grep')

  const g = ok(await pk(['secret', 'grep', 's3cret']))
  assert.equal(g.out, 'mail/imap:3\nweb/github:2\n')
  assert.doesNotMatch(g.out, /s3cret/, 'the matching text only with --show')
  assert.equal(ok(await pk(['secret', 'grep', '^user: alice$', '-i', '--show'])).out, 'mail/imap:2:user: Alice\nweb/github:1:user: alice\n')
  assert.equal(ok(await pk(['secret', 'grep', 's3cret', 'web'])).out, 'web/github:2\n', 'only the repositories named')
  assert.equal(ok(await pk(['secret', 'grep', '.', 'mail', '--fixed'])).out, 'mail/imap:1\n', '--fixed: a dot is a dot')
  assert.deepEqual(json(await pk(['secret', 'grep', 'glpat', '--json'])), [{ secret: 'web/gitlab', repo: 'web', name: 'gitlab', line: 1 }])
  assert.deepEqual(json(await pk(['secret', 'grep', 'glpat', '--json', '--show'])), [{ secret: 'web/gitlab', repo: 'web', name: 'gitlab', line: 1, text: 'token glpat-123' }])
  assert.equal((await pk(['secret', 'grep', 'zzz'])).code, 1)
  fails(await pk(['secret', 'grep', '(']), 2, /invalid pattern/)
  fails(await pk(['secret', 'grep', 'x', 'nope']), 1, /no repository 'nope'/)
})

test('secret cp: a new commit in the target repository only; tags stay; --force to replace', async (t) => {
  const { pk } = await node(t)
  for (const r of ['a', 'b']) ok(await pk(['repo', 'create', r]))
  ok(await pk(['secret', 'put', 'a/key'], { input: Buffer.from([0, 1, 2, 255]) }))
  ok(await pk(['tag', 'add', 'prod', 'a/key']))
  ok(await pk(['secret', 'cp', 'a/key', 'b/key']))
  assert.deepEqual([...ok(await pk(['secret', 'get', 'b/key'])).stdout], [0, 1, 2, 255])
  assert.deepEqual(
    json<{ message: string }[]>(await pk(['repo', 'log', 'b', '--json'])).map((e) => e.message),
    ['add key (copied from a/key)'],
  )
  assert.deepEqual(
    json<{ message: string }[]>(await pk(['repo', 'log', 'a', '--json'])).map((e) => e.message),
    ['add key'],
  )
  assert.equal(ok(await pk(['tag', 'list', 'prod'])).out, 'a/key\n')
  ok(await pk(['secret', 'put', 'a/other'], { input: 'other' }))
  fails(await pk(['secret', 'cp', 'a/other', 'b/key']), 1, /already exists/)
  ok(await pk(['secret', 'cp', 'a/other', 'b/key', '--force']))
  assert.equal(ok(await pk(['secret', 'get', 'b/key'])).out, 'other')
  ok(await pk(['secret', 'cp', 'a/key', 'a/copy']))
  fails(await pk(['secret', 'cp', 'a/none', 'b/x']), 1, /no secret/)
  fails(await pk(['secret', 'cp', 'a/key', 'a/key']), 2, /same secret/)
})
