// libfuse's hidden names (src/fuse/ops/hidden.ts), driven the way libfuse drives them, with the
// JavaScript thread stalled between the two halves of a rename over an open file.
//
// A save that renames a new file over an open secret reaches us as two renames of one kernel
// request: libfuse first renames the open secret to .fuse_hiddenNNNN, then the new file over the
// freed name. On a loaded machine anything can come between the two: other requests, timers, a
// stalled event loop. The mount used to tell a save from a removal by the time between them
// (100 ms), and under load a save was taken for a removal: the tag was left holding a new, separate
// file (seen in a full test run as different inodes for repos/R/S and tags/T/S). The binding now
// says which request libfuse is serving (ctx.req) and why it hides (ctx.hide), so these
// tests stall for longer than any such heuristic could wait and check nothing depends on time.
//
// The mount itself cannot be stalled at that exact point from outside; the real-mount races are in
// persistence.test.ts and semantics.test.ts. Here the operations run on a real MemStore with the
// calls libfuse makes (fuse.c: hide_node, fuse_lib_rename, fuse_lib_unlink, fuse_do_release).
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import os from 'node:os'
import { MemStore } from '../../src/vault/mem-store.js'
import { makeOperations, type MountHost } from '../../src/fuse/ops.js'
import { HIDE_FOR_RENAME, HIDE_FOR_UNLINK, type FuseContext, type FuseOperations } from '../../src/fuse/binding.js'

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))
/** the JavaScript thread does nothing else for ms (a loaded machine, a long garbage collection) */
const stall = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)

function mounted() {
  const s = new MemStore()
  for (const d of ['repos', 'repos/aws', 'tags', 'tags/prod']) s.mkdir(d)
  s.writeFile('repos/aws/c', Buffer.from('old'))
  s.link('tags/prod/c', 'repos/aws/c')
  const changed: string[] = []
  const host: MountHost = {
    store: s,
    changed: (repo) => changed.push(repo),
    touched: () => {},
    syncNow: () => {},
    createRepo: (name) => s.mkdir(`repos/${name}`),
    deleteRepo: (name) => s.remove(`repos/${name}`),
    log: (m) => assert.fail(`logged: ${m}`),
  }
  const ops = makeOperations(host, (code) => -(os.constants.errno as Record<string, number>)[code])
  let req = 100
  const ctx = (extra: Partial<FuseContext> = {}): FuseContext => ({ uid: 1000, gid: 1000, pid: 4242, umask: 0o022, req: ++req, hide: 0, ...extra })
  /** one operation, answered: [err, ...results] */
  const call = <K extends keyof FuseOperations>(name: K, ...args: unknown[]): unknown[] => {
    let out: unknown[] | null = null
    ;(ops[name] as (...a: unknown[]) => void)(...args.slice(0, -1), (...r: unknown[]) => (out = r), args[args.length - 1])
    assert.ok(out, `${name} answered synchronously`)
    return out
  }
  const ino = (p: string) => s.ino(p)
  const read = (fd: number) => {
    const b = Buffer.alloc(64)
    return b.subarray(0, s.vol.readSync(fd, b, 0, 64, 0) as number).toString()
  }
  return { s, ops, ctx, call, ino, read, changed, nextReq: () => ++req }
}

/** What libfuse does for `mv DIR/.c.tmp DIR/c` while DIR/c is open: hide, then rename, as one request. */
async function saveByRenameOverOpen(m: ReturnType<typeof mounted>, dir: string, between: () => Promise<void> | void) {
  const req = m.nextReq()
  m.s.writeFile(`${dir}/.c.tmp`, Buffer.from('new'))
  const hidden = `/${dir}/.fuse_hidden0000000700000001`
  assert.deepEqual(m.call('getattr', hidden, m.ctx({ req })), [-os.constants.errno.ENOENT]) // hidden_name() checks it is free
  assert.deepEqual(m.call('rename', `/${dir}/c`, hidden, m.ctx({ req, hide: HIDE_FOR_RENAME })), [0])
  await between()
  assert.deepEqual(m.call('rename', `/${dir}/.c.tmp`, `/${dir}/c`, m.ctx({ req })), [0])
  return hidden
}

