// Attacks on the guarded mount and the read audit, replayed (docs/SECURITY.md "Guarded mount"):
// loader injection into an allowed program, swapping the allowed binary, debugging the mount
// process to take what it holds, and editing or removing audit records.
import test from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { spawnSync } from 'node:child_process'
import { NO_FUSE, mountedNode, mountLine, q, type Session } from '../fuse/mount-helpers.js'
import { PASS, collect, run } from '../helpers.js'
import { OpenNode } from '../../src/vault/node.js'
import { AUDIT_DIR } from '../../src/vault/audit.js'

const CAT = fs.realpathSync('/usr/bin/cat')
const LIBC = ['/lib/x86_64-linux-gnu/libc.so.6', '/usr/lib/x86_64-linux-gnu/libc.so.6', '/lib/aarch64-linux-gnu/libc.so.6', '/usr/lib/libc.so.6'].find((p) => fs.existsSync(p))
const has = (p: string) => spawnSync('sh', ['-c', `command -v ${p}`]).status === 0

async function guarded(t: { after(fn: () => unknown): void }, wrap: string[] = []): Promise<Session> {
  const s = await mountedNode(t, { mount: false, seed: { app: { token: 'tok-1\n' } } })
  const env = { ...process.env, POLYKEY_PASSPHRASE: PASS, POLYKEY_NODE: s.node }
  const bin = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../../bin/polykey')
  const [file, ...pre] = wrap.length ? wrap : [process.execPath]
  const args = wrap.length ? [...pre, process.execPath, bin] : [bin]
  const r = await collect(file, [...args, 'mount', s.mnt, '--guard'], { env, cwd: s.dir, timeoutMs: 30_000 })
  assert.equal(r.code, 0, r.stderr)
  assert.ok(mountLine(s.mnt))
  return s
}

test(
  'an allowed program started with LD_PRELOAD is refused (the preloaded code would run inside it)',
  { skip: NO_FUSE || !LIBC ? 'needs FUSE and a libc to preload' : false },
  async (t) => {
    const s = await guarded(t)
    await s.pkOk(['access', 'allow', CAT])
    assert.equal(await s.ok('cat repos/app/token'), 'tok-1\n')
    for (const v of ['LD_PRELOAD', 'LD_AUDIT', 'LD_LIBRARY_PATH']) {
      const r = await s.sh(`${v}=${q(v === 'LD_LIBRARY_PATH' ? path.dirname(LIBC!) : LIBC!)} cat repos/app/token`)
      assert.notEqual(r.code, 0, v)
      assert.match(r.err, /Permission denied/, v)
    }
    const pending = JSON.parse(await s.pkOk(['access', 'pending', '--json'])) as { program: string; reason: string; allow: string }[]
    const p = pending.find((x) => x.program === CAT)
    assert.ok(p && p.reason.startsWith('loader '), JSON.stringify(pending))
    assert.match(p.allow, /without LD_PRELOAD/)
  },
)

test('replacing an allowed binary (new file, or new bytes in the same file) revokes its rule', { skip: NO_FUSE }, async (t) => {
  const s = await guarded(t)
  const tool = path.join(s.dir, 'tool')
  fs.copyFileSync(CAT, tool)
  fs.chmodSync(tool, 0o755)
  await s.pkOk(['access', 'allow', tool])
  assert.equal(await s.ok(`${q(tool)} repos/app/token`), 'tok-1\n')
  // A new file renamed over it (how package managers and attackers replace binaries).
  fs.copyFileSync(fs.realpathSync('/usr/bin/head'), tool + '.new')
  fs.chmodSync(tool + '.new', 0o755)
  fs.renameSync(tool + '.new', tool)
  assert.notEqual((await s.sh(`${q(tool)} repos/app/token`)).code, 0)
  // Allowed again, then rewritten in place: same inode, other bytes.
  await s.pkOk(['access', 'allow', tool])
  assert.equal(await s.ok(`${q(tool)} -n1 repos/app/token`), 'tok-1\n')
  fs.writeFileSync(tool, fs.readFileSync(CAT))
  assert.notEqual((await s.sh(`${q(tool)} repos/app/token`)).code, 0)
})

