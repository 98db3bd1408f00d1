// An independent second reader: isomorphic-git (a separate git implementation) reads every
// repository Polykey writes — loose objects and the packs it makes — straight from the node in
// memory (no plaintext on disk), and must see the same history and the same bytes as polykey.
import test from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import git from 'isomorphic-git'
import { node, ok } from '../vault/util.js'
import { NodeFile } from '../../src/archive/nodefile.js'
import { MemStore } from '../../src/vault/mem-store.js'
import { Vault } from '../../src/vault/vault.js'
import { PASS } from '../helpers.js'

test('isomorphic-git reads every repository polykey wrote: same commits, same values at every commit', async (t) => {
  const { pk, node: file, dir } = await node(t)
  ok(await pk(['repo', 'create', 'proj']))
  ok(await pk(['repo', 'create', 'other']))
  ok(await pk(['secret', 'put', 'proj/a'], { input: 'one' }))
  ok(await pk(['secret', 'put', 'proj/b'], { input: Buffer.from([0, 1, 2, 255]) }))
  ok(await pk(['secret', 'put', 'proj/a'], { input: 'two' }))
  ok(await pk(['secret', 'mv', 'proj/b', 'proj/c']))
  ok(await pk(['tag', 'add', 'prod', 'proj/a']))
  const first = JSON.parse(ok(await pk(['repo', 'log', 'proj', '--json'])).out).at(-1).commit as string
  ok(await pk(['repo', 'revert', 'proj', first]))
  // enough objects that polykey packs a repository (packs and deltas are read too)
  const src = path.join(dir, 'import')
  fs.mkdirSync(path.join(src, 'bulk'), { recursive: true })
  for (let i = 0; i < 260; i++) fs.writeFileSync(path.join(src, 'bulk', `k${i}`), `value ${i} `.repeat(20))
  ok(await pk(['import', 'dir', src]))
  for (let i = 0; i < 3; i++) ok(await pk(['secret', 'put', `bulk/k${i}`], { input: `changed ${i}` }))
  ok(await pk(['secret', 'put', 'other/x'], { input: 'x' }))

  const nf = NodeFile.open(file, { passphrase: Buffer.from(PASS) }, { writable: false })
  t.after(() => nf.close())
  const store = MemStore.load(nf)
  const vault = new Vault(store, { name: 'reader', email: 'reader@polykey' })
  const vfs = store.vol as unknown as Parameters<typeof git.log>[0]['fs']
  assert.ok(store.vol.readdirSync('/repos/bulk/.git/objects/pack').length > 0, 'bulk is packed')
  let checked = 0
  const cache = {} // isomorphic-git keeps parsed pack indexes here
  const seen = new Set<string>()
  for (const repo of vault.repoList()) {
    const gdir = `/repos/${repo}`
    const ours = vault.repoLog(repo)
    const theirs = await git.log({ fs: vfs, dir: gdir, cache })
    assert.deepEqual(
      theirs.map((c) => c.oid),
      ours.map((e) => e.commit),
      `${repo}: the same history`,
    )
    assert.deepEqual(
      theirs.map((c) => c.commit.message.trim()),
      ours.map((e) => e.message.trim()),
    )
    for (const c of theirs) {
      const { tree } = await git.readTree({ fs: vfs, dir: gdir, oid: c.oid, cache })
      for (const e of tree) {
        if (seen.has(e.oid)) continue // the same bytes, already compared
        seen.add(e.oid)
        const { blob } = await git.readBlob({ fs: vfs, dir: gdir, oid: e.oid, cache })
        assert.deepEqual(Buffer.from(blob), vault.secretGet(repo, e.path, c.oid), `${repo}/${e.path} at ${c.oid.slice(0, 12)}`)
        checked++
      }
    }
    // and the present: HEAD's files are the secrets polykey lists
    assert.deepEqual((await git.listFiles({ fs: vfs, dir: gdir, ref: 'HEAD', cache })).sort(), vault.secretNames(repo).sort())
  }
  assert.ok(checked > 260, `read ${checked} blobs`)
})
