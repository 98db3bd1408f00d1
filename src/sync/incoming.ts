// Keeping what a peer sent, once every check has passed (parsePack: each object inflated under
// the limits, hashed and parsed; checkConnected: the history is complete). Like git's
// transfer.unpackLimit, a few objects (a pull of a commit or two) become loose objects, so pulls
// do not pile up tiny packs; more are kept as the pack they came in, with a version-2 idx: two
// node-file members instead of one per object, and no inflating and deflating again. Every byte
// of a kept pack was read and checked. A pack that also holds objects that nothing here reaches
// (neither needed nor already present) is not kept as it is: only the needed objects are, in a
// pack of their own.
import type { GitRepo } from '../git/repo.js'
import { buildPack } from '../git/pack.js'
import type { ParsedObject } from './pack.js'

/** Fewer needed objects than this are stored loose (git's transfer.unpackLimit is 100 too). */
export const UNPACK_LIMIT = 100

export interface Incoming {
  /** the pack as received */
  pack: Buffer
  /** every object of it, in pack order */
  objects: ParsedObject[]
  /** those this repository lacks and its new history reaches (checkConnected) */
  need: ParsedObject[]
}

export function storeIncoming(git: GitRepo, inc: Incoming): void {
  if (inc.need.length === 0) return
  if (inc.need.length < UNPACK_LIMIT) {
    for (const o of inc.need) git.writeObject(o.type as 'blob' | 'tree' | 'commit', o.content)
    git.maybePack()
    return
  }
  const needed = new Set(inc.need.map((o) => o.oid))
  const stray = inc.objects.some((o) => !needed.has(o.oid) && !git.hasObject(o.oid))
  if (!stray) {
    git.addPack(inc.pack, inc.objects)
    return
  }
  const { pack, entries } = buildPack(inc.need, { deltas: true })
  git.addPack(
    pack,
    inc.need.map((o, i) => ({ oid: o.oid, ...entries[i] })),
  )
}
