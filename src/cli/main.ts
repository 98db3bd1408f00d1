// `polykey`: parse arguments, run one handler, map errors to one line and an exit code
// (docs/CLI.md). Heavy modules load only inside the handlers that need them.
import { readFileSync } from 'node:fs'
import { EXIT, PolykeyError, exitCodeOf } from '../errors.js'
import { Context, type IO, processIO } from './context.js'

export type Handler = (ctx: Context, argv: any) => Promise<number | void>

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}

export async function main(args: string[], io: IO = processIO(), hosted: Context['hosted'] = null): Promise<number> {
  // Fast path: scripts call --version to probe; it must not pay for yargs or crypto.
  if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
    io.stdout.write(version() + '\n')
    return EXIT.OK
  }
  const verbose = args.includes('--verbose')
  let code: number = EXIT.OK
  let ctx: Context | null = null
  const wrap =
    (h: Handler) =>
    async (argv: any): Promise<void> => {
      ctx = new Context(io, { node: argv.node, passphraseFile: argv.passphraseFile, json: argv.json, verbose: argv.verbose, lockTimeout: argv.lockTimeout })
      ctx.hosted = hosted
      // Commands that run a program of the user's (an editor, `env`'s command) stay here, next to
      // the user's terminal; their inner get/put/dump calls reach the agent through ctx.call.
      // So do those that use the caller's clipboard or clock (generate, --clip, otp), and
      // completion, which must never reach the agent except through its own narrow question.
      const local =
        ['mount', 'init', 'env', 'otp', 'completion', '__complete'].includes(argv._[0]) ||
        (argv._[0] === 'secret' && ['edit', 'generate'].includes(argv._[1])) ||
        !!argv.clip
      if (!hosted && !local) {
        const { forwardToAgent } = await import('../agent/client.js')
        const forwarded = await forwardToAgent(ctx, args)
        if (forwarded !== null) {
          code = forwarded
          return
        }
      }
      const r = await h(ctx, argv)
      code = typeof r === 'number' ? r : EXIT.OK
    }
  try {
    const { buildParser } = await import('./commands.js')
    const parser = await buildParser(args, io, wrap, version())
    await parser.parseAsync()
  } catch (err) {
    return reportError(io, err, verbose)
  }
  return code
}

export function reportError(io: IO, err: unknown, verbose: boolean): number {
  if (err instanceof PolykeyError) {
    io.stderr.write(`polykey: error: ${err.message}\n`)
    if (err.hint) io.stderr.write(`polykey: hint: ${err.hint}\n`)
    if (verbose && err.cause) io.stderr.write(`${(err.cause as Error)?.stack ?? String(err.cause)}\n`)
    if (verbose) io.stderr.write(`${err.stack}\n`)
    return exitCodeOf(err)
  }
  const e = err as Error
  if ((e as { name?: string })?.name === 'YError' || (e as { usage?: boolean })?.usage) {
    io.stderr.write(`polykey: error: ${e.message}\n`)
    io.stderr.write(`polykey: hint: see 'polykey --help'\n`)
    return EXIT.USAGE
  }
  io.stderr.write(`polykey: error: internal error: ${e?.message ?? String(err)}\n`)
  if (verbose) io.stderr.write(`${e?.stack}\n`)
  else io.stderr.write(`polykey: hint: run again with --verbose for details\n`)
  return EXIT.FAILED
}
