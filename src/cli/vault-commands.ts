// repo, secret, tag, env and import commands: argument checks here, the work in src/vault.
import fs from 'node:fs'
import path from 'node:path'
import { spawn } from 'node:child_process'
import type { Context } from './context.js'
import { EXIT, PolykeyError } from '../errors.js'
import { checkName, parseSecretRef } from '../vault/names.js'
import { childEnv } from './child-env.js'
import { isDangerousVar } from './env-policy.js'
import { editorFlags } from './editor.js'

const iso = (ms: number) => new Date(ms).toISOString()

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const c of stream as AsyncIterable<Buffer | string>) chunks.push(typeof c === 'string' ? Buffer.from(c) : c)
  return Buffer.concat(chunks)
}

// ------------------------------------------------------------------------------ repositories
export async function repoCreate(ctx: Context, argv: { name: string }) {
  const name = checkName('repository', String(argv.name))
  await ctx.withVault(true, (v) => v.repoCreate(name))
  return EXIT.OK
}
export async function repoList(ctx: Context) {
  const repos = await ctx.withVault(false, (v) =>
    v.repoList().map((name) => {
      // .gpg-id recipients of a repository imported from pass, by folder ('' = the repository)
      const gpgId = v.repoMetaRead(name, 'pass-gpg-id')
      return { name, secrets: v.secretNames(name).length, ...(gpgId ? { gpgId: JSON.parse(gpgId.toString('utf8')) } : {}) }
    }),
  )
  if (ctx.args.json) ctx.json(repos)
  else if (repos.length) ctx.out(repos.map((r) => r.name).join('\n'))
  return EXIT.OK
}
export async function repoRename(ctx: Context, argv: { old: string; new: string }) {
  const from = checkName('repository', String(argv.old))
  const to = checkName('repository', String(argv.new))
  await ctx.withVault(true, (v) => v.repoRename(from, to))
  return EXIT.OK
}
export async function repoDelete(ctx: Context, argv: { name: string }) {
  const name = checkName('repository', String(argv.name))
  await ctx.withVault(true, (v) => v.repoDelete(name))
  return EXIT.OK
}
export async function repoRevert(ctx: Context, argv: { name: string; commit: string }) {
  const name = checkName('repository', String(argv.name))
  const commit = await ctx.withVault(true, (v) => v.repoRevert(name, String(argv.commit)))
  if (commit) ctx.out(commit)
  return EXIT.OK
}

// ------------------------------------------------------------------------------ secrets
export async function secretPut(ctx: Context, argv: { ref: string; new?: boolean }) {
  const { repo, name } = parseSecretRef(String(argv.ref))
  const data = await readAll(ctx.io.stdin)
  try {
    await ctx.withVault(true, (v) => {
      // --new (hidden; secret generate without --force): refuse to replace a value
      if (argv.new && v.hasRepo(repo) && v.secretNames(repo).includes(name))
        throw new PolykeyError('EXISTS', `'${repo}/${name}' already exists; refusing to overwrite it`, { repo, name }, { hint: 'add --force to replace it' })
      return v.secretPut(repo, name, data)
    })
  } finally {
    data.fill(0)
  }
  return EXIT.OK
}
export async function secretGet(ctx: Context, argv: { ref: string; rev?: string; clip?: boolean; clipSeconds?: number; auditAs?: 'get' | 'otp' }) {
  if (argv.clip) return (await import('./everyday-commands.js')).secretGetClip(ctx, argv)
  const { repo, name } = parseSecretRef(String(argv.ref))
  const { recordCliRead, canRecord } = await import('./access-commands.js')
  // The read is recorded in the node's audit log (docs/SECURITY.md "Read audit"): on the node
  // file this writes; in an agent the record waits for the agent's next save.
  const record = canRecord(ctx)
  const data = await ctx.withVault(record && !ctx.hosted, async (v) => {
    const value = v.secretGet(repo, name, argv.rev === undefined ? undefined : String(argv.rev))
    if (record) await recordCliRead(ctx, v, argv.auditAs === 'otp' ? 'otp' : 'get', [argv.rev === undefined ? `${repo}/${name}` : `${repo}/${name}@${String(argv.rev)}`])
    return value
  })
  await new Promise<void>((resolve, reject) => ctx.io.stdout.write(data, (err) => (err ? reject(err) : resolve())))
  data.fill(0)
  return EXIT.OK
}
export async function secretList(ctx: Context, argv: { repo?: string }) {
  const repo = argv.repo === undefined ? undefined : checkName('repository', String(argv.repo))
  const list = await ctx.withVault(false, (v) => v.secretList(repo))
  if (ctx.args.json) ctx.json(list.map((s) => ({ repo: s.repo, name: s.name, size: s.size, mtime: iso(s.mtime) })))
  else if (list.length) ctx.out(list.map((s) => `${s.repo}/${s.name}`).join('\n'))
  return EXIT.OK
}
export async function secretRm(ctx: Context, argv: { ref: string }) {
  const { repo, name } = parseSecretRef(String(argv.ref))
  await ctx.withVault(true, (v) => v.secretRm(repo, name))
  return EXIT.OK
}
export async function secretMv(ctx: Context, argv: { from: string; to: string }) {
  const from = parseSecretRef(String(argv.from))
  const to = parseSecretRef(String(argv.to))
  await ctx.withVault(true, (v) => v.secretMv(from, to))
  return EXIT.OK
}

