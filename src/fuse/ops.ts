// FUSE operations over the mounted node's memfs volume (docs/FUSE.md), grouped by kind as
// gocryptfs groups its node operations: attributes (ops/attrs.ts), open/read/write (ops/io.ts),
// folders (ops/dirs.ts), names — links, unlink, rename — (ops/links.ts), sharing one context
// (ops/context.ts). Handlers never throw: every outcome is an errno, and a bug becomes EIO plus
// a log line.
import type { FuseOperations } from './binding.js'
import { OpsContext, type MountHost } from './ops/context.js'
import { attrOps } from './ops/attrs.js'
import { ioOps } from './ops/io.js'
import { dirOps } from './ops/dirs.js'
import { linkOps } from './ops/links.js'
import { withHistory } from './ops/history.js'
import { withGate, type OpenGate } from './ops/gate.js'
import { HistoryView } from './history.js'

export { classify, type Kind, type MountHost } from './ops/context.js'

export interface ExtraOptions {
  /** serve history/ (read-only past commits) */
  history?: boolean
  /** asked at each open of a secret (guarded mount, read audit) */
  gate?: OpenGate
  /** the gate decides (before the open) rather than only records (after it) */
  guard?: boolean
}

export function makeOperations(host: MountHost, errnoOfCode: (code: string) => number, extra: ExtraOptions = {}): FuseOperations {
  const c = new OpsContext(host, errnoOfCode)
  let ops: FuseOperations = {
    init(cb) {
      cb(0)
    },
    ...attrOps(c),
    ...ioOps(c),
    ...dirOps(c),
    ...linkOps(c),
  }
  const gate = extra.gate
  if (gate) ops = withGate(c, ops, gate, { guard: !!extra.guard })
  if (extra.history)
    ops = withHistory(c, ops, new HistoryView(host.store), (rel, k, ctx) => {
      if (gate && !gate.check(ctx?.pid ?? 0, { repo: k.repo, name: k.name, history: rel })) throw c.fail('EACCES')
    })
  return ops
}
