// One way to reach an unlocked node for a command: unlock → run → save. The agent host (a mount
// or `polykey unlock`, src/cli/host.ts) keeps the node open across commands; a FileSession opens
// it for each call (the CLI without an agent, `serve` without a mount). Everything that runs
// commands — the CLI, the agent, serve — goes through this one interface.
import type { KeySource } from '../archive/nodefile.js'
import type { Vault } from './vault.js'
import { OpenNode } from './node.js'
import type { SeenRecord } from '../archive/seen.js'

export interface Session {
  /** Run fn with exclusive access; persist what a writing fn changed before answering. */
  withVault<T>(write: boolean, fn: (v: Vault, node: OpenNode | null) => T | Promise<T>): Promise<T>
}

export interface FileSessionOptions {
  lockTimeoutMs?: number
  warn?: (msg: string) => void
  /** the user's rollback record (default: OpenNode's) */
  seen?: SeenRecord | null
}

/** The node file opened per call (a writer holds the lock only while it writes). */
export class FileSession implements Session {
  private key: KeySource | null = null
  constructor(
    private readonly nodePath: string,
    private readonly keySource: () => Promise<KeySource>,
    private readonly opts: FileSessionOptions = {},
  ) {}

  async withVault<T>(write: boolean, fn: (v: Vault, node: OpenNode | null) => T | Promise<T>): Promise<T> {
    this.key ??= await this.keySource()
    const node = await OpenNode.open(this.nodePath, this.key, { write, lockTimeoutMs: this.opts.lockTimeoutMs, warn: this.opts.warn, seen: this.opts.seen })
    try {
      const result = await fn(node.vault, node)
      if (write) node.save()
      return result
    } finally {
      node.close()
    }
  }
}
