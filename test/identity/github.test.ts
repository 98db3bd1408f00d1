// GitHub identities end to end, through the real CLI: a user claims with a real ssh key, a peer
// finds the node from the user name alone, and every way the statement can fail to hold is
// refused with exit 1 and one line.
import { after, test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { makeNode, type TestNode } from '../sync/sync-helpers.js'
import { closedPort, fakeServices, perFile, sshUser, type FakeServices, type SshUser } from './fixtures.js'

const aliceNode = perFile(makeNode, after)

type T = TestContext

async function setup(t: T): Promise<{ svc: FakeServices; alice: TestNode; bob: TestNode; key: SshUser; env: Record<string, string> }> {
  const svc = await fakeServices(t)
  // alice's node only signs claims (it never changes): one for the file; bob is new each time
  const [alice, bob] = [await aliceNode(), await makeNode(t)]
  const key = sshUser(t, 'alice')
  svc.githubKeys('alice', ['ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDdummydummydummydummy', key.key])
  return { svc, alice, bob, key, env: svc.env }
}

async function claim(s: Awaited<ReturnType<typeof setup>>, extra: string[] = []): Promise<string> {
  const r = await s.alice.pk(['identity', 'claim', 'github', 'alice', '--ssh-key', s.key.file, ...extra], { env: s.env })
  assert.equal(r.code, 0, r.stderr)
  return r.out
}

function oneLine(stderr: string): string {
  const lines = stderr.trim().split('\n')
  assert.equal(lines.filter((l) => l.startsWith('polykey: error:')).length, 1, stderr)
  assert.ok(!/\n\s+at /.test(stderr), `no stack trace: ${stderr}`)
  return lines[0]
}

test('github: claim, publish as a gist, peer add by user name; peer list shows the identity', async (t) => {
  const s = await setup(t)
  const r = await s.alice.pk(['identity', 'claim', 'github', 'alice', '--ssh-key', s.key.file, '--address', '127.0.0.1:7411'], { env: s.env })
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.out, /^polykey-identity-statement: 1\nservice: github\nuser: alice\n/)
  assert.ok(r.out.includes(`user-key: ${s.key.key}\n`))
  assert.ok(r.out.includes(`node: ${s.alice.id}\n`))
  assert.match(r.out, /-----BEGIN SSH SIGNATURE-----/)
  assert.match(r.stderr, /gist of alice with a file named polykey\.txt/)
  s.svc.gists('alice', [
    { name: 'notes.md', path: '/raw/notes' },
    { name: 'polykey.txt', path: '/raw/alice/polykey.txt' },
  ])
  s.svc.doc('/raw/alice/polykey.txt', r.out)
  const add = await s.bob.pk(['peer', 'add', 'al', 'github:alice'], { env: s.env })
  assert.equal(add.code, 0, add.stderr)
  assert.match(add.out, new RegExp(`added peer al: node ${s.alice.id} \\(github:alice`))
  const list = await s.bob.ok(['peer', 'list'])
  assert.match(list, new RegExp(`^al\\t${s.alice.id}\\t127\\.0\\.0\\.1:7411\\tidentity: github:alice\\n`))
  const json = JSON.parse(await s.bob.ok(['peer', 'list', '--json']))
  assert.equal(json[0].identities[0].service, 'github')
  assert.equal(json[0].identities[0].key, s.key.key)
  // the notes file was never fetched: only statement-named files are
  assert.ok(!s.svc.requests.includes('/raw/notes'))
})

