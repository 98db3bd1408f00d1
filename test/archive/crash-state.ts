// The states the crash test's writer saves: state i is a pure function of i, so whatever the
// file opens to after a kill can be checked member for member.
import type { Change } from '../../src/archive/nodefile.js'

const KEYS = 7

/** Member `big`: a size that walks across the 64 KiB chunk boundaries, filled from i. */
export function bigOf(i: number): Buffer {
  const size = (i * 48_271) % 200_003
  const b = Buffer.allocUnsafe(size)
  for (let k = 0; k < size; k++) b[k] = (i + k) % 251
  return b
}

/** The changes that turn state i-1 into state i (one save). State 0 is the node's first segment. */
export function crashState(i: number): { changes: Change[] } {
  return {
    changes: [
      { op: 'put', path: 'state', type: 'file', data: Buffer.from(String(i)) },
      { op: 'put', path: 'big', type: 'file', data: bigOf(i) },
      { op: 'put', path: `m/${i % KEYS}`, type: 'file', data: Buffer.from(`v${i}`) },
      { op: 'delete', path: `m/${(i + 3) % KEYS}` },
    ],
  }
}

/** Members m/k of state i: the last save j ≤ i that touched m/k decides (put if j ≡ k). */
export function expectedSmall(i: number): Map<string, string> {
  const out = new Map<string, string>()
  for (let k = 0; k < KEYS; k++) {
    for (let j = i; j >= 0 && j > i - KEYS; j--) {
      if (j % KEYS === k) {
        out.set(`m/${k}`, `v${j}`)
        break
      }
      if ((j + 3) % KEYS === k) break
    }
  }
  return out
}
