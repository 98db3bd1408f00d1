// Issue 5's benchmark: cloning a repository of 1,000 commits from `polykey serve` over loopback
// (a fresh `polykey clone` process: unlock, connect, Noise handshake, pack, check, store, save)
// vs real `git clone` of the same history from `git daemon` on loopback; and the bytes that
// cross the wire for a pull of one new commit.
import fs from 'node:fs'
import os from 'node:os'
import net from 'node:net'
import path from 'node:path'
import { spawn, spawnSync, execFileSync, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { Report, compare, polykeyEnv } from './lib.js'
import { createNode, OpenNode } from '../src/vault/node.js'
import { KDF_PROFILES } from '../src/crypto/index.js'
import { addPeer, loadPeers, savePeers, share } from '../src/sync/peers.js'

export const title = 'sharing'
const here = path.dirname(fileURLToPath(import.meta.url))
const BIN = path.resolve(here, '../../bin/polykey')
const PASS = 'bench-pass'
const COMMITS = 1000
const SECRETS = 100

/** bin/polykey in a child process (asynchronous: the counting proxies live in this process). */
function pk(node: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: polykeyEnv(PASS, node), stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout!.on('data', (d) => (out += d))
    child.stderr!.on('data', (d) => (err += d))
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`polykey ${args.join(' ')}: ${err}`))))
  })
}

function sh(cmd: string, args: string[], cwd?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, stdio: 'ignore' })
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}`))))
  })
}

/** alice: one repository of COMMITS commits, each updating one of SECRETS secrets. */
async function buildAlice(file: string, bobId: string): Promise<string> {
  createNode(file, Buffer.from(PASS), KDF_PROFILES.test)
  const n = await OpenNode.open(file, { passphrase: Buffer.from(PASS) }, { write: true })
  try {
    const v = n.vault
    v.repoCreate('bench')
    for (let i = 0; i < COMMITS; i++) v.secretPut('bench', `secret-${String(i % SECRETS).padStart(3, '0')}`, Buffer.from(`value ${i} ${'x'.repeat(i % 40)}\n`))
    const book = loadPeers(v)
    addPeer(book, { alias: 'bob', id: bobId, owner: false }, n.identity().id)
    share(book, 'bench', book.peers[0])
    savePeers(v, book)
    n.save()
    return n.identity().id
  } finally {
    n.close()
  }
}

function startServe(node: string): Promise<{ address: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [BIN, 'serve'], { env: polykeyEnv(PASS, node), stdio: ['ignore', 'pipe', 'ignore'] })
  return new Promise((resolve, reject) => {
    child.stdout!.once('data', (d: Buffer) => resolve({ address: d.toString().trim(), child }))
    child.once('exit', (c) => reject(new Error(`serve exited ${c}`)))
  })
}

function startGitDaemon(base: string): Promise<{ port: number; child: ChildProcess }> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (probe.address() as net.AddressInfo).port
      probe.close(() => {
        const child = spawn('git', ['daemon', '--export-all', `--base-path=${base}`, '--listen=127.0.0.1', `--port=${port}`, '--reuseaddr', '--informative-errors', base], {
          stdio: 'ignore',
        })
        child.once('exit', (c) => reject(new Error(`git daemon exited ${c}`)))
        const tryConnect = (n: number) => {
          const s = net.connect(port, '127.0.0.1')
          s.on('connect', () => (s.destroy(), resolve({ port, child })))
          s.on('error', () => (n > 0 ? setTimeout(() => tryConnect(n - 1), 50) : reject(new Error('git daemon did not start'))))
        }
        tryConnect(100)
      })
    })
  })
}

/** A loopback proxy counting bytes in both directions. */
async function countingProxy(target: string) {
  const i = target.lastIndexOf(':')
  let bytes = 0
  const server = net.createServer((c) => {
    const u = net.connect(Number(target.slice(i + 1)), target.slice(0, i))
    c.on('data', (d) => ((bytes += d.length), u.write(d)))
    u.on('data', (d) => ((bytes += d.length), c.write(d)))
    c.on('end', () => u.end())
    u.on('end', () => c.end())
    c.on('error', () => u.destroy())
    u.on('error', () => c.destroy())
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  return { address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`, bytes: () => bytes, reset: () => (bytes = 0), close: () => server.close() }
}