test('github: --proof URL; identity verify holds, then warns and marks the peer once the statement is gone', async (t) => {
  const s = await setup(t)
  s.svc.doc('/somewhere/statement.txt', await claim(s))
  const add = await s.bob.pk(['peer', 'add', 'al', 'github:alice', '--proof', `${s.svc.base}/somewhere/statement.txt`], { env: s.env })
  assert.equal(add.code, 0, add.stderr)
  const ok = await s.bob.pk(['identity', 'verify', 'al'], { env: s.env })
  assert.equal(ok.code, 0, ok.stderr)
  assert.match(ok.out, /al: github:alice holds/)
  // GitHub down: reported, nothing marked
  const port = await closedPort()
  const down = await s.bob.pk(['identity', 'verify', 'al', '--github-url', `http://127.0.0.1:${port}`], { env: s.env })
  assert.equal(down.code, 1)
  assert.match(down.stderr, /polykey: warning: al: github:alice could not be checked: cannot reach GitHub at http:\/\/127\.0\.0\.1:\d+: connection refused/)
  assert.doesNotMatch(await s.bob.ok(['peer', 'list']), /NOT verified/)
  s.svc.routes.delete('/somewhere/statement.txt')
  const gone = await s.bob.pk(['identity', 'verify', 'al', '--json'], { env: s.env })
  assert.equal(gone.code, 1)
  const res = JSON.parse(gone.out)
  assert.equal(res[0].state, 'broken')
  assert.match(res[0].problem, /is gone \(HTTP 404\)/)
  const list = await s.bob.ok(['peer', 'list'])
  assert.match(list, /identity: github:alice \(NOT verified: .*gone/)
  // it comes back: verify clears the mark
  s.svc.doc('/somewhere/statement.txt', await claim(s))
  assert.equal((await s.bob.pk(['identity', 'verify', 'al'], { env: s.env })).code, 0)
  assert.doesNotMatch(await s.bob.ok(['peer', 'list']), /NOT verified/)
})

test('github: key no longer listed, then identity verify says so', async (t) => {
  const s = await setup(t)
  s.svc.gists('alice', [{ name: 'polykey.txt', path: '/raw/p' }])
  s.svc.doc('/raw/p', await claim(s))
  assert.equal((await s.bob.pk(['peer', 'add', 'al', 'github:alice'], { env: s.env })).code, 0)
  const other = sshUser(t, 'other')
  s.svc.githubKeys('alice', [other.key])
  const r = await s.bob.pk(['identity', 'verify', 'al'], { env: s.env })
  assert.equal(r.code, 1)
  assert.match(r.stderr, /polykey: warning: al: github:alice no longer holds: .*which GitHub no longer lists for alice/)
  const fresh = await s.bob.pk(['peer', 'add', 'al2', 'github:alice'], { env: s.env })
  assert.equal(fresh.code, 1)
  assert.match(oneLine(fresh.stderr), /which GitHub no longer lists for alice/)
})

test('github: a statement signed by another ssh key is refused', async (t) => {
  const s = await setup(t)
  const text = (await claim(s)).split('-----BEGIN SSH SIGNATURE-----')[0]
  const mallory = sshUser(t, 'mallory')
  s.svc.gists('alice', [{ name: 'polykey.txt', path: '/raw/p' }])
  s.svc.doc('/raw/p', text + mallory.sign(text))
  const r = await s.bob.pk(['peer', 'add', 'al', 'github:alice'], { env: s.env })
  assert.equal(r.code, 1)
  assert.match(oneLine(r.stderr), /signed by another SSH key \(SHA256:/)
  assert.equal(await s.bob.ok(['peer', 'list']), '')
})

test('github: node id swapped after signing, or a node that never signed, is refused', async (t) => {
  const s = await setup(t)
  const doc = await claim(s)
  const carol = await makeNode(t)
  s.svc.gists('alice', [{ name: 'polykey.txt', path: '/raw/p' }])
  // a third party swaps the node id: alice's signature no longer matches
  s.svc.doc('/raw/p', doc.replace(`node: ${s.alice.id}`, `node: ${carol.id}`))
  const r1 = await s.bob.pk(['peer', 'add', 'al', 'github:alice'], { env: s.env })
  assert.equal(r1.code, 1)
  assert.match(oneLine(r1.stderr), /SSH signature does not match the text/)
  // alice herself signs a statement naming carol's node, which carol's node never signed
  const text = doc.split('-----BEGIN SSH SIGNATURE-----')[0].replace(`node: ${s.alice.id}`, `node: ${carol.id}`)
  s.svc.doc('/raw/p', text + s.key.sign(text))
  const r2 = await s.bob.pk(['peer', 'add', 'al', 'github:alice'], { env: s.env })
  assert.equal(r2.code, 1)
  assert.match(oneLine(r2.stderr), /node signature does not match node/)
})

test('github: expired statement, wrong user name, unknown user, no statement', async (t) => {
  const s = await setup(t)
  // an old statement, signed by both for real (the node signs what it is given, dates included)
  const fields = { service: 'github', user: 'alice', userKey: s.key.key, created: '2020-01-01T00:00:00Z', expires: '2021-01-01T00:00:00Z' }
  const text = await s.alice.ok(['identity', 'node-sign', JSON.stringify(fields)])
  s.svc.gists('alice', [{ name: 'polykey.txt', path: '/raw/p' }])
  s.svc.doc('/raw/p', text + s.key.sign(text))
  const r = await s.bob.pk(['peer', 'add', 'al', 'github:alice'], { env: s.env })
  assert.equal(r.code, 1)
  assert.match(oneLine(r.stderr), /the statement expired on 2021-01-01T00:00:00Z/)
  // alice's statement published under bob-the-user's account
  s.svc.githubKeys('bobby', [s.key.key])
  s.svc.gists('bobby', [{ name: 'polykey.txt', path: '/raw/b' }])
  s.svc.doc('/raw/b', await claim(s))
  const r2 = await s.bob.pk(['peer', 'add', 'al', 'github:bobby'], { env: s.env })
  assert.equal(r2.code, 1)
  assert.match(oneLine(r2.stderr), /names github user 'alice', not 'bobby'/)
  const r3 = await s.bob.pk(['peer', 'add', 'al', 'github:nobody'], { env: s.env })
  assert.equal(r3.code, 1)
  assert.match(oneLine(r3.stderr), /GitHub has no user 'nobody'/)
  s.svc.gists('alice', [])
  const r4 = await s.bob.pk(['peer', 'add', 'al', 'github:alice'], { env: s.env })
  assert.equal(r4.code, 1)
  assert.match(oneLine(r4.stderr), /no Polykey statement published for github:alice/)
  assert.match(r4.stderr, /polykey: hint: .*--proof URL/)
})

test('github: claim refuses a key GitHub does not list', async (t) => {
  const s = await setup(t)
  const other = sshUser(t, 'other')
  const r = await s.alice.pk(['identity', 'claim', 'github', 'alice', '--ssh-key', other.file], { env: s.env })
  assert.equal(r.code, 1)
  assert.match(oneLine(r.stderr), /GitHub does not list .*id_ed25519\.pub for alice/)
  assert.equal(r.out, '')
})
