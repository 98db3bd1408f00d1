// Issue 14's benchmarks: (a) `git clone polykey::NODE#REPO` of a 1,000-commit repository vs
// `git clone` of the same history from a local bare repository over git's own transport
// (file://, which runs upload-pack as a remote would), in two modes:
//   - unlocked (the everyday case, and the one the goal is for): the user ran `polykey unlock`
//     (or has the node mounted), so an agent holds the node open and indexed; git runs
//     bin/git-remote-polykey, whose native fast path (native/client/git-remote.c) asks the agent
//     for the pack and hands it to `git index-pack`: no Node start-up, no unlock.
//   - locked: no agent; the helper is Node, which unlocks the node file with the key source the
//     CLI would use (here POLYKEY_PASSPHRASE, with the cheap test KDF), opens it, packs, exits.
// A plain local clone (hardlinks, no transport) is shown too.
// (b) what signing adds to `import dir` of 10,000 secrets in 100 folders (100 signed commits),
// measured in-process on a node file so that CLI start-up does not hide it.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { type Report, compare, polykeyEnv, time } from './lib.js'
import { benchFiles } from './fixtures.js'
import { createNode, OpenNode } from '../src/vault/node.js'
import { NodeFile } from '../src/archive/nodefile.js'
import { ArchiveStore } from '../src/vault/archive-store.js'
import { Vault } from '../src/vault/vault.js'
import { nodeAuthor } from '../src/vault/author.js'
import { KDF_PROFILES, signingKeyPair } from '../src/crypto/index.js'

export const title = 'git'
const here = path.dirname(fileURLToPath(import.meta.url))
const BINDIR = path.resolve(here, '../../bin')
const PASS = 'bench-pass'
const COMMITS = 1000
const SECRETS = 100

function sh(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: Buffer } = {}): Buffer {
  const r = spawnSync(cmd, args, { cwd: opts.cwd, env: opts.env, input: opts.input, maxBuffer: 1 << 30 })
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`)
  return r.stdout
}

export async function run(r: Report): Promise<void> {
  const base = fs.mkdtempSync(path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'pk-bench-git-'))
  try {
    // ---- (a) clone of 1,000 commits
    const node = path.join(base, 'node.pk')
    createNode(node, Buffer.from(PASS), KDF_PROFILES.test)
    const n = await OpenNode.open(node, { passphrase: Buffer.from(PASS) }, { write: true })
    n.vault.repoCreate('bench')
    for (let i = 0; i < COMMITS; i++) n.vault.secretPut('bench', `secret-${String(i % SECRETS).padStart(3, '0')}`, Buffer.from(`value ${i} ${'x'.repeat(i % 40)}\n`))
    n.save()
    n.close()
    const env: NodeJS.ProcessEnv = { ...polykeyEnv(PASS, node), PATH: `${BINDIR}:${process.env.PATH}`, GIT_CONFIG_NOSYSTEM: '1', HOME: base }
    const exp = path.join(base, 'export')
    fs.mkdirSync(exp)
    sh('tar', ['x', '-C', exp], { input: sh(process.execPath, [path.join(BINDIR, 'polykey'), 'export', 'tar'], { env }) })
    const bare = path.join(base, 'bare.git')
    sh('git', ['clone', '-q', '--bare', '--no-local', path.join(exp, 'repos', 'bench'), bare], { env })
    sh('git', ['-C', bare, 'repack', '-adq'], { env })
    let i = 0
    const clone = (url: string) => () => {
      const dir = path.join(base, `c${i++}`)
      sh('git', ['clone', '-q', url, dir], { env })
      fs.rmSync(dir, { recursive: true, force: true })
    }
    console.log('  unlocked = the everyday case (after `polykey unlock`: the agent holds the node open; the helper is native); the goal is for it')
    console.log('  locked = no agent: the Node helper unlocks the node file with $POLYKEY_PASSPHRASE (test KDF), opens it and packs')
    const polykey = (...args: string[]) => sh(process.execPath, [path.join(BINDIR, 'polykey'), ...args], { env })
    polykey('unlock') // as a user does: the default idle timeout, rewritten after every command
    let u: { a: number; b: number }
    try {
      u = await compare(clone(`polykey::${node}#bench`), clone(`file://${bare}`), 9)
    } finally {
      polykey('lock')
    }
    r.add({ name: `git clone polykey:: unlocked (${COMMITS} commits)`, value: u.a, unit: 'ms', baseline: { name: 'git clone file:// of a bare repo', value: u.b }, goal: '<= 2' })
    const c = await compare(clone(`polykey::${node}#bench`), clone(`file://${bare}`), 7)
    r.add({ name: `git clone polykey:: locked (${COMMITS} commits)`, value: c.a, unit: 'ms', baseline: { name: 'git clone file:// of a bare repo', value: c.b } })
    const local = await time(clone(bare), 5)
    r.add({ name: `git clone polykey:: locked (${COMMITS} commits)`, value: c.a, unit: 'ms', baseline: { name: 'git clone of a local path (hardlinks)', value: local } })

    // ---- (b) signing on import dir of 10,000 secrets (100 folders)
    const byRepo = new Map<string, Map<string, Buffer>>()
    for (const [p, data] of benchFiles(10_000, 100)) {
      const [, repo, name] = p.split('/')
      if (!byRepo.has(repo)) byRepo.set(repo, new Map())
      byRepo.get(repo)!.set(name, data)
    }
    const kp = signingKeyPair()
    const id = kp.publicKey.toString('hex')
    let k = 0
    const importDir = (signed: boolean) => () => {
      const file = path.join(base, `imp${k++}.pk`)
      createNode(file, Buffer.from(PASS), KDF_PROFILES.test)
      const nf = NodeFile.open(file, { passphrase: Buffer.from(PASS) }, { writable: true })
      const store = new ArchiveStore(nf)
      const v = new Vault(store, nodeAuthor(store, id, signed ? kp : null))
      for (const [repo, secrets] of byRepo) {
        v.repoCreate(repo)
        v.secretPutMany(repo, secrets, `import ${secrets.size} secrets`)
      }
      store.flush()
      nf.close()
      fs.rmSync(file)
    }
    const s = await compare(importDir(true), importDir(false), 7)
    r.add({ name: 'import dir 10,000 secrets, signed commits', value: s.a, unit: 'ms', baseline: { name: 'the same, unsigned', value: s.b }, goal: '<= 1.1' })
  } finally {
    fs.rmSync(base, { recursive: true, force: true })
  }
}
