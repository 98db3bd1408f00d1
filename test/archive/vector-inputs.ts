// The fixed inputs of the test vectors (docs/FORMAT.md §Test vectors) and the codec calls that
// turn them into bytes. vectors.test.ts pins the outputs.
import {
  chainLink,
  chunkAd,
  encodeHeader,
  encodeIndex,
  encodeSegmentHeader,
  encodeSlotArea,
  encodeTrailer,
  encryptMember,
  indexAd,
  wrapPassphraseSlot,
  wrapKeyFileSlot,
  encodeSlotBody,
  encodeSlotRecord,
  slotRecordPointer,
  type Entry,
} from '../../src/archive/codec.js'
import { gpgSlotFromMessage } from '../../src/archive/slots.js'
import { KDF_PROFILES, deriveFromKeyFile, deriveFromPassphrase, hash, seal, subkey } from '../../src/crypto/index.js'
import { recordBody, recordHash } from '../../src/vault/audit.js'

const seqBytes = (from: number, n: number) => Buffer.from(Array.from({ length: n }, (_, i) => (from + i) & 0xff))

// Fixed inputs (FORMAT.md lists the same).
export const fileId = seqBytes(0x00, 16)
export const master = seqBytes(0x00, 32)
const salt = seqBytes(0xa0, 16)
const slotNonce = seqBytes(0xb0, 24)
const indexNonce = seqBytes(0xd0, 24)
const chunkNonce = seqBytes(0xe0, 24)
const blobId = seqBytes(0x10, 16)
const passphrase = Buffer.from('polykey-vector')
export const keyFile = seqBytes(0x60, 32)
const fingerprint = seqBytes(0x30, 20)
/** A stand-in for gpg's output (gpg's own is random): the codec stores the message as it is. */
const openpgpMessage = seqBytes(0x80, 16)
const added = 1_700_000_000
export const tokenEntry: Entry = { path: 'repos/demo/token', type: 'file', mode: 0o600, mtime: 1_700_000_000_000, size: 10, offset: 1120, blobId, target: '' }

export function vectors(): Record<string, Buffer> {
  // The version-1 vectors stay as they were (docs/FORMAT.md §Versioning); version 2 adds its own.
  const header = encodeHeader({ version: 1, fileId })
  const kek = deriveFromPassphrase(passphrase, salt, KDF_PROFILES.test)
  const slot = wrapPassphraseSlot(header, kek, master, KDF_PROFILES.test, salt, slotNonce)
  const keys = { data: subkey(master, 'data'), index: subkey(master, 'index'), trailer: subkey(master, 'trailer'), seal: subkey(master, 'seal'), slot: subkey(master, 'slot') }
  const keyFileKek = deriveFromKeyFile(keyFile)
  const keyFileSlot = wrapKeyFileSlot(header, keyFileKek, master, added, 'ci.key', slotNonce)
  const gpgSlot = gpgSlotFromMessage(header, master, fingerprint, added, openpgpMessage)
  const index = encodeIndex('delta', [
    { op: 'put', entry: { path: 'repos/demo', type: 'dir', mode: 0o700, mtime: 1_700_000_000_000, size: 0, offset: 0, blobId: null, target: '' } },
    { op: 'put', entry: tokenEntry },
    { op: 'put', entry: { path: 'tags/prod/token', type: 'link', mode: 0o600, mtime: 1_700_000_000_000, size: 0, offset: 0, blobId: null, target: 'repos/demo/token' } },
    { op: 'delete', path: 'repos/demo/old' },
  ])
  const indexBlock = Buffer.concat([indexNonce, seal(keys.index, indexNonce, index, indexAd(fileId, 1170, 2))])
  const trailer = encodeTrailer(
    {
      seq: 2,
      segStart: 1088,
      indexOffset: 1170,
      indexLength: indexBlock.length,
      indexKind: 'delta',
      prevTrailer: 960_000,
      chainBytes: indexBlock.length,
      chainCount: 1,
      memberCount: 7,
      liveBytes: 50,
    },
    fileId,
    keys.trailer,
  )
  // Version 2: the trailer of the next save (seq 3) links to the save above — its index block's
  // tag and its trailer (the 144 bytes that end it).
  const link = chainLink(Buffer.concat([indexBlock.subarray(indexBlock.length - 16), trailer]))
  const linked = encodeTrailer(
    { seq: 3, segStart: 1502, indexOffset: 1534, indexLength: 112, indexKind: 'delta', prevTrailer: 1374, chainBytes: 316, chainCount: 2, memberCount: 7, liveBytes: 50, link },
    fileId,
    keys.trailer,
  )
  // A slot record holding the gpg and key-file slots above, written right after the segment
  // header of the first save after the head (offset 1120), and the area that points to it.
  const record = encodeSlotRecord(fileId, [gpgSlot, keyFileSlot])
  const twoChunks = encryptMember(keys.data, fileId, blobId, Buffer.alloc(65537, 0x61), (i) => seqBytes(0x40 + i, 24))
  return {
    header: header,
    'argon2id-test': kek,
    'subkey-data': keys.data,
    'subkey-index': keys.index,
    'subkey-trailer': keys.trailer,
    'subkey-seal': keys.seal,
    'slot-area': encodeSlotArea({ generation: 1, slots: [slot] }),
    'subkey-slot': keys.slot,
    'keyfile-kek': keyFileKek,
    'keyfile-slot-body': encodeSlotBody(keyFileSlot),
    'gpg-slot-body': encodeSlotBody(gpgSlot),
    'slot-area-three': encodeSlotArea({ generation: 2, slots: [slot, gpgSlot, keyFileSlot] }),
    'slot-record': record,
    'slot-area-record': encodeSlotArea({ generation: 3, slots: [slot], record: slotRecordPointer(1120, record) }),
    'segment-header': encodeSegmentHeader({ seq: 2, length: 1234 }),
    'index-delta': index,
    'index-ad': indexAd(fileId, 1170, 2),
    'index-block': indexBlock,
    trailer: trailer,
    'header-v2': encodeHeader({ version: 2, fileId }),
    'chain-link': link,
    'trailer-v2': linked,
    'chunk-ad': chunkAd(fileId, blobId, 0, true),
    chunk: encryptMember(keys.data, fileId, blobId, Buffer.from('0123456789'), () => chunkNonce),
    'member-65537-blake2b': hash(twoChunks, 32),
    'audit-record': Buffer.from(
      recordHash(
        recordBody({
          seq: 1,
          time: 1764631962000,
          via: 'mount',
          secret: 'aws/access-key',
          pid: 4242,
          exe: '/usr/bin/cat',
          cmdline: ['cat', 'repos/aws/access-key'],
          script: null,
          allowed: true,
          reason: null,
          prev: '0'.repeat(64),
        }),
      ),
      'hex',
    ),
  }
}
