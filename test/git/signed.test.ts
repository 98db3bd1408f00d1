// Every commit a node makes is signed by its key in git's SSH form: real `git verify-commit`
// accepts commits of the CLI, an import, a revert and a merge with the allowed-signers file of
// `polykey repo signers`; `repo log` names the signer. (Forged history: test/security/.)
import test from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { spawnSync } from 'node:child_process'
import { PASS, tmpdir } from '../helpers.js'
import { makeNode } from '../sync/sync-helpers.js'
import { exportRepo, gitEnv, hasGit, verifyCommit, git } from './git-util.js'
import { sshSign, sshVerify, sshPublicKeyLine } from '../../src/crypto/sshsig.js'
import { signingKeyPair } from '../../src/crypto/index.js'

const skip = hasGit ? false : 'needs git and ssh-keygen'
const target = { POLYKEY_TARGET_PASSPHRASE: PASS }

test('SSHSIG: ssh-keygen -Y verify accepts ours, and ours reads ssh-keygen -Y sign', { skip }, (t) => {
  const dir = tmpdir(t)
  const kp = signingKeyPair(Buffer.alloc(32, 7))
  const msg = Buffer.from('tree x\n\nhello\n')
  const sig = sshSign(msg, kp, 'git')
  assert.equal(sig, sshSign(msg, kp, 'git'), 'Ed25519: the same signature every time')
  assert.equal(sshPublicKeyLine(kp.publicKey), 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOpKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtIs')
  // the vector in docs/FORMAT.md, "Signed commits"
  assert.equal(
    sig,
    '-----BEGIN SSH SIGNATURE-----\n' +
      'U1NIU0lHAAAAAQAAADMAAAALc3NoLWVkMjU1MTkAAAAg6kpsY+KcUgq+9VB7Ey7F+ZVHdq\n' +
      '6+vnuSQh7qaRRG0iwAAAADZ2l0AAAAAAAAAAZzaGE1MTIAAABTAAAAC3NzaC1lZDI1NTE5\n' +
      'AAAAQAhl1olzmBQwsTsgsVXWCXOGWKr0tKPnY7Hk8qsXqefoqQXkrlAghFTKIDcXmIvFpY\n' +
      'flZ+MFAQwfeITW2QBP0gY=\n' +
      '-----END SSH SIGNATURE-----\n',
  )
  fs.writeFileSync(path.join(dir, 'allowed'), `me@polykey namespaces="git" ${sshPublicKeyLine(kp.publicKey)}\n`)
  fs.writeFileSync(path.join(dir, 'm.sig'), sig)
  const ok = spawnSync('ssh-keygen', ['-Y', 'verify', '-f', path.join(dir, 'allowed'), '-I', 'me@polykey', '-n', 'git', '-s', path.join(dir, 'm.sig')], { input: msg })
  assert.equal(ok.status, 0, ok.stderr.toString())
  const other = spawnSync('ssh-keygen', ['-Y', 'verify', '-f', path.join(dir, 'allowed'), '-I', 'me@polykey', '-n', 'file', '-s', path.join(dir, 'm.sig')], { input: msg })
  assert.notEqual(other.status, 0, 'another namespace does not verify')

  spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, 'k')])
  fs.writeFileSync(path.join(dir, 'data'), msg)
  const signed = spawnSync('ssh-keygen', ['-Y', 'sign', '-n', 'git', '-f', path.join(dir, 'k'), path.join(dir, 'data')])
  assert.equal(signed.status, 0, signed.stderr.toString())
  const theirs = fs.readFileSync(path.join(dir, 'data.sig'), 'utf8')
  const r = sshVerify(theirs, msg, 'git')
  assert.equal(r.status, 'good')
  assert.equal(sshPublicKeyLine((r as { publicKey: Buffer }).publicKey), fs.readFileSync(path.join(dir, 'k.pub'), 'utf8').split(' ').slice(0, 2).join(' '))
  assert.equal(sshVerify(theirs, Buffer.from('tree y\n\nhello\n'), 'git').status, 'bad')
  assert.equal(sshVerify(theirs, msg, 'file').status, 'bad')
})