export async function run(r: Report): Promise<void> {
  if (spawnSync('git', ['--version']).status !== 0) {
    console.log('  git is not installed: skipped')
    return
  }
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'pk-bench-sync-'))
  const children: ChildProcess[] = []
  try {
    const aliceNode = path.join(work, 'alice.pk')
    const bobTemplate = path.join(work, 'bob-template.pk')
    const { id: bobId } = createNode(bobTemplate, Buffer.from(PASS), KDF_PROFILES.test)
    const aliceId = await buildAlice(aliceNode, bobId)
    const served = await startServe(aliceNode)
    children.push(served.child)
    await pk(bobTemplate, ['peer', 'add', 'alice', aliceId, served.address])

    // The same history for git: export the node, serve the repository with git daemon.
    const exported = path.join(work, 'export')
    fs.mkdirSync(exported)
    execFileSync('tar', ['x', '-C', exported], { input: spawnSync(process.execPath, [BIN, 'export', 'tar'], { env: polykeyEnv(PASS, aliceNode), maxBuffer: 1 << 30 }).stdout })
    const gitBase = path.join(work, 'git')
    fs.mkdirSync(gitBase)
    execFileSync('git', ['clone', '-q', '--bare', path.join(exported, 'repos', 'bench'), path.join(gitBase, 'bench.git')])
    // packed, as a git server's repositories normally are (the harder baseline: nothing to compute),
    // and by git itself: its own deltas and zlib, not what it would reuse from our packs
    execFileSync('git', ['repack', '-adFq'], { cwd: path.join(gitBase, 'bench.git') })
    const commits = execFileSync('git', ['rev-list', '--count', 'HEAD'], { cwd: path.join(gitBase, 'bench.git') })
      .toString()
      .trim()
    if (commits !== String(COMMITS)) throw new Error(`expected ${COMMITS} commits, git sees ${commits}`)
    const daemon = await startGitDaemon(gitBase)
    children.push(daemon.child)

    let k = 0
    const pkClone = async () => {
      const node = path.join(work, `bob-${k++}.pk`)
      fs.copyFileSync(bobTemplate, node)
      await pk(node, ['clone', 'alice', 'bench'])
      fs.rmSync(node)
    }
    const gitClone = async () => {
      const dest = path.join(work, `g-${k++}`)
      await sh('git', ['clone', '-q', `git://127.0.0.1:${daemon.port}/bench.git`, dest])
      fs.rmSync(dest, { recursive: true })
    }
    const c = await compare(pkClone, gitClone, 5)
    r.add({ name: `clone ${COMMITS} commits over loopback`, value: c.a, unit: 'ms', baseline: { name: 'git clone from git daemon', value: c.b }, goal: '<= 3' })

    // One new commit on alice; bob (who has the rest) pulls it through a counting proxy.
    const proxy = await countingProxy(served.address)
    const bob = path.join(work, 'bob.pk')
    fs.copyFileSync(bobTemplate, bob)
    await pk(bob, ['peer', 'rm', 'alice'])
    await pk(bob, ['peer', 'add', 'alice', aliceId, proxy.address])
    await pk(bob, ['clone', 'alice', 'bench'])
    const cloneBytes = proxy.bytes()
    await pk(aliceNode, ['secret', 'put', 'bench/secret-007'])
    proxy.reset()
    const out = await pk(bob, ['pull', 'alice', 'bench'])
    if (!/fast-forward/.test(out)) throw new Error(`pull did not fast-forward: ${out}`)
    const pullBytes = proxy.bytes()

    // git's own figure for the same step, for scale: fetch one commit through the same kind of proxy
    const gproxy = await countingProxy(`127.0.0.1:${daemon.port}`)
    const gdest = path.join(work, 'g-pull')
    await sh('git', ['clone', '-q', `git://${gproxy.address}/bench.git`, gdest])
    const gitCloneBytes = gproxy.bytes()
    const gwork = path.join(work, 'g-work')
    execFileSync('git', ['clone', '-q', path.join(gitBase, 'bench.git'), gwork])
    fs.writeFileSync(path.join(gwork, 'secret-007'), 'one more\n')
    execFileSync('git', ['-c', 'user.name=b', '-c', 'user.email=b@b', 'commit', '-qam', 'one'], { cwd: gwork })
    execFileSync('git', ['push', '-q', 'origin', 'HEAD:main'], { cwd: gwork })
    gproxy.reset()
    await sh('git', ['pull', '-q', '--ff-only'], gdest)
    const gitPullBytes = gproxy.bytes()
    proxy.close()
    gproxy.close()

    r.add({ name: 'bytes on the wire, clone (both directions)', value: cloneBytes, unit: 'B', baseline: { name: 'git clone', value: gitCloneBytes } })
    r.add({ name: 'bytes on the wire, one-commit pull', value: pullBytes, unit: 'B', baseline: { name: 'git pull', value: gitPullBytes }, goal: '<= 16384 B' })
    r.ratio('one-commit pull bytes / 16 KiB', pullBytes / 16384, '<= 1')
  } finally {
    for (const ch of children) ch.kill('SIGTERM')
    fs.rmSync(work, { recursive: true, force: true })
  }
}
