// The command table as data, read back from the yargs parser that commands.ts builds, for what
// is generated from it: shell completion and the man page. Hidden commands and options (those
// yargs is told to keep out of --help) stay out here too.
import yargs from 'yargs'
import type { IO } from './context.js'

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

function optionsOf(y: any, skip: Set<string> = new Set()): OptSpec[] {
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
    out.push({ name, aliases: (o.alias?.[name] ?? []).filter((a: string) => a !== name && (a.length === 1 || !/[A-Z]/.test(a))), takesValue: !bools.has(name), describe: String(descs[name] ?? '').replace(/^__yargsString__:/, ''), ...(choices ? { choices } : {}) })
  }
  return out
}

function positionalsOf(usage: string, y: any): PosSpec[] {
  const choices = y.getOptions().choices ?? {}
  return [...usage.matchAll(/[<[]([^>\]]+)[>\]]/g)].map((m) => {
    const raw = m[1]
    const variadic = raw.endsWith('..')
    const name = raw.replace(/\.\.$/, '')
    return { name, optional: m[0].startsWith('['), variadic, ...(choices[name] ? { choices: choices[name] } : {}) }
  })
}

function walk(handlers: Record<string, any>, parent: string[], out: CmdSpec[]): void {
  for (const [name, h] of Object.entries(handlers)) {
    if (h.description === false) continue
    const sub: any = yargs([])
    if (typeof h.builder === 'function') h.builder(sub)
    else if (h.builder && typeof h.builder === 'object') sub.options(h.builder)
    const children = sub.getInternalMethods().getCommandInstance().getCommandHandlers() as Record<string, any>
    const path = [...parent, name]
    const group = Object.keys(children).length > 0
    const positionals = positionalsOf(h.original, sub)
    out.push({ path, usage: h.original, describe: String(h.description ?? ''), options: optionsOf(sub, new Set(positionals.map((p) => p.name))), positionals, group })
    if (group) walk(children, path, out)
  }
}

export async function cliSpec(): Promise<CliSpec> {
  const { buildParser } = await import('./commands.js')
  const io = { stdout: { columns: 100 } } as unknown as IO
  const y: any = await buildParser([], io, (fn) => fn as any, '0')
  const commands: CmdSpec[] = []
  walk(y.getInternalMethods().getCommandInstance().getCommandHandlers(), [], commands)
  return { global: optionsOf(y), commands }
}
