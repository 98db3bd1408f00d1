// End to end through bin/polykey: repositories, secrets, tags and history as a user sees them.
import test from 'node:test'
import assert from 'node:assert/strict'
import path from 'node:path'
import { run } from '../helpers.js'
import { node, ok, fails, json, type LogJson } from '../vault/util.js'

test('repositories and secrets: every command, its human output and its --json', async (t) => {
  const { pk, dir } = await node(t)
  const created = json(await run(['init', '--kdf', 'test', '--json'], { node: path.join(dir, 'second.pk') }))
  assert.deepEqual(Object.keys(created).sort(), ['id', 'node'])
  assert.match(created.id, /^[0-9a-f]{64}$/)
  fails(await run(['init', '--kdf', 'test'], { node: path.join(dir, 'second.pk') }), 1, /already exists/)
  ok(await pk(['repo', 'create', 'aws']))
  ok(await pk(['repo', 'create', 'gcp']))
  fails(await pk(['repo', 'create', 'aws']), 1, /already exists/)
  ok(await pk(['secret', 'put', 'aws/access-key'], { input: 'AKIA1' }))
  ok(await pk(['secret', 'put', 'aws/secret-key'], { input: 's3cr3t' }))

  const [repos, reposJson, secrets, secretsJson, gcpJson, value] = await Promise.all([
    pk(['repo', 'list']),
    pk(['repo', 'list', '--json']),
    pk(['secret', 'list']),
    pk(['secret', 'list', '--json']),
    pk(['secret', 'list', 'gcp', '--json']),
    pk(['secret', 'get', 'aws/access-key']),
  ])
  assert.equal(ok(repos).out, 'aws\ngcp\n')
  assert.deepEqual(json(reposJson), [
    { name: 'aws', secrets: 2 },
    { name: 'gcp', secrets: 0 },
  ])
  assert.equal(ok(secrets).out, 'aws/access-key\naws/secret-key\n')
  const list = json<{ repo: string; name: string; size: number; mtime: string }[]>(secretsJson)
  assert.deepEqual(
    list.map((s) => [s.repo, s.name, s.size]),
    [
      ['aws', 'access-key', 5],
      ['aws', 'secret-key', 6],
    ],
  )
  for (const s of list) assert.ok(!Number.isNaN(Date.parse(s.mtime)), `mtime is a date: ${s.mtime}`)
  assert.deepEqual(json(gcpJson), [])
  assert.equal(ok(value).out, 'AKIA1')

  const [noSecret, noRepo, noList] = await Promise.all([pk(['secret', 'get', 'aws/nope']), pk(['secret', 'get', 'nope/x']), pk(['secret', 'list', 'nope'])])
  fails(noSecret, 1, /no secret 'aws\/nope'/)
  fails(noRepo, 1, /no repository 'nope'/)
  fails(noList, 1, /no repository 'nope'/)

  // update in place
  ok(await pk(['secret', 'put', 'aws/access-key'], { input: 'AKIA2' }))
  assert.equal(ok(await pk(['secret', 'get', 'aws/access-key'])).out, 'AKIA2')

  // mv across repositories, then within one; refusing to overwrite
  ok(await pk(['secret', 'mv', 'aws/access-key', 'gcp/access-key']))
  fails(await pk(['secret', 'get', 'aws/access-key']), 1)
  ok(await pk(['secret', 'mv', 'gcp/access-key', 'gcp/key']))
  assert.equal(ok(await pk(['secret', 'get', 'gcp/key'])).out, 'AKIA2')
  ok(await pk(['secret', 'put', 'gcp/other'], { input: 'o' }))
  fails(await pk(['secret', 'mv', 'gcp/key', 'gcp/other']), 1, /already exists/)
  fails(await pk(['secret', 'mv', 'gcp/missing', 'gcp/x']), 1, /no secret/)

  // rm
  ok(await pk(['secret', 'rm', 'gcp/other']))
  fails(await pk(['secret', 'rm', 'gcp/other']), 1, /no secret/)

  // repo rename and delete
  ok(await pk(['repo', 'rename', 'aws', 'amazon']))
  fails(await pk(['repo', 'rename', 'amazon', 'gcp']), 1, /already exists/)
  fails(await pk(['repo', 'rename', 'aws', 'x']), 1, /no repository 'aws'/)
  assert.equal(ok(await pk(['secret', 'get', 'amazon/secret-key'])).out, 's3cr3t')
  ok(await pk(['repo', 'delete', 'gcp']))
  fails(await pk(['repo', 'delete', 'gcp']), 1, /no repository 'gcp'/)

  const [infoRun, idRun, idJson] = await Promise.all([pk(['info', '--json']), pk(['node', 'id']), pk(['node', 'id', '--json'])])
  const info = json(infoRun)
  assert.equal(info.repositories, 1)
  assert.equal(info.secrets, 1)
  assert.equal(info.tags, 0)
  assert.equal(ok(idRun).out, `${info.id}\n`)
  assert.deepEqual(json(idJson), { id: info.id })
  assert.equal(ok(await pk(['repo', 'list'])).out, 'amazon\n')
  assert.deepEqual(
    json(await pk(['secret', 'list', '--json'])).map((s: any) => `${s.repo}/${s.name}`),
    ['amazon/secret-key'],
  )

  // a wrong passphrase is exit 3 for these commands too
  fails(await pk(['secret', 'get', 'amazon/secret-key'], { env: { POLYKEY_PASSPHRASE: 'wrong' } }), 3)
})

