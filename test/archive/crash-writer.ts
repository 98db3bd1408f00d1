// The child process of crash.test.ts: takes the node lock, then saves state i+1, i+2, … in a
// loop, printing each i once its save has returned, until it is killed (SIGKILL).
import { NodeFile } from '../../src/archive/nodefile.js'
import { NodeLock } from '../../src/archive/lock.js'
import { crashState } from './crash-state.js'

const [file, passphrase] = process.argv.slice(2)
const lock = await NodeLock.acquire(file, 5000)
const nf = NodeFile.open(file, { passphrase: Buffer.from(passphrase) }, { writable: true })
let i = Number(nf.read('state').toString())
process.stdout.write(`ready ${i}\n`)
for (;;) {
  i++
  nf.commit(crashState(i).changes)
  process.stdout.write(`${i}\n`)
}
// (never reached: the parent kills us; the stale lock is the next writer's to recover)
void lock
