// Issue 16's benchmark: `polykey secret grep` over a 10,000-secret node (100 repositories of
// 100, no mount) vs `grep -r` over the same 10,000 files on tmpfs (goal ≤ 2). Both are whole
// processes started from here, as a user's shell runs them (bin/polykey: the fast client when
// built). The goal is for the everyday case, through `polykey unlock`'s agent (no key
// derivation, the node open and indexed; the client's start-up and the agent's work remain).
// For information: locked (Node's start-up, unlocking with the 'test' key-derivation profile,
// decoding the index, every call), and grep in-process on the node opened once (the reading and
// matching alone), each against the same grep -r.
import fs from 'node:fs'
import path from 'node:path'
import crypto from 'node:crypto'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { type Report, compare, polykeyEnv } from './lib.js'
import { OpenNode } from '../src/vault/node.js'
import { grepSecrets } from '../src/vault/search.js'

export const title = 'everyday: secret grep'

const here = path.dirname(fileURLToPath(import.meta.url))
const BIN = path.resolve(here, '../../bin/polykey')
const PASS = 'bench-pass'
const env = polykeyEnv(PASS)

/** bin/polykey run as a shell runs it: the native fast client when built, which forwards to an agent. */
function polykey(args: string[], node: string): string {
  const r = spawnSync(BIN, ['--node', node, ...args], { env, encoding: 'utf8', maxBuffer: 64 << 20 })
  if (r.status !== 0) throw new Error(`polykey ${args.join(' ')}: exit ${r.status}: ${r.stderr}`)
  return r.stdout
}

export async function run(r: Report): Promise<void> {
  if (!fs.existsSync('/dev/shm')) throw new Error('needs /dev/shm (tmpfs)')
  const work = fs.mkdtempSync('/dev/shm/pk-bench-grep-')
  try {
    const src = path.join(work, 'src')
    // 10,000 small multi-line values; about 1 in 100 holds the pattern
    for (let d = 0; d < 100; d++) {
      const folder = path.join(src, `repo${String(d).padStart(3, '0')}`)
      fs.mkdirSync(folder, { recursive: true })
      for (let i = 0; i < 100; i++) {
        const hit = (d * 100 + i) % 97 === 0 ? 'password: needle-in-haystack\n' : ''
        fs.writeFileSync(
          path.join(folder, `secret-${String(i).padStart(4, '0')}`),
          `user: u${i}\n${hit}token: ${crypto.randomBytes(24).toString('hex')}\nurl: https://example.org/${d}/${i}\n`,
        )
      }
    }
    const node = path.join(work, 'node.pk')
    polykey(['init', '--kdf', 'test'], node)
    polykey(['import', 'dir', src], node)
    const want = spawnSync('grep', ['-rl', 'needle-in'], { cwd: src, encoding: 'utf8' }).stdout.trim().split('\n').length
    const got = polykey(['secret', 'grep', 'needle-in'], node).trim().split('\n').length
    if (got !== want) throw new Error(`polykey found ${got} secrets, grep -r ${want}`)

    const grepR = () => {
      const g = spawnSync('grep', ['-rn', 'needle-in', src], { encoding: 'utf8' })
      if (g.status !== 0) throw new Error('grep -r failed')
    }
    const cli = await compare(() => polykey(['secret', 'grep', 'needle-in'], node), grepR, 9)
    // locked: Node's start-up, unlocking and decoding the index come with every call (for information)
    r.add({ name: 'secret grep, 10,000 secrets, locked (a process)', value: cli.a, unit: 'ms', baseline: { name: 'grep -rn on tmpfs', value: cli.b } })

    // the everyday case (issue 16's goal): `polykey unlock` once, then each grep is a client
    // process and the agent's work, as `pass` users work with gpg-agent
    polykey(['unlock', '--timeout', '0'], node)
    try {
      const agent = await compare(() => polykey(['secret', 'grep', 'needle-in'], node), grepR, 9)
      r.add({ name: 'secret grep through an unlocked agent (a process)', value: agent.a, unit: 'ms', baseline: { name: 'grep -rn on tmpfs', value: agent.b }, goal: '<= 2' })
    } finally {
      polykey(['lock'], node)
    }

    const open = await OpenNode.open(node, { passphrase: Buffer.from(PASS) })
    try {
      const inproc = await compare(() => grepSecrets(open.vault, 'needle-in'), grepR, 9)
      r.add({ name: 'secret grep after unlock (in-process, as an agent)', value: inproc.a, unit: 'ms', baseline: { name: 'grep -rn on tmpfs', value: inproc.b } })
    } finally {
      open.close()
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true })
  }
}
