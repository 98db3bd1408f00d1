// The key slots (docs/FORMAT.md §Key slots): which slots a node has, unlocking the master key
// with a passphrase, a key file or gpg, and rewriting the slot set crash-safely. The slots live
// in two 512-byte areas at offsets 64 and 576; those that do not fit (a gpg slot for an RSA key)
// go into a slot record in the body, which the area points to by offset, length and hash
// (§Slot records). Only the two areas are ever rewritten here; a record is written by a save
// (nodefile.ts) before any area points to it.
import fs from 'node:fs'
import {
  BODY_OFFSET,
  HEADER_SIZE,
  SEGMENT_HEADER_SIZE,
  SLOT_AREA_SIZE,
  SLOT_AREAS_OFFSET,
  SLOT_RECORD_HEADER,
  SLOT_RECORD_MAX,
  SLOT_RECORD_POINTER_SIZE,
  SLOT_ROOM,
  type GpgSlot,
  type KeyFileSlot,
  type PassphraseSlot,
  type Slot,
  type SlotArea,
  type SlotKind,
  type SlotRecordPointer,
  decodeHeader,
  decodeSlotArea,
  decodeSlotRecord,
  encodeSlotArea,
  gpgSlotCheckInput,
  slotId,
  slotSize,
  unwrapKeyFileSlot,
  unwrapPassphraseSlot,
  wrapKeyFileSlot,
  wrapPassphraseSlot,
} from './codec.js'
import {
  KEY_BYTES,
  KEYFILE_BYTES,
  NONCE_BYTES,
  SALT_BYTES,
  type KdfParams,
  deriveFromKeyFile,
  deriveFromPassphrase,
  equal,
  hash,
  randomBytes,
  secureBuffer,
  subkey,
  wipe,
} from '../crypto/index.js'
import { decryptSync, encryptTo } from '../crypto/gpg.js'
import { PolykeyError, corrupt } from '../errors.js'

/** What unlocks a node: a passphrase, a key file's 32 bytes, its gpg slots through gpg, or the master key itself (the agent). */
export type KeySource = { passphrase: Buffer } | { masterKey: Buffer } | { keyFile: Buffer } | { gpg: { env?: NodeJS.ProcessEnv } }

export interface SlotInfo {
  id: string
  kind: SlotKind
  /** gpg: the recipient's primary key fingerprint (hex) */
  fingerprint?: string
  /** keyfile: the key file's name when it was added */
  label?: string
  /** seconds since the epoch; null for passphrase slots (version 1 records no time for them) */
  added: number | null
}

export function describeSlot(s: Slot): SlotInfo {
  const info: SlotInfo = { id: slotId(s), kind: s.type, added: s.type === 'passphrase' ? null : s.added }
  if (s.type === 'gpg') info.fingerprint = s.fingerprint.toString('hex').toUpperCase()
  if (s.type === 'keyfile') info.label = s.label
  return info
}

/** Where slots are read from: the file's first 1,088 bytes, and its body for slot records. */
export interface SlotSource {
  head: Buffer
  size: number
  read(offset: number, length: number): Buffer
}

/** The head and the size of the open file `fd`, records read from it on demand. */
export function slotSource(fd: number): SlotSource {
  const size = fs.fstatSync(fd).size
  return {
    head: readHead(fd),
    size,
    read(offset, length) {
      const b = Buffer.alloc(length)
      let got = 0
      while (got < length) {
        const n = fs.readSync(fd, b, got, length - got, offset + got)
        if (n === 0) break
        got += n
      }
      return b.subarray(0, got)
    },
  }
}

/** A usable area: its slots (those in the area, then those of its record) and its record. */
export interface ActiveArea {
  generation: number
  slots: Slot[]
  record: SlotRecordPointer | null
  /** the record could not be read or did not match its pointer: its slots are missing from `slots` */
  recordError: string | null
}

interface Areas {
  decoded: (ActiveArea | null)[] // null: empty or damaged
  damaged: number
  /** an area refused for its Argon2id parameters: said as such when no area is usable */
  hostile: unknown
}

/**
 * The slots of a record, or why not. A pointer is trusted for nothing but finding bytes: the
 * record must lie in the body, be at most 64 KiB, hash to the pointer's hash and name this node.
 */
