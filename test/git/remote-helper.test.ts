// Real git as a client of a node through git-remote-polykey: clone (with the plaintext warning,
// and signatures git can check), edit, commit, push, and the value is what `polykey secret get`
// prints; pushes are fast-forward only unless forced with +; the helper's errors are one line.
// The same round trip while the node is mounted goes through the mount's agent, and the mount's
// own commits pass git verify-commit. With the node unlocked, clone, fetch and pull go through the
// native fast path (native/client/git-remote.c: no Node, the pack streamed from the agent into
// git index-pack), a push is handed to the Node helper, and the answers are the same.
import test from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { ROOT, tmpdir, unlocked } from '../helpers.js'
import { makeNode } from '../sync/sync-helpers.js'
import { NO_FUSE, mountedNode } from '../fuse/mount-helpers.js'
import { gitEnv, hasGit, git, verifyCommit } from './git-util.js'

const skip = hasGit ? false : 'needs git and ssh-keygen'

test('git clone, log --show-signature, edit, commit, push, secret get; non-fast-forward refused; + forces; one-line errors', { skip }, async (t) => {
  const me = await makeNode(t)
  const work = tmpdir(t)
  const env = gitEnv(path.join(work, 'home'), { POLYKEY_NODE: me.node, POLYKEY_PASSPHRASE: 'correct horse battery staple' })
  await me.ok(['repo', 'create', 'web'])
  await me.ok(['secret', 'put', 'web/token'], { input: 't1' })
  await me.ok(['secret', 'put', 'web/db'], { input: 'd1' })
  const signers = path.join(work, 'signers')
  fs.writeFileSync(signers, await me.ok(['repo', 'signers', 'web']))

  const clone = await git(work, ['clone', `polykey::${me.node}#web`, 'web'], env)
  assert.equal(clone.code, 0, clone.stderr)
  assert.equal(clone.stderr.match(/^polykey: warning: git writes the secrets of 'web' to this work tree in plaintext; .*$/gm)?.length, 1)
  const dir = path.join(work, 'web')
  assert.equal(fs.readFileSync(path.join(dir, 'token'), 'utf8'), 't1')
  const shown = await git(dir, ['-c', 'gpg.format=ssh', '-c', `gpg.ssh.allowedSignersFile=${signers}`, 'log', '--show-signature', '--format=%G? %s'], env)
  assert.equal(shown.code, 0, shown.stderr)
  assert.equal((shown.out.match(/^Good "git" signature for [0-9a-f]{16}@polykey with ED25519 key/gm) ?? []).length, 2, shown.out)
  assert.match(shown.out, /^G add db$/m)

  // edit → commit → push → the node has it
  fs.writeFileSync(path.join(dir, 'token'), 't2')
  assert.equal((await git(dir, ['commit', '-qam', 'rotate token'], env)).code, 0)
  const push = await git(dir, ['push'], env)
  assert.equal(push.code, 0, push.stderr)
  assert.equal(await me.ok(['secret', 'get', 'web/token']), 't2')
  const log = JSON.parse(await me.ok(['repo', 'log', 'web', '--json'])) as { message: string; signer: string | null; verified: boolean }[]
  assert.deepEqual(
    log.slice(0, 2).map((e) => [e.message.split('\n')[0], e.signer, e.verified]),
    [
      ['git push: 1 commit, up to ' + (await git(dir, ['rev-parse', '--short=12', 'HEAD'], env)).out.trim(), 'self', true],
      ['rotate token', null, false],
    ],
  )
  assert.equal((await git(dir, ['status', '-sb'], env)).out.split('\n')[0], '## main...origin/main', 'git sees itself up to date after the push')

  // a second push without fetching: a fast-forward past the node's push commit
  fs.writeFileSync(path.join(dir, 'new'), 'n1')
  await git(dir, ['add', 'new'], env)
  await git(dir, ['commit', '-qm', 'add new'], env)
  assert.equal((await git(dir, ['push', '-q'], env)).code, 0)
  assert.equal(await me.ok(['secret', 'get', 'web/new']), 'n1')

  // the node moves on (a CLI commit); a push of history without it is refused, unless forced
  await me.ok(['secret', 'put', 'web/db'], { input: 'd2' })
  fs.writeFileSync(path.join(dir, 'token'), 't3')
  await git(dir, ['commit', '-qam', 'behind'], env)
  const nff = await git(dir, ['push'], env)
  assert.notEqual(nff.code, 0)
  assert.match(nff.stderr, /! \[(remote )?rejected\] +main -> main \((fetch first|not a fast-forward: [0-9a-f]{12} does not contain [0-9a-f]{12})\)/)
  assert.equal(await me.ok(['secret', 'get', 'web/token']), 't2', 'nothing changed')
  const pull = await git(dir, ['pull', '-q', '--rebase'], env)
  assert.equal(pull.code, 0, pull.stderr)
  assert.equal(fs.readFileSync(path.join(dir, 'db'), 'utf8'), 'd2')
  assert.equal((await git(dir, ['push', '-q'], env)).code, 0)
  assert.equal(await me.ok(['secret', 'get', 'web/token']), 't3')
  assert.equal(await me.ok(['secret', 'get', 'web/db']), 'd2')

  // forced: history is replaced with +
  await git(dir, ['reset', '-q', '--hard', 'HEAD~2'], env)
  fs.writeFileSync(path.join(dir, 'token'), 'forced')
  await git(dir, ['commit', '-qam', 'rewrite'], env)
  assert.notEqual((await git(dir, ['push'], env)).code, 0)
  const forced = await git(dir, ['push', 'origin', '+main'], env)
  assert.equal(forced.code, 0, forced.stderr)
  assert.equal(await me.ok(['secret', 'get', 'web/token']), 'forced')

  // a folder is not a secret: refused with the reason
  fs.mkdirSync(path.join(dir, 'sub'))
  fs.writeFileSync(path.join(dir, 'sub', 'x'), 'x')
  await git(dir, ['add', 'sub'], env)
  await git(dir, ['commit', '-qm', 'sub'], env)
  const flat = await git(dir, ['push'], env)
  assert.match(flat.stderr, /! \[remote rejected\] main -> main \(.*only flat secrets are allowed.*\)/)

  // a relative node path is pinned to an absolute one in the clone's remote, so fetch works inside it
  const rel = await git(me.dir, ['clone', '-q', 'polykey::./node.pk#web', path.join(work, 'rel')], env)
  assert.equal(rel.code, 0, rel.stderr)
  assert.equal((await git(path.join(work, 'rel'), ['remote', 'get-url', 'origin'], env)).out.trim(), `polykey::${me.node}#web`)
  assert.equal((await git(path.join(work, 'rel'), ['fetch', '-q'], env)).code, 0)

  // errors: one line of the helper's
  const wrong = await git(work, ['clone', `polykey::${me.node}#web`, 'w2'], { ...env, POLYKEY_PASSPHRASE: 'wrong' })
  assert.notEqual(wrong.code, 0)
  assert.deepEqual(
    wrong.stderr.split('\n').filter((l) => l.startsWith('polykey:')),
    [`polykey: error: wrong passphrase for ${me.node}`],
  )
  const missing = await git(work, ['clone', 'polykey::#nope', 'w3'], env)
  assert.notEqual(missing.code, 0)
  assert.deepEqual(
    missing.stderr.split('\n').filter((l) => l.startsWith('polykey:')),
    [`polykey: error: no repository 'nope' in ${me.node}`],
  )
  const badUrl = await git(work, ['clone', `polykey::${me.node}`, 'w4'], env)
  assert.deepEqual(
    badUrl.stderr.split('\n').filter((l) => l.startsWith('polykey:')),
    [`polykey: error: expected polykey::NODE_PATH#REPO or polykey::#REPO, got polykey::${me.node}`],
  )
})

