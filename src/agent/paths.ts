// Where a node's agent listens, and how both ends check that the place is the user's own.
//
// One folder per user, under the user's home as the password database gives it (not $HOME, not
// $XDG_RUNTIME_DIR: those differ between a login shell, cron, su and ssh, and a folder in /tmp
// can be created first by another user). In it, per node, a socket and a small record (no
// secrets), both named after the node file's identity (device and inode), so every name of one
// node file (a symlink, a hardlink, a relative path) finds the same agent, from any shell.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import crypto from 'node:crypto'
import { PolykeyError } from '../errors.js'

export interface AgentRecord {
  node: string
  /** '' when the agent holds the node unlocked without a mount */
  mountpoint: string
  pid: number
  socket: string
  /** 'mount' or 'unlock' */
  kind?: string
  /** ms since the epoch when an idle unlock agent locks itself (null: never) */
  until?: number | null
}

const uid = () => process.getuid?.() ?? 0

/** ~/.polykey/agents of the user running this process. */
export function agentDir(): string {
  let home: string
  try {
    home = os.userInfo().homedir
  } catch {
    home = os.homedir()
  }
  return path.join(home, '.polykey', 'agents')
}

/** Why a folder or socket that we are about to trust is not ours alone, or null when it is. */
export function untrusted(p: string, kind: 'dir' | 'socket'): string | null {
  let st: fs.Stats
  try {
    st = fs.lstatSync(p)
  } catch (err) {
    return `${p}: ${(err as NodeJS.ErrnoException).code}`
  }
  if (kind === 'dir' && !st.isDirectory()) return `${p} is not a folder`
  if (kind === 'socket' && !st.isSocket()) return `${p} is not a socket`
  if (st.uid !== uid()) return `${p} belongs to uid ${st.uid}, not to you (uid ${uid()})`
  if ((st.mode & 0o077) !== 0) return `${p} can be reached by other users (mode ${(st.mode & 0o777).toString(8)})`
  return null
}

/** The agent folder, created 0700 when missing; refused when someone else could have put anything in it. */
export function ensureAgentDir(): string {
  const dir = agentDir()
  const parent = path.dirname(dir)
  fs.mkdirSync(parent, { recursive: true, mode: 0o700 })
  const pst = fs.lstatSync(parent)
  if (!pst.isDirectory() || pst.uid !== uid() || (pst.mode & 0o022) !== 0)
    throw new PolykeyError('REFUSED', `${parent} must be a folder owned by you that others cannot write to`, { path: parent })
  try {
    fs.mkdirSync(dir, { mode: 0o700 })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new PolykeyError('IO', `cannot create ${dir}: ${(err as NodeJS.ErrnoException).code}`, { path: dir })
  }
  const why = untrusted(dir, 'dir')
  if (why) throw new PolykeyError('REFUSED', `refusing the agent folder: ${why}`, { path: dir }, { hint: `remove it, or fix it with 'chmod 700 ${dir}'` })
  return dir
}

/**
 * The node file's identity, or null when there is no such file. Device and inode, so every
 * name of the file agrees; the path itself is not part of it.
 */
function keyOf(nodePath: string): string | null {
  let st: fs.Stats
  try {
    st = fs.statSync(nodePath)
  } catch {
    return null
  }
  if (!st.isFile()) return null
  return crypto.createHash('sha256').update(`${st.dev}:${st.ino}`).digest('hex').slice(0, 24)
}

export interface AgentPaths {
  socket: string
  record: string
  log: string
}

/** Where the agent of this node file listens (null when the file does not exist). */
export function agentPaths(nodePath: string): AgentPaths | null {
  const key = keyOf(nodePath)
  if (!key) return null
  const dir = agentDir()
  return { socket: path.join(dir, `${key}.sock`), record: path.join(dir, `${key}.json`), log: path.join(dir, `${key}.log`) }
}

export function readRecord(file: string): AgentRecord | null {
  try {
    const r = JSON.parse(fs.readFileSync(file, 'utf8')) as AgentRecord
    if (typeof r.node !== 'string' || typeof r.pid !== 'number' || typeof r.socket !== 'string' || typeof r.mountpoint !== 'string') return null
    return r
  } catch {
    return null
  }
}

/** The records of this user's agents (only from a folder that passes the checks). */
export function readRecords(): AgentRecord[] {
  const dir = agentDir()
  if (untrusted(dir, 'dir')) return []
  const out: AgentRecord[] = []
  for (const n of fs.readdirSync(dir).filter((n) => n.endsWith('.json'))) {
    const r = readRecord(path.join(dir, n))
    if (r && alive(r.pid)) out.push(r) // a killed agent's record is left behind: not an agent
  }
  return out
}

/** Whether process pid is alive (a record can outlive a killed agent). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}
