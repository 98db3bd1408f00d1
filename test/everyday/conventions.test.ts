// XDG paths for the default node, and the man page generated from the command table.
import test from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { spawnSync } from 'node:child_process'
import { ROOT, run, tmpdir } from '../helpers.js'
import { cliSpec } from '../../src/cli/spec.js'
import { manPage } from '../../src/cli/man.js'

test('default node: $XDG_DATA_HOME/polykey/node.pk, ~/.local/share without it, ~/.polykey/node.pk when only that exists', async (t) => {
  const home = tmpdir(t)
  const base = { HOME: home, POLYKEY_NODE: undefined, XDG_DATA_HOME: undefined }
  const init = await run(['init', '--kdf', 'test', '--json'], { env: base })
  assert.equal(init.code, 0, init.stderr)
  assert.equal(JSON.parse(init.out).node, path.join(home, '.local/share/polykey/node.pk'))
  assert.equal(fs.statSync(path.join(home, '.local/share/polykey')).mode & 0o777, 0o700)

  const xdg = path.join(home, 'xdg')
  const r = await run(['init', '--kdf', 'test', '--json'], { env: { ...base, XDG_DATA_HOME: xdg } })
  assert.equal(JSON.parse(r.out).node, path.join(xdg, 'polykey/node.pk'))

  // an older installation: only ~/.polykey/node.pk
  const old = tmpdir(t)
  const legacy = path.join(old, '.polykey/node.pk')
  assert.equal((await run(['init', '--kdf', 'test'], { env: { ...base, POLYKEY_NODE: legacy } })).code, 0)
  const info = await run(['info', '--json'], { env: { ...base, HOME: old } })
  assert.equal(JSON.parse(info.out).node, legacy)
  // once both exist, the XDG one wins
  assert.equal((await run(['init', '--kdf', 'test'], { env: { ...base, HOME: old } })).code, 1, 'init refuses: the legacy node is the default')
  const both = path.join(old, '.local/share/polykey/node.pk')
  assert.equal((await run(['init', '--kdf', 'test'], { env: { ...base, POLYKEY_NODE: both } })).code, 0)
  assert.equal(JSON.parse((await run(['info', '--json'], { env: { ...base, HOME: old } })).out).node, both)
})

test('man/polykey.1 is the page rendered from the command table (make man), and man reads it', async () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'))
  const page = manPage(await cliSpec(), pkg.version)
  assert.equal(fs.readFileSync(path.join(ROOT, 'man/polykey.1'), 'utf8'), page, 'man/polykey.1 is stale: run make man')
  assert.deepEqual(pkg.man, ['./man/polykey.1'], 'the npm package ships it')
  for (const c of ['secret generate', 'secret grep', 'otp', 'completion']) assert.ok(page.includes(`.SS polykey ${c.replace(/-/g, '\\-')}`), c)
  const man = spawnSync('man', ['-l', '-P', 'cat', path.join(ROOT, 'man/polykey.1')], { encoding: 'utf8', env: { ...process.env, MANWIDTH: '100' } })
  if (man.error) return // no man on this machine
  assert.equal(man.status, 0, man.stderr)
  assert.match(man.stdout, /polykey secret generate <ref>/)
  assert.match(man.stdout, /--clip-seconds/)
})

test('make install puts polykey, man polykey and the completions under PREFIX', async (t) => {
  const dest = tmpdir(t)
  // -o build: this checkout is already built (the suite runs from dist/)
  const r = spawnSync('make', ['-s', '-o', 'build', 'install', `DESTDIR=${dest}`, 'PREFIX=/usr'], { cwd: ROOT, encoding: 'utf8' })
  assert.equal(r.status, 0, r.stderr)
  const usr = path.join(dest, 'usr')
  assert.equal(fs.realpathSync(path.join(usr, 'bin/polykey')), path.join(ROOT, 'bin/polykey'))
  for (const f of ['share/man/man1/polykey.1', 'share/bash-completion/completions/polykey', 'share/zsh/site-functions/_polykey', 'share/fish/vendor_completions.d/polykey.fish'])
    assert.ok(fs.statSync(path.join(usr, f)).size > 100, f)
  const man = spawnSync('man', ['-P', 'cat', 'polykey'], { encoding: 'utf8', env: { ...process.env, MANPATH: path.join(usr, 'share/man'), MANWIDTH: '100' } })
  if (man.error) return
  assert.equal(man.status, 0, man.stderr)
  assert.match(man.stdout, /polykey secret grep <pattern> \[repos\.\.\]/)
})
