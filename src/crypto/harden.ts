// Process hardening for processes that hold plaintext (docs/SECURITY.md): no core dumps, not
// dumpable/ptrace-able by other processes of the user, memory locked where the limit allows.
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import os from 'node:os'

interface HardenAddon {
  noCoreDumps(): number
  lockMemory(): number
  isDumpable(): number
  peerCred(fd: number): [number, number, number] | number
}

let addon: HardenAddon | null | undefined

function load(): HardenAddon | null {
  if (addon !== undefined) return addon
  const here = path.dirname(fileURLToPath(import.meta.url))
  try {
    addon = createRequire(import.meta.url)(path.resolve(here, '../../../native/build/Release/polykey_harden.node')) as HardenAddon
  } catch {
    addon = null
  }
  return addon
}

const errName = (n: number) => Object.entries(os.constants.errno).find(([, v]) => v === n)?.[0] ?? String(n)

/** Returns a list of what could not be done (empty when fully hardened). */
export function hardenProcess(opts: { lockMemory: boolean }): string[] {
  const a = load()
  if (!a) return ['native hardening addon not built (make build): core dumps and swap are not prevented']
  const problems: string[] = []
  const core = a.noCoreDumps()
  if (core !== 0) problems.push(`cannot disable core dumps (${errName(core)})`)
  if (opts.lockMemory) {
    const lock = a.lockMemory()
    if (lock !== 0) problems.push(`memory not locked (${errName(lock)}: RLIMIT_MEMLOCK too small; raise it with 'ulimit -l unlimited' or disable swap)`)
  }
  return problems
}

export function isDumpable(): boolean | null {
  const a = load()
  return a ? a.isDumpable() !== 0 : null
}

export interface PeerCredentials {
  pid: number
  uid: number
  gid: number
}

/**
 * Who is at the other end of a connected unix socket, from the kernel (SO_PEERCRED): null when
 * the addon is not built or the handle has no descriptor (then only the folder and socket
 * ownership checks protect the connection; docs/SECURITY.md).
 */
export function peerCredentials(socket: { _handle?: { fd?: number } } | object): PeerCredentials | null {
  const a = load()
  const fd = (socket as { _handle?: { fd?: number } })._handle?.fd
  if (!a || typeof fd !== 'number' || fd < 0) return null
  const r = a.peerCred(fd)
  if (typeof r === 'number') return null
  return { pid: r[0], uid: r[1], gid: r[2] }
}

/** Whether peer credentials can be checked here (the addon is built). */
export function canCheckPeers(): boolean {
  return load() !== null
}
