// A warning for a very weak new passphrase (it guards every secret of the node). zxcvbn-ts
// estimates how quickly a guesser would find it, from common passwords, names, keyboard walks,
// dates and l33t substitutions; loaded only when a new passphrase is set.
import type { Context } from './context.js'

/** Scores 0 and 1 are "too guessable" / "very guessable" (fewer than ~10^6 guesses). */
const WEAK_BELOW = 2

export async function warnIfWeak(ctx: Context, passphrase: Buffer): Promise<void> {
  const { ZxcvbnFactory } = await import('@zxcvbn-ts/core')
  const common = await import('@zxcvbn-ts/language-common')
  const z = new ZxcvbnFactory({ dictionary: { ...common.dictionary }, graphs: common.adjacencyGraphs })
  // zxcvbn works on strings; this copy is short-lived and the passphrase is not kept.
  const r = z.check(passphrase.toString())
  if (r.score < WEAK_BELOW) ctx.warn('this passphrase is very weak: a guesser would find it quickly, and it guards every secret in the node (use four or more random words)')
}
