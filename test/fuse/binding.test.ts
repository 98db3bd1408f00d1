/**
 * Real-mount tests of Polykey's patched fuse-native binding (native/fuse,
 * docs/FUSE.md): a tiny in-memory filesystem is mounted under /tmp and driven
 * with real tools (touch, stat, fallocate, cat, ls) run as child processes.
 *
 * Child processes are always run asynchronously: the FUSE requests they cause
 * are answered on this process's event loop, so a *Sync call would deadlock.
 * Every mount is torn down in finally blocks, with `fusermount -u -z` as a
 * fallback, and mounts use autoUnmount so even a killed test run leaves no
 * mount behind.
 */
import test from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import path from 'node:path'
import {
  DEFAULT_MOUNT_OPTIONS,
  KERNEL_CACHE_OPTIONS,
  OPEN_RELEASE_LATER,
  errno,
  fuseDeviceAvailable,
  isMounted,
  loadFuse,
  unmountFuse,
  type FuseContext,
  type FuseInstance,
  type FuseMountOptions,
  type FuseOperations,
  type FuseStat,
} from '../../src/fuse/binding.js'
import { mountMapFs } from '../../bench/mapfs.js'

const NO_FUSE = fuseDeviceAvailable() ? false : '/dev/fuse is missing or not accessible: FUSE mount tests SKIPPED'
if (NO_FUSE) console.warn(`WARNING: ${NO_FUSE}`)

const S_IFDIR = 0o040000
const S_IFREG = 0o100000
const IS_ROOT = process.getuid?.() === 0
const NOBODY = 65534

interface Call {
  op: string
  path: string
  ctx: FuseContext
  args: unknown[]
}
interface Node {
  data: Buffer
  mode: number
  atime: number
  mtime: number
  ctime: number
}

/** A tiny writable in-memory filesystem that records every call. */
function memFs(calls: Call[]): { ops: FuseOperations; files: Map<string, Node> } {
  const Fuse = loadFuse()
  const t0 = Date.UTC(2020, 0, 1)
  const files = new Map<string, Node>([['/a.txt', { data: Buffer.from('hello\n'), mode: S_IFREG | 0o644, atime: t0, mtime: t0, ctime: t0 }]])
  const stat = (n: Node): FuseStat => ({ mode: n.mode, size: n.data.length, nlink: 1, uid: 0, gid: 0, atime: n.atime, mtime: n.mtime, ctime: n.ctime })
  const rec = (op: string, p: string, ctx: FuseContext, ...args: unknown[]): void => {
    calls.push({ op, path: p, ctx, args })
  }
  const resize = (n: Node, size: number): void => {
    const data = Buffer.alloc(size)
    n.data.copy(data, 0, 0, Math.min(size, n.data.length))
    n.data = data
  }
  const ops: FuseOperations = {
    getattr(p, cb, ctx) {
      rec('getattr', p, ctx)
      if (p === '/') return cb(0, { mode: S_IFDIR | 0o755, size: 4096, nlink: 2, uid: 0, gid: 0, atime: t0, mtime: t0, ctime: t0 })
      const n = files.get(p)
      return n ? cb(0, stat(n)) : cb(Fuse.ENOENT)
    },
    readdir(p, cb, ctx) {
      rec('readdir', p, ctx)
      if (p !== '/') return cb(Fuse.ENOENT)
      return cb(
        0,
        [...files.keys()].map((k) => k.slice(1)),
      )
    },
    open(p, flags, cb, ctx) {
      rec('open', p, ctx, flags)
      return files.has(p) ? cb(0, 7) : cb(Fuse.ENOENT)
    },
    create(p, mode, cb, ctx) {
      rec('create', p, ctx, mode)
      const now = Date.now()
      files.set(p, { data: Buffer.alloc(0), mode, atime: now, mtime: now, ctime: now })
      return cb(0, 8)
    },
    read(p, fd, buf, len, pos, cb, ctx) {
      rec('read', p, ctx, fd, len, pos)
      const n = files.get(p)
      if (!n) return cb(Fuse.ENOENT)
      if (pos >= n.data.length) return cb(0)
      return cb(n.data.copy(buf, 0, pos, Math.min(n.data.length, pos + len)))
    },
    write(p, fd, buf, len, pos, cb, ctx) {
      rec('write', p, ctx, fd, len, pos)
      const n = files.get(p)
      if (!n) return cb(Fuse.ENOENT)
      if (pos + len > n.data.length) resize(n, pos + len)
      buf.copy(n.data, pos, 0, len)
      n.mtime = n.ctime = Date.now()
      return cb(len)
    },
    truncate(p, size, cb, ctx) {
      rec('truncate', p, ctx, size)
      const n = files.get(p)
      if (!n) return cb(Fuse.ENOENT)
      resize(n, size)
      return cb(0)
    },
    ftruncate(p, fd, size, cb, ctx) {
      rec('ftruncate', p, ctx, fd, size)
      const n = files.get(p)
      if (!n) return cb(Fuse.ENOENT)
      resize(n, size)
      return cb(0)
    },
    utimens(p, atime, mtime, cb, ctx) {
      rec('utimens', p, ctx, atime, mtime)
      const n = files.get(p)
      if (!n) return cb(Fuse.ENOENT)
      if (atime !== null) n.atime = atime
      if (mtime !== null) n.mtime = mtime
      n.ctime = Date.now()
      return cb(0)
    },
    fallocate(p, mode, offset, length, fd, cb, ctx) {
      rec('fallocate', p, ctx, mode, offset, length, fd)
      const n = files.get(p)
      if (!n) return cb(Fuse.ENOENT)
      if (mode & ~1) return cb(Fuse.EOPNOTSUPP) // only 0 and FALLOC_FL_KEEP_SIZE
      if (mode === 0 && offset + length > n.data.length) resize(n, offset + length)
      return cb(0)
    },
    release(p, fd, cb, ctx) {
      rec('release', p, ctx, fd)
      return cb(0)
    },
  }
  return { ops, files }
}

