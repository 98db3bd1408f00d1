// Installable as a package (issue 11): `npm pack`, then `npm install -g` of the tarball into a
// scratch prefix, then the installed `polykey` creates a node, stores and reads a secret.
// Dependencies come from npm's cache where it has them (`make test`'s `npm ci` filled it), else the registry.
import test from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { spawnSync } from 'node:child_process'
import { ROOT, PASS, collect, tmpdir } from '../helpers.js'

test('the packed tarball installs and runs: init, secret put/get, and the native addons built at install', { timeout: 240_000 }, async (t) => {
  const dir = tmpdir(t, 'pk-pack-')
  // dist/ is built by `make test`; prepack would only build it again.
  const pack = spawnSync('npm', ['pack', '--ignore-scripts', '--pack-destination', dir], { cwd: ROOT, encoding: 'utf8' })
  assert.equal(pack.status, 0, pack.stderr)
  const tgz = path.join(dir, pack.stdout.trim().split('\n').pop()!)
  const prefix = path.join(dir, 'prefix')
  const inst = spawnSync('npm', ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', tgz], { encoding: 'utf8', timeout: 200_000 })
  assert.equal(inst.status, 0, inst.stderr)
  const bin = path.join(prefix, 'bin', 'polykey')
  assert.ok(fs.existsSync(bin))
  const installed = path.join(prefix, 'lib', 'node_modules', 'polykey')
  assert.ok(!fs.existsSync(path.join(installed, 'src')) && !fs.existsSync(path.join(installed, 'test')), 'only what runs is shipped')
  assert.ok(fs.existsSync(path.join(installed, 'native/build/Release/polykey_harden.node')), 'the native addons were built at install')
  const env = { ...process.env, POLYKEY_NODE: path.join(dir, 'n.pk'), POLYKEY_PASSPHRASE: PASS }
  const pk = (args: string[], input = '') => collect(bin, args, { env, cwd: dir, input, timeoutMs: 60_000 })
  const v = await pk(['--version'])
  assert.equal(v.code, 0, v.stderr)
  assert.equal(v.stdout.toString().trim(), JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version)
  assert.equal((await pk(['init', '--kdf', 'test'])).code, 0)
  assert.equal((await pk(['repo', 'create', 'r'])).code, 0)
  assert.equal((await pk(['secret', 'put', 'r/k'], 'from the package')).code, 0)
  const g = await pk(['secret', 'get', 'r/k'])
  assert.equal(g.stdout.toString(), 'from the package', g.stderr)
  // the word list and the man page ship too (npm links "man" pages under PREFIX/share/man)
  const w = await pk(['secret', 'generate', 'r/words', '--words', '3'])
  assert.match(w.stdout.toString(), /^[a-z-]+-[a-z-]+-[a-z-]+\n$/, w.stderr)
  assert.ok(fs.existsSync(path.join(prefix, 'share', 'man', 'man1', 'polykey.1')), 'man polykey after npm install -g')
})
