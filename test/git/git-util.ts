// Real git for the git tests: a private HOME (no user config), the helper on PATH, and a node's
// repository exported to a plain git repository to check with `git verify-commit`.
import fs from 'node:fs'
import path from 'node:path'
import { spawnSync } from 'node:child_process'
import { ROOT, collect, run, tmpdir } from '../helpers.js'

export const hasGit = spawnSync('git', ['--version']).status === 0 && spawnSync('ssh-keygen', ['-?']).error === undefined

/** An environment for real git: own HOME, the helper beside polykey on PATH, an identity. */
export function gitEnv(home: string, extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  fs.mkdirSync(home, { recursive: true })
  return {
    ...process.env,
    HOME: home,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_AUTHOR_NAME: 'Real Git',
    GIT_AUTHOR_EMAIL: 'me@example.org',
    GIT_COMMITTER_NAME: 'Real Git',
    GIT_COMMITTER_EMAIL: 'me@example.org',
    GIT_TERMINAL_PROMPT: '0',
    PATH: `${path.join(ROOT, 'bin')}:${process.env.PATH}`,
    ...extra,
  }
}

export async function git(cwd: string, args: string[], env: Record<string, string | undefined>) {
  const r = await collect('git', args, { env, cwd, timeoutMs: 60_000 })
  return { ...r, out: r.stdout.toString() }
}

/** `polykey export tar` of `node`, unpacked; returns the folder of REPO (a git repository). */
export async function exportRepo(t: { after(fn: () => void): void }, node: string, repo: string): Promise<string> {
  const dir = tmpdir(t, 'pk-export-')
  const tar = await run(['export', 'tar'], { node })
  if (tar.code !== 0) throw new Error(`export failed: ${tar.stderr}`)
  const x = spawnSync('tar', ['x', '-C', dir], { input: tar.stdout })
  if (x.status !== 0) throw new Error(`tar failed: ${x.stderr}`)
  return path.join(dir, 'repos', repo)
}

/** `git verify-commit` with gpg.format=ssh and the allowed-signers file `polykey repo signers` wrote. */
export async function verifyCommit(repoDir: string, rev: string, signers: string, env: Record<string, string | undefined>) {
  const file = path.join(path.dirname(repoDir), `signers-${Math.random().toString(36).slice(2)}`)
  fs.writeFileSync(file, signers)
  return git(repoDir, ['-c', 'gpg.format=ssh', '-c', `gpg.ssh.allowedSignersFile=${file}`, 'verify-commit', '-v', rev], env)
}
