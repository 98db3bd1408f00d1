// Which variables `polykey env` never sets from a secret unless the user names them with
// --allow-var: the ones that change how programs are loaded or run, so that a peer who shares
// a repository (and so chooses its secrets' names) cannot run code in what `env` starts.
// The list is documented in docs/SECURITY.md ("env and variable names").

/** Exact names. */
const NAMES = new Set([
  'PATH',
  'HOME',
  'SHELL',
  'ENV',
  'BASH_ENV',
  'SHELLOPTS',
  'BASHOPTS',
  'IFS',
  'CDPATH',
  'GLOBIGNORE',
  'PS4',
  'PROMPT_COMMAND',
  'ZDOTDIR',
  'FPATH',
  'EDITOR',
  'VISUAL',
  'PAGER',
  'MANPAGER',
  'LESSOPEN',
  'LESSCLOSE',
  'BROWSER',
  'TMPDIR',
  'XDG_CONFIG_HOME',
  'XDG_DATA_HOME',
  'XDG_CONFIG_DIRS',
  'XDG_DATA_DIRS',
  'CLASSPATH',
  'GCONV_PATH',
  'LOCPATH',
  'NLSPATH',
  'GLIBC_TUNABLES',
  'HOSTALIASES',
  'RESOLV_HOST_CONF',
  'TERMINFO',
  'TERMINFO_DIRS',
  'HTTP_PROXY',
  'HTTPS_PROXY',
  'ALL_PROXY',
  'NO_PROXY',
  'FTP_PROXY',
  'CURL_CA_BUNDLE',
  'REQUESTS_CA_BUNDLE',
  'SSH_ASKPASS',
  'SUDO_ASKPASS',
  'GIT_ASKPASS',
  'SSH_AUTH_SOCK',
  'GNUPGHOME',
  'GPG_AGENT_INFO',
  'PROMPT',
  'RPROMPT',
])

/** Prefixes: dynamic loader, language runtimes' startup and module paths, git, polykey itself. */
const PREFIXES = [
  'LD_',
  'DYLD_',
  'BASH_FUNC_',
  'NODE_',
  'NPM_CONFIG_',
  'PYTHON',
  'PERL',
  'RUBY',
  'GEM_',
  'BUNDLE_',
  'JAVA_',
  '_JAVA_',
  'JDK_JAVA_',
  'GIT_',
  'POLYKEY_',
  'MALLOC_',
  'SSL_',
  'LUA_',
  'TCL',
  'R_',
  'DOTNET_',
  'CORECLR_',
  'COMPLUS_',
]

export function isDangerousVar(name: string): boolean {
  return NAMES.has(name) || PREFIXES.some((p) => name.startsWith(p))
}

export const DANGEROUS_VARS = { names: [...NAMES], prefixes: PREFIXES }
