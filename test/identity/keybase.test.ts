// Keybase identities end to end: a real gpg key (the one the fake Keybase lists), clearsigned
// statements found on a proven web site or a proven GitHub account's gists, and the refusals.
import { after, test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { makeNode, type TestNode } from '../sync/sync-helpers.js'
import { fakeServices, perFile, gpgUser, type FakeServices, type GpgUser } from './fixtures.js'

const aliceNode = perFile(makeNode, after)

async function setup(t: TestContext): Promise<{ svc: FakeServices; alice: TestNode; bob: TestNode; pgp: GpgUser; env: Record<string, string> }> {
  const svc = await fakeServices(t)
  // alice's node only signs claims (it never changes): one for the file; bob is new each time
  const [alice, bob] = [await aliceNode(), await makeNode(t)]
  const pgp = gpgUser(t, 'alice')
  svc.keybaseUser('alice', {
    bundle: pgp.bundle,
    fingerprint: pgp.fingerprint,
    proofs: [
      { proof_type: 'github', nametag: 'alicegh', state: 1, proof_url: `${svc.base}/gist/alicegh/1`, service_url: 'https://github.com/alicegh', presentation_group: 'github' },
      { proof_type: 'generic_web_site', nametag: '127.0.0.1', state: 1, service_url: `${svc.base}/`, proof_url: `${svc.base}/keybase.txt`, presentation_group: 'web' },
      { proof_type: 'twitter', nametag: 'alice_tw', state: 2, service_url: 'https://twitter.com/alice_tw' },
    ],
  })
  return { svc, alice, bob, pgp, env: { ...svc.env, GNUPGHOME: pgp.home } }
}

async function claim(s: Awaited<ReturnType<typeof setup>>): Promise<string> {
  const r = await s.alice.pk(['identity', 'claim', 'keybase', 'alice'], { env: s.env })
  assert.equal(r.code, 0, r.stderr)
  // where to publish: the places a peer will look (proven GitHub account, proven site)
  assert.match(r.stderr, /a public gist of github:alicegh with a file named polykey\.txt/)
  assert.ok(r.stderr.includes(`${s.svc.base}/.well-known/polykey.txt`), r.stderr)
  return r.out
}

function oneLine(stderr: string): string {
  const lines = stderr.trim().split('\n')
  assert.equal(lines.filter((l) => l.startsWith('polykey: error:')).length, 1, stderr)
  assert.ok(!/\n\s+at /.test(stderr), `no stack trace: ${stderr}`)
  return lines[0]
}

test('keybase: claim with the listed PGP key, publish on a proven site, peer add; other proofs printed', async (t) => {
  const s = await setup(t)
  const doc = await claim(s)
  assert.match(doc, /^-----BEGIN PGP SIGNED MESSAGE-----\nHash: \w+\n\npolykey-identity-statement: 1\nservice: keybase\nuser: alice\n/)
  assert.ok(doc.includes(`user-key: pgp:${s.pgp.fingerprint}\n`))
  assert.ok(doc.includes(`node: ${s.alice.id}\n`))
  s.svc.doc('/.well-known/polykey.txt', doc)
  const add = await s.bob.pk(['peer', 'add', 'al', 'keybase:alice'], { env: s.svc.env })
  assert.equal(add.code, 0, add.stderr)
  assert.match(add.out, new RegExp(`added peer al: node ${s.alice.id} \\(keybase:alice, statement at ${s.svc.base}/\\.well-known/polykey\\.txt`))
  // proofs in state OK only (twitter is state 2)
  assert.match(add.out, new RegExp(`alice has also proven on Keybase: github:alicegh, ${s.svc.base}/\\n`))
  assert.match(await s.bob.ok(['peer', 'list']), /^al\t[0-9a-f]{64}\t\(dht\)\tidentity: keybase:alice\n$/)
})

test('keybase: a statement in the gists of a proven GitHub account; identity verify', async (t) => {
  const s = await setup(t)
  s.svc.gists('alicegh', [{ name: 'polykey.txt', path: '/raw/kb' }])
  s.svc.doc('/raw/kb', 'Some words before.\n\n' + (await claim(s)) + '\nand after\n')
  const add = await s.bob.pk(['peer', 'add', 'al', 'keybase:alice', '--json'], { env: s.svc.env })
  assert.equal(add.code, 0, add.stderr)
  const j = JSON.parse(add.out)
  assert.equal(j.id, s.alice.id)
  assert.equal(j.identity.key, `pgp:${s.pgp.fingerprint}`)
  const v = await s.bob.pk(['identity', 'verify', 'al'], { env: s.svc.env })
  assert.equal(v.code, 0, v.stderr)
  s.svc.gists('alicegh', [])
  const gone = await s.bob.pk(['identity', 'verify', 'al'], { env: s.svc.env })
  assert.equal(gone.code, 1)
  assert.match(gone.stderr, /al: keybase:alice no longer holds: no Polykey statement published for keybase:alice/)
})

test('keybase: signed by a key Keybase does not list; the key no longer listed', async (t) => {
  const s = await setup(t)
  const doc = await claim(s)
  const text = (
    await s.alice.pk([
      'identity',
      'node-sign',
      JSON.stringify({ service: 'keybase', user: 'alice', userKey: `pgp:${s.pgp.fingerprint}`, created: '2026-01-01T00:00:00Z', expires: '2099-01-01T00:00:00Z' }),
    ])
  ).out
  const mallory = gpgUser(t, 'mallory')
  s.svc.doc('/.well-known/polykey.txt', mallory.clearsign(text))
  const r = await s.bob.pk(['peer', 'add', 'al', 'keybase:alice'], { env: s.svc.env })
  assert.equal(r.code, 1)
  assert.match(oneLine(r.stderr), /signed by PGP key [0-9A-F]{16}, which Keybase \(for alice\) does not list/)
  // Keybase now lists only mallory's key for alice: alice's own statement no longer holds
  s.svc.doc('/.well-known/polykey.txt', doc)
  s.svc.keybaseUser('alice', {
    bundle: mallory.bundle,
    fingerprint: mallory.fingerprint,
    proofs: [{ proof_type: 'generic_web_site', nametag: 'x', state: 1, service_url: `${s.svc.base}/` }],
  })
  const r2 = await s.bob.pk(['peer', 'add', 'al', 'keybase:alice'], { env: s.svc.env })
  assert.equal(r2.code, 1)
  assert.match(oneLine(r2.stderr), /does not list/)
})

test('keybase: altered text (node id swapped) and a node that never signed are refused', async (t) => {
  const s = await setup(t)
  const doc = await claim(s)
  const carol = await makeNode(t)
  s.svc.doc('/.well-known/polykey.txt', doc.replace(`node: ${s.alice.id}`, `node: ${carol.id}`))
  const r = await s.bob.pk(['peer', 'add', 'al', 'keybase:alice'], { env: s.svc.env })
  assert.equal(r.code, 1)
  assert.match(oneLine(r.stderr), /PGP signature does not match the text/)
  const text = doc.split('\n\n').slice(1).join('\n\n').split('-----BEGIN PGP SIGNATURE-----')[0].replace(`node: ${s.alice.id}`, `node: ${carol.id}`)
  s.svc.doc('/.well-known/polykey.txt', s.pgp.clearsign(text))
  const r2 = await s.bob.pk(['peer', 'add', 'al', 'keybase:alice'], { env: s.svc.env })
  assert.equal(r2.code, 1)
  assert.match(oneLine(r2.stderr), /node signature does not match node/)
})

test('keybase: unknown user (them: [null]), error code inside HTTP 200, expired statement', async (t) => {
  const s = await setup(t)
  s.svc.routes.set('/kb/_/api/1.0/user/lookup.json?usernames=nobody', { body: JSON.stringify({ status: { code: 0, name: 'OK' }, them: [null] }) })
  const r = await s.bob.pk(['peer', 'add', 'x', 'keybase:nobody'], { env: s.svc.env })
  assert.equal(r.code, 1)
  assert.match(oneLine(r.stderr), /Keybase has no user 'nobody'/)
  s.svc.routes.set('/kb/_/api/1.0/user/lookup.json?usernames=weird', { body: JSON.stringify({ status: { code: 100, name: 'INPUT_ERROR', desc: 'bad list of usernames' } }) })
  const r2 = await s.bob.pk(['peer', 'add', 'x', 'keybase:weird'], { env: s.svc.env })
  assert.equal(r2.code, 1)
  assert.match(oneLine(r2.stderr), /Keybase refused the lookup: bad list of usernames \(code 100\)/)
  const text = (
    await s.alice.pk([
      'identity',
      'node-sign',
      JSON.stringify({ service: 'keybase', user: 'alice', userKey: `pgp:${s.pgp.fingerprint}`, created: '2020-01-01T00:00:00Z', expires: '2020-06-01T00:00:00Z' }),
    ])
  ).out
  s.svc.doc('/.well-known/polykey.txt', s.pgp.clearsign(text))
  const r3 = await s.bob.pk(['peer', 'add', 'al', 'keybase:alice'], { env: s.svc.env })
  assert.equal(r3.code, 1)
  assert.match(oneLine(r3.stderr), /the statement expired on 2020-06-01T00:00:00Z/)
})

test('keybase: claim refuses a --gpg-key Keybase does not list', async (t) => {
  const s = await setup(t)
  const r = await s.alice.pk(['identity', 'claim', 'keybase', 'alice', '--gpg-key', '0123456789ABCDEF0123456789ABCDEF01234567'], { env: s.env })
  assert.equal(r.code, 1)
  assert.match(oneLine(r.stderr), /Keybase does not list PGP key 0123456789ABCDEF0123456789ABCDEF01234567 for alice/)
})
