// Real-mount tests (issue 4), part 1: what a user sees in the mount — layout and privacy,
// refusals, repositories as folders, commits, and the CLI through the mount's agent.
// Editors and tools: tools.test.ts. Persistence, signals, crashes, concurrency, plaintext:
// persistence.test.ts. Every mount is made and torn down by mount-helpers.ts.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { NO_FUSE, mountedNode, mountLine, q, stat, waitFor, type Session } from './mount-helpers.js'

const skip = NO_FUSE || undefined
const UID = process.getuid!()
const GID = process.getgid!()

const basic = {
  seed: { aws: { key: 'AKIA-aws', token: 'tok-aws' }, gcp: { key: 'gcp-key' } },
  tags: { prod: ['aws/key'] },
}

const ls = async (s: Session, dir: string) => (await s.ok(`ls -a ${q(dir)}`)).split('\n').filter(Boolean)

describe('the mount as a user sees it', { concurrency: true }, () => {
  it('layout: repos/REPO/SECRET and tags/TAG/SECRET, .git hidden, private modes and owner, no allow_other', { skip }, async (t) => {
    const s = await mountedNode(t, basic)
    const m = s.mnt
    await s.pkOk(['tag', 'add', 'prod', 'gcp/key']) // through the agent: the entry is named key@gcp

    assert.deepEqual(await ls(s, m), ['.', '..', 'history', 'repos', 'tags']) // history: read-only past commits (test/guard/history.test.ts)
    assert.deepEqual(await ls(s, `${m}/repos`), ['.', '..', 'aws', 'gcp'])
    assert.deepEqual(await ls(s, s.repo('aws')), ['.', '..', 'key', 'token'])
    assert.deepEqual(await ls(s, `${m}/tags`), ['.', '..', 'prod'])
    // two tagged secrets with one name show as SECRET@REPO
    assert.deepEqual(await ls(s, s.tag('prod')), ['.', '..', 'key', 'key@gcp'])
    assert.equal(await s.ok('cat repos/aws/key repos/aws/token repos/gcp/key tags/prod/key tags/prod/key@gcp'), 'AKIA-awstok-awsgcp-keyAKIA-awsgcp-key')

    // .git is not part of the view
    const git = await s.sh('ls repos/aws/.git')
    assert.notEqual(git.code, 0)
    assert.match(git.err, /No such file or directory/)
    assert.notEqual((await s.sh('cat repos/aws/.git/HEAD')).code, 0)
    assert.doesNotMatch(await s.ok('ls -laR .'), /\.git/)

    // ls -la works everywhere and shows private modes and the mounting user
    const la = await s.ok('ls -la . repos tags repos/aws repos/gcp tags/prod')
    assert.match(la, /-rw------- +2 /) // tagged secrets have two links
    assert.doesNotMatch(la, /^[-d]r[-w][-x][^-]/m) // nothing readable by group or others
    // files 0600, folders 0700, owned by the mounting user; a new file gets its create mode less
    // the umask (077 here; 022 below), folders 0700 whatever the umask
    await s.ok(
      'umask 077; echo new > repos/aws/made && umask 022 && mkdir repos/made-repo tags/made-tag && umask 077 && cp repos/aws/key repos/gcp/copied && echo x > repos/made-repo/f',
    )
    const files = ['repos/aws/key', 'repos/aws/token', 'tags/prod/key', 'repos/aws/made', 'repos/gcp/copied', 'repos/made-repo/f'].map((p) => path.join(m, p))
    const dirs = ['', 'repos', 'tags', 'repos/aws', 'repos/made-repo', 'tags/prod', 'tags/made-tag'].map((p) => path.join(m, p))
    for (const line of await stat('%a %u %g %F %n', ...files)) assert.equal(line.split(' ').slice(0, 4).join(' '), `600 ${UID} ${GID} regular`, line)
    for (const line of await stat('%a %u %g %F %n', ...dirs)) assert.equal(line.split(' ').slice(0, 3).join(' ') + ' ' + line.split(' ')[3], `700 ${UID} ${GID} directory`, line)
    await s.ok('umask 022; echo new > repos/aws/made-022 && umask 027 && echo new > repos/aws/made-027')
    assert.deepEqual(await stat('%a', s.repo('aws', 'made-022'), s.repo('aws', 'made-027')), ['644', '640'])
    // a tag entry is the secret itself (a hardlink)
    const [a, b] = await stat('%i %h', s.repo('aws', 'key'), s.tag('prod', 'key'))
    assert.equal(a, b)
    assert.equal(a.split(' ')[1], '2')
    // chmod is honoured in memory
    await s.ok('chmod 640 repos/aws/token')
    assert.deepEqual(await stat('%a', s.repo('aws', 'token')), ['640'])

    // private to the mounting user: no allow_other / allow_root in the mount options
    const line = mountLine(m)!
    const [, , fstype, options] = line.split(' ')
    assert.match(fstype, /^fuse/)
    assert.doesNotMatch(options, /allow_other|allow_root/)
    assert.match(options, new RegExp(`user_id=${UID}\\b`))
    if (UID === 0) {
      // Another user cannot even look in, however the modes read (parent made traversable for the check).
      fs.chmodSync(s.dir, 0o711)
      try {
        const other = await s.sh(`setpriv --reuid=65534 --regid=65534 --clear-groups ls ${q(m)}`, { cwd: '/' })
        assert.notEqual(other.code, 0)
        assert.match(other.err, /Permission denied/)
        await s.ok('chmod 777 repos/aws/made')
        const cat = await s.sh(`setpriv --reuid=65534 --regid=65534 --clear-groups cat ${q(s.repo('aws', 'made'))}`, { cwd: '/' })
        assert.notEqual(cat.code, 0)
      } finally {
        fs.chmodSync(s.dir, 0o700)
      }
    }
  })

  it('refusals: no folders in repositories, symlinks, fifos, files outside repositories, cross-repository links', { skip }, async (t) => {
    const s = await mountedNode(t, basic)
    const refused = async (cmd: string, msg: RegExp) => {
      const r = await s.sh(cmd)
      assert.notEqual(r.code, 0, `${cmd} should fail`)
      assert.match(r.err, msg, `${cmd}: ${r.err}`)
    }
    const EPERM = /Operation not permitted/
    await refused('mkdir repos/aws/sub', EPERM)
    await refused('ln -s key repos/aws/link', EPERM)
    await refused('ln -s ../../repos/aws/key tags/prod/link', EPERM)
    await refused('mkfifo repos/aws/fifo', EPERM)
    await refused('mkfifo tags/prod/fifo', EPERM)
    await refused('mkdir repos/aws/.git', EPERM) // not "File exists": .git is not part of the view
    // regular files only where secrets live
    for (const p of ['f', 'repos/f', 'tags/f']) {
      await refused(`echo x > ${p}`, EPERM)
      await refused(`touch ${p}`, EPERM)
      assert.notEqual((await s.sh(`test -e ${p}`)).code, 0, `${p} must not exist`)
    }
    await refused('mkdir somewhere', EPERM)
    await s.ok('mkdir -p repos/aws tags/prod') // existing folders are just there (EEXIST)
    // a secret lives in one repository
    await refused('ln repos/aws/key repos/gcp/key2', EPERM)
    await refused('ln repos/aws/key repos/aws/key2', EPERM)
    assert.notEqual((await s.sh('test -e repos/gcp/key2 || test -e repos/aws/key2')).code, 0)
    // non-empty repository
    await refused('rmdir repos/aws', /Directory not empty/)
    assert.equal(await s.ok('cat repos/aws/key'), 'AKIA-aws')
    // nothing above left a trace
    assert.deepEqual(await ls(s, s.repo('aws')), ['.', '..', 'key', 'token'])
    assert.deepEqual(await ls(s, s.tag('prod')), ['.', '..', 'key'])
    assert.deepEqual(await ls(s, s.mnt), ['.', '..', 'history', 'repos', 'tags'])

    // mkdir repos/NEW is a new repository, rmdir of an empty one deletes it
    await s.ok('mkdir repos/fresh')
    let repos = JSON.parse(await s.pkOk(['repo', 'list', '--json'])).map((r: { name: string }) => r.name)
    assert.deepEqual(repos.sort(), ['aws', 'fresh', 'gcp'])
    await s.ok('echo v > repos/fresh/s && rm repos/fresh/s && rmdir repos/fresh')
    repos = JSON.parse(await s.pkOk(['repo', 'list', '--json'])).map((r: { name: string }) => r.name)
    assert.deepEqual(repos.sort(), ['aws', 'gcp'])
    assert.deepEqual(await ls(s, `${s.mnt}/repos`), ['.', '..', 'aws', 'gcp'])
    // the repository's deletion persists
    await s.unmount()
    repos = JSON.parse(await s.pkOk(['repo', 'list', '--json'])).map((r: { name: string }) => r.name)
    assert.deepEqual(repos.sort(), ['aws', 'gcp'])
  })

  it('commits: one per closed changed file, bursts coalesced, messages say what changed, node file appended', { skip }, async (t) => {
    const s = await mountedNode(t, { seed: { ren: { b: 'bee' }, upd: { c: 'sea' }, del: { d: 'dee' } } })
    // Each step waits for the node file to be appended (the commit is saved right after it is
    // made); the logs are read once at the end: exactly one commit per step.

    // a new file (in a repository made with mkdir): one commit, then the node file is appended
    let size = s.size()
    await s.ok('mkdir repos/app && printf one > repos/app/a')
    await s.waitSaved(size)

    // a burst of writes (20 open/append/close and a new file, well under a second): one commit
    size = s.size()
    await s.ok('for i in $(seq 1 20); do echo "line $i" >> repos/app/a; done; printf two > repos/app/b')
    await s.waitSaved(size)
    assert.equal(await s.ok('cat repos/app/a'), 'one' + Array.from({ length: 20 }, (_, i) => `line ${i + 1}\n`).join(''))

    // a file held open for writing across the commit delay: one commit, after it is closed
    size = s.size()
    await s.ok('exec 3>repos/app/held; echo part1 >&3; sleep 1.3; echo part2 >&3; exec 3>&-')
    await s.waitSaved(size)

    // rename, update, remove (three repositories at once); rewriting a file with what it already
    // holds is no commit
    size = s.size()
    await s.ok('mv repos/ren/b repos/ren/b2; printf changed > repos/upd/c; rm repos/del/d; printf "part1\\npart2\\n" > repos/app/held')
    await s.waitSaved(size)

    const [app, ren, upd, del] = await Promise.all(['app', 'ren', 'upd', 'del'].map((r) => s.log(r)))
    assert.deepEqual(app, ['add held', 'add b; update a', 'add a'])
    assert.deepEqual(ren, ['rename b to b2', 'import 1 secret'])
    assert.deepEqual(upd, ['update c', 'import 1 secret'])
    assert.deepEqual(del, ['remove d', 'import 1 secret'])
    assert.equal(await s.pkOk(['secret', 'get', 'app/held']), 'part1\npart2\n')
  })

  it('agent: CLI commands work while mounted without a passphrase, and show in the mount at once', { skip }, async (t) => {
    const s = await mountedNode(t, basic)
    const NOPASS = { env: { POLYKEY_PASSPHRASE: undefined, POLYKEY_PASSPHRASE_FILE: undefined } }

    const put = await s.pk(['secret', 'put', 'aws/fresh'], { input: 'from-cli', ...NOPASS })
    assert.equal(put.code, 0, put.stderr)
    assert.equal(await s.ok('cat repos/aws/fresh'), 'from-cli') // at once, no wait
    await s.pkOk(['secret', 'put', 'aws/key'], { input: 'rotated', ...NOPASS })
    assert.equal(await s.ok('cat repos/aws/key tags/prod/key'), 'rotatedrotated')

    const got = await s.pk(['secret', 'get', 'aws/token'], NOPASS)
    assert.equal(got.code, 0, got.stderr)
    assert.equal(got.out, 'tok-aws')
    // and what the mount writes, the CLI reads at once
    await s.ok('printf from-mount > repos/gcp/typed')
    assert.equal(await s.pkOk(['secret', 'get', 'gcp/typed'], NOPASS), 'from-mount')

    const list = JSON.parse(await s.pkOk(['secret', 'list', 'aws', '--json'], NOPASS)).map((x: { name: string }) => x.name)
    assert.deepEqual(list.sort(), ['fresh', 'key', 'token'])

    await s.pkOk(['tag', 'add', 'staging', 'aws/fresh'], NOPASS)
    assert.equal(await s.ok('cat tags/staging/fresh'), 'from-cli')
    const [i1, i2] = await stat('%i', s.repo('aws', 'fresh'), s.tag('staging', 'fresh'))
    assert.equal(i1, i2)

    const log = await s.pk(['repo', 'log', 'aws'], NOPASS)
    assert.equal(log.code, 0, log.stderr)
    assert.match(log.out, /fresh/)
    const info = await s.pk(['info', '--json'], NOPASS)
    assert.equal(info.code, 0, info.stderr)
    assert.equal(JSON.parse(info.out).repositories, 2)

    await s.pkOk(['secret', 'rm', 'aws/fresh'], NOPASS)
    assert.notEqual((await s.sh('test -e repos/aws/fresh || test -e tags/staging/fresh')).code, 0)

    // env and secret edit run the user's program here, with the values from the mount
    const env = await s.pk(['env', 'aws', '--', 'sh', '-c', 'printf %s "$TOKEN"; exit 5'], NOPASS)
    assert.equal(env.code, 5, env.stderr)
    assert.equal(env.out, 'tok-aws')
    const edit = await s.pk(['secret', 'edit', 'aws/token'], { env: { ...NOPASS.env, EDITOR: 'sed -i s/tok/TOK/' } })
    assert.equal(edit.code, 0, edit.stderr)
    assert.equal(await s.ok('cat repos/aws/token'), 'TOK-aws')

    // the control socket is reachable by this user only
    const rec = fs.readdirSync(path.dirname(await socketOf(s)))
    assert.ok(rec.length)
    const sock = await socketOf(s)
    assert.equal(fs.statSync(sock).mode & 0o777, 0o600)
    assert.equal(fs.statSync(path.dirname(sock)).mode & 0o777, 0o700)

    // once unmounted, the same command needs the passphrase again (so it really went through the agent)
    await s.unmount()
    const after = await s.pk(['secret', 'get', 'aws/token'], NOPASS)
    assert.notEqual(after.code, 0)
    assert.equal(await s.pkOk(['secret', 'get', 'aws/key']), 'rotated')
  })

  it('kernel caching never shows stale names, sizes or content: CLI changes, other names of a tagged secret, appends', { skip }, async (t) => {
    const s = await mountedNode(t, { seed: { aws: { key: 'K1', other: 'O' } }, tags: { prod: ['aws/key'] } })
    const o = async (cmd: string) => (await s.ok(cmd)).trimEnd()
    const warm = () => s.sh('cat repos/*/* tags/*/* >/dev/null; ls -lR . >/dev/null')
    await warm()
    // same size: only dropped pages can show it (the kernel keeps pages across opens)
    await s.pkOk(['secret', 'put', 'aws/key'], { input: 'K2' })
    assert.equal(await o('cat repos/aws/key tags/prod/key'), 'K2K2')
    // longer: the cached size would cut it short
    await warm()
    await s.pkOk(['secret', 'put', 'aws/key'], { input: 'a much longer value' })
    assert.equal(await o('cat repos/aws/key tags/prod/key'), 'a much longer valuea much longer value')
    assert.equal(await o(`stat -c %s repos/aws/key tags/prod/key`), '19\n19')
    // through one name, then at once through the other (the shell's own open(O_APPEND) must use the new size)
    assert.equal(await o('printf abc > tags/prod/key && echo x >> repos/aws/key && cat tags/prod/key repos/aws/key'), 'abcx\nabcx')
    assert.equal(await o('printf 12345678 > repos/aws/key && truncate -s 3 tags/prod/key && cat repos/aws/key && stat -c %s repos/aws/key'), '123' + '3')
    // link counts follow tag changes made elsewhere
    await warm()
    assert.equal(await o('stat -c %h repos/aws/key'), '2')
    await s.pkOk(['tag', 'rm', 'prod', 'aws/key'])
    assert.equal(await o('stat -c %h repos/aws/key; test -e tags/prod/key || echo gone'), '1\ngone')
    await o('mkdir -p tags/prod && ln repos/aws/key tags/prod/key && stat -c %h repos/aws/key')
    await o('rm tags/prod/key')
    assert.equal(await o('stat -c %h repos/aws/key'), '1', 'rm through the tag path: the repository name sees it at once')
    // renames and removals by the CLI
    await warm()
    await s.pkOk(['secret', 'mv', 'aws/other', 'aws/moved'])
    assert.equal(await o('cat repos/aws/moved; test -e repos/aws/other || echo gone'), 'Ogone')
    await s.pkOk(['repo', 'rename', 'aws', 'amazon'])
    assert.equal(await o('cat repos/amazon/moved; test -e repos/aws/moved || echo gone'), 'Ogone')
    // a shell sitting in a repository folder while the CLI changes it: its cwd keeps working
    const go = path.join(s.dir, 'go')
    const inside = s.sh(`cd repos/amazon && cat moved >/dev/null && while [ ! -e ${q(go)} ]; do sleep 0.05; done; /bin/pwd -P && cat moved new`)
    await new Promise((r) => setTimeout(r, 300))
    await s.pkOk(['secret', 'put', 'amazon/moved'], { input: 'O2' })
    await s.pkOk(['secret', 'put', 'amazon/new'], { input: 'N' })
    fs.writeFileSync(go, '')
    const r = await inside
    assert.equal(r.code, 0, r.err)
    assert.equal(r.out.trimEnd(), `${s.repo('amazon')}\nO2N`)
  })
})

