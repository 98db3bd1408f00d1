// Opens of secrets pass the mount's gate (src/fuse/guard.ts) first: on a guarded mount a
// program without a rule gets EACCES, and every open is recorded for the audit. Only opens of
// existing files are asked about (a create makes a new file, it reads no secret).
import type { FuseOperations } from '../binding.js'
import { classify, type OpsContext } from './context.js'

export interface OpenGate {
  check(pid: number, s: { repo: string; name: string; history?: string }): boolean
}

export function withGate(c: OpsContext, ops: FuseOperations, gate: OpenGate, opts: { guard: boolean }): FuseOperations {
  const open = ops.open!
  const refOf = (r: string): { repo: string; name: string } | null => {
    const k = classify(r)
    if (k.k === 'secret') return { repo: k.repo, name: k.name }
    if (k.k === 'tagentry') {
      const target = c.s.linkTarget(r) // scratch files in a tag folder are no secret's
      if (target) return { repo: target.split('/')[1], name: target.split('/')[2] }
    }
    return null
  }
  if (!opts.guard)
    // Audit only: record what was opened, after the open (nothing to decide, no extra lookup).
    return {
      ...ops,
      open(path, flags, cb, ctx) {
        open(
          path,
          flags,
          ((...r: Parameters<typeof cb>) => {
            if (r[0] === 0) {
              const ref = refOf(c.rel(path))
              if (ref) gate.check(ctx?.pid ?? 0, ref)
            }
            ;(cb as (...a: unknown[]) => void)(...r) // every answer passes (fd, open flags: direct_io)
          }) as typeof cb,
          ctx,
        )
      },
    }
  return {
    ...ops,
    open(path, flags, cb, ctx) {
      // Decide before opening: a refused O_TRUNC must not have truncated anything.
      const r = c.rel(path)
      const ref = refOf(r)
      if (ref && c.s.stat(r)?.type === 'file' && !gate.check(ctx?.pid ?? 0, ref)) return cb(-c.errnoNumber('EACCES'))
      open(path, flags, cb, ctx)
    },
  }
}
