// git-remote-polykey: real git as a client of a node (docs/SHARING.md §Real git). Git runs it as
// `git-remote-polykey REMOTE ADDRESS` for URLs `polykey::NODE_PATH#REPO` (`polykey::#REPO`: the
// default node) and talks the remote-helper protocol (git-scm.com/docs/gitremote-helpers) on
// stdin/stdout. We offer the `fetch` and `push` capabilities: objects travel as packs, so commit
// ids (and so signatures) are exactly the node's. Every request to the node is a hidden CLI
// command (`polykey git-serve …`, src/cli/git-commands.ts) run in this process through
// Context.call: through the mount's agent when the node is mounted, else on the node file,
// unlocked with the usual key sources (asked once, on /dev/tty, for the whole session).
// When an agent holds the node, git's fetches are answered by the native fast path
// (native/client/git-remote.c, docs/ARCHITECTURE.md) without starting Node; it hands the rest
// of a session here (a push, say) with the lines it read: --answered/--resume (helperMain).
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import readline from 'node:readline'
import { Readable, Writable } from 'node:stream'
import { Context, type IO, processIO } from '../cli/context.js'
import { EXIT, PolykeyError } from '../errors.js'
import { nameProblem } from '../vault/names.js'

const BRANCH_REF = 'refs/heads/main'
/** What one fetch tells the node we have (every local ref tip, at most). */
const MAX_HAVES = 256

export function parseAddress(address: string, cwd: string, home: string): { node?: string; repo: string; relative?: boolean } {
  const hash = address.lastIndexOf('#')
  if (hash < 0) throw new PolykeyError('USAGE', `expected polykey::NODE_PATH#REPO or polykey::#REPO, got polykey::${address}`)
  const file = address.slice(0, hash)
  const repo = address.slice(hash + 1)
  const why = nameProblem(repo)
  if (why || repo === '.git') throw new PolykeyError('USAGE', `invalid repository name ${JSON.stringify(repo)} in polykey::${address}${why ? `: ${why}` : ''}`)
  if (file === '') return { repo }
  const expanded = file === '~' ? home : file.startsWith('~/') ? path.join(home, file.slice(2)) : file
  return { node: path.resolve(cwd, expanded), repo, ...(path.isAbsolute(expanded) ? {} : { relative: true }) }
}

interface Run {
  code: number
  stdout: Buffer
  stderr: string
}

function runGit(args: string[], input?: Buffer): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, { stdio: ['pipe', 'pipe', 'pipe'] })
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout.on('data', (c: Buffer) => out.push(c))
    child.stderr.on('data', (c: Buffer) => err.push(c))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code: code ?? 1, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString() }))
    child.stdin.on('error', () => {})
    child.stdin.end(input ?? Buffer.alloc(0))
  })
}

/**
 * A repository with no refs at all (what git clone gives its helper): one git process fewer, as
 * the native fast path does. Only the plain layout is read (loose refs under refs/, no
 * packed-refs, no reftable, not a worktree); anything else, or any doubt, asks git.
 */
function surelyNoRefs(): boolean {
  const gitdir = process.env.GIT_DIR
  if (!gitdir || !path.isAbsolute(gitdir) || process.env.GIT_COMMON_DIR) return false
  const present = (f: string) => {
    try {
      fs.lstatSync(path.join(gitdir, f))
      return true
    } catch (err) {
      return (err as NodeJS.ErrnoException).code !== 'ENOENT'
    }
  }
  if (['packed-refs', 'reftable', 'commondir'].some(present)) return false
  const onlyFolders = (dir: string, depth: number): boolean => {
    let entries: fs.Dirent[]
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true })
    } catch {
      return false
    }
    return depth < 8 && entries.every((e) => e.isDirectory() && onlyFolders(path.join(dir, e.name), depth + 1))
  }
  return onlyFolders(path.join(gitdir, 'refs'), 0)
}

/** The one line a failed polykey command printed (its `polykey: error:` line), without the prefix. */
function errorOf(r: Run): string {
  const line = r.stderr.split('\n').find((l) => l.startsWith('polykey: error: '))
  return line ? line.slice('polykey: error: '.length) : r.stderr.trim().split('\n')[0] || `failed (exit ${r.code})`
}

/** A failure that ends the session: its one line is printed, git then reports it gave up. */
class Fatal extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message)
  }
}

