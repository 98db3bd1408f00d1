// The everyday verbs (docs/CLI.md "Everyday verbs"): generate, get --clip, otp, find, grep, cp.
// generate, --clip and otp run in the caller's process (its clipboard, its clock) and reach the
// node through ctx.call, so they go through an unlocked node's agent like any other command;
// find, grep and cp run wherever the node is held.
import type { Context } from './context.js'
import { EXIT, PolykeyError } from '../errors.js'
import { checkName, parseSecretRef } from '../vault/names.js'

interface ClipArgs {
  clip?: boolean
  clipSeconds?: number
}

function clipSeconds(argv: ClipArgs): number {
  const s = argv.clipSeconds === undefined ? 45 : Number(argv.clipSeconds)
  if (!Number.isInteger(s) || s < 0 || s > 86400) throw new PolykeyError('USAGE', '--clip-seconds must be a whole number of seconds from 0 (never clear) to 86400')
  return s
}

async function needClipboard(ctx: Context): Promise<void> {
  const { findClipTool } = await import('./clipboard.js')
  if (!findClipTool(ctx.io.env))
    throw new PolykeyError(
      'REFUSED',
      'no clipboard to copy to: none of wl-copy, xclip or xsel is installed for this display',
      {},
      {
        hint: 'install wl-clipboard (Wayland) or xclip, or leave out --clip to print the value',
      },
    )
}

/** Copy, then say so on stderr (never the value). */
async function clip(ctx: Context, value: Buffer, argv: ClipArgs, what: string): Promise<void> {
  const { copyToClipboard } = await import('./clipboard.js')
  const seconds = clipSeconds(argv)
  await copyToClipboard(value, seconds, ctx.io.env)
  ctx.io.stderr.write(`polykey: copied ${what} to the clipboard${seconds ? `; it is cleared in ${seconds} s unless it changes` : ''}\n`)
}

/** A secret's value through ctx.call (the agent when unlocked); null after reporting a failure. */
async function readSecret(ctx: Context, args: string[]): Promise<{ value: Buffer } | { code: number }> {
  const got = await ctx.call(['secret', 'get', ...args])
  if (got.code !== EXIT.OK) {
    ctx.io.stderr.write(got.stderr)
    got.stdout.fill(0)
    return { code: got.code }
  }
  return { value: got.stdout }
}

function writeOut(ctx: Context, data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => ctx.io.stdout.write(data, (err) => (err ? reject(err) : resolve())))
}

// ------------------------------------------------------------------------------ generate
export async function secretGenerate(ctx: Context, argv: ClipArgs & { ref: string; length?: number; symbols?: boolean; words?: number; separator?: string; force?: boolean }) {
  const ref = String(argv.ref)
  parseSecretRef(ref)
  clipSeconds(argv)
  if (argv.words !== undefined && (argv.length !== undefined || argv.symbols === false))
    throw new PolykeyError('USAGE', '--words makes a passphrase of words: --length and --no-symbols do not apply')
  if (argv.clip) await needClipboard(ctx) // before anything is stored
  const { generatePassphrase, generatePassword } = await import('../vault/generate.js')
  const value =
    argv.words !== undefined
      ? generatePassphrase(Number(argv.words), { separator: argv.separator === undefined ? undefined : String(argv.separator) })
      : generatePassword({ length: argv.length === undefined ? undefined : Number(argv.length), symbols: argv.symbols !== false })
  try {
    const put = await ctx.call(['secret', 'put', ref, ...(argv.force ? [] : ['--new'])], value)
    if (put.code !== EXIT.OK) {
      ctx.io.stderr.write(put.stderr)
      return put.code
    }
    if (argv.clip) await clip(ctx, value, argv, `the new password of ${ref}`)
    else await writeOut(ctx, Buffer.concat([value, Buffer.from('\n')]))
  } finally {
    value.fill(0)
  }
  return EXIT.OK
}

