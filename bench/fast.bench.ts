// Issue 18's benchmark: the command line against its peers, through an unlocked node's agent
// (`polykey unlock --timeout 0`), bin/polykey run as a script runs it (its own process):
//  (a) `polykey secret get` vs `pass show` of the same value (real pass and gpg, a throwaway
//      GNUPGHOME with its gpg-agent running, as a pass user has) — goal ≤ 0.5; moonshot ≤ 5 ms;
//  (b) the same vs `node -e 0` (what any Node-based CLI pays before its first line);
//  (c) `polykey env REPO -- true` with 20 secrets vs 20 × `pass show` — goal ≤ 1.0;
//  and, for reference, `secret get` with the fast client off (POLYKEY_NO_FAST_CLIENT=1).
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { type Report, compare, polykeyEnv } from './lib.js'

export const title = 'command line vs pass (fast client)'

const here = path.dirname(fileURLToPath(import.meta.url))
const ROOT = path.resolve(here, '../..')
const BIN = path.join(ROOT, 'bin', 'polykey')
const CLIENT = path.join(ROOT, 'native', 'build', 'client', 'polykey-client')
const PASS = 'bench-pass'
const VALUE = 'correct-horse-battery-staple-0123456789'

function must(r: ReturnType<typeof spawnSync>, what: string, out?: string): void {
  if (r.status !== 0) throw new Error(`${what}: exit ${r.status}: ${r.stderr}`)
  if (out !== undefined && String(r.stdout) !== out) throw new Error(`${what}: unexpected output ${JSON.stringify(String(r.stdout).slice(0, 60))}`)
}

export async function run(r: Report): Promise<void> {
  if (!fs.existsSync(CLIENT)) console.log('  (the native client is not built: polykey below is Node alone)')
  const work = fs.mkdtempSync(path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'pk-bench-fast-'))
  const node = path.join(work, 'node.pk')
  const gnupg = path.join(work, 'gnupg')
  const store = path.join(work, 'store')
  const withPass = polykeyEnv(PASS, node)
  const agentOnly = { ...withPass, POLYKEY_PASSPHRASE: undefined } as NodeJS.ProcessEnv
  delete agentOnly.POLYKEY_PASSPHRASE
  const passEnv = { ...process.env, GNUPGHOME: gnupg, PASSWORD_STORE_DIR: store }
  const pk = (args: string[], env: NodeJS.ProcessEnv, input?: string) => spawnSync(BIN, args, { env, input, encoding: 'utf8', maxBuffer: 1 << 26 })
  let unlocked = false
  try {
    // ---- the node, unlocked; 20 secrets for env
    must(pk(['init', '--kdf', 'test'], withPass), 'polykey init')
    must(pk(['repo', 'create', 'app'], withPass), 'repo create')
    must(pk(['repo', 'create', 'env20'], withPass), 'repo create')
    must(pk(['secret', 'put', 'app/db'], withPass, VALUE), 'secret put')
    for (let i = 0; i < 20; i++) must(pk(['secret', 'put', `env20/S${i}`], withPass, `${VALUE}-${i}`), 'secret put')
    must(pk(['unlock', '--timeout', '0'], withPass), 'polykey unlock')
    unlocked = true

    // ---- pass with a throwaway key (no passphrase on it: gpg-agent answers at once, as a
    // pass user's agent does once it has the passphrase)
    fs.mkdirSync(gnupg, { mode: 0o700 })
    must(
      spawnSync('gpg', ['--batch', '--passphrase', '', '--quick-gen-key', 'bench <bench@example.org>', 'future-default', 'default', 'never'], { env: passEnv, encoding: 'utf8' }),
      'gpg --quick-gen-key',
    )
    must(spawnSync('pass', ['init', 'bench@example.org'], { env: passEnv, encoding: 'utf8' }), 'pass init')
    must(spawnSync('pass', ['insert', '-m', 'app/db'], { env: passEnv, input: VALUE, encoding: 'utf8' }), 'pass insert')
    const passShow = () => must(spawnSync('pass', ['show', 'app/db'], { env: passEnv, encoding: 'utf8' }), 'pass show', VALUE)
    const get = () => must(pk(['secret', 'get', 'app/db'], agentOnly), 'polykey secret get', VALUE)
    const envTrue = () => must(pk(['env', 'env20', '--', 'true'], agentOnly), 'polykey env')

    // ---- (a) secret get vs pass show
    const a = await compare(get, passShow, 21)
    r.add({ name: 'secret get (unlocked agent)', value: a.a, unit: 'ms', baseline: { name: 'pass show', value: a.b }, goal: '<= 0.5' })
    r.ratio('secret get, absolute (moonshot <= 5 ms)', a.a / 5, '<= 1', `${a.a.toFixed(2)} ms`)

    // ---- (b) secret get vs node -e 0
    const b = await compare(get, () => spawnSync(process.execPath, ['-e', '0'], { env: withPass }), 21)
    r.add({ name: 'secret get (unlocked agent)', value: b.a, unit: 'ms', baseline: { name: 'node -e 0', value: b.b } })

    // ---- (c) env with 20 secrets vs 20 × pass show
    const c = await compare(envTrue, passShow, 11)
    r.add({ name: 'env REPO -- true, 20 secrets', value: c.a, unit: 'ms', baseline: { name: '20 x pass show', value: 20 * c.b }, goal: '<= 1.0' })

    // ---- the client run as the program itself (a symlink to it on PATH: no sh in between)
    if (fs.existsSync(CLIENT)) {
      const direct = () => must(spawnSync(CLIENT, ['secret', 'get', 'app/db'], { env: agentOnly, encoding: 'utf8' }), 'polykey-client secret get', VALUE)
      const e = await compare(direct, passShow, 21)
      r.add({ name: 'secret get, client as the program (no sh)', value: e.a, unit: 'ms', baseline: { name: 'pass show', value: e.b }, goal: '<= 0.5' })
    }

    // ---- reference: the same get through Node's client
    const slow = { ...agentOnly, POLYKEY_NO_FAST_CLIENT: '1' }
    const d = await compare(() => must(pk(['secret', 'get', 'app/db'], slow), 'secret get (node)', VALUE), get, 7)
    r.add({ name: 'secret get, Node client (POLYKEY_NO_FAST_CLIENT)', value: d.a, unit: 'ms', baseline: { name: 'fast client', value: d.b } })
  } finally {
    if (unlocked) spawnSync(BIN, ['lock'], { env: agentOnly })
    spawnSync('gpgconf', ['--kill', 'gpg-agent'], { env: passEnv })
    fs.rmSync(work, { recursive: true, force: true })
  }
}
