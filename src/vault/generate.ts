// Random passwords and diceware-style passphrases for `secret generate` (docs/CLI.md).
// Every character (or word) is an independent uniform choice (src/crypto/random.ts), so the
// strength is exactly length × log2(alphabet): 24 of 90 characters ≈ 155 bits; 6 EFF words
// ≈ 77.5 bits.
import fs from 'node:fs'
import { randomIndices, type ByteSource } from '../crypto/random.js'
import { PolykeyError } from '../errors.js'

export const LETTERS_DIGITS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'
// Printable ASCII punctuation without the quotes, backslash and backtick: those are what breaks
// when a password is pasted into a shell, a JSON file or a YAML value.
export const SYMBOLS = '!#$%&()*+,-./:;<=>?@[]^_{|}~'
export const DEFAULT_LENGTH = 24
export const MAX_LENGTH = 4096
export const MAX_WORDS = 256

export const WORDLIST_FILE = new URL('../../../share/wordlists/eff_large_wordlist.txt', import.meta.url)

export function alphabet(symbols: boolean): string {
  return symbols ? LETTERS_DIGITS + SYMBOLS : LETTERS_DIGITS
}

/** A password of `length` characters; the caller wipes the buffer when done. */
export function generatePassword(opts: { length?: number; symbols?: boolean } = {}, source?: ByteSource): Buffer {
  const length = opts.length ?? DEFAULT_LENGTH
  if (!Number.isInteger(length) || length < 1 || length > MAX_LENGTH) throw new PolykeyError('USAGE', `--length must be a whole number from 1 to ${MAX_LENGTH}`, { length })
  const chars = alphabet(opts.symbols ?? true)
  const idx = randomIndices(length, chars.length, source)
  const out = Buffer.alloc(length)
  for (let i = 0; i < length; i++) out[i] = chars.charCodeAt(idx[i])
  idx.fill(0)
  return out
}

let cachedWords: string[] | null = null

/** The EFF large wordlist (7,776 words, "DICE<TAB>word" lines), shipped in share/wordlists. */
export function wordlist(): string[] {
  if (cachedWords) return cachedWords
  let text: string
  try {
    text = fs.readFileSync(WORDLIST_FILE, 'utf8')
  } catch (err) {
    throw new PolykeyError('INTERNAL', `the word list is missing from this installation (${(err as NodeJS.ErrnoException).code})`)
  }
  const words = text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.slice(l.indexOf('\t') + 1))
  if (words.length !== 7776 || new Set(words).size !== words.length) throw new PolykeyError('INTERNAL', 'the shipped word list is damaged (expected 7,776 distinct words)')
  return (cachedWords = words)
}

/** `count` words chosen uniformly from `words`, joined by `separator`. */
export function generatePassphrase(count: number, opts: { separator?: string; words?: string[] } = {}, source?: ByteSource): Buffer {
  if (!Number.isInteger(count) || count < 1 || count > MAX_WORDS) throw new PolykeyError('USAGE', `--words must be a whole number from 1 to ${MAX_WORDS}`, { words: count })
  const list = opts.words ?? wordlist()
  const idx = randomIndices(count, list.length, source)
  // Built as bytes, never as one JS string: a string holding the passphrase could not be wiped.
  const sep = Buffer.from(opts.separator ?? '-')
  const parts: Buffer[] = []
  idx.forEach((w, i) => parts.push(...(i ? [sep] : []), Buffer.from(list[w])))
  const out = Buffer.concat(parts)
  idx.fill(0)
  return out
}