function readRecord(src: SlotSource, p: SlotRecordPointer): Slot[] {
  if (p.length < SLOT_RECORD_HEADER || p.length > SLOT_RECORD_MAX) throw corrupt(`key slot record of ${p.length} bytes is out of bounds`, { region: 'slots' })
  if (p.offset < BODY_OFFSET + SEGMENT_HEADER_SIZE || p.offset + p.length > src.size)
    throw corrupt(`key slot record at offset ${p.offset} (${p.length} bytes) is outside the file (${src.size} bytes)`, { region: 'slots' })
  const b = src.read(p.offset, p.length)
  if (b.length !== p.length || !equal(hash(b, 32), p.hash))
    throw corrupt(`key slot record at offset ${p.offset} does not match its hash (damaged, or moved by an older polykey)`, { region: 'slots' })
  return decodeSlotRecord(b, decodeHeader(src.head).fileId)
}

function decodeAreas(src: SlotSource): Areas {
  const decoded: (ActiveArea | null)[] = []
  let damaged = 0
  let hostile: unknown = null
  for (let i = 0; i < 2; i++) {
    let a: SlotArea | null
    try {
      a = decodeSlotArea(src.head.subarray(SLOT_AREAS_OFFSET + i * SLOT_AREA_SIZE, SLOT_AREAS_OFFSET + (i + 1) * SLOT_AREA_SIZE))
    } catch (err) {
      decoded.push(null)
      damaged++
      if (err instanceof PolykeyError && err.data.kdf) hostile = err
      continue
    }
    if (!a) {
      decoded.push(null)
      continue
    }
    // A record that cannot be read leaves the area's own slots usable (an older polykey that
    // compacted the file moved the record's bytes without knowing): its slots are missing, said
    // where it matters (unlockSlots, slot list, verify). A crash never leads here: a record is
    // complete and synced before any area points to it.
    const area: ActiveArea = { generation: a.generation, slots: a.slots, record: a.record ?? null, recordError: null }
    if (a.record) {
      try {
        area.slots = [...a.slots, ...readRecord(src, a.record)]
      } catch (err) {
        if (!(err instanceof PolykeyError) || err.code !== 'CORRUPT') throw err
        area.recordError = err.message
      }
    }
    decoded.push(area)
  }
  return { decoded, damaged, hostile }
}

/** Usable areas, newest generation first (the older one matters only after an interrupted rewrite). */
function usable(src: SlotSource): ActiveArea[] {
  const { decoded, damaged, hostile } = decodeAreas(src)
  const areas = decoded.filter((a): a is ActiveArea => !!a)
  if (areas.length === 0 && hostile) throw hostile
  if (areas.length === 0) throw corrupt(damaged ? 'node key slots are corrupt' : 'node has no key slots', { region: 'slots' })
  return areas.sort((a, b) => b.generation - a.generation)
}

/** The area in force: the newest usable one. */
export function activeArea(src: SlotSource): ActiveArea {
  return usable(src)[0]
}

/** The slots in force: those of the newest usable area (and its record). */
export function activeSlots(src: SlotSource): Slot[] {
  return activeArea(src).slots
}

const KIND_NAME = { passphrase: 'passphrase', keyFile: 'key file', gpg: 'gpg key' } as const

