// Issue 9 item 11: a closed stdout (export tar | head) ends quietly; a lock file left by a full
// disk does not block the next writer; a slot asking for a huge Argon2id cost is refused, not
// run; and the mount loses at most about a second to kill -9, as docs/SECURITY.md says.
import test from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { spawnSync } from 'node:child_process'
import { BIN, PASS, ROOT, newNode, run, collect } from '../helpers.js'
import { KDF_BOUNDS, KDF_PROFILES, deriveFromPassphrase, randomBytes, wipe } from '../../src/crypto/index.js'
import { HEADER_SIZE, SLOT_AREAS_OFFSET, SLOT_AREA_SIZE, decodeSlotArea, encodeSlotArea, wrapPassphraseSlot } from '../../src/archive/codec.js'
import { NodeFile } from '../../src/archive/nodefile.js'
import { COMMIT_DELAY_MS, COMMIT_MAX_DELAY_MS } from '../../src/fuse/mount.js'
import { NodeLock } from '../../src/archive/lock.js'
import { cleanStderr } from '../archive/util.js'
import { NO_FUSE, mountedNode, waitExit, mountLine, sh, q, sleep } from '../fuse/mount-helpers.js'

test('export tar into a pipe closed early (| head -c 10): no stack trace, exit 1', async (t) => {
  const { node } = await newNode(t)
  assert.equal((await run(['repo', 'create', 'r'], { node })).code, 0)
  assert.equal((await run(['secret', 'put', 'r/big'], { node, input: Buffer.alloc(300_000, 0x61) })).code, 0)
  const r = await collect('bash', ['-c', `${q(process.execPath)} ${q(BIN)} export tar | head -c 10 >/dev/null; echo "status=\${PIPESTATUS[0]}" >&2`], {
    env: { ...process.env, POLYKEY_NODE: node, POLYKEY_PASSPHRASE: PASS },
    cwd: ROOT,
    timeoutMs: 30_000,
  })
  const lines = r.stderr.split('\n').filter(Boolean)
  assert.equal(lines.at(-1), 'status=1', r.stderr)
  assert.deepEqual(lines.slice(0, -1), [], `nothing but the status on stderr:\n${r.stderr}`)
})

test('a full disk while taking the lock: a clean I/O error, and no lock file is left to block the next writer', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pk-lockfull-'))
  const mnt = path.join(dir, 'small')
  fs.mkdirSync(mnt)
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=512k', 'tmpfs', mnt])
  t.after(() => {
    if (m.status === 0) spawnSync('umount', ['-l', mnt])
    fs.rmSync(dir, { recursive: true, force: true })
  })
  if (m.status !== 0) return t.skip(`cannot mount a small tmpfs here (${m.stderr.toString().trim()})`)
  const node = path.join(mnt, 'n.pk')
  assert.equal((await run(['init', '--kdf', 'test'], { node })).code, 0)
  // Fill every byte: creating the (empty) lock file still works, writing its holder's name not.
  const filler = path.join(mnt, 'filler')
  spawnSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=4k'], { stdio: 'ignore' })
  const r = await run(['repo', 'create', 'r', '--lock-timeout', '1'], { node })
  assert.equal(r.code, 1, r.stderr)
  assert.ok(cleanStderr(r.stderr), r.stderr)
  assert.match(r.stderr, /^polykey: error: .*no space left on device/m)
  assert.equal(fs.existsSync(NodeLock.lockPath(node)), false, 'no lock file left behind')
  fs.rmSync(filler)
  const next = await run(['repo', 'create', 'r', '--lock-timeout', '1'], { node })
  assert.equal(next.code, 0, `the next writer is not blocked: ${next.stderr}`)
})