test('node id --ssh, node name, repo signers; CLI, import, revert and merge commits pass git verify-commit; repo log names the signer', { skip }, async (t) => {
  const env = gitEnv(tmpdir(t))
  const alice = await makeNode(t)
  const bob = await makeNode(t)
  assert.match(await alice.ok(['node', 'id', '--ssh']), new RegExp(`^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5[A-Za-z0-9+/=]+ polykey:${alice.id}\\n$`))
  assert.equal(await alice.ok(['node', 'name']), `polykey-${alice.id.slice(0, 16)}\n`)
  await alice.ok(['node', 'name', 'Alice laptop'])
  assert.equal(await alice.ok(['node', 'name']), 'Alice laptop\n')
  const bad = await alice.pk(['node', 'name', 'Eve <eve@x>'])
  assert.equal(bad.code, 2)
  assert.equal(bad.stderr.split('\n')[0], `polykey: error: invalid node name "Eve <eve@x>": no '<', '>' or control characters`)

  const src = tmpdir(t)
  fs.mkdirSync(path.join(src, 'app'))
  fs.writeFileSync(path.join(src, 'app', 'token'), 'imported')
  await alice.ok(['import', 'dir', src])
  await alice.ok(['secret', 'put', 'app/key'], { input: 'k1' })
  const firstTwo = JSON.parse(await alice.ok(['repo', 'log', 'app', '--json'])) as { commit: string }[]
  await alice.ok(['repo', 'revert', 'app', firstTwo[1].commit])
  // bob clones, both change different secrets, alice pulls: a merge commit
  const aliceFile = alice.node
  await bob.ok(['clone', aliceFile, 'app'], { env: target })
  await bob.ok(['secret', 'put', 'app/from-bob'], { input: 'b' })
  await alice.ok(['secret', 'put', 'app/from-alice'], { input: 'a' })
  await alice.ok(['peer', 'add', 'bob', bob.id])
  assert.match(await alice.ok(['pull', bob.node, 'app'], { env: target }), /merged/)

  const signers = await alice.ok(['repo', 'signers', 'app'])
  const lines = signers.trim().split('\n')
  assert.equal(lines.length, 2)
  assert.match(lines[0], new RegExp(`^${alice.id.slice(0, 16)}@polykey namespaces="git" ssh-ed25519 \\S+ self$`))
  assert.match(lines[1], new RegExp(`^${bob.id.slice(0, 16)}@polykey namespaces="git" ssh-ed25519 \\S+ peer:bob$`))

  const repo = await exportRepo(t, alice.node, 'app')
  const log = JSON.parse(await alice.ok(['repo', 'log', 'app', '--json'])) as { commit: string; message: string; signer: string; verified: boolean }[]
  assert.deepEqual(
    log.map((e) => [e.message.split(' ')[0], e.signer, e.verified]),
    [
      ['merge', 'self', true],
      ['add', 'self', true],
      ['revert', 'self', true],
      ['add', 'self', true],
      ['import', 'self', true],
    ],
  )
  // bob's side of the merge, signed by bob
  const theirs = await verifyCommit(repo, 'HEAD^2', signers, env)
  assert.equal(theirs.code, 0, theirs.stderr)
  assert.match(theirs.stderr, new RegExp(`Good "git" signature for ${bob.id.slice(0, 16)}@polykey`))
  for (const e of log) {
    const v = await verifyCommit(repo, e.commit, signers, env)
    assert.equal(v.code, 0, `${e.message}: ${v.stderr}`)
    assert.match(v.stderr, /Good "git" signature for [0-9a-f]{16}@polykey with ED25519 key/)
  }
  const head = await git(repo, ['cat-file', '-p', 'HEAD'], env)
  assert.match(head.out, new RegExp(`^author Alice laptop <${alice.id.slice(0, 16)}@polykey> \\d+ \\+0000$`, 'm'))
  assert.match(head.out, /^gpgsig -----BEGIN SSH SIGNATURE-----$/m)
})
