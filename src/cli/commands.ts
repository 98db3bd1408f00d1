// Every command of `polykey` (docs/CLI.md is the full reference). Each entry: the yargs command
// string, its options, a typed lazy import of its handler, and its needs (table.ts).
import type { Argv } from 'yargs'
import { AGENT, LOCAL, command, type Command, type Group } from './table.js'

const node = () => import('./node-commands.js')
const vault = () => import('./vault-commands.js')
const mount = () => import('./mount-commands.js')
const sync = () => import('./sync-commands.js')
const agent = () => import('./agent-commands.js')
const slot = () => import('./slot-commands.js')
const pass = () => import('./pass-commands.js')
const git = () => import('./git-commands.js')
const access = () => import('./access-commands.js')
const everyday = () => import('./everyday-commands.js')
const shell = () => import('./shell-commands.js')
const identity = () => import('./identity-commands.js')

const json = <T>(y: Argv<T>) => y.option('json', { type: 'boolean', describe: 'print one JSON document' })
const str = { type: 'string', demandOption: true } as const
const optStr = { type: 'string' } as const
const strs = { type: 'string', array: true, demandOption: true } as const
const clip = <T>(y: Argv<T>) =>
  y
    .option('clip', { type: 'boolean', describe: 'copy to the clipboard instead of printing (wl-copy, xclip or xsel)' })
    .option('clip-seconds', { type: 'number', describe: 'clear the clipboard after N seconds unless it changed (default 45; 0: never)' })
const kdfChoices = ['interactive', 'moderate', 'sensitive', 'test'] as const
const target = <T>(y: Argv<T>) =>
  y.option('target-passphrase-file', { type: 'string', describe: 'read the passphrase of a node-file PEER/TARGET from FILE (else $POLYKEY_TARGET_PASSPHRASE, else a prompt)' })
const dht = <T>(y: Argv<T>) => y.option('bootstrap', { type: 'string', describe: 'DHT bootstrap nodes HOST:PORT[,HOST:PORT…] (else $POLYKEY_DHT_BOOTSTRAP, else the public ones)' })
const side = <T>(y: Argv<T>) =>
  y
    .option('ours', { type: 'boolean', describe: "on a conflict keep this node's version" })
    .option('theirs', { type: 'boolean', describe: "on a conflict take the peer's version" })
    .conflicts('ours', 'theirs')

/** Where the identity services are (docs/IDENTITY.md §Networking). */
const identityUrls = <T>(y: Argv<T>) =>
  y
    .option('keybase-url', { type: 'string', describe: 'Keybase (default $POLYKEY_KEYBASE_URL, else https://keybase.io)' })
    .option('github-url', { type: 'string', describe: 'GitHub, for USER.keys (default $POLYKEY_GITHUB_URL, else https://github.com)' })
    .option('github-api-url', { type: 'string', describe: "GitHub's API, for gists (default $POLYKEY_GITHUB_API_URL, else https://api.github.com)" })

