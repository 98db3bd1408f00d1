// Helpers for the real-mount tests (issue 4): a node mounted with `bin/polykey mount` in a
// temporary folder, shell commands run as a user would run them, and a teardown that never
// leaves a mount behind — `polykey unmount`, then `fusermount -u -z`, then /proc/mounts is
// checked — even when the test failed halfway.
//
// Everything here is asynchronous on purpose: the mount process is a separate process, but the
// tests also run several tools at once (readers and a writer), and a *Sync child call would
// serialise them.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { spawn, spawnSync } from 'node:child_process'
import { collect, newNode, run, PASS, type RunResult } from '../helpers.js'
import { readRecords, agentDir } from '../../src/agent/paths.js'

/** false, or why every mount test is skipped (loudly). */
export const NO_FUSE: string | false = (() => {
  try {
    fs.accessSync('/dev/fuse', fs.constants.R_OK | fs.constants.W_OK)
    return false
  } catch {
    return '/dev/fuse is missing or not accessible: real-mount tests SKIPPED'
  }
})()
if (NO_FUSE) console.warn(`\n*** WARNING: ${NO_FUSE} ***\n`)

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

export interface ShResult {
  code: number
  out: string
  err: string
}

/** Run a bash command line (as a user would type it). Never throws; look at code/out/err. */
export async function sh(cmd: string, opts: { cwd?: string; env?: Record<string, string | undefined>; input?: string | Buffer; timeoutMs?: number } = {}): Promise<ShResult> {
  const env = { ...process.env, POLYKEY_PASSPHRASE: undefined, LC_ALL: 'C', ...opts.env }
  const r = await collect('bash', ['-c', cmd], { env, cwd: opts.cwd ?? '/', input: opts.input, timeoutMs: opts.timeoutMs ?? 30_000 })
  return { code: r.code, out: r.stdout.toString(), err: r.stderr }
}

/** Like sh, but the command must succeed; returns its stdout. */
export async function ok(cmd: string, opts: Parameters<typeof sh>[1] = {}): Promise<string> {
  const r = await sh(cmd, opts)
  if (r.code !== 0) throw new Error(`\`${cmd}\` failed with ${r.code}: ${r.err}${r.out}`)
  return r.out
}

/** Single-quote for bash. */
export const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`

/** Poll until fn() returns a truthy value (or throw after timeoutMs). */
export async function waitFor<T>(what: string | (() => string), fn: () => T | Promise<T>, timeoutMs = 5000, everyMs = 100): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const v = await fn()
      if (v) return v as NonNullable<T>
      last = v
    } catch (err) {
      last = err
    }
    if (Date.now() > end)
      throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`)
    await sleep(everyMs)
  }
}

/** Is `mnt` a mountpoint right now (/proc/mounts; paths with spaces are escaped there)? */
export function mountLine(mnt: string): string | null {
  const want = path.resolve(mnt).replace(/ /g, '\\040')
  const lines = fs.readFileSync('/proc/mounts', 'utf8').split('\n')
  return lines.find((l) => l.split(' ')[1] === want) ?? null
}

/** Is the process alive (a zombie counts as gone)? */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z'
  } catch {
    return false
  }
}

/** Wait until the process has exited. */
export function waitExit(pid: number, timeoutMs = 10_000): Promise<true> {
  return waitFor(`process ${pid} to exit`, () => !alive(pid), timeoutMs, 50) as Promise<true>
}

// Last line of defence: if this test process dies without running t.after, lazily unmount
// whatever it mounted so the machine is not left with stale mounts.
const live = new Set<string>()
process.on('exit', () => {
  for (const mnt of live) if (mountLine(mnt)) spawnSync('fusermount', ['-u', '-z', mnt], { stdio: 'ignore' })
})

export interface Session {
  /** the test's own folder (node file, mountpoint, editor HOME) */
  dir: string
  node: string
  mnt: string
  /** a HOME for editors, so vim/nano state never lands in the real one */
  home: string
  /**
   * `polykey ARGS` for this node. While mounted there is NO passphrase in the environment (the
   * agent answers); while unmounted the test passphrase is given.
   */
  pk(args: string[], opts?: { input?: string | Buffer; env?: Record<string, string | undefined> }): Promise<RunResult>
  /** `polykey ARGS` that must succeed; returns stdout */
  pkOk(args: string[], opts?: { input?: string | Buffer; env?: Record<string, string | undefined> }): Promise<string>
  /** a shell command run in MNT (or opts.cwd), HOME set to the session's home */
  sh(cmd: string, opts?: Parameters<typeof sh>[1]): Promise<ShResult>
  ok(cmd: string, opts?: Parameters<typeof sh>[1]): Promise<string>
  /** MNT/repos/REPO[/NAME] and MNT/tags/TAG[/NAME] */
  repo(repo: string, name?: string): string
  tag(tag: string, name?: string): string
  mount(): Promise<void>
  /** `polykey unmount` (must succeed and leave nothing mounted) */
  unmount(): Promise<void>
  /** the mount process's pid, from the agent's runtime record */
  pid(): number
  /** commit messages of REPO, newest first (works mounted or not) */
  log(repo: string): Promise<string[]>
  /**
   * Wait until REPO's log (newest first) satisfies `pred`; the log is read again only when the
   * node file changed (every commit is followed by a save), so waiting is cheap.
   */
  waitLog(repo: string, pred: (log: string[]) => boolean, timeoutMs?: number): Promise<string[]>
  /** the node file's size now */
  size(): number
  /** wait until the node file grew past `from` (a commit or change was saved); no CLI involved */
  waitSaved(from: number, timeoutMs?: number): Promise<void>
  /** names listed by `polykey export tar | tar t` (run while unmounted) */
  exported(): Promise<string[]>
  mounted(): boolean
}

