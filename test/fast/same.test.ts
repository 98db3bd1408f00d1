// Issue 18: the command line is the same with and without the native fast client. Against a
// real unlocked node (`polykey unlock --timeout 0`), every agent-served command, its errors and
// exit codes, stdin, --json and the terminal refusals run once through the fast client and once
// through Node (POLYKEY_NO_FAST_CLIENT=1); stdout, stderr and exit code must agree byte for
// byte. The fast runs have no node on PATH where the client must answer alone.
import test from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { BIN, collect, newNode, run, tmpdir, unlocked } from '../helpers.js'
import { agentPaths } from '../../src/agent/paths.js'
import { Context } from '../../src/cli/context.js'
import { assertSame, both, bothOnPty, built, NO_NODE_PATH } from './both.js'

test('every agent-served command, its errors and stdin: the same through the fast client and through Node', { skip: !built && 'native client not built' }, async (t) => {
  const { node, dir } = await newNode(t)
  for (const [args, input] of [
    [['repo', 'create', 'r'], ''],
    [['repo', 'create', 'other'], ''],
    [['secret', 'put', 'r/a'], 'value-a'],
    [['secret', 'put', 'r/bin'], Buffer.from([0, 1, 2, 255, 10])],
    [['tag', 'add', 'prod', 'r/a'], ''],
    [['secret', 'put', 'r/big'], Buffer.alloc(1 << 20, 0x62)],
  ] as [string[], string | Buffer][])
    assert.equal((await run(args, { node, input })).code, 0)
  await unlocked(t, node)
  const env = { ...process.env, POLYKEY_NODE: node, POLYKEY_PASSPHRASE: undefined }
  const cwd = dir
  // Read-only: the two runs may go side by side.
  const reads: string[][] = [
    ['secret', 'get', 'r/a'],
    ['secret', 'get', 'r/bin'],
    ['secret', 'get', 'r/nope'],
    ['secret', 'get', 'nope/x'],
    ['secret', 'get', 'bad//ref'],
    ['secret', 'get'],
    ['secret', 'get', 'r/a', 'extra'],
    ['secret', 'get', 'r/a', '--unknown-option'],
    ['secret', 'get', 'r/a', '--rev', 'HEAD'],
    ['secret', 'get', 'r/a', '--rev', 'nope'],
    ['secret', 'list'],
    ['secret', 'list', 'r', '--json'],
    ['secret', 'list', 'nope'],
    ['secret', 'dump', 'r', '--json'],
    ['repo', 'list'],
    ['repo', 'list', '--json'],
    ['repo', 'log', 'r', '--limit', '1'],
    ['repo', 'log', 'r', '--json'],
    ['tag', 'list'],
    ['tag', 'list', 'prod', '--json'],
    ['peer', 'list', '--json'],
    ['info'],
    ['info', '--json'],
    ['node', 'id'],
    ['node', 'bogus'],
    ['verify'],
    ['export', 'tar'],
    ['--node', node, 'secret', 'get', 'r/a'],
    [`--node=${node}`, 'repo', 'list'],
    ['--node', 'node.pk', 'secret', 'get', 'r/a'], // relative to the working folder
    ['--lock-timeout', '5', 'secret', 'get', 'r/a'],
    ['secret', '--node', node, 'get', 'r/a'],
  ]
  for (let i = 0; i < reads.length; i += 4) {
    const batch = reads.slice(i, i + 4)
    const got = await Promise.all(batch.map((args) => both(args, { env, cwd })))
    batch.forEach((args, j) => assertSame(got[j], args.join(' ')))
  }
  // Changes: the whole sequence in one mode, then in the other (it leaves the node as it found it).
  const writes: [string[], string | Buffer | undefined][] = [
    [['secret', 'put', 'r/new'], 'typed\0value\n'],
    [['secret', 'get', 'r/new'], undefined],
    [['secret', 'mv', 'r/new', 'r/moved'], undefined],
    [['secret', 'rm', 'r/moved'], undefined],
    [['secret', 'rm', 'r/moved'], undefined],
    [['secret', 'put', 'r/empty'], ''],
    [['secret', 'get', 'r/empty'], undefined],
    [['secret', 'rm', 'r/empty'], undefined],
    [['repo', 'create', 'r'], undefined],
    [['repo', 'create', 'tmp'], undefined],
    [['repo', 'rename', 'tmp', 'tmp2'], undefined],
    [['repo', 'delete', 'tmp2'], undefined],
    [['tag', 'add', 'dev', 'r/a'], undefined],
    [['tag', 'rm', 'dev', 'r/a'], undefined],
  ]
  const fast: { code: number; stdout: Buffer; stderr: string }[] = []
  const slow: typeof fast = []
  for (const [args, input] of writes) fast.push(await collect(BIN, args, { env: { ...env, PATH: NO_NODE_PATH }, cwd, input, timeoutMs: 60_000 }))
  for (const [args, input] of writes) slow.push(await collect(BIN, args, { env: { ...env, POLYKEY_NO_FAST_CLIENT: '1' }, cwd, input, timeoutMs: 60_000 }))
  writes.forEach(([args], i) => assertSame({ fast: { ...fast[i], out: '' }, node: { ...slow[i], out: '' } }, args.join(' ')))
  assert.equal(fast[1].stdout.toString('latin1'), 'typed\0value\n')
  // A reader that stops early: the client stops quietly with exit 1 (docs/CLI.md "Exit codes").
  // (--norc: bash reads ~/.bashrc when its stdin is a socket, as Node's pipes are, and SHLVL is
  // below 2 — under make, say; a .bashrc that runs tools finds none on this PATH and says so.)
  const head = await collect('/bin/bash', ['--norc', '-o', 'pipefail', '-c', `"${BIN}" secret get r/big | /usr/bin/head -c 10 >/dev/null`], {
    env: { ...env, PATH: NO_NODE_PATH },
    cwd,
    timeoutMs: 60_000,
  })
  const headNode = await collect('/bin/bash', ['--norc', '-o', 'pipefail', '-c', `"${BIN}" secret get r/big | /usr/bin/head -c 10 >/dev/null`], {
    env: { ...env, POLYKEY_NO_FAST_CLIENT: '1' },
    cwd,
    timeoutMs: 60_000,
  })
  assert.equal(head.stderr, '')
  assert.equal(head.code, 1)
  assert.deepEqual([headNode.stderr, headNode.code], [head.stderr, head.code], 'Node ends the same way')
  // Commands the client leaves to Node (local ones, help, version, --verbose, unknown) answer the same.
  for (const args of [
    ['status'],
    ['--version'],
    ['secret', 'get', '--help'],
    ['bogus'],
    ['--verbose', 'secret', 'get', 'r/nope'],
    ['env', 'r', '--', 'true'],
    ['secret', 'get', 'r/a', '--', 'x'],
    ['repo'],
    ['repo', 'bogus'],
  ])
    assertSame(await both(args, { env, cwd, mayFallBack: true }), args.join(' '))
})

