// peer, share, serve, clone, pull, push, seal, unseal: argument checks here, the work in src/sync.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { Context } from './context.js'
import { EXIT, PolykeyError } from '../errors.js'
import { checkName } from '../vault/names.js'
import type { Vault } from '../vault/vault.js'
import type { Remote } from '../sync/remote.js'
import type { Side } from '../sync/merge.js'

/** Commits and trees `serve` keeps in memory between requests. */
const SERVE_CACHE_BYTES = 64 << 20

interface DhtArgs {
  bootstrap?: string
}
interface RemoteArgs extends DhtArgs {
  targetPassphraseFile?: string
}
interface SideArgs {
  ours?: boolean
  theirs?: boolean
}

const short = (oid: string | null) => (oid ? oid.slice(0, 12) : 'nothing')

function syncTimeoutMs(ctx: Context): number {
  const s = Number(ctx.io.env.POLYKEY_SYNC_TIMEOUT ?? 30)
  return (Number.isFinite(s) && s > 0 ? s : 30) * 1000
}

async function dhtOptions(ctx: Context, argv: DhtArgs) {
  const { parseBootstrap } = await import('../sync/dht.js')
  return parseBootstrap(argv.bootstrap ?? ctx.io.env.POLYKEY_DHT_BOOTSTRAP)
}

function prefer(argv: SideArgs): Side | undefined {
  if (argv.ours && argv.theirs) throw new PolykeyError('USAGE', 'give --ours or --theirs, not both')
  return argv.ours ? 'ours' : argv.theirs ? 'theirs' : undefined
}

/** PEER/TARGET: a node file (path) or a known peer reached by address or through the DHT. */
async function openRemote(ctx: Context, v: Vault, arg: string, write: boolean, argv: RemoteArgs): Promise<Remote> {
  const { looksLikePath, openPeerFile } = await import('../sync/peer-file.js')
  if (looksLikePath(arg, ctx.io.cwd)) {
    const file = path.resolve(ctx.io.cwd, arg)
    return openPeerFile(file, ctx.nodePath, () => ctx.passphrase(`Passphrase for ${file}: `, { file: argv.targetPassphraseFile, envVar: 'POLYKEY_TARGET_PASSPHRASE' }), {
      write,
      lockTimeoutMs: (ctx.args.lockTimeout ?? 30) * 1000,
      warn: (m) => ctx.warn(m),
    })
  }
  const { loadPeers, findPeer, parseAddress } = await import('../sync/peers.js')
  const { identityKeys } = await import('../sync/identity.js')
  const { Channel } = await import('../sync/channel.js')
  const { NetRemote } = await import('../sync/remote.js')
  const peer = findPeer(loadPeers(v), arg)
  const { keys } = identityKeys(v)
  const label = `peer ${peer.alias}`
  let stream
  try {
    if (peer.address) {
      const { connectTcp } = await import('../sync/transport.js')
      stream = await connectTcp(parseAddress(peer.address), keys, peer.id, label)
    } else {
      const { connectDht } = await import('../sync/dht.js')
      stream = await connectDht(await dhtOptions(ctx, argv), keys, peer.id, label, syncTimeoutMs(ctx))
    }
  } catch (err) {
    const { wipe } = await import('../crypto/index.js')
    wipe(keys.secretKey)
    throw err
  }
  const remote = new NetRemote(new Channel(stream, label, syncTimeoutMs(ctx)), peer.alias)
  const close = remote.close.bind(remote)
  remote.close = async () => {
    await close()
    const { wipe } = await import('../crypto/index.js')
    wipe(keys.secretKey)
  }
  return remote
}

/** Run fn with the remote open; always close it. */
async function withRemote<T>(ctx: Context, v: Vault, arg: string, write: boolean, argv: RemoteArgs, fn: (r: Remote) => Promise<T>): Promise<T> {
  const remote = await openRemote(ctx, v, arg, write, argv)
  try {
    return await fn(remote)
  } finally {
    await remote.close()
  }
}

