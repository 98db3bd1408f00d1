// Finding a node by its id alone, through the Hyperswarm DHT (hyperdht): `serve --dht` announces
// the node's key; a peer added without an address is dialled by key, hole-punched through NATs.
// hyperdht's connections are the same secret-stream (Noise, the node keys), so both ends prove
// their ids exactly as over TCP. The bootstrap list is configurable ($POLYKEY_DHT_BOOTSTRAP or
// --bootstrap: HOST:PORT,HOST:PORT); tests run hyperdht's testnet on loopback.
import DHT from 'hyperdht'
import type { SigningKeyPair } from '../crypto/index.js'
import { PolykeyError } from '../errors.js'
import type { DuplexLike } from './channel.js'
import { parseAddress } from './peers.js'
import type { NodeStream } from './transport.js'

export interface DhtOptions {
  /** null: hyperdht's public bootstrap nodes */
  bootstrap: { host: string; port: number }[] | null
}

export const DHT_CONNECT_TIMEOUT_MS = 20_000

export function parseBootstrap(s: string | undefined): DhtOptions {
  if (!s || s.trim() === '') return { bootstrap: null }
  return { bootstrap: s.split(',').map((x) => parseAddress(x.trim())) }
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1'])

function newDht(o: DhtOptions): DHT {
  // A loopback-only swarm (a local testnet) is only reachable from a socket bound to loopback.
  const local = !!o.bootstrap?.length && o.bootstrap.every((b) => LOOPBACK.has(b.host))
  // On a loopback testnet every node can reach every other: say so. Left to hyperdht's firewall
  // probe, connections between processes here opened and then timed out, most of the time.
  return new DHT({ bootstrap: o.bootstrap ?? undefined, ...(local ? { host: '127.0.0.1', firewalled: false } : {}), ephemeral: true })
}

/** Announce this node on the DHT; connections arrive authenticated. Returns the stop function. */
export async function announce(o: DhtOptions, keys: SigningKeyPair, onStream: (s: DuplexLike, remoteId: string) => void): Promise<() => Promise<void>> {
  const dht = newDht(o)
  const server = dht.createServer(undefined, (conn: NodeStream) => {
    conn.on('error', () => {})
    if (!conn.remotePublicKey) return void conn.destroy()
    onStream(conn, conn.remotePublicKey.toString('hex'))
  })
  try {
    await server.listen({ publicKey: keys.publicKey, secretKey: keys.secretKey })
  } catch (err) {
    await dht.destroy()
    throw new PolykeyError('PEER', `cannot announce on the DHT: ${(err as Error).message}`, { reason: 'dht' }, { cause: err })
  }
  return async () => {
    await server.close()
    await dht.destroy()
  }
}

/** Dial a node by id through the DHT. The stream's close also stops the DHT node. */
export async function connectDht(o: DhtOptions, keys: SigningKeyPair, id: string, label: string, timeoutMs = DHT_CONNECT_TIMEOUT_MS): Promise<NodeStream> {
  const dht = newDht(o)
  const conn = dht.connect(Buffer.from(id, 'hex'), { keyPair: { publicKey: keys.publicKey, secretKey: keys.secretKey } })
  let why = 'not found'
  conn.on('error', (err: Error & { code?: string }) => (why = err.code ?? err.message))
  const timer = setTimeout(() => ((why = `not found within ${Math.round(timeoutMs / 1000)} s`), conn.destroy()), timeoutMs)
  const ok = await conn.opened
  clearTimeout(timer)
  if (!ok || conn.remotePublicKey?.toString('hex') !== id) {
    conn.destroy()
    await dht.destroy()
    throw new PolykeyError(
      'PEER',
      `cannot reach ${label} through the DHT: ${why}`,
      { reason: 'unreachable' },
      {
        hint: `is 'polykey serve --dht' running there? Or give the peer an address: 'polykey peer add ALIAS NODE_ID HOST:PORT'`,
      },
    )
  }
  conn.on('close', () => void dht.destroy())
  return conn
}
