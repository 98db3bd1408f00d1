// yargs over the command table: global options, groups as commands with subcommands, one-line
// usage errors with a hint at the subcommand's --help.
import yargs, { type Argv } from 'yargs'
import type { IO } from '../agent/io.js'
import { PolykeyError } from '../errors.js'
import { groups, topLevel } from './commands.js'
import type { Command } from './table.js'

/** Called by yargs with the parsed arguments of the command the user named. */
export type Dispatch = (cmd: Command, argv: Record<string, unknown>) => Promise<void>

export function buildParser(args: string[], io: IO, dispatch: Dispatch, version: string): Argv {
  const add = (y: Argv, c: Command) => y.command(c.command, c.describe as string, c.builder as (y: Argv) => Argv, (argv) => dispatch(c, argv as Record<string, unknown>))
  const y = yargs(args)
    .scriptName('polykey')
    .parserConfiguration({ 'populate--': true, 'camel-case-expansion': true })
    .version(version)
    .usage('$0 <command> [options]\n\nSelf-hosted, offline secret manager. A node is one encrypted file; mount it to browse with ls and cat.')
    .option('node', { type: 'string', describe: 'node file (default $POLYKEY_NODE, else $XDG_DATA_HOME/polykey/node.pk, or ~/.polykey/node.pk when only that exists)', global: true })
    .option('passphrase-file', { type: 'string', describe: 'read the passphrase from FILE (else $POLYKEY_PASSPHRASE, else a prompt)', global: true })
    .option('verbose', { type: 'boolean', describe: 'show details (stack traces) on errors', global: true })
    .option('lock-timeout', { type: 'number', describe: 'seconds to wait for another writer (default 30)', global: true })
  for (const c of topLevel) add(y, c)
  for (const g of groups)
    y.command(g.name, g.describe, (sub) => {
      for (const c of g.commands) add(sub, c)
      return sub.demandCommand(1, `name a ${g.name} command`)
    })
  y.demandCommand(1, 'name a command')
    .strict()
    .help()
    .alias('help', 'h')
    .wrap(Math.min(110, (io.stdout as { columns?: number }).columns ?? 100))
    .exitProcess(false)
    .fail((msg: string, err: Error) => {
      if (err) throw err
      throw new PolykeyError('USAGE', msg ?? 'bad usage', {}, { hint: `see 'polykey ${subcommandOf(args)}--help'` })
    })
  // yargs renders the whole help text of a command before running its handler, in case the
  // handler asks for it (~20 ms per command). Ours never do: errors are one line and a hint.
  ;(y as unknown as { getInternalMethods(): { getUsageInstance(): { cacheHelpMessage: () => void } } }).getInternalMethods().getUsageInstance().cacheHelpMessage = () => {}
  return y
}

/** 'secret put ' for `polykey secret put …` (the words that name a known command), else ''. */
function subcommandOf(args: string[]): string {
  const words = args.filter((a) => !a.startsWith('-'))
  const top = topLevel.find((c) => c.command.split(' ')[0] === words[0])
  if (top) return `${words[0]} `
  const g = groups.find((x) => x.name === words[0])
  if (!g) return ''
  const c = g.commands.find((x) => x.command.split(' ')[0] === words[1])
  return c ? `${g.name} ${words[1]} ` : `${g.name} `
}
