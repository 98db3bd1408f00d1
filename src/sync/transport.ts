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
export const MAX_CONNECTIONS = 64

export interface Listener {
  address: Address
  close(): Promise<void>
}

/** Accept connections; `onStream` gets each one once its handshake is done, with the remote id. */
export function listenTcp(addr: Address, keys: SigningKeyPair, onStream: (s: NodeStream, remoteId: string) => void, onError: (msg: string) => void): Promise<Listener> {
  const sockets = new Set<net.Socket>()
  const server = net.createServer((sock) => {
    sockets.add(sock)
    sock.setNoDelay(true)
    sock.on('close', () => sockets.delete(sock))
    sock.on('error', () => {})
    const s = new SecretStream(false, sock, { keyPair: keys, pattern: 'IK' })
    s.on('error', () => {})
    const timer = setTimeout(() => s.destroy(), HANDSHAKE_TIMEOUT_MS)
    void s.opened.then((ok) => {
      clearTimeout(timer)
      if (!ok || !s.remotePublicKey) {
        onError(`a connection from ${sock.remoteAddress} failed the handshake`)
        s.destroy()
        return
      }
      onStream(s, s.remotePublicKey.toString('hex'))
    })
  })
  server.maxConnections = MAX_CONNECTIONS
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
export async function connectTcp(addr: Address, keys: SigningKeyPair, expectedId: string, label: string, timeoutMs = HANDSHAKE_TIMEOUT_MS): Promise<NodeStream> {
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
    throw new PolykeyError('PEER', `cannot reach ${label} at ${where}: ${code}`, { reason: 'unreachable' }, { hint: code === 'ECONNREFUSED' ? `is 'polykey serve' running there?` : undefined })
  }
  return secureStream(sock, keys, expectedId, `${label} at ${where}`, timeoutMs)
}

/** Run the initiator side of the handshake over any raw duplex (TCP socket, test pipe). */
export async function secureStream(raw: net.Socket, keys: SigningKeyPair, expectedId: string, label: string, timeoutMs = HANDSHAKE_TIMEOUT_MS): Promise<NodeStream> {
  const s = new SecretStream(true, raw, { keyPair: keys, remotePublicKey: Buffer.from(expectedId, 'hex'), pattern: 'IK' })
  let why = 'the handshake failed'
  s.on('error', (err: Error) => (why = err.message))
  const timer = setTimeout(() => ((why = 'the handshake timed out'), s.destroy()), timeoutMs)
  const ok = await s.opened
  clearTimeout(timer)
  if (!ok || !s.remotePublicKey || s.remotePublicKey.toString('hex') !== expectedId) {
    s.destroy()
    throw new PolykeyError('PEER', `${label} did not prove it is node ${expectedId.slice(0, 16)}… (${why}); nothing was exchanged`, { reason: 'wrong-key' }, {
      hint: 'check the node id and address of this peer',
    })
  }
  return s
}
