// Who a calling process is, from /proc (Linux): its executable (path, device, inode and a hash
// of the file's bytes), its command line, and — for interpreters — the script it runs. The
// mount uses it to decide (guard.ts) and to record (vault/audit.ts) each open of a secret.
//
// Everything is read synchronously: the answer is needed before the open returns. Files under
// the mountpoint are never read (this process serves them: a synchronous read would wait on
// itself); an executable or script there is named but gets no hash, so no rule matches it.
import fs from 'node:fs'
import path from 'node:path'
import { LRUCache } from 'lru-cache'
import { hash } from '../crypto/index.js'

/** Interpreters: the program that matters is the script they were given (docs/SECURITY.md). */
export const INTERPRETER = /^(python[0-9.]*|node|nodejs|sh|dash|bash|zsh|ksh|perl[0-9.]*|ruby[0-9.]*)$/

export interface FileId {
  path: string
  dev: number
  ino: number
  /** BLAKE2b-256 of the file's bytes, hex; '' when it could not be read (gone, inside the mount) */
  hash: string
}

export interface ProcessInfo {
  pid: number
  /** start time in clock ticks after boot (/proc/PID/stat field 22): with the pid, names one process */
  start: number
  exe: FileId
  /** the script an interpreter runs; null for other programs and for inline code (-c, -e, stdin) */
  script: FileId | null
  cmdline: string[]
  /** the dynamic loader was told to load more code (LD_PRELOAD, LD_AUDIT, LD_LIBRARY_PATH) */
  preload: string[]
}

const MAX_HASHED_BYTES = 512 << 20

/** Hashes of files by (device, inode, size, change time): a new `cat` process costs no re-hash. */
const hashes = new LRUCache<string, string>({ max: 4096 })

/** Field 22 (start time) of a /proc/PID/stat text. comm (field 2) may hold spaces or ')'. */
export function startOf(stat: string): number {
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ', 21)
  return Number(rest[19]) // field 22 = index 19 counting from state (field 3)
}

/** Start time of a process, or null when it is gone. */
export function startTime(pid: number): number | null {
  try {
    return startOf(fs.readFileSync(`/proc/${pid}/stat`, 'latin1'))
  } catch {
    return null
  }
}

function inside(p: string, mountpoint: string): boolean {
  return p === mountpoint || p.startsWith(mountpoint + '/')
}

/** Identify a file; `via` is what to stat and read (a /proc link that reaches the exact inode). */
function fileId(p: string, via: string, mountpoint: string, withHash = true): FileId {
  if (inside(p, mountpoint)) return { path: p, dev: 0, ino: 0, hash: '' }
  let st: fs.Stats
  try {
    st = fs.statSync(via)
  } catch {
    return { path: p, dev: 0, ino: 0, hash: '' }
  }
  if (!withHash) return { path: p, dev: st.dev, ino: st.ino, hash: '' }
  const key = `${st.dev}:${st.ino}:${st.size}:${st.ctimeMs}:${st.mtimeMs}`
  let h = hashes.get(key)
  if (h === undefined) {
    h = ''
    if (st.isFile() && st.size <= MAX_HASHED_BYTES) {
      try {
        const data = fs.readFileSync(via)
        h = hash(data).toString('hex')
      } catch {
        h = ''
      }
    }
    if (h) hashes.set(key, h)
  }
  return { path: p, dev: st.dev, ino: st.ino, hash: h }
}

/** The file a path names now, for `access allow PROGRAM` (the same identity the mount computes). */
export function identifyFile(p: string, mountpoint = '\0'): FileId {
  const real = fs.realpathSync(p)
  return fileId(real, real, mountpoint)
}

/**
 * The script an interpreter runs: its first argument that is not an option. Inline code (-c,
 * -e, -E, -m, stdin) has none. Options that take a value are skipped with it.
 */
export function scriptArg(interp: string, args: string[]): string | null {
  const withValue = new Set(interp.startsWith('node') ? ['-r', '--require', '--import', '--loader', '--env-file'] : interp.startsWith('python') ? ['-W', '-X', '-Q'] : ['-o', '-O'])
  for (let i = 0; i < args.length; i++) {
    const a = args[i]
    if (a === '--') return args[i + 1] ?? null
    if (a === '-' || a === '-c' || a === '-e' || a === '-E' || a === '-m' || a === '-p' || a === '--eval' || a === '--print') return null
    if (withValue.has(a)) {
      i++
      continue
    }
    if (a.startsWith('-') || a.startsWith('+')) {
      // bash -xc 'code', sh -ec …, perl -le …: a cluster with c/e means inline code
      if (/^-[a-zA-Z]*[ce][a-zA-Z]*$/.test(a) && !interp.startsWith('node')) return null
      continue
    }
    return a
  }
  return null
}

/** Read who a process is (hashes only when asked: the audit alone needs names). Null when it has gone. */
export function processInfo(pid: number, mountpoint: string, opts: { hash: boolean } = { hash: true }): ProcessInfo | null {
  const start = startTime(pid)
  if (start === null) return null
  let exePath: string
  let cmdline: string[]
  try {
    exePath = fs.readlinkSync(`/proc/${pid}/exe`)
    cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
  } catch {
    return null
  }
  if (cmdline.length && cmdline[cmdline.length - 1] === '') cmdline.pop()
  const exe = fileId(exePath.replace(/ \(deleted\)$/, ''), `/proc/${pid}/exe`, mountpoint, opts.hash)
  if (exePath.endsWith(' (deleted)')) exe.hash = ''
  let script: FileId | null = null
  if (INTERPRETER.test(path.basename(exe.path))) {
    const arg = scriptArg(path.basename(exe.path), cmdline.slice(1))
    if (arg !== null) {
      let cwd = '/'
      try {
        cwd = fs.readlinkSync(`/proc/${pid}/cwd`)
      } catch {}
      const p = path.resolve(cwd, arg)
      let real = p
      if (!inside(p, mountpoint)) {
        try {
          real = fs.realpathSync(p)
        } catch {}
      }
      script = fileId(real, real, mountpoint, opts.hash)
    }
  }
  const preload: string[] = []
  try {
    for (const kv of fs.readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0')) {
      const name = kv.slice(0, kv.indexOf('='))
      if ((name === 'LD_PRELOAD' || name === 'LD_AUDIT' || name === 'LD_LIBRARY_PATH') && kv.length > name.length + 1) preload.push(name)
    }
  } catch {
    preload.push('environ unreadable')
  }
  return { pid, start, exe, script, cmdline, preload }
}
