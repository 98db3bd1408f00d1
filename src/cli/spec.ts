// The command table (commands.ts) as data for what is generated from it: shell completion and
// the man page. Options are read back from each command's yargs builder, so they are exactly
// what the parser accepts; hidden commands and options stay out, as they do of --help.
import yargs from 'yargs'
import type { IO } from '../agent/io.js'
import type { Command } from './table.js'

export interface OptSpec {
  name: string
  aliases: string[]
  takesValue: boolean
  describe: string
  choices?: string[]
}
export interface PosSpec {
  name: string
  optional: boolean
  variadic: boolean
  choices?: string[]
}
export interface CmdSpec {
  path: string[]
  usage: string // e.g. "get <ref>"
  describe: string
  options: OptSpec[]
  positionals: PosSpec[]
  /** has subcommands (repo, secret, …) */
  group: boolean
}
export interface CliSpec {
  global: OptSpec[]
  commands: CmdSpec[]
}

const IMPLICIT = new Set(['help', 'version'])

/** The parts of a yargs instance read here (getOptions, and the usage instance's descriptions). */
interface YargsView {
  getOptions(): {
    key: Record<string, unknown>
    alias?: Record<string, string[]>
    boolean?: string[]
    hiddenOptions?: string[]
    choices?: Record<string, string[]>
    default?: Record<string, unknown>
  }
  getInternalMethods(): { getUsageInstance(): { getDescriptions(): Record<string, string> } }
}

function optionsOf(y: YargsView, skip: Set<string> = new Set()): OptSpec[] {
  const o = y.getOptions()
  const descs = y.getInternalMethods().getUsageInstance().getDescriptions() as Record<string, string>
  const hidden = new Set<string>(o.hiddenOptions ?? [])
  const bools = new Set<string>(o.boolean ?? [])
  const aliasOnly = new Set<string>(Object.entries(o.alias ?? {}).flatMap(([k, v]) => (v as string[]).filter((a) => a !== k)))
  const out: OptSpec[] = []
  for (const name of Object.keys(o.key)) {
    if (IMPLICIT.has(name) || hidden.has(name) || skip.has(name) || aliasOnly.has(name)) continue
    // a boolean that defaults to true is written --no-NAME (--no-symbols)
    if (bools.has(name) && o.default?.[name] === true) {
      out.push({ name: `no-${name}`, aliases: [], takesValue: false, describe: String(descs[name] ?? '') })
      continue
    }
    const choices = o.choices?.[name] as string[] | undefined
    out.push({
      name,
      aliases: (o.alias?.[name] ?? []).filter((a: string) => a !== name && (a.length === 1 || !/[A-Z]/.test(a))),
      takesValue: !bools.has(name),
      describe: String(descs[name] ?? '').replace(/^__yargsString__:/, ''),
      ...(choices ? { choices } : {}),
    })
  }
  return out
}

function positionalsOf(usage: string, y: YargsView): PosSpec[] {
  const choices = y.getOptions().choices ?? {}
  return [...usage.matchAll(/[<[]([^>\]]+)[>\]]/g)].map((m) => {
    const raw = m[1]
    const variadic = raw.endsWith('..')
    const name = raw.replace(/\.\.$/, '')
    return { name, optional: m[0].startsWith('['), variadic, ...(choices[name] ? { choices: choices[name] } : {}) }
  })
}

function describeCommand(c: Command, parent: string[]): CmdSpec {
  const sub = yargs([])
  c.builder(sub)
  const positionals = positionalsOf(c.command, sub as unknown as YargsView)
  const name = c.command.split(' ')[0]
  return {
    path: [...parent, name],
    usage: c.command,
    describe: String(c.describe),
    options: optionsOf(sub as unknown as YargsView, new Set(positionals.map((p) => p.name))),
    positionals,
    group: false,
  }
}

/** The table (commands.ts) as data; hidden commands (describe: false) left out. */
export async function cliSpec(): Promise<CliSpec> {
  const { groups, topLevel } = await import('./commands.js')
  const { buildParser } = await import('./parser.js')
  const io = { stdout: { columns: 100 } } as unknown as IO
  const root = buildParser([], io, async () => {}, '0') as unknown as YargsView
  const commands: CmdSpec[] = []
  for (const c of topLevel) if (c.describe !== false) commands.push(describeCommand(c, []))
  for (const g of groups) {
    commands.push({ path: [g.name], usage: g.name, describe: g.describe, options: [], positionals: [], group: true })
    for (const c of g.commands) if (c.describe !== false) commands.push(describeCommand(c, [g.name]))
  }
  return { global: optionsOf(root), commands }
}
