// import pass [--store DIR] [--history]: a pass store into the node through gpg (docs/CLI.md).
// Everything is decrypted first, in memory; only when every entry (and, with --history, every
// version) decrypted and no name collides is the node opened for writing, and then one save
// writes it all: a failed import leaves the node as it was.
import os from 'node:os'
import path from 'node:path'
import type { Context } from './context.js'
import { EXIT, PolykeyError } from '../errors.js'
import type { PassCommit } from '../vault/pass-store.js'

export async function importPass(ctx: Context, argv: { store?: string; history?: boolean }): Promise<number> {
  const ps = await import('../vault/pass-store.js')
  const { decryptMany } = await import('../crypto/gpg.js')
  const env = ctx.io.env
  const root = path.resolve(ctx.io.cwd, String(argv.store ?? (env.PASSWORD_STORE_DIR || path.join(env.HOME ?? os.homedir(), '.password-store'))))
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
    throw new PolykeyError(
      'CONFLICT',
      `${problems.length} name problem${problems.length === 1 ? '' : 's'} in the pass store; nothing was imported`,
      { problems },
      { hint: 'rename those entries in pass (pass mv) and import again' },
    )
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
      if (r instanceof PolykeyError)
        failed.push(
          i < scan.entries.length
            ? `${scan.entries[i].rel}: ${r.message}`
            : `${versions[blobJob.indexOf(i)].rel} at ${versions[blobJob.indexOf(i)].commit.slice(0, 12)}: ${r.message}`,
        )
    })
    if (failed.length) {
      for (const f of failed) ctx.io.stderr.write(`polykey: cannot decrypt ${f}\n`)
      throw new PolykeyError('REFUSED', `${failed.length} of ${jobs.length} pass entr${jobs.length === 1 ? 'y' : 'ies'} could not be decrypted; nothing was imported`, {
        failed: failed.length,
      })
    }
    // The plan: what to write, with the plaintexts as blobs. It is applied by the hidden
    // `import pass-apply`, reached through ctx.call: inside the agent when the node is mounted or
    // unlocked (so the decryption above ran here, with the user's gpg, terminal and environment),
    // else in this process.
    const repos = [...new Set([...scan.entries.map((e) => e.target.repo), ...history.flatMap((c) => c.changes.map((ch) => ps.mapPassPath(ch.rel).repo))])].sort()
    const blobsOut: Buffer[] = []
    const ref = (b: Buffer) => blobsOut.push(b) - 1
    let k = 0
    const plan: ApplyPlan = {
      store: root,
      repos,
      history: history.map((c) => ({
        message: c.message,
        time: c.time,
        changes: c.changes.map((ch) => {
          const t = ps.mapPassPath(ch.rel)
          return [t.repo, t.name, ch.deleted ? -1 : ref(plain(blobJob[k++]))] as [string, string, number]
        }),
      })),
      now: scan.entries.map((e, i) => [e.target.repo, e.target.name, ref(plain(i))] as [string, string, number]),
      tags: scan.entries.flatMap((e) => e.target.tags.map((tag) => [tag, e.target.repo, e.target.name] as [string, string, string])),
      recipients: Object.fromEntries(ps.recipientsByRepo(scan, repos)),
    }
    const payload = encodePlan(plan, blobsOut)
    try {
      const r = await ctx.call(['import', 'pass-apply', ...(ctx.args.json ? ['--json'] : [])], payload)
      ctx.io.stdout.write(r.stdout)
      ctx.io.stderr.write(r.stderr)
      return r.code
    } finally {
      payload.fill(0)
    }
  } finally {
    for (const r of results) if (Buffer.isBuffer(r)) r.fill(0)
  }
}

