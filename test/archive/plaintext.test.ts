// "Looks encrypted": no secret value, secret name, repository or tag name, passphrase or node id
// appears anywhere in the node file's bytes, and the file does not compress.
import test from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import zlib from 'node:zlib'
import { tmpdir } from '../helpers.js'
import { cli } from './util.js'
import path from 'node:path'

const PASSPHRASE = 'passphrase-canary-7f3a9c'
const KNOWN = {
  repo: 'zebra-repository-canary',
  secret: 'unicorn-secret-name-canary',
  tag: 'mango-tag-canary',
  value: 'VALUE-CANARY-d41d8cd98f00b204e9800998ecf8427e',
  envLine: 'DATABASE_URL=postgres://canary-user:canary-pass@db.example:5432/app',
}

test('no known plaintext appears in the node file', async (t) => {
  const dir = tmpdir(t)
  const node = path.join(dir, 'node.pk')
  const opts = { node, pass: PASSPHRASE }
  const big = Array.from({ length: 3000 }, (_, i) => `${KNOWN.envLine}-${i}`).join('\n')
  const steps: [string[], string?][] = [
    [['init', '--kdf', 'test']],
    [['repo', 'create', KNOWN.repo]],
    [['secret', 'put', `${KNOWN.repo}/${KNOWN.secret}`], KNOWN.value],
    [['secret', 'put', `${KNOWN.repo}/dotenv`], big],
    [['tag', 'add', KNOWN.tag, `${KNOWN.repo}/${KNOWN.secret}`]],
    [['secret', 'put', `${KNOWN.repo}/${KNOWN.secret}`], KNOWN.value + '-v2'],
  ]
  for (const [args, input] of steps) {
    const r = await cli(args, { ...opts, input })
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`)
  }
  const id = (await cli(['node', 'id'], opts)).out.trim()
  const bytes = fs.readFileSync(node)
  const needles: [string, Buffer][] = [
    ...Object.entries(KNOWN).map(([k, v]) => [k, Buffer.from(v)] as [string, Buffer]),
    ...Object.entries(KNOWN).map(([k, v]) => [`${k} (utf-16)`, Buffer.from(v, 'utf16le')] as [string, Buffer]),
    ['passphrase', Buffer.from(PASSPHRASE)],
    ['node id (hex)', Buffer.from(id)],
    ['node public key (raw)', Buffer.from(id, 'hex')],
    ['a line of the .env', Buffer.from(`${KNOWN.envLine}-1234`)],
    ['repos/ path', Buffer.from(`repos/${KNOWN.repo}`)],
    ['git object header', Buffer.from('blob ')],
    ['tar-like member name', Buffer.from('.git/HEAD')],
  ]
  for (const [what, needle] of needles) assert.equal(bytes.indexOf(needle), -1, `${what} found in the node file`)
  // Short needles too: an 8-byte window of the secret value anywhere.
  for (let i = 0; i + 8 <= KNOWN.value.length; i += 4) assert.equal(bytes.indexOf(KNOWN.value.slice(i, i + 8)), -1)
  // 170 KB of a repetitive .env would shrink twentyfold if any of it were stored in the clear.
  const gz = zlib.gzipSync(bytes, { level: 9 })
  assert.ok(gz.length > bytes.length * 0.95, `the node file compresses to ${gz.length} of ${bytes.length} bytes`)
})
