// `--clip`: put a value on the system clipboard through the desktop's own tool, and have a
// detached helper clear it after N seconds unless the user copied something else meanwhile.
// The value reaches the tool on its stdin only; the helper never gets it at all: only a keyed
// hash of it (and the hash key) over a pipe, so neither argv, the environment nor a file ever
// holds it (docs/SECURITY.md "Clipboard").
import fs from 'node:fs'
import path from 'node:path'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { PolykeyError } from '../errors.js'
import { hash, randomBytes, wipe } from '../crypto/index.js'

export interface ClipTool {
  name: string
  copy: string[]
  paste: string[]
  /** how to empty the clipboard; null: copy an empty value */
  clear: string[] | null
}

export const DEFAULT_CLIP_SECONDS = 45

/** What the tools need to find the display, and nothing else from the caller's environment. */
const DISPLAY_ENV = [
  'PATH',
  'HOME',
  'DISPLAY',
  'XAUTHORITY',
  'WAYLAND_DISPLAY',
  'XDG_RUNTIME_DIR',
  'XDG_SESSION_TYPE',
  'DBUS_SESSION_BUS_ADDRESS',
  'LANG',
  'LC_ALL',
  'LC_CTYPE',
] as const

export function toolEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {}
  for (const k of DISPLAY_ENV) if (env[k] !== undefined) out[k] = env[k]
  return out
}

function onPath(cmd: string, env: NodeJS.ProcessEnv): boolean {
  for (const dir of (env.PATH ?? '').split(':')) {
    if (!dir) continue
    try {
      fs.accessSync(path.join(dir, cmd), fs.constants.X_OK)
      return true
    } catch {
      /* next */
    }
  }
  return false
}

/** The first clipboard tool that exists and has a display to talk to (Wayland, then X11; macOS). */
export function findClipTool(env: NodeJS.ProcessEnv, platform: NodeJS.Platform = process.platform): ClipTool | null {
  if (platform === 'darwin' && onPath('pbcopy', env)) return { name: 'pbcopy', copy: ['pbcopy'], paste: ['pbpaste'], clear: null }
  if (env.WAYLAND_DISPLAY && onPath('wl-copy', env) && onPath('wl-paste', env))
    return { name: 'wl-copy', copy: ['wl-copy'], paste: ['wl-paste', '--no-newline'], clear: ['wl-copy', '--clear'] }
  if (env.DISPLAY) {
    if (onPath('xclip', env)) return { name: 'xclip', copy: ['xclip', '-selection', 'clipboard', '-in'], paste: ['xclip', '-selection', 'clipboard', '-out'], clear: null }
    if (onPath('xsel', env))
      return { name: 'xsel', copy: ['xsel', '--clipboard', '--input'], paste: ['xsel', '--clipboard', '--output'], clear: ['xsel', '--clipboard', '--delete'] }
  }
  return null
}

/**
 * Run a tool with `input` on its stdin. The X11 and Wayland tools fork a child that keeps
 * serving the selection (holding our stdio if we gave it any), so we wait for the exit of the
 * process we started, not for its pipes to close.
 */
export function runTool(argv: string[], input: Buffer | null, env: NodeJS.ProcessEnv, capture = false, timeoutMs = 10_000): Promise<{ code: number; stdout: Buffer }> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { env, cwd: '/', stdio: [input ? 'pipe' : 'ignore', capture ? 'pipe' : 'ignore', 'ignore'] })
    const out: Buffer[] = []
    child.stdout?.on('data', (d: Buffer) => out.push(d))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      // with capture the tool does not fork: its output is complete once its stdout closes
      const done = () => resolve({ code: code ?? (signal ? 128 : 1), stdout: Buffer.concat(out) })
      if (capture && child.stdout && !child.stdout.readableEnded) child.stdout.once('close', done)
      else done()
    })
    if (input && child.stdin) {
      child.stdin.on('error', () => {})
      child.stdin.end(input)
    }
  })
}

export const HELPER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'clip-helper.js')

/** What the helper gets on its stdin: one JSON line. */
export interface ClearRequest {
  tool: string
  seconds: number
  key: string // hex: the BLAKE2b key of the digest
  digest: string // hex: keyed BLAKE2b of the value we copied
}

export function keyedDigest(value: Buffer, key: Buffer): Buffer {
  return hash(value, 32, key)
}

/** Copy `value`; when seconds > 0, leave a detached helper to clear it. The caller wipes value. */
export async function copyToClipboard(value: Buffer, seconds: number, env: NodeJS.ProcessEnv): Promise<ClipTool> {
  const tool = findClipTool(env)
  if (!tool)
    throw new PolykeyError(
      'REFUSED',
      'no clipboard to copy to: none of wl-copy, xclip or xsel is installed for this display',
      {},
      {
        hint: 'install wl-clipboard (Wayland) or xclip, or leave out --clip to print the value',
      },
    )
  const tenv = toolEnv(env)
  let r: { code: number }
  try {
    r = await runTool(tool.copy, value, tenv)
  } catch (err) {
    throw new PolykeyError('IO', `cannot run ${tool.name}: ${(err as NodeJS.ErrnoException).code}`, {}, { cause: err })
  }
  if (r.code !== 0)
    throw new PolykeyError('IO', `${tool.name} could not copy to the clipboard (exit ${r.code})`, {}, { hint: 'is the display reachable (DISPLAY / WAYLAND_DISPLAY)?' })
  if (seconds > 0) await startClearer(tool, value, seconds, tenv)
  return tool
}

async function startClearer(tool: ClipTool, value: Buffer, seconds: number, env: NodeJS.ProcessEnv): Promise<void> {
  const key = randomBytes(32)
  const digest = keyedDigest(value, key)
  const req: ClearRequest = { tool: tool.name, seconds, key: key.toString('hex'), digest: digest.toString('hex') }
  wipe(key)
  const child = spawn(process.execPath, [HELPER], { env, cwd: '/', detached: true, stdio: ['pipe', 'ignore', 'ignore'] })
  await new Promise<void>((resolve, reject) => {
    child.once('error', reject)
    child.stdin!.on('error', reject)
    child.stdin!.end(JSON.stringify(req) + '\n', () => resolve())
  })
  child.unref()
}
