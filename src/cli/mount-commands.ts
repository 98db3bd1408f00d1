// mount / unmount. `mount` without --foreground unlocks here, starts a detached mount process
// with the master key (daemon.ts), and returns once that process has mounted and answers.
import fs from 'node:fs'
import path from 'node:path'
import { spawn } from 'node:child_process'
import { type Context, checkNodeFile } from './context.js'
export { checkNodeFile }
import { EXIT, PolykeyError } from '../errors.js'

interface MountArgs {
  mountpoint: string
  second?: string
  foreground?: boolean
  daemonChild?: boolean
  guard?: boolean
  audit?: boolean
}

/** One clear line for a mountpoint that cannot be one (a file, the node file itself). */
function checkMountpoint(mountpoint: string, nodePath: string): void {
  let st: fs.Stats | null = null
  try {
    st = fs.statSync(mountpoint)
  } catch {
    return // created at mount time
  }
  if (!st.isDirectory()) {
    const isNode = path.resolve(mountpoint) === path.resolve(nodePath) || (fs.existsSync(nodePath) && fs.statSync(nodePath).ino === st.ino)
    throw new PolykeyError(
      'USAGE',
      isNode ? `${mountpoint} is the node file; name a folder to mount it on` : `${mountpoint} is a file, not a folder to mount on`,
      {},
      { hint: 'polykey mount ~/secrets' },
    )
  }
}

export async function mount(ctx: Context, argv: MountArgs): Promise<number> {
  // `polykey mount MOUNTPOINT` (node from --node / $POLYKEY_NODE) or `polykey mount NODE MOUNTPOINT`.
  let mp = argv.mountpoint
  if (argv.second !== undefined) {
    ctx.args.node = argv.mountpoint
    mp = argv.second
  }
  const mountpoint = path.resolve(ctx.io.cwd, mp)
  const nodePath = ctx.nodePath
  if (ctx.hosted) {
    // Forwarded to an unlocked node's agent: it mounts itself (no second key derivation).
    if (ctx.hosted.kind === 'mount') throw new PolykeyError('EXISTS', `${nodePath} is already mounted at ${ctx.hosted.mountpoint}`)
    await ctx.hosted.mountAt(mountpoint, { guard: argv.guard, audit: argv.audit })
    if (ctx.args.json) ctx.json({ node: nodePath, mountpoint, pid: process.pid })
    else ctx.out(`mounted ${nodePath} at ${mountpoint}`)
    return EXIT.OK
  }
  checkNodeFile(nodePath)
  checkMountpoint(mountpoint, nodePath)
  const { fuseDeviceAvailable } = await import('../fuse/binding.js')
  if (!fuseDeviceAvailable()) throw new PolykeyError('REFUSED', 'FUSE is not available here (/dev/fuse cannot be opened)')
  const { agentPaths, readRecord } = await import('../agent/paths.js')
  const { findAgent, forward } = await import('../agent/client.js')
  const mo = { guard: !!argv.guard, audit: argv.audit !== false }
  const moArgs = [...(mo.guard ? ['--guard'] : []), ...(mo.audit ? [] : ['--no-audit'])]
  const sock = await findAgent(nodePath)
  if (sock) {
    const rec = readRecord(agentPaths(nodePath)!.record)
    if (rec?.kind !== 'unlock') throw new PolykeyError('EXISTS', `${nodePath} is already mounted${rec?.mountpoint ? ` at ${rec.mountpoint}` : ''}`)
    const code = await forward(sock, ['mount', mountpoint, '--node', nodePath, ...moArgs, ...(ctx.args.json ? ['--json'] : [])], ctx.io, { stdin: false })
    if (code !== null) return code
  }
  const { hardenProcess } = await import('../crypto/harden.js')
  hardenProcess({ lockMemory: false })
  const { unlockMasterKey, startDaemon, readMasterKey, daemonReady } = await import('./daemon.js')
  const { NodeHost } = await import('./host.js')
  if (argv.daemonChild) {
    const master = await readMasterKey()
    let log = (m: string): void => void process.stderr.write(`polykey: ${m}\n`)
    const host = await NodeHost.start({ nodePath, mountpoint, idleMs: null, log: (m) => log(m), ...mo }, { masterKey: master }, (h) => runnerFor(h))
    wipe(master)
    log = daemonReady(NodeHost.logFile(nodePath))
    return serveUntilDone(host, nodePath, true)
  }
  const master = await unlockMasterKey(ctx)
  if (argv.foreground) {
    const host = await NodeHost.start({ nodePath, mountpoint, idleMs: null, log: (m) => ctx.io.stderr.write(`polykey: ${m}\n`), ...mo }, { masterKey: master }, (h) => runnerFor(h))
    wipe(master)
    ctx.out(`mounted ${nodePath} at ${mountpoint} (Ctrl-C to unmount)`)
    return serveUntilDone(host, nodePath, false)
  }
  const started = await startDaemon(ctx, ['mount', mountpoint, ...moArgs], master)
  if (started.code !== EXIT.OK) return started.code
  if (ctx.args.json) ctx.json({ node: nodePath, mountpoint, pid: started.pid })
  else ctx.out(`mounted ${nodePath} at ${mountpoint}`)
  return EXIT.OK
}

