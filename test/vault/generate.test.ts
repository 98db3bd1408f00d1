// Generated passwords: the alphabet, the length, uniform characters; passphrases from the EFF list.
import test from 'node:test'
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import fs from 'node:fs'
import { LETTERS_DIGITS, SYMBOLS, WORDLIST_FILE, alphabet, generatePassphrase, generatePassword, wordlist } from '../../src/vault/generate.js'

test('default: 24 characters from letters, digits and symbols (no quotes, backslash or backtick)', () => {
  const p = generatePassword().toString()
  assert.equal(p.length, 24)
  for (const c of p) assert.ok(alphabet(true).includes(c), c)
  assert.equal(new Set(alphabet(true)).size, 90)
  for (const c of `"'\`\\ `) assert.ok(!SYMBOLS.includes(c))
})

test('--no-symbols: letters and digits only; --length is honoured and checked', () => {
  const p = generatePassword({ length: 200, symbols: false }).toString()
  assert.match(p, /^[A-Za-z0-9]{200}$/)
  assert.equal(alphabet(false), LETTERS_DIGITS)
  for (const bad of [0, -1, 1.5, 4097, NaN]) assert.throws(() => generatePassword({ length: bad }), { code: 'USAGE' })
})

test('every character position is uniform over the alphabet (chi-square over 8,000 passwords)', () => {
  const chars = alphabet(true)
  const counts = new Map<string, number>([...chars].map((c) => [c, 0]))
  for (let i = 0; i < 8000; i++) for (const c of generatePassword().toString()) counts.set(c, counts.get(c)! + 1)
  const total = 8000 * 24
  const expected = total / chars.length
  const chi = [...counts.values()].reduce((s, c) => s + (c - expected) ** 2 / expected, 0)
  assert.ok(chi < 180, `chi-square ${chi.toFixed(1)} (df 89) is far beyond chance`)
})

test('the shipped word list is the EFF large list, byte for byte, with its licence beside it', () => {
  const bytes = fs.readFileSync(WORDLIST_FILE)
  assert.equal(crypto.createHash('sha256').update(bytes).digest('hex'), 'addd35536511597a02fa0a9ff1e5284677b8883b83e986e43f15a3db996b903e')
  assert.equal(wordlist().length, 7776)
  const licence = fs.readFileSync(new URL('LICENSE', WORDLIST_FILE), 'utf8')
  assert.match(licence, /Electronic Frontier\s+Foundation/)
  assert.match(licence, /Creative Commons Attribution 3\.0/)
})

test('--words N: N words of the list joined by the separator', () => {
  const words = new Set(wordlist())
  const p = generatePassphrase(6, { separator: ' ' }).toString().split(' ')
  assert.equal(p.length, 6)
  for (const w of p) assert.ok(words.has(w), w)
  assert.match(generatePassphrase(3).toString(), /^[a-z-]+-[a-z-]+-[a-z-]+$/)
  assert.throws(() => generatePassphrase(0), { code: 'USAGE' })
})