test('on a terminal: refusals, prompts and output agree, and a typed secret goes through Node', { skip: !built && 'native client not built' }, async (t) => {
  const { node } = await newNode(t)
  assert.equal((await run(['repo', 'create', 'r'], { node })).code, 0)
  assert.equal((await run(['secret', 'put', 'r/key'], { node, input: 'AKIAPLAINTEXT' })).code, 0)
  await unlocked(t, node)
  const env = { ...process.env, POLYKEY_NODE: node, POLYKEY_PASSPHRASE: undefined }
  for (const args of [
    ['export', 'tar'],
    ['secret', 'dump', 'r'],
    ['seal', 'r', 'nobody'],
    ['secret', 'get', 'r/key'],
    ['secret', 'list'],
  ]) {
    const r = await bothOnPty(args, [], env, os.tmpdir())
    assert.equal(r.fast.out, r.node.out, args.join(' '))
    assert.equal(r.fast.code, r.node.code, args.join(' '))
  }
  const typed = await bothOnPty(
    ['secret', 'put', 'r/typed'],
    [
      ['Value \\(not shown\\): ', 'v1\r'],
      ['Repeat the value: ', 'v1\r'],
    ],
    env,
    os.tmpdir(),
  )
  assert.ok(typed.fast.ok && typed.node.ok, typed.fast.out)
  assert.equal(typed.fast.out, typed.node.out)
  assert.equal(typed.fast.code, 0)
})

