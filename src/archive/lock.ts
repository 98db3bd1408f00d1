// A lock file beside the node file (NODE.lock) stops two processes from writing one node. It is
// created with O_EXCL (works on ext4, tmpfs, FAT32/exFAT) and names its holder. A lock whose
// holder is a dead process on this host is stale and is taken over.
import fs from 'node:fs'
import os from 'node:os'
import { PolykeyError } from '../errors.js'

export interface LockHolder {
  pid: number
  host: string
  since: string
}

export class NodeLock {
  private constructor(readonly path: string, private released = false) {}

  static lockPath(nodePath: string): string {
    return `${nodePath}.lock`
  }

  static holder(nodePath: string): LockHolder | null {
    try {
      return JSON.parse(fs.readFileSync(NodeLock.lockPath(nodePath), 'utf8')) as LockHolder
    } catch {
      return null
    }
  }

  /** Take the lock, waiting up to timeoutMs for a live holder to let go. */
  static async acquire(nodePath: string, timeoutMs = 10_000): Promise<NodeLock> {
    const lockPath = NodeLock.lockPath(nodePath)
    const deadline = Date.now() + timeoutMs
    let delay = 5
    for (;;) {
      const got = NodeLock.tryAcquire(lockPath)
      if (got) return got
      const holder = NodeLock.holder(nodePath)
      if (holder && isStale(holder)) {
        // Remove only if it is still the same stale content (another waiter may have taken it).
        try {
          const again = JSON.parse(fs.readFileSync(lockPath, 'utf8')) as LockHolder
          if (again.pid === holder.pid && again.host === holder.host) fs.unlinkSync(lockPath)
        } catch {
          /* vanished meanwhile */
        }
        continue
      }
      // A holder that crashed between creating the lock and writing its name leaves it empty (or
      // torn); a live one fills it within microseconds, so an old unreadable lock is stale.
      if (!holder && removeIfUnreadableAndOld(nodePath)) continue
      if (Date.now() >= deadline) {
        const who = holder ? `process ${holder.pid} on ${holder.host} (since ${holder.since})` : 'another process'
        throw new PolykeyError('LOCKED', `node is locked by ${who}`, { lock: lockPath, holder }, {
          hint: !holder
            ? `if no polykey is using this node, remove ${lockPath}`
            : holder.host === os.hostname()
              ? `if that process is gone, remove ${lockPath}`
              : 'unmount or stop the other polykey first',
        })
      }
      await new Promise((r) => setTimeout(r, delay + Math.random() * delay))
      delay = Math.min(delay * 2, 100)
    }
  }

  private static tryAcquire(lockPath: string): NodeLock | null {
    let fd: number
    try {
      fd = fs.openSync(lockPath, fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_WRONLY, 0o600)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return null
      throw new PolykeyError('IO', `cannot create lock ${lockPath}: ${(err as NodeJS.ErrnoException).code}`, {}, { cause: err })
    }
    const me: LockHolder = { pid: process.pid, host: os.hostname(), since: new Date().toISOString() }
    try {
      fs.writeSync(fd, JSON.stringify(me))
      fs.fsyncSync(fd)
    } finally {
      fs.closeSync(fd)
    }
    return new NodeLock(lockPath)
  }

  release(): void {
    if (this.released) return
    this.released = true
    try {
      const h = JSON.parse(fs.readFileSync(this.path, 'utf8')) as LockHolder
      if (h.pid === process.pid && h.host === os.hostname()) fs.unlinkSync(this.path)
    } catch {
      /* already gone */
    }
  }
}

const UNREADABLE_STALE_MS = 10_000

/** Remove the lock if it still names no holder and was last written long ago. */
function removeIfUnreadableAndOld(nodePath: string): boolean {
  const lockPath = NodeLock.lockPath(nodePath)
  try {
    if (NodeLock.holder(nodePath) || Date.now() - fs.statSync(lockPath).mtimeMs < UNREADABLE_STALE_MS) return false
    fs.unlinkSync(lockPath)
    return true
  } catch {
    return false // vanished meanwhile: just try again
  }
}

function isStale(h: LockHolder): boolean {
  if (h.host !== os.hostname() || !Number.isInteger(h.pid)) return false
  if (h.pid === process.pid) return false
  try {
    process.kill(h.pid, 0)
    return false
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH'
  }
}
