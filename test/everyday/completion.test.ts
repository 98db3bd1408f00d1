// Shell completion in the real shells: commands and options from the script, names from the
// agent of a mounted node, and nothing at all — no prompt, no opening the node — without one.
import test from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { spawnSync } from 'node:child_process'
import { BIN, newNode, run, tmpdir } from '../helpers.js'
import { NO_FUSE, mountedNode, sh, q } from '../fuse/mount-helpers.js'

/** A folder with a `polykey` on it, as `npm install -g` would leave. */
function binDir(t: { after(fn: () => void): void }): string {
  const dir = tmpdir(t, 'pk-bin-')
  fs.writeFileSync(path.join(dir, 'polykey'), `#!/bin/sh\nexec ${q(process.execPath)} ${q(BIN)} "$@"\n`, { mode: 0o755 })
  return dir
}

/** What bash's completion offers for `line` (the word under the cursor is the last, maybe ''). */
async function bashComplete(bin: string, line: string, env: Record<string, string | undefined> = {}): Promise<string[]> {
  const words = line.split(' ')
  const script = `source <(polykey completion bash) || exit 9
COMP_WORDS=(${words.map(q).join(' ')}); COMP_CWORD=${words.length - 1}; COMP_LINE=${q(line)}; COMP_POINT=${line.length}
_polykey; printf '%s\\n' "\${COMPREPLY[@]}"`
  const r = await sh(script, { env: { PATH: `${bin}:${process.env.PATH}`, ...env } })
  assert.equal(r.code, 0, r.err)
  return r.out.split('\n').filter((l) => l !== '')
}

test('bash: commands, subcommands, options and choices come from the script', async (t) => {
  const bin = binDir(t)
  assert.deepEqual((await bashComplete(bin, 'polykey secret ge')).sort(), ['generate', 'get'])
  assert.deepEqual((await bashComplete(bin, 'polykey se')).sort(), ['seal', 'secret', 'serve'])
  assert.deepEqual(await bashComplete(bin, 'polykey secret generate web/x --cl'), ['--clip', '--clip-seconds'])
  assert.ok((await bashComplete(bin, 'polykey secret generate web/x --')).includes('--no-symbols'))
  assert.deepEqual(await bashComplete(bin, 'polykey completion '), ['bash', 'zsh', 'fish'])
  assert.deepEqual(await bashComplete(bin, 'polykey --node /x/y.pk repo l'), ['list', 'log'])
  assert.ok((await bashComplete(bin, 'polykey secret grep -')).includes('--show'))
  assert.ok(!(await bashComplete(bin, 'polykey ')).includes('__complete'), 'hidden commands stay hidden')
})

test('with no agent, names complete to nothing, without a prompt and without opening the node', async (t) => {
  const bin = binDir(t)
  const dir = tmpdir(t)
  const bogus = path.join(dir, 'not-a-node.pk')
  fs.writeFileSync(bogus, 'garbage: opening this would fail with exit 4')
  for (const env of [{ POLYKEY_PASSPHRASE: undefined }, { POLYKEY_PASSPHRASE: 'given' }]) {
    const r = await run(['__complete', 'secret', ''], { node: bogus, env })
    assert.deepEqual({ code: r.code, out: r.out, err: r.stderr }, { code: 0, out: '', err: '' })
  }
  assert.deepEqual(await bashComplete(bin, 'polykey secret get ', { POLYKEY_NODE: bogus, POLYKEY_PASSPHRASE: undefined }), [])
})

test('mounted (the agent answers): repository, secret and tag names; every verb without a passphrase', { skip: NO_FUSE || false }, async (t) => {
  const bin = binDir(t)
  const s = await mountedNode(t, {
    seed: { web: { github: 'user: alice\npw: s3cret\n', gitlab: 'tok' }, mail: { imap: 'otpauth://totp/x?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ' } },
  })
  await s.pkOk(['tag', 'add', 'prod', 'web/github'])
  const env = { POLYKEY_NODE: s.node, POLYKEY_PASSPHRASE: undefined }
  assert.deepEqual(await bashComplete(bin, 'polykey secret get ', env), ['mail/', 'web/'])
  assert.deepEqual(await bashComplete(bin, 'polykey secret get web/', env), ['web/github', 'web/gitlab'])
  assert.deepEqual(await bashComplete(bin, 'polykey secret mv web/github m', env), ['mail/'])
  assert.deepEqual(await bashComplete(bin, 'polykey repo log ', env), ['mail', 'web'])
  assert.deepEqual(await bashComplete(bin, 'polykey tag list ', env), ['prod'])
  assert.deepEqual(await bashComplete(bin, 'polykey secret grep pw ', env), ['mail', 'web'])

  // the verbs through the agent: s.pk gives no passphrase while mounted
  const gen = await s.pkOk(['secret', 'generate', 'web/new', '--no-symbols'])
  assert.match(gen, /^[A-Za-z0-9]{24}\n$/)
  assert.equal(await s.pkOk(['secret', 'get', 'web/new']), gen.trimEnd())
  assert.equal((await s.pk(['secret', 'generate', 'web/new'])).code, 1)
  assert.equal(await s.pkOk(['otp', 'mail/imap'], { env: { POLYKEY_TEST_TIME: '59' } }), '287082\n')
  assert.equal(await s.pkOk(['secret', 'find', 'prod']), 'web/github\n')
  assert.equal(await s.pkOk(['secret', 'grep', 's3cret']), 'web/github:2\n')
  await s.pkOk(['secret', 'cp', 'web/gitlab', 'mail/gitlab'])
  assert.equal(fs.readFileSync(s.repo('mail', 'gitlab'), 'utf8'), 'tok', 'the mount sees the copy at once')
})

