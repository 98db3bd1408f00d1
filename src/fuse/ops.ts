// FUSE operations over the mounted node's memfs volume (docs/FUSE.md), grouped by kind as
// gocryptfs groups its node operations: attributes (ops/attrs.ts), open/read/write (ops/io.ts),
// folders (ops/dirs.ts), names — links, unlink, rename — (ops/links.ts) and libfuse's hidden
// names for open files (ops/hidden.ts), sharing one context (ops/context.ts). Handlers never
// throw: every outcome is an errno, and a bug becomes EIO plus a log line.
import type { FuseContext, FuseOperations } from './binding.js'
import { OpsContext, type MountHost } from './ops/context.js'
import { attrOps } from './ops/attrs.js'
import { ioOps } from './ops/io.js'
import { dirOps } from './ops/dirs.js'
import { linkOps } from './ops/links.js'
import { settleBefore } from './ops/hidden.js'

export { classify, type Kind, type MountHost } from './ops/context.js'

/** Which arguments of an operation are paths (the others: content, modes, handles, callbacks). */
const PATH_ARGS: Record<string, number[]> = { rename: [0, 1], link: [0, 1], symlink: [1] }
const NAME_MAX = 255

export function makeOperations(host: MountHost, errnoOfCode: (code: string) => number): FuseOperations {
  const c = new OpsContext(host, errnoOfCode)
  const ops: FuseOperations = {
    init(cb) {
      cb(0)
    },
    ...attrOps(c),
    ...ioOps(c),
    ...dirOps(c),
    ...linkOps(c),
  }
  const tooLong = (p: unknown) => typeof p === 'string' && p.length > NAME_MAX && p.split('/').some((n) => Buffer.byteLength(n) > NAME_MAX)
  const out: Record<string, unknown> = {}
  for (const [name, fn] of Object.entries(ops) as [string, (...a: unknown[]) => void][]) {
    if (name === 'init') {
      out[name] = fn
      continue
    }
    const paths = PATH_ARGS[name] ?? [0]
    out[name] = (...args: unknown[]) => {
      // A name over NAME_MAX is refused before anything else looks at it (libfuse does not).
      if (paths.some((i) => tooLong(args[i]))) {
        const cb = args.find((a) => typeof a === 'function') as (err: number) => void
        return cb(-c.errnoNumber('ENAMETOOLONG'))
      }
      const ctx = args[args.length - 1] as FuseContext | undefined
      if (process.env.PK_DEBUG_OPS) host.log(`op ${name} ${String(args[0])} ${typeof args[1] === 'string' ? args[1] : ''} pid=${ctx?.pid}`)
      if (ctx && typeof ctx === 'object') settleBefore(c, name, ctx.pid, name === 'rename' ? c.rel(String(args[1])) : null)
      fn(...args)
    }
  }
  return out as FuseOperations
}
