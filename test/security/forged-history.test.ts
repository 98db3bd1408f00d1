// Attack: a peer (or whoever can write the node file it serves) rewrites history someone signed
// — changes a signed commit's message or content and keeps the signature, or strips the
// signature — and offers it on pull. Before signing, both were taken as ordinary commits; now
// the pull is refused with one line, and the puller's node is byte-for-byte unchanged.
import test from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import { PASS } from '../helpers.js'
import { makeNode } from '../sync/sync-helpers.js'
import { OpenNode } from '../../src/vault/node.js'
import { splitSignature } from '../../src/git/signature.js'

const target = { POLYKEY_TARGET_PASSPHRASE: PASS }

test('a tampered commit is refused on pull, and so is a new commit without a signature; nothing changes', async (t) => {
  const alice = await makeNode(t)
  const bob = await makeNode(t)
  await bob.ok(['repo', 'create', 'r'])
  await bob.ok(['secret', 'put', 'r/a'], { input: 'v1' })
  await alice.ok(['clone', bob.node, 'r'], { env: target })
  await bob.ok(['secret', 'put', 'r/a'], { input: 'v2' })

  // rewrite bob's head: the message changes, the signature stays (its id is a valid hash)
  const forge = async (how: 'tamper' | 'strip') => {
    const n = await OpenNode.open(bob.node, { passphrase: Buffer.from(PASS) }, { write: true })
    const g = n.vault.git('r')
    const head = g.head()!
    const content = g.readObject(head).content
    const forged = how === 'tamper' ? Buffer.from(content.toString().replace('\n\nupdate a\n', '\n\nupdate a (harmless, really)\n')) : splitSignature(content)!.payload
    assert.ok(!forged.equals(content))
    g.setHead(g.writeObject('commit', forged))
    n.save()
    n.close()
    return head
  }
  const before = fs.readFileSync(alice.node)
  const honest = await forge('tamper')
  const r = await alice.pk(['pull', bob.node, 'r'], { env: target })
  assert.equal(r.code, 1)
  assert.match(
    r.stderr,
    /^polykey: error: .*sent history that is refused: commit [0-9a-f]{12} carries a signature that does not verify \(the signature does not verify\); nothing was changed$/m,
  )
  assert.equal(r.stderr.split('\n').filter((l) => l.startsWith('polykey: error:')).length, 1)
  assert.ok(fs.readFileSync(alice.node).equals(before), "alice's node is unchanged")

  // back to the honest head, then the same change without its signature
  const n = await OpenNode.open(bob.node, { passphrase: Buffer.from(PASS) }, { write: true })
  n.vault.git('r').setHead(honest)
  n.save()
  n.close()
  await forge('strip')
  const u = await alice.pk(['pull', bob.node, 'r'], { env: target })
  assert.equal(u.code, 1)
  assert.match(u.stderr, /commit [0-9a-f]{12} is not signed, and no signed commit that came with it descends from it; nothing was changed/)
  assert.ok(fs.readFileSync(alice.node).equals(before), "alice's node is unchanged")
  assert.equal(await alice.ok(['secret', 'get', 'r/a']), 'v1')
})
