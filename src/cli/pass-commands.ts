// import pass [--store DIR] [--history]: a pass store into the node through gpg (docs/CLI.md).
// Everything is decrypted first, in memory; only when every entry (and, with --history, every
// version) decrypted and no name collides is the node opened for writing, and then one save
// writes it all: a failed import leaves the node as it was.
import os from 'node:os'
import path from 'node:path'
import type { Context } from './context.js'
import { EXIT, PolykeyError } from '../errors.js'
import type { PassCommit } from '../vault/pass-store.js'

export async function importPass(ctx: Context, argv: any): Promise<number> {
  const ps = await import('../vault/pass-store.js')
  const { decryptMany } = await import('../crypto/gpg.js')
  const env = ctx.io.env
  const root = path.resolve(ctx.io.cwd, String(argv.store ?? (env.PASSWORD_STORE_DIR || path.join(env.HOME ?? os.homedir(), '.password-store'))))
  const mp = ctx.hosted?.mountpoint
  if (mp && (root === mp || root.startsWith(mp + path.sep))) throw new PolykeyError('REFUSED', `cannot import from the mounted node itself (${root})`)
  const scan = ps.scanStore(root)
  let history: PassCommit[] = []
  const problems = [...scan.problems]
  if (argv.history) {
    history = ps.readHistory(root)
    const seen = new Set(scan.entries.map((e) => e.rel))
    for (const c of history) for (const ch of c.changes) seen.add(ch.rel)
    problems.splice(0, problems.length, ...ps.checkTargets(seen))
  }
  if (problems.length) {
    for (const p of problems) ctx.io.stderr.write(`polykey: ${p}\n`)
    throw new PolykeyError('CONFLICT', `${problems.length} name problem${problems.length === 1 ? '' : 's'} in the pass store; nothing was imported`, { problems }, { hint: 'rename those entries in pass (pass mv) and import again' })
  }

  // Every version to decrypt: the entries as they are now, and each one a commit wrote.
  const versions = history.flatMap((c) => c.changes.filter((ch) => !ch.deleted).map((ch) => ({ commit: c.hash, rel: ch.rel })))
  const blobs = ps.readBlobs(root, versions)
  const unique = new Map<string, number>() // identical ciphertexts (a rename, a revert) decrypt once
  const jobs: { file?: string; message?: Buffer }[] = scan.entries.map((e) => ({ file: e.file }))
  const blobJob = blobs.map((b) => {
    const k = b.toString('base64')
    let i = unique.get(k)
    if (i === undefined) {
      i = jobs.length
      unique.set(k, i)
      jobs.push({ message: b })
    }
    return i
  })
  const bar = progress(ctx, jobs.length)
  const results = await decryptMany(jobs, { env, concurrency: Math.max(2, Math.min(8, os.availableParallelism() * 2)), onDone: () => bar.tick(), signal: ctx.io.signal })
  bar.end()
  const plain = (i: number) => results[i] as Buffer
  try {
    const failed: string[] = []
    results.forEach((r, i) => {
      if (r instanceof PolykeyError) failed.push(i < scan.entries.length ? `${scan.entries[i].rel}: ${r.message}` : `${versions[blobJob.indexOf(i)].rel} at ${versions[blobJob.indexOf(i)].commit.slice(0, 12)}: ${r.message}`)
    })
    if (failed.length) {
      for (const f of failed) ctx.io.stderr.write(`polykey: cannot decrypt ${f}\n`)
      throw new PolykeyError('REFUSED', `${failed.length} of ${jobs.length} pass entr${jobs.length === 1 ? 'y' : 'ies'} could not be decrypted; nothing was imported`, { failed: failed.length })
    }
    const summary = await ctx.withVault(true, (v) => {
      const repos = [...new Set([...scan.entries.map((e) => e.target.repo), ...history.flatMap((c) => c.changes.map((ch) => ps.mapPassPath(ch.rel).repo))])].sort()
      const existing = repos.filter((r) => v.hasRepo(r))
      if (existing.length)
        throw new PolykeyError('CONFLICT', `the node already has ${existing.length === 1 ? 'a repository' : 'repositories'} ${existing.map((r) => `'${r}'`).join(', ')}; nothing was imported`, { existing }, { hint: 'rename or delete them first (polykey repo rename / repo delete)' })
      for (const r of repos) v.repoCreate(r)
      const recipients = ps.recipientsByRepo(scan, repos)
      const commits = new Map<string, number>(repos.map((r) => [r, 0]))
      if (history.length) {
        let k = 0
        for (const c of history) {
          const byRepo = new Map<string, Map<string, Buffer | null>>()
          for (const ch of c.changes) {
            const t = ps.mapPassPath(ch.rel)
            if (!byRepo.has(t.repo)) byRepo.set(t.repo, new Map())
            byRepo.get(t.repo)!.set(t.name, ch.deleted ? null : plain(blobJob[k++]))
          }
          for (const [repo, changes] of byRepo) if (v.secretsCommitAt(repo, changes, c.message, c.time * 1000)) commits.set(repo, commits.get(repo)! + 1)
        }
      }
      // The store as it is now: everything, or (after the history) what was never committed.
      const now = new Map<string, Map<string, Buffer | null>>(repos.map((r) => [r, new Map()]))
      scan.entries.forEach((e, i) => now.get(e.target.repo)!.set(e.target.name, plain(i)))
      if (history.length) for (const r of repos) for (const name of v.secretNames(r)) if (!now.get(r)!.has(name)) now.get(r)!.set(name, null)
      for (const [repo, changes] of now) {
        const n = [...changes.values()].filter(Boolean).length
        const msg = history.length ? 'import changes not committed in the pass store' : `import ${n} secret${n === 1 ? '' : 's'} from pass`
        if (history.length) {
          for (const [name, data] of changes) if (data && v.secretNames(repo).includes(name) && v.secretGet(repo, name).equals(data)) changes.delete(name)
          if (v.secretsCommitAt(repo, changes, msg, Date.now())) commits.set(repo, commits.get(repo)! + 1)
        } else if (v.secretPutMany(repo, changes as Map<string, Buffer>, msg)) commits.set(repo, commits.get(repo)! + 1)
      }
      let tagged = 0
      for (const e of scan.entries) for (const tag of e.target.tags) (v.tagAdd(tag, e.target.repo, e.target.name), tagged++)
      for (const r of repos) v.repoMetaWrite(r, 'pass-gpg-id', Buffer.from(JSON.stringify(recipients.get(r) ?? { '': [] })))
      return { store: root, repositories: repos.map((r) => ({ name: r, secrets: v.secretNames(r).length, commits: commits.get(r)! })), secrets: scan.entries.length, tagged, history: history.length > 0 }
    })
    if (ctx.args.json) ctx.json(summary)
    else
      ctx.out(
        `imported ${summary.secrets} secret${summary.secrets === 1 ? '' : 's'} into ${summary.repositories.length} repositor${summary.repositories.length === 1 ? 'y' : 'ies'}` +
          (summary.history ? ` with ${summary.repositories.reduce((n, r) => n + r.commits, 0)} commits of history` : ''),
      )
    return EXIT.OK
  } finally {
    for (const r of results) if (Buffer.isBuffer(r)) r.fill(0)
  }
}

/** A progress bar on stderr, only on a terminal. */
function progress(ctx: Context, total: number) {
  const tty = !!(ctx.io.stderr as { isTTY?: boolean }).isTTY && total >= 20
  let n = 0
  let last = 0
  return {
    tick() {
      n++
      if (!tty || (n !== total && Date.now() - last < 100)) return
      last = Date.now()
      const filled = Math.round((n / total) * 30)
      ctx.io.stderr.write(`\rdecrypting [${'#'.repeat(filled)}${'.'.repeat(30 - filled)}] ${n}/${total}`)
    },
    end() {
      if (tty && n > 0) ctx.io.stderr.write('\n')
    },
  }
}