export class Helper {
  private ctx: Context
  private prefetched: { want: string; pack: Buffer } | null = null
  private forPush: string | null = null
  private warned = false
  /** git asked (a clone) that the pack be checked whole here, as its fetch-pack does (`option check-connectivity`) */
  private checkConnectivity = false

  constructor(
    private readonly remote: string,
    private readonly target: { node?: string; repo: string; relative?: boolean },
    private readonly out: NodeJS.WritableStream,
    private readonly err: NodeJS.WritableStream,
    /** the address as git gave it (after polykey::) */
    private readonly address = '',
  ) {
    this.ctx = new Context(processIO(), { node: target.node })
  }

  /**
   * One `git-serve` request: forwarded to the node's agent when one runs (mount or unlock),
   * else the handler runs here, straight (no argument parser: start-up time is most of a
   * clone). The key is asked for once per session (Context caches it).
   */
  private async node(args: string[], stdin: Buffer = Buffer.alloc(0)): Promise<Run> {
    const out: Buffer[] = []
    const err: Buffer[] = []
    const sink = (to: Buffer[]) => new Writable({ write: (c: Buffer, _e, cb) => (to.push(Buffer.from(c)), cb()) })
    const io: IO = { ...processIO(), stdin: Readable.from([stdin]), stdout: sink(out), stderr: sink(err), stdinIsTTY: false, stdoutIsTTY: false, stderrIsTTY: false }
    const done = (code: number): Run => ({ code, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString() })
    const { findAgent, forward } = await import('../agent/client.js')
    const sock = await findAgent(this.ctx.nodePath)
    if (sock) {
      const code = await forward(sock, ['git-serve', ...args, ...(this.target.node ? ['--node', this.target.node] : [])], io, { stdin: true })
      if (code !== null) return done(code)
    }
    const [action, repo, ...rest] = args
    const force = rest.includes('--force')
    const oids = rest.filter((a) => a !== '--force')
    this.ctx.io = io
    const { gitServe } = await import('../cli/git-commands.js')
    try {
      return done((await gitServe(this.ctx, { action, repo, oids, force })) ?? EXIT.OK)
    } catch (e) {
      const { reportError } = await import('../cli/main.js')
      return done(reportError(io, e, false))
    }
  }

  private async nodeOk(args: string[], stdin?: Buffer): Promise<{ head: string | null; rest: Buffer; info: Record<string, unknown> }> {
    const r = await this.node(args, stdin)
    if (r.code !== 0) throw new Fatal(errorOf(r), r.code)
    const nl = r.stdout.indexOf(0x0a)
    const info = JSON.parse(r.stdout.subarray(0, nl).toString())
    return { head: info.head ?? null, rest: r.stdout.subarray(nl + 1), info }
  }

  /** Tips of this clone's refs: what the node need not send again. */
  private async haves(): Promise<string[]> {
    if (surelyNoRefs()) return []
    const r = await runGit(['for-each-ref', '--format=%(objectname)'])
    if (r.code !== 0) return []
    return [
      ...new Set(
        r.stdout
          .toString()
          .split('\n')
          .filter((l) => /^[0-9a-f]{40}$/.test(l)),
      ),
    ].slice(0, MAX_HAVES)
  }

  private say(lines: string[]): void {
    this.out.write(lines.map((l) => l + '\n').join('') + '\n')
  }

  async list(forPush: boolean): Promise<void> {
    let head: string | null
    if (forPush) {
      head = (await this.nodeOk(['list', this.target.repo])).head
      this.forPush = head
    } else {
      const haves = await this.haves()
      // The pack comes with the answer, in one request to the node (all a clone needs).
      const r = await this.nodeOk(['fetch', this.target.repo, 'HEAD', ...haves])
      head = r.head
      if (this.target.relative) await this.pinPath()
      if (haves.length === 0 && !this.warned && process.env.GIT_DIR) {
        // a clone (this repository has no refs yet): once, before git writes the work tree
        // (`git ls-remote` outside a repository writes nothing: no GIT_DIR)
        this.warned = true
        this.err.write(
          `polykey: warning: git writes the secrets of '${this.target.repo}' to this work tree in plaintext; Polykey cannot protect them there (see docs/SECURITY.md)\n`,
        )
      }
      if (head) this.prefetched = { want: head, pack: r.rest }
    }
    this.say(head ? [`${head} ${BRANCH_REF}`, `@${BRANCH_REF} HEAD`] : [])
  }

