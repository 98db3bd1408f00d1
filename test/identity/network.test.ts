// Honest networking: a service that is down, slow, rate-limiting, or answering too much or
// nonsense gives exit 1 and one line naming it, and never a hang.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { makeNode } from '../sync/sync-helpers.js'
import { closedPort, fakeServices } from './fixtures.js'

function oneLine(stderr: string): string {
  const lines = stderr.trim().split('\n')
  assert.equal(lines.filter((l) => l.startsWith('polykey: error:')).length, 1, stderr)
  assert.ok(!/\n\s+at /.test(stderr), `no stack trace: ${stderr}`)
  return lines[0]
}

test('service down: connection refused, and a server that never answers', async (t) => {
  const svc = await fakeServices(t)
  const bob = await makeNode(t)
  const port = await closedPort()
  const r = await bob.pk(['peer', 'add', 'x', 'keybase:alice'], { env: { ...svc.env, POLYKEY_KEYBASE_URL: `http://127.0.0.1:${port}` } })
  assert.equal(r.code, 1)
  assert.equal(oneLine(r.stderr), `polykey: error: cannot reach Keybase at http://127.0.0.1:${port}: connection refused`)
  svc.routes.set('/gh/alice.keys', 'hang')
  const r2 = await bob.pk(['peer', 'add', 'x', 'github:alice'], { env: { ...svc.env, POLYKEY_IDENTITY_TIMEOUT: '1' } })
  assert.equal(r2.code, 1)
  assert.match(oneLine(r2.stderr), /^polykey: error: GitHub \(http:\/\/127\.0\.0\.1:\d+\) did not answer within 1 s$/)
  // the option wins over the environment
  const r3 = await bob.pk(['peer', 'add', 'x', 'github:alice', '--github-url', `http://127.0.0.1:${port}`], { env: svc.env })
  assert.match(oneLine(r3.stderr), /cannot reach GitHub at .*connection refused/)
  assert.equal(await bob.ok(['peer', 'list']), '')
})

test('rate limits: HTTP 429 from Keybase, 403 with no requests left from GitHub', async (t) => {
  const svc = await fakeServices(t)
  const bob = await makeNode(t)
  svc.routes.set('/kb/_/api/1.0/user/lookup.json?usernames=alice', { status: 429, headers: { 'retry-after': '60' }, body: 'slow down' })
  const r = await bob.pk(['peer', 'add', 'x', 'keybase:alice'], { env: svc.env })
  assert.equal(r.code, 1)
  assert.equal(oneLine(r.stderr), 'polykey: error: Keybase is rate-limiting requests for 60 s; try again later')
  svc.githubKeys('alice', ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGCdummydummydummydummydummydummydummydummy'])
  svc.routes.set('/api/users/alice/gists', {
    status: 403,
    headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '1800000000' },
    body: '{"message":"API rate limit exceeded"}',
  })
  const r2 = await bob.pk(['peer', 'add', 'x', 'github:alice'], { env: svc.env })
  assert.equal(r2.code, 1)
  assert.match(oneLine(r2.stderr), /the GitHub API is rate-limiting requests until \d\d:\d\d UTC; try again later/)
  svc.routes.set('/kb/_/api/1.0/user/lookup.json?usernames=alice', { status: 503, body: 'down for maintenance' })
  const r3 = await bob.pk(['peer', 'add', 'x', 'keybase:alice'], { env: svc.env })
  assert.match(oneLine(r3.stderr), /Keybase is failing \(HTTP 503\)/)
})

test('oversized and malformed answers are refused', async (t) => {
  const svc = await fakeServices(t)
  const bob = await makeNode(t)
  svc.routes.set('/gh/alice.keys', { body: Buffer.alloc(300 * 1024, 'a') })
  const r = await bob.pk(['peer', 'add', 'x', 'github:alice'], { env: svc.env })
  assert.equal(r.code, 1)
  assert.match(oneLine(r.stderr), /GitHub answered more than 262144 bytes for \/gh\/alice\.keys; refusing it/)
  svc.routes.set('/kb/_/api/1.0/user/lookup.json?usernames=alice', { body: '<html>not json</html>' })
  const r2 = await bob.pk(['peer', 'add', 'x', 'keybase:alice'], { env: svc.env })
  assert.match(oneLine(r2.stderr), /Keybase answered something that is not JSON/)
  svc.routes.set('/kb/_/api/1.0/user/lookup.json?usernames=alice', { body: JSON.stringify({ them: [{ basics: {} }] }) })
  const r3 = await bob.pk(['peer', 'add', 'x', 'keybase:alice'], { env: svc.env })
  assert.match(oneLine(r3.stderr), /Keybase answered a malformed lookup \(no status\)/)
  svc.routes.set('/kb/_/api/1.0/user/lookup.json?usernames=alice', { body: JSON.stringify({ status: { code: 0 }, them: [{ basics: { username: 'mallory' } }] }) })
  const r4 = await bob.pk(['peer', 'add', 'x', 'keybase:alice'], { env: svc.env })
  assert.match(oneLine(r4.stderr), /asked for 'alice', got 'mallory'/)
  svc.githubKeys('alice', ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGCdummydummydummydummydummydummydummydummy'])
  svc.routes.set('/api/users/alice/gists', { body: '{"message":"Not an array"}' })
  const r5 = await bob.pk(['peer', 'add', 'x', 'github:alice'], { env: svc.env })
  assert.match(oneLine(r5.stderr), /GitHub answered a malformed gist list for alice/)
  svc.routes.set('/gh/alice.keys', { body: '<html>login</html>\n' })
  const r6 = await bob.pk(['peer', 'add', 'x', 'github:alice'], { env: svc.env })
  assert.match(oneLine(r6.stderr), /GitHub answered something that is not a list of SSH keys/)
})

test('bad input at the edge: user names, service URLs, --proof with a node id', async (t) => {
  const bob = await makeNode(t)
  const r = await bob.pk(['peer', 'add', 'x', 'github:-bad-'])
  assert.equal(r.code, 2)
  assert.match(oneLine(r.stderr), /not a GitHub user name: "-bad-"/)
  const r2 = await bob.pk(['peer', 'add', 'x', 'keybase:a/b'])
  assert.equal(r2.code, 2)
  const r3 = await bob.pk(['peer', 'add', 'x', 'github:alice', '--github-url', 'file:///etc/passwd'])
  assert.equal(r3.code, 2)
  assert.match(oneLine(r3.stderr), /--github-url must be an http\(s\) URL/)
  const r4 = await bob.pk(['peer', 'add', 'x', 'a'.repeat(64), '--proof', 'https://example.org/p'])
  assert.equal(r4.code, 2)
  const r5 = await bob.pk(['identity', 'verify', 'nobody'])
  assert.equal(r5.code, 1)
  assert.match(oneLine(r5.stderr), /no peer 'nobody'/)
})
