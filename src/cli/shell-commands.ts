// `completion bash|zsh|fish`, and the hidden `__complete KIND PREFIX` that completion scripts
// call for names. __complete talks to a running agent only: with none, it prints nothing and
// never opens the node, so a TAB can neither prompt nor spend a key derivation.
import { Writable } from 'node:stream'
import type { Context } from './context.js'
import { EXIT, PolykeyError } from '../errors.js'

export async function completion(ctx: Context, argv: { shell: string }) {
  const { cliSpec } = await import('./spec.js')
  const { bashCompletion, fishCompletion, zshCompletion } = await import('./completion.js')
  const spec = await cliSpec()
  const shell = String(argv.shell)
  const render = ({ bash: bashCompletion, zsh: zshCompletion, fish: fishCompletion } as Record<string, (s: typeof spec) => string>)[shell]
  if (!render) throw new PolykeyError('USAGE', `no completion for ${shell}: bash, zsh or fish`)
  ctx.io.stdout.write(render(spec))
  return EXIT.OK
}

/** Run one command in the node's agent with captured output; null when no agent answers (or it is not to be trusted). */
async function askAgent(ctx: Context, args: string[]): Promise<Buffer | null> {
  const { findAgent, forward } = await import('../agent/client.js')
  const out: Buffer[] = []
  const sink = (to: Buffer[] | null) => new Writable({ write: (c: Buffer, _e, cb) => (to?.push(Buffer.from(c)), cb()) })
  try {
    const sock = await findAgent(ctx.nodePath)
    if (!sock) return null
    const io = { ...ctx.io, stdout: sink(out), stderr: sink(null), stdinIsTTY: false, stdoutIsTTY: false, stderrIsTTY: false }
    const code = await forward(sock, args, io, { stdin: false })
    return code === EXIT.OK ? Buffer.concat(out) : null
  } catch {
    return null // a planted or dying socket: a TAB says nothing
  }
}

export async function completeNames(ctx: Context, argv: { kind: string; prefix?: string }) {
  const kind = String(argv.kind)
  const prefix = argv.prefix === undefined ? '' : String(argv.prefix)
  let names: string[] = []
  if (kind === 'repo') {
    const r = await askAgent(ctx, ['repo', 'list', '--json'])
    if (r) names = (JSON.parse(r.toString()) as { name: string }[]).map((x) => x.name)
  } else if (kind === 'tag') {
    const r = await askAgent(ctx, ['tag', 'list', '--json'])
    if (r) names = (JSON.parse(r.toString()) as { tag: string }[]).map((x) => x.tag)
  } else if (kind === 'secret') {
    // REPO/ first (one entry per repository), then that repository's secrets: a node of
    // 10,000 secrets never sends them all for one TAB.
    const slash = prefix.indexOf('/')
    if (slash < 0) {
      const r = await askAgent(ctx, ['repo', 'list', '--json'])
      if (r) names = (JSON.parse(r.toString()) as { name: string }[]).map((x) => `${x.name}/`)
    } else {
      const r = await askAgent(ctx, ['secret', 'list', prefix.slice(0, slash), '--json'])
      if (r) names = (JSON.parse(r.toString()) as { repo: string; name: string }[]).map((x) => `${x.repo}/${x.name}`)
    }
  }
  const hits = names.filter((n) => n.startsWith(prefix))
  if (hits.length) ctx.out(hits.join('\n'))
  return EXIT.OK
}
