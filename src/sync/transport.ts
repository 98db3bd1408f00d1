// Streams between nodes: TCP carrying @hyperswarm/secret-stream (Noise IK over the nodes'
// Ed25519 identity keys, then libsodium secretstream). IK means the dialling node must already
// know the node id it wants, and only the holder of that key can complete the handshake; the
// dialler's own id travels encrypted to it. Each end ends up knowing the other's id for sure.
import net from 'node:net'
import SecretStream from '@hyperswarm/secret-stream'
import type { SigningKeyPair } from '../crypto/index.js'
import { PolykeyError } from '../errors.js'
import { type Address, formatAddress } from './peers.js'

export type NodeStream = InstanceType<typeof SecretStream>

export const HANDSHAKE_TIMEOUT_MS = 10_000
/** A connection that has not proved who it is gets this long (a real handshake takes milliseconds). */
export const SERVER_HANDSHAKE_MS = 3_000
/** Connections that have proved who they are. */
export const MAX_CONNECTIONS = 64
/** Connections still in their handshake, per remote address and in all: an idle crowd from one
 *  place (slowloris) cannot take the room other peers need. */
export const MAX_PENDING_PER_ADDRESS = 8
export const MAX_PENDING = 128
/** What a full server says, in the clear, instead of a handshake: the client reports "busy", not an impostor. */
export const BUSY = Buffer.from('POLYKEY-BUSY\n')

export interface Listener {
  address: Address
  close(): Promise<void>
}

/** Accept connections; `onStream` gets each one once its handshake is done, with the remote id. */
export function listenTcp(addr: Address, keys: SigningKeyPair, onStream: (s: NodeStream, remoteId: string) => void, onError: (msg: string) => void): Promise<Listener> {
  const sockets = new Set<net.Socket>()
  const pending = new Map<string, number>()
  let pendingTotal = 0
  let authenticated = 0
  const server = net.createServer((sock) => {
    sockets.add(sock)
    sock.setNoDelay(true)
    sock.on('close', () => sockets.delete(sock))
    sock.on('error', () => {})
    const from = sock.remoteAddress ?? '?'
    if ((pending.get(from) ?? 0) >= MAX_PENDING_PER_ADDRESS || pendingTotal >= MAX_PENDING || authenticated >= MAX_CONNECTIONS) {
      sock.end(BUSY)
      setTimeout(() => sock.destroy(), 1000).unref()
      return
    }
    pending.set(from, (pending.get(from) ?? 0) + 1)
    pendingTotal++
    let counted = true
    const settle = () => {
      if (!counted) return
      counted = false
      pendingTotal--
      const n = (pending.get(from) ?? 1) - 1
      if (n > 0) pending.set(from, n)
      else pending.delete(from)
    }
    sock.on('close', settle)
    const s = new SecretStream(false, sock, { keyPair: keys, pattern: 'IK' })
    s.on('error', () => {})
    const timer = setTimeout(() => s.destroy(), SERVER_HANDSHAKE_MS)
    void s.opened.then((ok) => {
      clearTimeout(timer)
      settle()
      if (!ok || !s.remotePublicKey) {
        onError(`a connection from ${from} failed the handshake`)
        s.destroy()
        return
      }
      authenticated++
      sock.once('close', () => authenticated--)
      onStream(s, s.remotePublicKey.toString('hex'))
    })
  })
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new PolykeyError(err.code === 'EADDRINUSE' ? 'EXISTS' : 'IO', `cannot listen on ${formatAddress(addr)}: ${err.code ?? err.message}`)),
    )
    server.listen(addr.port, addr.host, () => {
      const a = server.address() as net.AddressInfo
      resolve({
        address: { host: a.address, port: a.port },
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy()
            server.close(() => done())
          }),
      })
    })
  })
}

/** Dial a node at an address and prove both ids; fails unless the other end holds `expectedId`. */
export async function connectTcp(addr: Address, keys: SigningKeyPair, expectedId: string, label: string, timeoutMs = HANDSHAKE_TIMEOUT_MS, attempt = 0): Promise<NodeStream> {
  const where = formatAddress(addr)
  // No Nagle: a request is a few small frames (hello, then fetch), and waiting for the ACK of
  // the first (delayed up to 40 ms by the other end) before sending the next costs a round trip.
  const sock = net.connect({ host: addr.host, port: addr.port, noDelay: true })
  sock.on('error', () => {})
  const connected = await new Promise<Error | null>((resolve) => {
    const timer = setTimeout(() => resolve(new Error('timed out')), timeoutMs)
    sock.once('connect', () => (clearTimeout(timer), resolve(null)))
    sock.once('error', (err) => (clearTimeout(timer), resolve(err)))
  })
  if (connected) {
    sock.destroy()
    const code = (connected as NodeJS.ErrnoException).code ?? connected.message
    throw new PolykeyError(
      'PEER',
      `cannot reach ${label} at ${where}: ${code}`,
      { reason: 'unreachable' },
      { hint: code === 'ECONNREFUSED' ? `is 'polykey serve' running there?` : undefined },
    )
  }
  try {
    return await secureStream(sock, keys, expectedId, `${label} at ${where}`, timeoutMs)
  } catch (err) {
    // A busy server is full of connections that have not proved who they are; they are cut after
    // SERVER_HANDSHAKE_MS, so asking again shortly after usually finds room.
    if (err instanceof PolykeyError && err.data.reason === 'busy' && attempt < 3) {
      await new Promise((r) => setTimeout(r, 300 * 2 ** attempt))
      return connectTcp(addr, keys, expectedId, label, timeoutMs, attempt + 1)
    }
    throw err
  }
}

/** Run the initiator side of the handshake over any raw duplex (TCP socket, test pipe). */
export async function secureStream(raw: net.Socket, keys: SigningKeyPair, expectedId: string, label: string, timeoutMs = HANDSHAKE_TIMEOUT_MS): Promise<NodeStream> {
  let busy = false
  let first = true
  raw.on('data', (d: Buffer) => {
    if (first && d.subarray(0, BUSY.length).equals(BUSY)) busy = true
    first = false
  })
  const s = new SecretStream(true, raw, { keyPair: keys, remotePublicKey: Buffer.from(expectedId, 'hex'), pattern: 'IK' })
  let why = 'the handshake failed'
  s.on('error', (err: Error) => (why = err.message))
  const timer = setTimeout(() => ((why = 'the handshake timed out'), s.destroy()), timeoutMs)
  const ok = await s.opened
  clearTimeout(timer)
  if (busy) {
    s.destroy()
    throw new PolykeyError('PEER', `${label} is busy (too many connections right now); nothing was exchanged`, { reason: 'busy' }, { hint: 'try again in a moment' })
  }
  if (!ok || !s.remotePublicKey || s.remotePublicKey.toString('hex') !== expectedId) {
    s.destroy()
    throw new PolykeyError(
      'PEER',
      `${label} did not prove it is node ${expectedId.slice(0, 16)}… (${why}); nothing was exchanged`,
      { reason: 'wrong-key' },
      {
        hint: 'check the node id and address of this peer',
      },
    )
  }
  return s
}