/** Unwrap the master key (secure memory) with the key given; which slot opened it. */
export function unlockSlots(src: SlotSource, key: Exclude<KeySource, { masterKey: Buffer }>): { master: Buffer; slot: Slot } {
  const areas = usable(src)
  const headerBytes = src.head.subarray(0, HEADER_SIZE)
  const master = secureBuffer(KEY_BYTES)
  const kind = 'passphrase' in key ? 'passphrase' : 'keyFile' in key ? 'keyFile' : 'gpg'
  const seen = new Set<string>()
  const candidates = areas.flatMap((a) => a.slots).filter((s) => s.type === (kind === 'keyFile' ? 'keyfile' : kind) && !seen.has(slotId(s)) && !!seen.add(slotId(s)))
  let gpgError: PolykeyError | null = null
  if (kind === 'keyFile') {
    const k = (key as { keyFile: Buffer }).keyFile
    if (k.length !== KEYFILE_BYTES) {
      wipe(master)
      throw new PolykeyError('WRONG_KEY', `the key file is ${k.length} bytes, not ${KEYFILE_BYTES}: not a polykey key file`)
    }
  }
  const keyFileKek = kind === 'keyFile' ? deriveFromKeyFile((key as { keyFile: Buffer }).keyFile) : null
  try {
    for (const s of candidates) {
      if (s.type === 'passphrase') {
        const kek = deriveFromPassphrase((key as { passphrase: Buffer }).passphrase, s.salt, s.params)
        const ok = unwrapPassphraseSlot(headerBytes, kek, s, master)
        wipe(kek)
        if (ok) return { master, slot: s }
      } else if (s.type === 'keyfile') {
        if (unwrapKeyFileSlot(headerBytes, keyFileKek!, s, master)) return { master, slot: s }
      } else if (s.type === 'gpg') {
        let plain: Buffer
        try {
          plain = decryptSync(s.message, `the gpg key slot (${s.fingerprint.toString('hex').toUpperCase()}) of this node`, (key as { gpg: { env?: NodeJS.ProcessEnv } }).gpg.env)
        } catch (err) {
          const e = err as PolykeyError
          // Another gpg slot may be for a key this user has; a cancelled pinentry means stop.
          if (e.code !== 'WRONG_KEY' || e.data.gpg === 'CANCELLED') throw e
          gpgError ??= e
          continue
        }
        try {
          if (plain.length === KEY_BYTES && gpgCheck(headerBytes, plain, s)) {
            plain.copy(master)
            return { master, slot: s }
          }
        } finally {
          plain.fill(0)
        }
        gpgError ??= new PolykeyError('WRONG_KEY', 'the gpg key slot decrypted to something other than the key of this node (a damaged or substituted slot)')
      }
    }
  } catch (err) {
    wipe(master)
    throw err
  } finally {
    wipe(keyFileKek)
  }
  wipe(master)
  const broken = areas.find((a) => a.recordError)?.recordError
  if (broken && candidates.length === 0) throw corrupt(`${broken}: the key slots it holds cannot be tried`, { region: 'slots' })
  const brokenHint = broken ? `the node's slot record is damaged (${broken}); the slots it held were not tried` : undefined
  if (gpgError) {
    const others = [...new Set(areas[0].slots.map((x) => x.type).filter((t) => t !== 'gpg'))]
    if (brokenHint) gpgError.hint = brokenHint
    else if (others.length)
      gpgError.hint = `this node also opens with ${others.map((t) => (t === 'keyfile' ? '--key-file' : '--passphrase-file or $POLYKEY_PASSPHRASE')).join(', or ')}`
    throw gpgError
  }
  if (candidates.length === 0)
    throw new PolykeyError('WRONG_KEY', `the key slots of this node include no ${KIND_NAME[kind]} slot`, {}, { hint: 'unlock with another key, and add one with polykey slot add' })
  throw new PolykeyError(
    'WRONG_KEY',
    kind === 'passphrase' ? 'wrong passphrase for this node' : `wrong ${KIND_NAME[kind]} for this node`,
    {},
    brokenHint ? { hint: brokenHint } : {},
  )
}

function gpgCheck(headerBytes: Buffer, master: Buffer, s: GpgSlot): boolean {
  const k = subkey(master, 'slot')
  try {
    return equal(hash(gpgSlotCheckInput(headerBytes, s), 16, k), s.check)
  } finally {
    wipe(k)
  }
}

// ---------------------------------------------------------------------------------- new slots
export function makePassphraseSlot(headerBytes: Buffer, master: Buffer, passphrase: Buffer, kdf: KdfParams): PassphraseSlot {
  const salt = randomBytes(SALT_BYTES)
  const kek = deriveFromPassphrase(passphrase, salt, kdf)
  try {
    return wrapPassphraseSlot(headerBytes, kek, master, kdf, salt, randomBytes(NONCE_BYTES))
  } finally {
    wipe(kek)
  }
}

export function makeKeyFileSlot(headerBytes: Buffer, master: Buffer, keyFile: Buffer, label: string, added: number): KeyFileSlot {
  if (keyFile.length !== KEYFILE_BYTES) throw new PolykeyError('USAGE', `a key file must be ${KEYFILE_BYTES} bytes (this one is ${keyFile.length})`)
  const kek = deriveFromKeyFile(keyFile)
  try {
    return wrapKeyFileSlot(headerBytes, kek, master, added, truncateUtf8(label, 32), randomBytes(NONCE_BYTES))
  } finally {
    wipe(kek)
  }
}

/** The master key encrypted to `fingerprint` by gpg (on stdin, never argv or disk). */
export function makeGpgSlot(headerBytes: Buffer, master: Buffer, fingerprint: string, added: number, env?: NodeJS.ProcessEnv): GpgSlot {
  const message = encryptTo(fingerprint, master, env)
  return gpgSlotFromMessage(headerBytes, master, Buffer.from(fingerprint, 'hex'), added, message)
}