/** Values of whole repositories (for env); hidden, used through the agent as well. */
export async function secretDump(ctx: Context, argv: { repos: string[] }) {
  const repos = (argv.repos as unknown[]).map((r) => checkName('repository', String(r)))
  const { recordCliRead, canRecord } = await import('./access-commands.js')
  const record = canRecord(ctx)
  const out = await ctx.withVault(record && !ctx.hosted, async (v) => {
    const all = repos.map((repo) => {
      if (!v.hasRepo(repo)) throw new PolykeyError('NOT_FOUND', `no repository '${repo}'`, { repo })
      return { repo, secrets: v.secretNames(repo).map((name) => ({ name, value: v.secretGet(repo, name).toString('base64') })) }
    })
    if (record)
      await recordCliRead(
        ctx,
        v,
        'env',
        all.flatMap((r) => r.secrets.map((s) => `${r.repo}/${s.name}`)),
      )
    return all
  })
  ctx.json(out)
  return EXIT.OK
}

/** A memory-backed private folder for plaintext that an editor must see as a file. */
export function privateShmDir(): string {
  const base = '/dev/shm'
  let st: fs.StatsFs | null
  try {
    st = fs.statfsSync(base)
  } catch {
    st = null
  }
  const TMPFS_MAGIC = 0x01021994
  if (!st || st.type !== TMPFS_MAGIC)
    throw new PolykeyError(
      'REFUSED',
      'no memory-backed folder (/dev/shm, tmpfs) to edit in; refusing to put the secret on disk',
      {},
      {
        hint: "use 'polykey secret get' and 'polykey secret put' with a pipe instead",
      },
    )
  return fs.mkdtempSync(path.join(base, 'polykey-edit-'))
}

export async function secretEdit(ctx: Context, argv: { ref: string }) {
  const { repo, name } = parseSecretRef(String(argv.ref))
  const dir = privateShmDir()
  fs.chmodSync(dir, 0o700)
  const file = path.join(dir, name)
  let before: Buffer | null = null
  let after: Buffer | null = null
  try {
    // Does it exist? (decided on data, not on an error message's text)
    const listed = await ctx.call(['secret', 'list', repo, '--json'])
    if (listed.code !== EXIT.OK) {
      ctx.io.stderr.write(listed.stderr)
      return listed.code
    }
    const exists = (JSON.parse(listed.stdout.toString()) as { name: string }[]).some((s) => s.name === name)
    if (exists) {
      const got = await ctx.call(['secret', 'get', `${repo}/${name}`])
      if (got.code !== EXIT.OK) {
        ctx.io.stderr.write(got.stderr)
        return got.code
      }
      before = got.stdout
    }
    fs.writeFileSync(file, before ?? Buffer.alloc(0), { mode: 0o600 })
    const editor = ctx.io.env.VISUAL || ctx.io.env.EDITOR || 'vi'
    const { flags, known } = editorFlags(editor)
    if (!known) ctx.warn(`'${editor}' is not an editor Polykey knows how to keep from writing history, swap, undo or backup files; check its settings (docs/SECURITY.md)`)
    const code = await new Promise<number>((resolve, reject) => {
      // As git runs it: $EDITOR may carry arguments ("code --wait"); the file is one argument.
      // Our flags right after the program, before the user's own (vim runs -c commands in order).
      const [prog, ...rest] = editor.trim().split(/(\s+)/)
      const child = spawn('/bin/sh', ['-c', `${prog} ${flags}${rest.join('')} "$1"`, 'sh', file], { stdio: 'inherit', env: childEnv(ctx.io.env) })
      child.on('error', reject)
      child.on('exit', (c, sig) => resolve(sig ? 128 : (c ?? 1)))
    })
    if (code !== 0) throw new PolykeyError('REFUSED', `the editor exited with status ${code}; nothing was saved`)
    after = fs.readFileSync(file)
    if (after.equals(before ?? Buffer.alloc(0))) {
      ctx.io.stderr.write('polykey: no change\n')
      return EXIT.OK
    }
    const put = await ctx.call(['secret', 'put', `${repo}/${name}`], after)
    ctx.io.stderr.write(put.stderr)
    return put.code
  } finally {
    for (const f of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
      const p = path.join(dir, f)
      try {
        fs.writeFileSync(p, Buffer.alloc(fs.statSync(p).size))
      } catch {
        /* best effort: tmpfs pages are freed with the file anyway */
      }
    }
    fs.rmSync(dir, { recursive: true, force: true })
    before?.fill(0)
    after?.fill(0)
  }
}

