// A node file cut short — at every segment boundary and at points inside segments — opens the
// last complete state that was saved, or fails clearly with exit 4. A tail that a crash left
// behind is forgiven (with a warning); it is cut off by the next save.
import test from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { tmpdir } from '../helpers.js'
import { BODY_OFFSET, SEGMENT_HEADER_SIZE, TRAILER_SIZE } from '../../src/archive/codec.js'
import { NodeFile } from '../../src/archive/nodefile.js'
import { PolykeyError } from '../../src/errors.js'
import { PASS } from '../helpers.js'
import { cliNodeCopy, buildNode, cleanStderr, cli, copyWith, dir as mkdir, layout, openSnapshot, put, snapshot } from './util.js'

test('cut at every segment boundary: the state saved there; cut inside a segment: the one before', async (t) => {
  const dir = tmpdir(t)
  const { node, states } = await cliNodeCopy(dir)
  const map = layout(node)
  assert.ok(map.segments.length >= 9)
  assert.equal(map.segments[0].trailer.indexKind, 'full')
  assert.ok(
    map.segments.slice(1).every((s) => s.trailer.indexKind === 'delta'),
    'small edits append delta indexes',
  )
  const file = path.join(dir, 'cut.pk')
  const cutAt = async (size: number, withInfo = false) => {
    copyWith(node, file, (b) => b.subarray(0, size))
    // Every cut is a rollback of the same node: a fresh rollback record for each, so that the
    // warning it would rightly give (test/security/rollback.test.ts) is not the subject here.
    const env = { XDG_STATE_HOME: fs.mkdtempSync(path.join(dir, 'state-')) }
    const tar = await cli(['export', 'tar'], { node: file, env })
    const info = withInfo ? await cli(['info', '--json'], { node: file, env }) : null
    assert.ok(cleanStderr(tar.stderr) && (!info || cleanStderr(info.stderr)), `cut at ${size}: ${tar.stderr}`)
    return { tar, info }
  }
  let checked = 0
  for (const [i, seg] of map.segments.entries()) {
    // At the boundary: exactly the state saved by that segment, no warning.
    const at = await cutAt(seg.end, true)
    assert.equal(at.tar.code, 0, at.tar.stderr)
    assert.equal(at.tar.stderr, '')
    assert.equal(JSON.parse(at.info!.out).saves, seg.seq)
    assert.ok(at.tar.stdout.equals(states.get(seg.seq)!), `cut after segment ${seg.seq}`)
    // Inside it: the segment header, its chunks, its index block, its trailer.
    const idx = seg.regions.find((r) => r.name.includes('index'))!
    const inside = [
      seg.start + 1,
      seg.start + SEGMENT_HEADER_SIZE - 1,
      seg.start + SEGMENT_HEADER_SIZE,
      idx.start,
      idx.start + 30,
      seg.end - TRAILER_SIZE,
      seg.end - TRAILER_SIZE + 8,
      seg.end - 1,
    ]
    const chunks = seg.regions.find((r) => r.name.includes('chunks'))
    if (chunks) inside.push(chunks.start + 1, (chunks.start + chunks.end) >> 1)
    for (const [j, size] of inside.entries()) {
      const r = await cutAt(size, j === 0)
      checked++
      if (i === 0) {
        // Nothing complete was ever saved before the first segment: not a node.
        assert.equal(r.tar.code, 4, `cut at ${size} in the first segment: ${r.tar.stderr}`)
        assert.match(r.tar.stderr, /^polykey: error: node file has no complete saved state/)
        continue
      }
      const prev = map.segments[i - 1]
      assert.equal(r.tar.code, 0, `cut at ${size} inside segment ${seg.seq}: ${r.tar.stderr}`)
      assert.match(r.tar.stderr, /^polykey: warning: node file ends with \d+ bytes of an interrupted save; opened the last complete state\n$/)
      if (r.info) assert.equal(JSON.parse(r.info.out).saves, prev.seq)
      assert.ok(r.tar.stdout.equals(states.get(prev.seq)!), `cut at ${size}: the state of segment ${prev.seq}`)
    }
  }
  t.diagnostic(`${map.segments.length} boundaries and ${checked} cuts inside segments checked`)
})

