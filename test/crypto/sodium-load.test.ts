// src/crypto/sodium.ts loads sodium-native's prebuilt addon without its resolver (start-up time):
// it must be the very file the package's own loader picks, with the same functions, and work.
import test from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import path from 'node:path'
import { ROOT } from '../helpers.js'

/** In a fresh Node: which addon files got loaded, and the names sodium-native exports. */
function loaded(script: string): { addons: string[]; names: string[]; resolver: boolean } {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8' })
  assert.equal(r.status, 0, r.stderr)
  return JSON.parse(r.stdout) as { addons: string[]; names: string[]; resolver: boolean }
}

const report = `
const { createRequire: cr } = await import('node:module')
const require = cr(${JSON.stringify(path.join(ROOT, 'package.json'))})
const addons = Object.keys(require.cache).filter((k) => k.endsWith('.node') && k.includes('sodium-native'))
const names = Object.keys(s).sort()
const resolver = Object.keys(require.cache).some((k) => k.includes('require-addon'))
console.log(JSON.stringify({ addons, names, resolver }))
`

test("sodium-native, loaded our way, is the package's own addon with the same functions", () => {
  const stock = loaded(`const s = (await import('node:module')).createRequire(${JSON.stringify(path.join(ROOT, 'package.json'))})('sodium-native')
${report}`)
  const ours = loaded(`const { sodium: s } = await import(${JSON.stringify(path.join(ROOT, 'dist/src/crypto/sodium.js'))})
${report}`)
  assert.equal(stock.addons.length, 1, `one addon file: ${stock.addons}`)
  assert.deepEqual(ours.addons, stock.addons)
  assert.deepEqual(ours.names, stock.names)
  assert.equal(stock.resolver, true)
  assert.equal(ours.resolver, false, 'the resolver was not loaded')
})

test('sodium-native loaded our way encrypts, decrypts and refuses a changed byte', async () => {
  const { sodium } = await import('../../src/crypto/sodium.js')
  const key = Buffer.alloc(32, 1)
  const nonce = Buffer.alloc(24, 2)
  const msg = Buffer.from('a secret value')
  const c = Buffer.alloc(msg.length + 16)
  sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(c, msg, null, null, nonce, key)
  const m = Buffer.alloc(msg.length)
  sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(m, null, c, null, nonce, key)
  assert.ok(m.equals(msg))
  c[0] ^= 1
  assert.throws(() => sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(m, null, c, null, nonce, key))
})
