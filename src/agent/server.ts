// The listening side of a node's control socket, in the process that holds the node unlocked
// (a mount, or `polykey unlock`). It knows no command: each request is handed, with IO made of
// the connection's frames and the caller's terminal state, to the runner its owner injected.
import fs from 'node:fs'
import net from 'node:net'
import { Readable, Writable } from 'node:stream'
import type { IO } from './io.js'
import { FRAME_EXIT, FRAME_PING, FRAME_STDERR, FRAME_STDOUT, MAX_FRAME, MAX_REQUEST_LINE, PROTOCOL_VERSION, frame, parseRequest, type Request } from './protocol.js'
import { type AgentRecord, agentPaths, ensureAgentDir } from './paths.js'
import { PolykeyError } from '../errors.js'
import { peerCredentials } from '../crypto/harden.js'

/** What a runner may ask of the connection it answers. */
export interface Connection {
  /** keep this connection open through stop(): it is the one that asked the agent to stop */
  outliveStop(): void
  /** the connected process (SO_PEERCRED), when the kernel said: the read audit names it */
  peerPid?: number
}

export type Runner = (args: string[], io: IO, conn: Connection) => Promise<number>

export interface AgentOptions {
  nodePath: string
  record: Omit<AgentRecord, 'socket' | 'pid' | 'node'>
  run: Runner
  log: (msg: string) => void
}

/** The largest stdin a forwarded command may send (a secret value, a bundle to unseal). */
const MAX_STDIN = 256 << 20

export class AgentServer {
  private server: net.Server | null = null
  private sock = ''
  private recordFile = ''
  private rec: AgentRecord | null = null
  /** connections stop() ends (a `serve` asked through the agent) */
  private clients = new Set<net.Socket>()
  /** every open connection, including the one being answered while we shut down */
  private live = new Set<net.Socket>()
  /** the last time a command arrived (for an idle timeout) */
  lastUsed = Date.now()
  /** commands running now */
  busy = 0

