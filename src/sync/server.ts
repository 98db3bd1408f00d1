// `polykey serve`: answer peers. Every request is checked against the access list as it is at
// that moment (so `unshare` takes effect at once): unknown nodes are refused outright, a peer
// sees and pulls only what is shared with it, and only owners push. A peer that breaks the
// protocol or sends a bad pack is cut off and nothing it sent is kept.
import type { Session } from '../vault/session.js'
import { PolykeyError } from '../errors.js'
import { type SigningKeyPair, wipe } from '../crypto/index.js'
import { Channel, type DuplexLike, printable } from './channel.js'
import { type Address, type PeerBook, formatAddress, loadPeers, mayPull, mergeBackup, peerById, savePeers, sharedWith } from './peers.js'
import { identityKeys } from './identity.js'
import { MAX_PACK, PROTOCOL_VERSION, type Message, protocolError } from './wire.js'
import { headOf, packFor, receivePush, setTags } from './repo-ops.js'
import { listenTcp } from './transport.js'
import { type DhtOptions, announce } from './dht.js'

/** How the server reaches the node it serves: the node file per request, or the mount's vault. */
/** How serve reaches the node: the mount's or unlock agent's open node, or the file per request. */
export type ServeAccess = Session

export interface ServeOptions {
  access: ServeAccess
  keys: SigningKeyPair
  log: (msg: string) => void
  timeoutMs?: number
  maxPack?: number
}

const short = (id: string) => `${id.slice(0, 16)}…`

/** One connection, from handshake to close. Resolves when it ends (never rejects). */
export async function serveSession(stream: DuplexLike, remoteId: string, o: ServeOptions): Promise<void> {
  const book0 = await o.access.withVault(false, (v) => loadPeers(v))
  const peer0 = peerById(book0, remoteId)
  const who = peer0 ? `${peer0.alias} (${short(remoteId)})` : `unknown node ${short(remoteId)}`
  const ch = new Channel(stream, who, o.timeoutMs)
  if (!peer0) {
    o.log(`refused ${who}: not a known peer`)
    ch.abort(new PolykeyError('REFUSED', `refused: node ${short(remoteId)} is not one of its peers (its owner can add it with 'polykey peer add')`))
    return
  }
  try {
    const hello = await ch.expect('hello')
    if (hello.version !== PROTOCOL_VERSION) throw ch.abort(protocolError('bad-message', `${who} speaks protocol version ${hello.version}; this node speaks ${PROTOCOL_VERSION}`))
    for (;;) {
      let m: Message
      try {
        m = await ch.recv()
      } catch (err) {
        if (err instanceof PolykeyError && err.data.reason === 'closed') {
          ch.close() // the peer is done: end our side too, so its close need not wait
          return
        }
        throw err
      }
      await answer(ch, m, remoteId, who, o)
    }
  } catch (err) {
    const e = err instanceof PolykeyError ? err : new PolykeyError('INTERNAL', String((err as Error)?.message ?? err))
    o.log(`cut off ${who}: ${printable(e.message)}`)
    ch.abort(e)
  }
}

/** The peer book and the peer as they are now (a peer removed mid-session loses access). */
async function current(o: ServeOptions, id: string): Promise<{ book: PeerBook; owner: boolean }> {
  return o.access.withVault(false, (v) => {
    const book = loadPeers(v)
    const p = peerById(book, id)
    if (!p) throw new PolykeyError('REFUSED', 'this node no longer knows you')
    return { book, owner: p.owner }
  })
}

const notShared = (repo: string) => new PolykeyError('NOT_FOUND', `no repository '${repo}' is shared with you`, { repo })

