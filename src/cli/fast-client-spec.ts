// What the native fast client (native/client, docs/ARCHITECTURE.md "The fast client and the
// agent protocol") must know of the command table and the protocol, as plain data. The build
// writes it into a C header (native/client/gen-table.mjs), so the C side never keeps a second,
// hand-written list: a command added, moved to 'local' or given stdin here changes what the
// client does at the next `make build`.
import { groups, topLevel } from './commands.js'
import { buildParser } from './parser.js'
import { processIO } from '../agent/io.js'
import type { Command, Needs } from './table.js'
import { FORWARDED_ENV, FRAME_EXIT, FRAME_PING, FRAME_STDERR, FRAME_STDOUT, MAX_FRAME, MAX_REQUEST_LINE, PROTOCOL_VERSION } from '../agent/protocol.js'

export interface FastCommand {
  /** the words that name it: ['secret', 'get'] or ['info'] */
  words: string[]
  /** the client may forward it to the agent (else it always hands the command line to Node) */
  forward: boolean
  stdin: 'none' | 'data' | 'secret'
  /** refused when stdout is a terminal: the client leaves that refusal to Node */
  noTerminalOut: boolean
  /** an option that makes the command run locally after all (e.g. a clipboard): its presence means Node */
  localWith: string | null
}

export interface FastClientSpec {
  /** the global options (parser.ts) that may stand before the command words: `--opt VALUE` / `--opt=VALUE`, and flags */
  globalOptions: { withValue: string[]; flags: string[] }
  protocolVersion: number
  maxFrame: number
  maxRequestLine: number
  frames: { stdout: number; stderr: number; exit: number; ping: number }
  forwardedEnv: string[]
  commands: FastCommand[]
}

/** The needs the client understands; a command declaring anything else is never forwarded by it. */
const KNOWN_NEEDS = new Set(['runs', 'stdin', 'noTerminalOut', 'terminal', 'localWith'])

function describe(words: string[], c: Command): FastCommand {
  const n = c.needs as Needs & { localWith?: string }
  const understood = Object.keys(n).every((k) => KNOWN_NEEDS.has(k))
  const stdin = n.stdin ?? 'none'
  return {
    words,
    forward: understood && n.runs === 'agent' && !n.terminal && (stdin === 'none' || stdin === 'data' || stdin === 'secret'),
    stdin,
    noTerminalOut: !!n.noTerminalOut,
    localWith: typeof n.localWith === 'string' ? n.localWith : null,
  }
}

/** First word of a yargs command string ('get <ref>' → 'get'); null for forms the client does not parse (aliases, defaults). */
function nameOf(c: Command): string | null {
  const w = c.command.split(' ')[0]
  return /^[a-z][a-z0-9-]*$/.test(w) ? w : null
}

/** The parser's own global options, as yargs holds them (help and version are Node's to answer). */
function globalOptions(): FastClientSpec['globalOptions'] {
  const y = buildParser([], processIO(), async () => {}, '0') as unknown as { getOptions(): Record<string, string[] | Record<string, unknown>> }
  const o = y.getOptions()
  const list = (k: string) => (Array.isArray(o[k]) ? (o[k] as string[]) : [])
  // An option of a shape the client does not parse (several values, counted, aliased) is left out: before the command it means Node.
  const odd = new Set([...list('array'), ...list('count'), ...Object.keys(o.narg ?? {}), ...Object.keys(o.alias ?? {}), 'help', 'version'])
  return {
    withValue: [...list('string'), ...list('number')].filter((n) => !odd.has(n)),
    flags: list('boolean').filter((n) => !odd.has(n)),
  }
}

export function fastClientSpec(): FastClientSpec {
  const commands: FastCommand[] = []
  for (const c of topLevel) {
    const w = nameOf(c)
    if (w) commands.push(describe([w], c))
  }
  for (const g of groups)
    for (const c of g.commands) {
      const w = nameOf(c)
      if (w) commands.push(describe([g.name, w], c))
    }
  return {
    globalOptions: globalOptions(),
    protocolVersion: PROTOCOL_VERSION,
    maxFrame: MAX_FRAME,
    maxRequestLine: MAX_REQUEST_LINE,
    frames: { stdout: FRAME_STDOUT, stderr: FRAME_STDERR, exit: FRAME_EXIT, ping: FRAME_PING },
    forwardedEnv: [...FORWARDED_ENV],
    commands,
  }
}
