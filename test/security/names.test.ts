// Issue 9 item 10: names with control characters (terminal escapes, newlines, bidirectional
// overrides) are refused when made here and when they arrive from a peer, so nothing printed
// by `ls`, `secret list` or `peer list` can drive the user's terminal.
import test from 'node:test'
import assert from 'node:assert/strict'
import { newNode, run } from '../helpers.js'
import { checkObject } from '../../src/sync/pack.js'
import { encodeObject, encodeTree } from '../../src/git/objects.js'
import { nameProblem } from '../../src/vault/names.js'

const HOSTILE = ['\x1b]0;pwned\x07', 'two\nlines', 'carriage\rreturn', 'bell\x07', 'del\x7f', 'c1\u009b31m', 'bidi\u202egnp.exe', 'tab\tname']

test('the CLI refuses control characters in repository, secret, tag and peer names: exit 2, nothing created', async (t) => {
  const { node } = await newNode(t)
  assert.equal((await run(['repo', 'create', 'ok'], { node })).code, 0)
  for (const bad of HOSTILE) {
    for (const args of [
      ['repo', 'create', bad],
      ['secret', 'put', `ok/${bad}`],
      ['tag', 'add', bad, 'ok/x'],
      ['peer', 'add', bad, 'a'.repeat(64)],
    ]) {
      const r = await run(args, { node, input: 'v' })
      assert.equal(r.code, 2, `${args.join(' ')} → ${r.code} ${r.stderr}`)
      assert.match(r.stderr, /^polykey: error: invalid .* (name|alias) .*contains the control character U\+[0-9A-F]{4}\n$/)
      assert.ok(!r.stderr.includes('\x1b') && !r.stderr.includes('\x07'), 'the error line itself is escaped')
    }
  }
  assert.equal((await run(['repo', 'list'], { node })).out, 'ok\n')
})

test("a peer's tree with a control character in a name does not parse (the pull is refused)", () => {
  for (const bad of HOSTILE) {
    assert.ok(nameProblem(bad), JSON.stringify(bad))
    const tree = encodeTree([{ mode: '100644', name: bad, oid: encodeObject('blob', Buffer.from('x')).oid }])
    assert.throws(
      () => checkObject('tree', tree, encodeObject('tree', tree).oid),
      (err: Error) => /control character/.test(err.message),
    )
  }
  assert.equal(nameProblem('plain-name.txt'), null)
  assert.equal(nameProblem('ünïcödé ok'), null)
})