async function answer(ch: Channel, m: Message, id: string, who: string, o: ServeOptions): Promise<void> {
  switch (m.t) {
    case 'list': {
      const repos = await o.access.withVault(false, (v) => {
        const book = loadPeers(v)
        if (!peerById(book, id)) throw new PolykeyError('REFUSED', 'this node no longer knows you')
        return sharedWith(book, id)
          .filter((r) => v.hasRepo(r))
          .map((name) => ({ name, head: headOf(v, name) }))
      })
      ch.send({ t: 'repos', repos })
      return
    }
    case 'fetch': {
      const r = await refusable(ch, () =>
        o.access.withVault(false, (v) => {
          const book = loadPeers(v)
          if (!peerById(book, id)) throw new PolykeyError('REFUSED', 'this node no longer knows you')
          if (!mayPull(book, m.repo, id) || !v.hasRepo(m.repo)) throw notShared(m.repo)
          return packFor(v, m.repo, m.haves)
        }),
      )
      if (!r) return
      await ch.sendWithData({ t: 'pack', repo: m.repo, head: r.head, bytes: r.pack.length }, r.pack)
      o.log(`${who} fetched ${m.repo} (${r.count} objects, ${r.pack.length} bytes)`)
      return
    }
    case 'refs': {
      const r = await refusable(ch, async () => {
        const { book, owner } = await current(o, id)
        if (!owner && !mayPull(book, m.repo, id)) throw notShared(m.repo)
        return o.access.withVault(false, (v) => headOf(v, m.repo))
      })
      if (r !== undefined) ch.send({ t: 'head', repo: m.repo, head: r })
      return
    }
    case 'push': {
      // Refused before its pack is read: the connection goes, since the pack follows at once.
      const { owner } = await current(o, id)
      if (!owner) throw new PolykeyError('REFUSED', 'only owners of this node may push to it', { reason: 'not-owner' })
      const pack = await ch.recvData(m.bytes, o.maxPack ?? MAX_PACK)
      try {
        const r = await o.access.withVault(true, (v) => receivePush(v, m.repo, m.old, m.new, pack, who))
        ch.send({ t: 'ok' })
        o.log(`${who} pushed ${m.repo}${r.changed ? ` to ${m.new?.slice(0, 12) ?? '(empty)'}` : ' (no change)'}`)
      } catch (err) {
        // Someone else moved the repository meanwhile, or holds the node: an honest race, not a lie.
        if (err instanceof PolykeyError && (err.code === 'CONFLICT' || err.code === 'LOCKED')) return void ch.refuse(err)
        throw err
      }
      return
    }
    case 'tags': {
      const { owner } = await current(o, id)
      if (!owner) throw new PolykeyError('REFUSED', 'only owners of this node may push to it', { reason: 'not-owner' })
      const done = await refusable(ch, () => o.access.withVault(true, (v) => setTags(v, m.repo, m.members)).then(() => true))
      if (done) ch.send({ t: 'ok' })
      return
    }
    case 'peers': {
      const { owner } = await current(o, id)
      if (!owner) throw new PolykeyError('REFUSED', 'only owners of this node may push to it', { reason: 'not-owner' })
      const done = await refusable(ch, () =>
        o.access
          .withVault(true, (v) => {
            const self = identityKeys(v)
            wipe(self.keys.secretKey)
            savePeers(v, mergeBackup(loadPeers(v), m, self.id))
          })
          .then(() => true),
      )
      if (done) ch.send({ t: 'ok' })
      o.log(`${who} pushed its peers and access lists`)
      return
    }
    default:
      throw protocolError('bad-message', `${who} sent an unexpected '${m.t}' message`)
  }
}

/** Run fn; a refusal (not found, not shared) is answered and the session goes on. */
async function refusable<T>(ch: Channel, fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn()
  } catch (err) {
    if (err instanceof PolykeyError && (err.code === 'NOT_FOUND' || err.code === 'REFUSED' || err.code === 'LOCKED')) {
      ch.refuse(err)
      return undefined
    }
    throw err
  }
}

export interface Serving {
  address: Address
  dht: boolean
  close(): Promise<void>
}

/** Listen on TCP (and announce on the DHT when asked) until close(). */
export async function startServing(listen: Address, dht: DhtOptions | null, o: ServeOptions): Promise<Serving> {
  const sessions = new Set<Promise<void>>()
  const onStream = (s: DuplexLike, remoteId: string) => {
    const p = serveSession(s, remoteId, o).catch((err) => o.log(`session failed: ${(err as Error).message}`))
    sessions.add(p)
    void p.finally(() => sessions.delete(p))
  }
  const tcp = await listenTcp(listen, o.keys, onStream, o.log)
  let dhtStop: (() => Promise<void>) | null = null
  if (dht) {
    try {
      dhtStop = await announce(dht, o.keys, onStream)
    } catch (err) {
      await tcp.close()
      throw err
    }
  }
  o.log(`serving on ${formatAddress(tcp.address)}${dht ? ' and on the DHT' : ''}`)
  return {
    address: tcp.address,
    dht: !!dht,
    async close() {
      await tcp.close()
      await dhtStop?.()
    },
  }
}
