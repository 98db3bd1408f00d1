// The command table (../shared/CLI.md is the stable interface; docs/CLI.md the full one).
import yargs from 'yargs'
import type { IO } from './context.js'
import type { Handler } from './main.js'
import { PolykeyError } from '../errors.js'

type Wrap = (h: Handler) => (argv: any) => Promise<void>
const lazy =
  (mod: () => Promise<Record<string, Handler>>, name: string): Handler =>
  async (ctx, argv) =>
    (await mod())[name](ctx, argv)

const nodeCmds = () => import('./node-commands.js') as Promise<any>
const vaultCmds = () => import('./vault-commands.js') as Promise<any>
const mountCmds = () => import('./mount-commands.js') as Promise<any>
const syncCmds = () => import('./sync-commands.js') as Promise<any>
const everydayCmds = () => import('./everyday-commands.js') as Promise<any>
const shellCmds = () => import('./shell-commands.js') as Promise<any>

export async function buildParser(args: string[], io: IO, wrap: Wrap, version: string) {
  const h = (mod: () => Promise<any>, name: string) => wrap(lazy(mod, name))
  const json = { json: { type: 'boolean', describe: 'print one JSON document' } } as const
  const clip = {
    clip: { type: 'boolean', describe: 'copy to the clipboard instead of printing (wl-copy, xclip or xsel)' },
    'clip-seconds': { type: 'number', describe: 'clear the clipboard after N seconds unless it changed (default 45; 0: never)' },
  } as const
  const y = yargs(args)
    .scriptName('polykey')
    .parserConfiguration({ 'populate--': true, 'camel-case-expansion': true })
    .version(version)
    .usage('$0 <command> [options]\n\nSelf-hosted, offline secret manager. A node is one encrypted file; mount it to browse with ls and cat.')
    .option('node', { type: 'string', describe: 'node file (default $POLYKEY_NODE, else $XDG_DATA_HOME/polykey/node.pk, or ~/.polykey/node.pk when only that exists)', global: true })
    .option('passphrase-file', { type: 'string', describe: 'read the passphrase from FILE (else $POLYKEY_PASSPHRASE, else a prompt)', global: true })
    .option('verbose', { type: 'boolean', describe: 'show details (stack traces) on errors', global: true })
    .option('lock-timeout', { type: 'number', describe: 'seconds to wait for another writer (default 30)', global: true })
    .command('init', 'create a new node file', (c) => c.options(json).option('kdf', { choices: ['interactive', 'moderate', 'sensitive', 'test'], default: 'moderate', describe: "Argon2id profile ('test' is weak: for test suites only)" }), h(nodeCmds, 'init'))
    .command('info', 'node id, format version, counts', (c) => c.options(json), h(nodeCmds, 'info'))
    .command('verify', 'decrypt and check every live member (exit 4 on damage)', (c) => c, h(nodeCmds, 'verify'))
    .command('node <action>', "this node: 'node id'", (c) => c.positional('action', { choices: ['id'] }).options(json), h(nodeCmds, 'nodeId'))
    .command('passphrase <action>', "'passphrase change'", (c) =>
      c.positional('action', { choices: ['change'] })
        .option('new-passphrase-file', { type: 'string', describe: 'read the new passphrase from FILE (else $POLYKEY_NEW_PASSPHRASE, else a prompt)' })
        .option('kdf', { choices: ['interactive', 'moderate', 'sensitive', 'test'], describe: 'Argon2id profile for the new slot (default: keep)' }),
      h(nodeCmds, 'passphraseChange'))
    .command('export <format>', "'export tar': the live tar, plaintext, to stdout (refused on a terminal)", (c) => c.positional('format', { choices: ['tar'] }), h(nodeCmds, 'exportTar'))
    .command('repo', 'repositories', (c) =>
      c
        .command('create <name>', 'create a repository', (x) => x, h(vaultCmds, 'repoCreate'))
        .command('list', 'list repositories', (x) => x.options(json), h(vaultCmds, 'repoList'))
        .command('rename <old> <new>', 'rename a repository (tags follow)', (x) => x, h(vaultCmds, 'repoRename'))
        .command('delete <name>', 'delete a repository and untag its secrets', (x) => x, h(vaultCmds, 'repoDelete'))
        .command('log <name>', 'history, newest first', (x) => x.options(json).option('limit', { type: 'number' }), h(vaultCmds, 'repoLog'))
        .command('revert <name> <commit>', 'a new commit restoring the repository to COMMIT', (x) => x, h(vaultCmds, 'repoRevert'))
        .demandCommand(1, 'name a repo command'),
    )
    .command('secret', 'secrets', (c) =>
      c
        .command('put <ref>', 'value from stdin, byte for byte (REPO/NAME)', (x) => x.option('new', { type: 'boolean', hidden: true }), h(vaultCmds, 'secretPut'))
        .command('get <ref>', 'value to stdout, byte for byte (or --clip)', (x) => x.option('rev', { type: 'string', describe: 'the value at this commit' }).options(clip), h(vaultCmds, 'secretGet'))
        .command('generate <ref>', 'store a random password (or --words N words) as the secret and print it (or --clip)', (x) =>
          x
            .option('length', { type: 'number', describe: 'characters (default 24)' })
            .option('symbols', { type: 'boolean', default: true, describe: 'use symbols as well as letters and digits (--no-symbols: letters and digits only)' })
            .option('words', { type: 'number', describe: 'N words from the EFF large word list instead of characters' })
            .option('separator', { type: 'string', describe: "between --words (default '-')" })
            .option('force', { type: 'boolean', describe: 'replace an existing secret' })
            .options(clip),
          h(everydayCmds, 'secretGenerate'))
        .command('find <pattern>', 'secrets whose REPO/NAME or tag contains PATTERN (case-insensitive)', (x) => x.options(json), h(everydayCmds, 'secretFind'))
        .command('grep <pattern> [repos..]', 'secrets whose content matches PATTERN (a regular expression): names and line numbers', (x) =>
          x
            .option('show', { type: 'boolean', describe: 'print the matching lines too (plaintext)' })
            .option('ignore-case', { alias: 'i', type: 'boolean', describe: 'match regardless of case' })
            .option('fixed', { alias: 'F', type: 'boolean', describe: 'PATTERN is a plain string' })
            .options(json),
          h(everydayCmds, 'secretGrep'))
        .command('cp <from> <to>', 'copy a secret (a new commit in the target repository)', (x) => x.option('force', { type: 'boolean', describe: 'replace an existing target' }), h(everydayCmds, 'secretCp'))
        .command('list [repo]', 'list secrets', (x) => x.options(json), h(vaultCmds, 'secretList'))
        .command('rm <ref>', 'remove a secret (and its tags)', (x) => x, h(vaultCmds, 'secretRm'))
        .command('mv <from> <to>', 'rename or move a secret (tags follow)', (x) => x, h(vaultCmds, 'secretMv'))
        .command('dump <repos..>', false, (x) => x.options(json), h(vaultCmds, 'secretDump'))
        .command('edit <ref>', '$EDITOR on a memory-backed temporary file, committed on exit', (x) => x, h(vaultCmds, 'secretEdit'))
        .demandCommand(1, 'name a secret command'),
    )
    .command('tag', 'tags', (c) =>
      c
        .command('add <tag> <ref>', 'tag a secret', (x) => x, h(vaultCmds, 'tagAdd'))
        .command('rm <tag> <ref>', 'untag a secret', (x) => x, h(vaultCmds, 'tagRm'))
        .command('list [tag]', 'list tags and their secrets', (x) => x.options(json), h(vaultCmds, 'tagList'))
        .demandCommand(1, 'name a tag command'),
    )
    .command('env <repos..>', 'run CMD (after --) with each secret as an environment variable', (x) => x, h(vaultCmds, 'env'))
    .command('import', 'import secrets', (c) =>
      c
        .command('dir <dir>', 'each folder of DIR becomes a repository, its files secrets', (x) => x.options(json), h(vaultCmds, 'importDir'))
        .demandCommand(1, 'name an import command'),
    )
    .command('mount <mountpoint> [second]', 'mount the node: `mount MOUNTPOINT` or `mount NODE MOUNTPOINT` (returns once ready unless --foreground)', (x) =>
      x
        .option('foreground', { type: 'boolean', describe: 'stay in the foreground (Ctrl-C unmounts)' })
        .option('daemon-child', { type: 'boolean', hidden: true })
        .option('passphrase-stdin', { type: 'boolean', hidden: true }),
      h(mountCmds, 'mount'))
    .command('unmount <mountpoint>', 'persist everything and unmount', (x) => x, h(mountCmds, 'unmount'))
    .command('otp <ref>', 'the current TOTP code of a secret (an otpauth:// URI on its first line, or a base32 key)', (x) => x.options(clip).options(json), h(everydayCmds, 'otp'))
    .command('completion <shell>', 'a completion script for bash, zsh or fish, on stdout', (x) => x.positional('shell', { choices: ['bash', 'zsh', 'fish'] }), h(shellCmds, 'completion'))
    .command('__complete <kind> [prefix]', false, (x) => x, h(shellCmds, 'completeNames'))
  syncCommands(y, h, json)
  y.demandCommand(1, 'name a command')
    .strict()
    .help()
    .alias('help', 'h')
    .wrap(Math.min(110, (io.stdout as any).columns ?? 100))
    .exitProcess(false)
    .fail((msg: string, err: Error) => {
      if (err) throw err
      throw new PolykeyError('USAGE', msg ?? 'bad usage', {}, { hint: "see 'polykey --help'" })
    })
  // yargs renders the whole help text of a command before running its handler, in case the
  // handler asks for it (~20 ms per command). Ours never do: errors are one line and a hint.
  ;(y as any).getInternalMethods().getUsageInstance().cacheHelpMessage = () => {}
  return y
}

