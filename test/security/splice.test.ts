// Issue 9 item 7: two copies of one node that diverged (each saved on its own) can be spliced,
// B[:n] + A[n:] at a segment boundary both share. Every piece is authentic, so before trailers
// were chained to their predecessor's content the result opened, verified and showed a state
// that never existed (B's first edit with A's second). Now it is corruption: exit 4.
import test from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { PASS, ROOT, tmpdir } from '../helpers.js'
import { NodeFile } from '../../src/archive/nodefile.js'
import { cli, layout, cleanStderr, put } from '../archive/util.js'

const FIXTURE_V1 = path.join(ROOT, 'test', 'fixtures', 'v1', 'node-v1.pk')

/**
 * Two diverged copies of `base`: the same saves' shapes, different values. The saves go straight
 * through the node file (no git objects, whose compressed sizes vary), so both copies have their
 * segment boundaries at the same offsets, as the attack needs.
 */
function diverge(dir: string, base: string, pass = PASS, values = ['AAAA', 'BBBB']): { a: string; b: string } {
  const a = path.join(dir, 'a.pk')
  const b = path.join(dir, 'b.pk')
  for (const [node, v] of [
    [a, values[0]],
    [b, values[1]],
  ] as const) {
    fs.copyFileSync(base, node)
    const nf = NodeFile.open(node, { passphrase: Buffer.from(pass) }, { writable: true })
    for (const name of ['x', 'y', 'z']) nf.commit([put(`repos/r/${name}`, `${v}-${name}`)])
    nf.close()
  }
  return { a, b }
}

/** Every splice B[:n] + A[n:] at a segment end both files share after they differ: must be exit 4. */
async function assertSplicesRefused(dir: string, a: string, b: string, pass?: string): Promise<number> {
  const A = fs.readFileSync(a)
  const B = fs.readFileSync(b)
  let differ = 0
  while (differ < A.length && A[differ] === B[differ]) differ++
  const endsA = new Set(layout(a, pass).segments.map((s) => s.end))
  const cuts = layout(b, pass)
    .segments.map((s) => s.end)
    .filter((n) => n > differ && endsA.has(n) && n < A.length)
  assert.ok(cuts.length > 0, 'the copies share a segment boundary after they diverge (the attack is possible)')
  for (const n of cuts) {
    const spliced = path.join(dir, `spliced-${n}.pk`)
    fs.writeFileSync(spliced, Buffer.concat([B.subarray(0, n), A.subarray(n)]), { mode: 0o600 })
    const verify = await cli(['verify'], { node: spliced, pass })
    assert.equal(verify.code, 4, `the splice at ${n} was accepted: ${verify.out}${verify.stderr}`)
    assert.ok(cleanStderr(verify.stderr), verify.stderr)
    assert.match(verify.stderr, /^polykey: error: node file trailer chain is broken/m)
    const get = await cli(['secret', 'list', 'r'], { node: spliced, pass })
    assert.equal(get.code, 4, `secret list on the splice at ${n}: ${get.out}`)
  }
  // The two copies themselves are fine.
  for (const f of [a, b]) assert.equal((await cli(['verify'], { node: f, pass })).code, 0)
  return cuts.length
}

test('a splice of two diverged copies of a new node is corruption (exit 4)', async (t) => {
  const dir = tmpdir(t)
  const base = path.join(dir, 'base.pk')
  assert.equal((await cli(['init', '--kdf', 'test'], { node: base })).code, 0)
  assert.equal((await cli(['repo', 'create', 'r'], { node: base })).code, 0)
  assert.equal((await cli(['secret', 'put', 'r/base'], { node: base, input: 'base' })).code, 0)
  const { a, b } = diverge(dir, base)
  await assertSplicesRefused(dir, a, b)
})

test('saves made now to a version-1 node are chained too: a splice of its diverged copies is exit 4', async (t) => {
  const dir = tmpdir(t)
  const pass = 'polykey-fixture-v1'
  const base = path.join(dir, 'base.pk')
  fs.copyFileSync(FIXTURE_V1, base)
  assert.equal((await cli(['repo', 'create', 'r'], { node: base, pass })).code, 0)
  const { a, b } = diverge(dir, base, pass)
  await assertSplicesRefused(dir, a, b, pass)
})
