// The process that holds a node unlocked and answers its agent socket: `polykey unlock` (the
// node open, no FUSE) or `polykey mount` (the node unpacked and served through FUSE). One
// session object does unlock → run → save for every forwarded command, whichever it is; the
// agent server (src/agent) knows neither, it only calls the runner given here.
import fs from 'node:fs'
import type { KeySource } from '../archive/nodefile.js'
import { AgentServer, type Connection, type Runner } from '../agent/server.js'
import { agentPaths } from '../agent/paths.js'
import type { IO } from '../agent/io.js'
import { PolykeyError } from '../errors.js'
import type { HostedVault } from './context.js'
import type { Vault } from '../vault/vault.js'
import type { OpenNode } from '../vault/node.js'
import type { MountedNode } from '../fuse/mount.js'
import { secureBuffer, wipe } from '../crypto/index.js'

export interface HostOptions {
  nodePath: string
  /** where to mount; null: hold the node unlocked only */
  mountpoint: string | null
  /** an unlock agent's idle time before it locks itself (null: never) */
  idleMs: number | null
  log: (msg: string) => void
  /** a guarded mount (docs/SECURITY.md): only programs the access rules allow open secrets */
  guard?: boolean
  /** record reads through the mount in the audit log (default on) */
  audit?: boolean
}

/** How often a failed save is retried while an agent waits to end. */
const RETRY_SAVE_MS = 2000
/**
 * An unlock agent saves the audit records of reads (secret get, env, otp) this long after the
 * first unsaved one, as a mount does (docs/SECURITY.md "Read audit"): a read is not an fsync.
 */
const AUDIT_SAVE_MS = 10_000

export class NodeHost implements HostedVault {
  private openNode: OpenNode | null = null
  private mounted: MountedNode | null = null
  private master: Buffer
  private readonly agent = new AgentServer()
  private stopping: Promise<void> | null = null
  private idleTimer: NodeJS.Timeout | null = null
  private auditTimer: NodeJS.Timeout | null = null
  private resolveDone!: () => void
  /** settles once everything is saved, the node released and the socket gone */
  readonly done = new Promise<void>((r) => (this.resolveDone = r))
  nodeId = ''
  /** started by `unlock`: an unmount returns to being unlocked rather than ending */
  private readonly startedUnlocked: boolean

  private constructor(
    private readonly o: HostOptions,
    master: Buffer,
  ) {
    this.master = master
    this.startedUnlocked = o.mountpoint === null
  }

  /** Unlock (key derivation happens here, once), take the node, start answering. */
  static async start(o: HostOptions, key: KeySource, runner: (host: NodeHost) => Runner): Promise<NodeHost> {
    const { NodeFile } = await import('../archive/nodefile.js')
    // The master key is kept (in locked memory) so that mounting an unlocked node, or going back
    // to unlocked after an unmount, needs no second key derivation.
    const probe = NodeFile.open(o.nodePath, key, { writable: false, warn: o.log })
    const master = secureBuffer(probe.masterKey.length)
    probe.masterKey.copy(master)
    probe.close()
    const host = new NodeHost(o, master)
    host.runner = runner(host)
    try {
      if (o.mountpoint) await host.openMounted(o.mountpoint)
      else await host.openUnlocked()
      await host.agent.start({ nodePath: o.nodePath, record: host.recordFields(), run: (args, io, conn) => host.runForwarded(args, io, conn), log: o.log })
    } catch (err) {
      await host.release()
      throw err
    }
    host.armIdle()
    return host
  }

  private recordFields() {
    return { mountpoint: this.mounted?.mountpoint ?? '', kind: this.kind, until: this.until() }
  }

  private until(): number | null {
    return this.kind === 'unlock' && this.o.idleMs ? this.agent.lastUsed + this.o.idleMs : null
  }

