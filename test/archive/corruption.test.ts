// A flipped byte anywhere in a real node file — header, key-slot areas, segment headers, member
// chunks, index blocks, trailers — is either detected (exit 4, one `polykey: error:` line) or
// harmless (exit 0 and the exact original data). Never wrong data, never a stack trace.
import test from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { run, tmpdir } from '../helpers.js'
import { PolykeyError } from '../../src/errors.js'
import { cliNodeCopy, cleanStderr, cli, copyWith, flipByte, layout, openSnapshot, type Region } from './util.js'

/** Offsets to flip in a region: its edges and a spread of its inside. */
function sample(r: Region, every: number): number[] {
  const out = new Set<number>([r.start, r.start + 1, r.end - 1])
  for (let o = r.start; o < r.end; o += every) out.add(o)
  out.add(r.start + ((r.end - r.start) >> 1))
  return [...out].filter((o) => o >= r.start && o < r.end).sort((a, b) => a - b)
}

test('a flipped byte in any region: exit 4 or the exact original data', async (t) => {
  const dir = tmpdir(t)
  const { node, states, last } = await cliNodeCopy(dir)
  const original = states.get(last)!
  const map = layout(node)
  const lastSeg = map.segments[map.segments.length - 1]
  const targets: { region: Region; offsets: number[]; mustDetect: boolean }[] = []
  const [header, areaA, areaB] = map.head
  targets.push({ region: header, offsets: sample(header, 3), mustDetect: true })
  // Area A holds the only passphrase slot (area B is empty until the passphrase changes).
  targets.push({ region: areaA, offsets: sample(areaA, 37), mustDetect: true })
  targets.push({ region: areaB, offsets: sample(areaB, 101), mustDetect: false })
  for (const seg of map.segments) {
    for (const r of seg.regions) {
      const isLast = seg === lastSeg
      const live = isLast && (r.name.endsWith('trailer') || r.name.includes('index'))
      targets.push({ region: r, offsets: sample(r, isLast && r.name.endsWith('trailer') ? 3 : r.name.includes('chunks') ? 8009 : 97), mustDetect: live })
    }
  }
  const file = path.join(dir, 'flipped.pk')
  const tally = { detected: 0, harmless: 0, cli: 0 }
  const originalMembers = openSnapshot(node).members
  let n = 0
  for (const { region, offsets, mustDetect } of targets) {
    for (const at of offsets) {
      copyWith(node, file, (b) => flipByte(b, at, 1 << (at % 8)))
      const where = `${region.name}, byte ${at}`
      // Every flip through the node file API (fast); every third one through the CLI as well.
      let detected = false
      try {
        assert.deepEqual(openSnapshot(file).members, originalMembers, `${where}: opened with different data`)
      } catch (err) {
        if (!(err instanceof PolykeyError)) throw err
        assert.ok(['CORRUPT', 'UNSUPPORTED'].includes(err.code), `${where}: ${err.code} ${err.message}`)
        detected = true
      }
      assert.ok(detected || !mustDetect, `${where}: a live region was damaged and not detected`)
      if (detected) tally.detected++
      else tally.harmless++
      if (n++ % 3 !== 0) continue
      tally.cli++
      const r = await cli(['export', 'tar'], { node: file })
      assert.ok(cleanStderr(r.stderr), `${where}: stderr ${JSON.stringify(r.stderr)}`)
      if (detected) {
        assert.equal(r.code, 4, `${where}: exit ${r.code} ${r.stderr}`)
        assert.match(r.stderr, /^polykey: error: /m, where)
        // The tar streams member by member: what came out before the damage must be a prefix of
        // the original (correct bytes, and no end-of-archive marker, so tar reports it cut short).
        assert.ok(r.stdout.equals(original.subarray(0, r.stdout.length)), `${where}: exit 4 after writing wrong bytes`)
        assert.ok(r.stdout.length < original.length - 1024)
      } else {
        assert.equal(r.code, 0, `${where}: exit ${r.code} ${r.stderr}`)
        assert.ok(r.stdout.equals(original), `${where}: exit 0 with different data`)
      }
    }
  }
  t.diagnostic(`${tally.detected} flips detected (exit 4), ${tally.harmless} harmless (the exact original data); ${tally.cli} of them through the CLI`)
  assert.ok(tally.detected > 100)
})

test("damage inside one member's chunk: exit 4 for export and verify, other members still read", async (t) => {
  const dir = tmpdir(t)
  const { node } = await cliNodeCopy(dir)
  const map = layout(node)
  // The last segment wrote db/big (150,000 bytes: three chunks); damage its second chunk.
  const chunks = map.segments[map.segments.length - 1].regions.find((r) => r.name.endsWith('chunks'))!
  const file = copyWith(node, path.join(dir, 'bad-chunk.pk'), (b) => flipByte(b, chunks.start + 70_000, 0x40))
  const exp = await cli(['export', 'tar'], { node: file })
  assert.equal(exp.code, 4)
  assert.ok(cleanStderr(exp.stderr), exp.stderr)
  assert.match(exp.stderr, /failed authentication/)
  const verify = await cli(['verify'], { node: file })
  assert.equal(verify.code, 4)
  assert.ok(cleanStderr(verify.stderr), verify.stderr)
  // Members stored elsewhere still read.
  const get = await cli(['secret', 'get', 'aws/access-key'], { node: file })
  assert.equal(get.code, 0, get.stderr)
  assert.equal(get.out, 'AKIAFAKEFAKEFAKE0001')
})

test('the real process: damaged trailer, header or slots is one error line and exit 4', async (t) => {
  const dir = tmpdir(t)
  const { node } = await cliNodeCopy(dir)
  const size = fs.statSync(node).size
  const cases = [
    ['trailer', size - 40, ['export', 'tar']],
    ['header', 20, ['info']],
    ['slots', 100, ['verify']],
  ] as const
  for (const [name, at, cmd] of cases) {
    const file = copyWith(node, path.join(dir, `${name}.pk`), (b) => flipByte(b, at, 0x08))
    {
      const r = await run([...cmd], { node: file })
      assert.equal(r.code, 4, `${name} ${cmd.join(' ')}: ${r.stderr}`)
      const lines = r.stderr.trim().split('\n')
      assert.match(lines[0], /^polykey: error: /)
      assert.ok(lines.length <= 2 && cleanStderr(r.stderr), r.stderr)
    }
  }
})
