// The live members as a POSIX pax tar: repositories as regular files (with their .git), tags as
// hardlink members. Node metadata (.polykey/, the identity key) is not part of the export.
import * as tarStream from 'tar-stream'
import type { NodeFile } from './nodefile.js'
import type { Entry } from './codec.js'

export const EXPORT_EXCLUDE = '.polykey'

export function exportOrder(entries: Iterable<Entry>): Entry[] {
  const live = [...entries].filter((e) => e.path !== EXPORT_EXCLUDE && !e.path.startsWith(EXPORT_EXCLUDE + '/'))
  // Files and folders first in path order (parents before children), then hardlinks, so every
  // link member names a member that came before it.
  const byPath = (a: Entry, b: Entry) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)
  return [...live.filter((e) => e.type !== 'link').sort(byPath), ...live.filter((e) => e.type === 'link').sort(byPath)]
}

/** Stream the tar to `out`, decrypting one member at a time. */
export async function writeTar(node: NodeFile, out: NodeJS.WritableStream): Promise<void> {
  const pack = tarStream.pack()
  const done = new Promise<void>((resolve, reject) => {
    pack.on('error', reject)
    out.on('error', reject)
    pack.on('end', resolve)
  })
  // `out` can fail while a member is still being added (a reader that closed the pipe: EPIPE);
  // stop there instead of waiting forever for a drain that will not come.
  done.catch(() => {})
  // Our stdout may be a socket (the agent) or a pipe: respect its back-pressure, never end it.
  // tar-stream hands out a member's buffer itself (no copy) and `out` may queue it: plaintext is
  // wiped once `out` has written it, not when the entry is accepted.
  const wipe = new Set<Buffer>()
  pack.on('data', (chunk: any) => {
    const more = out.write(chunk, () => {
      if (wipe.delete(chunk)) chunk.fill(0)
    })
    if (!more) {
      pack.pause()
      out.once('drain', () => pack.resume())
    }
  })
  for (const e of exportOrder(node.entries())) {
    const mtime = new Date(Math.floor(e.mtime))
    // pax records carry the exact mtime (sub-second) and make every member a pax member.
    const pax = { mtime: (e.mtime / 1000).toFixed(3) }
    if (e.type === 'dir') {
      await Promise.race([done, entry(pack, { name: e.path + '/', type: 'directory', mode: e.mode, mtime, pax })])
    } else if (e.type === 'link') {
      await Promise.race([done, entry(pack, { name: e.path, type: 'link', linkname: e.target, mode: e.mode, mtime, pax })])
    } else {
      const data = node.readEntry(e)
      wipe.add(data)
      try {
        await Promise.race([done, entry(pack, { name: e.path, type: 'file', size: data.length, mode: e.mode, mtime, pax }, data)])
      } catch (err) {
        for (const b of wipe) b.fill(0)
        pack.destroy()
        throw err
      }
    }
  }
  pack.finalize()
  await done
}

function entry(pack: tarStream.Pack, header: Record<string, unknown>, data?: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const cb = (err?: Error | null) => (err ? reject(err) : resolve())
    if (data) (pack as any).entry(header, data, cb)
    else (pack as any).entry(header, cb)
  })
}
