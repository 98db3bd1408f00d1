// `polykey`: parse arguments, run one command of the table, map errors to one line and an exit
// code (docs/CLI.md). What a command needs (table.ts) decides where it runs; heavy modules load
// only inside the handlers that need them.
import { readFileSync } from 'node:fs'
import { Readable } from 'node:stream'
import { EXIT, PolykeyError, exitCodeOf } from '../errors.js'
import { type IO, processIO } from '../agent/io.js'
import { Context, type HostedVault, readSecretFromTerminal } from './context.js'
import type { Command } from './table.js'
import type { Connection } from '../agent/server.js'

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}

interface GlobalArgv {
  node?: string
  passphraseFile?: string
  keyFile?: string
  json?: boolean
  verbose?: boolean
  lockTimeout?: number
  multiline?: boolean
}

export async function main(args: string[], io: IO = processIO(), hosted: HostedVault | null = null, conn: Connection | null = null): Promise<number> {
  // Fast path: scripts call --version to probe; it must not pay for yargs or crypto.
  if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
    io.stdout.write(version() + '\n')
    return EXIT.OK
  }
  const verbose = args.includes('--verbose')
  const stdoutClosed = quietOnClosedStdout(io)
  let code: number = EXIT.OK
  const dispatch = async (cmd: Command, raw: Record<string, unknown>): Promise<void> => {
    const argv = raw as GlobalArgv
    const ctx = new Context(io, {
      node: argv.node,
      passphraseFile: argv.passphraseFile,
      keyFile: argv.keyFile,
      json: argv.json,
      verbose: argv.verbose,
      lockTimeout: argv.lockTimeout,
    })
    ctx.hosted = hosted
    ctx.conn = conn
    const needs = cmd.needs
    if (needs.noTerminalOut && io.stdoutIsTTY)
      throw new PolykeyError('REFUSED', `refusing to write ${needs.noTerminalOut.what} to a terminal`, {}, { hint: needs.noTerminalOut.hint })
    const secretOnTerminal = needs.stdin === 'secret' && io.stdinIsTTY
    const local = needs.runs === 'local' || (!!needs.localWith && !!raw[needs.localWith])
    if (!hosted && !local) {
      const { findAgent, forward } = await import('../agent/client.js')
      const sock = await findAgent(ctx.nodePath)
      if (sock) {
        let value: Buffer | null = null
        let fio = io
        if (secretOnTerminal) {
          value = await readSecretFromTerminal(!!argv.multiline)
          fio = { ...io, stdin: Readable.from([value]), stdinIsTTY: false }
        }
        try {
          const forwarded = await forward(sock, args, fio, { stdin: !!needs.stdin })
          if (forwarded !== null) {
            code = forwarded
            return
          }
        } finally {
          value?.fill(0)
        }
      }
    }
    let value: Buffer | null = null
    if (!hosted && secretOnTerminal) {
      // The passphrase first, then the value: what the user types first must never become the secret.
      await ctx.keySource()
      value = await readSecretFromTerminal(!!argv.multiline)
      ctx.io = { ...io, stdin: Readable.from([value]), stdinIsTTY: false }
    }
    try {
      const handler = await cmd.run()
      const r = await handler(ctx, raw as never)
      code = typeof r === 'number' ? r : EXIT.OK
    } finally {
      value?.fill(0)
    }
  }
  try {
    const { buildParser } = await import('./parser.js')
    await buildParser(args, io, dispatch, version()).parseAsync()
  } catch (err) {
    if (stdoutClosed() || isClosedPipe(err)) return EXIT.FAILED
    return reportError(io, err, verbose)
  }
  return stdoutClosed() ? EXIT.FAILED : code
}

const isClosedPipe = (err: unknown) => (err as NodeJS.ErrnoException | null)?.code === 'EPIPE'

/**
 * A reader that stops early (`polykey export tar | head -c 10`) closes our stdout: that ends the
 * command quietly, exit 1 (the output is incomplete; with `set -o pipefail` a script notices) —
 * as a program killed by SIGPIPE would, not with a stack trace.
 */
function quietOnClosedStdout(io: IO): () => boolean {
  let closed = false
  // Only our own process's stdout: an agent's connection streams handle their own errors.
  if (io.stdout !== process.stdout) return () => false
  process.stdout.on('error', (err: unknown) => {
    if (!isClosedPipe(err)) throw err
    closed = true
    process.exitCode = EXIT.FAILED // also when main() has returned already
  })
  return () => closed
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
