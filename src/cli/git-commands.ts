// The node side of git-remote-polykey (hidden `git-serve`), and the git-facing commands:
// node id --ssh, node name, repo signers. Work in src/sync/git-serve.ts and src/vault/author.ts.
import type { Context } from './context.js'
import type { Vault } from '../vault/vault.js'
import { EXIT, PolykeyError } from '../errors.js'
import { checkName } from '../vault/names.js'

const OID = /^[0-9a-f]{40}$/

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const c of stream) chunks.push(Buffer.from(c as Buffer))
  return Buffer.concat(chunks)
}

function write(ctx: Context, b: Buffer): Promise<void> {
  return new Promise((resolve, reject) => ctx.io.stdout.write(b, (err) => (err ? reject(err) : resolve())))
}

/** This node's id, through the agent or from the open node file. */
function selfId(ctx: Context, node: { id: string } | null): string {
  return node ? node.id : ctx.hosted!.nodeId
}

/**
 * `git-serve list|fetch|push REPO …`: one JSON line (head git is shown, and what happened),
 * then for fetch the pack. Refused on a terminal: the pack is plaintext.
 */
export async function gitServe(ctx: Context, argv: { action: string; repo: string; oids?: string[]; force?: boolean }): Promise<number> {
  const repo = checkName('repository', String(argv.repo))
  const oids = ((argv.oids ?? []) as unknown[]).map(String)
  // 'HEAD': the head git is shown (fetch); 'none': git saw no head (push)
  for (const o of oids) if (o !== 'HEAD' && o !== 'none' && !OID.test(o)) throw new PolykeyError('USAGE', `not a commit id: ${o}`)
  const sync = await import('../sync/git-serve.js')
  const need = (v: Vault) => {
    if (!v.hasRepo(repo)) throw new PolykeyError('NOT_FOUND', `no repository '${repo}' in ${ctx.nodePath}`, { repo }, { hint: "'polykey repo list' shows the repositories" })
  }
  const line = (x: unknown) => Buffer.from(JSON.stringify(x) + '\n')
  if (argv.action === 'list' || argv.action === 'fetch') {
    // Each part is written as soon as it is made: through an agent the answer's first line
    // (what git's `list` needs) leaves before the pack is made, and the stored packs before the
    // loose objects are read, so the helper and git index-pack work while the rest is made. The
    // vault is read in one go (no await in between): the pack is one state of the repository.
    let written: Promise<unknown> = Promise.resolve()
    let failed: Error | null = null
    const out = (b: Buffer) => {
      if (b.length > 0) written = new Promise((resolve) => ctx.io.stdout.write(b, (err) => resolve((failed ??= err ?? null))))
    }
    await ctx.withVault(false, (v, node) => {
      need(v)
      const head = sync.gitVisibleHead(v, repo, selfId(ctx, node))
      if (argv.action === 'list' || !head) return out(line({ head }))
      const [first, ...haves] = oids
      const want = !first || first === 'HEAD' ? head : first
      out(line({ head, want }))
      for (const part of sync.packPartsForWant(v, repo, want, haves)) out(part)
    })
    // the last write's callback: every write before it has then been taken, in order
    await written
    if (failed) throw failed
    return EXIT.OK
  }
  if (argv.action === 'push') {
    const [seen, next] = oids
    if (!seen || !next || !OID.test(next)) throw new PolykeyError('USAGE', 'usage: git-serve push REPO SEEN|none NEXT')
    const pack = await readAll(ctx.io.stdin)
    const r = await ctx.withVault(true, (v, node) => {
      need(v)
      return sync.receiveGitPush(v, repo, { seen: seen === 'none' ? null : seen, next, pack, force: !!argv.force, self: selfId(ctx, node), now: Date.now() })
    })
    await write(ctx, line(r))
    return EXIT.OK
  }
  throw new PolykeyError('USAGE', `unknown git-serve action '${argv.action}'`)
}

