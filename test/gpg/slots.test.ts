// Key slots as a user meets them: a node that opens through gpg alone (agent, pinentry), key
// files, slot list/add/rm, and the one-line errors when gpg cannot help (exit 3), is missing, or
// the key file is wrong. Real gpg and gpg-agent in a throwaway GNUPGHOME.
import test from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { run, newNode, PASS } from '../helpers.js'
import { gpgHome } from './gpg-helpers.js'

const NO_PASS = { POLYKEY_PASSPHRASE: undefined }

async function slots(node: string, env: Record<string, string | undefined> = {}) {
  const r = await run(['slot', 'list', '--json'], { node, env: { ...NO_PASS, ...env } })
  assert.equal(r.code, 0, r.stderr)
  return JSON.parse(r.out) as { id: string; kind: string; fingerprint?: string; label?: string; added: string | null }[]
}

test('a node with only a gpg slot opens with no prompt when gpg-agent has the key', async (t) => {
  const g = gpgHome(t)
  const { node } = await newNode(t)
  const add = await run(['slot', 'add', 'gpg', g.uid], { node, env: g.env })
  assert.equal(add.code, 0, add.stderr)
  assert.match(add.out, new RegExp(g.fpr))
  assert.equal((await run(['repo', 'create', 'ci'], { node, env: g.env })).code, 0)
  assert.equal((await run(['secret', 'put', 'ci/token'], { node, input: 's3cret', env: g.env })).code, 0)
  const pass = (await slots(node)).find((s) => s.kind === 'passphrase')!
  assert.equal((await run(['slot', 'rm', pass.id], { node, env: g.env })).code, 0)
  const left = await slots(node)
  assert.deepEqual(
    left.map((s) => [s.kind, s.fingerprint]),
    [['gpg', g.fpr]],
  )
  assert.match(left[0].added!, /^\d{4}-\d\d-\d\dT/)
  // No passphrase anywhere, no terminal: gpg alone unlocks it.
  const get = await run(['secret', 'get', 'ci/token'], { node, env: { ...g.env, ...NO_PASS } })
  assert.equal(get.code, 0, get.stderr)
  assert.equal(get.out, 's3cret')
  // The last slot cannot go.
  const rm = await run(['slot', 'rm', left[0].id], { node, env: { ...g.env, ...NO_PASS } })
  assert.equal(rm.code, 1)
  assert.match(rm.stderr, /^polykey: error: slot \w+ is the node's only key slot/)
  // Another user's gpg home (no secret key): exit 3 and what gpg said, in one line.
  const other = gpgHome(t, { uid: 'Someone Else <else@polykey.invalid>' })
  const r = await run(['secret', 'get', 'ci/token'], { node, env: { ...other.env, ...NO_PASS } })
  assert.equal(r.code, 3)
  assert.match(
    r.stderr,
    new RegExp(`^polykey: error: gpg could not decrypt the gpg key slot \\([0-9A-F]{40}\\) of ${node}: no secret key for [0-9A-F]{16} in this gpg keyring \\(gpg: [^\\n]*\\)\n`),
  )
  assert.equal(r.stderr.split('\n').filter((l) => l.startsWith('polykey: error')).length, 1)
  assert.equal(r.stdout.length, 0)
})

test('a passphrase-protected gpg key: pinentry answers, or is cancelled (exit 3)', async (t) => {
  const g = gpgHome(t, { passphrase: 'gpg key passphrase' })
  const { node } = await newNode(t)
  assert.equal((await run(['slot', 'add', 'gpg', g.fpr], { node, env: g.env })).code, 0)
  assert.equal((await run(['repo', 'create', 'r'], { node, env: g.env })).code, 0)
  assert.equal((await run(['secret', 'put', 'r/s'], { node, input: 'value', env: g.env })).code, 0)
  const ok = await run(['secret', 'get', 'r/s'], { node, env: { ...g.env, ...NO_PASS } })
  assert.equal(ok.code, 0, ok.stderr)
  assert.equal(ok.out, 'value')
  g.cancelPinentry(true)
  const r = await run(['secret', 'get', 'r/s'], { node, env: { ...g.env, ...NO_PASS } })
  assert.equal(r.code, 3)
  assert.match(r.stderr, /^polykey: error: gpg could not decrypt the gpg key slot .*cancel/i)
  assert.doesNotMatch(r.stderr, /at .*\.js/) // no stack trace
  // The passphrase slot still works while gpg cannot.
  assert.equal((await run(['secret', 'get', 'r/s'], { node, env: g.env })).out, 'value')
})

test('gpg missing from PATH: a clear error', async (t) => {
  const g = gpgHome(t)
  const { node } = await newNode(t)
  assert.equal((await run(['slot', 'add', 'gpg', g.fpr], { node, env: g.env })).code, 0)
  const r = await run(['info'], { node, env: { ...g.env, ...NO_PASS, PATH: path.dirname(process.execPath) === '/usr/bin' ? '/nonexistent' : path.dirname(process.execPath) } })
  assert.equal(r.code, 1)
  assert.match(r.stderr, /^polykey: error: gpg is not installed: 'gpg' was not found on PATH\npolykey: hint: install GnuPG/)
  const add = await run(['slot', 'add', 'gpg', g.fpr], { node, env: { ...g.env, PATH: '/nonexistent' } })
  assert.equal(add.code, 1)
  assert.match(add.stderr, /gpg is not installed/)
})

test('slot add gpg: unknown recipients and ambiguous ones are refused', async (t) => {
  const g = gpgHome(t)
  const { node } = await newNode(t)
  const r = await run(['slot', 'add', 'gpg', 'nobody@polykey.invalid'], { node, env: g.env })
  assert.equal(r.code, 1)
  assert.match(r.stderr, /^polykey: error: gpg has no public key for "nobody@polykey.invalid"/)
  assert.equal((await slots(node)).length, 1)
})

test('key files: created 0600 with 32 random bytes, unlock with --key-file or $POLYKEY_KEY_FILE; a wrong one is exit 3', async (t) => {
  const { dir, node } = await newNode(t)
  const key = path.join(dir, 'ci.key')
  const add = await run(['slot', 'add', 'keyfile', key], { node })
  assert.equal(add.code, 0, add.stderr)
  assert.match(add.out, /created key file .*ci\.key/)
  const st = fs.statSync(key)
  assert.equal(st.size, 32)
  assert.equal(st.mode & 0o777, 0o600)
  const list = await slots(node)
  assert.deepEqual(
    list.map((s) => s.kind),
    ['passphrase', 'keyfile'],
  )
  assert.equal(list[1].label, 'ci.key')
  assert.equal((await run(['repo', 'create', 'a'], { node })).code, 0)
  assert.equal((await run(['secret', 'put', 'a/b'], { node, input: 'v' })).code, 0)
  assert.equal((await run(['--key-file', key, 'secret', 'get', 'a/b'], { node, env: NO_PASS })).out, 'v')
  assert.equal((await run(['secret', 'get', 'a/b'], { node, env: { ...NO_PASS, POLYKEY_KEY_FILE: key } })).out, 'v')
  // Wrong key file, wrong size, missing: exit 3, 3, 2.
  const wrong = path.join(dir, 'wrong.key')
  fs.writeFileSync(wrong, Buffer.alloc(32, 7), { mode: 0o600 })
  let r = await run(['--key-file', wrong, 'info'], { node, env: NO_PASS })
  assert.equal(r.code, 3)
  assert.equal(r.stderr, `polykey: error: wrong key file for ${node}\n`)
  fs.writeFileSync(wrong, 'not a key\n')
  r = await run(['--key-file', wrong, 'info'], { node, env: NO_PASS })
  assert.equal(r.code, 3)
  assert.match(r.stderr, /is not a polykey key file \(10 bytes/)
  r = await run(['--key-file', path.join(dir, 'none.key'), 'info'], { node, env: NO_PASS })
  assert.equal(r.code, 2)
  // Readable by others: works, with a warning.
  fs.chmodSync(key, 0o644)
  r = await run(['--key-file', key, 'secret', 'get', 'a/b'], { node, env: NO_PASS })
  assert.equal(r.code, 0)
  assert.match(r.stderr, /^polykey: warning: key file .*ci\.key is readable by others \(mode 0644\); run 'chmod 600/)
  // An existing file is used as it is (not overwritten) when it is a key file.
  fs.chmodSync(key, 0o600)
  const before = fs.readFileSync(key)
  const again = await run(['slot', 'add', 'keyfile', key], { node })
  assert.equal(again.code, 0)
  assert.ok(fs.readFileSync(key).equals(before))
  // slot rm by id; the passphrase still opens; the key file no longer does.
  const ks = (await slots(node)).filter((s) => s.kind === 'keyfile')
  for (const s of ks) assert.equal((await run(['slot', 'rm', s.id], { node })).code, 0)
  assert.equal((await run(['--key-file', key, 'info'], { node, env: NO_PASS })).code, 3)
  assert.equal((await run(['info'], { node, env: { POLYKEY_PASSPHRASE: PASS } })).code, 0)
  assert.equal((await run(['slot', 'rm', 'deadbeef'], { node })).code, 1)
})

test('passphrase change keeps the gpg and key-file slots; slot add passphrase adds a second one', async (t) => {
  const { dir, node } = await newNode(t)
  const key = path.join(dir, 'k')
  assert.equal((await run(['slot', 'add', 'keyfile', key], { node })).code, 0)
  assert.equal((await run(['passphrase', 'change'], { node, env: { POLYKEY_NEW_PASSPHRASE: 'new one' } })).code, 0)
  assert.equal((await run(['--key-file', key, 'info'], { node, env: NO_PASS })).code, 0)
  assert.equal((await run(['info'], { node, env: { POLYKEY_PASSPHRASE: 'new one' } })).code, 0)
  assert.equal((await run(['info'], { node })).code, 3)
  assert.equal((await run(['--key-file', key, 'slot', 'add', 'passphrase'], { node, env: { ...NO_PASS, POLYKEY_NEW_PASSPHRASE: 'second' } })).code, 0)
  assert.equal((await run(['info'], { node, env: { POLYKEY_PASSPHRASE: 'second' } })).code, 0)
  assert.equal((await run(['info'], { node, env: { POLYKEY_PASSPHRASE: 'new one' } })).code, 0)
  assert.deepEqual(
    (await slots(node)).map((s) => s.kind),
    ['passphrase', 'keyfile', 'passphrase'],
  )
})

test('slot add and rm while an agent holds the node: refused at once, with a hint', async (t) => {
  const { dir, node } = await newNode(t)
  assert.equal((await run(['unlock', '--timeout', '0'], { node })).code, 0)
  t.after(async () => {
    await run(['lock'], { node })
  })
  const r = await run(['slot', 'add', 'keyfile', path.join(dir, 'k')], { node })
  assert.equal(r.code, 1)
  assert.match(r.stderr, /^polykey: error: the node is held by an agent \(mounted or unlocked\); changing its key slots needs it closed\npolykey: hint: run 'polykey lock'/)
  assert.ok(!fs.existsSync(path.join(dir, 'k')), 'no key file left for a slot that was not added')
})