// ------------------------------------------------------------------------------ tags
export async function tagAdd(ctx: Context, argv: { tag: string; ref: string }) {
  const tag = checkName('tag', String(argv.tag))
  const { repo, name } = parseSecretRef(String(argv.ref))
  await ctx.withVault(true, (v) => v.tagAdd(tag, repo, name))
  return EXIT.OK
}
export async function tagRm(ctx: Context, argv: { tag: string; ref: string }) {
  const tag = checkName('tag', String(argv.tag))
  const { repo, name } = parseSecretRef(String(argv.ref))
  await ctx.withVault(true, (v) => v.tagRm(tag, repo, name))
  return EXIT.OK
}
export async function tagList(ctx: Context, argv: { tag?: string }) {
  const tag = argv.tag === undefined ? undefined : checkName('tag', String(argv.tag))
  const list = await ctx.withVault(false, (v) => {
    if (tag !== undefined && !v.hasTag(tag)) throw new PolykeyError('NOT_FOUND', `no tag '${tag}'`)
    const tags = tag === undefined ? v.tagNames() : [tag]
    const members = v.tagMembers(tag)
    return tags.map((t) => ({ tag: t, secrets: members.filter((m) => m.tag === t).map((m) => ({ entry: m.entry, secret: `${m.repo}/${m.name}` })) }))
  })
  if (ctx.args.json) ctx.json(list)
  else if (tag !== undefined) for (const s of list[0].secrets) ctx.out(s.secret)
  else for (const t of list) ctx.out(`${t.tag}\t${t.secrets.length} secret${t.secrets.length === 1 ? '' : 's'}`)
  return EXIT.OK
}

// ------------------------------------------------------------------------------ env
export function envName(secret: string): string {
  return secret.toUpperCase().replace(/[^A-Z0-9_]/g, '_')
}

export async function env(ctx: Context, argv: { repos: string[]; allowVar?: string[]; '--'?: (string | number)[] }) {
  const cmd: string[] = (argv['--'] ?? []).map(String)
  if (cmd.length === 0) throw new PolykeyError('USAGE', "name a command after '--': polykey env REPO -- CMD [ARGS…]")
  const repos = (argv.repos as unknown[]).map((r) => checkName('repository', String(r)))
  const dump = await ctx.call(['secret', 'dump', ...repos, '--json'])
  if (dump.code !== EXIT.OK) {
    ctx.io.stderr.write(dump.stderr)
    return dump.code
  }
  const parsed = JSON.parse(dump.stdout.toString()) as { repo: string; secrets: { name: string; value: string }[] }[]
  dump.stdout.fill(0)
  const vars: Record<string, string> = {}
  const from: Record<string, string> = {}
  const allowed = new Set((argv.allowVar ?? []).map((n) => String(n)))
  for (const r of parsed) {
    for (const s of r.secrets) {
      const key = envName(s.name)
      const value = Buffer.from(s.value, 'base64')
      if (value.includes(0)) {
        ctx.warn(`${r.repo}/${s.name} contains a NUL byte and cannot be an environment variable; skipped`)
        continue
      }
      if (isDangerousVar(key) && !allowed.has(key)) {
        ctx.warn(`skipping ${r.repo}/${s.name}: ${key} changes how programs load or run; allow it with --allow-var ${key}`)
        value.fill(0)
        continue
      }
      if (from[key] !== undefined) ctx.warn(`${key}: ${r.repo}/${s.name} overrides ${from[key]}`)
      vars[key] = value.toString()
      from[key] = `${r.repo}/${s.name}`
      value.fill(0)
    }
  }
  return new Promise<number>((resolve) => {
    const child = spawn(cmd[0], cmd.slice(1), { stdio: 'inherit', env: childEnv(ctx.io.env, vars), cwd: ctx.io.cwd })
    child.on('error', (err: NodeJS.ErrnoException) => {
      ctx.io.stderr.write(`polykey: error: cannot run ${cmd[0]}: ${err.code === 'ENOENT' ? 'command not found' : err.code}\n`)
      resolve(127)
    })
    child.on('exit', (code, signal) => resolve(signal ? 128 + (osSignal(signal) ?? 0) : (code ?? 1)))
  })
}
function osSignal(name: string): number | undefined {
  return ({ SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGSEGV: 11, SIGPIPE: 13, SIGTERM: 15 } as Record<string, number>)[name]
}

