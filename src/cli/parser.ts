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
    .option('node', {
      type: 'string',
      describe: 'node file (default $POLYKEY_NODE, else $XDG_DATA_HOME/polykey/node.pk, or ~/.polykey/node.pk when only that exists)',
      global: true,
    })
    .option('passphrase-file', { type: 'string', describe: 'read the passphrase from FILE (else $POLYKEY_PASSPHRASE, else a prompt)', global: true })
    .option('key-file', { type: 'string', describe: 'unlock with a 32-byte key file (else $POLYKEY_KEY_FILE; see slot add keyfile)', global: true })
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
      const guess = /^Unknown (argument|command)/.test(msg ?? '') ? suggest(args) : null
      throw new PolykeyError('USAGE', msg ?? 'bad usage', {}, { hint: guess ? `did you mean 'polykey ${guess}'?` : `see 'polykey ${subcommandOf(args)}--help'` })
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

/** What people coming from pass, gopass or a shell type, and what it is called here. */
const SYNONYMS: Record<string, string> = {
  show: 'secret get',
  cat: 'secret get',
  get: 'secret get',
  insert: 'secret put',
  put: 'secret put',
  add: 'secret put',
  ls: 'secret list',
  list: 'secret list',
  rm: 'secret rm',
  remove: 'secret rm',
  delete: 'secret rm',
  mv: 'secret mv',
  rename: 'secret mv',
  cp: 'secret cp',
  copy: 'secret cp',
  edit: 'secret edit',
  generate: 'secret generate',
  gen: 'secret generate',
  pwgen: 'secret generate',
  find: 'secret find',
  search: 'secret find',
  grep: 'secret grep',
  log: 'repo log',
  history: 'repo log',
  umount: 'unmount',
  open: 'unlock',
  close: 'lock',
  id: 'node id',
  whoami: 'node id',
  backup: 'push --all TARGET',
}

/** Levenshtein distance, small strings only. */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)])
  for (let j = 1; j <= b.length; j++) d[0][j] = j
  for (let i = 1; i <= a.length; i++) for (let j = 1; j <= b.length; j++) d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1))
  return d[a.length][b.length]
}

const nearest = (word: string, names: string[]) => {
  let best: string | null = null
  let bestD = Math.max(2, Math.floor(word.length / 3)) + 1
  for (const n of names) {
    const dd = distance(word, n)
    if (dd < bestD) [best, bestD] = [n, dd]
  }
  return best
}

/** The command the user probably meant, from the words they typed (null when nothing is close). */
export function suggest(args: string[]): string | null {
  const words = args.filter((a) => !a.startsWith('-'))
  if (!words.length) return null
  const first = words[0]
  const tops = [...topLevel.map((c) => c.command.split(' ')[0]), ...groups.map((g) => g.name)]
  const viaSynonym = (w: string) => SYNONYMS[w] ?? (nearest(w, Object.keys(SYNONYMS)) ? SYNONYMS[nearest(w, Object.keys(SYNONYMS))!] : null)
  if (!tops.includes(first)) {
    const top = SYNONYMS[first] ? null : nearest(first, tops)
    const grp = top ? groups.find((x) => x.name === top) : undefined
    if (grp && words[1] && grp.commands.some((c) => c.command.split(' ')[0] === words[1])) return `${top} ${words[1]}`
    return top ?? viaSynonym(first)
  }
  const g = groups.find((x) => x.name === first)
  if (!g || words.length < 2) return null
  const subs = g.commands.map((c) => c.command.split(' ')[0])
  if (subs.includes(words[1])) return null
  const sub = nearest(words[1], subs)
  if (sub) return `${g.name} ${sub}`
  const syn = viaSynonym(words[1])
  return syn?.startsWith(`${g.name} `) ? syn : null
}
