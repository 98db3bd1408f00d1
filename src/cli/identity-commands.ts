// identity claim, identity verify, and `peer add ALIAS keybase:USER|github:USER`: argument checks
// and output here, the work in src/identity. The network is reached only from these handlers.
import type { Context } from './context.js'
import { EXIT, PolykeyError } from '../errors.js'
import type { IdentityConfig } from '../identity/verify.js'
import type { Service, StatementFields } from '../identity/statement.js'
import type { PeerIdentity } from '../sync/peers.js'

const DEFAULT_TIMEOUT_S = 10

/** The options the identity commands read (each command's builder gives its own subset). */
interface IdentityArgs {
  keybaseUrl?: string
  githubUrl?: string
  githubApiUrl?: string
  service?: string
  user?: string
  gpgKey?: string
  sshKey?: string
  address?: string
  days?: number
  fields?: string
  alias?: string
  proof?: string
  owner?: boolean
}

async function identityConfig(ctx: Context, argv: IdentityArgs): Promise<IdentityConfig> {
  const { checkUrl } = await import('../identity/http.js')
  const env = ctx.io.env
  const s = Number(env.POLYKEY_IDENTITY_TIMEOUT ?? DEFAULT_TIMEOUT_S)
  return {
    keybase: checkUrl(String(argv.keybaseUrl ?? env.POLYKEY_KEYBASE_URL ?? 'https://keybase.io'), '--keybase-url', true),
    github: checkUrl(String(argv.githubUrl ?? env.POLYKEY_GITHUB_URL ?? 'https://github.com'), '--github-url', true),
    githubApi: checkUrl(String(argv.githubApiUrl ?? env.POLYKEY_GITHUB_API_URL ?? 'https://api.github.com'), '--github-api-url', true),
    timeoutMs: (Number.isFinite(s) && s > 0 ? s : DEFAULT_TIMEOUT_S) * 1000,
    ...(ctx.io.signal ? { signal: ctx.io.signal } : {}),
  }
}

/** An inner command already reported its error on stderr; pass its exit code on. */
class Reported extends Error {
  constructor(readonly exitCode: number) {
    super('reported')
  }
}

// ------------------------------------------------------------------------------ claim
export async function identityClaim(ctx: Context, argv: IdentityArgs) {
  const { checkService, checkUser } = await import('../identity/statement.js')
  const { parseAddress, formatAddress } = await import('../sync/peers.js')
  const service = checkService(String(argv.service))
  const user = checkUser(service, String(argv.user))
  if (service === 'keybase' && argv.sshKey !== undefined) throw new PolykeyError('USAGE', '--ssh-key is for github; Keybase statements are signed with --gpg-key')
  if (service === 'github' && argv.gpgKey !== undefined) throw new PolykeyError('USAGE', '--gpg-key is for keybase; GitHub statements are signed with --ssh-key')
  const address = argv.address === undefined ? undefined : formatAddress(parseAddress(String(argv.address)))
  const cfg = await identityConfig(ctx, argv)
  // The node signs wherever the node is open (the mount's agent, or here); the user's key signs
  // here, next to the user's gpg-agent, ssh-agent and terminal.
  const nodeSign = async (fields: Omit<StatementFields, 'node'>): Promise<string> => {
    const r = await ctx.call(['identity', 'node-sign', JSON.stringify(fields)])
    if (r.code !== 0) {
      ctx.io.stderr.write(r.stderr)
      throw new Reported(r.code)
    }
    return r.stdout.toString('utf8')
  }
  const { claimGithub, claimKeybase } = await import('../identity/claim.js')
  const o = {
    service,
    user,
    days: Number(argv.days ?? 365),
    nowMs: Date.now(),
    env: ctx.io.env,
    ...(address ? { address } : {}),
    ...(argv.gpgKey ? { gpgKey: String(argv.gpgKey) } : {}),
    ...(argv.sshKey ? { sshKey: String(argv.sshKey) } : {}),
  }
  let claim
  try {
    claim = service === 'keybase' ? await claimKeybase(o, cfg, nodeSign) : await claimGithub(o, cfg, nodeSign)
  } catch (err) {
    if (err instanceof Reported) return err.exitCode
    throw err
  }
  ctx.io.stdout.write(claim.published)
  ctx.io.stderr.write(`polykey: publish this statement (valid until ${claim.fields.expires}) as:\n`)
  for (const w of claim.where) ctx.io.stderr.write(`polykey:   ${w}\n`)
  ctx.io.stderr.write(`polykey: then peers run: polykey peer add ALIAS ${service}:${user}\n`)
  return EXIT.OK
}

/** Hidden: the node's half of a claim. It signs only a well-formed statement naming this node. */
export async function identityNodeSign(ctx: Context, argv: IdentityArgs) {
  const { nodeSign } = await import('../identity/statement.js')
  const { identityKeys } = await import('../sync/identity.js')
  const { wipe } = await import('../crypto/index.js')
  let f: Record<string, unknown>
  try {
    f = JSON.parse(String(argv.fields))
  } catch {
    throw new PolykeyError('USAGE', 'node-sign takes the statement fields as JSON')
  }
  const text = await ctx.withVault(false, (v) => {
    const { id, keys } = identityKeys(v)
    try {
      const fields: StatementFields = {
        service: f.service as Service,
        user: String(f.user),
        userKey: String(f.userKey),
        node: id,
        ...(f.address !== undefined ? { address: String(f.address) } : {}),
        created: String(f.created),
        expires: String(f.expires),
      }
      return nodeSign(fields, keys.secretKey)
    } finally {
      wipe(keys.secretKey)
    }
  })
  ctx.io.stdout.write(text)
  return EXIT.OK
}

