// The command table: every command, its arguments, its handler (a typed lazy import: a wrong
// name or a handler whose arguments do not match the builder fails to compile) and what it
// needs. main, the agent client and the agent server read the needs; nothing else decides by a
// command's name. docs/ARCHITECTURE.md "Adding a command".
import type { ArgumentsCamelCase, Argv } from 'yargs'
import type { Context } from './context.js'

export interface Needs {
  /**
   * 'agent': runs where the node is unlocked — forwarded to the node's agent when one runs
   * (a mount or `polykey unlock`), else here after unlocking. 'local': always in this process
   * (it starts programs of the user's, finds an agent itself, or creates the node).
   */
  runs: 'agent' | 'local'
  /**
   * Reads stdin: forwarded to the agent. 'secret': a secret value — on a terminal it is read
   * without echo, twice (after the passphrase, when one is needed), never as typed text.
   */
  stdin?: 'data' | 'secret'
  /** Bulk output (plaintext, or a bundle) that is refused when stdout is a terminal: what it is, and where to send it instead. */
  noTerminalOut?: { what: string; hint: string }
  /** Uses the user's terminal itself (an editor, prompts of its own): implies runs 'local'. */
  terminal?: boolean
  /**
   * An option that makes an 'agent' command run here instead (`secret get --clip`: the value is
   * for the caller's clipboard, which the agent cannot reach; it reads through the agent itself).
   */
  localWith?: string
}

export type Handler<A> = (ctx: Context, argv: A) => Promise<number | void>

export interface Command<A = unknown> {
  /** yargs command string: 'put <ref>' */
  command: string
  describe: string | false
  builder: (y: Argv) => Argv<A>
  run: () => Promise<Handler<ArgumentsCamelCase<A>>>
  needs: Needs
}

export interface Group {
  name: string
  describe: string
  commands: Command[]
}

/**
 * A command whose handler is checked against its builder: `command({...}).run(loader)`. The
 * handler's declared arguments must be what the builder's options give (camel-cased), so a
 * renamed option or handler fails to compile at its table entry.
 */
export function command<B>(c: { command: string; describe: string | false; builder?: (y: Argv) => Argv<B>; needs: Needs }): {
  run(loader: () => Promise<Handler<ArgumentsCamelCase<B>>>): Command
} {
  return { run: (loader) => ({ builder: (y: Argv) => y, ...c, run: loader }) as unknown as Command }
}

/** What the global options give every handler through ctx.args. */
export const AGENT: Needs = { runs: 'agent' }
export const LOCAL: Needs = { runs: 'local' }

/** Every command's needs are consistent: checked by a test (and at each run, cheaply). */
export function checkNeeds(n: Needs): string | null {
  if (n.terminal && n.runs !== 'local') return 'a command that uses the terminal must run locally'
  if (n.localWith && n.runs !== 'agent') return 'localWith only means something for a command that runs in the agent'
  return null
}