  async start(o: AgentOptions): Promise<void> {
    ensureAgentDir()
    const p = agentPaths(o.nodePath)
    if (!p) throw new PolykeyError('NOT_FOUND', `no node file at ${o.nodePath}`)
    this.sock = p.socket
    this.recordFile = p.record
    fs.rmSync(this.sock, { force: true }) // a stale socket from a killed agent (the node lock is ours)
    const server = net.createServer({ allowHalfOpen: true }, (c) => this.serve(c, o))
    const old = process.umask(0o177) // the socket is created 0600
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen(this.sock, () => resolve())
      })
    } finally {
      process.umask(old)
    }
    fs.chmodSync(this.sock, 0o600)
    this.server = server
    this.rec = { node: o.nodePath, pid: process.pid, socket: this.sock, ...o.record }
    this.writeRecord()
  }

  /** Change what the record says (an unlock agent that gets mounted, a new idle deadline). */
  update(fields: Partial<AgentRecord>): void {
    if (!this.rec || this.stopped) return
    this.rec = { ...this.rec, ...fields }
    this.writeRecord()
  }

  private writeRecord(): void {
    const tmp = `${this.recordFile}.${process.pid}.tmp`
    fs.writeFileSync(tmp, JSON.stringify(this.rec), { mode: 0o600 })
    fs.renameSync(tmp, this.recordFile)
  }

  private serve(c: net.Socket, o: AgentOptions): void {
    // The folder and the socket are the user's alone; the kernel's word on who connected is the
    // last check (a process of another user that got a descriptor some other way).
    const cred = peerCredentials(c)
    const me = process.getuid?.() ?? 0
    if (cred && cred.uid !== me) {
      o.log(`refused a control connection from uid ${cred.uid} (pid ${cred.pid})`)
      c.destroy()
      return
    }
    let head = Buffer.alloc(0)
    let req: Request | null = null
    const stdin: Buffer[] = []
    let stdinBytes = 0
    this.clients.add(c)
    this.live.add(c)
    c.on('close', () => {
      this.clients.delete(c)
      this.live.delete(c)
    })
    c.on('error', () => {})
    c.on('data', (d: Buffer) => {
      if (req) {
        stdinBytes += d.length
        if (stdinBytes > MAX_STDIN) return void c.destroy()
        return void stdin.push(d)
      }
      head = Buffer.concat([head, d])
      const nl = head.indexOf(0x0a)
      if (nl < 0) {
        if (head.length > MAX_REQUEST_LINE) c.destroy()
        return
      }
      req = parseRequest(head.subarray(0, nl))
      if (!req) return void c.destroy()
      if (nl + 1 < head.length) stdin.push(head.subarray(nl + 1))
    })
    c.on('end', () => {
      if (!req) return void c.destroy()
      const all = Buffer.concat(stdin)
      for (const b of stdin) b.fill(0)
      void this.run(c, req, all, o)
    })
  }

  private async run(c: net.Socket, req: Request, stdin: Buffer, o: AgentOptions): Promise<void> {
    // One frame per write, cut at MAX_FRAME (a clone's pack is one write, and may be larger).
    // A caller that hung up gets nothing more, and the command is not held up by it: waiting for
    // a 'drain' that never comes would leave the command running, and the agent busy, forever.
    const send = (type: number) =>
      new Writable({
        write: (chunk: Buffer, _e, cb) => {
          if (c.destroyed) return cb()
          let ok = true
          for (let o = 0; o === 0 || o < chunk.length; o += MAX_FRAME) ok = c.write(frame(type, chunk.subarray(o, o + MAX_FRAME)))
          if (ok) return cb()
          const done = () => {
            c.off('drain', done)
            c.off('close', done)
            cb()
          }
          c.on('drain', done)
          c.on('close', done)
        },
      })
    const exit = (code: number) => {
      const b = Buffer.alloc(4)
      b.writeInt32BE(code, 0)
      c.end(frame(FRAME_EXIT, b))
    }
    if (req.v !== PROTOCOL_VERSION) {
      c.write(frame(FRAME_STDERR, Buffer.from(`polykey: error: the node's agent speaks protocol ${PROTOCOL_VERSION}, this polykey ${req.v}; unmount or lock the node and retry\n`)))
      return exit(2)
    }
    this.busy++
    this.lastUsed = Date.now()
    // A long-running command (serve) stops when its caller hangs up.
    const hangup = new AbortController()
    c.once('close', () => hangup.abort())
    const ping = setInterval(() => c.write(frame(FRAME_PING, Buffer.alloc(0))), 1000)
    const io: IO = {
      stdin: Readable.from([stdin]),
      stdout: send(FRAME_STDOUT),
      stderr: send(FRAME_STDERR),
      stdinIsTTY: false, // what was on a terminal has been read by the caller already
      stdoutIsTTY: req.tty.stdout,
      stderrIsTTY: req.tty.stderr,
      env: { POLYKEY_NODE: o.nodePath, ...req.env },
      cwd: req.cwd,
      signal: hangup.signal,
    }
    let code: number
    try {
      code = await o.run(req.args, io, { outliveStop: () => this.clients.delete(c), peerPid: peerCredentials(c)?.pid })
    } catch (err) {
      o.log(`a forwarded command failed: ${(err as Error).message}`)
      code = 1
    } finally {
      clearInterval(ping)
      stdin.fill(0)
      this.busy--
      this.lastUsed = Date.now()
    }
    exit(code)
  }

  /** Resolves once no client is connected (the one that asked to stop has had its answer). */
  async drained(timeoutMs = 2000): Promise<void> {
    const end = Date.now() + timeoutMs
    while (this.live.size > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 10))
  }

  private stopped = false

  stop(): void {
    this.stopped = true
    this.server?.close()
    for (const c of this.clients) c.destroy() // ends what they asked for (a serve), so the process can exit
    if (this.sock) fs.rmSync(this.sock, { force: true })
    if (this.recordFile) fs.rmSync(this.recordFile, { force: true })
  }
}
