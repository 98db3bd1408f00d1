// find and grep on the vault model over both stores: the node file (ArchiveStore, with changes
// not yet saved in its overlay, hardlinks followed) and the mounted memfs (MemStore), which
// must answer alike; and the buffers grep reads are zeroed afterwards.
import test from 'node:test'
import assert from 'node:assert/strict'
import { newNode, PASS } from '../helpers.js'
import { OpenNode } from '../../src/vault/node.js'
import { MemStore } from '../../src/vault/mem-store.js'
import { Vault } from '../../src/vault/vault.js'
import { findSecrets, grepSecrets } from '../../src/vault/search.js'

async function seeded(t: { after(fn: () => void): void }) {
  const { node } = await newNode(t)
  const n = await OpenNode.open(node, { passphrase: Buffer.from(PASS) }, { write: true })
  n.vault.repoCreate('web')
  n.vault.repoCreate('mail')
  n.vault.secretPut('web', 'github', Buffer.from('user: alice\npassword: one\n'))
  n.vault.secretPut('mail', 'imap', Buffer.from('password: two\r\nhost: h'))
  n.vault.tagAdd('prod', 'mail', 'imap')
  n.save()
  // a change not saved yet: grep must see the overlay, not the file
  n.vault.secretPut('web', 'pending', Buffer.from('xx\npassword: three'))
  return { node, n }
}

test('grep and find see unsaved changes (ArchiveStore) and answer as the mount (MemStore) does', async (t) => {
  const { n } = await seeded(t)
  try {
    const expect = [
      { repo: 'mail', name: 'imap', line: 1, text: 'password: two\r' },
      { repo: 'web', name: 'github', line: 2, text: 'password: one' },
      { repo: 'web', name: 'pending', line: 2, text: 'password: three' },
    ]
    assert.deepEqual(grepSecrets(n.vault, '^password', { show: true }), expect)
    n.save()
    const mem = new Vault(MemStore.load(n.file), { name: 'x', email: 'x@x' })
    assert.deepEqual(grepSecrets(mem, '^password', { show: true }), expect)
    assert.deepEqual(findSecrets(mem, 'PROD'), findSecrets(n.vault, 'PROD'))
    assert.deepEqual(findSecrets(n.vault, 'PROD'), [{ repo: 'mail', name: 'imap', tags: ['prod'] }])
    assert.deepEqual(grepSecrets(n.vault, 'one', { repos: ['mail'] }), [])
  } finally {
    n.close()
  }
})

test('the values grep decrypted are zeroed once searched', async (t) => {
  const { n } = await seeded(t)
  try {
    n.save()
    const seen: Buffer[] = []
    const store = n.store
    const orig = store.readFiles.bind(store)
    store.readFiles = (paths, fn) => orig(paths, (p, d) => (seen.push(d), fn(p, d)))
    grepSecrets(n.vault, 'password')
    assert.equal(seen.length, 3)
    for (const d of seen)
      assert.ok(
        d.every((b) => b === 0),
        'zeroed',
      )
    assert.equal(n.vault.secretGet('web', 'github').toString(), 'user: alice\npassword: one\n', 'the node is untouched')
  } finally {
    n.close()
  }
})