/** A progress bar on stderr, only on a terminal. */
function progress(ctx: Context, total: number) {
  const tty = ctx.io.stderrIsTTY && total >= 20
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

interface ApplyPlan {
  store: string
  repos: string[]
  /** oldest first: each pass commit's changes, [repo, name, blob index or -1 for a removal] */
  history: { message: string; time: number; changes: [string, string, number][] }[]
  /** the store as it is now */
  now: [string, string, number][]
  tags: [string, string, string][]
  recipients: Record<string, Record<string, string[]>>
}

/** u32 length of the JSON plan, the plan, then each blob as u32 length + bytes. */
function encodePlan(plan: ApplyPlan, blobs: Buffer[]): Buffer {
  const json = Buffer.from(JSON.stringify(plan))
  const parts: Buffer[] = [u32(json.length), json]
  for (const b of blobs) parts.push(u32(b.length), b)
  return Buffer.concat(parts)
}
function u32(n: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32LE(n, 0)
  return b
}
function decodePlan(b: Buffer): { plan: ApplyPlan; blobs: Buffer[] } {
  const bad = () => new PolykeyError('USAGE', 'import pass-apply: malformed plan on stdin')
  if (b.length < 4) throw bad()
  const n = b.readUInt32LE(0)
  if (4 + n > b.length) throw bad()
  let plan: ApplyPlan
  try {
    plan = JSON.parse(b.subarray(4, 4 + n).toString('utf8'))
  } catch {
    throw bad()
  }
  const blobs: Buffer[] = []
  let off = 4 + n
  while (off < b.length) {
    if (off + 4 > b.length) throw bad()
    const len = b.readUInt32LE(off)
    if (off + 4 + len > b.length) throw bad()
    blobs.push(b.subarray(off + 4, off + 4 + len))
    off += 4 + len
  }
  const blob = (i: number) => {
    if (i !== -1 && !(Number.isInteger(i) && i >= 0 && i < blobs.length)) throw bad()
  }
  if (!Array.isArray(plan.repos) || !Array.isArray(plan.history) || !Array.isArray(plan.now) || !Array.isArray(plan.tags)) throw bad()
  for (const c of plan.history) for (const ch of c.changes) blob(ch[2])
  for (const e of plan.now) blob(e[2])
  return { plan, blobs }
}

/** Hidden: write a decrypted pass import (from importPass, on stdin) in one save. */
export async function importPassApply(ctx: Context): Promise<number> {
  const chunks: Buffer[] = []
  for await (const c of ctx.io.stdin as AsyncIterable<Buffer | string>) chunks.push(typeof c === 'string' ? Buffer.from(c) : c)
  const input = Buffer.concat(chunks)
  for (const c of chunks) c.fill(0)
  try {
    const { plan, blobs } = decodePlan(input)
    const value = (i: number) => (i < 0 ? null : blobs[i])
    const summary = await ctx.withVault(true, (v) => {
      const existing = plan.repos.filter((r) => v.hasRepo(r))
      if (existing.length)
        throw new PolykeyError(
          'CONFLICT',
          `the node already has ${existing.length === 1 ? 'a repository' : 'repositories'} ${existing.map((r) => `'${r}'`).join(', ')}; nothing was imported`,
          { existing },
          { hint: 'rename or delete them first (polykey repo rename / repo delete)' },
        )
      for (const r of plan.repos) v.repoCreate(r)
      const commits = new Map<string, number>(plan.repos.map((r) => [r, 0]))
      const bump = (r: string, id: string | null) => id && commits.set(r, commits.get(r)! + 1)
      for (const c of plan.history) {
        const byRepo = new Map<string, Map<string, Buffer | null>>()
        for (const [repo, name, i] of c.changes) {
          if (!byRepo.has(repo)) byRepo.set(repo, new Map())
          byRepo.get(repo)!.set(name, value(i))
        }
        for (const [repo, changes] of byRepo) bump(repo, v.secretsCommitAt(repo, changes, c.message, c.time * 1000))
      }
      // The store as it is now: everything, or (after the history) what was never committed.
      const now = new Map<string, Map<string, Buffer | null>>(plan.repos.map((r) => [r, new Map()]))
      for (const [repo, name, i] of plan.now) now.get(repo)!.set(name, value(i))
      for (const [repo, changes] of now) {
        if (plan.history.length) {
          for (const name of v.secretNames(repo)) if (!changes.has(name)) changes.set(name, null)
          for (const [name, data] of changes) if (data && v.secretNames(repo).includes(name) && v.secretGet(repo, name).equals(data)) changes.delete(name)
          bump(repo, v.secretsCommitAt(repo, changes, 'import changes not committed in the pass store', Date.now()))
        } else {
          const n = changes.size
          bump(repo, v.secretPutMany(repo, changes as Map<string, Buffer>, `import ${n} secret${n === 1 ? '' : 's'} from pass`))
        }
      }
      for (const [tag, repo, name] of plan.tags) v.tagAdd(tag, repo, name)
      for (const r of plan.repos) v.repoMetaWrite(r, 'pass-gpg-id', Buffer.from(JSON.stringify(plan.recipients[r] ?? { '': [] })))
      return {
        store: plan.store,
        repositories: plan.repos.map((r) => ({ name: r, secrets: v.secretNames(r).length, commits: commits.get(r)! })),
        secrets: plan.now.length,
        tagged: plan.tags.length,
        history: plan.history.length > 0,
      }
    })
    if (ctx.args.json) ctx.json(summary)
    else
      ctx.out(
        `imported ${summary.secrets} secret${summary.secrets === 1 ? '' : 's'} into ${summary.repositories.length} repositor${summary.repositories.length === 1 ? 'y' : 'ies'}` +
          (summary.history ? ` with ${summary.repositories.reduce((n, r) => n + r.commits, 0)} commits of history` : ''),
      )
    return EXIT.OK
  } finally {
    input.fill(0)
  }
}