import type { NodeHost } from './host.js'
import type { Runner } from '../agent/server.js'
import { wipe } from '../crypto/index.js'

/** Forwarded commands run through the same main as a local one, on the host's open node. */
export function runnerFor(host: NodeHost): Runner {
  return async (args, io, conn) => {
    const { main } = await import('./main.js')
    return main(args, io, host, conn)
  }
}

/** Keep the process until the host is done; signals stop it (retrying while saves fail). */
export async function serveUntilDone(host: NodeHost, nodePath: string, daemon: boolean): Promise<number> {
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => void host.stopWhenSaved(`received ${sig}`))
  await host.done
  const { NodeHost } = await import('./host.js')
  NodeHost.removeEmptyLog(nodePath)
  // Everything is saved and the node released. After an unmount from outside the binding's
  // handle can keep the event loop alive; nothing is left to do, so leave explicitly.
  await host.drained()
  const exit = () => process.exit(EXIT.OK)
  if (daemon) exit()
  else process.stdout.write('', exit)
  return EXIT.OK
}

export async function unmount(ctx: Context, argv: { mountpoint: string }): Promise<number> {
  const mountpoint = path.resolve(ctx.io.cwd, argv.mountpoint)
  if (ctx.hosted) {
    // In the agent: answer first (this connection outlives the stop), then save and unmount.
    if (ctx.hosted.kind !== 'mount' || ctx.hosted.mountpoint !== mountpoint) throw new PolykeyError('NOT_FOUND', `${mountpoint} is not where this node is mounted`)
    ctx.conn?.outliveStop()
    await ctx.hosted.unmount()
    return EXIT.OK
  }
  const { readRecords, alive } = await import('../agent/paths.js')
  const { forward } = await import('../agent/client.js')
  const rec = readRecords().find((r) => r.mountpoint === mountpoint)
  if (rec) {
    const code = await forward(rec.socket, ['unmount', mountpoint], ctx.io, { stdin: false })
    if (code !== null) {
      if (code !== EXIT.OK) return code
      // Wait for the mount to be gone (and, for a mount process, for it to have exited).
      const { isMounted } = await import('../fuse/binding.js')
      for (let i = 0; i < 1200 && isMounted(mountpoint); i++) await new Promise((r) => setTimeout(r, 10))
      if (rec.kind !== 'unlock') for (let i = 0; i < 1200 && alive(rec.pid); i++) await new Promise((r) => setTimeout(r, 10))
      return code
    }
  }
  const { isMounted } = await import('../fuse/binding.js')
  if (!isMounted(mountpoint)) throw new PolykeyError('NOT_FOUND', `${mountpoint} is not mounted`)
  // Not ours to talk to (agent gone): ask the kernel; a live mount process notices and saves.
  await new Promise<void>((resolve, reject) =>
    spawn('fusermount', ['-u', mountpoint], { stdio: 'ignore' }).on('exit', (c) =>
      c === 0 ? resolve() : reject(new PolykeyError('REFUSED', `cannot unmount ${mountpoint} (busy?)`)),
    ),
  )
  return EXIT.OK
}