  private async openUnlocked(): Promise<void> {
    const { OpenNode } = await import('../vault/node.js')
    const n = (this.openNode = await OpenNode.open(this.o.nodePath, { masterKey: this.master }, { write: true, lockTimeoutMs: 2000, warn: this.o.log }))
    this.nodeId = n.identity().id
    const { auditLog } = await import('../vault/audit.js')
    auditLog(n.store).onPending = (full) => {
      if (full) return this.saveAudit(n)
      this.auditTimer ??= setTimeout(() => this.saveAudit(n), AUDIT_SAVE_MS)
    }
  }

  /** Save the unlocked node's waiting audit records (a failure is retried by the next save or at stop). */
  private saveAudit(n: OpenNode): void {
    if (this.auditTimer) clearTimeout(this.auditTimer)
    this.auditTimer = null
    if (this.openNode !== n) return
    try {
      n.save()
    } catch (err) {
      this.o.log(`cannot save the audit records of reads (kept in memory and retried): ${(err as Error).message}`)
    }
  }

  private async openMounted(mountpoint: string, mo: { guard?: boolean; audit?: boolean } = this.o): Promise<void> {
    const { MountedNode } = await import('../fuse/mount.js')
    const node = await MountedNode.open(this.o.nodePath, { masterKey: this.master }, mountpoint, { log: this.o.log, lockTimeoutMs: 2000, guard: mo.guard, audit: mo.audit })
    try {
      await node.mount()
    } catch (err) {
      await node.close()
      throw err
    }
    this.mounted = node
    this.nodeId = node.nodeId
    // An unmount from outside (`fusermount -u`, `umount`): MountedNode saves; then we end or go back.
    void node.closed.then(() => {
      if (this.mounted === node) void this.afterUnmount()
    })
  }

  private async afterUnmount(): Promise<void> {
    this.mounted = null
    if (this.startedUnlocked && !this.stopping) {
      await this.openUnlocked()
      this.agent.update(this.recordFields())
      this.armIdle()
    } else await this.stop()
  }

  // ------------------------------------------------------------------ HostedVault
  get kind(): 'mount' | 'unlock' {
    return this.mounted ? 'mount' : 'unlock'
  }
  get mountpoint(): string {
    return this.mounted?.mountpoint ?? ''
  }
  get vault(): Vault {
    const v = this.mounted?.vault ?? this.openNode?.vault
    if (!v) throw new PolykeyError('REFUSED', 'the node is being locked')
    return v
  }

  async withVault<T>(write: boolean, fn: (v: Vault, node: null) => T | Promise<T>): Promise<T> {
    const m = this.mounted
    if (m) {
      let result: T
      try {
        result = await fn(m.vault, null)
      } finally {
        // What the command changed shows in the mount before it answers.
        await m.syncKernel()
      }
      if (write) {
        m.save()
        if (m.saveFailing) throw new PolykeyError('IO', `the change is kept in memory but could not be saved: ${m.saveFailing}`)
      }
      return result
    }
    const n = this.openNode
    if (!n) throw new PolykeyError('REFUSED', 'the node is being locked')
    const result = await fn(n.vault, null)
    if (write) n.save()
    return result
  }

  info() {
    const file = this.mounted?.file ?? this.openNode!.file
    return { version: file.version, fileSize: file.fileSize, seq: file.seq }
  }

  savedFile() {
    if (this.mounted) {
      this.mounted.flush()
      if (this.mounted.saveFailing) throw new PolykeyError('IO', `the node file could not be saved: ${this.mounted.saveFailing}`)
      return this.mounted.file
    }
    this.openNode!.save()
    return this.openNode!.file
  }

  /** Mount an unlocked node (no key derivation: the master key is held). */
  async mountAt(mountpoint: string, mo: { guard?: boolean; audit?: boolean } = {}): Promise<void> {
    if (this.mounted) throw new PolykeyError('EXISTS', `the node is already mounted at ${this.mounted.mountpoint}`)
    const n = this.openNode
    if (n) {
      n.save()
      n.close()
      this.openNode = null
    }
    try {
      await this.openMounted(mountpoint, mo)
    } catch (err) {
      await this.openUnlocked()
      throw err
    }
    this.agent.update(this.recordFields())
  }

