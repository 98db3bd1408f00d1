// The control socket's wire format (pure). The client sends one JSON line — the command's
// arguments and working folder — then its stdin, then half-closes. The agent answers with
// frames: type(1) length(4, BE) payload; 1 = stdout bytes, 2 = stderr bytes, 3 = exit code.
export const FRAME_STDOUT = 1
export const FRAME_STDERR = 2
export const FRAME_EXIT = 3
/** sent every second while a command runs, so a caller that went away is noticed; clients ignore it */
export const FRAME_PING = 4
export const MAX_REQUEST_LINE = 1 << 20

export interface Request {
  args: string[]
  cwd: string
  /** the few variables a command needs from the caller's environment (FORWARDED_ENV) */
  env?: Record<string, string>
}

/** Passed from the CLI to the agent: a node-file peer's passphrase, sync settings. */
export const FORWARDED_ENV = ['POLYKEY_TARGET_PASSPHRASE', 'POLYKEY_DHT_BOOTSTRAP', 'POLYKEY_SYNC_TIMEOUT', 'POLYKEY_KEYBASE_URL', 'POLYKEY_GITHUB_URL', 'POLYKEY_GITHUB_API_URL', 'POLYKEY_IDENTITY_TIMEOUT'] as const

export function frame(type: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(5)
  h.writeUInt8(type, 0)
  h.writeUInt32BE(payload.length, 1)
  return Buffer.concat([h, payload])
}

/** Incremental frame parser (feed it chunks of any size). */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0)
  constructor(private readonly onFrame: (type: number, payload: Buffer) => void) {}
  push(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk
    while (this.buf.length >= 5) {
      const len = this.buf.readUInt32BE(1)
      if (this.buf.length < 5 + len) break
      const type = this.buf.readUInt8(0)
      const payload = this.buf.subarray(5, 5 + len)
      this.buf = this.buf.subarray(5 + len)
      this.onFrame(type, payload)
    }
  }
}
