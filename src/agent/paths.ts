// Where a mounted node's agent listens: a user-only folder in the runtime directory, one socket
// and one small record per node (no secrets in either).
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { PolykeyError } from '../errors.js'

export interface AgentRecord {
  node: string
  mountpoint: string
  pid: number
  socket: string
}

export function runtimeDir(env: NodeJS.ProcessEnv = process.env): string {
  const uid = process.getuid?.() ?? 0
  const base = env.XDG_RUNTIME_DIR && fs.existsSync(env.XDG_RUNTIME_DIR) ? env.XDG_RUNTIME_DIR : os.tmpdir()
  return path.join(base, `polykey-${uid}`)
}

/** The runtime folder, created 0700; refused if someone else owns it or others can enter it. */
export function ensureRuntimeDir(env?: NodeJS.ProcessEnv): string {
  const dir = runtimeDir(env)
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
  const st = fs.lstatSync(dir)
  if (!st.isDirectory() || st.uid !== (process.getuid?.() ?? 0) || (st.mode & 0o077) !== 0)
    throw new PolykeyError('REFUSED', `${dir} must be a folder owned by you with mode 0700`)
  return dir
}

function keyOf(nodePath: string): string {
  let real = path.resolve(nodePath)
  try {
    real = fs.realpathSync(nodePath)
  } catch {
    /* not there (yet) */
  }
  return crypto.createHash('sha256').update(real).digest('hex').slice(0, 20)
}

export function socketPath(nodePath: string, env?: NodeJS.ProcessEnv): string {
  return path.join(runtimeDir(env), `${keyOf(nodePath)}.sock`)
}
export function recordPath(nodePath: string, env?: NodeJS.ProcessEnv): string {
  return path.join(runtimeDir(env), `${keyOf(nodePath)}.json`)
}
export function logPath(nodePath: string, env?: NodeJS.ProcessEnv): string {
  return path.join(runtimeDir(env), `${keyOf(nodePath)}.log`)
}

export function readRecords(env?: NodeJS.ProcessEnv): AgentRecord[] {
  const dir = runtimeDir(env)
  let names: string[] = []
  try {
    names = fs.readdirSync(dir)
  } catch {
    return []
  }
  const out: AgentRecord[] = []
  for (const n of names.filter((n) => n.endsWith('.json'))) {
    try {
      out.push(JSON.parse(fs.readFileSync(path.join(dir, n), 'utf8')) as AgentRecord)
    } catch {
      /* half-written or foreign: ignore */
    }
  }
  return out
}
