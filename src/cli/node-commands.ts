// init, info, verify, node id, passphrase change, export tar.
import fs from 'node:fs'
import path from 'node:path'
import type { Context } from './context.js'
import { EXIT, PolykeyError } from '../errors.js'
import { KDF_PROFILES, type KdfProfile } from '../crypto/index.js'

export async function init(ctx: Context, argv: { kdf: KdfProfile }): Promise<number> {
  const { createNode } = await import('../vault/node.js')
  const file = ctx.nodePath
  if (fs.existsSync(file)) throw new PolykeyError('EXISTS', `${file} already exists; refusing to overwrite it`)
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 })
  const pass = await ctx.passphrase('New passphrase: ', { confirm: true })
  if (pass.length === 0) throw new PolykeyError('USAGE', 'the passphrase is empty')
  const { warnIfWeak } = await import('./strength.js')
  await warnIfWeak(ctx, pass)
  const { id } = createNode(file, pass, KDF_PROFILES[argv.kdf])
  pass.fill(0)
  if (ctx.args.json) ctx.json({ node: file, id })
  else ctx.out(`created ${file}\nnode id ${id}`)
  return EXIT.OK
}

export async function info(ctx: Context): Promise<number> {
  const { FORMAT_VERSION } = await import('../archive/codec.js')
  const report = await ctx.withVault(false, (v, node) => {
    const repos = v.repoList()
    const secrets = repos.reduce((n, r) => n + v.secretNames(r).length, 0)
    const file = node?.file
    const hostedInfo = ctx.hosted?.info()
    return {
      id: node ? node.identity().id : ctx.hosted!.nodeId,
      node: ctx.nodePath,
      formatVersion: file?.version ?? hostedInfo?.version ?? FORMAT_VERSION,
      repositories: repos.length,
      secrets,
      tags: v.tagNames().length,
      fileBytes: file?.fileSize ?? hostedInfo?.fileSize,
      saves: file?.seq ?? hostedInfo?.seq,
      mounted: !!ctx.hosted,
    }
  })
  if (ctx.args.json) ctx.json(report)
  else
    ctx.out(
      [
        `node id        ${report.id}`,
        `node file      ${report.node}`,
        `format         version ${report.formatVersion}`,
        `repositories   ${report.repositories}`,
        `secrets        ${report.secrets}`,
        `tags           ${report.tags}`,
        `file size      ${report.fileBytes} bytes, ${report.saves} saves`,
      ].join('\n'),
    )
  return EXIT.OK
}

export async function verify(ctx: Context): Promise<number> {
  const n = await ctx.withVault(false, (_v, node) => {
    const file = node ? node.file : ctx.hosted!.savedFile()
    file.verifyHistory() // every save's link back to the first, beyond what opening reads
    file.verifySlots() // the slot record in force (RSA gpg slots) matches its pointer
    let count = 0
    for (const e of file.entries()) {
      if (e.type === 'file') file.readEntry(e).fill(0)
      count++
    }
    return count
  })
  ctx.out(`ok: ${n} members verified`)
  return EXIT.OK
}

export async function nodeId(ctx: Context): Promise<number> {
  const id = await ctx.withVault(false, (_v, node) => (node ? node.identity().id : ctx.hosted!.nodeId))
  if (ctx.args.json) ctx.json({ id })
  else ctx.out(id)
  return EXIT.OK
}

export async function passphraseChange(ctx: Context, argv: { newPassphraseFile?: string; kdf?: KdfProfile }): Promise<number> {
  if (ctx.hosted) throw new PolykeyError('REFUSED', 'unmount the node before changing its passphrase')
  const { NodeFile } = await import('../archive/nodefile.js')
  const { NodeLock } = await import('../archive/lock.js')
  const file = NodeFile.open(ctx.nodePath, await ctx.keySource(), { writable: true, warn: (m) => ctx.warn(m) })
  try {
    const next = await ctx.passphrase('New passphrase: ', { file: argv.newPassphraseFile, envVar: 'POLYKEY_NEW_PASSPHRASE', confirm: true })
    if (next.length === 0) throw new PolykeyError('USAGE', 'the new passphrase is empty')
    const { warnIfWeak } = await import('./strength.js')
    await warnIfWeak(ctx, next)
    const lock = await NodeLock.acquire(ctx.nodePath, (ctx.args.lockTimeout ?? 30) * 1000)
    try {
      const kdf = argv.kdf ? KDF_PROFILES[argv.kdf] : file.currentKdf()
      file.changePassphrase(next, kdf)
    } finally {
      lock.release()
      next.fill(0)
    }
  } finally {
    file.close()
  }
  ctx.out('passphrase changed')
  return EXIT.OK
}

export async function exportTar(ctx: Context): Promise<number> {
  if (ctx.io.stdoutIsTTY)
    throw new PolykeyError('REFUSED', 'refusing to write plaintext secrets to a terminal', {}, { hint: "redirect it: 'polykey export tar > backup.tar' or pipe it to 'tar t'" })
  const { writeTar } = await import('../archive/tar.js')
  await ctx.withVault(false, async (_v, node) => {
    // While mounted: what is in memory is committed and saved first, then the file is exported.
    await writeTar(node ? node.file : ctx.hosted!.savedFile(), ctx.io.stdout)
  })
  return EXIT.OK
}
