// slot list | add passphrase | add gpg RECIPIENT | add keyfile FILE | rm ID (docs/CLI.md
// "Unlocking"). Each change rewrites only the key-slot areas (crash-safe, src/archive/slots.ts).
import fs from 'node:fs'
import path from 'node:path'
import type { Context } from './context.js'
import { EXIT, PolykeyError } from '../errors.js'
import { KDF_PROFILES, KEYFILE_BYTES, randomBytes, type KdfProfile } from '../crypto/index.js'
import type { SlotInfo } from '../archive/nodefile.js'

const iso = (s: number | null) => (s === null ? null : new Date(s * 1000).toISOString())

function what(s: SlotInfo): string {
  if (s.kind === 'gpg') return s.fingerprint!
  if (s.kind === 'keyfile') return `key file ${JSON.stringify(s.label)}`
  return 'passphrase'
}

export async function slotList(ctx: Context): Promise<number> {
  const { NodeFile } = await import('../archive/nodefile.js')
  // The slot areas are in the clear (docs/FORMAT.md): listing them needs no key.
  const slots = NodeFile.peekSlots(ctx.nodePath, (m) => ctx.warn(m))
  if (ctx.args.json) ctx.json(slots.map((s) => ({ ...s, added: iso(s.added) })))
  else for (const s of slots) ctx.out(`${s.id}  ${s.kind.padEnd(10)}  ${what(s)}${s.added === null ? '' : `  added ${iso(s.added)}`}`)
  return EXIT.OK
}

/** Unlock (any slot), take the node lock, run fn on the writable node file. */
async function withSlots<T>(ctx: Context, fn: (file: import('../archive/nodefile.js').NodeFile) => T | Promise<T>): Promise<T> {
  // An agent (a mount, `polykey unlock`) holds the node and its lock: say so now rather than
  // wait for the lock. Slots are changed by this process, never through the agent.
  const { findAgent } = await import('../agent/client.js')
  if (ctx.hosted || (await findAgent(ctx.nodePath)))
    throw new PolykeyError(
      'REFUSED',
      'the node is held by an agent (mounted or unlocked); changing its key slots needs it closed',
      {},
      { hint: "run 'polykey lock' (or unmount) first" },
    )
  const { NodeFile } = await import('../archive/nodefile.js')
  const { NodeLock } = await import('../archive/lock.js')
  const file = NodeFile.open(ctx.nodePath, await ctx.keySource(), { writable: true, warn: (m) => ctx.warn(m) })
  try {
    const lock = await NodeLock.acquire(ctx.nodePath, (ctx.args.lockTimeout ?? 30) * 1000)
    try {
      return await fn(file)
    } finally {
      lock.release()
    }
  } finally {
    file.close()
  }
}

export async function slotAdd(ctx: Context, argv: { kind: string; target?: string; newPassphraseFile?: string; kdf?: KdfProfile }): Promise<number> {
  const kind = String(argv.kind)
  const slots = await import('../archive/slots.js')
  const now = Math.floor(Date.now() / 1000)
  let added: SlotInfo
  if (kind === 'passphrase') {
    if (argv.target) throw new PolykeyError('USAGE', "'slot add passphrase' takes no argument")
    added = await withSlots(ctx, async (file) => {
      const next = await ctx.passphrase('New passphrase: ', { file: argv.newPassphraseFile, envVar: 'POLYKEY_NEW_PASSPHRASE', confirm: true })
      try {
        if (next.length === 0) throw new PolykeyError('USAGE', 'the new passphrase is empty')
        const kdf = argv.kdf ? KDF_PROFILES[argv.kdf] : file.currentKdf()
        return file.addSlot((h, m) => slots.makePassphraseSlot(h, m, next, kdf))
      } finally {
        next.fill(0)
      }
    })
  } else if (kind === 'gpg') {
    if (!argv.target) throw new PolykeyError('USAGE', "'slot add gpg' needs a RECIPIENT (as gpg -r takes it)")
    const { resolveRecipient } = await import('../crypto/gpg.js')
    const key = resolveRecipient(String(argv.target), ctx.io.env)
    added = await withSlots(ctx, (file) => file.addSlot((h, m) => slots.makeGpgSlot(h, m, key.fingerprint, now, ctx.io.env)))
    if (!ctx.args.json) ctx.out(`gpg key ${key.fingerprint} (${key.uid})`)
  } else if (kind === 'keyfile') {
    if (!argv.target) throw new PolykeyError('USAGE', "'slot add keyfile' needs a FILE")
    const file = path.resolve(ctx.io.cwd, String(argv.target))
    const { readKeyFile } = await import('./key-source.js')
    let created = false
    let exists = true
    try {
      fs.lstatSync(file)
    } catch {
      exists = false
    }
    if (!exists) {
      // O_EXCL: never replace (or write through a link to) a file that appeared meanwhile; 0600
      // from the start, not chmod after.
      let fd: number
      try {
        fd = fs.openSync(file, fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_WRONLY | fs.constants.O_NOFOLLOW, 0o600)
      } catch (err) {
        throw new PolykeyError('USAGE', `cannot create key file ${file}: ${(err as NodeJS.ErrnoException).code}`, { path: file })
      }
      const k = randomBytes(KEYFILE_BYTES)
      try {
        fs.writeSync(fd, k)
        fs.fsyncSync(fd)
      } finally {
        fs.closeSync(fd)
        k.fill(0)
      }
      created = true
    }
    const key = readKeyFile(file, (m) => ctx.warn(m), true)
    try {
      added = await withSlots(ctx, (f) => f.addSlot((h, m) => slots.makeKeyFileSlot(h, m, key, path.basename(file), now)))
    } catch (err) {
      if (created) fs.rmSync(file, { force: true }) // a key file for no slot would only mislead
      throw err
    } finally {
      key.fill(0)
    }
    if (created && !ctx.args.json) ctx.out(`created key file ${file} (32 random bytes, mode 0600)`)
  } else throw new PolykeyError('USAGE', `unknown slot kind '${kind}' (passphrase, gpg or keyfile)`)
  if (ctx.args.json) ctx.json({ ...added, added: iso(added.added) })
  else ctx.out(`added slot ${added.id} (${added.kind})`)
  return EXIT.OK
}

export async function slotRm(ctx: Context, argv: { id: string }): Promise<number> {
  const id = String(argv.id)
  const removed = await withSlots(ctx, (file) => file.removeSlot(id))
  if (ctx.args.json) ctx.json({ ...removed, added: iso(removed.added) })
  else ctx.out(`removed slot ${removed.id} (${removed.kind})`)
  return EXIT.OK
}