  /**
   * A relative node path means "from where git ran": the remote's URL is rewritten with the
   * absolute path (as git does for a clone of a relative path), so fetches from inside the
   * clone find the node.
   */
  private async pinPath(): Promise<void> {
    const key = `remote.${this.remote}.url`
    const cur = await runGit(['config', '--get', key])
    if (cur.code === 0 && cur.stdout.toString().trim() === `polykey::${this.address}`) await runGit(['config', key, `polykey::${this.target.node}#${this.target.repo}`])
  }

  /** `option NAME VALUE`: the answer git reads (the native fast path answers the same). */
  option(name: string, value: string): string {
    if (name === 'check-connectivity') {
      this.checkConnectivity = value === 'true'
      return 'ok'
    }
    return name === 'progress' || name === 'verbosity' || name === 'cloning' ? 'ok' : 'unsupported'
  }

  async fetch(wants: string[]): Promise<void> {
    const unique = [...new Set(wants)]
    // A clone's one pack: index-pack checks it is whole, and keeps it (.keep) until git has
    // checked the refs against it, as git's fetch-pack does: git is told with `lock PATH` and
    // `connectivity-ok`, removes the .keep, and does not walk the history again.
    const objdir = process.env.GIT_OBJECT_DIRECTORY || (process.env.GIT_DIR ? path.join(process.env.GIT_DIR, 'objects') : '')
    const check = this.checkConnectivity && unique.length === 1 && objdir !== ''
    let connected = false
    let lock: string | null = null
    for (const want of unique) {
      let pack: Buffer
      if (this.prefetched?.want === want) pack = this.prefetched.pack
      else pack = (await this.nodeOk(['fetch', this.target.repo, want, ...(await this.haves())])).rest
      this.prefetched = null
      if (pack.length <= 32) continue // an empty pack: nothing this clone lacks
      const r = await runGit(['index-pack', '--stdin', ...(check ? ['--check-self-contained-and-connected', '--keep=git-remote-polykey'] : [])], pack)
      pack.fill(0)
      if (check && r.code <= 1) {
        const kept = /^keep\t([0-9a-f]{40})\n/.exec(r.stdout.toString())
        if (kept) {
          lock = path.join(objdir, 'pack', `pack-${kept[1]}.keep`)
          connected = r.code === 0 // 1: kept, but not whole: git walks it
        }
      } else if (r.code !== 0) throw new Fatal(`git index-pack refused the pack from the node: ${r.stderr.trim().split('\n')[0]}`, EXIT.FAILED)
    }
    this.say([...(lock ? [`lock ${lock}`] : []), ...(connected ? ['connectivity-ok'] : [])])
  }

  async push(specs: string[]): Promise<void> {
    const answers: string[] = []
    for (const spec of specs) {
      const force = spec.startsWith('+')
      const [src, dst] = spec.slice(force ? 1 : 0).split(':')
      const refuse = (why: string) => answers.push(`error ${dst} ${why}`)
      if (dst !== BRANCH_REF) {
        refuse(`a Polykey repository has one branch, main (push to ${BRANCH_REF})`)
        continue
      }
      if (!src) {
        refuse('the branch of a Polykey repository cannot be deleted')
        continue
      }
      const rev = await runGit(['rev-parse', '--verify', '--quiet', `${src}^{commit}`])
      const next = rev.stdout.toString().trim()
      if (rev.code !== 0 || !/^[0-9a-f]{40}$/.test(next)) {
        refuse(`${src} is not a commit`)
        continue
      }
      const seen = this.forPush
      const known = seen ? (await runGit(['cat-file', '-e', `${seen}^{commit}`])).code === 0 : false
      const packed = await runGit(['pack-objects', '--stdout', '--revs', '--delta-base-offset', '--depth=50', '-q'], Buffer.from(`${next}\n${known ? `^${seen}\n` : ''}`))
      if (packed.code !== 0) {
        refuse(`git pack-objects failed: ${packed.stderr.trim().split('\n')[0]}`)
        continue
      }
      const r = await this.node(['push', this.target.repo, seen ?? 'none', next, ...(force ? ['--force'] : [])], packed.stdout)
      packed.stdout.fill(0)
      if (r.code === 0) {
        answers.push(`ok ${dst}`)
        this.forPush = next
      } else if (r.code === EXIT.WRONG_KEY || r.code === EXIT.USAGE) throw new Fatal(errorOf(r), r.code)
      else refuse(errorOf(r))
    }
    this.say(answers)
  }

