// Processes for the reader/writer races of persistence.test.ts, run as separate programs so that
// they hit the mount with real system calls in tight loops (thousands of rounds in seconds,
// where a shell loop spawning cat manages a few hundred):
//   node race-tools.js read FILE STOP    open+read+close FILE until STOP exists; prints JSON
//   node race-tools.js write MODE N DIR [MS]  N saves of repos/aws/c in the mount at DIR, MS apart (rename: 5)
import fs from 'node:fs'
import path from 'node:path'

const GOOD = /^(v-\d*x?\n?)?$/

function read(file: string, stop: string): void {
  let rounds = 0
  const bad: string[] = []
  const errors: string[] = []
  while (!fs.existsSync(stop)) {
    try {
      const s = fs.readFileSync(file, 'latin1') // open, fstat, read, close
      rounds++
      if (!GOOD.test(s)) bad.push(s)
      if (rounds % 64 === 0) fs.readdirSync(path.dirname(file))
    } catch (err) {
      errors.push(`${(err as NodeJS.ErrnoException).code}: ${(err as Error).message}`)
    }
  }
  process.stdout.write(JSON.stringify({ rounds, bad: bad.slice(0, 5), nbad: bad.length, errors: errors.slice(0, 5), nerrors: errors.length }))
}

const pause = new Int32Array(new SharedArrayBuffer(4))

function write(mode: string, n: number, dir: string, pauseMs: number): void {
  const repo = path.join(dir, 'repos/aws/c')
  const tag = path.join(dir, 'tags/prod/c')
  for (let i = 1; i <= n; i++) {
    const v = `v-${i}`
    if (mode === 'rename') {
      // write-temp-then-rename, through the repository path and through the tag path
      fs.writeFileSync(path.join(dir, 'repos/aws/.c.tmp'), v)
      fs.renameSync(path.join(dir, 'repos/aws/.c.tmp'), repo)
      fs.writeFileSync(path.join(dir, 'tags/prod/.c.tmp'), v)
      fs.renameSync(path.join(dir, 'tags/prod/.c.tmp'), tag)
      // Saves a few milliseconds apart, as tools make them, not back to back: a reader stalled
      // between its path walk and its open across two renames over the file, and again on the
      // kernel's one retry, still gets ESTALE (docs/FUSE.md "Readers racing a save").
      if (pauseMs > 0) Atomics.wait(pause, 0, 0, pauseMs)
    } else {
      // truncate-and-write (O_TRUNC), append, truncate, through both paths
      fs.writeFileSync(repo, v)
      fs.writeFileSync(tag, v)
      fs.appendFileSync(repo, 'x\n')
      fs.truncateSync(tag, v.length)
      fs.writeFileSync(repo, v)
    }
  }
}

const [cmd, ...args] = process.argv.slice(2)
if (cmd === 'read') read(args[0], args[1])
else if (cmd === 'write') write(args[0], Number(args[1]), args[2], args[3] === undefined ? 5 : Number(args[3]))
else {
  process.stderr.write('usage: race-tools.js read FILE STOP | write rename|inplace N DIR [MS]\n')
  process.exitCode = 2
}