/** Rewrite the node's active slot area with one passphrase slot of these parameters (a crafted file). */
function craftSlot(node: string, master: Buffer, params: { opslimit: number; memlimit: number }, derive: boolean): void {
  const bytes = fs.readFileSync(node)
  const salt = randomBytes(16)
  // The KEK only matters if the parameters are cheap enough to derive here.
  const kek = derive ? deriveFromPassphrase(Buffer.from(PASS), salt, params) : randomBytes(32)
  const slot = wrapPassphraseSlot(bytes.subarray(0, HEADER_SIZE), kek, master, params, salt, randomBytes(24))
  wipe(kek)
  const area = encodeSlotArea({ generation: 99, slots: [slot] })
  area.copy(bytes, SLOT_AREAS_OFFSET)
  bytes.fill(0, SLOT_AREAS_OFFSET + SLOT_AREA_SIZE, SLOT_AREAS_OFFSET + 2 * SLOT_AREA_SIZE)
  fs.writeFileSync(node, bytes)
}

test('a slot asking for more Argon2id work than the sensitive profile needs (with headroom) is refused: exit 4', async (t) => {
  const sensitive = KDF_PROFILES.sensitive
  assert.ok(KDF_BOUNDS.opsMax >= sensitive.opslimit && KDF_BOUNDS.memMax >= sensitive.memlimit, 'sensitive itself still opens')
  assert.ok(KDF_BOUNDS.opsMax <= 4 * sensitive.opslimit && KDF_BOUNDS.memMax <= 4 * sensitive.memlimit, `bounds ${JSON.stringify(KDF_BOUNDS)}`)
  // Many passes over little memory: cheap to make here, and an older polykey opened it.
  const { node } = await newNode(t)
  const nf = NodeFile.open(node, { passphrase: Buffer.from(PASS) })
  const master = Buffer.from(nf.masterKey)
  nf.close()
  t.after(() => wipe(master))
  craftSlot(node, master, { opslimit: 40, memlimit: 8192 }, true)
  const r = await run(['info'], { node })
  assert.equal(r.code, 4, r.stderr)
  assert.ok(cleanStderr(r.stderr), r.stderr)
  assert.match(r.stderr, /^polykey: error: node key slot asks for Argon2id with 40 passes over 8 KiB, above what polykey accepts \(at most \d+ passes, \d+ GiB\)/m)
  // The ~4 GiB x 64 passes of the report: refused when decoded, never derived.
  craftSlot(node, master, { opslimit: 64, memlimit: 4 * 1024 ** 3 - 1 }, false)
  const huge = await run(['info'], { node })
  assert.equal(huge.code, 4, huge.stderr)
  assert.match(huge.stderr, /64 passes over 4096 MiB|64 passes over 4 GiB/)
  assert.throws(() => decodeSlotArea(fs.readFileSync(node).subarray(SLOT_AREAS_OFFSET, SLOT_AREAS_OFFSET + SLOT_AREA_SIZE)), /above what polykey accepts/)
})

test('kill -9 loses about a second: the code allows one, as docs/SECURITY.md says', async () => {
  assert.ok(COMMIT_MAX_DELAY_MS <= 1000 && COMMIT_DELAY_MS <= COMMIT_MAX_DELAY_MS, `commit delays ${COMMIT_DELAY_MS}/${COMMIT_MAX_DELAY_MS} ms`)
  const doc = fs.readFileSync(path.join(ROOT, 'docs', 'SECURITY.md'), 'utf8')
  assert.match(doc, /kill -9[^.]*about a second/)
})

test('kill -9 during continuous editing: edits older than about a second are in the node', { skip: NO_FUSE }, async (t) => {
  const s = await mountedNode(t, { seed: { r: { s: 'v0' } } })
  const pid = s.pid()
  // An editor that never pauses for the quiet window: one write every 100 ms for 2 s.
  await s.ok(`for i in $(seq 1 20); do printf "v$i" > repos/r/s; sleep 0.1; done`)
  process.kill(pid, 'SIGKILL')
  await waitExit(pid)
  if (mountLine(s.mnt)) await sh(`fusermount -u -z ${q(s.mnt)}`)
  await sleep(100)
  const log = await s.log('r')
  assert.ok(log.length >= 2, `some edit of the 2 s before the kill was saved (log: ${JSON.stringify(log)})`)
})