/**
 * A fresh node (cheap 'test' KDF) with `setup` applied through the CLI, mounted at DIR/mnt.
 * Whatever happens in the test, t.after unmounts (polykey unmount, then fusermount -u -z),
 * checks /proc/mounts, stops a mount process that is still running, and removes the folder.
 */
export interface MountedNodeOptions {
  /** repositories and their secrets, imported with one `polykey import dir` (one commit per repository) */
  seed?: Record<string, Record<string, string>>
  /** tags made after mounting, with mkdir + ln in the mount: { TAG: ['REPO/NAME', ...] } */
  tags?: Record<string, string[]>
  /** more CLI setup before mounting */
  setup?: (s: Session) => Promise<void>
  /** false: leave it unmounted */
  mount?: boolean
}

export async function mountedNode(t: { after(fn: () => unknown): void }, opts: MountedNodeOptions = {}): Promise<Session> {
  const cleanups: (() => unknown)[] = []
  const { dir, node } = await newNode({ after: (fn) => cleanups.push(fn) })
  const mnt = path.join(dir, 'mnt')
  const home = path.join(dir, 'home')
  fs.mkdirSync(home, { mode: 0o700 })
  let lastPid: number | null = null

  const pk: Session['pk'] = (args, o = {}) => run(args, { node, input: o.input, env: { POLYKEY_PASSPHRASE: mountLine(mnt) ? undefined : PASS, ...o.env } })
  const s: Session = {
    dir,
    node,
    mnt,
    home,
    pk,
    async pkOk(args, o = {}) {
      const r = await pk(args, o)
      if (r.code !== 0) throw new Error(`polykey ${args.join(' ')} failed with ${r.code}: ${r.stderr}`)
      return r.out
    },
    sh: (cmd, o = {}) => sh(cmd, { cwd: mnt, ...o, env: { HOME: home, ...o.env } }),
    ok: (cmd, o = {}) => ok(cmd, { cwd: mnt, ...o, env: { HOME: home, ...o.env } }),
    repo: (r, n) => path.join(mnt, 'repos', r, ...(n === undefined ? [] : [n])),
    tag: (tg, n) => path.join(mnt, 'tags', tg, ...(n === undefined ? [] : [n])),
    async mount() {
      const r = await run(['mount', mnt], { node })
      live.add(mnt)
      if (r.code !== 0) throw new Error(`polykey mount failed with ${r.code}: ${r.stderr}`)
      if (!mountLine(mnt)) throw new Error('polykey mount returned but nothing is mounted')
      lastPid = s.pid()
    },
    async unmount() {
      const pid = lastPid
      const r = await run(['unmount', mnt], { node, env: { POLYKEY_PASSPHRASE: undefined } })
      if (r.code !== 0) throw new Error(`polykey unmount failed with ${r.code}: ${r.stderr}`)
      if (mountLine(mnt)) throw new Error(`${mnt} is still mounted after polykey unmount`)
      if (pid !== null) await waitExit(pid)
      live.delete(mnt)
    },
    pid() {
      const rec = readRecords().find((x) => x.mountpoint === mnt)
      if (!rec) throw new Error(`no runtime record for ${mnt} in ${agentDir()}`)
      return rec.pid
    },
    async log(repo) {
      const out = await s.pkOk(['repo', 'log', repo, '--json'])
      return (JSON.parse(out) as { message: string }[]).map((c) => c.message)
    },
    async waitLog(repo, pred, timeoutMs = 6000) {
      let seen = -1
      let last: string[] = []
      return waitFor<string[] | null>(
        () => `the log of ${repo} (last: ${JSON.stringify(last)})`,
        async () => {
          const size = fs.statSync(node).size
          if (size === seen) return null
          seen = size
          last = await s.log(repo)
          return pred(last) ? last : null
        },
        timeoutMs,
        100,
      )
    },
    size: () => fs.statSync(node).size,
    async waitSaved(from, timeoutMs = 6000) {
      await waitFor('the node file to be appended', () => fs.statSync(node).size > from, timeoutMs, 50)
    },
    async exported() {
      const tar = await run(['export', 'tar'], { node })
      if (tar.code !== 0) throw new Error(`export tar failed: ${tar.stderr}`)
      const list = await sh('tar t', { input: tar.stdout })
      tar.stdout.fill(0)
      return list.out.split('\n').filter(Boolean)
    },
    mounted: () => mountLine(mnt) !== null,
  }

  t.after(async () => {
    const problems: string[] = []
    try {
      if (mountLine(mnt)) {
        const r = await run(['unmount', mnt], { node, env: { POLYKEY_PASSPHRASE: undefined }, timeoutMs: 15_000 })
        if (r.code !== 0) problems.push(`polykey unmount: ${r.stderr.trim()}`)
      }
      if (mountLine(mnt)) {
        await sh(`fusermount -u -z ${q(mnt)}`)
        problems.push('needed fusermount -u -z')
      }
      if (mountLine(mnt) && process.getuid?.() === 0) await sh(`umount -l ${q(mnt)}`)
      if (lastPid !== null && alive(lastPid)) {
        try {
          await waitExit(lastPid, 5000)
        } catch {
          process.kill(lastPid, 'SIGKILL')
          problems.push(`mount process ${lastPid} had to be killed`)
        }
      }
    } finally {
      const still = mountLine(mnt)
      if (!still) live.delete(mnt)
      for (const fn of cleanups) await fn()
      if (still) throw new Error(`LEFT MOUNTED: ${still}`)
    }
    // A test that failed already says why; a leftover mount after a passing test is a failure.
    if (problems.length) console.warn(`mount teardown for ${mnt}: ${problems.join('; ')}`)
  })

  const seed = async () => {
    if (!opts.seed) return
    const src = path.join(dir, 'seed')
    for (const [repo, secrets] of Object.entries(opts.seed)) {
      fs.mkdirSync(path.join(src, repo), { recursive: true })
      for (const [name, value] of Object.entries(secrets)) fs.writeFileSync(path.join(src, repo, name), value)
    }
    await s.pkOk(['import', 'dir', src])
    fs.rmSync(src, { recursive: true })
  }
  if (opts.setup) await opts.setup(s)
  // Imported through the mount's agent: `polykey import dir` on an unmounted node currently
  // stores zeros (the import wipes its buffers before the node file is written).
  if (opts.mount === false) await seed()
  else {
    await s.mount()
    await seed()
    if (opts.tags) {
      const cmds = Object.entries(opts.tags).map(([tag, refs]) => [`mkdir tags/${q(tag)}`, ...refs.map((r) => `ln repos/${q(r)} tags/${q(tag)}/`)].join(' && '))
      const size = s.size()
      await s.ok(cmds.join(' && '))
      await s.waitSaved(size) // start quiet: the tags are saved, no save or commit pending
    }
  }
  return s
}

