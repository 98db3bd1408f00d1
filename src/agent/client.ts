// The CLI side of the mount's control socket: when the node is mounted, commands run inside the
// mounting process (which already holds the unlocked node) instead of opening the file again.
import fs from 'node:fs'
import net from 'node:net'
import type { Context } from '../cli/context.js'
import { socketPath } from './paths.js'
import { FORWARDED_ENV, FRAME_EXIT, FRAME_STDERR, FRAME_STDOUT, FrameReader } from './protocol.js'
import { PolykeyError } from '../errors.js'

function connect(sock: string): Promise<net.Socket | null> {
  return new Promise((resolve) => {
    if (!fs.existsSync(sock)) return resolve(null)
    const c = net.connect(sock)
    c.once('connect', () => resolve(c))
    c.once('error', () => resolve(null))
  })
}

export async function agentAvailable(nodePath: string): Promise<boolean> {
  const c = await connect(socketPath(nodePath))
  c?.destroy()
  return c !== null
}

/** Run `args` in the agent of ctx's node; null when no agent serves that node. */
export async function forwardToAgent(ctx: Context, args: string[]): Promise<number | null> {
  return sendToSocket(ctx, socketPath(ctx.nodePath, ctx.io.env), args)
}

export async function sendToSocket(ctx: Context, sock: string, args: string[]): Promise<number | null> {
  const c = await connect(sock)
  if (!c) return null
  const needsStdin = (args[0] === 'secret' && args[1] === 'put') || (args[0] === 'git-serve' && args[1] === 'push')
  return new Promise<number>((resolve, reject) => {
    let code: number | null = null
    const reader = new FrameReader((type, payload) => {
      if (type === FRAME_STDOUT) ctx.io.stdout.write(Buffer.from(payload))
      else if (type === FRAME_STDERR) ctx.io.stderr.write(Buffer.from(payload))
      else if (type === FRAME_EXIT) code = payload.readInt32BE(0)
    })
    c.on('data', (d: Buffer) => reader.push(d))
    c.on('error', (err) => reject(new PolykeyError('IO', `lost the mount's agent: ${err.message}`)))
    c.on('close', () => {
      if (code === null) reject(new PolykeyError('IO', "the mount's agent closed the connection without an answer"))
      else resolve(code)
    })
    const env: Record<string, string> = {}
    for (const k of FORWARDED_ENV) if (ctx.io.env[k] !== undefined) env[k] = ctx.io.env[k]!
    c.write(JSON.stringify({ args, cwd: ctx.io.cwd, env }) + '\n')
    if (needsStdin) {
      ctx.io.stdin.on('data', (d: Buffer | string) => c.write(d))
      ctx.io.stdin.on('end', () => c.end())
      ctx.io.stdin.resume?.()
    } else c.end()
  })
}
