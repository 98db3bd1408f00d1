// Known peers and access lists, kept inside the node (.polykey/peers.json, never in any
// repository's history). A peer is a node id (its Ed25519 public key) under a local alias, with
// an optional address; `owner` lets it push here. Each repository lists the node ids that may
// list, clone and pull it.
import { PolykeyError, usage } from '../errors.js'
import type { Vault } from '../vault/vault.js'
import { nameProblem } from '../vault/names.js'

export const PEERS_META = 'peers.json'

export interface Peer {
  alias: string
  id: string
  address?: string
  owner: boolean
  /** identities proven by a published statement (docs/IDENTITY.md); absent in older peer lists */
  identities?: PeerIdentity[]
}

/** A Keybase or GitHub identity a peer was found by, and how its last check went. */
export interface PeerIdentity {
  service: 'keybase' | 'github'
  user: string
  /** the user key the statement names: pgp:FINGERPRINT or an OpenSSH public key */
  key: string
  /** the --proof URL given when it was added (re-checked there); else found again by looking */
  proof?: string
  /** where the statement was found last */
  found: string
  expires: string
  /** when it last checked out (ISO time) */
  verified: string
  /** why the last check failed; absent while it holds */
  problem?: string
  checked?: string
}

export interface PeerBook {
  version: 1
  peers: Peer[]
  /** repository → node ids that may pull it */
  shares: Record<string, string[]>
}

export const NODE_ID = /^[0-9a-f]{64}$/

export function checkNodeId(id: string): string {
  const lower = id.toLowerCase()
  if (!NODE_ID.test(lower)) throw usage(`not a node id: ${JSON.stringify(id)} (64 hex digits, as 'polykey node id' prints)`)
  return lower
}

/** An alias must not look like a path (PEER may also be a node file). */
export function checkAlias(alias: string): string {
  const why = nameProblem(alias)
  if (why) throw usage(`invalid peer alias ${JSON.stringify(alias)}: ${why}`)
  if (alias.endsWith('.pk') || alias.startsWith('.') || alias.startsWith('-')) throw usage(`invalid peer alias ${JSON.stringify(alias)}: it would read as a path or an option`)
  return alias
}

export interface Address {
  host: string
  port: number
}

export function parseAddress(s: string): Address {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s[\]]+)):(\d{1,5})$/.exec(s)
  const port = m ? Number(m[3]) : NaN
  if (!m || port < 0 || port > 65535) throw usage(`not an address: ${JSON.stringify(s)} (expected HOST:PORT, e.g. 192.168.1.20:7411 or [::1]:7411)`)
  return { host: m[1] ?? m[2], port }
}

export function formatAddress(a: Address): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`
}

function empty(): PeerBook {
  return { version: 1, peers: [], shares: {} }
}

export function loadPeers(v: Vault): PeerBook {
  const raw = v.readMeta(PEERS_META)
  if (!raw) return empty()
  let b: PeerBook
  try {
    b = JSON.parse(raw.toString('utf8')) as PeerBook
  } catch (err) {
    throw new PolykeyError('CORRUPT', 'the peer list of this node does not parse', {}, { cause: err })
  }
  if (b?.version !== 1 || !Array.isArray(b.peers) || typeof b.shares !== 'object') throw new PolykeyError('CORRUPT', 'the peer list of this node is damaged')
  return b
}

export function savePeers(v: Vault, b: PeerBook): void {
  v.writeMeta(PEERS_META, Buffer.from(JSON.stringify(b, null, 1) + '\n'))
}

export function findPeer(b: PeerBook, alias: string): Peer {
  const p = b.peers.find((x) => x.alias === alias)
  if (!p) throw new PolykeyError('NOT_FOUND', `no peer '${alias}'`, { alias }, { hint: "add it with 'polykey peer add ALIAS NODE_ID [HOST:PORT]'" })
  return p
}

export function peerById(b: PeerBook, id: string): Peer | undefined {
  return b.peers.find((x) => x.id === id)
}

export function addPeer(b: PeerBook, p: Peer, self: string): void {
  checkAlias(p.alias)
  checkNodeId(p.id)
  if (p.address) parseAddress(p.address)
  if (p.id === self) throw new PolykeyError('REFUSED', "that is this node's own id")
  if (b.peers.some((x) => x.alias === p.alias))
    throw new PolykeyError('EXISTS', `peer '${p.alias}' already exists`, { alias: p.alias }, { hint: `remove it first with 'polykey peer rm ${p.alias}'` })
  const same = peerById(b, p.id)
  if (same) throw new PolykeyError('EXISTS', `node ${p.id.slice(0, 16)}… is already known as '${same.alias}'`, { alias: same.alias })
  b.peers.push(p)
}

/** Record (or replace) one identity of a peer. */
export function setIdentity(p: Peer, idn: PeerIdentity): void {
  const others = (p.identities ?? []).filter((x) => !(x.service === idn.service && x.user.toLowerCase() === idn.user.toLowerCase()))
  p.identities = [...others, idn]
}

export function removePeer(b: PeerBook, alias: string): Peer {
  const p = b.peers.find((x) => x.alias === alias)
  if (!p) throw new PolykeyError('NOT_FOUND', `no peer '${alias}'`, { alias }, { hint: "'polykey peer list' shows the known peers" })
  b.peers = b.peers.filter((x) => x !== p)
  for (const repo of Object.keys(b.shares)) {
    b.shares[repo] = b.shares[repo].filter((id) => id !== p.id)
    if (b.shares[repo].length === 0) delete b.shares[repo]
  }
  return p
}

export function share(b: PeerBook, repo: string, p: Peer): boolean {
  const list = (b.shares[repo] ??= [])
  if (list.includes(p.id)) return false
  list.push(p.id)
  return true
}

export function unshare(b: PeerBook, repo: string, p: Peer): void {
  const list = b.shares[repo] ?? []
  if (!list.includes(p.id)) throw new PolykeyError('NOT_FOUND', `'${repo}' is not shared with ${p.alias}`, { repo, alias: p.alias })
  b.shares[repo] = list.filter((id) => id !== p.id)
  if (b.shares[repo].length === 0) delete b.shares[repo]
}

export function mayPull(b: PeerBook, repo: string, id: string): boolean {
  return (b.shares[repo] ?? []).includes(id)
}

export function sharedWith(b: PeerBook, id: string): string[] {
  return Object.keys(b.shares)
    .filter((r) => b.shares[r].includes(id))
    .sort()
}

/**
 * What a backup's peer book becomes after `push --all` from `source`: the source's peers and
 * access lists, and the target's own peers that do not clash with them. The target keeps its own
 * identity, so it never lists itself; `sourceId` becomes an owner of the backup (it pushed there).
 */
export function mergeBackup(target: PeerBook, source: Pick<PeerBook, 'peers' | 'shares'>, targetId: string): PeerBook {
  const peers = source.peers.filter((p) => p.id !== targetId).map((p) => ({ alias: p.alias, id: p.id, ...(p.address ? { address: p.address } : {}), owner: p.owner }))
  for (const p of target.peers) if (!peers.some((x) => x.id === p.id || x.alias === p.alias)) peers.push(p)
  const shares: Record<string, string[]> = {}
  const known = new Set(peers.map((p) => p.id))
  for (const book of [target.shares, source.shares])
    for (const [repo, ids] of Object.entries(book)) {
      const list = ids.filter((id) => known.has(id))
      if (list.length) shares[repo] = [...new Set([...(shares[repo] ?? []), ...list])]
    }
  return { version: 1, peers, shares }
}
