// The control socket's wire format (pure; docs/ARCHITECTURE.md "The agent protocol"). The
// client sends one JSON line — protocol version, the command's arguments, working folder, the
// caller's terminal state and a few variables — then its stdin (only for a command that reads
// it), then half-closes. The agent answers with frames: type(1) length(4, BE) payload;
// 1 = stdout bytes, 2 = stderr bytes, 3 = exit code (int32 BE), 4 = ping (ignored).
export const FRAME_STDOUT = 1
export const FRAME_STDERR = 2
export const FRAME_EXIT = 3
/** sent every second while a command runs, so a caller that went away is noticed; clients ignore it */
export const FRAME_PING = 4
export const MAX_REQUEST_LINE = 1 << 20
/** Largest frame either side accepts (a whole `export tar` arrives in many frames). */
export const MAX_FRAME = 16 << 20
/** Both sides check it: an agent answers a request of another version with exit 2 and a line saying so. */
export const PROTOCOL_VERSION = 2

export interface Request {
  v: number
  args: string[]
  cwd: string
  /** the caller's terminal state: the agent runs the command as if its output went there */
  tty: { stdin: boolean; stdout: boolean; stderr: boolean }
  /** the few variables a command needs from the caller's environment (FORWARDED_ENV) */
  env?: Record<string, string>
}

/** A request line as the agent receives it: checked field by field, null when malformed. */
export function parseRequest(line: Buffer): Request | null {
  let r: Partial<Request>
  try {
    r = JSON.parse(line.toString()) as Partial<Request>
  } catch {
    return null
  }
  if (typeof r !== 'object' || r === null) return null
  if (typeof r.v !== 'number' || !Array.isArray(r.args) || !r.args.every((a) => typeof a === 'string') || typeof r.cwd !== 'string') return null
  const t = r.tty as Request['tty'] | undefined
  const tty = { stdin: t?.stdin === true, stdout: t?.stdout === true, stderr: t?.stderr === true }
  const env: Record<string, string> = {}
  if (r.env && typeof r.env === 'object') for (const k of FORWARDED_ENV) if (typeof r.env[k] === 'string') env[k] = r.env[k]
  return { v: r.v, args: r.args, cwd: r.cwd, tty, env }
}

/** Passed from the CLI to the agent: a node-file peer's passphrase, sync settings. */
export const FORWARDED_ENV = [
  'POLYKEY_TARGET_PASSPHRASE',
  'POLYKEY_DHT_BOOTSTRAP',
  'POLYKEY_SYNC_TIMEOUT',
  'POLYKEY_KEYBASE_URL',
  'POLYKEY_GITHUB_URL',
  'POLYKEY_GITHUB_API_URL',
  'POLYKEY_IDENTITY_TIMEOUT',
  'COLUMNS',
] as const

export function frame(type: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(5)
  h.writeUInt8(type, 0)
  h.writeUInt32BE(payload.length, 1)
  return Buffer.concat([h, payload])
}

/** Incremental frame parser (feed it chunks of any size); throws on a frame above MAX_FRAME. */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0)
  constructor(private readonly onFrame: (type: number, payload: Buffer) => void) {}
  push(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk
    while (this.buf.length >= 5) {
      const len = this.buf.readUInt32BE(1)
      if (len > MAX_FRAME) throw new RangeError(`frame of ${len} bytes`)
      if (this.buf.length < 5 + len) break
      const type = this.buf.readUInt8(0)
      const payload = this.buf.subarray(5, 5 + len)
      this.buf = this.buf.subarray(5 + len)
      this.onFrame(type, payload)
    }
  }
}