test('mounted: the mount signs its commits; git clone → edit → push goes through the agent and shows in the mount', { skip: NO_FUSE || skip }, async (t) => {
  const s = await mountedNode(t, { seed: { app: { key: 'k1' } } })
  const work = tmpdir(t)
  const env = gitEnv(path.join(work, 'home'), { POLYKEY_NODE: s.node, POLYKEY_PASSPHRASE: undefined })
  fs.writeFileSync(s.repo('app', 'made-in-mount'), 'm1')
  await s.waitLog('app', (log) => log[0] === 'add made-in-mount')
  const signers = await s.pkOk(['repo', 'signers', 'app'])

  const clone = await git(work, ['clone', 'polykey::#app', 'app'], env)
  assert.equal(clone.code, 0, clone.stderr)
  const dir = path.join(work, 'app')
  const v = await verifyCommit(dir, 'HEAD', signers, env)
  assert.equal(v.code, 0, `the mount's commit verifies: ${v.stderr}`)
  assert.match(v.out + v.stderr, /add made-in-mount/)
  const imported = await verifyCommit(dir, 'HEAD~1', signers, env)
  assert.equal(imported.code, 0, `the import's commit verifies: ${imported.stderr}`)

  fs.writeFileSync(path.join(dir, 'key'), 'k2')
  await git(dir, ['commit', '-qam', 'rotate'], env)
  const push = await git(dir, ['push'], env)
  assert.equal(push.code, 0, push.stderr)
  assert.equal(fs.readFileSync(s.repo('app', 'key'), 'utf8'), 'k2', 'the mount shows the pushed value at once')
  assert.equal(await s.pkOk(['secret', 'get', 'app/key']), 'k2')
  const log = JSON.parse(await s.pkOk(['repo', 'log', 'app', '--json'])) as { message: string; signer: string | null }[]
  assert.equal(log[0].signer, 'self')
  assert.match(log[0].message, /^git push: 1 commit/)
})

const FAST = fs.existsSync(path.join(ROOT, 'native/build/client/git-remote-polykey'))

