// The read audit (docs/SECURITY.md "Read audit", docs/FORMAT.md "Audit log"): every open of a
// secret through the mount and every value the CLI hands out, as an append-only, hash-chained
// log inside the node (.polykey/audit/). Each record carries the hash of the one before it, so a
// record edited or taken out breaks the chain where it was; a head member names the last record,
// so records cut off the end are noticed too.
//
// Records are batched in memory (record() only pushes an object: the read path stays cheap)
// and written by flush(), which the mount calls from its normal coalesced save. The log is kept
// in chunks of CHUNK_RECORDS records (one node-file member each, so a save rewrites only the
// newest chunk); beyond MAX_CHUNKS the oldest chunk is dropped and a checkpoint keeps the
// count, the last dropped sequence number and hash, so the chain still starts somewhere checked.
import { hash } from '../crypto/index.js'
import { type Store, join } from './store.js'
import { META } from './vault.js'

export const AUDIT_DIR = join(META, 'audit')
export const CHUNK_RECORDS = 200
export const MAX_CHUNKS = 100
/** Records waiting in memory before the mount saves them at once (about 2 MB). */
export const MAX_PENDING = 5000
const ZERO = '0'.repeat(64)
const CHECKPOINT = join(AUDIT_DIR, 'checkpoint')
const HEAD = join(AUDIT_DIR, 'head')
const CHUNK = /^log-(\d{12})$/

export type AuditVia = 'mount' | 'get' | 'env' | 'otp'

/** What happened: recorded by the mount or the CLI. */
export interface AuditEvent {
  /** ms since the epoch */
  time: number
  via: AuditVia
  /** REPO/NAME, or history/REPO/WHEN-COMMIT/NAME for a past version */
  secret: string
  pid: number
  exe: string
  cmdline: string[]
  script: string | null
  allowed: boolean
  /** why it was refused, a stable code: 'no-rule', 'out-of-scope', 'loader NAME[,NAME]', 'unidentified' */
  reason: string | null
}

export interface AuditRecord extends AuditEvent {
  seq: number
  prev: string
  hash: string
}

export interface Checkpoint {
  version: 1
  /** records dropped by rotation so far */
  dropped: number
  throughSeq: number
  lastHash: string
}

export interface ChainState {
  ok: boolean
  /** the sequence number where the chain breaks (the first record that does not follow) */
  brokenAt?: number
  why?: string
  dropped: number
}

// ----------------------------------------------------------------------------- pure codec
/** The bytes a record's hash covers: its fields in a fixed order, the previous hash included. */
export function recordBody(r: Omit<AuditRecord, 'hash'>): string {
  return JSON.stringify({
    seq: r.seq,
    time: r.time,
    via: r.via,
    secret: r.secret,
    pid: r.pid,
    exe: r.exe,
    cmdline: r.cmdline,
    script: r.script,
    allowed: r.allowed,
    reason: r.reason,
    prev: r.prev,
  })
}

/**
 * recordBody's bytes, made faster for the mount's batches: the process's fields (exe, cmdline,
 * script) are the same for every open a process makes, so their JSON is made once per cmdline
 * array (the gate hands the same one for a process) and kept. Anything unusual goes through
 * recordBody itself; the two are the same text (test/guard/audit-log.test.ts).
 */
const processJson = new WeakMap<readonly string[], { exe: string; script: string | null; json: string }>()
export function recordBodyFast(e: AuditEvent, seq: number, prev: string): string {
  const plain =
    Number.isSafeInteger(e.time) &&
    Number.isSafeInteger(e.pid) &&
    Number.isSafeInteger(seq) &&
    typeof e.via === 'string' &&
    typeof e.secret === 'string' &&
    typeof e.exe === 'string' &&
    Array.isArray(e.cmdline) &&
    (e.script === null || typeof e.script === 'string') &&
    typeof e.allowed === 'boolean' &&
    (e.reason === null || typeof e.reason === 'string') &&
    typeof prev === 'string'
  if (!plain) return recordBody({ ...e, seq, prev })
  let p = processJson.get(e.cmdline)
  if (!p || p.exe !== e.exe || p.script !== e.script) {
    p = { exe: e.exe, script: e.script, json: `"exe":${JSON.stringify(e.exe)},"cmdline":${JSON.stringify(e.cmdline)},"script":${JSON.stringify(e.script)}` }
    processJson.set(e.cmdline, p)
  }
  return `{"seq":${seq},"time":${e.time},"via":${JSON.stringify(e.via)},"secret":${JSON.stringify(e.secret)},"pid":${e.pid},${p.json},"allowed":${e.allowed},"reason":${JSON.stringify(e.reason)},"prev":${JSON.stringify(prev)}}`
}