export const PASSPHRASE = PASS

/** stat -c FORMAT for several paths, one line each. */
export async function stat(fmt: string, ...paths: string[]): Promise<string[]> {
  return (await ok(`stat -c ${q(fmt)} ${paths.map(q).join(' ')}`)).trim().split('\n')
}

/** Plain grep -r of a folder tree that stays on one filesystem (never enters a mount). */
export async function grepTree(root: string, needle: string, exclude: string[] = []): Promise<string[]> {
  if (!fs.existsSync(root)) return []
  const prune = exclude.map((e) => `-path ${q(e)} -prune -o`).join(' ')
  const r = await sh(`find ${q(root)} -xdev ${prune} -type f -print0 2>/dev/null | xargs -0 -r grep -l -a -F -e ${q(needle)} 2>/dev/null`)
  return r.out.split('\n').filter(Boolean)
}

export const TMP = os.tmpdir()

export type Step = string | { until: RegExp | (() => boolean | Promise<boolean>); what: string } | { ms: number }

/**
 * Run an interactive program in a pseudo-terminal (script(1)), feeding it keystrokes. A step
 * waits for text on the screen (a RegExp) or for a condition, or sleeps.
 */
export async function drive(s: Session, cmd: string, steps: Step[], timeoutMs = 20_000): Promise<string> {
  const child = spawn('script', ['-qfec', cmd, '/dev/null'], {
    cwd: s.mnt,
    env: { ...process.env, TERM: 'xterm', HOME: s.home, LC_ALL: 'C', POLYKEY_PASSPHRASE: undefined } as NodeJS.ProcessEnv,
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let screen = ''
  child.stdout.on('data', (d: Buffer) => (screen += d.toString('latin1')))
  child.stderr.on('data', (d: Buffer) => (screen += d.toString('latin1')))
  const exited = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? 128)))
  const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  try {
    for (const step of steps) {
      if (typeof step === 'string') child.stdin.write(step)
      else if ('ms' in step) await sleep(step.ms)
      else {
        const until = step.until
        await waitFor(`${cmd}: ${step.what}`, () => (until instanceof RegExp ? until.test(screen) : until()), timeoutMs, 50)
      }
    }
    const code = await exited
    if (code !== 0) throw new Error(`${cmd} exited with ${code}; screen: ${JSON.stringify(screen.slice(-400))}`)
    return screen
  } finally {
    clearTimeout(killer)
    child.stdin.end()
    if (child.exitCode === null) child.kill('SIGKILL')
  }
}