// The binding answers a getattr it answered before while nothing changed (docs/FUSE.md "Answered
// in the binding"). Each step waits out the kernel's own caches (1 s) first, so that the kernel
// asks and the binding, not the kernel, is what could answer stale.
describe('the binding’s own answers', { concurrency: true }, () => {
  it('never go stale: after CLI changes, writes and mode changes through another name, tag changes, and commits', { skip }, async (t) => {
    const s = await mountedNode(t, { seed: { aws: { key: 'K1', other: 'O' } }, tags: { prod: ['aws/key'] } })
    const o = async (cmd: string) => (await s.ok(cmd)).trimEnd()
    const past = () => new Promise((r) => setTimeout(r, 1200)) // KERNEL_CACHE_OPTIONS' timeouts
    const seen = () => o('stat -c "%s %a %h %Y" repos/aws/key tags/prod/key repos/aws/other; stat -c %Y repos/aws')
    const first = await seen()
    await past()
    assert.equal(await seen(), first, 'nothing changed: the same answers')
    await s.pkOk(['secret', 'put', 'aws/key'], { input: 'a much longer value' })
    await past()
    assert.match(await o('stat -c %s repos/aws/key tags/prod/key'), /^19\n19$/)
    await o('printf 1234 > repos/aws/key && chmod 0400 repos/aws/key')
    await past()
    assert.equal(await o('stat -c "%s %a" tags/prod/key'), '4 400', 'changed through the other name')
    await s.pkOk(['tag', 'rm', 'prod', 'aws/key'])
    await past()
    assert.equal(await o('stat -c %h repos/aws/key; test -e tags/prod/key || echo gone'), '1\ngone')
    await s.pkOk(['secret', 'rm', 'aws/other'])
    await past()
    assert.equal(await o('test -e repos/aws/other || echo gone'), 'gone')
    // a commit (made later, by the mount) shows in history/ without anything else happening
    const commits = async () => (await o('ls history/aws')).split('\n').length
    const n = await commits()
    await o('chmod 0600 repos/aws/key && printf again > repos/aws/key')
    await s.waitLog('aws', (l) => l.length > 0 && /key/.test(l[0]))
    await waitFor('the new commit in history/', async () => (await commits()) > n)
  })
})

async function socketOf(s: Session): Promise<string> {
  const { readRecords } = await import('../../src/agent/paths.js')
  const rec = readRecords().find((r) => r.mountpoint === s.mnt)
  assert.ok(rec, 'runtime record')
  return rec.socket
}