test('history: one commit per change with a message saying what changed; log, get --rev', async (t) => {
  const { pk } = await node(t)
  ok(await pk(['repo', 'create', 'app']))
  ok(await pk(['secret', 'put', 'app/key'], { input: 'one' }))
  ok(await pk(['secret', 'put', 'app/key'], { input: 'two' }))
  ok(await pk(['secret', 'put', 'app/key'], { input: 'two' })) // unchanged: no commit
  ok(await pk(['secret', 'put', 'app/b'], { input: 'bee' }))
  ok(await pk(['secret', 'mv', 'app/b', 'app/c']))
  ok(await pk(['secret', 'rm', 'app/c']))

  const [logJson, logText, limited] = await Promise.all([pk(['repo', 'log', 'app', '--json']), pk(['repo', 'log', 'app']), pk(['repo', 'log', 'app', '--limit', '2', '--json'])])
  const log = json<LogJson[]>(logJson)
  assert.deepEqual(
    log.map((e) => e.message),
    ['remove c', 'rename b to c', 'add b', 'update key', 'add key'],
  )
  for (const e of log) {
    assert.deepEqual(Object.keys(e).sort(), ['commit', 'message', 'signature', 'signer', 'time', 'verified'])
    assert.deepEqual([e.signer, e.verified], ['self', true], 'signed by this node')
    assert.match(e.commit, /^[0-9a-f]{40}$/)
    assert.ok(!Number.isNaN(Date.parse(e.time)))
  }
  const times = log.map((e) => Date.parse(e.time))
  assert.deepEqual(
    times,
    [...times].sort((a, b) => b - a),
    'newest first',
  )
  const lines = ok(logText).out.trimEnd().split('\n')
  assert.equal(lines.length, 5)
  assert.match(lines[0], /^[0-9a-f]{12}\s+\d{4}-\d\d-\d\dT[\d:.]+Z\s+self\s+remove c$/)
  assert.ok(log[0].commit.startsWith(lines[0].slice(0, 12)))
  assert.equal(json<LogJson[]>(limited).length, 2)

  const [addKey, updateKey, addB, renamed] = [log[4].commit, log[3].commit, log[2].commit, log[1].commit]
  const got = await Promise.all([
    pk(['secret', 'get', 'app/key', '--rev', addKey]),
    pk(['secret', 'get', 'app/key', '--rev', addKey.slice(0, 7)]),
    pk(['secret', 'get', 'app/key', '--rev', updateKey.slice(0, 12)]),
    pk(['secret', 'get', 'app/b', '--rev', addB]),
    pk(['secret', 'get', 'app/c', '--rev', renamed]),
    pk(['secret', 'get', 'app/key']),
  ])
  assert.deepEqual(
    got.map((r) => ok(r).out),
    ['one', 'one', 'two', 'bee', 'bee', 'two'],
  )

  const [notThen, notHex, unknown, gone] = await Promise.all([
    pk(['secret', 'get', 'app/c', '--rev', addKey]),
    pk(['secret', 'get', 'app/key', '--rev', 'zzzz']),
    pk(['secret', 'get', 'app/key', '--rev', 'deadbeef']),
    pk(['secret', 'get', 'app/c']),
  ])
  fails(notThen, 1, /does not exist/)
  fails(notHex, 2, /not a commit id/)
  fails(unknown, 1, /no commit/)
  fails(gone, 1)
  fails(await pk(['repo', 'log', 'nope']), 1, /no repository/)
})