// ------------------------------------------------------------------------------ peer add keybase:USER
export async function peerAddIdentity(ctx: Context, argv: IdentityArgs, service: Service, user: string) {
  const { loadPeers, savePeers, addPeer, checkAlias, parseAddress, formatAddress } = await import('../sync/peers.js')
  const { identityKeys } = await import('../sync/identity.js')
  const { discover } = await import('../identity/verify.js')
  const alias = checkAlias(String(argv.alias))
  const cfg = await identityConfig(ctx, argv)
  const proof = argv.proof === undefined ? undefined : String(argv.proof)
  if (proof) (await import('../identity/http.js')).checkUrl(proof, '--proof', false)
  // Look everything up before opening the node: the network may be slow, the node lock must not wait on it.
  const nowMs = Date.now()
  const proven = await discover(service, user, { ...(proof ? { proof } : {}), nowMs }, cfg)
  const f = proven.statement.fields
  const given = argv.address === undefined ? undefined : formatAddress(parseAddress(String(argv.address)))
  const address = given ?? (f.address ? formatAddress(parseAddress(f.address)) : undefined)
  const identity: PeerIdentity = {
    service,
    user: f.user,
    key: f.userKey,
    ...(proof ? { proof } : {}),
    found: proven.url,
    expires: f.expires,
    verified: new Date(nowMs).toISOString(),
  }
  await ctx.withVault(true, (v) => {
    const book = loadPeers(v)
    addPeer(book, { alias, id: f.node, ...(address ? { address } : {}), owner: !!argv.owner, identities: [identity] }, identityKeys(v).id)
    savePeers(v, book)
  })
  if (ctx.args.json) ctx.json({ alias, id: f.node, address: address ?? null, identity, others: proven.others })
  else {
    ctx.out(`added peer ${alias}: node ${f.node} (${service}:${f.user}, statement at ${proven.url}, valid until ${f.expires})`)
    if (proven.others.length) ctx.out(`${f.user} has also proven on Keybase: ${proven.others.join(', ')}`)
  }
  return EXIT.OK
}

// ------------------------------------------------------------------------------ identity verify
export async function identityVerify(ctx: Context, argv: IdentityArgs) {
  const { loadPeers, savePeers, findPeer, setIdentity } = await import('../sync/peers.js')
  const { discover } = await import('../identity/verify.js')
  const alias = String(argv.alias)
  const peer = await ctx.withVault(false, (v) => findPeer(loadPeers(v), alias))
  if (!peer.identities?.length)
    throw new PolykeyError(
      'NOT_FOUND',
      `peer '${alias}' was not added by an identity`,
      { alias },
      { hint: `re-add it with 'polykey peer add ${alias} keybase:USER' or 'github:USER'` },
    )
  const cfg = await identityConfig(ctx, argv)
  const nowMs = Date.now()
  const now = new Date(nowMs).toISOString()
  const results: { identity: PeerIdentity; state: 'ok' | 'broken' | 'unchecked'; problem?: string }[] = []
  for (const idn of peer.identities) {
    const name = `${idn.service}:${idn.user}`
    try {
      const proven = await discover(idn.service, idn.user, { ...(idn.proof ? { proof: idn.proof } : {}), nowMs }, cfg)
      const f = proven.statement.fields
      if (f.node !== peer.id)
        throw new PolykeyError('REFUSED', `${name}'s statement now names node ${f.node.slice(0, 16)}…, not this peer's ${peer.id.slice(0, 16)}…`, { check: 'node-changed' })
      results.push({
        identity: {
          service: idn.service,
          user: f.user,
          key: f.userKey,
          ...(idn.proof ? { proof: idn.proof } : {}),
          found: proven.url,
          expires: f.expires,
          verified: now,
          checked: now,
        },
        state: 'ok',
      })
    } catch (err) {
      if (!(err instanceof PolykeyError) || err.code === 'USAGE' || err.code === 'INTERNAL') throw err
      if (err.code === 'PEER') {
        // The service did not answer: that says nothing about the statement; keep the record as it is.
        results.push({ identity: idn, state: 'unchecked', problem: err.message })
        continue
      }
      results.push({ identity: { ...idn, problem: err.message, checked: now }, state: 'broken', problem: err.message })
    }
  }
  if (results.some((r) => r.state !== 'unchecked'))
    await ctx.withVault(true, (v) => {
      const book = loadPeers(v)
      const p = book.peers.find((x) => x.alias === alias && x.id === peer.id)
      if (!p) return
      for (const r of results) if (r.state !== 'unchecked') setIdentity(p, r.identity)
      savePeers(v, book)
    })
  if (ctx.args.json)
    ctx.json(
      results.map((r) => ({
        service: r.identity.service,
        user: r.identity.user,
        state: r.state,
        ...(r.problem ? { problem: r.problem } : {}),
        found: r.identity.found,
        expires: r.identity.expires,
      })),
    )
  else
    for (const r of results) {
      const name = `${r.identity.service}:${r.identity.user}`
      if (r.state === 'ok') ctx.out(`${alias}: ${name} holds (statement at ${r.identity.found}, valid until ${r.identity.expires})`)
      else if (r.state === 'broken') ctx.warn(`${alias}: ${name} no longer holds: ${r.problem}`)
      else ctx.warn(`${alias}: ${name} could not be checked: ${r.problem}`)
    }
  return results.every((r) => r.state === 'ok') ? EXIT.OK : EXIT.FAILED
}

/** How `peer list` shows a peer's identities. */
export function identitySummary(ids: PeerIdentity[] | undefined): string {
  return (ids ?? []).map((i) => `${i.service}:${i.user}${i.problem ? ' (NOT verified: ' + i.problem + ')' : ''}`).join(', ')
}
