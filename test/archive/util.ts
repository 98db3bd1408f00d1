// Helpers for the node-file tests: the CLI in this process (fast enough to run hundreds of
// times), a map of a node file's regions (docs/FORMAT.md), and small byte tools.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Readable, Writable } from 'node:stream'
import { main } from '../../src/cli/main.js'
import type { IO } from '../../src/cli/context.js'
import { NodeFile, type Change } from '../../src/archive/nodefile.js'
import { BODY_OFFSET, HEADER_SIZE, SEGMENT_HEADER_SIZE, SLOT_AREA_SIZE, TRAILER_SIZE, decodeSegmentHeader, decodeTrailer, type Trailer } from '../../src/archive/codec.js'
import { KDF_PROFILES, subkey, wipe } from '../../src/crypto/index.js'
import { PASS, type RunResult } from '../helpers.js'

export const TEST_KDF = KDF_PROFILES.test

/**
 * Run the CLI's main() in this process with captured output — the same code path as
 * bin/polykey minus the process start. Tests that must see the real process (exit status,
 * terminal detection) use run() from ../helpers.js instead.
 */
export async function cli(
  args: string[],
  opts: { node?: string; pass?: string; input?: Buffer | string; stdoutIsTTY?: boolean; env?: Record<string, string> } = {},
): Promise<RunResult> {
  const out: Buffer[] = []
  const err: Buffer[] = []
  const sink = (to: Buffer[]) => new Writable({ write: (c: Buffer, _e, cb) => (to.push(Buffer.from(c)), cb()) })
  const env: NodeJS.ProcessEnv = { HOME: process.env.HOME, PATH: process.env.PATH, XDG_STATE_HOME: process.env.XDG_STATE_HOME, POLYKEY_PASSPHRASE: opts.pass ?? PASS, ...opts.env }
  if (opts.node) env.POLYKEY_NODE = opts.node
  const io: IO = {
    stdin: Readable.from([Buffer.from(opts.input ?? '')]),
    stdout: sink(out),
    stderr: sink(err),
    stdinIsTTY: false,
    stderrIsTTY: false,
    stdoutIsTTY: !!opts.stdoutIsTTY,
    env,
    cwd: process.cwd(),
  }
  const code = await main(args, io)
  const stdout = Buffer.concat(out)
  return { code, stdout, stderr: Buffer.concat(err).toString(), out: stdout.toString() }
}

/** What a user may see on stderr: `polykey: error|hint|warning: …` lines, never a stack trace. */
export function cleanStderr(stderr: string): boolean {
  const lines = stderr.split('\n').filter((l) => l !== '')
  return lines.every((l) => /^polykey: (error|hint|warning): /.test(l)) && lines.filter((l) => l.startsWith('polykey: error: ')).length <= 1
}

export interface Region {
  name: string
  start: number
  end: number
}
export interface SegmentMap {
  start: number
  end: number
  seq: number
  trailer: Trailer
  regions: Region[] // segment header, chunks (if any), index block, trailer
}

/** The regions of a node file, found by walking its segments with the file's own keys. */
export function layout(file: string, passphrase = PASS): { size: number; head: Region[]; segments: SegmentMap[] } {
  const nf = NodeFile.open(file, { passphrase: Buffer.from(passphrase) })
  const macKey = subkey(nf.masterKey, 'trailer')
  const fileId = nf.fileId
  nf.close()
  const bytes = fs.readFileSync(file)
  const segments: SegmentMap[] = []
  let off = BODY_OFFSET
  while (off < bytes.length) {
    const sh = decodeSegmentHeader(bytes.subarray(off, off + SEGMENT_HEADER_SIZE))
    if (!sh) throw new Error(`no segment header at ${off}`)
    const end = off + sh.length
    const trailer = decodeTrailer(bytes.subarray(end - TRAILER_SIZE, end), fileId, macKey)
    if (!trailer || trailer.seq !== sh.seq || trailer.segStart !== off) throw new Error(`bad trailer for the segment at ${off}`)
    const regions: Region[] = [{ name: `segment ${sh.seq} header`, start: off, end: off + SEGMENT_HEADER_SIZE }]
    if (trailer.indexOffset > off + SEGMENT_HEADER_SIZE) regions.push({ name: `segment ${sh.seq} chunks`, start: off + SEGMENT_HEADER_SIZE, end: trailer.indexOffset })
    regions.push({ name: `segment ${sh.seq} ${trailer.indexKind} index`, start: trailer.indexOffset, end: trailer.indexOffset + trailer.indexLength })
    regions.push({ name: `segment ${sh.seq} trailer`, start: end - TRAILER_SIZE, end })
    segments.push({ start: off, end, seq: sh.seq, trailer, regions })
    off = end
  }
  wipe(macKey)
  const head: Region[] = [
    { name: 'header', start: 0, end: HEADER_SIZE },
    { name: 'slot area A', start: HEADER_SIZE, end: HEADER_SIZE + SLOT_AREA_SIZE },
    { name: 'slot area B', start: HEADER_SIZE + SLOT_AREA_SIZE, end: BODY_OFFSET },
  ]
  return { size: bytes.length, head, segments }
}

