// One error type with stable codes; one table maps codes to exit codes (docs/CLI.md) and errno
// (FUSE). Nothing branches on message text.

export type ErrorCode =
  | 'USAGE' // bad arguments, hostile names
  | 'NOT_FOUND'
  | 'EXISTS'
  | 'CONFLICT'
  | 'REFUSED' // operation refused (policy, terminal, not permitted)
  | 'LOCKED' // another process holds the node lock
  | 'WRONG_KEY' // passphrase or key does not unlock any slot
  | 'NO_PASSPHRASE' // no terminal and no passphrase given
  | 'CORRUPT' // node file corrupt, truncated beyond recovery, or not a node
  | 'UNSUPPORTED' // node format version we cannot read
  | 'IO' // disk errors (ENOSPC, EIO…)
  | 'PEER' // a peer misbehaved or could not be reached
  | 'NOT_EMPTY'
  | 'NOT_PERMITTED'
  | 'INTERNAL'
  | 'INTERRUPTED' // Ctrl-C at a prompt

export class PolykeyError extends Error {
  readonly code: ErrorCode
  readonly data: Record<string, unknown>
  hint?: string
  constructor(code: ErrorCode, message: string, data: Record<string, unknown> = {}, opts: { cause?: unknown; hint?: string } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause })
    this.name = 'PolykeyError'
    this.code = code
    this.data = data
    if (opts.hint) this.hint = opts.hint
  }
}

export const EXIT = { OK: 0, FAILED: 1, USAGE: 2, WRONG_KEY: 3, CORRUPT: 4, INTERRUPTED: 130 } as const

const exitCodes: Record<ErrorCode, number> = {
  USAGE: EXIT.USAGE,
  NO_PASSPHRASE: EXIT.USAGE,
  NOT_FOUND: EXIT.FAILED,
  EXISTS: EXIT.FAILED,
  CONFLICT: EXIT.FAILED,
  REFUSED: EXIT.FAILED,
  LOCKED: EXIT.FAILED,
  IO: EXIT.FAILED,
  PEER: EXIT.FAILED,
  NOT_EMPTY: EXIT.FAILED,
  NOT_PERMITTED: EXIT.FAILED,
  INTERNAL: EXIT.FAILED,
  WRONG_KEY: EXIT.WRONG_KEY,
  CORRUPT: EXIT.CORRUPT,
  UNSUPPORTED: EXIT.CORRUPT,
  INTERRUPTED: EXIT.INTERRUPTED,
}

// errno names; the FUSE layer turns them into numbers with the binding's table.
const errnos: Record<ErrorCode, string> = {
  USAGE: 'EINVAL',
  NO_PASSPHRASE: 'EACCES',
  NOT_FOUND: 'ENOENT',
  EXISTS: 'EEXIST',
  CONFLICT: 'EBUSY',
  REFUSED: 'EPERM',
  LOCKED: 'EBUSY',
  IO: 'EIO',
  PEER: 'EIO',
  NOT_EMPTY: 'ENOTEMPTY',
  NOT_PERMITTED: 'EPERM',
  INTERNAL: 'EIO',
  WRONG_KEY: 'EACCES',
  CORRUPT: 'EIO',
  UNSUPPORTED: 'EIO',
  INTERRUPTED: 'EINTR',
}

export function exitCodeOf(err: unknown): number {
  if (err instanceof PolykeyError) return exitCodes[err.code]
  return EXIT.FAILED
}

export function errnoOf(err: unknown): string {
  if (err instanceof PolykeyError) return errnos[err.code]
  const code = (err as { code?: unknown } | null)?.code
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return code
  return 'EIO'
}

export const usage = (msg: string, data: Record<string, unknown> = {}) => new PolykeyError('USAGE', msg, data)
export const notFound = (msg: string, data: Record<string, unknown> = {}) => new PolykeyError('NOT_FOUND', msg, data)
export const corrupt = (msg: string, data: Record<string, unknown> = {}, cause?: unknown) => new PolykeyError('CORRUPT', msg, data, { cause })

/** Turn an OS error from node:fs into our taxonomy, keeping the cause. */
export function fromFsError(err: unknown, what: string): PolykeyError {
  if (err instanceof PolykeyError) return err
  const e = err as NodeJS.ErrnoException
  switch (e?.code) {
    case 'ENOENT':
      return new PolykeyError('NOT_FOUND', `${what}: no such file`, { path: e.path }, { cause: err })
    case 'EEXIST':
      return new PolykeyError('EXISTS', `${what}: already exists`, { path: e.path }, { cause: err })
    case 'EACCES':
    case 'EPERM':
      return new PolykeyError('NOT_PERMITTED', `${what}: permission denied`, { path: e.path }, { cause: err })
    case 'ENOSPC':
      return new PolykeyError('IO', `${what}: no space left on device (nothing was lost; the node file keeps its last saved state)`, {}, { cause: err })
    default:
      return new PolykeyError('IO', `${what}: ${e?.code ?? 'I/O error'}`, {}, { cause: err })
  }
}