// ------------------------------------------------------------------------------ import
export async function importDir(ctx: Context, argv: { dir: string }) {
  const root = path.resolve(ctx.io.cwd, String(argv.dir))
  // The mount process serves the mount: reading it from here would wait on itself forever.
  const mp = ctx.hosted?.mountpoint
  if (mp && (root === mp || root.startsWith(mp + path.sep)))
    throw new PolykeyError('REFUSED', `cannot import from the mounted node itself (${root})`, {}, { hint: 'copy the files elsewhere first, or use cp within the mount' })
  let dirents: fs.Dirent[]
  try {
    dirents = fs.readdirSync(root, { withFileTypes: true })
  } catch (err) {
    throw new PolykeyError('NOT_FOUND', `cannot read ${root}: ${(err as NodeJS.ErrnoException).code}`)
  }
  const plan: { repo: string; files: { name: string; file: string }[] }[] = []
  for (const d of dirents.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (!d.isDirectory()) {
      ctx.warn(`skipping ${d.name}: only folders become repositories`)
      continue
    }
    checkName('repository', d.name)
    const files: { name: string; file: string }[] = []
    for (const f of fs.readdirSync(path.join(root, d.name), { withFileTypes: true })) {
      if (f.isFile()) files.push({ name: checkName('secret', f.name), file: path.join(root, d.name, f.name) })
      else ctx.warn(`skipping ${d.name}/${f.name}: repositories are flat (files only)`)
    }
    plan.push({ repo: d.name, files })
  }
  const total = plan.reduce((n, p) => n + p.files.length, 0)
  const bar = progressBar(ctx, total)
  // The values are wiped only after the save: until then the pending writes still hold them.
  const read: Buffer[] = []
  let summary: { repo: string; secrets: number; commit: string | null }[]
  try {
    summary = await ctx.withVault(true, (v) => {
      const done: { repo: string; secrets: number; commit: string | null }[] = []
      for (const p of plan) {
        if (!v.hasRepo(p.repo)) v.repoCreate(p.repo)
        const secrets = new Map<string, Buffer>()
        for (const f of p.files) {
          const data = fs.readFileSync(f.file)
          read.push(data)
          secrets.set(f.name, data)
          bar.tick()
        }
        const commit = v.secretPutMany(p.repo, secrets, `import ${secrets.size} secret${secrets.size === 1 ? '' : 's'}`)
        done.push({ repo: p.repo, secrets: secrets.size, commit })
      }
      bar.saving()
      return done
    })
  } finally {
    for (const b of read) b.fill(0)
  }
  bar.end()
  if (ctx.args.json) ctx.json(summary)
  else ctx.out(`imported ${total} secret${total === 1 ? '' : 's'} into ${summary.length} repositor${summary.length === 1 ? 'y' : 'ies'}`)
  return EXIT.OK
}

function progressBar(ctx: Context, total: number) {
  const tty = ctx.io.stderrIsTTY && total >= 200
  let n = 0
  let last = 0
  const draw = (label: string) => {
    const width = 30
    const filled = Math.round((n / Math.max(1, total)) * width)
    ctx.io.stderr.write(`\r${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${n}/${total}`)
  }
  return {
    tick() {
      n++
      if (tty && (n === total || Date.now() - last > 100)) {
        last = Date.now()
        draw('importing')
      }
    },
    saving() {
      if (tty) draw('saving   ')
    },
    end() {
      if (tty) ctx.io.stderr.write('\n')
    },
  }
}
