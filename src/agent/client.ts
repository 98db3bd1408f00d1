// The CLI side of the mount's control socket: when the node is mounted, commands run inside the
// mounting process (which already holds the unlocked node) instead of opening the file again.
import type { Context } from '../cli/context.js'

export async function forwardToAgent(_ctx: Context, _args: string[]): Promise<number | null> {
  return null
}

export async function agentAvailable(_nodePath: string): Promise<boolean> {
  return false
}
