// `secret edit` runs $EDITOR on a file in a private memory-backed folder, commits on a clean exit
// when the content changed, and removes the folder in every case. Then: no plaintext is left in
// /tmp, /dev/shm or the node file after a session that used every command touching values.
import test from 'node:test'
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { spawnSync } from 'node:child_process'
import { tmpdir } from '../helpers.js'
import { node, ok, fails, json, type LogJson, type Pk } from './util.js'

const SHM = '/dev/shm'
const editDirs = () => fs.readdirSync(SHM).filter((n) => n.startsWith('polykey-edit-'))

/** An editor script: logs where it was asked to edit (folder, modes), then acts per $PK_MODE. */
function editor(dir: string): { env: (mode: string, extra?: Record<string, string>) => Record<string, string | undefined>; seen: () => string[][] } {
  const script = path.join(dir, 'editor.sh')
  const log = path.join(dir, 'editor.log')
  fs.writeFileSync(
    script,
    `#!/bin/sh
[ $# -eq 1 ] || { echo "editor got $# arguments" >&2; exit 99; }
d=$(dirname "$1")
echo "$d $(stat -c %a "$d") $(stat -c %a "$1") $(basename "$1")" >> "$PK_LOG"
case "$PK_MODE" in
  sed) sed -i s/a/b/ "$1" ;;
  write) printf '%s' "$PK_VALUE" > "$1" ;;
  rename) printf '%s' "$PK_VALUE" > "$1.tmp" && mv "$1.tmp" "$1" ;;
  same) : ;;
  fail) printf 'changed but failed' > "$1"; exit 3 ;;
esac
`,
    { mode: 0o700 },
  )
  return {
    env: (mode, extra = {}) => ({ EDITOR: `sh ${script}`, VISUAL: undefined, PK_MODE: mode, PK_LOG: log, ...extra }),
    seen: () =>
      fs.existsSync(log)
        ? fs
            .readFileSync(log, 'utf8')
            .trim()
            .split('\n')
            .map((l) => l.split(' '))
        : [],
  }
}

const messages = async (pk: Pk, repo: string) => json<LogJson[]>(await pk(['repo', 'log', repo, '--json'])).map((e) => e.message)

test('secret edit: commits a change on a clean exit; nothing when unchanged or when the editor fails; the folder always goes', async (t) => {
  const { pk, dir } = await node(t)
  const ed = editor(dir)
  ok(await pk(['repo', 'create', 'e']))
  ok(await pk(['secret', 'put', 'e/s'], { input: 'aaa' }))

  // sed -i: in place
  ok(await pk(['secret', 'edit', 'e/s'], { env: ed.env('sed') }))
  assert.equal(ok(await pk(['secret', 'get', 'e/s'])).out, 'baa')
  // a script that writes a new value; and one that saves by renaming a new file over it
  ok(await pk(['secret', 'edit', 'e/s'], { env: ed.env('write', { PK_VALUE: 'new value' }) }))
  assert.equal(ok(await pk(['secret', 'get', 'e/s'])).out, 'new value')
  ok(await pk(['secret', 'edit', 'e/s'], { env: ed.env('rename', { PK_VALUE: 'renamed value' }) }))
  assert.equal(ok(await pk(['secret', 'get', 'e/s'])).out, 'renamed value')
  assert.deepEqual(await messages(pk, 'e'), ['update s', 'update s', 'update s', 'add s'])

  // unchanged: exit 0, nothing committed
  const same = ok(await pk(['secret', 'edit', 'e/s'], { env: ed.env('same') }))
  assert.match(same.stderr, /no change/)
  // the editor fails (after writing): exit 1, nothing committed
  fails(await pk(['secret', 'edit', 'e/s'], { env: ed.env('fail') }), 1, /editor exited with status 3; nothing was saved/)
  assert.equal(ok(await pk(['secret', 'get', 'e/s'])).out, 'renamed value')
  assert.equal((await messages(pk, 'e')).length, 4)

  // a new secret: created by the edit; not created when the editor leaves it empty
  ok(await pk(['secret', 'edit', 'e/fresh'], { env: ed.env('write', { PK_VALUE: 'fresh' }) }))
  assert.equal(ok(await pk(['secret', 'get', 'e/fresh'])).out, 'fresh')
  ok(await pk(['secret', 'edit', 'e/never'], { env: ed.env('same') }))
  fails(await pk(['secret', 'get', 'e/never']), 1)
  assert.deepEqual((await messages(pk, 'e'))[0], 'add fresh')

  // refused before an editor runs: no repository, a hostile name
  fails(await pk(['secret', 'edit', 'nope/x'], { env: ed.env('write', { PK_VALUE: 'x' }) }), 1, /no repository/)
  fails(await pk(['secret', 'edit', 'e/..'], { env: ed.env('write', { PK_VALUE: 'x' }) }), 2)

  // every run: a private folder under /dev/shm (0700), the file 0600 and named after the secret, gone afterwards
  const seen = ed.seen()
  assert.equal(seen.length, 7)
  for (const [d, dmode, fmode, base] of seen) {
    assert.match(d, /^\/dev\/shm\/polykey-edit-/)
    assert.equal(dmode, '700')
    assert.equal(fmode, '600')
    assert.ok(['s', 'fresh', 'never'].includes(base))
    assert.ok(!fs.existsSync(d), `${d} was removed`)
  }
  // (Each of this test's folders is checked above; a global look at /dev/shm would also see the
  // folders of edits that other tests, running at the same time, have not finished.)
})

