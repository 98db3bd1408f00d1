// The audit log's chain and rotation on an in-memory store (no mount): appended in batches,
// checked end to end, the oldest chunk dropped behind a checkpoint that the chain starts from.
import test from 'node:test'
import assert from 'node:assert/strict'
import { MemStore } from '../../src/vault/mem-store.js'
import { AUDIT_DIR, AuditLog, CHUNK_RECORDS, MAX_CHUNKS, recordBody, recordBodyFast, recordHash, type AuditEvent } from '../../src/vault/audit.js'
import { scriptArg } from '../../src/fuse/proc.js'

const ev = (i: number): AuditEvent => ({
  time: 1_700_000_000_000 + i,
  via: 'mount',
  secret: `r/s${i % 7}`,
  pid: 100 + i,
  exe: '/usr/bin/cat',
  cmdline: ['cat', `s${i}`],
  script: null,
  allowed: i % 5 !== 0,
  reason: i % 5 ? null : 'no-rule',
})

test('audit record vector (docs/FORMAT.md "Audit log")', () => {
  const r = {
    seq: 1,
    time: 1764631962000,
    via: 'mount' as const,
    secret: 'aws/access-key',
    pid: 4242,
    exe: '/usr/bin/cat',
    cmdline: ['cat', 'repos/aws/access-key'],
    script: null,
    allowed: true,
    reason: null,
    prev: '0'.repeat(64),
  }
  assert.equal(recordHash(recordBody(r)), '263a536cb8dc25e1729720569ab438a690c68bf86c56f1e58292a4f6a64360c2')
})

test("the mount's fast record body is recordBody's text: odd names, a process's array reused, its exe changed, unusual values", () => {
  const shared = ['vim', 'naïve "quoted" \\ name', '\u0001\n']
  const events: AuditEvent[] = [
    ev(1),
    { ...ev(2), cmdline: shared, exe: '/usr/bin/vim', script: null },
    { ...ev(3), cmdline: shared, exe: '/usr/bin/vim', script: null, secret: 'r/é"\\\u2028' },
    { ...ev(4), cmdline: shared, exe: '/usr/bin/nvim', script: '/tmp/x "y"' }, // the same array, another program
    { ...ev(5), cmdline: shared, exe: '/usr/bin/nvim', script: null, reason: 'loader LD_PRELOAD' },
    { ...ev(6), cmdline: [], via: 'get', pid: 0 },
    { ...ev(7), time: 1.5 }, // not an integer: recordBody itself
    { ...ev(8), script: undefined as unknown as null }, // a missing field: recordBody leaves it out
  ]
  for (const [i, e] of events.entries()) {
    const prev = i % 2 ? '0'.repeat(64) : recordHash(String(i))
    assert.equal(recordBodyFast(e, i + 1, prev), recordBody({ ...e, seq: i + 1, prev }), `event ${i}`)
  }
})

test('audit chain: batches append, the first record follows the zero hash, each the one before', () => {
  const s = new MemStore()
  const log = new AuditLog(s)
  for (let i = 0; i < 3; i++) log.record(ev(i))
  log.flush()
  log.record(ev(3))
  const { records, chain } = new AuditLog(s).read() // a fresh reader sees what was flushed
  assert.equal(chain.ok, true)
  assert.deepEqual(
    records.map((r) => r.seq),
    [1, 2, 3],
  )
  assert.equal(records[0].prev, '0'.repeat(64))
  assert.equal(records[1].prev, records[0].hash)
  assert.equal(records[2].hash, recordHash(recordBody(records[2])))
  assert.equal(log.read().records.length, 4)
})

test('audit rotation: at most MAX_CHUNKS chunks; the dropped ones are counted and the chain still checks', () => {
  const s = new MemStore()
  const log = new AuditLog(s)
  const total = CHUNK_RECORDS * (MAX_CHUNKS + 2) + 5
  for (let i = 0; i < total; i++) log.record(ev(i))
  log.flush()
  const chunks = s.list(AUDIT_DIR).filter((n) => n.startsWith('log-'))
  assert.equal(chunks.length, MAX_CHUNKS)
  const { records, chain } = new AuditLog(s).read()
  assert.equal(chain.ok, true, chain.why)
  assert.equal(chain.dropped, total - records.length)
  assert.equal(records[records.length - 1].seq, total)
  assert.equal(records[0].seq, chain.dropped + 1)
  // Dropping one more chunk by hand (not through rotation) breaks the chain at its first record.
  s.remove(`${AUDIT_DIR}/${chunks[0]}`)
  const after = new AuditLog(s).read().chain
  assert.equal(after.ok, false)
  assert.equal(after.brokenAt, chain.dropped + 1)
})

test('script of an interpreter: first non-option argument; inline code has none', () => {
  assert.equal(scriptArg('python3', ['-u', 'x.py', 'a']), 'x.py')
  assert.equal(scriptArg('python3', ['-W', 'ignore', 'x.py']), 'x.py')
  assert.equal(scriptArg('python3', ['-c', 'print(1)']), null)
  assert.equal(scriptArg('python3', ['-m', 'http.server']), null)
  assert.equal(scriptArg('bash', ['-x', 'run.sh']), 'run.sh')
  assert.equal(scriptArg('bash', ['-ec', 'cat x']), null)
  assert.equal(scriptArg('node', ['--require', 'hook.js', 'app.js']), 'app.js')
  assert.equal(scriptArg('node', ['-e', 'x']), null)
  assert.equal(scriptArg('sh', []), null)
})
