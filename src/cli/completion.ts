// Completion scripts for bash, zsh and fish, generated from the command table (spec.ts).
// Commands and options are in the script itself; repository, secret and tag names come from
// `polykey __complete KIND PREFIX`, which answers only through a running agent (an unlocked or
// mounted node) and prints nothing otherwise: a completion never prompts or derives a key.
import type { CliSpec, CmdSpec, PosSpec } from './spec.js'

/** What a positional argument names, for completing it. */
export function kindOf(cmd: CmdSpec, p: PosSpec): string {
  if (p.choices) return `choice:${p.choices.join(',')}`
  const n = p.name
  if (n === 'ref' || n === 'from' || n === 'to') return 'secret'
  if (n === 'repo' || n === 'repos' || n === 'old') return 'repo'
  if (n === 'name' && cmd.path[0] === 'repo' && cmd.path[1] !== 'create') return 'repo'
  if (n === 'tag') return 'tag'
  if (['mountpoint', 'second', 'dir', 'file'].includes(n)) return 'file'
  return 'none'
}

/** Options whose value is a file: --node, --passphrase-file, --target-passphrase-file, … */
const isFileOption = (name: string) => name === 'node' || name.endsWith('-file')

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`
const flags = (c: { options: { name: string; aliases: string[] }[] }) => c.options.flatMap((o) => [`--${o.name}`, ...o.aliases.map((a) => (a.length === 1 ? `-${a}` : `--${a}`))])

function bashBody(spec: CliSpec, fn: string): string {
  const groups = new Map<string, string[]>([['', []]])
  for (const c of spec.commands) {
    const parent = c.path.slice(0, -1).join(' ')
    if (!groups.has(parent)) groups.set(parent, [])
    groups.get(parent)!.push(c.path[c.path.length - 1])
  }
  const leaf = spec.commands.filter((c) => !c.group)
  const valued = [...spec.global, ...spec.commands.flatMap((c) => c.options)]
    .filter((o) => o.takesValue)
    .flatMap((o) => [`--${o.name}`, ...o.aliases.map((a) => (a.length === 1 ? `-${a}` : `--${a}`))])
  const fileValued = [...spec.global, ...spec.commands.flatMap((c) => c.options)].filter((o) => o.takesValue && isFileOption(o.name)).map((o) => `--${o.name}`)
  const kinds = (c: CmdSpec) => c.positionals.map((p) => kindOf(c, p) + (p.variadic ? '...' : '')).join(' ')
  return `${fn}_sub() {
  case "$1" in
${[...groups].map(([g, subs]) => `    ${q(g)}) echo ${q(subs.join(' '))} ;;`).join('\n')}
  esac
}
${fn}_opts() {
  case "$1" in
${leaf.map((c) => `    ${q(c.path.join(' '))}) echo ${q(flags(c).join(' '))} ;;`).join('\n')}
  esac
}
${fn}_args() {
  case "$1" in
${leaf
  .filter((c) => c.positionals.length)
  .map((c) => `    ${q(c.path.join(' '))}) echo ${q(kinds(c))} ;;`)
  .join('\n')}
  esac
}
${fn}_global=${q(flags({ options: spec.global }).join(' ') + ' --help')}
${fn}_valued=${q(` ${[...new Set(valued)].join(' ')} `)}
${fn}_files=${q(` ${[...new Set(fileValued)].join(' ')} `)}
${fn}() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev='' path='' nargs=0 i w subs
  local -a node=()
  (( COMP_CWORD > 0 )) && prev=\${COMP_WORDS[COMP_CWORD-1]}
  for (( i = 1; i < COMP_CWORD; i++ )); do
    w=\${COMP_WORDS[i]}
    [[ $w == --node ]] && node=(--node "\${COMP_WORDS[i+1]}")
    [[ $w == --node=* ]] && node=("$w")
    if [[ $w == -* ]]; then
      [[ $w != *=* && $${fn}_valued == *" $w "* ]] && (( i++ ))
      continue
    fi
    subs=$(${fn}_sub "$path")
    if (( nargs == 0 )) && [[ -n $subs && " $subs " == *" $w "* ]]; then path=\${path:+$path }$w; else (( nargs++ )); fi
  done
  COMPREPLY=()
  if [[ $prev == -* && $${fn}_valued == *" $prev "* ]]; then
    [[ $${fn}_files == *" $prev "* ]] && { compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")); }
    return 0
  fi
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$(${fn}_opts "$path") $${fn}_global" -- "$cur"))
    return 0
  fi
  subs=$(${fn}_sub "$path")
  if [[ -n $subs ]]; then
    (( nargs == 0 )) && COMPREPLY=($(compgen -W "$subs" -- "$cur"))
    return 0
  fi
  local -a kinds=($(${fn}_args "$path"))
  local kind=''
  if (( nargs < \${#kinds[@]} )); then kind=\${kinds[nargs]}
  elif (( \${#kinds[@]} > 0 )) && [[ \${kinds[\${#kinds[@]}-1]} == *... ]]; then kind=\${kinds[\${#kinds[@]}-1]}
  fi
  kind=\${kind%...}
  case $kind in
    secret|repo|tag)
      local IFS=$'\\n'
      COMPREPLY=($(command polykey "\${node[@]}" __complete "$kind" "$cur" 2>/dev/null))
      [[ $kind == secret && \${#COMPREPLY[@]} -gt 0 && \${COMPREPLY[0]} == */ ]] && compopt -o nospace 2>/dev/null
      ;;
    file) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")) ;;
    choice:*) w=\${kind#choice:}; COMPREPLY=($(compgen -W "\${w//,/ }" -- "$cur")) ;;
  esac
  return 0
}
`
}

export function bashCompletion(spec: CliSpec): string {
  return `# bash completion for polykey (generated: polykey completion bash)
#   source <(polykey completion bash)    or install as .../bash-completion/completions/polykey
${bashBody(spec, '_polykey')}complete -F _polykey polykey
`
}

/** zsh runs the bash function through its bashcompinit emulation. */
export function zshCompletion(spec: CliSpec): string {
  return `#compdef polykey
# zsh completion for polykey (generated: polykey completion zsh)
#   source <(polykey completion zsh)     or install as _polykey in a folder of $fpath
autoload -U +X bashcompinit && bashcompinit
autoload -U +X compinit && { (( $+functions[compdef] )) || compinit; }
${bashBody(spec, '_polykey_bash')}complete -F _polykey_bash polykey
# loaded from $fpath on the first TAB: answer that TAB too
if [[ \${funcstack[1]} == _polykey ]]; then _bash_complete -F _polykey_bash; fi
`
}

export function fishCompletion(spec: CliSpec): string {
  const lines: string[] = [
    '# fish completion for polykey (generated: polykey completion fish)',
    '#   polykey completion fish | source    or install as .../fish/vendor_completions.d/polykey.fish',
    'complete -c polykey -e',
    'complete -c polykey -f',
    // the command path typed so far (words that are commands, not options or arguments)
    'function __polykey_path',
    '    set -l words (commandline -opc)',
    '    set -l path',
    '    set -l groups ' +
      spec.commands
        .filter((c) => c.group)
        .map((c) => c.path.join('_'))
        .join(' '),
    '    set -l skip 0',
    '    for w in $words[2..-1]',
    '        if test $skip = 1; set skip 0; continue; end',
    '        if string match -q -- "-*" $w',
    `            contains -- $w ${[...new Set([...spec.global, ...spec.commands.flatMap((c) => c.options)].filter((o) => o.takesValue).map((o) => `--${o.name}`))].join(' ')}; and set skip 1`,
    '            continue',
    '        end',
    '        if test (count $path) = 0; or contains -- (string join _ $path) $groups',
    '            set -a path $w',
    '        else',
    '            break',
    '        end',
    '    end',
    '    string join " " $path',
    'end',
    'function __polykey_is',
    '    test (__polykey_path) = "$argv"',
    'end',
    'function __polykey_names',
    '    command polykey __complete $argv[1] (commandline -ct) 2>/dev/null',
    'end',
  ]
  const valueOf = (o: { name: string; takesValue: boolean }) => (o.takesValue ? (isFileOption(o.name) ? ' -r -F' : ' -r') : '')
  for (const o of spec.global) lines.push(`complete -c polykey -l ${o.name}${valueOf(o)} -d ${q(o.describe)}`)
  const top = spec.commands.filter((c) => c.path.length === 1)
  for (const c of top) lines.push(`complete -c polykey -n 'test -z (__polykey_path)' -a ${q(c.path[0])} -d ${q(c.describe)}`)
  for (const c of spec.commands) {
    const here = `__polykey_is ${c.path.join(' ')}`
    if (c.group) {
      for (const s of spec.commands.filter((s) => s.path.length === c.path.length + 1 && s.path.slice(0, -1).join(' ') === c.path.join(' ')))
        lines.push(`complete -c polykey -n ${q(here)} -a ${q(s.path[s.path.length - 1])} -d ${q(s.describe)}`)
      continue
    }
    for (const o of c.options) {
      const short = o.aliases
        .filter((a) => a.length === 1)
        .map((a) => ` -s ${a}`)
        .join('')
      lines.push(`complete -c polykey -n ${q(here)} -l ${o.name}${short}${valueOf(o)} -d ${q(o.describe)}`)
    }
    const kinds = new Set(c.positionals.map((p) => kindOf(c, p)))
    for (const k of kinds) {
      if (k === 'secret' || k === 'repo' || k === 'tag') lines.push(`complete -c polykey -n ${q(here)} -a '(__polykey_names ${k})'`)
      else if (k === 'file') lines.push(`complete -c polykey -n ${q(here)} -F`)
      else if (k.startsWith('choice:')) lines.push(`complete -c polykey -n ${q(here)} -a ${q(k.slice(7).split(',').join(' '))}`)
    }
  }
  return lines.join('\n') + '\n'
}
