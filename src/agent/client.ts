// The calling side of an agent's control socket: find the agent of a node file, check that it
// is this user's own (folder, socket and the peer's kernel credentials), forward one command.
// It knows no command: what to forward (stdin or not) is decided by the caller's command table.
import fs from 'node:fs'
import net from 'node:net'
import type { IO } from './io.js'
import { agentDir, agentPaths, untrusted } from './paths.js'
import { FORWARDED_ENV, FRAME_EXIT, FRAME_STDERR, FRAME_STDOUT, FrameReader, PROTOCOL_VERSION, type Request } from './protocol.js'
import { PolykeyError } from '../errors.js'
import { peerCredentials } from '../crypto/harden.js'

const me = () => process.getuid?.() ?? 0

/**
 * A connection to the agent listening at sock, or null when none listens there (no socket, or a
 * stale one of a killed agent). Throws REFUSED when the socket or its folder is not the user's
 * alone, or the process answering is another user's: a planted socket gets nothing from us.
 */
export async function connectAgent(sock: string): Promise<net.Socket | null> {
  if (!fs.existsSync(sock)) return null
  const why = untrusted(agentDir(), 'dir') ?? untrusted(sock, 'socket')
  if (why)
    throw new PolykeyError(
      'REFUSED',
      `refusing to use the agent socket: ${why}`,
      { socket: sock },
      { hint: 'someone else may have put it there; remove it if you do not know why it exists' },
    )
  const c = await new Promise<net.Socket | null>((resolve) => {
    const s = net.connect(sock)
    s.once('connect', () => resolve(s))
    s.once('error', () => resolve(null))
  })
  if (!c) return null
  const cred = peerCredentials(c)
  if (cred && cred.uid !== me()) {
    c.destroy()
    throw new PolykeyError('REFUSED', `refusing the agent at ${sock}: it runs as uid ${cred.uid}, not as you`, { socket: sock })
  }
  return c
}

/** The agent socket of nodePath when an agent serves it, else null. */
export async function findAgent(nodePath: string): Promise<string | null> {
  const p = agentPaths(nodePath)
  if (!p) return null
  const c = await connectAgent(p.socket)
  if (!c) return null
  c.destroy()
  return p.socket
}

export interface ForwardOptions {
  /** send the caller's stdin (the command declares that it reads it) */
  stdin: boolean
}

/** Run args in the agent at sock with io's streams; null when no agent answers there. */
export async function forward(sock: string, args: string[], io: IO, opts: ForwardOptions): Promise<number | null> {
  const c = await connectAgent(sock)
  if (!c) return null
  return new Promise<number>((resolve, reject) => {
    let code: number | null = null
    const reader = new FrameReader((type, payload) => {
      if (type === FRAME_STDOUT) io.stdout.write(Buffer.from(payload))
      else if (type === FRAME_STDERR) io.stderr.write(Buffer.from(payload))
      else if (type === FRAME_EXIT && payload.length === 4) code = payload.readInt32BE(0)
    })
    c.on('data', (d: Buffer) => {
      try {
        reader.push(d)
      } catch {
        c.destroy()
      }
    })
    c.on('error', (err) => reject(new PolykeyError('IO', `lost the node's agent: ${err.message}`)))
    c.on('close', () => {
      if (code === null) reject(new PolykeyError('IO', "the node's agent closed the connection without an answer"))
      else resolve(code)
    })
    const env: Record<string, string> = {}
    for (const k of FORWARDED_ENV) if (io.env[k] !== undefined) env[k] = io.env[k]!
    const req: Request = { v: PROTOCOL_VERSION, args, cwd: io.cwd, tty: { stdin: io.stdinIsTTY, stdout: io.stdoutIsTTY, stderr: io.stderrIsTTY }, env }
    c.write(JSON.stringify(req) + '\n')
    if (opts.stdin) {
      io.stdin.on('data', (d: Buffer | string) => c.write(d))
      io.stdin.on('end', () => c.end())
      io.stdin.resume?.()
    } else c.end()
  })
}