test('revert: a new commit restores the state; secrets added later disappear and leave their tags', async (t) => {
  const { pk } = await node(t)
  ok(await pk(['repo', 'create', 'r']))
  ok(await pk(['secret', 'put', 'r/a'], { input: 'a1' }))
  ok(await pk(['secret', 'put', 'r/b'], { input: 'b1' }))
  const target = json<LogJson[]>(await pk(['repo', 'log', 'r', '--json']))[0].commit
  ok(await pk(['secret', 'put', 'r/a'], { input: 'a2' }))
  ok(await pk(['secret', 'put', 'r/c'], { input: 'c1' }))
  ok(await pk(['tag', 'add', 'prod', 'r/c']))
  ok(await pk(['tag', 'add', 'prod', 'r/a']))
  ok(await pk(['secret', 'rm', 'r/b']))
  const before = json<LogJson[]>(await pk(['repo', 'log', 'r', '--json']))

  const rev = ok(await pk(['repo', 'revert', 'r', target.slice(0, 8)]))
  const after = json<LogJson[]>(await pk(['repo', 'log', 'r', '--json']))
  assert.equal(after.length, before.length + 1, 'a new commit, history kept')
  assert.equal(rev.out.trim(), after[0].commit)
  assert.match(after[0].message, new RegExp(`^revert to ${target.slice(0, 12)}`))
  assert.deepEqual(after.slice(1), before)

  const [a, b, c, list, tags, oldC] = await Promise.all([
    pk(['secret', 'get', 'r/a']),
    pk(['secret', 'get', 'r/b']),
    pk(['secret', 'get', 'r/c']),
    pk(['secret', 'list', 'r']),
    pk(['tag', 'list', 'prod', '--json']),
    pk(['secret', 'get', 'r/c', '--rev', before[0].commit]),
  ])
  assert.equal(ok(a).out, 'a1')
  assert.equal(ok(b).out, 'b1')
  fails(c, 1)
  assert.equal(ok(list).out, 'r/a\nr/b\n')
  assert.deepEqual(json(tags), [{ tag: 'prod', secrets: [{ entry: 'a', secret: 'r/a' }] }])
  assert.equal(ok(oldC).out, 'c1', 'the reverted-away value stays in history')
  fails(await pk(['repo', 'revert', 'r', 'deadbeef']), 1)
  fails(await pk(['repo', 'revert', 'nope', target]), 1)
})

test('tags: NAME@REPO for a second secret of one name; tags follow renames and deletes', async (t) => {
  const { pk } = await node(t)
  ok(await pk(['repo', 'create', 'aws']))
  ok(await pk(['repo', 'create', 'gcp']))
  ok(await pk(['secret', 'put', 'aws/key'], { input: 'A' }))
  ok(await pk(['secret', 'put', 'gcp/key'], { input: 'G' }))
  ok(await pk(['secret', 'put', 'aws/token'], { input: 'T' }))
  ok(await pk(['tag', 'add', 'prod', 'aws/key']))
  ok(await pk(['tag', 'add', 'prod', 'gcp/key']))
  ok(await pk(['tag', 'add', 'prod', 'aws/key'])) // already tagged: no second entry
  ok(await pk(['tag', 'add', 'dev', 'aws/token']))
  const tags = () => pk(['tag', 'list', '--json']).then((r) => json<{ tag: string; secrets: { entry: string; secret: string }[] }[]>(r))

  assert.deepEqual(await tags(), [
    { tag: 'dev', secrets: [{ entry: 'token', secret: 'aws/token' }] },
    {
      tag: 'prod',
      secrets: [
        { entry: 'key', secret: 'aws/key' },
        { entry: 'key@gcp', secret: 'gcp/key' },
      ],
    },
  ])
  const [human, one, info] = await Promise.all([pk(['tag', 'list']), pk(['tag', 'list', 'prod']), pk(['info', '--json'])])
  assert.equal(ok(human).out, 'dev\t1 secret\nprod\t2 secrets\n')
  assert.equal(ok(one).out, 'aws/key\ngcp/key\n')
  assert.equal(json(info).tags, 2)
  fails(await pk(['tag', 'add', 'prod', 'aws/missing']), 1, /no secret/)
  fails(await pk(['tag', 'list', 'nope']), 1, /no tag/)
  // tags are node-level: no commit in any repository
  assert.deepEqual(
    json<LogJson[]>(await pk(['repo', 'log', 'aws', '--json'])).map((e) => e.message),
    ['add token', 'add key'],
  )

  // renames keep tags
  ok(await pk(['secret', 'mv', 'aws/token', 'aws/tok']))
  ok(await pk(['repo', 'rename', 'gcp', 'google']))
  assert.deepEqual(await tags(), [
    { tag: 'dev', secrets: [{ entry: 'tok', secret: 'aws/tok' }] },
    {
      tag: 'prod',
      secrets: [
        { entry: 'key', secret: 'aws/key' },
        { entry: 'key@google', secret: 'google/key' },
      ],
    },
  ])
  ok(await pk(['secret', 'mv', 'aws/key', 'google/key2']))
  assert.deepEqual((await tags()).find((x) => x.tag === 'prod')!.secrets, [
    { entry: 'key2', secret: 'google/key2' },
    { entry: 'key@google', secret: 'google/key' },
  ])

  // deletes untag
  ok(await pk(['secret', 'rm', 'google/key2']))
  assert.deepEqual((await tags()).find((x) => x.tag === 'prod')!.secrets, [{ entry: 'key@google', secret: 'google/key' }])
  ok(await pk(['repo', 'delete', 'google']))
  assert.deepEqual((await tags()).find((x) => x.tag === 'prod')?.secrets ?? [], [])

  // tag rm; the last one removes the tag
  ok(await pk(['tag', 'rm', 'dev', 'aws/tok']))
  fails(await pk(['tag', 'rm', 'dev', 'aws/tok']), 1)
  assert.equal(
    (await tags()).find((x) => x.tag === 'dev'),
    undefined,
  )
  assert.equal(ok(await pk(['secret', 'get', 'aws/tok'])).out, 'T', 'untagging keeps the secret')
})
