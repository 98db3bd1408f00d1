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

export { classify, type Kind, type MountHost } from './ops/context.js'

export function makeOperations(host: MountHost, errnoOfCode: (code: string) => number): FuseOperations {
  const c = new OpsContext(host, errnoOfCode)
  return {
    init(cb) {
      cb(0)
    },
    ...attrOps(c),
    ...ioOps(c),
    ...dirOps(c),
    ...linkOps(c),
  }
}