  /** Unsaved work, for a refusal to stop: null when everything is saved. */
  private unsaved(): string | null {
    const m = this.mounted
    if (m) {
      m.flush()
      return m.saveFailing
    }
    try {
      this.openNode?.save()
      return null
    } catch (err) {
      return (err as Error).message
    }
  }

  /**
   * Save, unmount when mounted, release the node and end the agent. Refused while saves fail:
   * the changes stay in memory, the mount keeps serving, and the caller is told why.
   */
  async stop(): Promise<void> {
    if (this.stopping) return this.stopping
    const why = this.unsaved()
    if (why)
      throw new PolykeyError(
        'IO',
        `not stopping: changes are kept in memory but cannot be saved (${why})`,
        {},
        {
          hint: "free space on the node file's disk, then try again; nothing is lost while this process runs",
        },
      )
    this.stopping = this.release()
    return this.stopping
  }

  /** Unmount only: an agent started by `unlock` goes back to holding the node unlocked. */
  async unmount(): Promise<void> {
    const m = this.mounted
    if (!m) throw new PolykeyError('NOT_FOUND', 'the node is not mounted')
    if (!this.startedUnlocked) return this.stop()
    const why = this.unsaved()
    if (why) throw new PolykeyError('IO', `not unmounting: changes are kept in memory but cannot be saved (${why})`, {}, { hint: 'free space, then try again' })
    this.mounted = null
    await m.close()
    await this.openUnlocked()
    this.agent.update(this.recordFields())
    this.armIdle()
  }

  /** SIGTERM, SIGINT, idle timeout: stop, retrying while saves fail (saying so, once). */
  async stopWhenSaved(reason: string): Promise<void> {
    let said = false
    for (;;) {
      try {
        return await this.stop()
      } catch (err) {
        if (!said) this.o.log(`${reason}: ${(err as Error).message}; retrying every ${RETRY_SAVE_MS / 1000} s`)
        said = true
        await new Promise((r) => setTimeout(r, RETRY_SAVE_MS))
      }
    }
  }

  private async release(): Promise<void> {
    if (this.idleTimer) clearInterval(this.idleTimer)
    if (this.auditTimer) clearTimeout(this.auditTimer)
    const m = this.mounted
    this.mounted = null
    if (m) await m.close()
    if (this.openNode) {
      try {
        this.openNode.save()
      } finally {
        this.openNode.close()
        this.openNode = null
      }
    }
    this.agent.stop()
    wipe(this.master)
    this.resolveDone()
  }

  /** The agent's answer to every request has been sent (the one that asked to stop included). */
  drained(): Promise<void> {
    return this.agent.drained()
  }

  private armIdle(): void {
    if (this.idleTimer) clearInterval(this.idleTimer)
    const idle = this.o.idleMs
    if (!idle) return
    this.idleTimer = setInterval(
      () => {
        if (this.kind !== 'unlock' || this.agent.busy > 0) return
        if (Date.now() - this.agent.lastUsed >= idle) void this.stopWhenSaved('idle timeout')
      },
      Math.min(1000, idle),
    )
    this.idleTimer.unref?.()
  }

  /** Who runs forwarded commands (the CLI's main, given by whoever starts the host). */
  private runner: Runner | null = null

  private async runForwarded(args: string[], io: IO, conn: Connection): Promise<number> {
    if (!this.runner) return 1
    try {
      return await this.runner(args, io, conn)
    } finally {
      // the new idle deadline, for `status`: written once the answer is on its way, not before it
      if (this.kind === 'unlock' && !this.stopping) setImmediate(() => this.kind === 'unlock' && !this.stopping && this.agent.update({ until: this.until() }))
    }
  }

  /** The daemon's log file, beside the socket. */
  static logFile(nodePath: string): string | null {
    return agentPaths(nodePath)?.log ?? null
  }

  static removeEmptyLog(nodePath: string): void {
    const f = NodeHost.logFile(nodePath)
    if (f && fs.existsSync(f) && fs.statSync(f).size === 0) fs.rmSync(f, { force: true })
  }
}