/** Every member's bytes (files and hardlinks followed) plus its metadata, as one comparable value. */
export function snapshot(nf: NodeFile): Record<string, string> {
  const out: Record<string, string> = {}
  for (const e of [...nf.entries()].sort((a, b) => (a.path < b.path ? -1 : 1))) {
    const body = e.type === 'file' ? nf.readEntry(e).toString('hex') : e.type === 'link' ? `-> ${e.target}` : ''
    out[e.path] = `${e.type} ${e.mode.toString(8)} ${e.mtime} ${body}`
  }
  return out
}

export function openSnapshot(file: string, passphrase = PASS): { seq: number; members: Record<string, string> } {
  const nf = NodeFile.open(file, { passphrase: Buffer.from(passphrase) })
  try {
    return { seq: nf.seq, members: snapshot(nf) }
  } finally {
    nf.close()
  }
}

/** A node file built straight through NodeFile (no vault), one commit per batch. */
export function buildNode(file: string, batches: Change[][], passphrase = PASS): void {
  const nf = NodeFile.create(file, Buffer.from(passphrase), TEST_KDF, batches[0] ?? [])
  try {
    for (const b of batches.slice(1)) nf.commit(b)
  } finally {
    nf.close()
  }
}

export function copyWith(src: string, dst: string, edit: (b: Buffer) => Buffer): string {
  fs.writeFileSync(dst, edit(Buffer.from(fs.readFileSync(src))), { mode: 0o600 })
  return dst
}

export function flipByte(b: Buffer, at: number, mask = 0x01): Buffer {
  b[at] ^= mask
  return b
}

export function put(p: string, data: string | Buffer, mtime = 1_700_000_000_000): Change {
  return { op: 'put', path: p, type: 'file', data: Buffer.from(data), mtime }
}
export function dir(p: string, mtime = 1_700_000_000_000): Change {
  return { op: 'put', path: p, type: 'dir', mtime }
}

export function sibling(file: string, name: string): string {
  return path.join(path.dirname(file), name)
}

/** The scripted history every CLI-level test node goes through: one save per step. */
export const HISTORY: { args: string[]; input?: string }[] = [
  { args: ['repo', 'create', 'aws'] },
  { args: ['secret', 'put', 'aws/access-key'], input: 'AKIAFAKEFAKEFAKE0001' },
  { args: ['secret', 'put', 'aws/secret-key'], input: 'fake-secret-key-value-0002' },
  { args: ['repo', 'create', 'db'] },
  { args: ['secret', 'put', 'db/password'], input: 'hunter2-but-longer-0003' },
  { args: ['tag', 'add', 'prod', 'aws/access-key'] },
  { args: ['secret', 'put', 'db/password'], input: 'rotated-password-0004' },
  { args: ['secret', 'put', 'db/big'], input: 'x'.repeat(150_000) },
]

/**
 * A node made through the CLI (in this process), with the `export tar` bytes of every saved
 * state keyed by its save counter (seq).
 */
export async function buildCliNode(dir: string): Promise<{ node: string; states: Map<number, Buffer>; last: number }> {
  const node = path.join(dir, 'node.pk')
  const states = new Map<number, Buffer>()
  const record = async () => {
    const info = await cli(['info', '--json'], { node })
    if (info.code !== 0) throw new Error(info.stderr)
    const tar = await cli(['export', 'tar'], { node })
    if (tar.code !== 0) throw new Error(tar.stderr)
    const seq = JSON.parse(info.out).saves as number
    states.set(seq, tar.stdout)
    return seq
  }
  const init = await cli(['init', '--kdf', 'test'], { node })
  if (init.code !== 0) throw new Error(init.stderr)
  let last = await record()
  for (const step of HISTORY) {
    const r = await cli(step.args, { node, input: step.input })
    if (r.code !== 0) throw new Error(`${step.args.join(' ')}: ${r.stderr}`)
    last = await record()
  }
  return { node, states, last }
}

let shared: Promise<{ node: string; states: Map<number, Buffer>; last: number }> | null = null

/**
 * A private copy (in `dir`) of the node buildCliNode makes, built once per test file: the tests
 * that only read it, or damage their own copy, need not pay for the history again.
 */
export async function cliNodeCopy(dir: string): Promise<{ node: string; states: Map<number, Buffer>; last: number }> {
  shared ??= (async () => {
    const base = fs.mkdtempSync(path.join(os.tmpdir(), 'pk-test-shared-'))
    process.on('exit', () => fs.rmSync(base, { recursive: true, force: true }))
    return buildCliNode(base)
  })()
  const built = await shared
  const node = path.join(dir, 'node.pk')
  fs.copyFileSync(built.node, node)
  return { ...built, node }
}
