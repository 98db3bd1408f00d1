// An OS lock (flock(2)) on an open file: the lock belongs to the file (its inode), not to the
// name it was opened by, so a symlink, a hard link or another path to the same node meets the
// same lock; the kernel drops it when its holder dies, however it dies. Node has no flock: it is
// one call in our native addon (native/harden/harden.c).
import { createRequire } from 'node:module'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

interface FlockAddon {
  flock(fd: number, op: 0 | 1): number
}

let addon: FlockAddon | null | undefined

function load(): FlockAddon | null {
  if (addon !== undefined) return addon
  const here = path.dirname(fileURLToPath(import.meta.url))
  try {
    const a = createRequire(import.meta.url)(path.resolve(here, '../../../native/build/Release/polykey_harden.node')) as Partial<FlockAddon>
    addon = typeof a.flock === 'function' ? (a as FlockAddon) : null
  } catch {
    addon = null
  }
  return addon
}

const E = os.constants.errno

/**
 * Try to lock the open file exclusively, without waiting. 'busy': another open of the file holds
 * it. 'unsupported': the filesystem (or a build without the addon) has no such lock; the lock
 * file beside the node is then the only guard (docs/FORMAT.md §The lock).
 */
export function tryLockFile(fd: number): 'locked' | 'busy' | 'unsupported' {
  const a = load()
  if (!a) return 'unsupported'
  const r = a.flock(fd, 1)
  if (r === 0) return 'locked'
  if (r === E.EWOULDBLOCK || r === E.EAGAIN) return 'busy'
  return 'unsupported' // ENOLCK, EOPNOTSUPP, ENOSYS, EINVAL: no flock here
}

export function unlockFile(fd: number): void {
  load()?.flock(fd, 0)
}

/** Whether this build can take OS locks at all (the addon is built). */
export function osLocksAvailable(): boolean {
  return load() !== null
}
