// polykey(1) in roff, rendered from the command table (spec.ts) so it cannot drift from
// --help. `make man` writes man/polykey.1; a test checks the committed page is current.
import type { CliSpec, OptSpec } from './spec.js'

/** Escape text for roff: backslashes, and a leading dot or quote that would start a request. */
export function roff(text: string): string {
  return text
    .replace(/\\/g, '\\e')
    .replace(/-/g, '\\-')
    .replace(/^([.'])/gm, '\\&$1')
}

function opt(o: OptSpec): string {
  const names = [`--${o.name}`, ...o.aliases.map((a) => (a.length === 1 ? `-${a}` : `--${a}`))].map((n) => `\\fB${roff(n)}\\fR`).join(', ')
  const value = o.takesValue ? ` \\fI${o.choices ? roff(o.choices.join('|')) : 'VALUE'}\\fR` : ''
  return `.TP\n${names}${value}\n${roff(o.describe)}\n`
}

export function manPage(spec: CliSpec, version: string): string {
  const out: string[] = []
  out.push(`.TH POLYKEY 1 "" "polykey ${roff(version)}" "User Commands"`)
  out.push('.SH NAME\npolykey \\- self\\-hosted, offline secret manager')
  out.push('.SH SYNOPSIS\n.B polykey\n.I command\n[\\fIoptions\\fR]')
  out.push(
    '.SH DESCRIPTION\n' +
      roff(
        'A node is one encrypted file (node.pk) holding repositories of secrets, each a git repository, and tags. ' +
          'Commands open the node, ask for its passphrase and save what they change; while the node is unlocked (polykey unlock) ' +
          'or mounted (polykey mount), they run through its agent and ask nothing. Secrets are named REPO/NAME.',
      ),
  )
  out.push('.SH GLOBAL OPTIONS')
  for (const o of spec.global) out.push(opt(o).trimEnd())
  out.push('.SH COMMANDS')
  for (const c of spec.commands) {
    if (c.group) continue
    const usage = [...c.path.slice(0, -1), c.usage].join(' ')
    out.push(`.SS ${roff('polykey ' + usage)}\n${roff(c.describe)}`)
    if (c.options.length) {
      out.push('.RS')
      for (const o of c.options) out.push(opt(o).trimEnd())
      out.push('.RE')
    }
  }
  out.push(
    '.SH FILES\n.TP\n\\fI$XDG_DATA_HOME/polykey/node.pk\\fR (default \\fI~/.local/share/polykey/node.pk\\fR)\n' +
      roff('the default node; ~/.polykey/node.pk is used instead when only that one exists') +
      '\n.SH ENVIRONMENT\n.TP\n.B POLYKEY_NODE\nthe node file, when \\fB\\-\\-node\\fR is not given\n.TP\n.B POLYKEY_PASSPHRASE\n' +
      roff('the passphrase (else --passphrase-file, else a prompt)'),
  )
  out.push(
    '.SH EXIT STATUS\n' +
      roff(
        '0 success; 1 the operation failed (not found, exists, refused; find and grep: no match); 2 usage error; 3 wrong passphrase or key; 4 corrupt node file; 130 interrupted.',
      ),
  )
  out.push('.SH SEE ALSO\n.BR pass (1),\n.BR git (1),\n.BR xclip (1)')
  return out.join('\n') + '\n'
}
