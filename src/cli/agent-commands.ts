// unlock / lock / status: the node's agent without FUSE (host.ts), and what runs for a node.
import type { Context } from './context.js'
import { EXIT, PolykeyError } from '../errors.js'
import { checkNodeFile, runnerFor, serveUntilDone } from './mount-commands.js'
import { wipe } from '../crypto/index.js'

/** Idle time before an unlock agent locks itself, when --timeout is not given. */
export const DEFAULT_UNLOCK_TIMEOUT = '15m'

/** '15m', '1h', '90s', '2d', '0' → milliseconds (0: never). */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/.exec(text.trim())
  if (!m) throw new PolykeyError('USAGE', `not a duration: '${text}' (say 90s, 15m, 1h or 0)`)
  const n = Number(m[1])
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h' | 'd']
  return Math.round(n * unit)
}

const describeUntil = (until: number | null | undefined) => (until ? `until ${new Date(until).toISOString()} (if idle)` : 'until locked')

export async function unlock(ctx: Context, argv: { timeout?: string; daemonChild?: boolean }): Promise<number> {
  const nodePath = ctx.nodePath
  const idleMs = parseDuration(argv.timeout ?? DEFAULT_UNLOCK_TIMEOUT) || null
  const { NodeHost } = await import('./host.js')
  const { readMasterKey, daemonReady, unlockMasterKey, startDaemon } = await import('./daemon.js')
  if (argv.daemonChild) {
    const { hardenProcess } = await import('../crypto/harden.js')
    hardenProcess({ lockMemory: false })
    const master = await readMasterKey()
    let log = (m: string): void => void process.stderr.write(`polykey: ${m}\n`)
    const host = await NodeHost.start({ nodePath, mountpoint: null, idleMs, log: (m) => log(m) }, { masterKey: master }, (h) => runnerFor(h))
    wipe(master)
    log = daemonReady(NodeHost.logFile(nodePath))
    return serveUntilDone(host, nodePath, true)
  }
  checkNodeFile(nodePath)
  const { agentPaths, readRecord } = await import('../agent/paths.js')
  const { findAgent } = await import('../agent/client.js')
  if (await findAgent(nodePath)) {
    const rec = readRecord(agentPaths(nodePath)!.record)
    if (rec?.kind === 'mount') ctx.out(`${nodePath} is mounted at ${rec.mountpoint}: commands already go through it`)
    else ctx.out(`${nodePath} is already unlocked ${describeUntil(rec?.until)}`)
    return EXIT.OK
  }
  const master = await unlockMasterKey(ctx)
  const started = await startDaemon(ctx, ['unlock', '--timeout', String(argv.timeout ?? DEFAULT_UNLOCK_TIMEOUT)], master)
  if (started.code !== EXIT.OK) return started.code
  const rec = readRecord(agentPaths(nodePath)!.record)
  if (ctx.args.json) ctx.json({ node: nodePath, pid: started.pid, until: rec?.until ? new Date(rec.until).toISOString() : null })
  else ctx.out(`unlocked ${nodePath} ${describeUntil(rec?.until)}`)
  return EXIT.OK
}

export async function lock(ctx: Context): Promise<number> {
  if (ctx.hosted) {
    if (ctx.hosted.kind === 'mount')
      throw new PolykeyError('REFUSED', `the node is mounted at ${ctx.hosted.mountpoint}`, {}, { hint: `unmount it instead: 'polykey unmount ${ctx.hosted.mountpoint}'` })
    ctx.conn?.outliveStop()
    await ctx.hosted.stop()
    return EXIT.OK
  }
  const nodePath = ctx.nodePath
  const { agentPaths, readRecord, alive } = await import('../agent/paths.js')
  const { findAgent, forward } = await import('../agent/client.js')
  const sock = await findAgent(nodePath)
  if (!sock) {
    ctx.out(`${nodePath} is not unlocked`)
    return EXIT.OK
  }
  const rec = readRecord(agentPaths(nodePath)!.record)
  const code = await forward(sock, ['lock', '--node', nodePath], ctx.io, { stdin: false })
  if (code === EXIT.OK && rec) for (let i = 0; i < 1000 && alive(rec.pid); i++) await new Promise((r) => setTimeout(r, 10))
  if (code === EXIT.OK) ctx.out(`locked ${nodePath}`)
  return code ?? EXIT.OK
}

export async function status(ctx: Context): Promise<number> {
  const nodePath = ctx.nodePath
  const { agentPaths, readRecord } = await import('../agent/paths.js')
  const { findAgent } = await import('../agent/client.js')
  const p = agentPaths(nodePath)
  const sock = p ? await findAgent(nodePath) : null
  const rec = sock && p ? readRecord(p.record) : null
  const state = !rec ? 'locked' : rec.kind === 'mount' ? 'mounted' : 'unlocked'
  if (ctx.args.json) ctx.json({ node: nodePath, state, mountpoint: rec?.mountpoint || null, until: rec?.until ? new Date(rec.until).toISOString() : null, pid: rec?.pid ?? null })
  else if (state === 'locked') ctx.out(`${nodePath}: locked`)
  else if (state === 'mounted') ctx.out(`${nodePath}: mounted at ${rec!.mountpoint}`)
  else ctx.out(`${nodePath}: unlocked ${describeUntil(rec!.until)}`)
  return EXIT.OK
}
