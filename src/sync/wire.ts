// The sync protocol's messages and their framing (docs/SHARING.md §Wire protocol): pure bytes in,
// bytes out. Every frame is
//
//   length (u32 BE, counts type + payload) | type (u8) | payload
//
// type 1 is a message (UTF-8 JSON, at most MAX_MESSAGE bytes), type 2 a chunk of packfile data
// (at most MAX_CHUNK bytes) that belongs to the last `pack` or `push` message. A frame over its
// limit, an unknown type or a message that does not match its schema is a protocol violation:
// the connection is cut and nothing is applied.
import { PolykeyError } from '../errors.js'
import { nameProblem } from '../vault/names.js'

export const PROTOCOL_VERSION = 1
export const FRAME_MESSAGE = 1
export const FRAME_DATA = 2
export const HEADER_BYTES = 5
export const MAX_MESSAGE = 64 * 1024
export const MAX_CHUNK = 1024 * 1024
/** Default ceiling for one packfile (a whole repository's history). */
export const MAX_PACK = 256 * 1024 * 1024
/** haves a client may offer in one fetch (it picks them exponentially spaced). */
export const MAX_HAVES = 256
export const MAX_TAG_MEMBERS = 10_000
export const MAX_PEERS = 10_000
const isNodeId = (x: unknown): x is string => typeof x === 'string' && /^[0-9a-f]{64}$/.test(x)

export type Message =
  | { t: 'hello'; version: number }
  | { t: 'list' }
  | { t: 'repos'; repos: { name: string; head: string | null }[] }
  | { t: 'fetch'; repo: string; haves: string[] }
  | { t: 'pack'; repo: string; head: string | null; bytes: number }
  | { t: 'refs'; repo: string }
  | { t: 'head'; repo: string; head: string | null }
  | { t: 'push'; repo: string; old: string | null; new: string | null; bytes: number }
  | { t: 'tags'; repo: string; members: { tag: string; name: string }[] }
  /** push --all: the sender's peers and access lists, for a node that has it as owner (a backup) */
  | { t: 'peers'; peers: { alias: string; id: string; address?: string; owner: boolean }[]; shares: Record<string, string[]> }
  | { t: 'ok' }
  | { t: 'error'; code: string; message: string }

export type Frame = { type: typeof FRAME_MESSAGE; message: Message } | { type: typeof FRAME_DATA; data: Buffer }

/** The one error a peer's bad bytes produce (the message reads after the peer's name: "sent …"); `data.reason` is stable. */
export function protocolError(reason: 'oversize' | 'bad-frame' | 'bad-message', message: string, data: Record<string, unknown> = {}): PolykeyError {
  return new PolykeyError('PEER', message, { reason, ...data })
}

export function encodeMessage(m: Message): Buffer {
  const payload = Buffer.from(JSON.stringify(m))
  if (payload.length > MAX_MESSAGE) throw new PolykeyError('INTERNAL', `message too large to send (${payload.length} bytes)`)
  return frame(FRAME_MESSAGE, payload)
}

export function encodeData(chunk: Buffer): Buffer {
  if (chunk.length > MAX_CHUNK) throw new PolykeyError('INTERNAL', 'data chunk too large')
  return frame(FRAME_DATA, chunk)
}

function frame(type: number, payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(HEADER_BYTES + payload.length)
  out.writeUInt32BE(payload.length + 1, 0)
  out.writeUInt8(type, 4)
  payload.copy(out, HEADER_BYTES)
  return out
}

/**
 * Incremental frame decoder: push chunks of any size, get whole frames. Throws (and stays
 * broken) on the first violation, before buffering an oversize frame's body.
 */
export class FrameDecoder {
  private parts: Buffer[] = []
  private buffered = 0
  private failed: PolykeyError | null = null

