// Issue 13's benchmark: `polykey import pass` of a 1,000-entry store (10 folders, entries one
// and two folders deep) vs a loop of `pass show` over every entry — what a user moving by hand
// would run, and a fair measure of "the time gpg needs to decrypt it" (goal ≤ 1.2). Real gpg and
// gpg-agent in a throwaway GNUPGHOME on tmpfs, key without a passphrase.
import fs from 'node:fs'
import path from 'node:path'
import crypto from 'node:crypto'
import { execFileSync, spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { performance } from 'node:perf_hooks'
import { type Report, polykeyEnv } from './lib.js'

export const title = 'import pass'

const here = path.dirname(fileURLToPath(import.meta.url))
const BIN = path.resolve(here, '../../bin/polykey')
const PASS = 'bench-pass'
const ENTRIES = 1000

export async function run(r: Report): Promise<void> {
  if (spawnSync('pass', ['--version']).status !== 0) throw new Error('needs pass (apt-get install pass)')
  const work = fs.mkdtempSync('/dev/shm/pk-bench-pass-')
  const home = path.join(work, 'g')
  fs.mkdirSync(home, { mode: 0o700 })
  const env = { ...polykeyEnv(PASS), GNUPGHOME: home, PASSWORD_STORE_DIR: path.join(work, 'store') }
  const gpg = (args: string[]) =>
    execFileSync('gpg', ['--batch', '--no-tty', '--pinentry-mode', 'loopback', '--passphrase', '', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  try {
    gpg(['--quick-gen-key', 'Bench <bench@polykey.invalid>', 'ed25519', 'cert,sign', '0'])
    const fpr = gpg(['--with-colons', '--list-keys'])
      .toString()
      .split('\n')
      .find((l) => l.startsWith('fpr'))!
      .split(':')[9]
    gpg(['--quick-add-key', fpr, 'cv25519', 'encr', '0'])
    execFileSync('pass', ['init', fpr], { env, stdio: 'ignore' })
    // Made the fast way (one gpg encrypting every file) — what pass would write, one by one.
    const store = env.PASSWORD_STORE_DIR
    const names: string[] = []
    for (let i = 0; i < ENTRIES; i++) {
      const rel = `site${i % 10}/${i % 3 ? `group${i % 7}/` : ''}entry-${i}`
      fs.mkdirSync(path.dirname(path.join(store, rel)), { recursive: true })
      fs.writeFileSync(path.join(store, rel), `${crypto.randomBytes(12).toString('base64')}\nuser: u${i}\n`)
      names.push(rel)
    }
    gpg(['--trust-model', 'always', '-r', fpr, '--multifile', '--encrypt-files', ...names.map((n) => path.join(store, n))])
    for (const n of names) fs.rmSync(path.join(store, n))
    const empty = path.join(work, 'empty.pk')
    const init = spawnSync(process.execPath, [BIN, '--node', empty, 'init', '--kdf', 'test'], { env })
    if (init.status !== 0) throw new Error(init.stderr.toString())
    const node = path.join(work, 'node.pk')
    const script = path.join(work, 'show-all.sh')
    fs.writeFileSync(script, `while IFS= read -r n; do pass show "$n" >/dev/null || exit 1; done < ${path.join(work, 'names')}\n`)
    fs.writeFileSync(path.join(work, 'names'), names.join('\n') + '\n')
    // The pass loop takes ~40 s on a loaded 2-core machine: it runs once (after gpg-agent is warm),
    // the import three times around it (median).
    const importOnce = () => {
      fs.copyFileSync(empty, node)
      const p = spawnSync(process.execPath, [BIN, '--node', node, 'import', 'pass'], { env })
      if (p.status !== 0) throw new Error(`import pass: ${p.stderr}`)
    }
    const xs: number[] = []
    const timed = (fn: () => void) => {
      const t0 = performance.now()
      fn()
      return performance.now() - t0
    }
    importOnce()
    xs.push(timed(importOnce))
    const loop = timed(() => {
      const p = spawnSync('bash', [script], { env })
      if (p.status !== 0) throw new Error(`pass show loop: ${p.stderr}`)
    })
    xs.push(timed(importOnce), timed(importOnce))
    const c = { a: xs.sort((p, q) => p - q)[1], b: loop }
    r.add({ name: `import pass, ${ENTRIES} entries`, value: c.a, unit: 'ms', baseline: { name: 'pass show loop', value: c.b }, goal: '<= 1.2' })
  } finally {
    spawnSync('gpgconf', ['--kill', 'all'], { env })
    fs.rmSync(work, { recursive: true, force: true })
  }
}
