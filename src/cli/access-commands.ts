// Who reads what: `access allow | list | rm | pending` (the rules of a guarded mount) and
// `audit` (the read log), plus the record the CLI's own reads leave in it (docs/CLI.md).
import fs from 'node:fs'
import path from 'node:path'
import type { Context } from './context.js'
import { EXIT, PolykeyError, usage } from '../errors.js'
import { NodeLock } from '../archive/lock.js'
import type { Vault } from '../vault/vault.js'
import { auditLog, type AuditRecord, type AuditVia } from '../vault/audit.js'
import { addRule, loadAccess, removeRule, saveAccess, scopeOf, type AccessRule } from '../vault/access.js'
import { checkName, parseSecretRef } from '../vault/names.js'

const iso = (ms: number) => new Date(ms).toISOString()

/** What a refusal code (guard.ts) means, for people. */
export function reasonText(code: string | null): string | null {
  if (code === null) return null
  if (code === 'no-rule') return 'no rule allows this program'
  if (code === 'out-of-scope') return 'no rule allows this program to read this secret'
  if (code === 'unidentified') return 'the process could not be identified (gone, or /proc unreadable)'
  if (code.startsWith('loader ')) return `started with ${code.slice(7).split(',').join(', ')} (refused whatever the rules say)`
  return code
}

/**
 * Whether a CLI read can be recorded: always through an agent (the node is in its memory); on a
 * node file only when it and its folder are writable and no other process holds its lock — a
 * node on read-only media (a USB stick mounted ro) still answers, unrecorded, with a warning.
 */
export function canRecord(ctx: Context): boolean {
  if (ctx.hosted) return true
  try {
    fs.accessSync(ctx.nodePath, fs.constants.W_OK)
    fs.accessSync(path.dirname(ctx.nodePath), fs.constants.W_OK)
  } catch {
    ctx.warn(`${ctx.nodePath} is read-only here: this read is not recorded in its audit log`)
    return false
  }
  // Readers never wait for a writer's lock (docs/CLI.md "Concurrency"): while another process
  // holds it, the read is answered unrecorded, with a warning.
  const holder = NodeLock.holder(ctx.nodePath)
  if (holder) {
    ctx.warn(`${ctx.nodePath} is locked by process ${holder.pid}: this read is not recorded in its audit log`)
    return false
  }
  return true
}

/**
 * Record values the CLI hands out (secret get, env, otp): who asked, from the agent's or this
 * process's view. On the node file the records are written now (the caller's withVault saves);
 * in an agent (mount or unlock) they wait in memory for its next save, like the mount's own.
 */
export async function recordCliRead(ctx: Context, v: Vault, via: AuditVia, secrets: string[]): Promise<void> {
  const { processInfo } = await import('../fuse/proc.js')
  const pid = ctx.conn?.peerPid ?? process.pid
  const info = processInfo(pid, ctx.hosted?.mountpoint || '\0', { hash: false })
  const log = auditLog(v.store)
  for (const secret of secrets)
    log.record({
      time: Date.now(),
      via,
      secret,
      pid,
      exe: info?.exe.path ?? '',
      cmdline: (info?.cmdline ?? []).slice(0, 32),
      script: info?.script?.path ?? null,
      allowed: true,
      reason: null,
    })
  if (!ctx.hosted) log.flush()
}

// ------------------------------------------------------------------------------ access
function identify(ctx: Context, p: string) {
  return import('../fuse/proc.js').then(({ identifyFile }) => {
    const abs = path.resolve(ctx.io.cwd, p)
    try {
      return identifyFile(abs, ctx.hosted?.mountpoint || '\0')
    } catch {
      throw new PolykeyError('NOT_FOUND', `no such program: ${abs}`, {}, { hint: 'give the absolute path of the executable (e.g. $(command -v cat))' })
    }
  })
}

export async function accessAllow(ctx: Context, argv: { program: string; repo?: string; tag?: string; script?: string }) {
  if (!path.isAbsolute(String(argv.program))) throw usage(`PROGRAM must be an absolute path: ${argv.program}`)
  if (argv.repo !== undefined && argv.tag !== undefined) throw usage('give --repo or --tag, not both')
  const program = await identify(ctx, String(argv.program))
  const script = argv.script === undefined ? null : await identify(ctx, String(argv.script))
  const repo = argv.repo === undefined ? undefined : checkName('repository', String(argv.repo))
  const tag = argv.tag === undefined ? undefined : checkName('tag', String(argv.tag))
  const { randomBytes } = await import('../crypto/index.js')
  const rule = await ctx.withVault(true, (v) => {
    const b = loadAccess(v)
    const r = addRule(b, { program, script, repo, tag }, Date.now(), () => randomBytes(4).toString('hex'))
    saveAccess(v, b)
    return r
  })
  if (ctx.args.json) ctx.json(ruleJson(rule))
  else ctx.out(`allowed ${describeRule(rule)} (rule ${rule.id})`)
  return EXIT.OK
}

const ruleJson = (r: AccessRule) => ({
  id: r.id,
  program: r.program.path,
  script: r.script?.path ?? null,
  scope: scopeOf(r),
  repo: r.repo ?? null,
  tag: r.tag ?? null,
  added: iso(r.added),
  dev: r.program.dev,
  ino: r.program.ino,
  hash: r.program.hash,
})
const describeRule = (r: AccessRule) =>
  `${r.program.path}${r.script ? ` running ${r.script.path}` : ''} to read ${r.repo !== undefined ? `repository ${r.repo}` : r.tag !== undefined ? `tag ${r.tag}` : 'the whole node'}`

