// A backup is a backup (issue 11): `push --all TARGET` carries every repository, the tags, the
// peers and the access lists; the target keeps its own identity; restoring is `push --all` from
// the backup onto a fresh node. Also over the network, to a node that has us as owner.
import test from 'node:test'
import assert from 'node:assert/strict'
import path from 'node:path'
import { makeNode, serve, withoutSigner } from './sync-helpers.js'
import { PASS, run, tmpdir } from '../helpers.js'

const USB = 'usb stick passphrase'

async function nodeFile(t: { after(fn: () => void): void }, name: string, pass: string): Promise<string> {
  const file = path.join(tmpdir(t), name)
  const r = await run(['init', '--kdf', 'test'], { node: file, env: { POLYKEY_PASSPHRASE: pass } })
  assert.equal(r.code, 0, r.stderr)
  return file
}
const on = (file: string, pass: string, args: string[], env: Record<string, string> = {}) => run(args, { node: file, env: { POLYKEY_PASSPHRASE: pass, ...env } })
const peersOf = async (file: string, pass: string) =>
  JSON.parse((await on(file, pass, ['peer', 'list', '--json'])).out) as { alias: string; id: string; owner: boolean; repos: string[] }[]

test('push --all to a node file carries peers and access lists; a restore onto a fresh node brings everything back', async (t) => {
  const [me, alice, bob] = await Promise.all([makeNode(t), makeNode(t), makeNode(t)])
  await me.ok(['repo', 'create', 'deploy'])
  await me.ok(['repo', 'create', 'private'])
  await me.ok(['secret', 'put', 'deploy/token'], { input: 'tok' })
  await me.ok(['secret', 'put', 'private/diary'], { input: 'dear diary' })
  await me.ok(['tag', 'add', 'ci', 'deploy/token'])
  await me.ok(['peer', 'add', 'alice', alice.id, '127.0.0.1:7411'])
  await me.ok(['peer', 'add', 'bob', bob.id, '--owner'])
  await me.ok(['share', 'deploy', 'alice'])

  const usb = await nodeFile(t, 'usb.pk', USB)
  const usbId = (await on(usb, USB, ['node', 'id'])).out.trim()
  const all = await me.pk(['push', '--all', usb], { env: { POLYKEY_TARGET_PASSPHRASE: USB } })
  assert.equal(all.code, 0, all.stderr)
  assert.notEqual(usbId, me.id)
  assert.equal((await on(usb, USB, ['node', 'id'])).out.trim(), usbId, 'the backup keeps its own identity')
  assert.deepEqual(await peersOf(usb, USB), await peersOf(me.node, PASS), 'the same peers, addresses, owners and access lists')

  // Restore: a fresh node, filled from the backup (the backup is just another node).
  const fresh = await nodeFile(t, 'fresh.pk', PASS)
  const restore = await on(usb, USB, ['push', '--all', fresh], { POLYKEY_TARGET_PASSPHRASE: PASS })
  assert.equal(restore.code, 0, restore.stderr)
  const f = (args: string[]) => on(fresh, PASS, args)
  assert.equal((await f(['secret', 'get', 'deploy/token'])).out, 'tok')
  assert.equal((await f(['secret', 'get', 'private/diary'])).out, 'dear diary')
  assert.deepEqual(JSON.parse((await f(['tag', 'list', '--json'])).out), JSON.parse(await me.ok(['tag', 'list', '--json'])))
  assert.deepEqual(withoutSigner(JSON.parse((await f(['repo', 'log', 'deploy', '--json'])).out)), withoutSigner(JSON.parse(await me.ok(['repo', 'log', 'deploy', '--json']))))
  assert.deepEqual(await peersOf(fresh, PASS), await peersOf(me.node, PASS))
})

test('push --all over the network to a node that has us as owner carries peers too; it keeps its own', async (t) => {
  const [me, backup, alice] = await Promise.all([makeNode(t), makeNode(t), makeNode(t)])
  await me.ok(['repo', 'create', 'deploy'])
  await me.ok(['secret', 'put', 'deploy/token'], { input: 'tok' })
  await me.ok(['peer', 'add', 'alice', alice.id])
  await me.ok(['share', 'deploy', 'alice'])
  await backup.ok(['peer', 'add', 'me', me.id, '--owner'])
  const served = await serve(t, backup.node)
  await me.ok(['peer', 'add', 'backup', backup.id, served.address])
  const all = await me.pk(['push', '--all', 'backup'])
  assert.equal(all.code, 0, all.stderr)
  const peers = await peersOf(backup.node, PASS)
  assert.deepEqual(peers.map((p) => p.alias).sort(), ['alice', 'me'])
  assert.deepEqual(peers.find((p) => p.alias === 'alice')!.repos, ['deploy'])
  assert.ok(peers.find((p) => p.alias === 'me')!.owner, 'the backup still lets us push')
  assert.ok(!peers.some((p) => p.id === backup.id), 'never itself')
})