/** BLAKE2b-256 of the body, hex. */
export function recordHash(body: string): string {
  return hash(Buffer.from(body, 'utf8')).toString('hex')
}

export function encodeRecord(r: AuditRecord): string {
  const body = recordBody(r)
  return body.slice(0, -1) + `,"hash":${JSON.stringify(r.hash)}}`
}

export function decodeRecord(line: string): AuditRecord | null {
  try {
    const o = JSON.parse(line) as AuditRecord
    return typeof o?.seq === 'number' && typeof o.hash === 'string' && typeof o.prev === 'string' ? o : null
  } catch {
    return null
  }
}

// ----------------------------------------------------------------------------- the log
export class AuditLog {
  private pending: AuditEvent[] = []
  /** called when the first record of a batch arrives (the mount schedules a save), and with full = true once MAX_PENDING wait */
  onPending: ((full: boolean) => void) | null = null
  private tail: { seq: number; hash: string; chunk: string | null; lines: string[] } | null = null

  constructor(private readonly store: Store) {}

  record(e: AuditEvent): void {
    this.pending.push(e)
    if (this.pending.length === 1 || this.pending.length >= MAX_PENDING) this.onPending?.(this.pending.length >= MAX_PENDING)
  }

  get pendingCount(): number {
    return this.pending.length
  }

  private chunks(): string[] {
    return this.store
      .list(AUDIT_DIR)
      .filter((n) => CHUNK.test(n))
      .sort()
  }

  private checkpoint(): Checkpoint | null {
    const raw = this.store.readFile(CHECKPOINT)
    if (!raw) return null
    try {
      return JSON.parse(raw.toString('utf8')) as Checkpoint
    } catch {
      return { version: 1, dropped: -1, throughSeq: -1, lastHash: '' }
    }
  }

  private lines(chunk: string): string[] {
    const raw = this.store.readFile(join(AUDIT_DIR, chunk))
    return raw
      ? raw
          .toString('utf8')
          .split('\n')
          .filter((l) => l !== '')
      : []
  }

  private loadTail() {
    if (this.tail) return this.tail
    const chunks = this.chunks()
    const cp = this.checkpoint()
    let t = { seq: cp?.throughSeq ?? 0, hash: cp?.lastHash ?? ZERO, chunk: null as string | null, lines: [] as string[] }
    if (chunks.length) {
      const chunk = chunks[chunks.length - 1]
      const lines = this.lines(chunk)
      const last = lines.length ? decodeRecord(lines[lines.length - 1]) : null
      if (last) t = { seq: last.seq, hash: last.hash, chunk, lines }
    }
    this.tail = t
    return t
  }

  /** Write what was recorded into the store (the caller saves the node). */
  flush(): void {
    if (!this.pending.length) return
    const batch = this.pending
    this.pending = []
    const t = this.loadTail()
    this.store.mkdir(META)
    this.store.mkdir(AUDIT_DIR)
    for (const e of batch) {
      if (t.chunk === null || t.lines.length >= CHUNK_RECORDS) {
        if (t.chunk !== null) this.writeChunk(t.chunk, t.lines)
        t.chunk = `log-${String(t.seq + 1).padStart(12, '0')}`
        t.lines = []
        this.rotate()
      }
      const body = recordBodyFast(e, t.seq + 1, t.hash)
      const h = recordHash(body)
      t.lines.push(`${body.slice(0, -1)},"hash":"${h}"}`) // = encodeRecord, without a second stringify
      t.seq++
      t.hash = h
    }
    this.writeChunk(t.chunk!, t.lines)
    this.store.writeFile(HEAD, Buffer.from(JSON.stringify({ seq: t.seq, hash: t.hash }) + '\n'), { mode: 0o600 })
  }