interface RunResult {
  code: number
  stdout: string
  stderr: string
  pid: number
}

/** Run a command asynchronously (never *Sync: see the header). */
function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { timeout: 20_000, env: { ...process.env, TZ: 'UTC', LC_ALL: 'C', ...opts.env } }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as NodeJS.ErrnoException).code === 'number' ? Number((err as NodeJS.ErrnoException).code) : 1) : 0
      resolve({ code, stdout, stderr, pid: child.pid ?? -1 })
    })
  })
}

async function ok(cmd: string, args: string[], opts?: { env?: NodeJS.ProcessEnv }): Promise<RunResult> {
  const r = await run(cmd, args, opts)
  assert.equal(r.code, 0, `${cmd} ${args.join(' ')} failed (${r.code}): ${r.stderr}`)
  return r
}

/** Every mountpoint this file created, checked again at the end. */
const created = new Set<string>()

function mountedInProcMounts(mnt: string): boolean {
  return readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[1] === mnt)
}

/**
 * Mount `ops` at a fresh directory under /tmp, run fn, and always unmount:
 * fuse.unmount(), then `fusermount -u -z` if it is still there. Asserts that
 * /proc/mounts no longer lists the mountpoint.
 */
async function withMount(ops: FuseOperations, opts: FuseMountOptions, fn: (mnt: string, fuse: FuseInstance) => Promise<void>): Promise<void> {
  const Fuse = loadFuse()
  const mnt = mkdtempSync('/tmp/polykey-fuse-test-')
  created.add(mnt)
  chmodSync(mnt, 0o755) // so that a non-root user can reach it (allowOther tests)
  let fuse: FuseInstance | undefined
  try {
    fuse = new Fuse(mnt, ops, opts)
    const f = fuse
    await new Promise<void>((resolve, reject) => f.mount((err) => (err ? reject(err) : resolve())))
    assert.ok(mountedInProcMounts(mnt), 'mountpoint should appear in /proc/mounts')
    await fn(mnt, fuse)
  } finally {
    try {
      if (fuse) await unmountFuse(fuse)
    } finally {
      if (mountedInProcMounts(mnt)) await run('fusermount', ['-u', '-z', mnt])
      const leftover = mountedInProcMounts(mnt)
      if (!leftover) rmSync(mnt, { recursive: true, force: true })
      assert.equal(leftover, false, `leftover mount at ${mnt}`)
    }
  }
}

