// Attacks on the gpg path, replayed:
// 1. A slot whose OpenPGP message was swapped for another one to the same (public) key: gpg
//    decrypts it happily, but its plaintext is not this node's master key. Refused (exit 3),
//    never used as a key.
// 2. Watching gpg's command line and environment (what `ps` and /proc show other processes):
//    neither the master key nor the passphrase given to polykey appears there.
import test from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { execFileSync } from 'node:child_process'
import { run, newNode, PASS } from '../helpers.js'
import { gpgHome } from '../gpg/gpg-helpers.js'
import { SLOT_AREA_SIZE, SLOT_AREAS_OFFSET, decodeSlotArea, encodeSlotArea } from '../../src/archive/codec.js'
import { NodeFile } from '../../src/archive/nodefile.js'

test('a substituted gpg slot message is refused, not used', async (t) => {
  const g = gpgHome(t)
  const { node } = await newNode(t)
  assert.equal((await run(['slot', 'add', 'gpg', g.fpr], { node, env: g.env })).code, 0)
  const b = fs.readFileSync(node)
  for (let i = 0; i < 2; i++) {
    const off = SLOT_AREAS_OFFSET + i * SLOT_AREA_SIZE
    const area = decodeSlotArea(b.subarray(off, off + SLOT_AREA_SIZE))
    if (!area) continue
    const other = execFileSync('gpg', ['--batch', '--trust-model', 'always', '-z', '0', '-e', '-r', g.fpr], { env: g.env, input: Buffer.alloc(32, 0x41) })
    area.slots = area.slots.filter((s) => s.type === 'gpg').map((s) => ({ ...s, message: other }))
    encodeSlotArea(area).copy(b, off) // the area checksum is unkeyed: anyone can recompute it
  }
  fs.writeFileSync(node, b)
  const r = await run(['info'], { node, env: { ...g.env, POLYKEY_PASSPHRASE: undefined } })
  assert.equal(r.code, 3)
  assert.match(r.stderr, /^polykey: error: the gpg key slot decrypted to something other than the key of \/.*node\.pk \(a damaged or substituted slot\)/)
})

test("gpg's argv and environment never hold the master key or polykey's passphrase", async (t) => {
  const g = gpgHome(t)
  const { dir, node } = await newNode(t)
  const log = path.join(dir, 'gpg.log')
  const spy = path.join(dir, 'gpg-spy')
  fs.writeFileSync(spy, `#!/bin/sh\n{ echo "ARGV: $*"; env; } >> ${log}\nexec gpg "$@"\n`, { mode: 0o700 })
  const env = { ...g.env, POLYKEY_GPG: spy }
  assert.equal((await run(['slot', 'add', 'gpg', g.fpr], { node, env })).code, 0)
  assert.equal((await run(['info'], { node, env: { ...env, POLYKEY_PASSPHRASE: undefined } })).code, 0)
  const nf = NodeFile.open(node, { passphrase: Buffer.from(PASS) })
  const master = Buffer.from(nf.masterKey)
  nf.close()
  const seen = fs.readFileSync(log, 'utf8')
  assert.match(seen, /ARGV: .*--encrypt/)
  assert.match(seen, /ARGV: .*--decrypt/)
  for (const form of [master.toString('hex'), master.toString('base64'), master.toString('latin1')]) assert.ok(!seen.includes(form))
  assert.ok(!seen.includes(PASS))
  assert.doesNotMatch(seen, /POLYKEY_PASSPHRASE/)
})

test('a key file planted as a symbolic link is refused; one readable by others is used with a warning', async (t) => {
  const { dir, node } = await newNode(t)
  const key = path.join(dir, 'real.key')
  assert.equal((await run(['slot', 'add', 'keyfile', key], { node })).code, 0)
  // A neighbour who can write the folder points ci.key at a file of their choosing.
  const link = path.join(dir, 'ci.key')
  fs.symlinkSync(key, link)
  const r = await run(['--key-file', link, 'info'], { node, env: { POLYKEY_PASSPHRASE: undefined } })
  assert.equal(r.code, 2)
  assert.match(r.stderr, /^polykey: error: cannot read key file .*ci\.key: it is a symbolic link\n/)
  // slot add keyfile on a link does not write through it either.
  const target = path.join(dir, 'victim')
  fs.symlinkSync(target, path.join(dir, 'new.key'))
  const add = await run(['slot', 'add', 'keyfile', path.join(dir, 'new.key')], { node })
  assert.equal(add.code, 2)
  assert.match(add.stderr, /^polykey: error: cannot read key file .*new\.key: it is a symbolic link\n/)
  assert.ok(!fs.existsSync(target), 'nothing was created through the link')
})
