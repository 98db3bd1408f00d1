// import pass against a store made by real pass (nested folders, .gpg-id per folder, binary and
// multi-line entries, names with spaces and dots) in a real git repository: every value equals
// what `pass show` prints, byte for byte; the history tells the story `pass git log` tells;
// collisions and decryption failures import nothing.
import test from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { execFileSync } from 'node:child_process'
import { run, newNode, tmpdir } from '../helpers.js'
import { gpgHome, type GpgHome } from './gpg-helpers.js'
import { mapPassPath, unmapPassName } from '../../src/vault/pass-store.js'

function passStore(t: { after(fn: () => void): void }, g: GpgHome) {
  const store = path.join(tmpdir(t), 'store')
  const env = { ...g.env, PASSWORD_STORE_DIR: store, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' }
  const pass = (args: string[], input?: Buffer | string) => execFileSync('pass', args, { env, input, stdio: ['pipe', 'pipe', 'pipe'] })
  return { store, env, pass }
}

const ENTRIES: [string, Buffer][] = [
  ['email', Buffer.from('top-level secret\n')],
  ['work/aws/prod/key', Buffer.from('AKIA-FIRST\n')],
  ['work/aws/prod/secret key.txt', Buffer.from('line one\nline two\n\nline four without newline')],
  ['work/db', Buffer.from('hunter2')],
  ['personal/bank.example.com', Buffer.from([0, 1, 2, 255, 254, 10, 13, 0])],
  ['personal/sites/a:b', Buffer.from('colon in a name\n')],
]

test('import pass: repositories, names, tags, recipients, values byte for byte, history', async (t) => {
  const g = gpgHome(t)
  const other = gpgHome(t, { uid: 'Work Key <work@polykey.invalid>' })
  // The work folder is also encrypted to a second key (its own .gpg-id): import its public key.
  g.gpg(['--import'], other.gpg(['--export', other.fpr]))
  g.gpg(['--import-ownertrust'], `${other.fpr}:6:\n`)
  const { env, pass } = passStore(t, g)
  pass(['init', g.fpr])
  pass(['git', 'init'])
  pass(['init', '-p', 'work', g.fpr, other.fpr])
  for (const [name, value] of ENTRIES) pass(['insert', '-m', name], value)
  pass(['insert', '-m', '-f', 'work/aws/prod/key'], 'AKIA-SECOND\n') // a second version
  pass(['rm', '-f', 'work/db'])
  pass(['insert', '-m', 'work/db'], 'hunter3')
  const { node } = await newNode(t)
  const r = await run(['import', 'pass', '--history', '--json'], { node, env })
  assert.equal(r.code, 0, r.stderr)
  const summary = JSON.parse(r.out)
  assert.equal(summary.secrets, ENTRIES.length)
  assert.deepEqual(
    summary.repositories.map((x: { name: string }) => x.name),
    ['pass', 'personal', 'work'],
  )
  // Every value as pass shows it.
  for (const [name] of ENTRIES) {
    const t = mapPassPath(name)
    const got = await run(['secret', 'get', `${t.repo}/${t.name}`], { node })
    assert.equal(got.code, 0, `${name}: ${got.stderr}`)
    assert.ok(got.stdout.equals(pass(['show', name])), name)
    assert.equal(unmapPassName(t.repo, t.name), name)
  }
  assert.equal((await run(['secret', 'get', 'pass/email'], { node })).out, 'top-level secret\n')
  assert.equal((await run(['secret', 'get', 'work/aws:prod:key'], { node })).out, 'AKIA-SECOND\n')
  assert.equal((await run(['secret', 'get', 'personal/sites:a%3Ab'], { node })).out, 'colon in a name\n')
  // Deeper folders are tags: work/aws/prod/key is under tags/prod.
  const tags = JSON.parse((await run(['tag', 'list', 'prod', '--json'], { node })).out)
  assert.deepEqual(tags[0].secrets.map((m: { secret: string }) => m.secret).sort(), ['work/aws:prod:key', 'work/aws:prod:secret key.txt'])
  // .gpg-id recipients, per folder.
  const repos = JSON.parse((await run(['repo', 'list', '--json'], { node })).out)
  const work = repos.find((x: { name: string }) => x.name === 'work')
  assert.deepEqual(work.gpgId[''], [g.fpr, other.fpr])
  assert.deepEqual(repos.find((x: { name: string }) => x.name === 'personal').gpgId[''], [g.fpr])
  // History: the work repository's log is pass's log of the work folder, same times and messages.
  const log = JSON.parse((await run(['repo', 'log', 'work', '--json'], { node })).out) as { time: string; message: string }[]
  const passLog = pass(['git', 'log', '--format=%at%x09%s', '--', 'work'])
    .toString()
    .trim()
    .split('\n')
    .map((l) => l.split('\t'))
  // pass commits touching work/ except `init -p work` (.gpg-id only, no entries)
  const entryCommits = passLog.filter(([, msg]) => !/^Set GPG id/.test(msg) && !/Reencrypt/.test(msg))
  assert.deepEqual(
    log.map((e) => [String(Date.parse(e.time) / 1000), e.message]),
    entryCommits,
  )
  // An old version is there.
  const first = log[log.length - 1]
  assert.match(first.message, /work\/aws\/prod\/key/)
  // Importing again is refused: the repositories exist.
  const again = await run(['import', 'pass'], { node, env })
  assert.equal(again.code, 1)
  assert.match(again.stderr, /already has repositories 'pass', 'personal', 'work'; nothing was imported/)
})

test('import pass: collisions are listed and nothing is imported; a failed decryption leaves the node as it was', async (t) => {
  const g = gpgHome(t)
  const stranger = gpgHome(t, { uid: 'Stranger <stranger@polykey.invalid>' })
  const { store, env, pass } = passStore(t, g)
  pass(['init', g.fpr])
  pass(['insert', '-m', 'x/a/b'], 'one')
  pass(['insert', '-m', 'x/a:b'], 'two')
  const { node } = await newNode(t)
  const before = fs.readFileSync(node)
  // a/b → "a:b" and a:b → "a%3Ab": no collision; a top-level "pass" folder against top-level files is one.
  pass(['insert', '-m', 'pass/top'], 'three')
  pass(['insert', '-m', 'top'], 'four')
  let r = await run(['import', 'pass', '--store', store], { node, env: g.env })
  assert.equal(r.code, 1)
  assert.match(r.stderr, /^polykey: "pass\/top" and "top" would both become pass\/top\npolykey: error: 1 name problem in the pass store; nothing was imported\n/)
  assert.ok(fs.readFileSync(node).equals(before))
  pass(['rm', '-f', 'top'])
  // An entry encrypted to a key this user does not have.
  fs.mkdirSync(path.join(store, 'y'))
  fs.writeFileSync(
    path.join(store, 'y', 'foreign.gpg'),
    execFileSync('gpg', ['--batch', '--trust-model', 'always', '-e', '-r', stranger.fpr], { env: stranger.env, input: 'nope' }),
  )
  r = await run(['import', 'pass'], { node, env })
  assert.equal(r.code, 1)
  // The same words every run (from gpg's status lines, not from which of its lines comes first).
  assert.match(r.stderr, /^polykey: cannot decrypt y\/foreign: gpg could not decrypt \S+\/y\/foreign\.gpg: no secret key for [0-9A-F]{16} in this gpg keyring \(gpg: [^\n]*\)\n/m)
  assert.match(r.stderr, /polykey: error: 1 of 4 pass entries could not be decrypted; nothing was imported\n$/)
  assert.ok(fs.readFileSync(node).equals(before))
  fs.rmSync(path.join(store, 'y'), { recursive: true })
  r = await run(['import', 'pass', '--json'], { node, env })
  assert.equal(r.code, 0, r.stderr)
  assert.equal((await run(['secret', 'get', 'x/a%3Ab'], { node })).out, 'two')
  assert.equal((await run(['secret', 'get', 'x/a:b'], { node })).out, 'one')
  // --history on a store that is not a git repository
  r = await run(['import', 'pass', '--history'], { node, env })
  assert.equal(r.code, 1)
  assert.match(r.stderr, /is not a git repository/)
  assert.equal((await run(['import', 'pass', '--store', path.join(store, 'nope')], { node, env })).code, 1)
})

test('the name mapping is reversible', () => {
  for (const p of ['a', 'a/b', 'a/b/c', 'a/b:c/d', 'a/%3A/x', 'r/with space/and.dot', 'top:level', '%']) assert.equal(unmapPassName(mapPassPath(p).repo, mapPassPath(p).name), p)
  assert.deepEqual(mapPassPath('work/aws/prod/key'), { repo: 'work', name: 'aws:prod:key', tags: ['aws', 'prod'] })
})

test('import pass into a node held by an agent (polykey unlock), opened by gpg alone', async (t) => {
  const g = gpgHome(t)
  const { env, pass } = passStore(t, g)
  pass(['init', g.fpr])
  pass(['insert', '-m', 'web/login'], 'through the agent\n')
  const { node } = await newNode(t)
  assert.equal((await run(['slot', 'add', 'gpg', g.fpr], { node, env })).code, 0)
  const noPass = { ...env, POLYKEY_PASSPHRASE: undefined }
  const passId = JSON.parse((await run(['slot', 'list', '--json'], { node, env: noPass })).out).find((s: { kind: string }) => s.kind === 'passphrase').id
  assert.equal((await run(['slot', 'rm', passId], { node, env })).code, 0)
  const u = await run(['unlock', '--timeout', '0'], { node, env: noPass })
  assert.equal(u.code, 0, u.stderr)
  t.after(async () => {
    await run(['lock'], { node, env: noPass })
  })
  const r = await run(['import', 'pass'], { node, env: noPass })
  assert.equal(r.code, 0, r.stderr)
  assert.equal((await run(['secret', 'get', 'web/login'], { node, env: noPass })).out, 'through the agent\n')
  // The agent wrote it: after lock, the node file has it too.
  assert.equal((await run(['lock'], { node, env: noPass })).code, 0)
  assert.equal((await run(['secret', 'get', 'web/login'], { node, env: noPass })).out, 'through the agent\n')
})