// Nothing cached by time: these tests count the calls that reach the ops.
const TEST_OPTS: FuseMountOptions = { ...DEFAULT_MOUNT_OPTIONS, attrTimeout: 0, entryTimeout: 0, kernelCache: false, fsname: 'polykey-test', timeout: 10_000 }

test('patched FUSE binding', { skip: NO_FUSE, timeout: 120_000 }, async (t) => {
  await t.test('loads our own build, not the npm prebuild', () => {
    const Fuse = loadFuse()
    assert.match(Fuse.bindingPath, /native\/build\/Release\/fuse_native\.node$/)
    assert.ok(existsSync(Fuse.bindingPath))
    assert.equal(Fuse.ENOENT, -2)
    assert.equal(errno('ENOENT'), Fuse.ENOENT)
    assert.equal(errno('ENOTEMPTY'), Fuse.ENOTEMPTY)
    assert.equal(errno('NOT_AN_ERRNO'), Fuse.EIO)
    assert.equal(typeof Fuse.unmount, 'function')
  })

  await t.test('numeric options equal to 0 reach the libfuse option string', () => {
    const Fuse = loadFuse()
    const fuse = new Fuse('/tmp/never-mounted', {}, { attrTimeout: 0, entryTimeout: 0, negativeTimeout: 0, umask: 0o022, uid: 0 })
    const str = (fuse as unknown as { _fuseOptions(): string })._fuseOptions()
    for (const o of ['attr_timeout=0', 'entry_timeout=0', 'negative_timeout=0', 'umask=0022', 'uid=0']) {
      assert.ok(str.split(/[,]|^-o/).includes(o), `${o} missing from ${str}`)
    }
    assert.doesNotMatch(str, /kernel_cache|auto_cache|direct_io/)
    // what every Polykey mount asks for
    const ours = (new Fuse('/tmp/never-mounted', {}, KERNEL_CACHE_OPTIONS) as unknown as { _fuseOptions(): string })._fuseOptions()
    for (const o of ['attr_timeout=1', 'entry_timeout=1', 'negative_timeout=0', 'kernel_cache']) assert.ok(ours.split(/[,]|^-o/).includes(o), `${o} missing from ${ours}`)
    assert.throws(() => new Fuse('/tmp/x', {}, { fsname: 'a,allow_other' }), TypeError)
  })

  await t.test('utimens: touch -d sets mtime (not atime) and -a/-m leave the other time alone', async () => {
    const calls: Call[] = []
    const { ops, files } = memFs(calls)
    await withMount(ops, TEST_OPTS, async (mnt) => {
      const file = path.join(mnt, 'a.txt')
      const t2001 = Date.UTC(2001, 1, 3, 4, 5, 6) / 1000 // 2001-02-03 04:05:06 UTC
      const t1999 = Date.UTC(1999, 0, 2, 3, 4, 5) / 1000
      const t2002 = Date.UTC(2002, 5, 6, 7, 8, 9) / 1000

      await ok('touch', ['-d', '2001-02-03 04:05:06', file])
      let st = (await ok('stat', ['-c', '%X %Y', file])).stdout.trim().split(' ').map(Number)
      assert.equal(st[1], t2001, 'mtime after touch -d')
      const u1 = calls.filter((c) => c.op === 'utimens')
      assert.equal(u1.length, 1)
      assert.deepEqual(u1[0].args, [t2001 * 1000, t2001 * 1000])

      // atime only: mtime must survive (op gets mtime = null, i.e. UTIME_OMIT)
      await ok('touch', ['-a', '-d', '1999-01-02 03:04:05', file])
      st = (await ok('stat', ['-c', '%X %Y', file])).stdout.trim().split(' ').map(Number)
      assert.deepEqual(st, [t1999, t2001], 'atime changed, mtime kept')
      assert.deepEqual(calls.filter((c) => c.op === 'utimens')[1].args, [t1999 * 1000, null])

      // mtime only, now with an atime that differs from it
      await ok('touch', ['-m', '-d', '2002-06-06 07:08:09', file])
      st = (await ok('stat', ['-c', '%X %Y', file])).stdout.trim().split(' ').map(Number)
      assert.deepEqual(st, [t1999, t2002], 'mtime changed, atime kept')
      assert.deepEqual(calls.filter((c) => c.op === 'utimens')[2].args, [null, t2002 * 1000])
      assert.equal(files.get('/a.txt')?.mtime, t2002 * 1000)

      // plain touch: UTIME_NOW arrives as the current time
      const before = Date.now()
      await ok('touch', [file])
      const now = calls.filter((c) => c.op === 'utimens')[3].args as number[]
      assert.ok(now[1] >= before - 2000 && now[1] <= Date.now() + 2000, `touch now gave ${now[1]}`)
    })
  })

  await t.test('ops receive the calling process (uid/gid/pid)', async () => {
    const calls: Call[] = []
    const { ops } = memFs(calls)
    await withMount(ops, { ...TEST_OPTS, allowOther: true }, async (mnt) => {
      const file = path.join(mnt, 'a.txt')
      const r = await ok('stat', ['-c', '%s', file])
      const mine = calls.filter((c) => c.ctx.pid === r.pid)
      assert.ok(mine.length > 0, `no op saw the stat process (pid ${r.pid}): ${JSON.stringify(calls.map((c) => c.ctx))}`)
      for (const c of mine) {
        assert.equal(c.ctx.uid, process.getuid?.(), 'uid of the caller')
        assert.equal(c.ctx.gid, process.getgid?.(), 'gid of the caller')
      }
      if (IS_ROOT) assert.equal(mine[0].ctx.uid, 0, 'run as root: uid 0 seen')

      const cat = await ok('cat', [file])
      assert.equal(cat.stdout, 'hello\n')
      const opened = calls.find((c) => c.op === 'open' && c.ctx.pid === cat.pid)
      assert.ok(opened, 'open carries the caller pid')
      // release is not attributed to a process by the kernel: all zeros. It is also sent
      // asynchronously: cat may have exited before it arrives.
      for (let i = 0; i < 100 && !calls.some((c) => c.op === 'release'); i++) await new Promise((r) => setTimeout(r, 20))
      const released = calls.filter((c) => c.op === 'release')
      assert.ok(released.length > 0)
      const { uid, gid, pid, umask, req, hide } = released.at(-1)!.ctx
      assert.deepEqual({ uid, gid, pid, umask, hide }, { uid: 0, gid: 0, pid: 0, umask: 0, hide: 0 })
      assert.equal(typeof req, 'number') // the kernel request, as for every op
      assert.notEqual(req, opened.ctx.req)

      if (IS_ROOT && existsSync('/usr/bin/setpriv')) {
        // A non-root caller proves the uid is really the caller's, not a default 0.
        const before = calls.length
        await ok('setpriv', ['--reuid', String(NOBODY), '--regid', String(NOBODY), '--clear-groups', 'stat', '-c', '%s', file])
        const theirs = calls.slice(before).filter((c) => c.op === 'getattr' && c.path === '/a.txt')
        assert.ok(theirs.length > 0)
        assert.ok(
          theirs.every((c) => c.ctx.uid === NOBODY && c.ctx.gid === NOBODY),
          JSON.stringify(theirs.map((c) => c.ctx)),
        )
      } else {
        t.diagnostic('not root or no setpriv: non-root caller check skipped')
      }
    })
  })

  await t.test('fallocate reaches the op', async () => {
    const calls: Call[] = []
    const { ops, files } = memFs(calls)
    await withMount(ops, TEST_OPTS, async (mnt) => {
      const file = path.join(mnt, 'a.txt')
      await ok('fallocate', ['-l', '4096', file])
      const f = calls.filter((c) => c.op === 'fallocate')
      assert.equal(f.length, 1)
      assert.equal(f[0].path, '/a.txt')
      assert.deepEqual(f[0].args.slice(0, 3), [0, 0, 4096]) // mode, offset, length
      assert.equal(f[0].args[3], 7, 'fd from open')
      assert.equal(f[0].ctx.uid, process.getuid?.())
      assert.equal(files.get('/a.txt')?.data.length, 4096)
      assert.equal((await ok('stat', ['-c', '%s', file])).stdout.trim(), '4096')

      // FALLOC_FL_KEEP_SIZE (-n) beyond EOF, offset > 4 GiB to check 64-bit offsets
      await ok('fallocate', ['-n', '-o', String(2 ** 32 + 8192), '-l', '100', file])
      assert.deepEqual(calls.filter((c) => c.op === 'fallocate')[1].args.slice(0, 3), [1, 2 ** 32 + 8192, 100])
      assert.equal((await ok('stat', ['-c', '%s', file])).stdout.trim(), '4096')

      // unsupported mode -> the op's errno comes back to the tool
      const punch = await run('fallocate', ['-p', '-o', '0', '-l', '10', file])
      assert.notEqual(punch.code, 0)
      assert.match(punch.stderr, /not supported|unsupported/i)
    })
  })

  await t.test('attr_timeout=0 / entry_timeout=0 reach libfuse: every stat asks us', async () => {
    const count = async (opts: FuseMountOptions): Promise<number> => {
      const calls: Call[] = []
      const { ops } = memFs(calls)
      let n = -1
      await withMount(ops, opts, async (mnt) => {
        const file = path.join(mnt, 'a.txt')
        await ok('stat', [file]) // warm up
        const before = calls.length
        await ok('stat', ['-c', '%s', file, file, file]) // three stat() calls, one process
        n = calls.slice(before).filter((c) => c.op === 'getattr' && c.path === '/a.txt').length
      })
      return n
    }
    const uncached = await count(TEST_OPTS)
    const cached = await count({ ...TEST_OPTS, attrTimeout: 60, entryTimeout: 60 })
    t.diagnostic(`getattr calls for 3 stats: timeouts 0 -> ${uncached}, timeouts 60 -> ${cached}`)
    assert.ok(uncached >= 3, `expected >= 3 getattr calls with attr_timeout=0, got ${uncached}`)
    assert.equal(cached, 0, 'control: with 60 s timeouts the kernel answers from its cache')
  })

  await t.test('invalidate / invalidateEntry: the kernel caches, then forgets what it is told to', async () => {
    const calls: Call[] = []
    const { ops, files } = memFs(calls)
    await withMount(ops, { ...DEFAULT_MOUNT_OPTIONS, fsname: 'polykey-test', timeout: 10_000 }, async (mnt, fuse) => {
      const file = path.join(mnt, 'a.txt')
      const inval = (fn: 'invalidate' | 'invalidateEntry', p: string) =>
        new Promise<string | null>((resolve) => fuse[fn](p, (err) => resolve(err ? (err.code ?? err.message) : null)))
      assert.equal((await ok('cat', [file])).stdout, 'hello\n')
      // same size, changed behind the kernel's back: the cached pages and attributes are served
      files.get('/a.txt')!.data = Buffer.from('HELLO\n')
      const reads = calls.filter((c) => c.op === 'read').length
      assert.equal((await ok('cat', [file])).stdout, 'hello\n', 'kernel_cache: the second cat is served from the page cache')
      assert.equal(calls.filter((c) => c.op === 'read').length, reads, 'no read reached us')
      assert.equal(await inval('invalidate', '/a.txt'), null)
      assert.equal((await ok('cat', [file])).stdout, 'HELLO\n', 'after invalidate the new content is read')
      // a longer value: the cached size would cut it short until the attributes are dropped
      files.get('/a.txt')!.data = Buffer.from('a longer value\n')
      assert.equal(await inval('invalidate', '/a.txt'), null)
      assert.equal((await ok('cat', [file])).stdout, 'a longer value\n')
      assert.equal((await ok('stat', ['-c', '%s', file])).stdout.trim(), '15')
      // a name removed behind the kernel's back stays visible (entry timeout) until dropped
      files.set('/b.bin', { ...files.get('/a.txt')! })
      await ok('stat', [path.join(mnt, 'b.bin')])
      const b = files.get('/b.bin')!
      files.delete('/b.bin')
      assert.equal((await run('stat', [path.join(mnt, 'b.bin')])).code, 0, 'the cached name still resolves')
      assert.equal(await inval('invalidateEntry', '/b.bin'), null)
      assert.notEqual((await run('stat', [path.join(mnt, 'b.bin')])).code, 0, 'gone once dropped')
      files.set('/b.bin', b)
      // nothing cached by that name, or no such name: ENOENT, not a failure
      assert.equal(await inval('invalidateEntry', '/never-seen'), 'ENOENT')
      assert.equal(await inval('invalidate', '/no/such/file'), 'ENOENT')
    })
  })

  await t.test('writes, truncation and new files work through the mount', async () => {
    const calls: Call[] = []
    const { ops, files } = memFs(calls)
    await withMount(ops, TEST_OPTS, async (mnt) => {
      const file = path.join(mnt, 'new.txt')
      await ok('sh', ['-c', 'printf "secret value" > "$1"', 'sh', file])
      assert.equal(files.get('/new.txt')?.data.toString(), 'secret value')
      assert.equal((await ok('cat', [file])).stdout, 'secret value')
      await ok('truncate', ['-s', '6', file])
      assert.equal((await ok('cat', [file])).stdout, 'secret')
      assert.deepEqual((await ok('ls', [mnt])).stdout.trim().split('\n').sort(), ['a.txt', 'new.txt'])
    })
  })

  await t.test('mapfs baseline serves a Map through the same binding', async () => {
    const mnt = mkdtempSync('/tmp/polykey-mapfs-test-')
    created.add(mnt)
    const files = new Map<string, Buffer>([
      ['top.txt', Buffer.from('top\n')],
      ['dir/inner.bin', Buffer.alloc(300_000, 7)],
    ])
    let fs: { unmount(): Promise<void> } | undefined
    try {
      fs = await mountMapFs(mnt, files, { fsname: 'mapfs-test' })
      assert.equal((await ok('cat', [path.join(mnt, 'top.txt')])).stdout, 'top\n')
      assert.deepEqual((await ok('ls', [mnt])).stdout.trim().split('\n'), ['dir', 'top.txt'])
      assert.equal((await ok('stat', ['-c', '%s', path.join(mnt, 'dir/inner.bin')])).stdout.trim(), '300000')
      const md5 = (await ok('md5sum', [path.join(mnt, 'dir/inner.bin')])).stdout.split(' ')[0]
      const { createHash } = await import('node:crypto')
      assert.equal(
        md5,
        createHash('md5')
          .update(files.get('dir/inner.bin') as Buffer)
          .digest('hex'),
      )
      const denied = await run('sh', ['-c', 'echo x > "$1"', 'sh', path.join(mnt, 'top.txt')])
      assert.notEqual(denied.code, 0, 'mapfs is read-only')
    } finally {
      try {
        await fs?.unmount()
      } finally {
        if (mountedInProcMounts(mnt)) await run('fusermount', ['-u', '-z', mnt])
        const leftover = mountedInProcMounts(mnt)
        if (!leftover) rmSync(mnt, { recursive: true, force: true })
        assert.equal(leftover, false, `leftover mount at ${mnt}`)
      }
    }
  })

  // fastAnswers (fuse-native.c "Answered in the binding"): nothing cached by time here either, so
  // every getattr the kernel asks for that does not reach the op was answered by the binding.
  await t.test('fastAnswers: a getattr answered before is answered by the binding until something changes', async () => {
    const Fuse = loadFuse()
    const calls: Call[] = []
    const { ops, files } = memFs(calls)
    const getattrs = () => calls.filter((c) => c.op === 'getattr' && c.path === '/a.txt').length
    await withMount(ops, { ...TEST_OPTS, fastAnswers: true }, async (mnt, fuse) => {
      const f = path.join(mnt, 'a.txt')
      const before = Fuse.stats().attrsAnswered
      assert.equal((await ok('stat', ['-c', '%s', f])).stdout, '6\n')
      const asked = getattrs()
      assert.ok(asked >= 1)
      for (let i = 0; i < 3; i++) assert.equal((await ok('stat', ['-c', '%s', f])).stdout, '6\n')
      assert.equal(getattrs(), asked, 'the same answer again: the binding gave it')
      assert.ok(Fuse.stats().attrsAnswered >= before + 3)
      // changed behind the binding's back, and said so: asked again, the new answer
      files.get('/a.txt')!.data = Buffer.from('hello world\n')
      fuse.attrsChanged()
      assert.equal((await ok('stat', ['-c', '%s', f])).stdout, '12\n')
      assert.ok(getattrs() > asked)
      // a request that changes things is itself a change: no attrsChanged needed
      const n = getattrs()
      await ok('sh', ['-c', `printf abc >> ${f}`])
      assert.equal((await ok('stat', ['-c', '%s', f])).stdout, '15\n')
      assert.ok(getattrs() > n)
      // a failed getattr is never kept: the name appears at once
      assert.notEqual((await run('stat', [path.join(mnt, 'b.txt')])).code, 0)
      files.set('/b.txt', { ...files.get('/a.txt')!, data: Buffer.from('b') })
      assert.equal((await ok('stat', ['-c', '%s', path.join(mnt, 'b.txt')])).stdout, '1\n')
    })
    // without the option every getattr reaches the op
    calls.length = 0
    await withMount(memFs(calls).ops, TEST_OPTS, async (mnt) => {
      for (let i = 0; i < 3; i++) await ok('stat', [path.join(mnt, 'a.txt')])
      assert.ok(getattrs() >= 3, `${getattrs()}`)
    })
  })

  await t.test('fastAnswers: a release the open asked to defer reaches the op later, without its path, and before any change', async () => {
    const Fuse = loadFuse()
    const calls: Call[] = []
    const { ops } = memFs(calls)
    const deferring: FuseOperations = {
      ...ops,
      open(p, flags, cb, ctx) {
        calls.push({ op: 'open', path: p, ctx, args: [flags] })
        return cb(0, 7, (flags & 3) === 0 ? OPEN_RELEASE_LATER : 0)
      },
    }
    const releases = () => calls.filter((c) => c.op === 'release')
    await withMount(deferring, { ...TEST_OPTS, fastAnswers: true }, async (mnt, fuse) => {
      const f = path.join(mnt, 'a.txt')
      const wakeup = fuse as unknown as { _onReleased(): void }
      const take = wakeup._onReleased.bind(fuse)
      const before = Fuse.stats().releasesDeferred
      assert.equal((await ok('cat', [f])).stdout, 'hello\n')
      const start = Date.now()
      while (releases().length < 1 && Date.now() - start < 5000) await new Promise((r) => setTimeout(r, 10))
      assert.deepEqual(
        releases().map((c) => [c.path, c.args[0]]),
        [['', 7]],
        'handed over by the binding: the fd, no path',
      )
      assert.equal(Fuse.stats().releasesDeferred, before + 1)
      // a write open's release is the op's own, with its path, as always
      await ok('sh', ['-c', `printf x >> ${f}`])
      const start2 = Date.now()
      while (releases().length < 2 && Date.now() - start2 < 5000) await new Promise((r) => setTimeout(r, 10))
      assert.equal(releases()[1]?.path, '/a.txt')
      // many reads in a row, then a change: every deferred release was made before the change,
      // even with the binding's wakeup held back (the change's request takes them first)
      wakeup._onReleased = () => {}
      await ok('sh', ['-c', `for i in 1 2 3 4 5 6 7 8; do cat ${f} >/dev/null; done; truncate -s 2 ${f}`])
      wakeup._onReleased = take
      const truncateAt = calls.findIndex((c) => c.op === 'truncate' || c.op === 'ftruncate')
      assert.ok(truncateAt > 0)
      assert.equal(calls.slice(0, truncateAt).filter((c) => c.op === 'release').length, 10, 'the 8 reads released before the truncate ran')
    })
    const opens = calls.filter((c) => c.op === 'open').length
    assert.equal(releases().length, opens, 'every open released by the end of the mount')
  })

  await t.test('an invalid libfuse option fails the mount without leaking a kernel mount', async () => {
    const Fuse = loadFuse()
    const mnt = mkdtempSync('/tmp/polykey-fuse-test-')
    created.add(mnt)
    try {
      const fuse = new Fuse(mnt, {}, { ...TEST_OPTS, extraOptions: ['no_such_libfuse_option'] })
      const err = await new Promise<Error | null>((resolve) => fuse.mount(resolve))
      assert.ok(err, 'mount should fail')
      assert.equal((err as Error & { code?: string }).code, 'FUSE_NEW_FAILED')
      assert.equal(mountedInProcMounts(mnt), false, 'upstream left the kernel mount behind here')
    } finally {
      if (mountedInProcMounts(mnt)) await run('fusermount', ['-u', '-z', mnt])
      if (!mountedInProcMounts(mnt)) rmSync(mnt, { recursive: true, force: true })
    }
  })

  await t.test('no leftover mounts', () => {
    assert.ok(created.size >= 4)
    for (const mnt of created) {
      assert.equal(mountedInProcMounts(mnt), false, `leftover mount at ${mnt}`)
      assert.equal(isMounted(mnt), false)
    }
    assert.equal(isMounted('/proc'), true, 'isMounted sanity check')
  })
})
