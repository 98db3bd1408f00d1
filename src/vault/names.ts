// Name rules (docs/CLI.md "Names"): no '/' or NUL, not '.' or '..', at most 255 bytes, and no
// control characters (C0, DEL, C1) or bidirectional overrides: a name is printed by `ls`, `secret
// list` and `peer list`, and a name chosen by a peer must not move the cursor, rewrite the
// terminal's title, or make one name read as another.
import { PolykeyError } from '../errors.js'

export type NameKind = 'repository' | 'secret' | 'tag'

export function nameProblem(name: string): string | null {
  if (name.length === 0) return 'is empty'
  if (name.includes('/')) return "contains '/'"
  if (name.includes('\0')) return 'contains a NUL byte'
  if (name === '.' || name === '..') return `is '${name}'`
  // eslint-disable-next-line no-control-regex
  const ctl = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/.exec(name)
  if (ctl) return `contains the control character U+${ctl[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`
  if (Buffer.byteLength(name) > 255) return 'is longer than 255 bytes'
  return null
}

export function checkName(kind: NameKind, name: string): string {
  const why = nameProblem(name)
  if (why) throw new PolykeyError('USAGE', `invalid ${kind} name ${JSON.stringify(name)}: ${why}`, { kind, name })
  if (kind !== 'tag' && name === '.git') throw new PolykeyError('USAGE', `invalid ${kind} name '.git': reserved`, { kind, name })
  return name
}

/** "REPO/NAME" as the CLI takes it. */
export function parseSecretRef(ref: string): { repo: string; name: string } {
  const i = ref.indexOf('/')
  if (i < 0) throw new PolykeyError('USAGE', `expected REPO/NAME, got ${JSON.stringify(ref)}`)
  return { repo: checkName('repository', ref.slice(0, i)), name: checkName('secret', ref.slice(i + 1)) }
}

/** Editor scratch files: work on the mount, never committed or persisted. */
export function isScratchName(name: string): boolean {
  return (
    /^\..*\.sw[a-px]$/.test(name) || // vim swap (.x.swp, .x.swo, …)
    /~$/.test(name) || // backups
    name === '4913' || // vim's write test
    /^\.#/.test(name) || // emacs lock
    /^#.*#$/.test(name) || // emacs autosave
    isFuseHiddenName(name)
  )
}

/** libfuse's name for a file removed or renamed over while open (it keeps it until the last close). */
export function isFuseHiddenName(name: string): boolean {
  return name.startsWith('.fuse_hidden')
}