test('cut inside the header or key slots, or to nothing: exit 4', async (t) => {
  const dir = tmpdir(t)
  const { node } = await cliNodeCopy(dir)
  const file = path.join(dir, 'cut.pk')
  for (const size of [0, 1, 8, 63, 64, 65, 576, 1000, BODY_OFFSET - 1, BODY_OFFSET, BODY_OFFSET + 1]) {
    copyWith(node, file, (b) => b.subarray(0, size))
    const r = await cli(['info'], { node: file })
    assert.equal(r.code, 4, `cut at ${size}: ${r.stderr}`)
    assert.ok(cleanStderr(r.stderr), r.stderr)
  }
})

test('the next save cuts off the interrupted tail and continues the chain', async (t) => {
  const dir = tmpdir(t)
  const { node, states, last } = await cliNodeCopy(dir)
  const size = fs.statSync(node).size
  // A crash in the middle of a save: the first half of the segment a save would have written.
  const other = path.join(dir, 'other.pk')
  fs.copyFileSync(node, other)
  assert.equal((await cli(['secret', 'put', 'aws/lost'], { node: other, input: 'never-saved' })).code, 0)
  const full = fs.readFileSync(other)
  fs.appendFileSync(node, full.subarray(size, size + ((full.length - size) >> 1)))
  const before = await cli(['export', 'tar'], { node })
  assert.equal(before.code, 0)
  assert.ok(before.stdout.equals(states.get(last)!))
  const put = await cli(['secret', 'put', 'aws/after-crash'], { node, input: 'value-after-crash' })
  assert.equal(put.code, 0, put.stderr)
  const map = layout(node)
  assert.equal(map.segments[map.segments.length - 1].start, size, 'the new segment starts where the last complete one ended')
  assert.equal(map.segments[map.segments.length - 1].seq, last + 1)
  const after = await cli(['secret', 'get', 'aws/after-crash'], { node }) // (recorded in the read audit: one more segment)
  assert.equal(after.stderr, '', 'no warning: the tail is gone')
  assert.equal(after.out, 'value-after-crash')
})

test('a tail of zeros (a crash on a filesystem that grew the file before writing it) is an interrupted save', async (t) => {
  const dir = tmpdir(t)
  const { node, states } = await cliNodeCopy(dir)
  const map = layout(node)
  const lastSeg = map.segments[map.segments.length - 1]
  const prev = map.segments[map.segments.length - 2]
  const file = path.join(dir, 'zeros.pk')
  const cases: [string, (b: Buffer) => Buffer][] = [
    ['the whole last segment is zeros', (b) => b.fill(0, lastSeg.start)],
    ['the last segment after its header is zeros', (b) => b.fill(0, lastSeg.start + SEGMENT_HEADER_SIZE)],
    ['the last segment lost its last 4 KiB block', (b) => b.fill(0, Math.max(lastSeg.start + SEGMENT_HEADER_SIZE, (lastSeg.end - 1) & ~4095))],
    ['only the trailer is zeros', (b) => b.fill(0, lastSeg.end - TRAILER_SIZE)],
    ['4 KiB of zeros after the last segment', (b) => Buffer.concat([b, Buffer.alloc(4096)])],
  ]
  for (const [name, edit] of cases) {
    copyWith(node, file, edit)
    const r = await cli(['export', 'tar'], { node: file })
    const expectSeq = name.startsWith('4 KiB') ? lastSeg.seq : prev.seq
    assert.equal(r.code, 0, `${name}: ${r.stderr}`)
    assert.ok(r.stdout.equals(states.get(expectSeq)!), name)
    assert.equal(openSnapshot(file).seq, expectSeq)
  }
})