// ------------------------------------------------------------------------------ peers
export async function peerAdd(
  ctx: Context,
  argv: { alias: string; nodeId: string; address?: string; owner?: boolean; proof?: string; keybaseUrl?: string; githubUrl?: string; githubApiUrl?: string; json?: boolean },
) {
  const { loadPeers, savePeers, addPeer, checkAlias, checkNodeId, parseAddress, formatAddress } = await import('../sync/peers.js')
  const { identityKeys } = await import('../sync/identity.js')
  const { parseIdentity } = await import('../identity/statement.js')
  const who = parseIdentity(String(argv.nodeId))
  if (who) return (await import('./identity-commands.js')).peerAddIdentity(ctx, argv, who.service, who.user)
  if (argv.proof !== undefined) throw new PolykeyError('USAGE', '--proof goes with keybase:USER or github:USER, not a node id')
  const alias = checkAlias(String(argv.alias))
  const id = checkNodeId(String(argv.nodeId))
  const address = argv.address === undefined ? undefined : formatAddress(parseAddress(String(argv.address)))
  await ctx.withVault(true, (v) => {
    const book = loadPeers(v)
    addPeer(book, { alias, id, ...(address ? { address } : {}), owner: !!argv.owner }, identityKeys(v).id)
    savePeers(v, book)
  })
  return EXIT.OK
}

export async function peerList(ctx: Context) {
  const { loadPeers, sharedWith } = await import('../sync/peers.js')
  const { identitySummary } = await import('./identity-commands.js')
  const peers = await ctx.withVault(false, (v) => {
    const book = loadPeers(v)
    return book.peers.map((p) => ({
      alias: p.alias,
      id: p.id,
      address: p.address ?? null,
      owner: p.owner,
      repos: sharedWith(book, p.id),
      ...(p.identities?.length ? { identities: p.identities } : {}),
    }))
  })
  if (ctx.args.json) ctx.json(peers)
  else
    for (const p of peers) {
      const ids = identitySummary(p.identities)
      ctx.out(
        `${p.alias}\t${p.id}\t${p.address ?? '(dht)'}${p.owner ? '\towner' : ''}${p.repos.length ? `\tmay pull: ${p.repos.join(', ')}` : ''}${ids ? `\tidentity: ${ids}` : ''}`,
      )
    }
  return EXIT.OK
}

export async function peerRm(ctx: Context, argv: { alias: string }) {
  const { loadPeers, savePeers, removePeer } = await import('../sync/peers.js')
  const alias = String(argv.alias)
  await ctx.withVault(true, (v) => {
    const book = loadPeers(v)
    removePeer(book, alias)
    savePeers(v, book)
  })
  return EXIT.OK
}

export async function shareRepo(ctx: Context, argv: { repo: string; peer: string }) {
  const { loadPeers, savePeers, findPeer, share } = await import('../sync/peers.js')
  const repo = checkName('repository', String(argv.repo))
  await ctx.withVault(true, (v) => {
    if (!v.hasRepo(repo)) throw new PolykeyError('NOT_FOUND', `no repository '${repo}'`, { repo })
    const book = loadPeers(v)
    if (share(book, repo, findPeer(book, String(argv.peer)))) savePeers(v, book)
  })
  return EXIT.OK
}

export async function unshareRepo(ctx: Context, argv: { repo: string; peer: string }) {
  const { loadPeers, savePeers, findPeer, unshare } = await import('../sync/peers.js')
  const repo = checkName('repository', String(argv.repo))
  await ctx.withVault(true, (v) => {
    const book = loadPeers(v)
    unshare(book, repo, findPeer(book, String(argv.peer)))
    savePeers(v, book)
  })
  return EXIT.OK
}

