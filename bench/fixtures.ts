// The secrets every mount benchmark serves: `count` small values spread over `repos` repositories.
import crypto from 'node:crypto'
import { NodeFile } from '../src/archive/nodefile.js'
import { ArchiveStore } from '../src/vault/archive-store.js'
import { Vault } from '../src/vault/vault.js'
import { createNode } from '../src/vault/node.js'
import { KDF_PROFILES } from '../src/crypto/index.js'

export function* benchFiles(count: number, repos = 1): Generator<[string, Buffer]> {
  for (let i = 0; i < count; i++) {
    const r = i % repos
    yield [`repos/r${String(r).padStart(3, '0')}/s${String(i).padStart(6, '0')}`, Buffer.from(`secret-value-${i}-${crypto.createHash('sha1').update(String(i)).digest('hex')}\n`)]
  }
}

/** A node holding benchFiles(count, repos), one commit per repository. */
export async function buildBenchNode(file: string, pass: Buffer, count: number, repos = 1): Promise<void> {
  createNode(file, pass, KDF_PROFILES.test)
  const nf = NodeFile.open(file, { passphrase: pass }, { writable: true })
  const store = new ArchiveStore(nf)
  const vault = new Vault(store, { name: 'bench', email: 'bench@polykey' })
  const byRepo = new Map<string, Map<string, Buffer>>()
  for (const [p, data] of benchFiles(count, repos)) {
    const [, repo, name] = p.split('/')
    if (!byRepo.has(repo)) byRepo.set(repo, new Map())
    byRepo.get(repo)!.set(name, data)
  }
  for (const [repo, secrets] of byRepo) {
    vault.repoCreate(repo)
    vault.secretPutMany(repo, secrets, `import ${secrets.size} secrets`)
  }
  store.flush()
  nf.close()
}
