// A node opened for one command: the node file, its lock (for writers), the vault over it, and
// the node's identity. Writers unlock (key derivation) before taking the lock, then re-read the
// file under the lock so that concurrent writers never lose an update.
import { NodeFile, type KeySource } from '../archive/nodefile.js'
import { NodeLock } from '../archive/lock.js'
import { SeenRecord } from '../archive/seen.js'
import { ArchiveStore } from './archive-store.js'
import { Vault, META } from './vault.js'
import { nodeAuthor } from './author.js'
import { auditLog } from './audit.js'
import { type KdfParams, signingKeyPair, type SigningKeyPair, wipe, secureBuffer } from '../crypto/index.js'
import { corrupt } from '../errors.js'

export const IDENTITY_MEMBER = `${META}/identity`

export function nodeIdOf(publicKey: Buffer): string {
  return publicKey.toString('hex')
}

export function createNode(path: string, passphrase: Buffer, kdf: KdfParams): { id: string } {
  const kp = signingKeyPair()
  const nf = NodeFile.create(path, passphrase, kdf, [
    { op: 'put', path: 'repos', type: 'dir' },
    { op: 'put', path: 'tags', type: 'dir' },
    { op: 'put', path: META, type: 'dir' },
    { op: 'put', path: IDENTITY_MEMBER, type: 'file', data: kp.secretKey },
  ])
  nf.close()
  const id = nodeIdOf(kp.publicKey)
  wipe(kp.secretKey)
  return { id }
}

export interface OpenNodeOptions {
  write?: boolean
  lockTimeoutMs?: number
  warn?: (msg: string) => void
  /** the user's rollback record; by default the one $XDG_STATE_HOME / $HOME of this process names */
  seen?: SeenRecord | null
}

export class OpenNode {
  private constructor(
    readonly file: NodeFile,
    readonly store: ArchiveStore,
    readonly vault: Vault,
    private readonly lock: NodeLock | null,
    /** the node key, kept to sign this command's commits; wiped on close */
    private readonly keys: SigningKeyPair,
  ) {}

  static async open(path: string, key: KeySource, opts: OpenNodeOptions = {}): Promise<OpenNode> {
    const seen = opts.seen === undefined ? SeenRecord.forUser(process.env, (m) => opts.warn?.(m)) : opts.seen
    const file = NodeFile.open(path, key, { writable: !!opts.write, warn: opts.warn, seen })
    let lock: NodeLock | null = null
    try {
      if (opts.write) {
        lock = await NodeLock.acquire(path, opts.lockTimeoutMs)
        file.refresh(opts.warn)
      }
      const store = new ArchiveStore(file)
      const id = identityOf(file)
      const vault = new Vault(store, nodeAuthor(store, id.id, id.keys))
      return new OpenNode(file, store, vault, lock, id.keys)
    } catch (err) {
      lock?.release()
      file.close()
      throw err
    }
  }

  /** this node's id (its public key in hex) */
  get id(): string {
    return nodeIdOf(this.keys.publicKey)
  }

  identity(): { id: string; keys: SigningKeyPair } {
    return identityOf(this.file)
  }

  /** Append what the command changed, and audit records waiting in memory (one segment). */
  save(): void {
    auditLog(this.store).flush()
    if (this.store.dirty) this.store.flush()
  }

  close(): void {
    wipe(this.keys.secretKey)
    this.lock?.release()
    this.file.close()
  }
}

function identityOf(file: NodeFile): { id: string; keys: SigningKeyPair } {
  const sk = file.has(IDENTITY_MEMBER) ? file.read(IDENTITY_MEMBER) : null
  if (!sk || sk.length !== 64) throw corrupt('node identity is missing or damaged', { region: 'identity' })
  const seed = secureBuffer(32)
  sk.copy(seed, 0, 0, 32)
  const keys = signingKeyPair(seed)
  wipe(seed)
  wipe(sk)
  return { id: nodeIdOf(keys.publicKey), keys }
}
