// mount / unmount. `mount` without --foreground starts a detached mount process, hands it the
// passphrase through a pipe, and returns once that process reports the mount is ready.
import fs from 'node:fs'
import path from 'node:path'
import { spawn } from 'node:child_process'
import type { Context, HostedVault } from './context.js'
import { EXIT, PolykeyError } from '../errors.js'

function readStdinPassphrase(): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    process.stdin.on('data', (c: Buffer) => chunks.push(c))
    process.stdin.on('end', () => resolve(Buffer.concat(chunks)))
    process.stdin.on('error', reject)
  })
}

export async function mount(ctx: Context, argv: any): Promise<number> {
  // `polykey mount MOUNTPOINT` (node from --node / $POLYKEY_NODE) or `polykey mount NODE MOUNTPOINT`.
  if (argv.second !== undefined) {
    ctx.args.node = String(argv.mountpoint)
    argv.mountpoint = argv.second
  }
  const mountpoint = path.resolve(ctx.io.cwd, String(argv.mountpoint))
  const nodePath = ctx.nodePath
  if (!fs.existsSync(nodePath)) throw new PolykeyError('NOT_FOUND', `no node file at ${nodePath}`, {}, { hint: "create one with 'polykey init'" })
  const { fuseDeviceAvailable } = await import('../fuse/binding.js')
  if (!fuseDeviceAvailable()) throw new PolykeyError('REFUSED', 'FUSE is not available here (/dev/fuse cannot be opened)')
  if (argv.foreground || argv.daemonChild) return runMount(ctx, nodePath, mountpoint, !!argv.daemonChild)

  // Background: ask for the passphrase here (the terminal is ours), unlock in the child.
  const pass = argv.passphraseStdin ? await readStdinPassphrase() : await ctx.passphrase()
  const child = spawn(process.execPath, [process.argv[1], 'mount', mountpoint, '--node', nodePath, '--daemon-child', '--passphrase-stdin'], {
    detached: true,
    stdio: ['pipe', 'ignore', 'pipe', 'pipe'],
    env: { ...ctx.io.env, POLYKEY_PASSPHRASE: undefined },
    cwd: '/',
  })
  child.stdin!.end(pass)
  pass.fill(0)
  const errs: Buffer[] = []
  child.stderr!.on('data', (d: Buffer) => errs.push(d))
  const ready = await new Promise<number | 'ready'>((resolve) => {
    ;(child.stdio[3] as NodeJS.ReadableStream).on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) resolve('ready')
    })
    child.on('exit', (code) => resolve(code ?? EXIT.FAILED))
  })
  if (ready !== 'ready') {
    ctx.io.stderr.write(Buffer.concat(errs))
    return ready
  }
  child.unref()
  ;(child.stdio[3] as any).destroy?.()
  child.stderr!.destroy()
  if (ctx.args.json) ctx.json({ node: nodePath, mountpoint, pid: child.pid })
  else ctx.out(`mounted ${nodePath} at ${mountpoint}`)
  return EXIT.OK
}

