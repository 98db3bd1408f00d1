// The node lock stops two processes from writing one node. It has two parts (docs/FORMAT.md
// §The lock):
//  - an OS lock (flock) on the node file itself, so that every name of one node — a symlink, a
//    hard link, another mount of the folder — is one lock, and a dead holder's lock is gone;
//  - a lock file beside the node's real path (REALPATH.lock), created with O_EXCL (works on
//    ext4, tmpfs, FAT32/exFAT and network filesystems whose flock is local only), naming its
//    holder. A lock file whose holder is a dead process on this host is stale and is taken over.
// The OS lock is taken first; the lock file is named by the real path, so a symlink meets it too.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { PolykeyError } from '../errors.js'
import { tryLockFile, unlockFile } from './os-lock.js'

export interface LockHolder {
  pid: number
  host: string
  since: string
}

export class NodeLock {
  private constructor(
    readonly path: string,
    private fileFd: number,
    private released = false,
  ) {}

  /** The lock file: beside the node's real path, so that a symlink to the node names the same one. */
  static lockPath(nodePath: string): string {
    let real: string
    try {
      real = fs.realpathSync(nodePath)
    } catch {
      real = path.resolve(nodePath)
    }
    return `${real}.lock`
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
    // the fd holding the OS lock; -1: this filesystem has none; null: not taken yet (busy)
    let fileFd: number | null = null
    const sleep = async () => {
      await new Promise((r) => setTimeout(r, delay + Math.random() * delay))
      delay = Math.min(delay * 2, 100)
    }
    try {
      for (;;) {
        if (fileFd === null) {
          const got = lockNodeFile(nodePath)
          if (got === 'busy') {
            if (Date.now() >= deadline) throw lockedError(NodeLock.holder(nodePath), lockPath, true)
            await sleep()
            continue
          }
          fileFd = got
        }
        const got = NodeLock.tryAcquire(lockPath, fileFd)
        if (got) {
          fileFd = null // now the lock's
          return got
        }
        if (NodeLock.removeIfStale(nodePath, lockPath)) continue
        if (Date.now() >= deadline) throw lockedError(NodeLock.holder(nodePath), lockPath, false)
        await sleep()
      }
    } finally {
      if (fileFd !== null && fileFd >= 0) closeLocked(fileFd)
    }
  }

  /** The lock file is taken: remove it if its holder is gone (true: try again now). */
  private static removeIfStale(nodePath: string, lockPath: string): boolean {
    const holder = NodeLock.holder(nodePath)
    if (holder && isStale(holder)) {
      // Remove only if it is still the same stale content (another waiter may have taken it).
      try {
        const again = JSON.parse(fs.readFileSync(lockPath, 'utf8')) as LockHolder
        if (again.pid === holder.pid && again.host === holder.host) fs.unlinkSync(lockPath)
      } catch {
        /* vanished meanwhile */
      }
      return true
    }
    // A holder that crashed between creating the lock and writing its name leaves it empty (or
    // torn); a live one fills it within microseconds, so an old unreadable lock is stale.
    return !holder && removeIfUnreadableAndOld(nodePath)
  }

  private static tryAcquire(lockPath: string, fileFd: number): NodeLock | null {
    let fd: number
    try {
      fd = fs.openSync(lockPath, fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_WRONLY, 0o600)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return null
      throw new PolykeyError('IO', `cannot create lock ${lockPath}: ${errText(err)}`, { lock: lockPath }, { cause: err })
    }
    const me: LockHolder = { pid: process.pid, host: os.hostname(), since: new Date().toISOString() }
    try {
      fs.writeSync(fd, JSON.stringify(me))
      fs.fsyncSync(fd)
    } catch (err) {
      // A full disk can refuse the holder's name after the file was created: an empty lock file
      // left behind would block every writer. Remove it and say what happened.
      fs.closeSync(fd)
      fd = -1
      fs.rmSync(lockPath, { force: true })
      throw new PolykeyError('IO', `cannot write lock ${lockPath}: ${errText(err)}`, { lock: lockPath }, { cause: err })
    } finally {
      if (fd >= 0) fs.closeSync(fd)
    }
    return new NodeLock(lockPath, fileFd)
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
    if (this.fileFd >= 0) closeLocked(this.fileFd)
    this.fileFd = -1
  }
}

function errText(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code
  return code === 'ENOSPC' ? 'no space left on device' : code === 'EDQUOT' ? 'disk quota exceeded' : String(code ?? err)
}

/** LOCKED, naming the holder the lock file names; `viaFile`: it was the OS lock on the node file that was busy. */
function lockedError(holder: LockHolder | null, lockPath: string, viaFile: boolean): PolykeyError {
  if (!holder && viaFile)
    return new PolykeyError(
      'LOCKED',
      'node is locked by another process (through another name of this node: a hard link or another path to it)',
      { lock: lockPath },
      {
        hint: 'unmount or stop the other polykey first: every name of a node file is the same node',
      },
    )
  const who = holder ? `process ${holder.pid} on ${holder.host} (since ${holder.since})` : 'another process'
  return new PolykeyError(
    'LOCKED',
    `node is locked by ${who}`,
    { lock: lockPath, holder },
    {
      hint: !holder
        ? `if no polykey is using this node, remove ${lockPath}`
        : holder.host === os.hostname()
          ? // A dead holder on this host is taken over without asking: this one is alive.
            `process ${holder.pid} is running: wait for it, or if it is a mount or 'polykey unlock' of this node, 'polykey status' says where (unmount or lock it)`
          : 'unmount or stop the other polykey first',
    },
  )
}

/**
 * Open the node file and take its OS lock: the fd holding it, 'busy', or -1 where there is no
 * such lock (no file yet, a filesystem without flock). The lock is checked to be on the file the
 * path names now: a file renamed over the node between our open and our lock is not the node.
 */
function lockNodeFile(nodePath: string): number | 'busy' {
  for (let tries = 0; tries < 5; tries++) {
    let fd: number
    try {
      fd = fs.openSync(nodePath, 'r')
    } catch {
      return -1
    }
    const r = tryLockFile(fd)
    if (r !== 'locked') {
      fs.closeSync(fd)
      return r === 'busy' ? 'busy' : -1
    }
    try {
      const a = fs.fstatSync(fd)
      const b = fs.statSync(nodePath)
      if (a.ino === b.ino && a.dev === b.dev) return fd
    } catch {
      /* gone meanwhile: try again */
    }
    closeLocked(fd)
  }
  return 'busy'
}

function closeLocked(fd: number): void {
  try {
    unlockFile(fd)
    fs.closeSync(fd)
  } catch {
    /* closing drops the lock anyway */
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
