import test from 'node:test'
import assert from 'node:assert/strict'
import { run, newNode } from './helpers.js'

test('a new node reports its id and nothing else', async (t) => {
  const { node } = await newNode(t)
  const info = await run(['info', '--json'], { node })
  assert.equal(info.code, 0, info.stderr)
  const j = JSON.parse(info.out)
  assert.match(j.id, /^[0-9a-f]{64}$/)
  assert.equal(j.repositories, 0)
  assert.equal(j.secrets, 0)
  assert.equal(j.tags, 0)
  const id = await run(['node', 'id'], { node })
  assert.equal(id.out.trim(), j.id)
})
