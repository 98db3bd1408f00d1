// Who a node's commits say made them: the node's alias (`polykey node name`, kept in the node
// as .polykey/name) as author and committer name, `NODE_ID_PREFIX@polykey` as email (the first
// EMAIL_ID_HEX hex digits of the node id: stable, and what `repo signers` names as principal),
// and a signature by the node's Ed25519 key on every commit.
import { type SigningKeyPair } from '../crypto/index.js'
import { GIT_NAMESPACE, sshSign } from '../crypto/sshsig.js'
import type { Author } from '../git/repo.js'
import { PolykeyError } from '../errors.js'
import type { Store } from './store.js'
import { join } from './store.js'

export const NAME_MEMBER = join('.polykey', 'name')
/** 16 hex digits (64 bits) of the node id: the local part of the commit email. */
export const EMAIL_ID_HEX = 16
export const MAX_NODE_NAME = 64

export function nodeEmail(id: string): string {
  return `${id.slice(0, EMAIL_ID_HEX)}@polykey`
}

/** The name commits carry when none was set: the same id prefix as the email. */
export function defaultNodeName(id: string): string {
  return `polykey-${id.slice(0, EMAIL_ID_HEX)}`
}

/** A name must fit git's "NAME <EMAIL>" (no angle brackets or line breaks) and one line of output. */
export function checkNodeName(name: string): string {
  const n = name.trim()
  if (n.length === 0) throw new PolykeyError('USAGE', 'the node name is empty')
  if ([...n].length > MAX_NODE_NAME) throw new PolykeyError('USAGE', `the node name is longer than ${MAX_NODE_NAME} characters`)
  if (/[<>\u0000-\u001f\u007f\u2028\u2029]/.test(n)) throw new PolykeyError('USAGE', `invalid node name ${JSON.stringify(name)}: no '<', '>' or control characters`)
  return n
}

export function readNodeName(store: Store): string | null {
  const b = store.readFile(NAME_MEMBER)
  return b ? b.toString('utf8') : null
}

export function writeNodeName(store: Store, name: string): void {
  store.mkdir('.polykey')
  store.writeFile(NAME_MEMBER, Buffer.from(checkNodeName(name)), { mode: 0o600 })
}

/**
 * The author of this node's commits. The name is read at each commit, so a rename takes effect
 * at once (also in a mount). Without keys (a tool that only reads) commits are unsigned.
 */
export function nodeAuthor(store: Store, id: string, keys: SigningKeyPair | null): Author {
  return {
    get name() {
      return readNodeName(store) ?? defaultNodeName(id)
    },
    email: nodeEmail(id),
    ...(keys ? { sign: (payload: Buffer) => sshSign(payload, keys, GIT_NAMESPACE) } : {}),
  }
}
