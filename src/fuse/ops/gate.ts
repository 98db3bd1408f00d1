// Opens of secrets pass the mount's gate (src/fuse/guard.ts) first: on a guarded mount a
// program without a rule gets EACCES, and every open is recorded for the audit. Only opens of
// existing files are asked about (a create makes a new file, it reads no secret).
import type { FuseOperations } from '../binding.js'
import { classify, type OpsContext } from './context.js'

export interface OpenGate {
  check(pid: number, s: { repo: string; name: string; history?: string }): boolean
}

export function withGate(c: OpsContext, ops: FuseOperations, gate: OpenGate): FuseOperations {
  const open = ops.open!
  return {
    ...ops,
    open(path, flags, cb, ctx) {
      const r = c.rel(path)
      const k = classify(r)
      let ref: { repo: string; name: string } | null = null
      if (k.k === 'secret') ref = { repo: k.repo, name: k.name }
      else if (k.k === 'tagentry') {
        const target = c.s.linkTarget(r) // scratch files in a tag folder are no secret's
        if (target) ref = { repo: target.split('/')[1], name: target.split('/')[2] }
      }
      if (ref && c.s.stat(r)?.type === 'file' && !gate.check(ctx?.pid ?? 0, ref)) return cb(-c.errnoNumber('EACCES'))
      open(path, flags, cb, ctx)
    },
  }
}