/** `node id [--ssh]` and `node name [NAME]`. */
export async function node(ctx: Context, argv: { action: 'id' | 'name'; value?: string; ssh?: boolean }): Promise<number> {
  const author = await import('../vault/author.js')
  if (argv.action === 'id') {
    if (argv.value !== undefined) throw new PolykeyError('USAGE', "'node id' takes no argument")
    const id = await ctx.withVault(false, (_v, n) => selfId(ctx, n))
    if (!argv.ssh) {
      if (ctx.args.json) ctx.json({ id })
      else ctx.out(id)
      return EXIT.OK
    }
    const { sshPublicKeyLine } = await import('../crypto/sshsig.js')
    const line = sshPublicKeyLine(Buffer.from(id, 'hex'), `polykey:${id}`)
    if (ctx.args.json) ctx.json({ id, ssh: line })
    else ctx.out(line)
    return EXIT.OK
  }
  if (argv.value === undefined) {
    const r = await ctx.withVault(false, (v, n) => ({ name: author.readNodeName(v.store), id: selfId(ctx, n) }))
    const name = r.name ?? author.defaultNodeName(r.id)
    if (ctx.args.json) ctx.json({ name, set: r.name !== null, email: author.nodeEmail(r.id) })
    else ctx.out(name)
    return EXIT.OK
  }
  const name = author.checkNodeName(String(argv.value))
  await ctx.withVault(true, (v) => author.writeNodeName(v.store, name))
  return EXIT.OK
}

/** Git's allowed-signers file (gpg.ssh.allowedSignersFile) for this node and every known peer. */
export async function repoSigners(ctx: Context, argv: { name: string }): Promise<number> {
  const { loadPeers } = await import('../sync/peers.js')
  const { sshPublicKeyLine } = await import('../crypto/sshsig.js')
  const { nodeEmail } = await import('../vault/author.js')
  const repo = checkName('repository', String(argv.name))
  const { self, peers } = await ctx.withVault(false, (v, n) => {
    if (!v.hasRepo(repo)) throw new PolykeyError('NOT_FOUND', `no repository '${repo}'`, { repo })
    return { self: selfId(ctx, n), peers: loadPeers(v).peers }
  })
  // principal: the commit email each node writes; namespaces="git": these keys vouch for commits only
  const line = (id: string, who: string) => `${nodeEmail(id)} namespaces="git" ${sshPublicKeyLine(Buffer.from(id, 'hex'), who)}`
  ctx.out([line(self, 'self'), ...peers.map((p) => line(p.id, `peer:${p.alias}`))].join('\n'))
  return EXIT.OK
}

/** `repo log`, each entry with who signed it (self, a peer's alias, or a node id) and whether it verified. */
export async function repoLog(ctx: Context, argv: { name: string; limit?: number }): Promise<number> {
  const { loadPeers } = await import('../sync/peers.js')
  const name = checkName('repository', String(argv.name))
  const iso = (s: number) => new Date(s * 1000).toISOString()
  const { log, self, peers } = await ctx.withVault(false, (v, n) => ({ log: v.repoLog(name, argv.limit, true), self: selfId(ctx, n), peers: loadPeers(v).peers }))
  const signerOf = (sig: import('../git/signature.js').CommitSignature | undefined) => {
    if (sig?.state !== 'good') return null
    if (sig.signer === self) return 'self'
    return peers.find((p) => p.id === sig.signer)?.alias ?? sig.signer
  }
  const rows = log.map((e) => ({
    commit: e.commit,
    time: iso(e.time),
    message: e.message,
    signer: signerOf(e.signature),
    verified: e.signature?.state === 'good',
    signature: e.signature?.state === 'good' ? 'good' : (e.signature?.state ?? 'unsigned'),
  }))
  if (ctx.args.json) ctx.json(rows)
  else
    for (const r of rows) {
      const who = r.verified ? `${r.signer!.length === 64 ? r.signer!.slice(0, 16) + '…' : r.signer}` : r.signature === 'unsigned' ? 'unsigned' : `${r.signature} signature`
      ctx.out(`${r.commit.slice(0, 12)}  ${r.time}  ${who.padEnd(12)}  ${r.message.split('\n')[0]}`)
    }
  return EXIT.OK
}
