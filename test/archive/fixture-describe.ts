// What a frozen node file holds, as one JSON document: fixture.test.ts compares a fixture with
// its expected.json through this, and make-fixture.sh wrote expected.json with it once
// (`node dist/test/archive/fixture-describe.js NODE PASSPHRASE`).
import path from 'node:path'
import os from 'node:os'
import crypto from 'node:crypto'
import fs from 'node:fs'
import { fileURLToPath } from 'node:url'
import * as tarStream from 'tar-stream'
import { NodeFile } from '../../src/archive/nodefile.js'
import { HEADER_SIZE, SLOT_AREA_SIZE, decodeSlotArea } from '../../src/archive/codec.js'
import { spawnSync } from 'node:child_process'
import { cli, layout } from './util.js'

const sha256 = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex')

export interface TarMember {
  name: string
  type: string
  mode: string
  size: number
  linkname?: string
  sha256?: string
}

export async function tarMembers(tar: Buffer): Promise<TarMember[]> {
  const extract = tarStream.extract()
  const out: TarMember[] = []
  extract.on('entry', (h: any, stream: any, next: () => void) => {
    const chunks: Buffer[] = []
    stream.on('data', (c: Buffer) => chunks.push(c))
    stream.on('end', () => {
      const m: TarMember = { name: h.name, type: h.type, mode: (h.mode & 0o7777).toString(8), size: h.size }
      if (h.linkname) m.linkname = h.linkname
      if (h.type === 'file') m.sha256 = sha256(Buffer.concat(chunks))
      out.push(m)
      next()
    })
    stream.resume()
  })
  const done = new Promise<void>((resolve, reject) => {
    extract.on('finish', resolve)
    extract.on('error', reject)
  })
  extract.end(tar)
  await done
  return out
}

/** The format-level view: key slots, segments, every member (no vault semantics). */
export function describeNode(file: string, passphrase: string) {
  const bytes = fs.readFileSync(file)
  const areas = [0, 1].map((i) => decodeSlotArea(bytes.subarray(HEADER_SIZE + i * SLOT_AREA_SIZE, HEADER_SIZE + (i + 1) * SLOT_AREA_SIZE)))
  const nf = NodeFile.open(file, { passphrase: Buffer.from(passphrase) })
  try {
    const members = [...nf.entries()]
      .sort((a, b) => (a.path < b.path ? -1 : 1))
      .map((e) => ({
        path: e.path,
        type: e.type,
        mode: e.mode.toString(8),
        mtime: e.mtime,
        ...(e.type === 'file' ? { size: e.size, sha256: sha256(nf.readEntry(e)) } : {}),
        ...(e.type === 'link' ? { target: e.target } : {}),
      }))
    return {
      fileBytes: bytes.length,
      sha256: sha256(bytes),
      fileId: nf.fileId.toString('hex'),
      saves: nf.seq,
      keySlots: areas.map((a) => (a ? { generation: a.generation, slots: a.slots.map((s) => ({ type: s.type, kdf: s.type === 'passphrase' ? s.params : undefined })) } : null)),
      segments: layout(file, passphrase).segments.map((s) => ({ seq: s.seq, offset: s.start, bytes: s.end - s.start, index: s.trailer.indexKind, members: s.trailer.memberCount })),
      members,
    }
  } finally {
    nf.close()
  }
}

/** The user-level view, through the CLI: info, every secret's value, tags, the exported tar. */
export async function describeThroughCli(frozen: string, passphrase: string) {
  // A copy: each `secret get` below is recorded in the node's read audit (a save), and a frozen
  // fixture must never change.
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'pk-fixture-'))
  const file = path.join(scratch, path.basename(frozen))
  fs.copyFileSync(frozen, file)
  try {
    return await describeCopy(file, passphrase)
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true })
  }
}

async function describeCopy(file: string, passphrase: string) {
  const opts = { node: file, pass: passphrase }
  const must = async (args: string[]) => {
    const r = await cli(args, opts)
    if (r.code !== 0) throw new Error(`${args.join(' ')}: exit ${r.code}: ${r.stderr}`)
    return r
  }
  const info = JSON.parse((await must(['info', '--json'])).out)
  delete info.node
  const format = describeNode(file, passphrase)
  // Before any `secret get`: each is recorded in the node's read audit (.polykey/audit/ members).
  const tar = (await must(['export', 'tar'])).stdout
  const secrets: Record<string, string | { size: number; sha256: string }> = {}
  const tags: Record<string, Record<string, string>> = {}
  for (const m of format.members) {
    const parts = m.path.split('/')
    if (parts[0] === 'repos' && parts.length === 3 && m.type === 'file') {
      const value = (await must(['secret', 'get', `${parts[1]}/${parts[2]}`])).stdout
      secrets[`${parts[1]}/${parts[2]}`] = value.length <= 100 ? value.toString() : { size: value.length, sha256: sha256(value) }
    }
    if (parts[0] === 'tags' && parts.length === 3 && m.type === 'link') (tags[parts[1]] ??= {})[parts[2]] = m.target!
  }
  const gnu = spawnSync('tar', ['tf', '-'], { input: tar, encoding: 'utf8' })
  if (gnu.status !== 0) throw new Error(`tar tf: ${gnu.stderr}`)
  return { info, secrets, tags, tarNames: gnu.stdout.trim().split('\n'), tar: await tarMembers(tar), format }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [file, passphrase] = process.argv.slice(2)
  process.stdout.write(JSON.stringify({ passphrase, ...(await describeThroughCli(file, passphrase)) }, null, 2) + '\n')
}
