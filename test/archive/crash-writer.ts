// The child process of crash.test.ts. It loads, then waits for a line on stdin (so the test can
// start it ahead of time), takes the node lock, and saves state i+1, i+2, … in a loop, printing
// each i once its save has returned, until it is killed (SIGKILL).
import { NodeFile } from '../../src/archive/nodefile.js'
import { NodeLock } from '../../src/archive/lock.js'
import { crashState } from './crash-state.js'

const [file, passphrase] = process.argv.slice(2)
await new Promise((resolve) => process.stdin.once('data', resolve))
await NodeLock.acquire(file, 5000) // never released: the next writer takes over the dead one's lock
const nf = NodeFile.open(file, { passphrase: Buffer.from(passphrase) }, { writable: true })
let i = Number(nf.read('state').toString())
process.stdout.write(`ready ${i}\n`)
for (;;) {
  i++
  nf.commit(crashState(i).changes)
  process.stdout.write(`${i}\n`)
}
