// The states a crash can leave while a slot change rewrites the key-slot areas (and, when some
// slots go to a slot record, appends the record's save first): built byte by byte, to be opened
// in-process (test/archive/slots-crash.test.ts, test/gpg/rsa.test.ts).
import assert from 'node:assert/strict'
import v8 from 'node:v8'
import vm from 'node:vm'
import { BODY_OFFSET, SLOT_AREA_SIZE, SLOT_AREAS_OFFSET, decodeSlotArea } from '../../src/archive/codec.js'
import { NodeFile } from '../../src/archive/nodefile.js'

// Every open takes locked memory (sodium_malloc) that is given back when its buffers are
// collected and finalized; thousands of opens in a synchronous loop outrun that and
// RLIMIT_MEMLOCK (8 MiB here).
v8.setFlagsFromString('--expose-gc')
const gc = vm.runInNewContext('gc') as () => void
/** Collect, and let the finalizers that free locked memory run (Node runs them on a later turn). */
export async function collect(): Promise<void> {
  gc()
  await new Promise((r) => setImmediate(r))
}

export function ids(file: string): string[] {
  return NodeFile.peekSlots(file).map((s) => s.id)
}

/** Every state a crash can leave between `before` and `after` (which differ in the slot areas only). */
export function* tornStates(before: Buffer, after: Buffer): Generator<Buffer> {
  assert.ok(after.subarray(BODY_OFFSET).equals(before.subarray(BODY_OFFSET)), 'the body is untouched')
  const target = after.subarray(...areaOf(0)).every((x) => x === 0) ? 1 : 0
  const [t0] = areaOf(target)
  const [o0] = areaOf(1 - target)
  // 1. the new area written up to byte k (the old one whole)
  for (let k = 0; k <= SLOT_AREA_SIZE; k++) {
    const b = Buffer.from(before)
    after.copy(b, t0, t0, t0 + k)
    yield b
  }
  // 2. the new area whole, the old one wiped up to byte k
  for (let k = 1; k <= SLOT_AREA_SIZE; k++) {
    const b = Buffer.from(before)
    after.copy(b, t0, t0, t0 + SLOT_AREA_SIZE)
    b.fill(0, o0, o0 + k)
    yield b
  }
}

export const areaOf = (i: number) => [SLOT_AREAS_OFFSET + i * SLOT_AREA_SIZE, SLOT_AREAS_OFFSET + (i + 1) * SLOT_AREA_SIZE] as const
/** The pointer of the area in force, if any. */
export function pointer(file: Buffer) {
  const areas = [0, 1].map((i) => decodeSlotArea(file.subarray(...areaOf(i))))
  const a = areas.filter((x) => !!x).sort((x, y) => y!.generation - x!.generation)[0]!
  return a.record ?? null
}

/**
 * Every state a crash can leave when a slot change appends a slot record and then rewrites the
 * areas: the record's save written up to each byte (or the file grown with zeros where it was
 * not written yet), then each byte of the new area, then each byte of the old area wiped.
 */
export function* tornStatesWithRecord(before: Buffer, after: Buffer): Generator<Buffer> {
  assert.ok(after.length > before.length, 'a record was appended')
  assert.ok(after.subarray(BODY_OFFSET, before.length).equals(before.subarray(BODY_OFFSET)), 'the body before it is untouched')
  const appended = after.subarray(before.length)
  for (let k = 0; k < appended.length; k++) {
    yield Buffer.concat([before, appended.subarray(0, k)])
    // (Zeros over only part of the trailer's last 16 bytes are damage for every save, exit 4:
    // docs/FORMAT.md §Recovery, test/archive/truncation.test.ts.)
    if (k <= appended.length - 16) yield Buffer.concat([before, appended.subarray(0, k), Buffer.alloc(appended.length - k)])
  }
  const full = Buffer.concat([before.subarray(0, BODY_OFFSET), after.subarray(BODY_OFFSET)])
  yield* tornStates(full, after)
}