test(
  'another process of the same user can neither read the mount process memory nor ptrace it',
  { skip: NO_FUSE || !has('setpriv') || !has('strace') ? 'needs FUSE, setpriv and strace' : false },
  async (t) => {
    // As root, CAP_SYS_PTRACE would let anything in: both sides run with the same reduced
    // capabilities (just what mounting needs), as two processes of one ordinary user would.
    const caps = process.getuid?.() === 0 ? ['setpriv', '--bounding-set=-all,+sys_admin', '--inh-caps=-all'] : []
    const s = await guarded(t, caps)
    const pid = s.pid()
    const attack = (target: number): Promise<{ code: number; stdout: string }> =>
      collect(
        caps[0] ?? 'sh',
        [
          ...caps.slice(1),
          ...(caps.length ? ['sh'] : []),
          '-c',
          `head -c 16 /proc/${target}/mem >/dev/null 2>&1 && echo mem-read; strace -p ${target} -o /dev/null >/dev/null 2>&1 & sleep 0.5; kill $! 2>/dev/null && echo attached`,
        ],
        { env: process.env, cwd: '/', timeoutMs: 10_000 },
      ).then((x) => ({ code: x.code, stdout: x.stdout.toString() }))
    // The control: a dumpable process of the same user and capabilities is open to both.
    const control = spawnSync('sh', ['-c', `${caps.join(' ')} sleep 5 >/dev/null 2>&1 & echo $!`], { encoding: 'utf8' })
    const cpid = Number(control.stdout.trim())
    try {
      const c = await attack(cpid)
      assert.match(c.stdout, /attached/, 'control: strace can attach to an ordinary process')
    } finally {
      try {
        process.kill(cpid, 'SIGKILL')
      } catch {}
    }
    const r = await attack(pid)
    assert.doesNotMatch(r.stdout, /mem-read|attached/)
    assert.equal(s.mounted(), true)
  },
)

async function editAudit(node: string, fn: (chunk: string[]) => string[]): Promise<void> {
  const n = await OpenNode.open(node, { passphrase: Buffer.from(PASS) }, { write: true })
  try {
    const name = n.store
      .list(AUDIT_DIR)
      .filter((x) => x.startsWith('log-'))
      .pop()!
    const p = `${AUDIT_DIR}/${name}`
    const lines = n.store.readFile(p)!.toString().split('\n').filter(Boolean)
    n.store.writeFile(p, Buffer.from(fn(lines).join('\n') + '\n'))
    n.save()
  } finally {
    n.close()
  }
}

test('an edited, removed or cut-off audit record is detected: audit exits 4 naming where the chain breaks', { skip: NO_FUSE }, async (t) => {
  const s = await mountedNode(t, { seed: { app: { token: 'tok-1\n', other: 'o\n' } } })
  await s.ok('cat repos/app/token; cat repos/app/other; cat repos/app/token; cat repos/app/other')
  await s.unmount()
  const clean = await run(['audit', '--json'], { node: s.node })
  assert.equal(clean.code, 0, clean.stderr)
  assert.equal((JSON.parse(clean.out) as { records: unknown[] }).records.length, 4)

  // Edit: record 2 now claims another program read another secret.
  await editAudit(s.node, (l) => l.map((x, i) => (i === 1 ? x.replace('"app/other"', '"app/token"') : x)))
  let r = await run(['audit'], { node: s.node })
  assert.equal(r.code, 4)
  assert.match(r.stderr, /^polykey: error: the audit log is broken at record 2: it was edited/m)
  // Put it back, then remove record 3.
  await editAudit(s.node, (l) => l.map((x, i) => (i === 1 ? x.replace('"app/token"', '"app/other"') : x)))
  assert.equal((await run(['audit'], { node: s.node })).code, 0)
  await editAudit(s.node, (l) => l.filter((_, i) => i !== 2))
  r = await run(['audit', '--json'], { node: s.node })
  assert.equal(r.code, 4)
  const j = JSON.parse(r.out) as { chain: { ok: boolean; brokenAt: number } }
  assert.deepEqual([j.chain.ok, j.chain.brokenAt], [false, 3])
  // Cut the last two records off the end.
  await editAudit(s.node, (l) => l.slice(0, 1))
  r = await run(['audit'], { node: s.node })
  assert.equal(r.code, 4)
  assert.match(r.stderr, /cut off the end/)
})
