// Attacks on identity discovery, replayed (docs/IDENTITY.md §What this proves). Each would give
// the attacker's node under a victim's name, or let a network attacker choose the keys.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { makeNode } from '../sync/sync-helpers.js'
import { fakeServices, gpgUser, sshUser } from '../identity/fixtures.js'

test('unsigned text around the signed block does not count (a fake statement before the real one)', async (t) => {
  const svc = await fakeServices(t)
  const [alice, bob, mallory] = [await makeNode(t), await makeNode(t), await makeNode(t)]
  const pgp = gpgUser(t, 'alice')
  svc.keybaseUser('alice', { bundle: pgp.bundle, fingerprint: pgp.fingerprint, proofs: [{ proof_type: 'generic_web_site', nametag: 'x', state: 1, service_url: `${svc.base}/` }] })
  const real = await alice.pk(['identity', 'claim', 'keybase', 'alice'], { env: { ...svc.env, GNUPGHOME: pgp.home } })
  assert.equal(real.code, 0, real.stderr)
  const forged = real.out.split('\n\n').slice(1).join('\n\n').split('-----BEGIN PGP SIGNATURE-----')[0].replace(alice.id, mallory.id)
  svc.doc('/.well-known/polykey.txt', `${forged}\n${real.out}`)
  const r = await bob.pk(['peer', 'add', 'al', 'keybase:alice'], { env: svc.env })
  assert.equal(r.code, 0, r.stderr)
  assert.ok(r.out.includes(`node ${alice.id}`), r.out)
  assert.ok(!(await bob.ok(['peer', 'list'])).includes(mallory.id))
})

test("the verifier's own gpg keyring never counts: a key trusted there but not listed by Keybase is refused", async (t) => {
  const svc = await fakeServices(t)
  const [alice, bob] = [await makeNode(t), await makeNode(t)]
  const pgp = gpgUser(t, 'alice')
  const mallory = gpgUser(t, 'mallory')
  svc.keybaseUser('alice', { bundle: pgp.bundle, fingerprint: pgp.fingerprint, proofs: [{ proof_type: 'generic_web_site', nametag: 'x', state: 1, service_url: `${svc.base}/` }] })
  const fields = { service: 'keybase', user: 'alice', userKey: `pgp:${mallory.fingerprint}`, created: '2026-01-01T00:00:00Z', expires: '2099-01-01T00:00:00Z' }
  const text = await alice.ok(['identity', 'node-sign', JSON.stringify(fields)])
  svc.doc('/.well-known/polykey.txt', mallory.clearsign(text))
  // bob's own GNUPGHOME holds (and ultimately trusts) mallory's key
  const r = await bob.pk(['peer', 'add', 'al', 'keybase:alice'], { env: { ...svc.env, GNUPGHOME: mallory.home } })
  assert.equal(r.code, 1)
  assert.match(r.stderr, /polykey: error: keybase:alice: the statement does not verify: it is signed by PGP key [0-9A-F]{16}, which Keybase \(for alice\) does not list/)
})

test('an ssh signature made for another purpose (namespace git) is not a statement signature', async (t) => {
  const svc = await fakeServices(t)
  const [alice, bob] = [await makeNode(t), await makeNode(t)]
  const key = sshUser(t, 'alice')
  svc.githubKeys('alice', [key.key])
  const fields = { service: 'github', user: 'alice', userKey: key.key, created: '2026-01-01T00:00:00Z', expires: '2099-01-01T00:00:00Z' }
  const text = await alice.ok(['identity', 'node-sign', JSON.stringify(fields)])
  const { execFileSync } = await import('node:child_process')
  const gitSig = execFileSync('ssh-keygen', ['-q', '-Y', 'sign', '-n', 'git', '-f', key.file], { input: text }).toString()
  svc.gists('alice', [{ name: 'polykey.txt', path: '/raw/p' }])
  svc.doc('/raw/p', text + gitSig)
  const r = await bob.pk(['peer', 'add', 'al', 'github:alice'], { env: svc.env })
  assert.equal(r.code, 1)
  assert.match(r.stderr, /polykey: error: github:alice: the statement does not verify/)
})

test('keys come over TLS only: plain http to another host is refused, also when reached by a redirect', async (t) => {
  const svc = await fakeServices(t)
  const bob = await makeNode(t)
  const r = await bob.pk(['peer', 'add', 'x', 'keybase:alice'], { env: { ...svc.env, POLYKEY_KEYBASE_URL: 'http://keybase.example' } })
  assert.equal(r.code, 1)
  assert.match(r.stderr, /polykey: error: --keybase-url http:\/\/keybase\.example is plain http/)
  svc.routes.set('/gh/alice.keys', { status: 302, headers: { location: 'http://keys.example/alice.keys' }, body: '' })
  const r2 = await bob.pk(['peer', 'add', 'x', 'github:alice'], { env: svc.env })
  assert.equal(r2.code, 1)
  assert.match(r2.stderr, /polykey: error: GitHub's redirect http:\/\/keys\.example is plain http/)
})

test('the node signs only statements naming itself (no signing oracle for other nodes or other bytes)', async (t) => {
  const [alice, carol] = [await makeNode(t), await makeNode(t)]
  const key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl'
  const out = await alice.ok([
    'identity',
    'node-sign',
    JSON.stringify({ service: 'github', user: 'alice', userKey: key, node: carol.id, created: '2026-01-01T00:00:00Z', expires: '2099-01-01T00:00:00Z' }),
  ])
  assert.ok(out.includes(`node: ${alice.id}\n`) && !out.includes(carol.id))
  const r = await alice.pk([
    'identity',
    'node-sign',
    JSON.stringify({ service: 'github', user: 'alice\nnode: x', userKey: key, created: '2026-01-01T00:00:00Z', expires: '2099-01-01T00:00:00Z' }),
  ])
  assert.equal(r.code, 1)
  assert.match(r.stderr, /malformed/)
})