/** Pure: the slot for an OpenPGP message already made (test vectors use a fixed one). */
export function gpgSlotFromMessage(headerBytes: Buffer, master: Buffer, fingerprint: Buffer, added: number, message: Buffer): GpgSlot {
  if (message.length > 0xffff) throw new PolykeyError('REFUSED', `gpg returned a gpg message of ${message.length} bytes: more than a key slot holds (65,535)`)
  const s: GpgSlot = { type: 'gpg', fingerprint, added, check: Buffer.alloc(16), message }
  const k = subkey(master, 'slot')
  try {
    s.check = hash(gpgSlotCheckInput(headerBytes, s), 16, k)
  } finally {
    wipe(k)
  }
  return s
}

function truncateUtf8(s: string, max: number): string {
  let out = s
  while (Buffer.byteLength(out) > max) out = out.slice(0, -1)
  return out
}

// ---------------------------------------------------------------------------------- rewriting
/**
 * Which slots stay in the area and which go to a slot record. A set that fits the area (478
 * bytes) stays there whole, as before records existed. Otherwise the area keeps every
 * passphrase slot (a record never holds one), then, in order, each other slot that still fits
 * beside the 47-byte pointer; the rest, in order, go to the record.
 */
export function planSlots(slots: Slot[]): { inline: Slot[]; overflow: Slot[] } {
  if (slots.length === 0) throw new PolykeyError('REFUSED', 'a node needs at least one key slot')
  const size = slots.map(slotSize)
  if (size.reduce((n, x) => n + x, 0) <= SLOT_ROOM) return { inline: slots, overflow: [] }
  let room = SLOT_ROOM - SLOT_RECORD_POINTER_SIZE - slots.reduce((n, s, i) => n + (s.type === 'passphrase' ? size[i] : 0), 0)
  if (room < 0)
    throw new PolykeyError(
      'REFUSED',
      `no room for these key slots: passphrase slots stay in the ${SLOT_ROOM}-byte slot area and ${slots.filter((s) => s.type === 'passphrase').length} of them leave too little room`,
      { region: 'slots' },
      { hint: 'remove a passphrase slot first (polykey slot rm)' },
    )
  const inline: Slot[] = []
  const overflow: Slot[] = []
  slots.forEach((s, i) => {
    if (s.type === 'passphrase') inline.push(s)
    else if (size[i] <= room) {
      inline.push(s)
      room -= size[i]
    } else overflow.push(s)
  })
  return { inline, overflow }
}

/**
 * Replace the slot set with `inline` slots and, when some did not fit, a pointer to a record
 * that is already in the file and synced. The new area (generation = highest + 1) goes into the
 * area that is not in force and is synced before the old one is wiped and synced: a crash at any
 * byte leaves the old set (new area torn: damaged, ignored) or the new set (old area torn or
 * still whole: lower generation) in force.
 */
export function writeSlots(fd: number, inline: Slot[], record: SlotRecordPointer | null = null): void {
  if (inline.length === 0 && !record) throw new PolykeyError('REFUSED', 'a node needs at least one key slot')
  const both = Buffer.alloc(2 * SLOT_AREA_SIZE)
  fs.readSync(fd, both, 0, both.length, SLOT_AREAS_OFFSET)
  const gen = [0, 1].map((i) => {
    try {
      return decodeSlotArea(both.subarray(i * SLOT_AREA_SIZE, (i + 1) * SLOT_AREA_SIZE))?.generation ?? -1
    } catch {
      return -1 // damaged: not in force
    }
  })
  const active = gen[0] >= gen[1] ? 0 : 1
  const generation = Math.max(gen[0], gen[1], 0) + 1
  const bytes = encodeSlotArea({ generation, slots: inline, record }) // throws before any write when they do not fit
  const target = 1 - active
  writeFull(fd, bytes, SLOT_AREAS_OFFSET + target * SLOT_AREA_SIZE)
  fs.fsyncSync(fd)
  writeFull(fd, Buffer.alloc(SLOT_AREA_SIZE), SLOT_AREAS_OFFSET + active * SLOT_AREA_SIZE)
  fs.fsyncSync(fd)
}

export function readHead(fd: number): Buffer {
  const b = Buffer.alloc(SLOT_AREAS_OFFSET + 2 * SLOT_AREA_SIZE)
  const n = fs.readSync(fd, b, 0, b.length, 0)
  if (n < b.length) throw corrupt('node file is truncated inside its key slots', { region: 'slots' })
  return b
}

function writeFull(fd: number, b: Buffer, pos: number): void {
  let done = 0
  while (done < b.length) done += fs.writeSync(fd, b, done, b.length - done, pos + done)
}