export const topLevel: Command[] = [
  command({
    command: 'init',
    describe: 'create a new node file',
    builder: (y) => json(y).option('kdf', { choices: kdfChoices, default: 'moderate' as const, describe: "Argon2id profile ('test' is weak: for test suites only)" }),
    needs: { runs: 'local', terminal: true },
  }).run(() => node().then((m) => m.init)),
  command({ command: 'info', describe: 'node id, format version, counts', builder: json, needs: AGENT }).run(() => node().then((m) => m.info)),
  command({ command: 'verify', describe: 'decrypt and check every live member (exit 4 on damage)', needs: AGENT }).run(() => node().then((m) => m.verify)),
  command({
    command: 'node <action> [value]',
    describe: "this node: 'node id [--ssh]', 'node name [NAME]' (the author name of its commits)",
    builder: (y) =>
      json(y)
        .positional('action', { choices: ['id', 'name'] as const, demandOption: true })
        .positional('value', optStr)
        .option('ssh', { type: 'boolean', describe: "'node id': the node key as an OpenSSH public-key line" }),
    needs: AGENT,
  }).run(() => git().then((m) => m.node)),
  command({
    command: 'passphrase <action>',
    describe: "'passphrase change'",
    builder: (y) =>
      y
        .positional('action', { choices: ['change'] as const, demandOption: true })
        .option('new-passphrase-file', { type: 'string', describe: 'read the new passphrase from FILE (else $POLYKEY_NEW_PASSPHRASE, else a prompt)' })
        .option('kdf', { choices: kdfChoices, describe: 'Argon2id profile for the new slot (default: keep)' }),
    needs: { runs: 'local', terminal: true },
  }).run(() => node().then((m) => m.passphraseChange)),
  command({
    command: 'export <format>',
    describe: "'export tar': the live tar, plaintext, to stdout (refused on a terminal)",
    builder: (y) => y.positional('format', { choices: ['tar'] as const, demandOption: true }),
    needs: { runs: 'agent', noTerminalOut: { what: 'plaintext secrets', hint: "redirect it: 'polykey export tar > backup.tar' or pipe it to 'tar t'" } },
  }).run(() => node().then((m) => m.exportTar)),
  command({
    command: 'env <repos..>',
    describe: 'run CMD (after --) with each secret as an environment variable',
    builder: (y) =>
      y
        .positional('repos', strs)
        .option('allow-var', { type: 'string', array: true, describe: 'let a secret set this variable although it changes how programs run (LD_PRELOAD, PATH, …)' }),
    needs: { runs: 'local', terminal: true },
  }).run(() => vault().then((m) => m.env)),
  command({
    command: 'mount <mountpoint> [second]',
    describe: 'mount the node: `mount MOUNTPOINT` or `mount NODE MOUNTPOINT` (returns once ready unless --foreground)',
    builder: (y) =>
      y
        .positional('mountpoint', str)
        .positional('second', optStr)
        .option('foreground', { type: 'boolean', describe: 'stay in the foreground (Ctrl-C unmounts)' })
        .option('guard', { type: 'boolean', describe: "only programs allowed by 'polykey access' may open secrets (others get EACCES and are listed by 'access pending')" })
        .option('audit', { type: 'boolean', default: true, describe: "record every open of a secret in the node's audit log ('--no-audit': off; refusals are still recorded)" })
        .option('json', { type: 'boolean', describe: 'print one JSON document' })
        .option('daemon-child', { type: 'boolean', hidden: true }),
    needs: { runs: 'local', terminal: true },
  }).run(() => mount().then((m) => m.mount)),
  command({ command: 'unmount <mountpoint>', describe: 'persist everything and unmount', builder: (y) => y.positional('mountpoint', str), needs: LOCAL }).run(() =>
    mount().then((m) => m.unmount),
  ),
  command({
    command: 'unlock',
    describe: 'keep the node unlocked in a background agent (no FUSE) so later commands ask nothing',
    builder: (y) =>
      json(y)
        .option('timeout', { type: 'string', describe: "lock after this much idle time: '15m', '1h', '90s', '0' = until 'polykey lock' (default 15m)" })
        .option('daemon-child', { type: 'boolean', hidden: true }),
    needs: { runs: 'local', terminal: true },
  }).run(() => agent().then((m) => m.unlock)),
  command({ command: 'lock', describe: "end the node's unlock agent (saving first); refused while mounted", needs: LOCAL }).run(() => agent().then((m) => m.lock)),
  command({ command: 'status', describe: 'locked, unlocked (until when) or mounted (where)', builder: json, needs: LOCAL }).run(() => agent().then((m) => m.status)),
  command({
    command: 'otp <ref>',
    describe: 'the current TOTP code of a secret (an otpauth:// URI on its first line, or a base32 key)',
    builder: (y) => json(clip(y)).positional('ref', str),
    // the caller's clock and clipboard; the secret is read through the agent (ctx.call)
    needs: LOCAL,
  }).run(() => everyday().then((m) => m.otp)),
  command({
    command: 'completion <shell>',
    describe: 'a completion script for bash, zsh or fish, on stdout',
    builder: (y) => y.positional('shell', { choices: ['bash', 'zsh', 'fish'] as const, demandOption: true }),
    needs: LOCAL,
  }).run(() => shell().then((m) => m.completion)),
  // Names for completion scripts: asks a running agent only, and prints nothing without one.
  command({
    command: '__complete <kind> [prefix]',
    describe: false,
    builder: (y) => y.positional('kind', { choices: ['repo', 'secret', 'tag'] as const, demandOption: true }).positional('prefix', optStr),
    needs: LOCAL,
  }).run(() => shell().then((m) => m.completeNames)),
  command({
    command: 'share <repo> <peer>',
    describe: 'let PEER list, clone and pull REPO',
    builder: (y) => y.positional('repo', str).positional('peer', str),
    needs: AGENT,
  }).run(() => sync().then((m) => m.shareRepo)),
  command({
    command: 'unshare <repo> <peer>',
    describe: 'stop PEER pulling REPO',
    builder: (y) => y.positional('repo', str).positional('peer', str),
    needs: AGENT,
  }).run(() => sync().then((m) => m.unshareRepo)),
  command({
    command: 'serve',
    describe: 'answer peers until interrupted (prints the address it listens on)',
    builder: (y) =>
      json(dht(y))
        .option('listen', { type: 'string', describe: 'HOST:PORT to listen on (default 127.0.0.1:0)' })
        .option('dht', { type: 'boolean', describe: 'also announce this node on the DHT' }),
    needs: AGENT,
  }).run(() => sync().then((m) => m.serve)),
  command({
    command: 'clone <peer> <repo> [local-name]',
    describe: 'copy a repository (whole history) from a peer or a node file',
    builder: (y) =>
      json(dht(target(y)))
        .positional('peer', str)
        .positional('repo', str)
        .positional('local-name', optStr),
    needs: AGENT,
  }).run(() => sync().then((m) => m.clone)),
  command({
    command: 'pull <peer> <repo>',
    describe: "bring in a peer's changes: fast-forward, or merge",
    builder: (y) =>
      json(side(dht(target(y))))
        .positional('peer', str)
        .positional('repo', str),
    needs: AGENT,
  }).run(() => sync().then((m) => m.pullRepo)),
  command({
    command: 'push [repo] [target]',
    describe: 'send a repository to a node that has this one as owner (or a node file); --all TARGET: every repository, the tags, peers and access lists',
    builder: (y) =>
      json(dht(target(y)))
        .positional('repo', optStr)
        .positional('target', optStr)
        .option('all', { type: 'boolean', describe: 'every repository and the tags: push --all TARGET' }),
    needs: AGENT,
  }).run(() => sync().then((m) => m.pushRepo)),
  command({
    command: 'seal <repo> <peer>',
    describe: "a repository as an encrypted bundle to PEER's key, on stdout (refused on a terminal)",
    builder: (y) => y.positional('repo', str).positional('peer', str),
    needs: { runs: 'agent', noTerminalOut: { what: 'a binary bundle', hint: "redirect it: 'polykey seal REPO PEER > REPO.pkseal'" } },
  }).run(() => sync().then((m) => m.seal)),
  command({
    command: 'audit [ref]',
    describe: 'reads through the mount and the CLI: when, which secret, which program, allowed or refused (exit 4 when the chain is broken)',
    builder: (y) =>
      json(y)
        .positional('ref', { type: 'string', describe: 'only this secret (REPO/NAME), past versions included' })
        .option('since', { type: 'string', describe: 'only records from this time on (ISO-8601, or an age: 15m, 2h, 7d)' }),
    needs: AGENT,
  }).run(() => access().then((m) => m.audit)),
  command({
    command: 'unseal <file>',
    describe: 'import a sealed bundle (clone, or pull into the existing repository)',
    builder: (y) =>
      json(side(y))
        .positional('file', str)
        .option('as', { type: 'string', describe: 'local repository name' })
        .option('allow-unknown', { type: 'boolean', describe: 'accept a bundle sealed by a node that is not a known peer' }),
    needs: AGENT,
  }).run(() => sync().then((m) => m.unseal)),
  command({
    command: 'git-serve <action> <repo> [oids..]',
    describe: false, // git-remote-polykey's requests (src/gitremote/helper.ts)
    builder: (y) =>
      y
        .positional('action', { choices: ['list', 'fetch', 'push'] as const, demandOption: true })
        .positional('repo', str)
        .positional('oids', { type: 'string', array: true })
        .option('force', { type: 'boolean' }),
    needs: { runs: 'agent', stdin: 'data', noTerminalOut: { what: 'a git pack', hint: "it is git-remote-polykey's: use git clone polykey::NODE#REPO" } },
  }).run(() => git().then((m) => m.gitServe)),
]

