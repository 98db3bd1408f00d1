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
export async function gitServe(ctx: Context, argv: any): Promise<number> {
  if (ctx.io.stdoutIsTTY) throw new PolykeyError('REFUSED', 'git-serve is for git-remote-polykey, not for a terminal')
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
    const out = await ctx.withVault(false, (v, node) => {
      need(v)
      const head = sync.gitVisibleHead(v, repo, selfId(ctx, node))
      if (argv.action === 'list' || !head) return [line({ head })]
      const [first, ...haves] = oids
      const want = !first || first === 'HEAD' ? head : first
      const { pack, count } = sync.packForWant(v, repo, want, haves)
      return [line({ head, want, count }), pack]
    })
    for (const b of out) await write(ctx, b)
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