export async function accessList(ctx: Context) {
  const b = await ctx.withVault(false, (v) => loadAccess(v))
  if (ctx.args.json) ctx.json(b.rules.map(ruleJson))
  else if (b.rules.length) ctx.out(b.rules.map((r) => `${r.id}  ${scopeOf(r).padEnd(12)} ${r.program.path}${r.script ? ` ${r.script.path}` : ''}`).join('\n'))
  return EXIT.OK
}

export async function accessRm(ctx: Context, argv: { id: string }) {
  await ctx.withVault(true, (v) => {
    const b = loadAccess(v)
    removeRule(b, String(argv.id))
    saveAccess(v, b)
  })
  return EXIT.OK
}

interface Pending {
  program: string
  script: string | null
  cmdline: string[]
  secrets: string[]
  count: number
  last: string
  reason: string | null
  allow: string
}

/** Refused opens (from the audit log) of programs that no rule names by path since. */
export async function accessPending(ctx: Context) {
  const list = await ctx.withVault(false, (v) => {
    const rules = loadAccess(v).rules
    const by = new Map<string, Pending>()
    for (const r of auditLog(v.store).read().records) {
      if (r.allowed || r.via !== 'mount') continue
      const key = `${r.exe}\0${r.script ?? ''}\0${r.reason?.startsWith('loader ') ? 'loader' : ''}`
      const ruled = rules.some((x) => x.program.path === r.exe && (x.script?.path ?? null) === r.script && x.added > r.time)
      if (ruled) continue
      let p = by.get(key)
      if (!p) {
        const q = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`)
        const loader = r.reason?.startsWith('loader ')
        p = {
          program: r.exe,
          script: r.script,
          cmdline: r.cmdline,
          secrets: [],
          count: 0,
          last: iso(r.time),
          reason: r.reason,
          // A program started with loader variables is refused whatever the rules say.
          allow: loader ? 'run it without LD_PRELOAD, LD_AUDIT and LD_LIBRARY_PATH' : `polykey access allow ${q(r.exe)}${r.script ? ` --script ${q(r.script)}` : ''}`,
        }
        by.set(key, p)
      }
      p.count++
      p.last = iso(r.time)
      p.cmdline = r.cmdline
      p.reason = r.reason
      if (!p.secrets.includes(r.secret)) p.secrets.push(r.secret)
    }
    return [...by.values()]
  })
  if (ctx.args.json) ctx.json(list)
  else
    for (const p of list) {
      ctx.out(`${p.program}${p.script ? ` (script ${p.script})` : ''}: ${p.count} refused, last ${p.last}${p.reason ? ` — ${reasonText(p.reason)}` : ''}`)
      ctx.out(`  command line: ${p.cmdline.join(' ')}`)
      ctx.out(`  secrets: ${p.secrets.join(', ')}`)
      ctx.out(`  allow with: ${p.allow}`)
    }
  return EXIT.OK
}

// ------------------------------------------------------------------------------ audit
/** --since: an ISO-8601 time, or an age like 90s, 15m, 2h, 7d. */
export function parseSince(s: string, now: number): number {
  const m = /^(\d+)([smhd])$/.exec(s)
  if (m) return now - Number(m[1]) * { s: 1e3, m: 6e4, h: 3.6e6, d: 8.64e7 }[m[2] as 's']
  const t = Date.parse(s)
  if (Number.isNaN(t)) throw usage(`not a time: ${JSON.stringify(s)} (an ISO-8601 time like 2026-12-01T23:00:00Z, or an age like 15m, 2h, 7d)`)
  return t
}

export async function audit(ctx: Context, argv: { ref?: string; since?: string }) {
  const since = argv.since === undefined ? null : parseSince(String(argv.since), Date.now())
  let match: ((r: AuditRecord) => boolean) | null = null
  if (argv.ref !== undefined) {
    const { repo, name } = parseSecretRef(String(argv.ref))
    const hist = new RegExp(`^history/${repo.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/[^/]+/`)
    match = (r) => r.secret === `${repo}/${name}` || (hist.test(r.secret) && r.secret.endsWith(`/${name}`))
  }
  const { records, chain } = await ctx.withVault(false, (v) => auditLog(v.store).read())
  const shown = records.filter((r) => (since === null || r.time >= since) && (!match || match(r)))
  if (ctx.args.json)
    ctx.json({
      records: shown.map((r) => ({
        seq: r.seq,
        time: iso(r.time),
        via: r.via,
        secret: r.secret,
        allowed: r.allowed,
        reason: r.reason,
        pid: r.pid,
        exe: r.exe,
        script: r.script,
        cmdline: r.cmdline,
      })),
      chain: { ok: chain.ok, brokenAt: chain.brokenAt ?? null, why: chain.why ?? null, dropped: chain.dropped },
    })
  else {
    if (chain.dropped) ctx.out(`(${chain.dropped} older records dropped by rotation)`)
    for (const r of shown)
      ctx.out(
        `${iso(r.time)}  ${r.allowed ? 'allowed' : 'REFUSED'}  ${r.via.padEnd(5)} ${r.secret}  pid ${r.pid} ${r.exe}${r.script ? ` ${r.script}` : ''} — ${r.cmdline.join(' ')}${r.reason ? ` (${reasonText(r.reason)})` : ''}`,
      )
  }
  if (!chain.ok)
    throw new PolykeyError(
      'CORRUPT',
      `the audit log is broken at record ${chain.brokenAt}: ${chain.why}`,
      { brokenAt: chain.brokenAt },
      { hint: 'records before it are as written; from it on, something removed or changed them' },
    )
  return EXIT.OK
}
