// Who may open a secret through the mount, and the record of who did (docs/SECURITY.md
// "Guarded mount", "Read audit"). Each open asks check(): the calling process is identified
// from /proc (proc.ts) once per process — a process is its pid and start time, since pids are
// reused — and, on a guarded mount, matched against the node's access rules; refused opens get
// EACCES. Every open, allowed or refused, becomes an audit record (batched in memory).
// Identities live as long as their process (see who()); close() lets their descriptors go.
import { LRUCache } from 'lru-cache'
import type { MemStore } from '../vault/mem-store.js'
import type { Vault } from '../vault/vault.js'
import { TAGS, REPOS } from '../vault/vault.js'
import { auditLog, type AuditLog } from '../vault/audit.js'
import { accessVersion, loadAccess, rulesFor, type AccessRule } from '../vault/access.js'
import fs from 'node:fs'
import { processInfo, startOf, type ProcessInfo } from './proc.js'

function closeQuietly(fd: number): void {
  try {
    fs.closeSync(fd)
  } catch {}
}

/** An unguarded mount re-proves a remembered process this often (ms). */
const RECHECK_MS = 1000
/** Processes remembered at once (each holds one descriptor). */
const MAX_PROCS = 256
const MAX_ARGS = 32
const MAX_ARG_CHARS = 256

export interface SecretRef {
  repo: string
  name: string
  /** for a past version: the path under history/ */
  history?: string
}

export interface GateOptions {
  guard: boolean
  audit: boolean
  mountpoint: string
  log: (msg: string) => void
}

interface Known {
  info: ProcessInfo
  /** /proc/PID/stat, open: reads fail once this process is gone */
  statFd: number
  checked: number
  /** the command line as recorded (bounded), built once */
  cmd: string[]
  /** rules matching this program (any scope), for the rules version they were found in */
  rules: AccessRule[] | null
  rulesVersion: number
}

export class Gate {
  private procs = new LRUCache<number, Known>({ max: MAX_PROCS, dispose: (k) => closeQuietly(k.statFd) })
  private readonly statBuf = Buffer.alloc(1024)
  private readonly audit: AuditLog
  private rules: { version: number; list: ReturnType<typeof loadAccess> } | null = null

  constructor(
    private readonly store: MemStore,
    private readonly vault: Vault,
    readonly o: GateOptions,
  ) {
    this.audit = auditLog(store)
  }

  get enabled(): boolean {
    return this.o.guard || this.o.audit
  }

  /**
   * The cached identity of a process, still the same process: its /proc/PID/stat stays open, and
   * such a descriptor is bound to the process it was opened for — once that process is gone a
   * read fails, even if the pid has been handed to another — so one pread per open proves it.
   */
  private who(pid: number): Known | null {
    const k = this.procs.get(pid)
    // Audit only (nothing is decided): re-proved at most once a second — pids do not come round
    // that fast, and a misattributed record is all a reuse inside that second could cause.
    if (k && !this.o.guard && Date.now() - k.checked < RECHECK_MS) return k
    if (k) {
      k.checked = Date.now()
      try {
        const n = fs.readSync(k.statFd, this.statBuf, 0, this.statBuf.length, 0)
        if (startOf(this.statBuf.toString('latin1', 0, n)) === k.info.start) return k
      } catch {}
      this.procs.delete(pid) // disposes (closes) the descriptor
    }
    let fd: number
    try {
      fd = fs.openSync(`/proc/${pid}/stat`, 'r')
    } catch {
      return null
    }
    const info = processInfo(pid, this.o.mountpoint, { hash: this.o.guard })
    const n = info ? fs.readSync(fd, this.statBuf, 0, this.statBuf.length, 0) : 0
    if (!info || startOf(this.statBuf.toString('latin1', 0, n)) !== info.start) {
      fs.closeSync(fd) // it changed while being looked at: ask again next time
      return null
    }
    const cmd = info.cmdline.slice(0, MAX_ARGS).map((a) => (a.length > MAX_ARG_CHARS ? a.slice(0, MAX_ARG_CHARS) + '…' : a))
    const fresh: Known = { info, statFd: fd, cmd, checked: Date.now(), rules: null, rulesVersion: -1 }
    this.procs.set(pid, fresh)
    return fresh
  }

  private book() {
    const v = accessVersion(this.store)
    if (!this.rules || this.rules.version !== v) this.rules = { version: v, list: loadAccess(this.vault) }
    return this.rules
  }

  private inScope(r: AccessRule, s: SecretRef): boolean {
    if (r.repo !== undefined) return r.repo === s.repo
    if (r.tag !== undefined) {
      if (s.history) return false // tags name current secrets only
      const ino = this.store.ino(`${REPOS}/${s.repo}/${s.name}`)
      return ino !== null && this.store.list(`${TAGS}/${r.tag}`).some((e) => this.store.ino(`${TAGS}/${r.tag}/${e}`) === ino)
    }
    return true
  }

  close(): void {
    this.procs.clear()
  }

  /** May this process open this secret? Records the open either way. */
  check(pid: number, s: SecretRef): boolean {
    if (!this.enabled || pid === process.pid) return true
    const k = pid > 0 ? this.who(pid) : null
    let allowed = true
    let reason: string | null = null
    if (this.o.guard) {
      if (!k) [allowed, reason] = [false, 'unidentified']
      else if (k.info.preload.length) [allowed, reason] = [false, `loader ${k.info.preload.join(',')}`]
      else {
        const book = this.book()
        if (k.rulesVersion !== book.version) {
          k.rules = rulesFor(book.list, k.info.exe, k.info.script)
          k.rulesVersion = book.version
        }
        if (!k.rules!.some((r) => this.inScope(r, s))) [allowed, reason] = [false, k.rules!.length ? 'out-of-scope' : 'no-rule']
      }
    }
    if (this.o.audit || !allowed) {
      const info = k?.info
      this.audit.record({
        time: Date.now(),
        via: 'mount',
        secret: s.history ?? `${s.repo}/${s.name}`,
        pid,
        exe: info?.exe.path ?? '',
        cmdline: k?.cmd ?? [],
        script: info?.script?.path ?? null,
        allowed,
        reason,
      })
    }
    return allowed
  }
}