  push(chunk: Buffer): Frame[] {
    if (this.failed) throw this.failed
    this.parts.push(chunk)
    this.buffered += chunk.length
    const out: Frame[] = []
    try {
      while (this.buffered >= HEADER_BYTES) {
        const head = this.peek(HEADER_BYTES)
        const len = head.readUInt32BE(0)
        const type = head.readUInt8(4)
        if (len < 1) throw protocolError('bad-frame', 'sent an empty frame')
        const limit = type === FRAME_MESSAGE ? MAX_MESSAGE : type === FRAME_DATA ? MAX_CHUNK : -1
        if (limit < 0) throw protocolError('bad-frame', `sent a frame of unknown type ${type}`)
        if (len - 1 > limit) throw protocolError('oversize', `sent an oversize message (${len - 1} bytes; the limit is ${limit})`, { bytes: len - 1, limit })
        if (this.buffered < 4 + len) break
        const body = this.take(4 + len).subarray(HEADER_BYTES)
        out.push(type === FRAME_MESSAGE ? { type, message: decodeMessage(body) } : { type: FRAME_DATA, data: body })
      }
    } catch (err) {
      this.failed = err as PolykeyError
      this.parts = []
      throw err
    }
    return out
  }

  private peek(n: number): Buffer {
    if (this.parts[0].length < n) this.parts = [Buffer.concat(this.parts)]
    return this.parts[0].subarray(0, n)
  }

  private take(n: number): Buffer {
    const all = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts)
    const rest = all.subarray(n)
    this.parts = rest.length ? [rest] : []
    this.buffered = rest.length
    return all.subarray(0, n)
  }
}

// ------------------------------------------------------------------------------ message schemas
const OID = /^[0-9a-f]{40}$/

const isOid = (v: unknown): v is string => typeof v === 'string' && OID.test(v)
const isOidOrNull = (v: unknown) => v === null || isOid(v)
const isName = (v: unknown): v is string => typeof v === 'string' && nameProblem(v) === null && v !== '.git'
const isCount = (v: unknown, max: number) => Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) <= max
const isText = (v: unknown, max: number) => typeof v === 'string' && v.length <= max
const obj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** Parse and check one message; anything else is a bad message. */
export function decodeMessage(payload: Buffer): Message {
  let m: unknown
  try {
    m = JSON.parse(payload.toString('utf8'))
  } catch {
    throw protocolError('bad-message', 'sent a message that is not JSON')
  }
  if (!obj(m) || typeof m.t !== 'string') throw protocolError('bad-message', 'sent a message without a type')
  if (!validMessage(m)) throw protocolError('bad-message', `sent a malformed '${m.t.slice(0, 20)}' message`)
  return m as unknown as Message
}

function validMessage(m: Record<string, unknown>): boolean {
  switch (m.t) {
    case 'hello':
      return isCount(m.version, 1000)
    case 'list':
    case 'ok':
      return true
    case 'repos':
      return Array.isArray(m.repos) && m.repos.length <= 100_000 && m.repos.every((r) => obj(r) && isName(r.name) && isOidOrNull(r.head))
    case 'fetch':
      return isName(m.repo) && Array.isArray(m.haves) && m.haves.length <= MAX_HAVES && m.haves.every(isOid)
    case 'pack':
      return isName(m.repo) && isOidOrNull(m.head) && isCount(m.bytes, Number.MAX_SAFE_INTEGER)
    case 'refs':
      return isName(m.repo)
    case 'head':
      return isName(m.repo) && isOidOrNull(m.head)
    case 'push':
      return isName(m.repo) && isOidOrNull(m.old) && isOidOrNull(m.new) && isCount(m.bytes, Number.MAX_SAFE_INTEGER)
    case 'tags':
      return isName(m.repo) && Array.isArray(m.members) && m.members.length <= MAX_TAG_MEMBERS && m.members.every((x) => obj(x) && isName(x.tag) && isName(x.name))
    case 'peers':
      return (
        Array.isArray(m.peers) &&
        m.peers.length <= MAX_PEERS &&
        m.peers.every((p) => obj(p) && isName(p.alias) && isNodeId(p.id) && typeof p.owner === 'boolean' && (p.address === undefined || isText(p.address, 300))) &&
        obj(m.shares) &&
        Object.keys(m.shares).length <= 100_000 &&
        Object.entries(m.shares).every(([repo, ids]) => isName(repo) && Array.isArray(ids) && ids.length <= MAX_PEERS && ids.every(isNodeId))
      )
    case 'error':
      return isText(m.code, 40) && isText(m.message, 2000)
    default:
      return false
  }
}
