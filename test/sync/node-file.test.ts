// A node file is a peer (a USB stick): push, pull and clone with a path, unlocked with its own
// passphrase; `push --all` copies every repository and the tags; history is never dropped.
import test from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { withoutSigner, makeNode } from './sync-helpers.js'
import { run, tmpdir } from '../helpers.js'

const USB_PASS = 'usb stick passphrase'

async function usbNode(t: { after(fn: () => void): void }): Promise<string> {
  const file = path.join(tmpdir(t), 'usb.pk')
  const r = await run(['init', '--kdf', 'test'], { node: file, env: { POLYKEY_PASSPHRASE: USB_PASS } })
  assert.equal(r.code, 0, r.stderr)
  return file
}
const onUsb = (usb: string, args: string[], input?: string) => run(args, { node: usb, env: { POLYKEY_PASSPHRASE: USB_PASS }, input })
const target = { POLYKEY_TARGET_PASSPHRASE: USB_PASS }

test('push --all to a node file copies every repository and the tags; pull and clone from it', async (t) => {
  const [me, other] = await Promise.all([makeNode(t), makeNode(t)])
  const usb = await usbNode(t)
  await me.ok(['repo', 'create', 'aws'])
  await me.ok(['repo', 'create', 'deploy'])
  await me.ok(['repo', 'create', 'empty'])
  await me.ok(['secret', 'put', 'aws/access-key'], { input: 'AKIA1' })
  await me.ok(['secret', 'put', 'aws/secret-key'], { input: 'wJalr' })
  await me.ok(['secret', 'put', 'deploy/token'], { input: 'tok' })
  await me.ok(['secret', 'put', 'deploy/access-key'], { input: 'other AKIA' })
  await me.ok(['tag', 'add', 'prod', 'aws/access-key'])
  await me.ok(['tag', 'add', 'prod', 'deploy/access-key'])
  await me.ok(['tag', 'add', 'ci', 'deploy/token'])

  const all = await me.pk(['push', '--all', usb], { env: target })
  assert.equal(all.code, 0, all.stderr)
  assert.match(all.out, /aws: pushed [0-9a-f]{12} \(\d+ objects\)/)
  assert.match(all.out, /empty: created \(empty\)/)
  assert.deepEqual(
    JSON.parse((await onUsb(usb, ['repo', 'list', '--json'])).out).map((r: { name: string }) => r.name),
    ['aws', 'deploy', 'empty'],
  )
  assert.deepEqual(JSON.parse((await onUsb(usb, ['tag', 'list', '--json'])).out), JSON.parse(await me.ok(['tag', 'list', '--json'])))
  assert.equal((await onUsb(usb, ['secret', 'get', 'aws/secret-key'])).out, 'wJalr')
  for (const repo of ['aws', 'deploy'])
    assert.deepEqual(withoutSigner(JSON.parse((await onUsb(usb, ['repo', 'log', repo, '--json'])).out)), withoutSigner(JSON.parse(await me.ok(['repo', 'log', repo, '--json']))))

  // again: nothing to send; a tag removed here is removed there
  await me.ok(['tag', 'rm', 'ci', 'deploy/token'])
  const again = await me.pk(['push', '--all', usb], { env: target })
  assert.match(again.out, /aws: up to date/)
  assert.deepEqual(JSON.parse((await onUsb(usb, ['tag', 'list', '--json'])).out), JSON.parse(await me.ok(['tag', 'list', '--json'])))

  // the stick is changed elsewhere; pull brings it here (passphrase from a file this time)
  await onUsb(usb, ['secret', 'put', 'aws/region'], 'eu-west-1')
  const passFile = path.join(path.dirname(usb), 'usb.pass')
  fs.writeFileSync(passFile, USB_PASS + '\n')
  const pull = await me.pk(['pull', usb, 'aws', '--target-passphrase-file', passFile])
  assert.equal(pull.code, 0, pull.stderr)
  assert.match(pull.out, /aws: fast-forward/)
  assert.equal(await me.ok(['secret', 'get', 'aws/region']), 'eu-west-1')

  // another node clones from the stick under its own name
  const cl = await other.pk(['clone', usb, 'aws', 'aws-copy'], { env: target })
  assert.equal(cl.code, 0, cl.stderr)
  assert.equal(await other.ok(['secret', 'get', 'aws-copy/region']), 'eu-west-1')

  // push of one repository
  await me.ok(['secret', 'put', 'deploy/token'], { input: 'tok2' })
  const one = await me.pk(['push', 'deploy', usb], { env: target })
  assert.equal(one.code, 0, one.stderr)
  assert.equal((await onUsb(usb, ['secret', 'get', 'deploy/token'])).out, 'tok2')
})

test('a node file peer: wrong passphrase, missing file, diverged history are refused and change nothing', async (t) => {
  const me = await makeNode(t)
  const usb = await usbNode(t)
  await me.ok(['repo', 'create', 'r'])
  await me.ok(['secret', 'put', 'r/a'], { input: '1' })
  await me.ok(['push', 'r', usb], { env: target })

  const wrong = await me.pk(['push', 'r', usb], { env: { POLYKEY_TARGET_PASSPHRASE: 'nope' } })
  assert.equal(wrong.code, 3)
  assert.match(wrong.stderr, /polykey: error: wrong passphrase for .*usb\.pk/)

  const none = await me.pk(['push', 'r', path.join(path.dirname(usb), 'nothing.pk')], { env: target })
  assert.equal(none.code, 1)
  assert.match(none.stderr, /no node file at .*nothing\.pk/)

  const self = await me.pk(['pull', me.node, 'r'])
  assert.equal(self.code, 2)
  assert.match(self.stderr, /is this node itself/)

  // both sides move on: a push would drop the stick's commit, so it is refused
  await onUsb(usb, ['secret', 'put', 'r/b'], 'usb side')
  await me.ok(['secret', 'put', 'r/c'], { input: 'my side' })
  const before = fs.readFileSync(usb)
  const diverged = await me.pk(['push', 'r', usb], { env: target })
  assert.equal(diverged.code, 1)
  assert.match(diverged.stderr, /has changes to 'r' that this node does not have/)
  assert.match(diverged.stderr, /hint: pull them first/)
  assert.ok(fs.readFileSync(usb).equals(before), 'the node file is unchanged')

  // pull merges (different secrets), then the push goes through
  const merged = await me.pk(['pull', usb, 'r'], { env: target })
  assert.equal(merged.code, 0, merged.stderr)
  assert.match(merged.out, /r: merged changes from .*usb\.pk/)
  await me.ok(['push', 'r', usb], { env: target })
  assert.equal((await onUsb(usb, ['secret', 'get', 'r/c'])).out, 'my side')
  assert.equal((await onUsb(usb, ['secret', 'get', 'r/b'])).out, 'usb side')
})