// ------------------------------------------------------------------------------ serve
/** For a wildcard listen address, this machine's addresses on that port (loopback last); else the address itself. */
function reachableAddresses(a: { host: string; port: number }): string[] {
  const wildcard = a.host === '0.0.0.0' || a.host === '::'
  if (!wildcard) return []
  const out: string[] = []
  const loop: string[] = []
  for (const list of Object.values(os.networkInterfaces()))
    for (const i of list ?? []) {
      if (a.host === '0.0.0.0' && i.family !== 'IPv4') continue
      const s = i.family === 'IPv6' ? `[${i.address}]:${a.port}` : `${i.address}:${a.port}`
      ;(i.internal ? loop : out).push(s)
    }
  return [...out, ...loop]
}

/**
 * Not mounted: the node file is unlocked once and re-opened (with its master key, no key
 * derivation) for every request, so other commands keep working and pushes take the lock only
 * while they write. Mounted: this runs inside the mount process (the agent), on the mounted
 * vault, and stops when the `polykey serve` that asked for it goes away or the node is unmounted.
 */
export async function serve(ctx: Context, argv: DhtArgs & { listen?: string; dht?: boolean }) {
  const { parseAddress, formatAddress } = await import('../sync/peers.js')
  const { startServing } = await import('../sync/server.js')
  const { identityKeys } = await import('../sync/identity.js')
  const { shareObjectCache } = await import('../git/repo.js')
  const listen = parseAddress(String(argv.listen ?? '127.0.0.1:0'))
  const dht = argv.dht ? await dhtOptions(ctx, argv) : null
  const log = (m: string) => ctx.io.stderr.write(`polykey: ${m}\n`)
  let access: import('../sync/server.js').ServeAccess
  let release = () => {}
  let keys: import('../crypto/index.js').SigningKeyPair
  if (ctx.hosted) {
    access = ctx.hosted
    keys = await ctx.hosted.withVault(false, (v) => identityKeys(v).keys)
  } else {
    const { OpenNode } = await import('../vault/node.js')
    const { FileSession } = await import('../vault/session.js')
    const { secureBuffer, wipe } = await import('../crypto/index.js')
    const nodePath = ctx.nodePath
    const first = await OpenNode.open(nodePath, await ctx.keySource(), { warn: (m) => ctx.warn(m) })
    const master = secureBuffer(first.file.masterKey.length)
    first.file.masterKey.copy(master)
    keys = first.identity().keys
    first.close()
    // Re-opened per request with the master key (no key derivation); a push waits this long for
    // a local writer: a peer should not wait on a mounted node's lock.
    access = new FileSession(nodePath, async () => ({ masterKey: master }), { lockTimeoutMs: (ctx.args.lockTimeout ?? 5) * 1000 })
    release = () => {
      wipe(master)
      wipe(keys.secretKey)
    }
  }
  // Every fetch walks a repository's history: keep its commits and trees between requests.
  shareObjectCache(SERVE_CACHE_BYTES)
  const serving = await startServing(listen, dht, { access, keys, log, timeoutMs: syncTimeoutMs(ctx) })
  const address = formatAddress(serving.address)
  // Listening on every interface (0.0.0.0, ::): say where peers can actually dial.
  const reach = reachableAddresses(serving.address)
  if (ctx.args.json) ctx.json({ address, reachable: reach, id: keys.publicKey.toString('hex'), dht: serving.dht })
  else ctx.out(reach.length && reach[0] !== address ? `${address} (peers can dial ${reach.join(', ')})` : address)
  await new Promise<void>((resolve) => {
    const signal = ctx.io.signal
    if (signal) {
      if (signal.aborted) return resolve()
      signal.addEventListener('abort', () => resolve(), { once: true })
    }
    if (!ctx.hosted) {
      process.once('SIGINT', resolve)
      process.once('SIGTERM', resolve)
    }
  })
  await serving.close()
  shareObjectCache(0)
  release()
  log('stopped serving')
  return EXIT.OK
}

