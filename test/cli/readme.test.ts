// The README is true, and stays true (issue 11): every ```sh block of README.md runs, in order,
// as a new user would type it, in a scratch HOME — two nodes on loopback for sharing, a real
// mount, a real editor. A block preceded by `<!-- readme-test: skip -->` is not run (it needs
// what a test cannot have, and says so next to it).
import test from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { ROOT, PASS, collect, tmpdir } from '../helpers.js'
import { NO_FUSE } from '../fuse/mount-helpers.js'

/** The shell blocks after the first (the first is `make demo` / `make test`). */
function readmeBlocks(): string[] {
  const text = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8')
  const blocks: string[] = []
  const re = /(<!-- readme-test: skip -->\s*)?```sh\n([\s\S]*?)```/g
  for (let m = re.exec(text); m; m = re.exec(text)) if (!m[1]) blocks.push(m[2])
  return blocks.slice(1)
}

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port
      s.close(() => resolve(p))
    })
  })

/** One line of the README as the harness runs it. */
function translate(line: string, port: number): string | null {
  let l = line.replace(/\s+#\s.*$/, '').trimEnd()
  if (!l.trim() || /^make\b/.test(l)) return null // the build is done by the suite itself
  const who = /^(alice|bob)\$\s+/.exec(l)?.[1]
  if (who) l = l.slice(l.indexOf('$') + 1).trim()
  l = l.replace(/\bBOB_NODE_ID\b/g, '$(as bob bin/polykey node id)').replace(/\bALICE_NODE_ID\b/g, '$(as alice bin/polykey node id)')
  l = l.replace(/alice\.example\.org:7411/g, `127.0.0.1:${port}`).replace(/0\.0\.0\.0:7411/g, `0.0.0.0:${port}`)
  l = l.replace(/\/media\/usb/g, '$HOME/usb')
  if (/\bpolykey init\b/.test(l)) l += ' --kdf test' // cheap key derivation for the test; the README's default is "moderate"
  const node = who ? `export POLYKEY_NODE="$HOME/${who}.pk"; ` : ''
  if (/\bpolykey serve\b/.test(l)) return `( ${node}exec ${l} > "$HOME/serve.out" 2>&1 ) & SERVING=$!; wait_for_serve`
  if (who) l = `( ${node}${l} )`
  return l
}

test('every shell block of the README runs as written (scratch HOME, two nodes on loopback, a real mount)', { skip: NO_FUSE, timeout: 240_000 }, async (t) => {
  const home = tmpdir(t, 'pk-readme-')
  const port = await freePort()
  const body = readmeBlocks()
    .flatMap((b) => b.split('\n'))
    .map((l) => translate(l, port))
    .filter((l): l is string => l !== null)
  const script = [
    'set -euo pipefail',
    `cd ${JSON.stringify(ROOT)}`,
    'mkdir -p "$HOME/usb"',
    'as() { local who=$1; shift; POLYKEY_NODE="$HOME/$who.pk" "$@"; }',
    // the README's `vim FILE` as a scripted edit: the same save path an editor takes
    'vim() { command vim -es -u NONE -n -i NONE -c \'%s/EXAMPLE/ROTATED/e\' -c wq "$@"; }',
    'wait_for_serve() { for i in $(seq 100); do grep -q ":" "$HOME/serve.out" 2>/dev/null && return 0; sleep 0.1; done; cat "$HOME/serve.out"; return 1; }',
    'cleanup() { [ -n "${SERVING:-}" ] && kill $SERVING 2>/dev/null; bin/polykey unmount "$HOME/secrets" >/dev/null 2>&1 || true; }',
    'trap cleanup EXIT',
    'as alice bin/polykey init --kdf test >/dev/null; as bob bin/polykey init --kdf test >/dev/null',
    ...body,
  ].join('\n')
  const env = {
    ...process.env,
    HOME: home,
    POLYKEY_PASSPHRASE: PASS,
    POLYKEY_TARGET_PASSPHRASE: PASS,
    POLYKEY_NODE: undefined,
    XDG_DATA_HOME: undefined,
    XDG_CONFIG_HOME: undefined,
  }
  const r = await collect('bash', ['-c', script], { env, cwd: ROOT, timeoutMs: 200_000 })
  const out = r.stdout.toString()
  assert.equal(r.code, 0, `the README failed:\n--- script\n${script}\n--- stdout\n${out}\n--- stderr\n${r.stderr}`)
  assert.ok(!/polykey: error/.test(r.stderr), r.stderr)
  assert.match(out, /AKIAIOSFODNN7EXAMPLE/, 'secret get in the quick start')
  assert.match(out, /tok-123/, "bob read alice's shared secret")
  assert.match(out, /AKIAIOSFODNN7ROTATED/, 'the edit through the tag, restored from the backup')
})