  /**
   * The protocol loop: one command per line, batches of fetch/push end with a blank line.
   * `resumed`: lines git sent that the native fast path read but left to us (it hands over
   * before answering them), taken before stdin; `answered`: the option lines it answered.
   */
  async run(input: NodeJS.ReadableStream, resumed: string[] = [], answered: string[] = []): Promise<number> {
    for (const line of answered) {
      const [cmd, name] = line.split(' ')
      if (cmd === 'option') this.option(name, line.slice(`option ${name} `.length))
    }
    const rl = readline.createInterface({ input, crlfDelay: Infinity })
    // iterated from now on: readline drops the lines that arrive while nothing iterates it
    const fromGit = rl[Symbol.asyncIterator]()
    async function* lines() {
      yield* resumed
      for (let r = await fromGit.next(); !r.done; r = await fromGit.next()) yield r.value
    }
    let batch: { kind: 'fetch' | 'push'; items: string[] } | null = null
    try {
      for await (const line of lines()) {
        if (batch) {
          if (line === '') {
            const b = batch
            batch = null
            if (b.kind === 'fetch') await this.fetch(b.items)
            else await this.push(b.items)
          } else {
            const [cmd, arg] = line.split(' ')
            if (cmd !== batch.kind) throw new Fatal(`unexpected '${line}' from git in a ${batch.kind} batch`, EXIT.FAILED)
            batch.items.push(cmd === 'fetch' ? arg : line.slice('push '.length))
          }
          continue
        }
        if (line === '') return EXIT.OK // git is done
        const [cmd, arg] = line.split(' ')
        if (cmd === 'capabilities') this.say(['fetch', 'push', 'option', 'check-connectivity'])
        else if (cmd === 'option') this.out.write(this.option(arg, line.slice(`option ${arg} `.length)) + '\n')
        else if (cmd === 'list') await this.list(arg === 'for-push')
        else if (cmd === 'fetch') batch = { kind: 'fetch', items: [arg] }
        else if (cmd === 'push') batch = { kind: 'push', items: [line.slice('push '.length)] }
        else throw new Fatal(`unsupported command '${line}' from git`, EXIT.FAILED)
      }
      return EXIT.OK
    } catch (err) {
      if (err instanceof Fatal) {
        this.err.write(`polykey: error: ${err.message}\n`)
        return err.code
      }
      if (err instanceof PolykeyError) {
        this.err.write(`polykey: error: ${err.message}\n`)
        return EXIT.FAILED
      }
      this.err.write(`polykey: error: internal error: ${(err as Error)?.message ?? String(err)}\n`)
      return EXIT.FAILED
    } finally {
      // git may still hold our stdin open after a failure: do not wait on it
      rl.close()
      ;(input as NodeJS.ReadStream).destroy?.()
    }
  }
}

export async function helperMain(argv: string[]): Promise<number> {
  // git passes REMOTE ADDRESS; the native fast path (native/client/git-remote.c) adds
  // `--answered LINE` for each option git set, then `--resume LINE` for each line of git's it read
  // and did not answer
  const resumed: string[] = []
  const answered: string[] = []
  for (let i = 2; i + 1 < argv.length && (argv[i] === '--resume' || argv[i] === '--answered'); i += 2) (argv[i] === '--resume' ? resumed : answered).push(argv[i + 1])
  if (argv.length < 2) {
    process.stderr.write('polykey: error: git-remote-polykey is run by git: git clone polykey::NODE_PATH#REPO\n')
    return EXIT.USAGE
  }
  let target: { node?: string; repo: string; relative?: boolean }
  try {
    target = parseAddress(argv[1], process.cwd(), process.env.HOME ?? os.homedir())
  } catch (err) {
    process.stderr.write(`polykey: error: ${(err as Error).message}\n`)
    return EXIT.USAGE
  }
  return new Helper(argv[0], target, process.stdout, process.stderr, argv[1]).run(process.stdin, resumed, answered)
}