test('zsh and fish: the scripts load in the real shells, and fish completes from them', async (t) => {
  const bin = binDir(t)
  const env = { PATH: `${bin}:${process.env.PATH}`, HOME: tmpdir(t) }
  const has = (c: string) => spawnSync('sh', ['-c', `command -v ${c}`], { stdio: 'ignore' }).status === 0
  if (has('zsh')) {
    const r = await sh(`zsh -f -c 'source <(polykey completion zsh) && (( $+functions[_polykey_bash] )) && echo loaded'`, { env })
    assert.equal(r.out.trim(), 'loaded', r.err)
    // as bashcompinit's compgen calls it (sh emulation: arrays from 0); zsh itself then filters by prefix
    const words = `f() { emulate -L sh; setopt kshglob noshglob braceexpand; COMP_WORDS=(polykey completion ''); COMP_CWORD=2; _polykey_bash; printf '%s\\n' "\${COMPREPLY[@]}"; }`
    const z = await sh(`zsh -f -c ${q(`source <(polykey completion zsh); ${words}; f`)}`, { env })
    assert.deepEqual(z.out.trim().split('\n'), ['bash', 'zsh', 'fish'], z.err)
  } else t.diagnostic('zsh missing: skipped')
  if (has('fish')) {
    const r = await sh(`fish --no-config -c 'polykey completion fish | source; complete -C "polykey secret ge"; complete -C "polykey secret grep --sh"'`, { env })
    assert.equal(r.code, 0, r.err)
    const offered = r.out.split('\n').map((l) => l.split('\t')[0])
    assert.ok(offered.includes('get') && offered.includes('generate'), r.out)
    assert.ok(offered.includes('--show'), r.out)
  } else t.diagnostic('fish missing: skipped')
})

test('unlocked (polykey unlock): names complete, and every verb runs with no passphrase', async (t) => {
  const bin = binDir(t)
  const { node } = await newNode(t)
  const pk = (args: string[], env: Record<string, string | undefined> = {}) => run(args, { node, env: { POLYKEY_PASSPHRASE: undefined, ...env } })
  const withPass = (args: string[], input?: string) => run(args, { node, input })
  for (const r of ['web', 'mail']) assert.equal((await withPass(['repo', 'create', r])).code, 0)
  assert.equal((await withPass(['secret', 'put', 'web/github'], 'user: alice\npw: s3cret\n')).code, 0)
  assert.equal((await withPass(['secret', 'put', 'mail/totp'], 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ')).code, 0)
  const u = await withPass(['unlock', '--timeout', '0'])
  assert.equal(u.code, 0, u.stderr)
  t.after(() => run(['lock'], { node, env: { POLYKEY_PASSPHRASE: undefined } }))

  const env = { POLYKEY_NODE: node, POLYKEY_PASSPHRASE: undefined }
  assert.deepEqual(await bashComplete(bin, 'polykey secret get ', env), ['mail/', 'web/'])
  assert.deepEqual(await bashComplete(bin, 'polykey secret get web/', env), ['web/github'])
  assert.deepEqual(await bashComplete(bin, 'polykey repo log m', env), ['mail'])

  const ok = async (args: string[], e: Record<string, string | undefined> = {}) => {
    const r = await pk(args, e)
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`)
    return r.out
  }
  const gen = await ok(['secret', 'generate', 'web/new', '--words', '4'])
  assert.equal(await ok(['secret', 'get', 'web/new']), gen.trimEnd())
  assert.equal(await ok(['otp', 'mail/totp'], { POLYKEY_TEST_TIME: '59' }), '287082\n')
  assert.equal(await ok(['secret', 'find', 'GIT']), 'web/github\n')
  assert.equal(await ok(['secret', 'grep', 's3cret', '--show']), 'web/github:2:pw: s3cret\n')
  await ok(['secret', 'cp', 'web/github', 'mail/github'])
  assert.equal(await ok(['secret', 'get', 'mail/github']), 'user: alice\npw: s3cret\n')
})
