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
import { renameAnswered } from './ops/hidden.js'
import { withHistory } from './ops/history.js'
import { withGate, type OpenGate } from './ops/gate.js'
import { HistoryView } from './history.js'

export { classify, type Kind, type MountHost } from './ops/context.js'

/** Which arguments of an operation are paths (the others: content, modes, handles, callbacks). */
const PATH_ARGS: Record<string, number[]> = { rename: [0, 1], link: [0, 1], symlink: [1] }
const NAME_MAX = 255

export interface ExtraOptions {
  /** serve history/ (read-only past commits: ops/history.ts) */
  history?: boolean
  /** asked at each open of a secret (guarded mount, read audit: ops/gate.ts) */
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
  // fgetattr: libfuse asks it instead of getattr when the kernel names a handle (the GETATTR or
  // SETATTR of an open file, a create). With a path, that path's attributes (the kernel keeps one
  // inode per path); with none ("": a file no name is left for, or one the binding reopened by its
  // inode number), what the handle holds.
  const getattr = ops.getattr!
  ops = {
    ...ops,
    fgetattr(path, fd, cb, ctx) {
      if (path !== '') return getattr(path, cb, ctx)
      c.guard('fgetattr', cb, () => [c.statOfFd(fd)])
    },
  }
  const tooLong = (p: unknown) => typeof p === 'string' && p.length > NAME_MAX && p.split('/').some((n) => Buffer.byteLength(n) > NAME_MAX)
  const out: Record<string, unknown> = {}
  const debugOps = !!process.env.PK_DEBUG_OPS
  for (const [name, fn] of Object.entries(ops) as [string, (...a: unknown[]) => void][]) {
    if (name === 'init') {
      out[name] = fn
      continue
    }
    const paths = PATH_ARGS[name] ?? [0]
    out[name] = (...args: unknown[]) => {
      const cbAt = args.findIndex((a) => typeof a === 'function')
      if (name === 'rename') {
        // the second half of libfuse's rename over an open file may be refused (hidden.ts)
        const cb = args[cbAt] as (err: number) => void
        const ctx = args[cbAt + 1] as FuseContext | undefined
        args[cbAt] = (err: number) => {
          renameAnswered(c, ctx, err)
          cb(err)
        }
      }
      if (name === 'open' && args[0] === '') {
        // The binding reopening, by its inode number, the file a nameless node stood for (a
        // reader racing a rename over the file: docs/FUSE.md "Readers racing a save"). A secret
        // keeps its inode number across saves, and no number names two files (mem-store.ts).
        const ino = (args[args.length - 1] as FuseContext | undefined)?.ino
        const secret = ino ? host.store.inodes().get(ino) : undefined
        if (!secret) return (args[cbAt] as (err: number) => void)(-c.errnoNumber('ENOENT'))
        args[0] = '/' + secret
      }
      // A name over NAME_MAX is refused before anything else looks at it (libfuse does not).
      if (paths.some((i) => tooLong(args[i]))) return (args[cbAt] as (err: number) => void)(-c.errnoNumber('ENAMETOOLONG'))
      if (debugOps) host.log(`op ${name} ${String(args[0])} ${typeof args[1] === 'string' ? args[1] : ''} ${JSON.stringify(args[args.length - 1])}`)
      fn(...args)
    }
  }
  return out as FuseOperations
}
