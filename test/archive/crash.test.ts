// Crash safety: a child process saves in a loop (crash-writer.ts) and is killed with SIGKILL at
// random moments — inside a write, between write and fsync, inside a compaction, while opening
// or taking the lock. After every kill the node opens to a state that was once saved, no older
// than the last save the writer reported as done, and the next writer carries on from there.
import test from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { NodeFile } from '../../src/archive/nodefile.js'
import { PASS, tmpdir } from '../helpers.js'
import { TEST_KDF } from './util.js'
import { bigOf, crashState, expectedSmall } from './crash-state.js'

const WRITER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'crash-writer.js')
const KILLS = 55

interface Run {
  ready: number | null
  acked: number | null
}

/** A writer process, started ahead of time: it loads, then waits for go(). */
class Writer {
  readonly run: Run = { ready: null, acked: null }
  readonly done: Promise<Run>
  private readonly child: ChildProcess
  private killAfterReadyMs: number | null = null

  constructor(file: string) {
    this.child = spawn(process.execPath, [WRITER, file, PASS], { stdio: ['pipe', 'pipe', 'pipe'] })
    let buf = ''
    let err = ''
    this.child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString()
      let nl: number
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl)
        buf = buf.slice(nl + 1)
        if (line.startsWith('ready ')) {
          this.run.ready = Number(line.slice(6))
          if (this.killAfterReadyMs !== null) setTimeout(() => this.kill(), this.killAfterReadyMs)
        } else if (line) this.run.acked = Number(line)
      }
    })
    this.child.stderr!.on('data', (d: Buffer) => (err += d.toString()))
    this.child.stdin!.on('error', () => {})
    this.done = new Promise((resolve, reject) => {
      this.child.on('error', reject)
      this.child.on('close', (code, signal) => {
        if (signal !== 'SIGKILL') return reject(new Error(`writer ended by itself (${code}): ${err}`))
        resolve(this.run)
      })
    })
  }

  /** Start writing; SIGKILL it some milliseconds after it is ready, or after go() itself. */
  go(after: { ready: number } | { go: number }): Promise<Run> {
    if ('ready' in after) this.killAfterReadyMs = after.ready
    else setTimeout(() => this.kill(), after.go)
    this.child.stdin!.write('go\n')
    const stuck = setTimeout(() => this.kill(), 10_000) // a stuck writer fails below, not the run
    return this.done.finally(() => clearTimeout(stuck))
  }

  kill(): void {
    this.child.kill('SIGKILL')
  }
}

function checkState(file: string, warnings: string[]): number {
  const nf = NodeFile.open(file, { passphrase: Buffer.from(PASS) }, { warn: (m) => warnings.push(m) })
  try {
    const i = Number(nf.read('state').toString())
    assert.ok(Number.isInteger(i) && i >= 0, `state member ${nf.read('state')}`)
    assert.ok(nf.read('big').equals(bigOf(i)), `big of state ${i}`)
    const small = expectedSmall(i)
    const members = [...nf.entries()].map((e) => e.path).sort()
    assert.deepEqual(members, ['big', ...small.keys(), 'state'].sort(), `members of state ${i}`)
    for (const [p, v] of small) assert.equal(nf.read(p).toString(), v, `${p} in state ${i}`)
    return i
  } finally {
    nf.close()
  }
}

test(`SIGKILL at ${KILLS} random moments: the node always opens to a state that was saved`, { timeout: 120_000 }, async (t) => {
  const dir = tmpdir(t)
  const file = path.join(dir, 'crash.pk')
  NodeFile.create(file, Buffer.from(PASS), TEST_KDF, crashState(0).changes).close()
  let state = 0
  const warnings: string[] = []
  let saves = 0
  let midStartup = 0
  let next = new Writer(file)
  t.after(() => next.kill())
  for (let k = 0; k < KILLS; k++) {
    const writer = next
    next = new Writer(file) // loads while this one runs
    // Most kills land while saving; every fifth lands anywhere from the start on (taking over the
    // dead writer's lock, opening, recovering an interrupted tail).
    const run = await writer.go(k % 5 === 4 ? { go: Math.random() * 30 } : { ready: Math.random() * 30 })
    if (run.ready !== null) assert.equal(run.ready, state, 'the writer starts from the state last seen')
    else midStartup++
    const floor = run.acked ?? run.ready ?? state
    const now = checkState(file, warnings)
    assert.ok(now >= floor, `kill ${k}: state ${now} is older than the last save reported done (${floor})`)
    assert.ok(now <= floor + 1, `kill ${k}: state ${now} was never written (last started: ${floor + 1})`)
    saves += now - state
    state = now
  }
  next.kill()
  await next.done
  const leftovers = fs.readdirSync(dir).filter((f) => f.includes('.compact-'))
  t.diagnostic(
    `${KILLS} kills, ${saves} saves survived, ${warnings.length} opens found an interrupted save, ${midStartup} kills before the writer was ready, ${leftovers.length} compaction temp files left behind`,
  )
  assert.ok(saves >= KILLS / 5, 'the writer made progress between kills')
})