describe('libfuse hidden names: a save by rename over an open secret never depends on timing', () => {
  for (const dir of ['repos/aws', 'tags/prod'])
    it(`through ${dir}: the secret keeps its inode and tag however long libfuse's two renames are apart`, async () => {
      const m = mounted()
      const before = m.ino('repos/aws/c')
      const [, fd] = m.call('open', `/${dir}/c`, 0, m.ctx()) as [number, number]
      const hidden = await saveByRenameOverOpen(m, dir, async () => {
        // meanwhile: other callers' requests, timers, and a stalled event loop
        assert.equal((m.call('getattr', '/repos/aws/c', m.ctx()) as [number, { size: number }])[1].size, 3, 'the name stays resolvable')
        assert.ok((m.call('readdir', '/tags/prod', m.ctx())[1] as string[]).includes('c'), 'the tag still lists it')
        await sleep(250)
        stall(250)
        m.call('getattr', '/tags/prod/c', m.ctx())
      })
      assert.equal(m.ino('repos/aws/c'), before, 'the secret keeps its inode')
      assert.equal(m.ino('tags/prod/c'), before, 'the tag still names the secret')
      assert.equal(m.s.readFile('repos/aws/c')!.toString(), 'new')
      assert.equal(m.s.readFile('tags/prod/c')!.toString(), 'new')
      assert.equal(Number(m.s.vol.statSync('/repos/aws/c').nlink), 2)
      // the open descriptor keeps the old content, under the hidden name libfuse knows it by
      assert.equal(m.read(fd), 'old')
      assert.equal(m.s.readFile(hidden.slice(1))!.toString(), 'old')
      assert.deepEqual(m.s.list('repos/aws'), dir === 'repos/aws' ? ['.fuse_hidden0000000700000001', 'c'] : ['c'])
      // the last close: libfuse releases, then unlinks the hidden name
      assert.deepEqual(m.call('release', '', fd, m.ctx({ pid: 0 })), [0])
      assert.deepEqual(m.call('unlink', hidden, m.ctx({ pid: 0 })), [0])
      assert.deepEqual(m.s.list(dir), ['c'])
      assert.equal(m.ino('tags/prod/c'), before)
    })

  it('hundreds of saves, each with other requests and a stall between the halves, never detach the tag', async () => {
    const m = mounted()
    const before = m.ino('repos/aws/c')
    for (let i = 0; i < 200; i++) {
      const dir = i % 2 ? 'repos/aws' : 'tags/prod'
      const [, fd] = m.call('open', `/${dir}/c`, 0, m.ctx()) as [number, number]
      const hidden = await saveByRenameOverOpen(m, dir, () => {
        if (i % 10 === 0) stall(120)
        m.call('getattr', `/${dir}/c`, m.ctx())
      })
      m.call('release', '', fd, m.ctx({ pid: 0 }))
      m.call('unlink', hidden, m.ctx({ pid: 0 }))
      assert.equal(m.ino('tags/prod/c'), before, `save ${i}`)
    }
    assert.equal(m.ino('repos/aws/c'), before)
    assert.deepEqual([m.s.list('repos/aws'), m.s.list('tags/prod')], [['c'], ['c']])
  })

  it('a refused rename after the hiding leaves the secret as it was (no half-done save)', () => {
    const m = mounted()
    m.s.mkdir('tags/other')
    const before = m.ino('repos/aws/c')
    const [, fd] = m.call('open', '/tags/prod/c', 0, m.ctx()) as [number, number]
    // libfuse hides the open target before it asks for the rename, which is then refused: by the
    // operations (a tag folder never becomes a file: EPERM) or before them (a name too long)
    for (const [src, err] of [
      ['/tags/other', -os.constants.errno.EPERM],
      [`/tags/prod/${'x'.repeat(256)}`, -os.constants.errno.ENAMETOOLONG],
    ] as const) {
      const req = m.nextReq()
      assert.deepEqual(m.call('rename', '/tags/prod/c', '/tags/prod/.fuse_hidden0000000700000002', m.ctx({ req, hide: HIDE_FOR_RENAME })), [0])
      assert.deepEqual(m.call('rename', src, '/tags/prod/c', m.ctx({ req })), [err])
      assert.equal(m.ino('tags/prod/c'), before)
      assert.equal(m.s.readFile('tags/prod/c')!.toString(), 'old')
      assert.deepEqual(m.s.list('tags/prod'), ['c'])
      assert.equal(m.read(fd), 'old')
    }
    // and a later rename with the same names is an ordinary one
    m.s.writeFile('tags/prod/.c.tmp', Buffer.from('new'))
    assert.deepEqual(m.call('rename', '/tags/prod/.c.tmp', '/tags/prod/c', m.ctx()), [0])
    assert.equal(m.ino('tags/prod/c'), before)
    assert.equal(m.s.readFile('repos/aws/c')!.toString(), 'new')
  })

  it('a removal of an open secret leaves its tags at once, before any other request', () => {
    const m = mounted()
    const [, fd] = m.call('open', '/repos/aws/c', 0, m.ctx()) as [number, number]
    const req = m.nextReq()
    assert.deepEqual(m.call('rename', '/repos/aws/c', '/repos/aws/.fuse_hidden0000000700000003', m.ctx({ req, hide: HIDE_FOR_UNLINK })), [0])
    assert.deepEqual(m.s.list('tags/prod'), [])
    assert.deepEqual(m.changed, ['aws'])
    assert.equal(m.read(fd), 'old')
  })

  it('a rename to a .fuse_hidden name that a user asks for is a rename, not a hiding', () => {
    const m = mounted()
    const before = m.ino('repos/aws/c')
    assert.deepEqual(m.call('rename', '/repos/aws/c', '/repos/aws/.fuse_hidden_mine', m.ctx()), [0])
    assert.deepEqual(m.s.list('repos/aws'), ['.fuse_hidden_mine'])
    assert.equal(m.ino('repos/aws/.fuse_hidden_mine'), before)
  })
})
