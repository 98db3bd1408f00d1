// The other side of a clone, pull or push, however it is reached: a peer over the network (the
// wire protocol on a Channel), or a vault held in this process (a node file used as a peer, a
// sealed bundle). Sync logic (sync.ts) only sees this interface.
import type { Vault } from '../vault/vault.js'
import { PolykeyError } from '../errors.js'
import { Channel } from './channel.js'
import { MAX_PACK, PROTOCOL_VERSION, protocolError } from './wire.js'
import { headOf, packFor, receivePush, setTags } from './repo-ops.js'
import { type PeerBook, loadPeers, mergeBackup, savePeers } from './peers.js'
import { identityKeys } from './identity.js'
import { wipe } from '../crypto/index.js'

export interface Remote {
  /** how errors and merge messages name it: "alice", "/media/usb/me.pk" */
  readonly label: string
  /** how errors name it: "peer alice", "/media/usb/me.pk" */
  readonly describe: string
  list(): Promise<{ name: string; head: string | null }[]>
  fetch(repo: string, haves: string[]): Promise<{ head: string | null; pack: Buffer }>
  head(repo: string): Promise<string | null>
  push(repo: string, old: string | null, next: string | null, pack: Buffer): Promise<void>
  setTags(repo: string, members: { tag: string; name: string }[]): Promise<void>
  /** push --all: carry peers and access lists to a node that has this one as owner */
  setPeers(book: Pick<PeerBook, 'peers' | 'shares'>): Promise<void>
  /** the remote broke a rule: cut it off */
  abort(err: PolykeyError): void
  close(): Promise<void>
}

export class NetRemote implements Remote {
  get describe() {
    return this.ch.label
  }
  constructor(
    readonly ch: Channel,
    readonly label: string,
    private readonly maxPack = MAX_PACK,
  ) {
    ch.send({ t: 'hello', version: PROTOCOL_VERSION })
  }

  async list() {
    this.ch.send({ t: 'list' })
    return (await this.ch.expect('repos')).repos
  }

  async fetch(repo: string, haves: string[]) {
    this.ch.send({ t: 'fetch', repo, haves })
    const m = await this.ch.expect('pack')
    if (m.repo !== repo) throw this.ch.abort(protocolError('bad-message', `${this.ch.label} answered for another repository`))
    const pack = await this.ch.recvData(m.bytes, this.maxPack)
    return { head: m.head, pack }
  }

  async head(repo: string) {
    this.ch.send({ t: 'refs', repo })
    const m = await this.ch.expect('head')
    if (m.repo !== repo) throw this.ch.abort(protocolError('bad-message', `${this.ch.label} answered for another repository`))
    return m.head
  }

  async push(repo: string, old: string | null, next: string | null, pack: Buffer) {
    await this.ch.sendWithData({ t: 'push', repo, old, new: next, bytes: pack.length }, pack)
    await this.ch.expect('ok')
  }

  async setTags(repo: string, members: { tag: string; name: string }[]) {
    this.ch.send({ t: 'tags', repo, members })
    await this.ch.expect('ok')
  }

  async setPeers(book: Pick<PeerBook, 'peers' | 'shares'>) {
    this.ch.send({ t: 'peers', peers: book.peers, shares: book.shares })
    await this.ch.expect('ok')
  }

  abort(err: PolykeyError): void {
    this.ch.abort(err)
  }

  async close() {
    this.ch.close()
    // Let the end reach the peer before the process may exit: the server ends its side when it
    // sees ours, which closes the stream; an older one does not, hence the bound.
    await this.ch.whenClosed(10)
    this.ch.destroy()
  }
}

/**
 * A vault in this process as a remote: a node file opened with its own key, used with owner
 * rights. `save` persists after each change (the node file's one segment per change).
 */
export class VaultRemote implements Remote {
  get describe() {
    return this.label
  }
  constructor(
    readonly label: string,
    private readonly vault: Vault,
    private readonly save: () => void,
    private readonly done: () => void,
  ) {}

  async list() {
    return this.vault.repoList().map((name) => ({ name, head: headOf(this.vault, name) }))
  }
  async fetch(repo: string, haves: string[]) {
    if (!this.vault.hasRepo(repo)) throw new PolykeyError('NOT_FOUND', `${this.label} has no repository '${repo}'`, { repo })
    const { head, pack } = packFor(this.vault, repo, haves)
    return { head, pack }
  }
  async head(repo: string) {
    return headOf(this.vault, repo)
  }
  async push(repo: string, old: string | null, next: string | null, pack: Buffer) {
    receivePush(this.vault, repo, old, next, pack, 'this node')
    this.save()
  }
  async setTags(repo: string, members: { tag: string; name: string }[]) {
    setTags(this.vault, repo, members)
    this.save()
  }
  async setPeers(book: Pick<PeerBook, 'peers' | 'shares'>) {
    const self = identityKeys(this.vault)
    wipe(self.keys.secretKey)
    savePeers(this.vault, mergeBackup(loadPeers(this.vault), book, self.id))
    this.save()
  }
  abort(): void {}
  async close() {
    this.done()
  }
}