test('a damaged last trailer in a complete segment is corruption, not an interrupted save', async (t) => {
  const dir = tmpdir(t)
  const { node } = await cliNodeCopy(dir)
  const size = fs.statSync(node).size
  const file = path.join(dir, 'bad-trailer.pk')
  // One changed byte in the last 16 bytes (the MAC): must not roll back silently to the save before.
  for (const at of [size - TRAILER_SIZE, size - 1, size - 16]) {
    copyWith(node, file, (b) => ((b[at] ^= 0xff), b))
    const r = await cli(['info'], { node: file })
    assert.equal(r.code, 4, `${at}: ${r.stderr}`)
    assert.match(r.stderr, /corrupt/)
  }
})

test('an old segment spliced onto the end is not taken for the current state', async (t) => {
  const dir = tmpdir(t)
  const { node, states, last } = await cliNodeCopy(dir)
  const map = layout(node)
  const file = path.join(dir, 'spliced.pk')
  const bytes = fs.readFileSync(node)
  // A whole old segment (with its authentic trailer) copied to the end, then half of another:
  // the old trailer is not at its own place, so it is not a saved state; the tail is ignored
  // (and reported) and the true last state opens.
  const [s1, s2] = map.segments
  const splices = [
    Buffer.concat([bytes.subarray(s1.start, s1.end), bytes.subarray(s2.start, s2.start + ((s2.end - s2.start) >> 1))]),
    bytes.subarray(s1.start, s1.end),
    bytes.subarray(s1.end - TRAILER_SIZE, s1.end),
  ]
  for (const tail of splices) {
    copyWith(node, file, (b) => Buffer.concat([b, tail]))
    const r = await cli(['export', 'tar'], { node: file })
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stderr, /^polykey: warning: node file ends with \d+ bytes of an interrupted save/)
    assert.ok(r.stdout.equals(states.get(last)!), 'the current state, not the spliced-in old one')
  }
})

test('a save torn at every byte: cut there, or zeros from there to the end, opens the state before', (t) => {
  const tmp = tmpdir(t)
  const node = path.join(tmp, 'torn.pk')
  buildNode(node, [
    [mkdir('repos'), put('repos/a', 'first value of a')],
    [put('repos/b', Buffer.alloc(70_000, 7)), put('repos/a', 'second value of a')],
    [put('repos/a', 'third value of a'), { op: 'delete', path: 'repos/b' }],
  ])
  const map = layout(node)
  const [, prev, last] = map.segments
  const expected = openSnapshot(copyWith(node, path.join(tmp, 'prev.pk'), (b) => b.subarray(0, prev.end)))
  assert.equal(expected.seq, prev.seq)
  assert.equal(openSnapshot(node).seq, last.seq)
  const file = path.join(tmp, 'cut.pk')
  const bytes = fs.readFileSync(node)
  let refused = 0
  let checked = 0
  for (let at = last.start; at < last.end; at++) {
    for (const zeros of [false, true]) {
      if (at === last.start && !zeros) continue // that is the boundary: the previous state, complete
      fs.writeFileSync(file, zeros ? Buffer.concat([bytes.subarray(0, at), Buffer.alloc(last.end - at)]) : bytes.subarray(0, at))
      checked++
      let warned = false
      let nf: NodeFile
      try {
        nf = NodeFile.open(file, { passphrase: Buffer.from(PASS) }, { warn: () => (warned = true) })
      } catch (err) {
        // Zeros over only the last few MAC bytes look like a damaged trailer: refused, not guessed.
        assert.ok(zeros && at > last.end - 16 && err instanceof PolykeyError && err.code === 'CORRUPT', `at ${at} zeros=${zeros}: ${err}`)
        refused++
        continue
      }
      try {
        assert.ok(warned, `at ${at}: the interrupted save is reported`)
        assert.deepEqual({ seq: nf.seq, members: snapshot(nf) }, expected, `at ${at} zeros=${zeros}`)
      } finally {
        nf.close()
      }
    }
  }
  t.diagnostic(`${checked} torn states checked, ${refused} refused as corrupt`)
  assert.ok(refused <= 15)
})
