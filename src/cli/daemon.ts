// Starting the process that holds a node unlocked (a mount or `polykey unlock`) in the
// background: the key derivation happens here, in the caller (its terminal, its prompts, its
// errors), and only the master key goes to the child, through a pipe — never argv, environment
// or disk. The child says "ready" on fd 3 once its agent answers, or exits with an error.
import fs from 'node:fs'
import { spawn } from 'node:child_process'
import type { Context } from './context.js'
import { EXIT } from '../errors.js'
import { secureBuffer, wipe } from '../crypto/index.js'
import { childEnv } from './child-env.js'

/** Derive the master key with whatever the user gave (prompting if needed). */
export async function unlockMasterKey(ctx: Context): Promise<Buffer> {
  const { NodeFile } = await import('../archive/nodefile.js')
  const { checkNodeFile, nameTheNode } = await import('./context.js')
  const { SeenRecord } = await import('../archive/seen.js')
  checkNodeFile(ctx.nodePath)
  // The rollback record is checked here, where the user's terminal is (the child only logs).
  const seen = SeenRecord.forUser(ctx.io.env, (m) => ctx.warn(m))
  let f: import('../archive/nodefile.js').NodeFile
  try {
    f = NodeFile.open(ctx.nodePath, await ctx.keySource(), { writable: false, warn: (m) => ctx.warn(m), seen })
  } catch (err) {
    throw nameTheNode(err, ctx.nodePath)
  }
  const master = secureBuffer(f.masterKey.length)
  f.masterKey.copy(master)
  f.close()
  return master
}

/** Read the master key a parent sent on stdin. */
export function readMasterKey(): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    process.stdin.on('data', (c: Buffer) => chunks.push(c))
    process.stdin.on('end', () => {
      const all = Buffer.concat(chunks)
      const key = secureBuffer(all.length)
      all.copy(key)
      all.fill(0)
      for (const c of chunks) c.fill(0)
      resolve(key)
    })
    process.stdin.on('error', reject)
  })
}

/** Spawn `polykey ARGS --daemon-child` detached, hand it the key, wait for it to be ready. */
export async function startDaemon(ctx: Context, args: string[], master: Buffer): Promise<{ code: number; pid?: number }> {
  const child = spawn(process.execPath, [process.argv[1], ...args, '--node', ctx.nodePath, '--daemon-child'], {
    detached: true,
    stdio: ['pipe', 'ignore', 'pipe', 'pipe'],
    env: childEnv(ctx.io.env),
    cwd: '/',
  })
  child.stdin!.end(master)
  wipe(master)
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
    return { code: ready }
  }
  child.unref()
  ;(child.stdio[3] as NodeJS.ReadableStream & { destroy(): void }).destroy()
  child.stderr!.destroy()
  return { code: EXIT.OK, pid: child.pid }
}

/** In the child: from now on messages go to the log file, and the parent hears "ready". */
export function daemonReady(logFile: string | null): (msg: string) => void {
  const fd = logFile ? fs.openSync(logFile, 'a', 0o600) : null
  fs.createWriteStream('', { fd: 3 }).end('ready\n')
  return (msg: string) => {
    if (fd !== null) fs.writeSync(fd, `${new Date().toISOString()} ${msg}\n`)
  }
}
