// Attack: history someone signed is rewritten before it is sealed, and the bundle is handed over
// for `polykey unseal`. The bundle itself is honest — sealed to the recipient and signed by the
// node that sealed it, a known peer — so only the check of each commit's signature can catch it
// (docs/SHARING.md "Checked on arrival"): a signed commit whose content was changed afterwards
// (the signature kept), or one whose signature header was swapped for a signature another key
// made (over other content). Both are refused with one line and exit 1, into a new repository
// as into an existing one, and the recipient's node file is byte-for-byte unchanged.
import test from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { PASS } from '../helpers.js'
import { makeNode, type TestNode } from '../sync/sync-helpers.js'
import { OpenNode } from '../../src/vault/node.js'
import { addSignature, splitSignature } from '../../src/git/signature.js'
import { sshSign } from '../../src/crypto/sshsig.js'
import { signingKeyPair } from '../../src/crypto/index.js'
import { GIT_NAMESPACE } from '../../src/crypto/sshsig.js'

type Forgery = 'tamper' | 'swap'

/** Rewrite the head commit of bob's `repo` (its signature kept, or swapped for mallory's); returns the honest head. */
async function forgeHead(bob: TestNode, repo: string, how: Forgery): Promise<string> {
  const n = await OpenNode.open(bob.node, { passphrase: Buffer.from(PASS) }, { write: true })
  try {
    const g = n.vault.git(repo)
    const head = g.head()!
    const content = g.readObject(head).content
    const signed = splitSignature(content)!
    let forged: Buffer
    if (how === 'tamper') {
      // changed after signing: the message says something else, the signature is bob's, as it was
      forged = Buffer.from(content.toString().replace(/\n\n([^\n]*)\n$/, '\n\n$1 (harmless, really)\n'))
    } else {
      // mallory's valid signature over other content (her own commit), pasted into bob's commit
      const mallory = signingKeyPair()
      const other = Buffer.from(signed.payload.toString().replace(/\n\n([^\n]*)\n$/, '\n\nmallory was here\n'))
      forged = addSignature(signed.payload, sshSign(other, mallory, GIT_NAMESPACE))
    }
    assert.ok(!forged.equals(content))
    g.setHead(g.writeObject('commit', forged))
    n.save()
    return head
  } finally {
    n.close()
  }
}

async function restoreHead(bob: TestNode, repo: string, head: string): Promise<void> {
  const n = await OpenNode.open(bob.node, { passphrase: Buffer.from(PASS) }, { write: true })
  n.vault.git(repo).setHead(head)
  n.save()
  n.close()
}

async function sealTo(bob: TestNode, repo: string, peer: string, file: string): Promise<void> {
  const s = await bob.pk(['seal', repo, peer])
  assert.equal(s.code, 0, s.stderr)
  fs.writeFileSync(file, s.stdout)
}

function assertRefused(r: { code: number; stderr: string }, what: string): void {
  assert.equal(r.code, 1, `${what}: exit 1 (${r.stderr})`)
  const lines = r.stderr.split('\n').filter((l) => l !== '')
  assert.equal(lines.length, 1, `${what}: one line on stderr: ${r.stderr}`)
  assert.match(
    lines[0],
    /^polykey: error: the bundle from bob sent history that is refused: commit [0-9a-f]{12} carries a signature that does not verify \(the signature does not verify\); nothing was changed$/,
    what,
  )
}

test('unseal refuses a bundle whose commits carry a bad signature (tampered after signing, or a signature swapped in from another key); the node is unchanged', async (t) => {
  const alice = await makeNode(t)
  const bob = await makeNode(t)
  await alice.ok(['peer', 'add', 'bob', bob.id])
  await bob.ok(['peer', 'add', 'alice', alice.id])
  await bob.ok(['repo', 'create', 'deploy'])
  await bob.ok(['secret', 'put', 'deploy/token'], { input: 'v1' })
  await bob.ok(['secret', 'put', 'deploy/db'], { input: 'd1' })
  const file = path.join(alice.dir, 'deploy.pkseal')

  // into a new repository (unseal clones)
  for (const how of ['tamper', 'swap'] as const) {
    const honest = await forgeHead(bob, 'deploy', how)
    await sealTo(bob, 'deploy', 'alice', file)
    await restoreHead(bob, 'deploy', honest)
    const before = fs.readFileSync(alice.node)
    assertRefused(await alice.pk(['unseal', file]), `${how}, a new repository`)
    assert.ok(fs.readFileSync(alice.node).equals(before), `${how}: alice's node is unchanged`)
    assert.deepEqual(JSON.parse(await alice.ok(['repo', 'list', '--json'])), [], `${how}: no repository was made`)
  }

  // the honest bundle is taken; later commits forged the same ways are refused on the pull it makes
  await sealTo(bob, 'deploy', 'alice', file)
  assert.match(await alice.ok(['unseal', file]), /cloned deploy from a bundle from bob/)
  await bob.ok(['secret', 'put', 'deploy/token'], { input: 'v2' })
  for (const how of ['tamper', 'swap'] as const) {
    const honest = await forgeHead(bob, 'deploy', how)
    await sealTo(bob, 'deploy', 'alice', file)
    await restoreHead(bob, 'deploy', honest)
    const before = fs.readFileSync(alice.node)
    assertRefused(await alice.pk(['unseal', file]), `${how}, an existing repository`)
    assert.ok(fs.readFileSync(alice.node).equals(before), `${how}: alice's node is unchanged`)
    assert.equal(await alice.ok(['secret', 'get', 'deploy/token']), 'v1')
  }
  await sealTo(bob, 'deploy', 'alice', file)
  assert.match(await alice.ok(['unseal', file]), /deploy: fast-forward/)
  assert.equal(await alice.ok(['secret', 'get', 'deploy/token']), 'v2')
})