async function runMount(ctx: Context, nodePath: string, mountpoint: string, daemon: boolean): Promise<number> {
  const { MountedNode } = await import('../fuse/mount.js')
  const { AgentServer } = await import('../agent/server.js')
  const { logPath, ensureRuntimeDir } = await import('../agent/paths.js')
  ensureRuntimeDir()
  const { hardenProcess } = await import('../crypto/harden.js')
  const hardening = hardenProcess({ lockMemory: false }) // mlockall breaks V8 (see docs/SECURITY.md)
  let logFd: number | null = null
  const log = (msg: string) => {
    const line = `${new Date().toISOString()} ${msg}\n`
    if (logFd !== null) fs.writeSync(logFd, line)
    else ctx.io.stderr.write(`polykey: ${msg}\n`)
  }
  for (const p of hardening) log(`warning: ${p}`)
  const key = daemon ? { passphrase: await readStdinPassphrase() } : await ctx.keySource()
  const node = await MountedNode.open(nodePath, key, mountpoint, { log, lockTimeoutMs: 2000 })
  if ('passphrase' in key) key.passphrase.fill(0)
  const agent = new AgentServer()
  let done!: () => void
  const finished = new Promise<void>((r) => (done = r))
  const shutdown = async () => {
    await node.close()
    agent.stop()
    done()
  }
  const hosted: HostedVault = {
    vault: node.vault,
    nodeId: node.nodeId,
    async withVault(write, fn) {
      let result: Awaited<ReturnType<typeof fn>>
      try {
        result = await fn(node.vault)
      } finally {
        // What the command changed shows in the mount before it answers.
        await node.syncKernel()
      }
      if (write) {
        node.save()
        if (node.saveFailing) throw new PolykeyError('IO', `the change is kept in memory but could not be saved: ${node.saveFailing}`)
      }
      return result
    },
    mountpoint,
    info: () => ({ version: node.file.version, fileSize: node.file.fileSize, seq: node.file.seq }),
    savedFile: () => {
      node.flush()
      if (node.saveFailing) throw new PolykeyError('IO', `the node file could not be saved: ${node.saveFailing}`)
      return node.file
    },
  }
  try {
    await node.mount()
    await agent.start({ nodePath, mountpoint, hosted, onUnmount: shutdown, log })
  } catch (err) {
    await node.close()
    agent.stop()
    throw err
  }
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => void shutdown())
  // An external `umount` is noticed by MountedNode, which saves and closes; then we stop too.
  void node.closed.then(shutdown)
  if (daemon) {
    logFd = fs.openSync(logPath(nodePath), 'a', 0o600)
    const ready = fs.createWriteStream('', { fd: 3 })
    ready.end('ready\n')
    process.stderr.write('') // nothing more goes to the parent's pipe: logs go to the log file
  } else ctx.out(`mounted ${nodePath} at ${mountpoint} (Ctrl-C to unmount)`)
  await finished
  if (logFd !== null) {
    fs.closeSync(logFd)
    if (fs.statSync(logPath(nodePath)).size === 0) fs.rmSync(logPath(nodePath), { force: true })
  }
  // Everything is saved and the node released. After an unmount from outside the binding's
  // handle can keep the event loop alive; nothing is left to do, so leave explicitly.
  await agent.drained()
  const exit = () => process.exit(EXIT.OK)
  if (daemon) exit()
  else (ctx.io.stdout as NodeJS.WriteStream).write('', exit)
  return EXIT.OK
}

export async function unmount(ctx: Context, argv: any): Promise<number> {
  const mountpoint = path.resolve(ctx.io.cwd, String(argv.mountpoint))
  const { readRecords } = await import('../agent/paths.js')
  const { sendToSocket } = await import('../agent/client.js')
  const rec = readRecords(ctx.io.env).find((r) => r.mountpoint === mountpoint)
  if (rec) {
    const code = await sendToSocket(ctx, rec.socket, ['unmount', mountpoint])
    if (code !== null) {
      // Wait for the mount process to finish saving and exit.
      for (let i = 0; i < 600; i++) {
        try {
          process.kill(rec.pid, 0)
        } catch {
          break
        }
        await new Promise((r) => setTimeout(r, 50))
      }
      return code
    }
  }
  const { isMounted } = await import('../fuse/binding.js')
  if (!isMounted(mountpoint)) throw new PolykeyError('NOT_FOUND', `${mountpoint} is not mounted`)
  // Not ours to talk to (agent gone): ask the kernel; a live mount process notices and saves.
  await new Promise<void>((resolve, reject) =>
    spawn('fusermount', ['-u', mountpoint], { stdio: 'ignore' }).on('exit', (c) => (c === 0 ? resolve() : reject(new PolykeyError('REFUSED', `cannot unmount ${mountpoint} (busy?)`)))),
  )
  return EXIT.OK
}
