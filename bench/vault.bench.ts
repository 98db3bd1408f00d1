// Issue 3's benchmark, through bin/polykey as a user runs it:
//  (a) `secret get` on a 10,000-secret node vs a 10-secret node, same 'test' key-derivation
//      profile (goal ≤ 1.3: the index gives random access, the CLI does not load the whole node);
//  (b) `import dir` of 10,000 secrets in 100 folders vs real git doing `git init && git add -A &&
//      git commit` in each of those 100 folders, both on tmpfs (goal ≤ 2);
//  (c) `polykey --version` vs `node -e 0` (goal ≤ 2.5: heavy modules load only when needed).
// Children run without NODE_EXTRA_CA_CERTS (lib.ts polykeyEnv).
import fs from 'node:fs'
import path from 'node:path'
import crypto from 'node:crypto'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { type Report, compare, polykeyEnv } from './lib.js'

export const title = 'vault and CLI'

const here = path.dirname(fileURLToPath(import.meta.url))
const BIN = path.resolve(here, '../../bin/polykey')
const PASS = 'bench-pass'
const FOLDERS = 100
const PER_FOLDER = 100

const env = polykeyEnv(PASS)

function polykey(args: string[], node: string, expectOut?: string): void {
  const r = spawnSync(process.execPath, [BIN, '--node', node, ...args], { env, encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`polykey ${args.join(' ')}: exit ${r.status}: ${r.stderr}`)
  if (expectOut !== undefined && r.stdout !== expectOut) throw new Error(`polykey ${args.join(' ')}: unexpected output ${JSON.stringify(r.stdout.slice(0, 80))}`)
}

/** FOLDERS folders of PER_FOLDER small, distinct files (git would store equal values once). */
function makeTree(dir: string, folders: number, perFolder: number): Map<string, string> {
  const values = new Map<string, string>()
  for (let d = 0; d < folders; d++) {
    const folder = `repo${String(d).padStart(3, '0')}`
    fs.mkdirSync(path.join(dir, folder), { recursive: true })
    for (let i = 0; i < perFolder; i++) {
      const name = `secret-${String(i).padStart(4, '0')}`
      const value = `value-${d}-${i}-${crypto.randomBytes(16).toString('hex')}`
      fs.writeFileSync(path.join(dir, folder, name), value)
      values.set(`${folder}/${name}`, value)
    }
  }
  return values
}

const GIT_EACH_FOLDER = `set -e
for d in */; do
  (cd "$d" && git init -q && git add -A && git -c user.name=bench -c user.email=bench@example.org commit -q -m import)
done`

export async function run(r: Report): Promise<void> {
  if (!fs.existsSync('/dev/shm')) throw new Error('needs /dev/shm (tmpfs)')
  const work = fs.mkdtempSync('/dev/shm/pk-bench-vault-')
  try {
    const src = path.join(work, 'src')
    const values = makeTree(src, FOLDERS, PER_FOLDER)
    const small = path.join(work, 'small')
    makeTree(small, 1, 10)

    // ---- (a) secret get: 10,000 secrets vs 10
    const big = path.join(work, 'big.pk')
    const tiny = path.join(work, 'tiny.pk')
    for (const [node, dir] of [
      [big, src],
      [tiny, small],
    ]) {
      polykey(['init', '--kdf', 'test'], node)
      polykey(['import', 'dir', dir], node)
    }
    const bigKey = 'repo042/secret-0042'
    const get = await compare(
      () => polykey(['secret', 'get', bigKey], big, values.get(bigKey)),
      () => polykey(['secret', 'get', 'repo000/secret-0003'], tiny),
      15,
    )
    r.add({ name: 'secret get, 10,000-secret node', value: get.a, unit: 'ms', baseline: { name: '10-secret node', value: get.b }, goal: '<= 1.3' })

    // ---- (b) import dir vs git init/add/commit per folder, on tmpfs
    const runs = 3
    const fresh: string[] = [] // empty nodes, made beforehand: only the import is timed
    const trees: string[] = [] // copies of the tree for git (it writes .git into them)
    for (let i = 0; i <= runs; i++) {
      const node = path.join(work, `import-${i}.pk`)
      polykey(['init', '--kdf', 'test'], node)
      fresh.push(node)
      const copy = path.join(work, `git-${i}`)
      fs.cpSync(src, copy, { recursive: true })
      trees.push(copy)
    }
    const gitEnv = { ...env, GIT_CONFIG_NOSYSTEM: '1', HOME: work, GIT_TERMINAL_PROMPT: '0' }
    const imp = await compare(
      () => polykey(['import', 'dir', src], fresh.shift()!),
      () => {
        const g = spawnSync('sh', ['-c', GIT_EACH_FOLDER], { cwd: trees.shift()!, env: gitEnv, encoding: 'utf8' })
        if (g.status !== 0) throw new Error(`git: ${g.stderr}`)
      },
      runs,
    )
    r.add({ name: 'import dir, 10,000 secrets in 100 folders', value: imp.a, unit: 'ms', baseline: { name: 'git init+add+commit per folder', value: imp.b }, goal: '<= 2' })

    // ---- (c) start-up: --version vs an empty node process
    const start = await compare(
      () => {
        const v = spawnSync(process.execPath, [BIN, '--version'], { env })
        if (v.status !== 0) throw new Error('polykey --version failed')
      },
      () => spawnSync(process.execPath, ['-e', '0'], { env }),
      21,
    )
    r.add({ name: 'polykey --version', value: start.a, unit: 'ms', baseline: { name: 'node -e 0', value: start.b }, goal: '<= 2.5' })
  } finally {
    fs.rmSync(work, { recursive: true, force: true })
  }
}