test(
  'unlocked: clone, pull and fetch through the native fast path, push through Node; the same answers; a pack larger than a frame',
  { skip: skip || (FAST ? false : 'the native client is not built') },
  async (t) => {
    const me = await makeNode(t)
    const work = tmpdir(t)
    await me.ok(['repo', 'create', 'web'])
    await me.ok(['secret', 'put', 'web/token'], { input: 't1' })
    // larger than one agent frame (16 MiB) and incompressible: the pack arrives in several frames
    const big = Buffer.alloc(17 << 20)
    for (let i = 0; i < big.length; i += 4) big.writeUInt32LE((Math.imul(i, 2654435761) ^ (i >>> 7)) >>> 0, i)
    await me.ok(['secret', 'put', 'web/big'], { input: big })
    await unlocked(t, me.node)
    // no key source: only the agent can answer; the trace says who did
    const env = gitEnv(path.join(work, 'home'), { POLYKEY_NODE: me.node, POLYKEY_PASSPHRASE: undefined, POLYKEY_FAST_CLIENT_TRACE: '1', POLYKEY_NO_FAST_CLIENT: undefined })
    const traced = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('git-remote-polykey: '))
    const handedToNode = (stderr: string) => traced(stderr).some((l) => / ms: node: /.test(l))

    const clone = await git(work, ['clone', `polykey::${me.node}#web`, 'web'], env)
    assert.equal(clone.code, 0, clone.stderr)
    assert.ok(
      traced(clone.stderr).some((l) => / ms: forward to /.test(l)),
      clone.stderr,
    )
    assert.ok(!handedToNode(clone.stderr), `the clone is the native helper's alone: ${clone.stderr}`)
    assert.equal(clone.stderr.match(/^polykey: warning: git writes the secrets of 'web' to this work tree in plaintext; .*$/gm)?.length, 1)
    const dir = path.join(work, 'web')
    assert.equal(fs.readFileSync(path.join(dir, 'token'), 'utf8'), 't1')
    assert.ok(fs.readFileSync(path.join(dir, 'big')).equals(big))
    assert.equal((await git(dir, ['fsck', '--strict'], env)).code, 0)
    assert.deepEqual(
      fs.readdirSync(path.join(dir, '.git/objects/pack')).filter((f) => f.endsWith('.keep')),
      [],
      'git removed the .keep it was told of (lock)',
    )

    // the node moves on; git pull fetches what the clone lacks (haves), still without Node
    await me.ok(['secret', 'put', 'web/token'], { input: 't2' })
    const pull = await git(dir, ['pull', '-q'], env)
    assert.equal(pull.code, 0, pull.stderr)
    assert.ok(!handedToNode(pull.stderr), pull.stderr)
    assert.equal(fs.readFileSync(path.join(dir, 'token'), 'utf8'), 't2')
    const upToDate = await git(dir, ['fetch'], env)
    assert.equal(upToDate.code, 0, upToDate.stderr)
    assert.deepEqual(
      upToDate.stderr.split('\n').filter((l) => l !== '' && !l.startsWith('git-remote-polykey: ')),
      [],
    )

    // ls-remote outside a repository: the refs, and no warning (nothing is written)
    const ls = await git(work, ['ls-remote', `polykey::${me.node}#web`], env)
    assert.equal(ls.code, 0, ls.stderr)
    assert.match(ls.out, /^[0-9a-f]{40}\trefs\/heads\/main\n[0-9a-f]{40}\tHEAD\n$/)
    assert.doesNotMatch(ls.stderr, /warning/)

    // a push: the native helper hands the session to Node, which pushes through the agent
    fs.writeFileSync(path.join(dir, 'token'), 't3')
    await git(dir, ['commit', '-qam', 'rotate'], env)
    const push = await git(dir, ['push', '-q'], env)
    assert.equal(push.code, 0, push.stderr)
    assert.ok(
      traced(push.stderr).some((l) => / ms: node: not a fetch$/.test(l)),
      push.stderr,
    )
    assert.equal(await me.ok(['secret', 'get', 'web/token']), 't3')

    // one-line errors, as the Node helper's
    const missing = await git(work, ['clone', 'polykey::#nope', 'w3'], env)
    assert.notEqual(missing.code, 0)
    assert.deepEqual(
      missing.stderr.split('\n').filter((l) => l.startsWith('polykey:')),
      [`polykey: error: no repository 'nope' in ${me.node}`],
    )
    const viaNode = await git(work, ['clone', 'polykey::#nope', 'w4'], { ...env, POLYKEY_NO_FAST_CLIENT: '1' })
    assert.deepEqual(
      viaNode.stderr.split('\n').filter((l) => l.startsWith('polykey:')),
      missing.stderr.split('\n').filter((l) => l.startsWith('polykey:')),
    )
    // and the same clone through Node is the same repository
    const slow = await git(work, ['clone', '-q', `polykey::${me.node}#web`, 'slow'], { ...env, POLYKEY_NO_FAST_CLIENT: '1' })
    assert.equal(slow.code, 0, slow.stderr)
    assert.equal((await git(path.join(work, 'slow'), ['rev-parse', 'HEAD'], env)).out, (await git(dir, ['rev-parse', 'origin/main'], env)).out)
  },
)