// ------------------------------------------------------------------------------ clone / pull / push
function reportPull(ctx: Context, r: import('../sync/sync.js').PullResult, from: string, side?: Side) {
  if (ctx.args.json) return ctx.json({ ...r, from })
  for (const s of r.resolved) ctx.out(`'${r.repo}/${s}' changed on both sides: kept ${side === 'ours' ? "this node's" : `${from}'s`} version`)
  if (r.result === 'cloned') ctx.out(`cloned ${r.repo} from ${from} (${r.objects} objects, at ${short(r.head)})`)
  else if (r.result === 'up-to-date') ctx.out(`${r.repo}: already up to date with ${from}`)
  else if (r.result === 'fast-forward') ctx.out(`${r.repo}: fast-forward to ${short(r.head)} (${r.objects} objects from ${from})`)
  else ctx.out(`${r.repo}: merged changes from ${from} (merge commit ${short(r.head)})`)
}

export async function clone(ctx: Context, argv: RemoteArgs & { peer: string; repo: string; localName?: string }) {
  const { pull } = await import('../sync/sync.js')
  const repo = checkName('repository', String(argv.repo))
  const into = checkName('repository', String(argv.localName ?? repo))
  const peer = String(argv.peer)
  const r = await ctx.withVault(true, (v) => withRemote(ctx, v, peer, false, argv, (remote) => pull(v, remote, repo, { into, clone: true })))
  reportPull(ctx, r, peer)
  return EXIT.OK
}

export async function pullRepo(ctx: Context, argv: RemoteArgs & SideArgs & { peer: string; repo: string }) {
  const { pull } = await import('../sync/sync.js')
  const repo = checkName('repository', String(argv.repo))
  const peer = String(argv.peer)
  const side = prefer(argv)
  const r = await ctx.withVault(true, (v) => withRemote(ctx, v, peer, false, argv, (remote) => pull(v, remote, repo, { prefer: side })))
  reportPull(ctx, r, peer, side)
  return EXIT.OK
}

export async function pushRepo(ctx: Context, argv: RemoteArgs & { repo?: string; target?: string; all?: boolean }) {
  const sync = await import('../sync/sync.js')
  if (argv.all) {
    // `push --all TARGET`: yargs puts TARGET in the first positional.
    if (argv.target !== undefined) throw new PolykeyError('USAGE', 'push --all takes only TARGET')
    const target = String(argv.repo ?? '')
    if (!target) throw new PolykeyError('USAGE', 'push --all needs a TARGET')
    const { pushed, failed } = await ctx.withVault(false, (v) => withRemote(ctx, v, target, true, argv, (remote) => sync.pushAll(v, remote)))
    if (ctx.args.json) ctx.json({ target, pushed, failed: failed.map((f) => ({ repo: f.repo, code: f.error.code, message: f.error.message })) })
    else {
      for (const p of pushed)
        ctx.out(
          p.result === 'pushed' ? `${p.repo}: pushed ${short(p.head)} (${p.objects} objects)` : `${p.repo}: ${p.result === 'created-empty' ? 'created (empty)' : 'up to date'}`,
        )
      for (const f of failed) ctx.io.stderr.write(`polykey: error: ${f.repo}: ${f.error.message}\n${f.error.hint ? `polykey: hint: ${f.error.hint}\n` : ''}`)
    }
    return failed.length ? EXIT.FAILED : EXIT.OK
  }
  if (argv.repo === undefined || argv.target === undefined) throw new PolykeyError('USAGE', 'usage: polykey push REPO TARGET, or polykey push --all TARGET')
  const repo = checkName('repository', String(argv.repo))
  const target = String(argv.target)
  const r = await ctx.withVault(false, (v) => withRemote(ctx, v, target, true, argv, (remote) => sync.push(v, remote, repo)))
  if (ctx.args.json) ctx.json({ ...r, target })
  else if (r.result === 'pushed') ctx.out(`${repo}: pushed ${short(r.head)} to ${target} (${r.objects} objects)`)
  else if (r.result === 'created-empty') ctx.out(`${repo}: created on ${target} (no commits yet)`)
  else ctx.out(`${repo}: ${target} is already up to date`)
  return EXIT.OK
}

// ------------------------------------------------------------------------------ seal / unseal
export async function seal(ctx: Context, argv: { repo: string; peer: string }) {
  if (ctx.io.stdoutIsTTY)
    throw new PolykeyError(
      'REFUSED',
      'refusing to write a binary bundle to a terminal',
      {},
      { hint: `redirect it: 'polykey seal ${argv.repo} ${argv.peer} > ${argv.repo}.pkseal'` },
    )
  const { loadPeers, findPeer } = await import('../sync/peers.js')
  const { identityKeys } = await import('../sync/identity.js')
  const { packAll } = await import('../sync/repo-ops.js')
  const { sealBundle } = await import('../sync/seal.js')
  const { wipe } = await import('../crypto/index.js')
  const repo = checkName('repository', String(argv.repo))
  const bundle = await ctx.withVault(false, (v) => {
    if (!v.hasRepo(repo)) throw new PolykeyError('NOT_FOUND', `no repository '${repo}'`, { repo })
    const peer = findPeer(loadPeers(v), String(argv.peer))
    const me = identityKeys(v)
    try {
      const { head, pack } = packAll(v, repo)
      return sealBundle({ repo, head, from: me.id, to: peer.id, created: new Date().toISOString() }, pack, me.keys)
    } finally {
      wipe(me.keys.secretKey)
    }
  })
  await new Promise<void>((resolve, reject) => ctx.io.stdout.write(bundle, (err) => (err ? reject(err) : resolve())))
  return EXIT.OK
}

export async function unseal(ctx: Context, argv: SideArgs & { file: string; as?: string; allowUnknown?: boolean }) {
  const { openBundle } = await import('../sync/seal.js')
  const { identityKeys } = await import('../sync/identity.js')
  const { loadPeers, peerById } = await import('../sync/peers.js')
  const { pull } = await import('../sync/sync.js')
  const { wipe } = await import('../crypto/index.js')
  const file = path.resolve(ctx.io.cwd, String(argv.file))
  let data: Buffer
  try {
    data = fs.readFileSync(file)
  } catch (err) {
    throw new PolykeyError('NOT_FOUND', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code}`)
  }
  const side = prefer(argv)
  const r = await ctx.withVault(true, async (v) => {
    const { keys } = identityKeys(v)
    let opened: ReturnType<typeof openBundle>
    try {
      opened = openBundle(data, keys)
    } finally {
      wipe(keys.secretKey)
    }
    const { header, pack } = opened
    const sender = peerById(loadPeers(v), header.from)
    if (!sender && !argv.allowUnknown)
      throw new PolykeyError(
        'REFUSED',
        `the bundle was sealed by node ${header.from.slice(0, 16)}…, which is not a known peer`,
        { from: header.from },
        {
          hint: 'add it with polykey peer add, or pass --allow-unknown',
        },
      )
    const into = checkName('repository', String(argv.as ?? header.repo))
    const label = sender ? sender.alias : `node ${header.from.slice(0, 16)}…`
    const remote: Remote = {
      label,
      describe: `the bundle from ${label}`,
      list: async () => [{ name: header.repo, head: header.head }],
      fetch: async () => ({ head: header.head, pack }),
      head: async () => header.head,
      push: async () => {
        throw new PolykeyError('INTERNAL', 'a bundle is read-only')
      },
      setTags: async () => {},
      setPeers: async () => {},
      abort: () => {},
      close: async () => {},
    }
    return { ...(await pull(v, remote, header.repo, { into, clone: !v.hasRepo(into), prefer: side })), from: label }
  })
  reportPull(ctx, r, `a bundle from ${r.from}`, side)
  return EXIT.OK
}
