// Which key unlocks the node for this command, in the documented order (docs/CLI.md
// "Unlocking"): --passphrase-file / $POLYKEY_PASSPHRASE, then --key-file / $POLYKEY_KEY_FILE,
// then the node's gpg slots through gpg (gpg-agent, pinentry, smartcards), then the prompt.
import fs from 'node:fs'
import path from 'node:path'
import type { Context } from './context.js'
import type { KeySource } from '../archive/nodefile.js'
import { PolykeyError } from '../errors.js'
import { KEYFILE_BYTES } from '../crypto/index.js'

export async function resolveKeySource(ctx: Context): Promise<KeySource> {
  const env = ctx.io.env
  if (ctx.args.passphraseFile || (env.POLYKEY_PASSPHRASE !== undefined && env.POLYKEY_PASSPHRASE !== '')) return { passphrase: await ctx.passphrase() }
  const keyFile = ctx.args.keyFile ?? (env.POLYKEY_KEY_FILE || undefined)
  if (keyFile) return { keyFile: readKeyFile(path.resolve(ctx.io.cwd, keyFile), (m) => ctx.warn(m), false) }
  let kinds: string[] = []
  try {
    const { NodeFile } = await import('../archive/nodefile.js')
    kinds = NodeFile.peekSlots(ctx.nodePath).map((s) => s.kind)
  } catch {
    /* a missing or damaged node: opening it reports that, after the usual prompt */
  }
  if (kinds.includes('gpg')) return { gpg: { env } }
  return { passphrase: await ctx.passphrase() }
}

/**
 * A key file's 32 bytes. One readable by others is used with a warning (as ssh does for
 * config, not keys: refusing would lock a CI job out of its node over a umask); a file of
 * another size is the wrong key (exit 3) when unlocking, bad input when adding a slot.
 */
export function readKeyFile(file: string, warn: (m: string) => void, adding: boolean): Buffer {
  let fd: number
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw new PolykeyError('USAGE', `cannot read key file ${file}: ${code === 'ELOOP' ? 'it is a symbolic link' : code}`, { path: file })
  }
  try {
    const st = fs.fstatSync(fd)
    if (!st.isFile()) throw new PolykeyError('USAGE', `key file ${file} is not a regular file`, { path: file })
    if (st.mode & 0o077) warn(`key file ${file} is readable by others (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}); run 'chmod 600 ${file}'`)
    if (typeof process.getuid === 'function' && st.uid !== process.getuid() && st.uid !== 0) warn(`key file ${file} belongs to another user (uid ${st.uid})`)
    if (st.size !== KEYFILE_BYTES)
      throw new PolykeyError(adding ? 'USAGE' : 'WRONG_KEY', `${file} is not a polykey key file (${st.size} bytes, a key file has ${KEYFILE_BYTES})`, { path: file })
    const b = Buffer.alloc(KEYFILE_BYTES)
    fs.readSync(fd, b, 0, KEYFILE_BYTES, 0)
    return b
  } finally {
    fs.closeSync(fd)
  }
}
