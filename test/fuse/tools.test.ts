// Real-mount tests (issue 4), part 2: the editors and tools people use, each for real, on
// repository paths and on tag paths; editor scratch files. See mount-helpers.ts.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import { NO_FUSE, drive, mountedNode, q, stat, type Session } from './mount-helpers.js'

const skip = NO_FUSE || undefined
const SCRATCH = ['.x.swp', '4913', 'x~', '.#x', '#x#']

const exists = (p: string) => fs.existsSync(p)
const tagList = async (s: Session) => JSON.parse(await s.pkOk(['tag', 'list', '--json'])) as { tag: string; secrets: { entry: string; secret: string }[] }[]
const tagged = async (s: Session, tag: string) => ((await tagList(s)).find((x) => x.tag === tag)?.secrets ?? []).map((x) => `${x.entry}=${x.secret}`).sort()
const names = (dir: string) => fs.readdirSync(dir).sort()
/** inode and link count of each path */
const inodes = (...paths: string[]) => stat('%i %h', ...paths)

describe('editors and tools on a real mount', { concurrency: true }, () => {
  it('vim (default settings): swap files while editing, never committed or persisted; repo and tag paths', { skip }, async (t) => {
    const s = await mountedNode(t, { seed: { aws: { key: 'AKIA-old', plain: 'plain-old', idle: 'i' }, gcp: { g: 'g-old' } }, tags: { prod: ['aws/key'] } })
    const vimEdit = (file: string, swap: string, text: string) =>
      drive(s, `vim ${q(file)}`, [
        { until: () => exists(swap), what: `its swap file ${swap}` }, // while editing, the swap file is there
        { until: /\d+L, \d+B/, what: 'the file loaded' },
        `ggdGi${text}\x1b`,
        { ms: 150 },
        ':wq\r',
      ])
    // Meanwhile another vim just sits on repos/aws/idle: its swap file lives through the commits.
    let commitsChecked = false
    const idle = drive(
      s,
      'vim repos/aws/idle',
      [{ until: () => exists(s.repo('aws', '.idle.swp')), what: 'swap' }, { until: () => commitsChecked, what: 'the commits checked' }, ':q!\r'],
      60_000,
    )
    idle.catch(() => {}) // awaited below; no unhandled rejection meanwhile
    // an untagged secret (vim saves by renaming) and a tagged one through its tag path (in place)
    await Promise.all([
      vimEdit('repos/aws/plain', s.repo('aws', '.plain.swp'), 'plain-new'),
      vimEdit('tags/prod/key', s.tag('prod', '.key.swp'), 'key-new'),
      vimEdit('repos/gcp/g', s.repo('gcp', '.g.swp'), 'g-new'),
    ])
    assert.equal(await s.ok('cat repos/aws/plain'), 'plain-new\n')
    assert.equal(await s.ok('cat repos/aws/key'), 'key-new\n')
    assert.equal(await s.ok('cat repos/gcp/g'), 'g-new\n')
    // no leftovers in any folder (but the idle vim's swap file)
    assert.deepEqual(names(s.repo('aws')), ['.idle.swp', 'idle', 'key', 'plain'])
    assert.deepEqual(names(s.repo('gcp')), ['g'])
    assert.deepEqual(names(s.tag('prod')), ['key'])
    // the tagged secret is still the same file, still tagged
    const [a, b] = await inodes(s.repo('aws', 'key'), s.tag('prod', 'key'))
    assert.equal(a, b)
    assert.match(a, / 2$/)
    assert.deepEqual(await tagged(s, 'prod'), ['key=aws/key'])
    // committed as updates, nothing about swap or backup files
    const updated = (l: string[]) => l.slice(0, -1).join('; ').split('; ').sort() // each message, without the import
    const aws = await s.waitLog('aws', (l) => /key/.test(l.join()) && /plain/.test(l.join()))
    const gcp = await s.waitLog('gcp', (l) => l.length > 1)
    assert.deepEqual(updated(aws.map((m) => m.replace(/^update (\w+), (\w+)$/, 'update $1; update $2'))), ['update key', 'update plain'])
    assert.deepEqual(gcp, ['update g', 'import 1 secret'])
    commitsChecked = true
    await idle
    assert.deepEqual(names(s.repo('aws')), ['idle', 'key', 'plain'])
    await s.unmount()
    const tar = await s.exported()
    assert.ok(
      tar.some((n) => n.endsWith('repos/aws/plain')),
      tar.join(' '),
    )
    assert.ok(!tar.some((n) => /\.swp|4913|~$/.test(n)), tar.join(' '))
  })

  it('nano, on a repository path and on a tag path', { skip }, async (t) => {
    const s = await mountedNode(t, { seed: { aws: { key: 'old', other: 'other' } }, tags: { prod: ['aws/key'] } })
    const nano = (file: string, text: string) =>
      drive(s, `nano ${q(file)}`, [
        { until: /\^X/, what: 'nano to start' },
        text,
        '\x0f',
        { until: /File Name to Write/, what: 'the write prompt' },
        '\r',
        { until: /Wrote \d+ line/, what: 'Wrote' },
        '\x18',
      ])
    await nano('tags/prod/key', 'nano-')
    await nano('repos/aws/other', 'more-')
    assert.equal(await s.ok('cat repos/aws/key'), 'nano-old\n')
    assert.equal(await s.ok('cat repos/aws/other'), 'more-other\n')
    const [a, b] = await inodes(s.repo('aws', 'key'), s.tag('prod', 'key'))
    assert.equal(a, b)
    assert.match(a, / 2$/)
    assert.deepEqual(await tagged(s, 'prod'), ['key=aws/key'])
    assert.deepEqual(names(s.repo('aws')), ['key', 'other'])
    const log = await s.waitLog('aws', (l) => l.length > 1 && /other/.test(l.join()) && /key/.test(l.join()))
    assert.doesNotMatch(log.join('\n'), /swp|~|#/)
    assert.equal(await s.pkOk(['secret', 'get', 'aws/key']), 'nano-old\n')
  })

  it('sed -i and write-temp-then-rename saves, through repository and tag paths: the secret stays tagged', { skip }, async (t) => {
    const s = await mountedNode(t, { seed: { aws: { key: 'v0 AKIA', other: 'x' }, gcp: { g: 'g0' } }, tags: { prod: ['aws/key', 'gcp/g'] } })
    const ino0 = (await inodes(s.repo('aws', 'key')))[0]
    const check = async (want: string) => {
      assert.equal(await s.ok('cat repos/aws/key'), want)
      assert.equal(await s.ok('cat tags/prod/key'), want)
      const [a, b] = await inodes(s.repo('aws', 'key'), s.tag('prod', 'key'))
      assert.equal(a, b, 'the tag entry is the secret')
      assert.equal(a, ino0, 'the secret kept its identity')
      assert.deepEqual(names(s.tag('prod')), ['g', 'key'], 'no temporary files left in the tag')
      assert.deepEqual(names(s.repo('aws')), ['key', 'other'], 'no temporary files left in the repository')
    }
    // burst 1: sed -i (a temporary file in the same folder, renamed over the original)
    await s.ok('sed -i s/v0/v1/ repos/aws/key && sed -i s/v1/v2/ tags/prod/key')
    await check('v2 AKIA')
    assert.equal((await s.waitLog('aws', (l) => l.length > 1))[0], 'update key')
    // burst 2, once that is committed: how VS Code and many editors save — write a temporary
    // file, rename it over the original — then plain writes through the tag path
    await s.ok(
      [
        'sed s/v2/v3/ repos/aws/key > repos/aws/.key.tmp && mv repos/aws/.key.tmp repos/aws/key',
        'sed s/v3/v4/ tags/prod/key > tags/prod/.key.tmp && mv tags/prod/.key.tmp tags/prod/key',
        'printf "v5 AKIA" > tags/prod/key',
        'sed -i s/g0/g1/ tags/prod/g',
      ].join(' && '),
    )
    await check('v5 AKIA')
    assert.equal(await s.ok('cat repos/gcp/g'), 'g1')
    assert.deepEqual(await tagged(s, 'prod'), ['g=gcp/g', 'key=aws/key'])
    assert.equal(await s.pkOk(['secret', 'get', 'aws/key']), 'v5 AKIA')
    // one commit per burst, and no temporary file ever committed
    assert.deepEqual(await s.waitLog('aws', (l) => l.length > 2), ['update key', 'update key', 'import 2 secrets'])
    assert.deepEqual(await s.waitLog('gcp', (l) => l.length > 1), ['update g', 'import 1 secret'])
  })

  it('cp, mv (tags kept, across repositories), ln (tag), rm (untag everywhere), echo >>, truncate -s, touch -d; all kept after remount', { skip }, async (t) => {
    const s = await mountedNode(t, {
      seed: { aws: { key: 'K', token: 'T', other: 'O' }, gcp: { g: 'G' } },
      tags: { prod: ['aws/key', 'aws/other'], dev: ['aws/key'] },
    })
    const UTC = { env: { TZ: 'UTC' } }
    /** the tag entries that are the very file at `secret` (same inode) */
    const sameFile = async (secret: string, ...entries: string[]) => {
      const all = await inodes(s.repo(...(secret.split('/') as [string, string])), ...entries.map((e) => s.tag(...(e.split('/') as [string, string]))))
      for (const x of all) assert.equal(x, `${all[0].split(' ')[0]} ${entries.length + 1}`, `${secret} and ${entries.join(', ')} are one file`)
    }
    // cp: a new, untagged secret; cp over a tagged secret rewrites it in place
    await s.ok('cp repos/aws/key repos/aws/key-copy && cp repos/aws/token repos/gcp/ && cp repos/gcp/g repos/aws/other')
    assert.equal(await s.ok('cat repos/aws/key-copy repos/gcp/token tags/prod/other'), 'KTG')
    await sameFile('aws/key-copy')
    await sameFile('aws/other', 'prod/other')
    // mv: renaming keeps its tags, the entries named after the secret (as `polykey secret mv` does)
    await s.ok('mv repos/aws/key repos/aws/renamed')
    assert.deepEqual([names(s.tag('prod')), names(s.tag('dev'))], [['other', 'renamed'], ['renamed']])
    await sameFile('aws/renamed', 'prod/renamed', 'dev/renamed')
    // ... and across repositories
    await s.ok('mv repos/aws/renamed repos/gcp/moved')
    assert.ok(!exists(s.repo('aws', 'renamed')))
    assert.deepEqual([names(s.tag('prod')), names(s.tag('dev'))], [['moved', 'other'], ['moved']])
    await sameFile('gcp/moved', 'prod/moved', 'dev/moved')
    assert.equal(await s.ok('cat repos/gcp/moved tags/dev/moved'), 'KK')
    assert.deepEqual(await tagged(s, 'prod'), ['moved=gcp/moved', 'other=aws/other'])
    // ln a secret into a tag folder = tag it
    await s.ok('ln repos/aws/token tags/prod/ && mkdir tags/new && ln repos/gcp/g tags/new/g')
    await sameFile('aws/token', 'prod/token')
    await sameFile('gcp/g', 'new/g')
    // rm of a secret removes it from every tag; rm in a tag only untags
    await s.ok('rm repos/gcp/moved')
    assert.deepEqual([names(s.tag('prod')), names(s.tag('dev'))], [['other', 'token'], []])
    await s.ok('rm tags/prod/token')
    assert.equal(await s.ok('cat repos/aws/token'), 'T')
    await sameFile('aws/token')
    // echo >>, truncate -s, touch -d (through a tag path too)
    await s.ok('echo more >> repos/aws/token && echo again >> tags/prod/other')
    assert.equal(await s.ok('cat repos/aws/token repos/aws/other'), 'Tmore\nGagain\n')
    await s.ok('truncate -s 2 repos/aws/token && truncate -s 6 repos/aws/key-copy')
    assert.equal(await s.ok('cat repos/aws/token'), 'Tm')
    assert.equal(await s.ok('od -An -c repos/aws/key-copy | tr -s " "'), ' K \\0 \\0 \\0 \\0 \\0\n')
    await s.ok("touch -d '2001-02-03 04:05:06' repos/aws/token tags/prod/other", UTC)
    const mtimes = async () => (await s.sh(`stat -c %y ${q(s.repo('aws', 'token'))} ${q(s.repo('aws', 'other'))} ${q(s.tag('prod', 'other'))}`, UTC)).out.trim().split('\n')
    const want = Array(3).fill('2001-02-03 04:05:06.000000000 +0000')
    assert.deepEqual(await mtimes(), want)

    const expect = async () => {
      assert.deepEqual(names(s.repo('aws')), ['key-copy', 'other', 'token'])
      assert.deepEqual(names(s.repo('gcp')), ['g', 'token'])
      assert.deepEqual([names(s.tag('prod')), names(s.tag('dev')), names(s.tag('new'))], [['other'], [], ['g']])
      assert.equal(
        await s.ok('cat repos/aws/token repos/aws/other repos/gcp/g tags/new/g tags/prod/other repos/aws/key-copy | od -An -c | tr -s " \\n" " "'),
        ' T m G a g a i n \\n G G G a g a i n \\n K \\0 \\0 \\0 \\0 \\0 ',
      )
      await sameFile('aws/other', 'prod/other')
      await sameFile('gcp/g', 'new/g')
      assert.deepEqual(await mtimes(), want)
    }
    await expect()
    await s.unmount()
    await s.mount()
    await expect()
    assert.deepEqual(await tagged(s, 'prod'), ['other=aws/other'])
    assert.deepEqual(await tagged(s, 'new'), ['g=gcp/g'])
  })

  it('editor scratch files and new files in a tag folder work while mounted, are never committed or persisted', { skip }, async (t) => {
    const s = await mountedNode(t, { seed: { aws: { x: 'X' } }, tags: { prod: ['aws/x'] } })
    const files = [...SCRATCH.map((n) => `repos/aws/${n}`), 'tags/prod/new-in-tag', 'tags/prod/.x.swp']
    // made, appended to, renamed among themselves — and one real secret, all before the commit
    const size = s.size()
    await s.ok(files.map((f) => `printf scratch > ${q(f)}`).join(' && ') + ' && printf real > repos/aws/real && echo more >> repos/aws/4913 && cp "repos/aws/#x#" "repos/aws/y~"')
    for (const f of files) assert.equal(await s.ok(`cat ${q(f)}`), f.endsWith('4913') ? 'scratchmore\n' : 'scratch', f)
    assert.deepEqual(names(s.repo('aws')), [...SCRATCH, 'real', 'x', 'y~'].sort())
    assert.deepEqual(names(s.tag('prod')), ['.x.swp', 'new-in-tag', 'x'])
    await s.waitSaved(size)
    assert.deepEqual(await s.log('aws'), ['add real', 'import 1 secret'])
    const listed = JSON.parse(await s.pkOk(['secret', 'list', 'aws', '--json'])).map((x: { name: string }) => x.name)
    assert.deepEqual(listed.sort(), ['real', 'x'])
    assert.deepEqual(await tagged(s, 'prod'), ['x=aws/x'])

    await s.unmount()
    const tar = await s.exported()
    assert.ok(
      tar.some((n) => n.endsWith('repos/aws/real')),
      tar.join(' '),
    )
    // (by name: a git object's hash may well contain "4913")
    for (const n of tar) assert.doesNotMatch(n.split('/').pop()!, /\.swp$|^4913$|~$|^\.#|^#x#$|^new-in-tag$/, n)
    await s.mount()
    assert.deepEqual(names(s.repo('aws')), ['real', 'x'])
    assert.deepEqual(names(s.tag('prod')), ['x'])
  })
})
