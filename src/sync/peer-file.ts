// A node file as a peer (a USB stick, a backup): PEER or TARGET given as a path. It is opened
// with its own passphrase (--target-passphrase-file or $POLYKEY_TARGET_PASSPHRASE, else a
// prompt), with owner rights: whoever can unlock it controls it. Pushing takes its lock, so a
// node mounted elsewhere is refused rather than written behind the mount's back.
import fs from 'node:fs'
import path from 'node:path'
import { OpenNode } from '../vault/node.js'
import { PolykeyError } from '../errors.js'
import { VaultRemote } from './remote.js'

/** PEER names a node file rather than a peer alias: it has a '/', ends in .pk, or is an existing file. */
export function looksLikePath(arg: string, cwd: string): boolean {
  if (arg.includes('/') || arg.endsWith('.pk')) return true
  try {
    return fs.statSync(path.resolve(cwd, arg)).isFile()
  } catch {
    return false
  }
}

function sameFile(a: string, b: string): boolean {
  try {
    const x = fs.statSync(a)
    const y = fs.statSync(b)
    return x.dev === y.dev && x.ino === y.ino
  } catch {
    return false
  }
}

export async function openPeerFile(
  file: string,
  ownNode: string | null,
  passphrase: () => Promise<Buffer>,
  opts: { write: boolean; lockTimeoutMs?: number; warn?: (m: string) => void },
): Promise<VaultRemote> {
  if (!fs.existsSync(file)) throw new PolykeyError('NOT_FOUND', `no node file at ${file}`, { path: file }, { hint: `create one first: 'polykey init --node ${file}'` })
  if (ownNode && sameFile(file, ownNode)) throw new PolykeyError('USAGE', `${file} is this node itself`)
  const pass = await passphrase()
  let node: OpenNode
  try {
    node = await OpenNode.open(file, { passphrase: pass }, { write: opts.write, lockTimeoutMs: opts.lockTimeoutMs, warn: opts.warn })
  } catch (err) {
    if (err instanceof PolykeyError && err.code === 'WRONG_KEY') err.message = `wrong passphrase for ${file}`
    throw err
  } finally {
    pass.fill(0)
  }
  return new VaultRemote(
    file,
    node.vault,
    () => node.save(),
    () => node.close(),
  )
}