export const groups: Group[] = [
  {
    name: 'repo',
    describe: 'repositories',
    commands: [
      command({ command: 'create <name>', describe: 'create a repository', builder: (y) => y.positional('name', str), needs: AGENT }).run(() => vault().then((m) => m.repoCreate)),
      command({ command: 'list', describe: 'list repositories', builder: json, needs: AGENT }).run(() => vault().then((m) => m.repoList)),
      command({
        command: 'rename <old> <new>',
        describe: 'rename a repository (tags follow)',
        builder: (y) => y.positional('old', str).positional('new', str),
        needs: AGENT,
      }).run(() => vault().then((m) => m.repoRename)),
      command({ command: 'delete <name>', describe: 'delete a repository and untag its secrets', builder: (y) => y.positional('name', str), needs: AGENT }).run(() =>
        vault().then((m) => m.repoDelete),
      ),
      command({
        command: 'log <name>',
        describe: 'history, newest first',
        builder: (y) => json(y).positional('name', str).option('limit', { type: 'number' }),
        needs: AGENT,
      }).run(() => git().then((m) => m.repoLog)),
      command({
        command: 'signers <name>',
        describe: "git's allowed-signers file (gpg.ssh.allowedSignersFile) for this node and every known peer",
        builder: (y) => y.positional('name', str),
        needs: AGENT,
      }).run(() => git().then((m) => m.repoSigners)),
      command({
        command: 'revert <name> <commit>',
        describe: 'a new commit restoring the repository to COMMIT',
        builder: (y) => y.positional('name', str).positional('commit', str),
        needs: AGENT,
      }).run(() => vault().then((m) => m.repoRevert)),
    ],
  },
  {
    name: 'secret',
    describe: 'secrets',
    commands: [
      command({
        command: 'put <ref>',
        describe: 'value from stdin, byte for byte (REPO/NAME); on a terminal it is asked for without echo, twice',
        builder: (y) =>
          y
            .positional('ref', str)
            .option('multiline', { type: 'boolean', describe: 'on a terminal: read lines until Ctrl-D (no echo, asked once)' })
            .option('new', { type: 'boolean', hidden: true }), // secret generate without --force: refuse to replace
        needs: { runs: 'agent', stdin: 'secret' },
      }).run(() => vault().then((m) => m.secretPut)),
      command({
        command: 'get <ref>',
        describe: 'value to stdout, byte for byte (or to the clipboard with --clip)',
        builder: (y) =>
          clip(y)
            .positional('ref', str)
            .option('rev', { type: 'string', describe: 'the value at this commit' })
            // otp reads through here (ctx.call): its read is audited as 'otp'
            .option('audit-as', { choices: ['get', 'otp'] as const, default: 'get' as const, hidden: true }),
        needs: { runs: 'agent', localWith: 'clip' },
      }).run(() => vault().then((m) => m.secretGet)),
      command({
        command: 'generate <ref>',
        describe: 'store a random password (or --words N words) as the secret and print it (or --clip)',
        builder: (y) =>
          clip(y)
            .positional('ref', str)
            .option('length', { type: 'number', describe: 'characters (default 24)' })
            .option('symbols', { type: 'boolean', default: true, describe: 'use symbols as well as letters and digits (--no-symbols: letters and digits only)' })
            .option('words', { type: 'number', describe: 'N words from the EFF large word list instead of characters' })
            .option('separator', { type: 'string', describe: "between --words (default '-')" })
            .option('force', { type: 'boolean', describe: 'replace an existing secret' }),
        // randomness and the clipboard here; the value is stored through the agent (ctx.call)
        needs: LOCAL,
      }).run(() => everyday().then((m) => m.secretGenerate)),
      command({
        command: 'find <pattern>',
        describe: 'secrets whose REPO/NAME or tag contains PATTERN (case-insensitive)',
        builder: (y) => json(y).positional('pattern', str),
        needs: AGENT,
      }).run(() => everyday().then((m) => m.secretFind)),
      command({
        command: 'grep <pattern> [repos..]',
        describe: 'secrets whose content matches PATTERN (a regular expression): names and line numbers',
        builder: (y) =>
          json(y)
            .positional('pattern', str)
            .positional('repos', { type: 'string', array: true })
            .option('show', { type: 'boolean', describe: 'print the matching lines too (plaintext)' })
            .option('ignore-case', { alias: 'i', type: 'boolean', describe: 'match regardless of case' })
            .option('fixed', { alias: 'F', type: 'boolean', describe: 'PATTERN is a plain string' }),
        needs: AGENT,
      }).run(() => everyday().then((m) => m.secretGrep)),
      command({
        command: 'cp <from> <to>',
        describe: 'copy a secret (a new commit in the target repository)',
        builder: (y) => y.positional('from', str).positional('to', str).option('force', { type: 'boolean', describe: 'replace an existing target' }),
        needs: AGENT,
      }).run(() => everyday().then((m) => m.secretCp)),
      command({ command: 'list [repo]', describe: 'list secrets', builder: (y) => json(y).positional('repo', optStr), needs: AGENT }).run(() => vault().then((m) => m.secretList)),
      command({ command: 'rm <ref>', describe: 'remove a secret (and its tags)', builder: (y) => y.positional('ref', str), needs: AGENT }).run(() =>
        vault().then((m) => m.secretRm),
      ),
      command({
        command: 'mv <from> <to>',
        describe: 'rename or move a secret (tags follow)',
        builder: (y) => y.positional('from', str).positional('to', str),
        needs: AGENT,
      }).run(() => vault().then((m) => m.secretMv)),
      command({
        command: 'dump <repos..>',
        describe: false,
        builder: (y) => json(y).positional('repos', strs),
        needs: { runs: 'agent', noTerminalOut: { what: 'plaintext secrets', hint: 'pipe it to a program' } },
      }).run(() => vault().then((m) => m.secretDump)),
      command({
        command: 'edit <ref>',
        describe: '$EDITOR on a memory-backed temporary file, committed on exit',
        builder: (y) => y.positional('ref', str),
        needs: { runs: 'local', terminal: true },
      }).run(() => vault().then((m) => m.secretEdit)),
    ],
  },
  {
    name: 'tag',
    describe: 'tags',
    commands: [
      command({ command: 'add <tag> <ref>', describe: 'tag a secret', builder: (y) => y.positional('tag', str).positional('ref', str), needs: AGENT }).run(() =>
        vault().then((m) => m.tagAdd),
      ),
      command({ command: 'rm <tag> <ref>', describe: 'untag a secret', builder: (y) => y.positional('tag', str).positional('ref', str), needs: AGENT }).run(() =>
        vault().then((m) => m.tagRm),
      ),
      command({ command: 'list [tag]', describe: 'list tags and their secrets', builder: (y) => json(y).positional('tag', optStr), needs: AGENT }).run(() =>
        vault().then((m) => m.tagList),
      ),
    ],
  },
  {
    name: 'import',
    describe: 'import secrets',
    commands: [
      command({
        command: 'dir <dir>',
        describe: 'each folder of DIR becomes a repository, its files secrets',
        builder: (y) => json(y).positional('dir', str),
        needs: AGENT,
      }).run(() => vault().then((m) => m.importDir)),
      // Decrypts here, through the user's gpg (agent, pinentry on this terminal, environment);
      // the writing goes through pass-apply, to the agent when one holds the node.
      command({
        command: 'pass',
        describe: 'import a pass store through gpg (default $PASSWORD_STORE_DIR, else ~/.password-store)',
        builder: (y) =>
          json(y).option('store', { type: 'string', describe: 'the store folder' }).option('history', { type: 'boolean', describe: "replay the store's git history as commits" }),
        needs: { runs: 'local', terminal: true },
      }).run(() => pass().then((m) => m.importPass)),
      command({ command: 'pass-apply', describe: false, builder: json, needs: { runs: 'agent', stdin: 'data' } }).run(() => pass().then((m) => m.importPassApply)),
    ],
  },
  {
    name: 'slot',
    describe: 'key slots: slot list | add passphrase | add gpg RECIPIENT | add keyfile FILE | rm ID',
    commands: [
      // The slot areas are in the clear: listing needs no key and no agent.
      command({ command: 'list', describe: 'the key slots: id, kind, what unlocks each, when added', builder: json, needs: LOCAL }).run(() => slot().then((m) => m.slotList)),
      command({
        command: 'add <kind> [target]',
        describe: "add a slot: 'add passphrase', 'add gpg RECIPIENT', 'add keyfile FILE' (created with 32 random bytes when missing)",
        builder: (y) =>
          json(y)
            .positional('kind', { choices: ['passphrase', 'gpg', 'keyfile'] as const, demandOption: true })
            .positional('target', optStr)
            .option('new-passphrase-file', { type: 'string', describe: 'passphrase slot: read it from FILE (else $POLYKEY_NEW_PASSPHRASE, else a prompt)' })
            .option('kdf', { choices: kdfChoices, describe: 'passphrase slot: Argon2id profile (default: that of the existing one)' }),
        needs: { runs: 'local', terminal: true },
      }).run(() => slot().then((m) => m.slotAdd)),
      command({
        command: 'rm <id>',
        describe: 'remove a slot (refused for the last one)',
        builder: (y) => json(y).positional('id', str),
        needs: { runs: 'local', terminal: true },
      }).run(() => slot().then((m) => m.slotRm)),
    ],
  },
  {
    name: 'access',
    describe: 'which programs a guarded mount lets open secrets: access allow | list | rm | pending',
    commands: [
      command({
        command: 'allow <program>',
        describe: 'let PROGRAM (an absolute path; its device, inode and hash are kept) open secrets of the node, a repository or a tag',
        builder: (y) =>
          json(y)
            .positional('program', str)
            .option('repo', { type: 'string', describe: 'only secrets of this repository' })
            .option('tag', { type: 'string', describe: 'only secrets with this tag' })
            .option('script', { type: 'string', describe: 'PROGRAM is an interpreter: only when it runs this script' }),
        needs: AGENT,
      }).run(() => access().then((m) => m.accessAllow)),
      command({ command: 'list', describe: 'the access rules', builder: json, needs: AGENT }).run(() => access().then((m) => m.accessList)),
      command({ command: 'rm <id>', describe: 'remove a rule (by the id list shows)', builder: (y) => y.positional('id', str), needs: AGENT }).run(() =>
        access().then((m) => m.accessRm),
      ),
      command({ command: 'pending', describe: 'programs refused by a guarded mount, and how to allow them', builder: json, needs: AGENT }).run(() =>
        access().then((m) => m.accessPending),
      ),
    ],
  },
  {
    name: 'peer',
    describe: 'known peers: peer add | list | rm',
    commands: [
      command({
        command: 'add <alias> <node-id> [address]',
        describe: 'know a node by id, or find it by identity: NODE_ID is 64 hex digits, keybase:USER or github:USER (ADDRESS is HOST:PORT; without it the DHT finds it)',
        builder: (y) =>
          json(identityUrls(y))
            .positional('alias', str)
            .positional('node-id', str)
            .positional('address', optStr)
            .option('owner', { type: 'boolean', describe: 'let this peer push to this node' })
            .option('proof', { type: 'string', describe: 'with keybase:USER or github:USER: the URL of the published statement (else it is looked for)' }),
        needs: AGENT,
      }).run(() => sync().then((m) => m.peerAdd)),
      command({ command: 'list', describe: 'known peers and what each may pull', builder: json, needs: AGENT }).run(() => sync().then((m) => m.peerList)),
      command({ command: 'rm <alias>', describe: 'forget a peer (and its access)', builder: (y) => y.positional('alias', str), needs: AGENT }).run(() =>
        sync().then((m) => m.peerRm),
      ),
    ],
  },
  {
    name: 'identity',
    describe: 'identity statements: identity claim | verify',
    commands: [
      command({
        command: 'claim <service> <user>',
        describe: 'print a statement binding this node to USER on SERVICE (keybase or github), signed by the node and by your key, to publish',
        builder: (y) =>
          identityUrls(y)
            .positional('service', { choices: ['keybase', 'github'] as const, demandOption: true })
            .positional('user', str)
            .option('gpg-key', { type: 'string', describe: 'keybase: the PGP key (fingerprint) to sign with (default: the primary key Keybase lists)' })
            .option('ssh-key', { type: 'string', describe: 'github: the SSH private key FILE to sign with (default: the first ~/.ssh/id_* GitHub lists)' })
            .option('address', { type: 'string', describe: 'HOST:PORT where this node serves, stated for peers' })
            .option('days', { type: 'number', default: 365, describe: 'days until the statement expires' }),
        // Signs with the user's gpg or ssh key: next to their agents and terminal (pinentry,
        // ssh-keygen's passphrase prompt); the node's signature comes from `node-sign`.
        needs: { runs: 'local', terminal: true },
      }).run(() => identity().then((m) => m.identityClaim)),
      command({
        command: 'verify <alias>',
        describe: "check a peer's identity statements again (still published, keys still listed)",
        builder: (y) => json(identityUrls(y)).positional('alias', str),
        needs: AGENT,
      }).run(() => identity().then((m) => m.identityVerify)),
      command({ command: 'node-sign <fields>', describe: false, builder: (y) => y.positional('fields', str), needs: AGENT }).run(() => identity().then((m) => m.identityNodeSign)),
    ],
  },
]