test('no plaintext left in /tmp, /dev/shm or the node file after put, get, edit, env, import, revert and export', async (t) => {
  const { pk, dir, node: file } = await node(t)
  const ed = editor(dir)
  const marker = `pkmarker${crypto.randomBytes(12).toString('hex')}`
  const v = (n: number) => `${marker}-${n}`
  ok(await pk(['repo', 'create', 'm']))
  ok(await pk(['secret', 'put', 'm/a'], { input: v(1) }))
  ok(await pk(['secret', 'put', 'm/a'], { input: v(2) }))
  assert.equal(ok(await pk(['secret', 'get', 'm/a'])).out, v(2))
  ok(await pk(['secret', 'edit', 'm/a'], { env: ed.env('write', { PK_VALUE: v(3) }) }))
  fails(await pk(['secret', 'edit', 'm/a'], { env: ed.env('fail') }), 1) // what it leaves behind matters too
  assert.equal(ok(await pk(['env', 'm', '--', 'sh', '-c', 'printf "%s" "$A"'])).out, v(3))
  const src = tmpdir(t, 'pk-import-')
  fs.mkdirSync(path.join(src, 'imp'))
  fs.writeFileSync(path.join(src, 'imp', 'b'), v(4))
  ok(await pk(['import', 'dir', src]))
  fs.rmSync(src, { recursive: true }) // the import's source is the user's own plaintext
  const first = json<LogJson[]>(await pk(['repo', 'log', 'm', '--json'])).at(-1)!.commit
  ok(await pk(['repo', 'revert', 'm', first]))
  assert.equal(ok(await pk(['secret', 'get', 'm/a', '--rev', first])).out, v(1))
  const tar = ok(await pk(['export', 'tar']))
  assert.ok(tar.stdout.includes(v(4)), 'the export itself is plaintext, to stdout only')

  const grep = spawnSync('grep', ['-rlsF', '--binary-files=text', marker, '/tmp', SHM], { encoding: 'utf8', maxBuffer: 1 << 20 })
  assert.equal(grep.stdout, '', `plaintext found in:\n${grep.stdout}`)
  const bytes = fs.readFileSync(file)
  for (const needle of [marker, Buffer.from(marker).toString('base64').slice(0, 24), Buffer.from(marker).toString('hex')])
    assert.equal(bytes.indexOf(needle), -1, `node file contains ${needle}`)
  assert.deepEqual(editDirs(), [])
})
