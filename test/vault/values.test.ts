// Values are bytes: binary, empty and large values round-trip exactly, now and through history.
import test from 'node:test'
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import { node, ok, json, type LogJson } from './util.js'

test('binary (all 256 byte values), empty and 10 MiB values round-trip byte for byte', async (t) => {
  const { pk } = await node(t)
  ok(await pk(['repo', 'create', 'v']))
  const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i))
  const binary = Buffer.concat([all, all.reverse(), Buffer.from('\r\n\n\0\0\xff', 'latin1')])
  const large = crypto.randomBytes(10 << 20)
  const values: Record<string, Buffer> = {
    binary,
    empty: Buffer.alloc(0),
    newline: Buffer.from('value\n'),
    large,
  }
  for (const [name, data] of Object.entries(values)) ok(await pk(['secret', 'put', `v/${name}`], { input: data }), `put ${name}`)

  const names = Object.keys(values)
  const got = await Promise.all(names.map((n) => pk(['secret', 'get', `v/${n}`])))
  names.forEach((n, i) => assert.ok(ok(got[i]).stdout.equals(values[n]), `${n} round-trips (got ${got[i].stdout.length} bytes)`))

  const list = json<{ name: string; size: number }[]>(await pk(['secret', 'list', 'v', '--json']))
  assert.deepEqual(Object.fromEntries(list.map((s) => [s.name, s.size])), Object.fromEntries(names.map((n) => [n, values[n].length])))

  // overwrite each with something else, then read the old values back from history
  for (const n of ['binary', 'empty', 'large']) ok(await pk(['secret', 'put', `v/${n}`], { input: 'replaced' }))
  const log = json<LogJson[]>(await pk(['repo', 'log', 'v', '--json']))
  const before = log.find((e) => e.message === 'add large')!.commit
  const old = await Promise.all(['binary', 'empty', 'large'].map((n) => pk(['secret', 'get', `v/${n}`, '--rev', before])))
  assert.ok(ok(old[0]).stdout.equals(binary))
  assert.equal(ok(old[1]).stdout.length, 0)
  assert.ok(ok(old[2]).stdout.equals(large))

  // and an empty value through an update (not only on creation)
  ok(await pk(['secret', 'put', 'v/newline'], { input: '' }))
  assert.equal(ok(await pk(['secret', 'get', 'v/newline'])).stdout.length, 0)
})