// ------------------------------------------------------------------------------ get --clip
export async function secretGetClip(ctx: Context, argv: ClipArgs & { ref: string; rev?: string }) {
  const ref = String(argv.ref)
  parseSecretRef(ref)
  clipSeconds(argv)
  await needClipboard(ctx)
  const got = await readSecret(ctx, [ref, ...(argv.rev === undefined ? [] : ['--rev', String(argv.rev)])])
  if ('code' in got) return got.code
  try {
    await clip(ctx, got.value, argv, ref)
  } finally {
    got.value.fill(0)
  }
  return EXIT.OK
}

// ------------------------------------------------------------------------------ otp
/**
 * The time: now, or $POLYKEY_TEST_TIME (seconds since the epoch) — for test suites only, so
 * RFC 6238's vectors can be checked end to end (docs/CLI.md).
 */
function otpTime(ctx: Context): number {
  const t = ctx.io.env.POLYKEY_TEST_TIME
  if (t !== undefined && t !== '') {
    const n = Number(t)
    if (!Number.isFinite(n) || n < 0) throw new PolykeyError('USAGE', 'POLYKEY_TEST_TIME must be seconds since the epoch')
    return n
  }
  return Date.now() / 1000
}

export async function otp(ctx: Context, argv: ClipArgs & { ref: string }) {
  const ref = String(argv.ref)
  parseSecretRef(ref)
  if (argv.clip) {
    clipSeconds(argv)
    await needClipboard(ctx)
  }
  const { parseTotp, totp } = await import('../otp/totp.js')
  const got = await readSecret(ctx, [ref, '--audit-as', 'otp'])
  if ('code' in got) return got.code
  let params
  try {
    params = parseTotp(got.value)
  } finally {
    got.value.fill(0)
  }
  const { code, remaining } = totp(params, otpTime(ctx))
  params.key.fill(0)
  if (argv.clip) await clip(ctx, Buffer.from(code), argv, `the code for ${ref} (valid ${remaining} s more)`)
  else if (ctx.args.json) ctx.json({ code, remaining, period: params.period, digits: params.digits, algorithm: params.algorithm })
  else ctx.out(code)
  return EXIT.OK
}

// ------------------------------------------------------------------------------ find, grep, cp
export async function secretFind(ctx: Context, argv: { pattern: string }) {
  const pattern = String(argv.pattern)
  const { findSecrets } = await import('../vault/search.js')
  const found = await ctx.withVault(false, (v) => findSecrets(v, pattern))
  if (ctx.args.json) ctx.json(found.map((f) => ({ secret: `${f.repo}/${f.name}`, ...f })))
  else if (found.length) ctx.out(found.map((f) => `${f.repo}/${f.name}`).join('\n'))
  return found.length ? EXIT.OK : EXIT.FAILED
}

export async function secretGrep(ctx: Context, argv: { pattern: string; repos?: string[]; ignoreCase?: boolean; fixed?: boolean; show?: boolean }) {
  const pattern = String(argv.pattern)
  const repos = argv.repos?.length ? argv.repos.map((r) => checkName('repository', String(r))) : undefined
  const { grepSecrets, lineMatcher } = await import('../vault/search.js')
  const opts = { repos, ignoreCase: !!argv.ignoreCase, fixed: !!argv.fixed, show: !!argv.show }
  lineMatcher(pattern, opts) // a bad pattern is a usage error before the node is opened
  const hits = await ctx.withVault(false, (v) => {
    for (const r of repos ?? []) if (!v.hasRepo(r)) throw new PolykeyError('NOT_FOUND', `no repository '${r}'`, { repo: r })
    return grepSecrets(v, pattern, opts)
  })
  if (ctx.args.json) ctx.json(hits.map((h) => ({ secret: `${h.repo}/${h.name}`, ...h })))
  else if (hits.length) ctx.out(hits.map((h) => `${h.repo}/${h.name}:${h.line}${opts.show ? `:${h.text}` : ''}`).join('\n'))
  return hits.length ? EXIT.OK : EXIT.FAILED
}

export async function secretCp(ctx: Context, argv: { from: string; to: string; force?: boolean }) {
  const from = parseSecretRef(String(argv.from))
  const to = parseSecretRef(String(argv.to))
  await ctx.withVault(true, (v) => v.secretCp(from, to, !!argv.force))
  return EXIT.OK
}
