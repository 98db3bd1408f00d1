// A conversation over one authenticated stream (secret-stream over TCP, a hyperdht connection,
// or an in-memory pair in tests): framed messages in order, packfile bytes after their header,
// an idle timeout, and a clear error for whatever ends it early.
import { PolykeyError } from '../errors.js'
import { FRAME_DATA, FRAME_MESSAGE, FrameDecoder, MAX_CHUNK, type Frame, type Message, encodeData, encodeMessage, protocolError } from './wire.js'

/** The parts of a Node or streamx duplex we use. */
export interface DuplexLike {
  write(chunk: Buffer): boolean
  end(): unknown
  destroy(err?: Error): unknown
  // Listener arguments differ by event (data: Buffer, error: Error, close: none).
  on(event: string, fn: (arg: Buffer & Error) => void): unknown
  once(event: string, fn: (arg: Buffer & Error) => void): unknown
  removeListener(event: string, fn: (arg: Buffer & Error) => void): unknown
}

/** Error codes a peer may send that we pass on as they are; anything else reads as PEER. */
const PASSED_CODES = new Set(['REFUSED', 'NOT_FOUND', 'CONFLICT', 'EXISTS', 'LOCKED'])

/** Peer-supplied text goes to a terminal: no control characters (escape sequences). */
export function printable(s: string, max = 300): string {
  const clean = s.replace(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, '?')
  return clean.length > max ? clean.slice(0, max) + '…' : clean
}

export class Channel {
  private decoder = new FrameDecoder()
  private frames: Frame[] = []
  private wake: (() => void) | null = null
  private failure: PolykeyError | null = null
  private ended = false
  private closedNow = false
  private onClosed: (() => void)[] = []
  bytesIn = 0
  bytesOut = 0

  constructor(
    readonly stream: DuplexLike,
    /** how the other end is named in errors: "peer bob", "node 3f2a…" */
    readonly label: string,
    readonly timeoutMs = 30_000,
  ) {
    stream.on('data', (chunk: Buffer) => {
      this.bytesIn += chunk.length
      if (this.failure) return
      try {
        for (const f of this.decoder.push(chunk)) this.frames.push(f)
      } catch (err) {
        const e = err as PolykeyError
        this.abort(new PolykeyError('PEER', `${label} ${e.message}`, e.data))
      }
      this.notify()
    })
    stream.on('end', () => {
      this.ended = true
      this.notify()
    })
    stream.on('close', () => {
      this.ended = true
      this.closedNow = true
      for (const fn of this.onClosed.splice(0)) fn()
      this.notify()
    })
    stream.on('error', (err: Error) => {
      this.fail(new PolykeyError('PEER', `connection to ${label} failed: ${printable(err.message)}`, { reason: 'io' }, { cause: err }))
      this.notify()
    })
  }

  private fail(err: PolykeyError): void {
    this.failure ??= err
  }

  private notify(): void {
    const w = this.wake
    this.wake = null
    w?.()
  }

  /** The next frame; rejects on a protocol violation, a timeout or the end of the stream. */
  async next(): Promise<Frame> {
    for (;;) {
      if (this.failure) throw this.failure
      const f = this.frames.shift()
      if (f) return f
      if (this.ended) throw new PolykeyError('PEER', `${this.label} closed the connection`, { reason: 'closed' })
      let timer: NodeJS.Timeout | undefined
      const timedOut = await new Promise<boolean>((resolve) => {
        this.wake = () => resolve(false)
        timer = setTimeout(() => resolve(true), this.timeoutMs)
      })
      clearTimeout(timer)
      if (timedOut) {
        this.fail(new PolykeyError('PEER', `${this.label} did not answer within ${Math.round(this.timeoutMs / 1000)} s`, { reason: 'timeout' }))
        this.stream.destroy()
      }
    }
  }

  /** Hold on to a message; an `error` from the peer becomes our error. */
  async recv(): Promise<Message> {
    const f = await this.next()
    if (f.type !== FRAME_MESSAGE) throw this.abort(protocolError('bad-message', `${this.label} sent data where a message was expected`))
    const m = f.message
    if (m.t === 'error') {
      const code = PASSED_CODES.has(m.code) ? m.code : 'PEER'
      throw new PolykeyError(code as 'PEER', `${this.label}: ${printable(m.message)}`, { remote: true, remoteCode: printable(m.code, 40) })
    }
    return m
  }

  async expect<T extends Message['t']>(t: T): Promise<Extract<Message, { t: T }>> {
    const m = await this.recv()
    if (m.t !== t) throw this.abort(protocolError('bad-message', `${this.label} answered '${m.t}' where '${t}' was expected`))
    return m as Extract<Message, { t: T }>
  }

  /** Exactly `bytes` bytes of data frames (a packfile), refused above `max`. */
  async recvData(bytes: number, max: number): Promise<Buffer> {
    if (bytes > max) throw this.abort(protocolError('oversize', `${this.label} announced a ${bytes}-byte pack; the limit is ${max}`, { bytes, limit: max }))
    const out = Buffer.allocUnsafe(bytes)
    let got = 0
    while (got < bytes) {
      const f = await this.next()
      if (f.type !== FRAME_DATA) throw this.abort(protocolError('bad-message', `${this.label} sent a message in the middle of a pack`))
      if (got + f.data.length > bytes) throw this.abort(protocolError('oversize', `${this.label} sent more pack data than it announced`))
      f.data.copy(out, got)
      got += f.data.length
    }
    return out
  }

  send(m: Message): void {
    this.write(encodeMessage(m))
  }

  /** A message, then `data` in chunks, respecting backpressure. */
  async sendWithData(m: Message, data: Buffer): Promise<void> {
    this.send(m)
    for (let off = 0; off < data.length; off += MAX_CHUNK) {
      if (!this.write(encodeData(data.subarray(off, off + MAX_CHUNK)))) await this.drained()
    }
  }

  private write(b: Buffer): boolean {
    if (this.failure) throw this.failure
    this.bytesOut += b.length
    return this.stream.write(b)
  }

  private drained(): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = () => {
        this.stream.removeListener('drain', done)
        this.stream.removeListener('close', closed)
        resolve()
      }
      const closed = () => {
        this.stream.removeListener('drain', done)
        reject(this.failure ?? new PolykeyError('PEER', `${this.label} closed the connection`, { reason: 'closed' }))
      }
      this.stream.once('drain', done)
      this.stream.once('close', closed)
    })
  }

  /** Tell the peer why (best effort), cut the connection, and give back the error to throw. */
  abort(err: PolykeyError): PolykeyError {
    this.fail(err)
    try {
      this.stream.write(encodeMessage({ t: 'error', code: err.code, message: err.message.slice(0, 1500) }))
      this.stream.end()
    } catch {
      /* already gone */
    }
    setTimeout(() => this.stream.destroy(), 200).unref()
    return err
  }

  /** Send an error answer but keep the connection (the request was refused, not the peer). */
  refuse(err: PolykeyError): void {
    try {
      this.send({ t: 'error', code: err.code, message: err.message.slice(0, 1500) })
    } catch {
      /* gone */
    }
  }

  close(): void {
    try {
      this.stream.end()
    } catch {
      /* gone */
    }
  }

  /** Resolves once the stream has closed (both ends ended), or after `maxMs`. */
  whenClosed(maxMs: number): Promise<void> {
    if (this.closedNow) return Promise.resolve()
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, maxMs)
      this.onClosed.push(() => (clearTimeout(timer), resolve()))
    })
  }

  destroy(): void {
    this.stream.destroy()
  }
}