  private writeChunk(chunk: string, lines: string[]): void {
    this.store.writeFile(join(AUDIT_DIR, chunk), Buffer.from(lines.join('\n') + '\n'), { mode: 0o600 })
  }

  /** Keep at most MAX_CHUNKS chunks (the one being started included): drop the oldest, checkpointed. */
  private rotate(): void {
    const chunks = this.chunks()
    while (chunks.length >= MAX_CHUNKS) {
      const oldest = chunks.shift()!
      const lines = this.lines(oldest)
      const last = decodeRecord(lines[lines.length - 1] ?? '')
      const cp = this.checkpoint() ?? { version: 1 as const, dropped: 0, throughSeq: 0, lastHash: ZERO }
      if (last)
        this.store.writeFile(CHECKPOINT, Buffer.from(JSON.stringify({ version: 1, dropped: cp.dropped + lines.length, throughSeq: last.seq, lastHash: last.hash }) + '\n'), {
          mode: 0o600,
        })
      this.store.remove(join(AUDIT_DIR, oldest))
    }
  }

  /** Every kept record (flushing first) and whether the chain holds. */
  read(): { records: AuditRecord[]; chain: ChainState } {
    this.flush()
    const cp = this.checkpoint()
    const records: AuditRecord[] = []
    let chain: ChainState = { ok: true, dropped: cp?.dropped ?? 0 }
    const broken = (at: number, why: string) => {
      if (chain.ok) chain = { ok: false, brokenAt: at, why, dropped: chain.dropped }
    }
    if (cp && (cp.version !== 1 || cp.dropped < 0 || !/^[0-9a-f]{64}$/.test(cp.lastHash))) broken(1, 'the rotation checkpoint is damaged')
    let seq = cp?.throughSeq ?? 0
    let prev = cp?.lastHash ?? ZERO
    for (const chunk of this.chunks()) {
      if (Number(CHUNK.exec(chunk)![1]) !== seq + 1) broken(seq + 1, `records ${seq + 1}… are missing (the next kept chunk starts at ${Number(CHUNK.exec(chunk)![1])})`)
      for (const line of this.lines(chunk)) {
        const r = decodeRecord(line)
        if (!r) {
          broken(seq + 1, 'a record does not parse')
          continue
        }
        records.push(r)
        if (r.seq !== seq + 1) broken(seq + 1, r.seq > seq + 1 ? `records ${seq + 1}–${r.seq - 1} are missing` : `record ${r.seq} is out of order`)
        else if (r.prev !== prev) broken(r.seq, 'it does not follow the record before it (one was removed or edited)')
        else if (recordHash(recordBody(r)) !== r.hash) broken(r.seq, 'it was edited after it was written')
        seq = r.seq
        prev = r.hash
      }
    }
    const headRaw = this.store.readFile(HEAD)
    if (headRaw || seq > 0) {
      let head: { seq: number; hash: string } | null = null
      try {
        head = headRaw ? JSON.parse(headRaw.toString('utf8')) : null
      } catch {}
      if (!head) broken(seq + 1, 'the head record is missing or damaged')
      else if (head.seq > seq) broken(seq + 1, `records ${seq + 1}–${head.seq} were cut off the end`)
      else if (head.seq !== seq || head.hash !== prev) broken(head.seq, 'the head does not match the last record')
    }
    return { records, chain }
  }
}

const logs = new WeakMap<Store, AuditLog>()

/** The one audit log of a store (the mount's batch and the agent's commands share it). */
export function auditLog(store: Store): AuditLog {
  let l = logs.get(store)
  if (!l) logs.set(store, (l = new AuditLog(store)))
  return l
}
