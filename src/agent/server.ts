// The mounted process's control socket: runs CLI commands against the mounted node, so every
// command behaves the same mounted or not and the passphrase is asked once.
import fs from 'node:fs'
import net from 'node:net'
import { Readable, Writable } from 'node:stream'
import { FORWARDED_ENV, FRAME_EXIT, FRAME_PING, FRAME_STDERR, FRAME_STDOUT, MAX_REQUEST_LINE, frame, type Request } from './protocol.js'
import { type AgentRecord, ensureRuntimeDir, recordPath, socketPath } from './paths.js'
import type { HostedVault } from '../cli/context.js'

export interface AgentOptions {
  nodePath: string
  mountpoint: string
  hosted: HostedVault
  /** the `unmount` command arrived */
  onUnmount: () => Promise<void>
  log: (msg: string) => void
}

export class AgentServer {
  private server: net.Server | null = null
  private sock = ''
  private record = ''
  private clients = new Set<net.Socket>()
  /** every open connection, including the one being answered while we shut down */
  private live = new Set<net.Socket>()

  async start(o: AgentOptions): Promise<void> {
    ensureRuntimeDir()
    this.sock = socketPath(o.nodePath)
    this.record = recordPath(o.nodePath)
    fs.rmSync(this.sock, { force: true }) // a stale socket from a killed mount
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
    const rec: AgentRecord = { node: o.nodePath, mountpoint: o.mountpoint, pid: process.pid, socket: this.sock }
    fs.writeFileSync(this.record, JSON.stringify(rec), { mode: 0o600 })
  }

  private serve(c: net.Socket, o: AgentOptions): void {
    let head = Buffer.alloc(0)
    let req: Request | null = null
    const stdin: Buffer[] = []
    this.clients.add(c)
    this.live.add(c)
    c.on('close', () => {
      this.clients.delete(c)
      this.live.delete(c)
    })
    c.on('error', () => {})
    c.on('data', (d: Buffer) => {
      if (req) return void stdin.push(d)
      head = Buffer.concat([head, d])
      const nl = head.indexOf(0x0a)
      if (nl < 0) {
        if (head.length > MAX_REQUEST_LINE) c.destroy()
        return
      }
      try {
        const parsed = JSON.parse(head.subarray(0, nl).toString()) as Request
        if (!Array.isArray(parsed.args) || !parsed.args.every((a) => typeof a === 'string') || typeof parsed.cwd !== 'string') throw new Error('bad request')
        req = parsed
      } catch {
        c.destroy()
        return
      }
      if (nl + 1 < head.length) stdin.push(head.subarray(nl + 1))
    })
    c.on('end', () => {
      if (!req) return void c.destroy()
      void this.run(c, req, Buffer.concat(stdin), o)
    })
  }

  private async run(c: net.Socket, req: Request, stdin: Buffer, o: AgentOptions): Promise<void> {
    const send = (type: number) => new Writable({ write: (chunk: Buffer, _e, cb) => (c.write(frame(type, Buffer.from(chunk))) ? cb() : c.once('drain', () => cb())) })
    const exit = (code: number) => {
      const b = Buffer.alloc(4)
      b.writeInt32BE(code, 0)
      c.end(frame(FRAME_EXIT, b))
    }
    if (req.args[0] === 'unmount') {
      this.clients.delete(c) // stop() must not cut the answer to this very request
      await o.onUnmount()
      return exit(0)
    }
    const { main } = await import('../cli/main.js')
    // A long-running command (serve) stops when its caller hangs up.
    const hangup = new AbortController()
    c.once('close', () => hangup.abort())
    const ping = setInterval(() => c.write(frame(FRAME_PING, Buffer.alloc(0))), 1000)
    const env: NodeJS.ProcessEnv = { POLYKEY_NODE: o.nodePath }
    for (const k of FORWARDED_ENV) if (typeof req.env?.[k] === 'string') env[k] = req.env[k]
    const code = await main(
      req.args,
      { stdin: Readable.from([stdin]), stdout: send(FRAME_STDOUT), stderr: send(FRAME_STDERR), stdinIsTTY: false, stdoutIsTTY: false, env, cwd: req.cwd, signal: hangup.signal },
      o.hosted,
    )
    clearInterval(ping)
    stdin.fill(0)
    exit(code)
  }

  /** Resolves once no client is connected (the one that asked to unmount has had its answer). */
  async drained(timeoutMs = 2000): Promise<void> {
    const end = Date.now() + timeoutMs
    while (this.live.size > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20))
  }

  stop(): void {
    this.server?.close()
    for (const c of this.clients) c.destroy() // ends what they asked for (a serve), so the process can exit
    fs.rmSync(this.sock, { force: true })
    fs.rmSync(this.record, { force: true })
  }
}