// ------------------------------------------------------------------------------ sharing (issue 5)
/** peer, share, unshare, serve, clone, pull, push, seal, unseal (handlers in sync-commands.ts). */
function syncCommands(y: any, h: (mod: () => Promise<any>, name: string) => (argv: any) => Promise<void>, json: Record<string, object>): void {
  const target = { 'target-passphrase-file': { type: 'string', describe: 'read the passphrase of a node-file PEER/TARGET from FILE (else $POLYKEY_TARGET_PASSPHRASE, else a prompt)' } } as const
  const dht = { bootstrap: { type: 'string', describe: 'DHT bootstrap nodes HOST:PORT[,HOST:PORT…] (else $POLYKEY_DHT_BOOTSTRAP, else the public ones)' } } as const
  const side = {
    ours: { type: 'boolean', describe: "on a conflict keep this node's version" },
    theirs: { type: 'boolean', describe: "on a conflict take the peer's version" },
  } as const
  y.command('peer', 'known peers: peer add | list | rm', (c: any) =>
    c
      .command('add <alias> <node-id> [address]', 'know a node by id (ADDRESS is HOST:PORT; without it the DHT finds it)', (x: any) => x.option('owner', { type: 'boolean', describe: 'let this peer push to this node' }), h(syncCmds, 'peerAdd'))
      .command('list', 'known peers and what each may pull', (x: any) => x.options(json), h(syncCmds, 'peerList'))
      .command('rm <alias>', 'forget a peer (and its access)', (x: any) => x, h(syncCmds, 'peerRm'))
      .demandCommand(1, 'name a peer command'),
  )
    .command('share <repo> <peer>', 'let PEER list, clone and pull REPO', (x: any) => x, h(syncCmds, 'shareRepo'))
    .command('unshare <repo> <peer>', 'stop PEER pulling REPO', (x: any) => x, h(syncCmds, 'unshareRepo'))
    .command('serve', 'answer peers until interrupted (prints the address it listens on)', (x: any) =>
      x.option('listen', { type: 'string', describe: 'HOST:PORT to listen on (default 127.0.0.1:0)' }).option('dht', { type: 'boolean', describe: 'also announce this node on the DHT' }).options(dht).options(json),
      h(syncCmds, 'serve'))
    .command('clone <peer> <repo> [local-name]', 'copy a repository (whole history) from a peer or a node file', (x: any) => x.options(target).options(dht).options(json), h(syncCmds, 'clone'))
    .command('pull <peer> <repo>', "bring in a peer's changes: fast-forward, or merge", (x: any) => x.options(target).options(dht).options(side).options(json).conflicts('ours', 'theirs'), h(syncCmds, 'pullRepo'))
    .command('push [repo] [target]', 'send a repository to a node that has this one as owner (or a node file); --all TARGET: every repository and the tags', (x: any) =>
      x.option('all', { type: 'boolean', describe: 'every repository and the tags: push --all TARGET' }).options(target).options(dht).options(json),
      h(syncCmds, 'pushRepo'))
    .command('seal <repo> <peer>', "a repository as an encrypted bundle to PEER's key, on stdout", (x: any) => x, h(syncCmds, 'seal'))
    .command('unseal <file>', 'import a sealed bundle (clone, or pull into the existing repository)', (x: any) =>
      x.option('as', { type: 'string', describe: 'local repository name' }).option('allow-unknown', { type: 'boolean', describe: 'accept a bundle sealed by a node that is not a known peer' }).options(side).options(json).conflicts('ours', 'theirs'),
      h(syncCmds, 'unseal'))
}