test(
  'the fast client finds the same node and agent socket as Node: default node, --node, $POLYKEY_NODE, symlinks and hard links',
  { skip: !built && 'native client not built' },
  async (t) => {
    const dir = tmpdir(t)
    const home = path.join(dir, 'home')
    fs.mkdirSync(path.join(home, '.polykey'), { recursive: true })
    fs.writeFileSync(path.join(home, '.polykey', 'node.pk'), '')
    fs.mkdirSync(path.join(dir, 'sub'))
    fs.symlinkSync(path.join(home, '.polykey', 'node.pk'), path.join(dir, 'link.pk'))
    fs.linkSync(path.join(home, '.polykey', 'node.pk'), path.join(dir, 'hard.pk'))
    /** What the client traces: the node path it settled on, and the socket it would use. */
    const traced = async (args: string[], env: Record<string, string | undefined>, cwd: string) => {
      const r = await collect(BIN, [...args, 'repo', 'list'], {
        env: { ...env, PATH: NO_NODE_PATH, POLYKEY_FAST_CLIENT_TRACE: '1', POLYKEY_NO_FAST_CLIENT: undefined },
        cwd,
        timeoutMs: 20_000,
      })
      return { node: /polykey-client: node (\/.*)\n/.exec(r.stderr)?.[1] ?? null, stderr: r.stderr }
    }
    const cases: { args: string[]; env: Record<string, string | undefined>; cwd: string }[] = [
      { args: [], env: { HOME: home }, cwd: dir },
      { args: [], env: { HOME: `${home}/./x/../` }, cwd: dir },
      { args: [], env: { HOME: home, POLYKEY_NODE: 'link.pk' }, cwd: dir },
      { args: [], env: { HOME: home, POLYKEY_NODE: '../hard.pk' }, cwd: path.join(dir, 'sub') },
      { args: ['--node', 'sub/../link.pk'], env: { HOME: home, POLYKEY_NODE: '/elsewhere.pk' }, cwd: dir },
      { args: [`--node=${dir}//hard.pk`], env: { HOME: home }, cwd: '/' },
    ]
    // Homes where the default node's rule matters: both the XDG and the older place hold a node,
    // or neither does (the rule is in one C function, pk_default_node; these keep it honest).
    const both = path.join(dir, 'home-both')
    for (const f of [path.join(both, '.polykey', 'node.pk'), path.join(both, '.local', 'share', 'polykey', 'node.pk'), path.join(both, 'xdg', 'polykey', 'node.pk')]) {
      fs.mkdirSync(path.dirname(f), { recursive: true })
      fs.writeFileSync(f, '')
    }
    const rule: typeof cases = [
      { args: [], env: { HOME: both }, cwd: dir },
      { args: [], env: { HOME: both, XDG_DATA_HOME: path.join(both, 'xdg') }, cwd: dir },
      { args: [], env: { HOME: both, XDG_DATA_HOME: 'relative' }, cwd: dir },
      { args: [], env: { HOME: path.join(dir, 'home-empty') }, cwd: dir },
    ]
    for (const c of rule) {
      const env = { ...process.env, POLYKEY_NODE: undefined, XDG_DATA_HOME: undefined, ...c.env }
      const want = new Context({ env, cwd: c.cwd } as never, {}).nodePath
      const got = await traced(c.args, env, c.cwd)
      assert.equal(got.node, want, `${JSON.stringify(c)}: ${got.stderr}`)
    }
    for (const c of cases) {
      const env = { ...process.env, POLYKEY_NODE: undefined, XDG_DATA_HOME: undefined, ...c.env }
      const want = new Context({ env, cwd: c.cwd } as never, { node: (/^--node=?(.*)$/.exec(c.args[0] ?? '')?.[1] || c.args[1]) ?? undefined }).nodePath
      const got = await traced(c.args, env, c.cwd)
      assert.equal(got.node, want, `${JSON.stringify(c)}: ${got.stderr}`)
      // Every name of the one file leads to the one agent socket.
      assert.equal(agentPaths(want)!.socket, agentPaths(path.join(home, '.polykey', 'node.pk'))!.socket)
    }
    // An unset or empty HOME is left to Node.
    for (const HOME of [undefined, '']) {
      const got = await traced([], { ...process.env, POLYKEY_NODE: undefined, HOME }, dir)
      assert.equal(got.node, null, got.stderr)
      assert.match(got.stderr, /polykey-client: node: HOME is unset or empty/)
    }
  },
)

test('through a real agent, the socket the fast client uses is the one Node computes', { skip: !built && 'native client not built' }, async (t) => {
  const { node, dir } = await newNode(t)
  await unlocked(t, node)
  fs.symlinkSync(node, path.join(dir, 'alias.pk'))
  const r = await collect(BIN, ['--node', 'alias.pk', 'repo', 'list'], {
    env: { ...process.env, PATH: NO_NODE_PATH, POLYKEY_FAST_CLIENT_TRACE: '1', POLYKEY_PASSPHRASE: undefined },
    cwd: dir,
    timeoutMs: 20_000,
  })
  assert.equal(r.code, 0, r.stderr)
  assert.ok(r.stderr.includes(`polykey-client: forward to ${agentPaths(node)!.socket}\n`), r.stderr)
})
