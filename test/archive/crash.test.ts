// Crash safety: a child process saves in a loop (crash-writer.ts) and is killed with SIGKILL at
// random moments — inside a write, between write and fsync, inside a compaction, while opening
// or taking the lock. After every kill the node opens to a state that was once saved, no older
// than the last save the writer reported as done, and the next writer carries on from there.
import test from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { spawn } from 'node:child_process'
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

function writeUntilKilled(file: string, killAfterReadyMs: number | null, killAfterSpawnMs: number | null): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WRITER, file, PASS], { stdio: ['ignore', 'pipe', 'pipe'] })
    const run: Run = { ready: null, acked: null }
    let buf = ''
    let err = ''
    const kill = () => child.kill('SIGKILL')
    if (killAfterSpawnMs !== null) setTimeout(kill, killAfterSpawnMs)
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString()
      let nl: number
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl)
        buf = buf.slice(nl + 1)
        if (line.startsWith('ready ')) {
          run.ready = Number(line.slice(6))
          if (killAfterReadyMs !== null) setTimeout(kill, killAfterReadyMs)
        } else if (line) run.acked = Number(line)
      }
    })
    child.stderr.on('data', (d: Buffer) => (err += d.toString()))
    child.on('error', reject)
    child.on('close', (code, signal) => {
      if (signal !== 'SIGKILL') return reject(new Error(`writer ended by itself (${code}): ${err}`))
      resolve(run)
    })
    setTimeout(kill, 10_000) // a stuck writer is a failure below, not a hung test
  })
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
  for (let k = 0; k < KILLS; k++) {
    // Most kills land while saving; every fifth lands anywhere from process start on (opening,
    // recovering an interrupted tail, taking over the dead writer's lock).
    const early = k % 5 === 4
    const run = await writeUntilKilled(file, early ? null : Math.random() * 40, early ? Math.random() * 300 : null)
    if (run.ready !== null) assert.equal(run.ready, state, 'the writer starts from the state last seen')
    else midStartup++
    const floor = run.acked ?? run.ready ?? state
    const now = checkState(file, warnings)
    assert.ok(now >= floor, `kill ${k}: state ${now} is older than the last save reported done (${floor})`)
    assert.ok(now <= floor + 1, `kill ${k}: state ${now} was never written (last started: ${floor + 1})`)
    saves += now - state
    state = now
  }
  const leftovers = fs.readdirSync(dir).filter((f) => f.includes('.compact-'))
  t.diagnostic(`${KILLS} kills, ${saves} saves survived, ${warnings.length} opens found an interrupted save, ${midStartup} kills before the writer was ready, ${leftovers.length} compaction temp files left behind`)
  assert.ok(saves > KILLS, 'the writer made progress between kills')
})
