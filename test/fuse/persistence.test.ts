// Real-mount tests (issue 4), part 3: what survives — remount, an unmount from outside,
// kill -9, SIGINT, SIGTERM — concurrent readers and a writer, and no plaintext left on disk.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { collect } from '../helpers.js'
import { NO_FUSE, drive, grepTree, mountLine, mountedNode, ok, q, sh, sleep, stat, waitExit, waitFor, type Session } from './mount-helpers.js'
import { readRecords, agentDir } from '../../src/agent/paths.js'

const skip = NO_FUSE || undefined
const UTC = { env: { TZ: 'UTC' } }
const names = (dir: string) => fs.readdirSync(dir).sort()
const tagged = async (s: Session) =>
  (JSON.parse(await s.pkOk(['tag', 'list', '--json'])) as { tag: string; secrets: { entry: string; secret: string }[] }[])
    .flatMap((t) => t.secrets.map((x) => `${t.tag}/${x.entry}=${x.secret}`))
    .sort()

describe('persistence on a real mount', { concurrency: true }, () => {
  it('fusermount -u from outside persists everything, and a remount shows it all (modes, mtimes, tags)', { skip }, async (t) => {
    const s = await mountedNode(t, { seed: { aws: { key: 'K' } }, tags: { prod: ['aws/key'] } })
    const pid = s.pid()
    // changes right before the unmount: none of them committed yet
    await s.ok(
      "umask 022 && mkdir repos/new tags/t2 && printf N > repos/new/n && ln repos/new/n tags/t2/ && printf K2 > tags/prod/key && chmod 640 repos/aws/key && touch -d '2001-02-03 04:05:06' repos/new/n",
      UTC,
    )
    await ok(`fusermount -u ${q(s.mnt)}`)
    assert.equal(mountLine(s.mnt), null)
    // the mount process notices, saves everything, releases the node and stops its agent
    await waitFor('the runtime record to go', () => !readRecords().some((r) => r.mountpoint === s.mnt), 5000)
    // the node file has it all (read without the mount)
    assert.equal(await s.pkOk(['secret', 'get', 'aws/key']), 'K2')
    assert.deepEqual(await s.log('new'), ['add n'])
    assert.deepEqual(await tagged(s), ['prod/key=aws/key', 't2/n=new/n'])

    await s.mount()
    assert.deepEqual(names(s.repo('aws')), ['key'])
    assert.deepEqual(names(s.repo('new')), ['n'])
    assert.equal(await s.ok('cat repos/aws/key tags/prod/key repos/new/n tags/t2/n'), 'K2K2NN')
    // repos/new/n was made with the shell's umask 022: 0644, kept across the remount
    assert.deepEqual(await stat('%a', s.repo('aws', 'key'), s.repo('new', 'n'), s.repo('new'), s.tag('t2')), ['640', '644', '700', '700'])
    assert.equal((await s.sh(`stat -c %y ${q(s.repo('new', 'n'))}`, UTC)).out.trim(), '2001-02-03 04:05:06.000000000 +0000')
    const [a, b] = await stat('%i %h', s.repo('new', 'n'), s.tag('t2', 'n'))
    assert.equal(a, b)
    assert.match(a, / 2$/)

    // ... and then exits.
    const exited = await waitExit(pid, 5000).then(
      () => true,
      () => false,
    )
    if (!exited) process.kill(pid, 'SIGKILL') // everything was saved and the node released (checked above)
    assert.ok(exited, `mount process ${pid} still running 5 s after the external unmount`)
  })

  /** Signal the mount process right after some changes; it must persist them all and exit. */
  async function signalAfterChanges(s: Session, sig: NodeJS.Signals) {
    const pid = s.pid()
    await s.ok(`printf ${sig} > repos/aws/fresh && mkdir repos/r2 && printf x > repos/r2/x && ln repos/r2/x tags/prod/`)
    process.kill(pid, sig) // at once: nothing of that is committed yet
    await waitExit(pid)
    await waitFor('the mount to go', () => mountLine(s.mnt) === null, 3000)
    assert.ok(!readRecords().some((r) => r.mountpoint === s.mnt), 'the runtime record is removed')
    assert.equal(await s.pkOk(['secret', 'get', 'aws/fresh']), sig)
    assert.deepEqual(await s.log('r2'), ['add x'])
  }

  it('kill -9: the node opens and loses at most the last second or so, never older edits; SIGINT persists everything', { skip }, async (t) => {
    const s = await mountedNode(t, { seed: { aws: { old: 'O' } }, tags: { prod: ['aws/old'] } })
    const pid = s.pid()
    await s.ok('printf A > repos/aws/a && printf A2 > repos/aws/old')
    // committed ≈1 s later and saved in the same step (poll, so a loaded machine does not flake)
    await waitFor('the first edits to be committed and saved', async () => (await s.log('aws')).includes('add a; update old'), 15000)
    await s.ok('printf B > repos/aws/b && printf B2 > repos/aws/old')
    process.kill(pid, 'SIGKILL')
    await waitExit(pid)
    // the kernel side goes away by itself (auto_unmount); clean up by hand only if it did not
    try {
      await waitFor('the mount to go', () => mountLine(s.mnt) === null, 3000)
    } catch {
      await sh(`fusermount -u -z ${q(s.mnt)}`)
      assert.equal(mountLine(s.mnt), null)
    }
    const verify = await s.pk(['verify'])
    assert.equal(verify.code, 0, `verify after kill -9: ${verify.stderr}`)
    assert.ok((await s.log('aws')).includes('add a; update old'), 'the edits from 3 s before the kill were committed and saved')
    // it mounts again (over the stale socket and record of the killed process)
    await s.mount()
    assert.equal(await s.ok('cat repos/aws/a'), 'A')
    const old = await s.ok('cat repos/aws/old tags/prod/old')
    assert.ok(old === 'A2A2' || old === 'B2B2', `old is ${old}`) // the last edit may be lost, never damaged
    const b = await s.sh('cat repos/aws/b')
    if (b.code === 0) assert.equal(b.out, 'B')
    await signalAfterChanges(s, 'SIGINT')
  })

  // Several processes read a secret in tight open+read+close loops (through its repository path
  // and its tag path; race-tools.ts) while another saves it `steps` times (race-tools.ts `write
  // MODE`), then a shell does `saves` a few times the way tools do. Every read must be the old or
  // the new bytes: no error, never bytes nobody wrote.
  async function readersAndWriter(s: Session, mode: 'rename' | 'inplace', steps: number, saves: string, shellSteps: number): Promise<string> {
    const stop = `${s.dir}/stop`
    const tools = path.join(path.dirname(fileURLToPath(import.meta.url)), 'race-tools.js')
    const node = (args: string[]) => collect(process.execPath, [tools, ...args], { env: process.env as Record<string, string>, cwd: s.dir, timeoutMs: 60_000 })
    const readers = [node(['read', s.repo('aws', 'c'), stop]), node(['read', s.tag('prod', 'c'), stop]), node(['read', s.repo('aws', 'c'), stop])]
    await sleep(100)
    const writer = await node(['write', mode, String(steps), s.mnt])
    const shell = await s.sh(`for i in $(seq ${steps + 1} ${steps + shellSteps}); do ${saves} done`, { timeoutMs: 60_000 })
    fs.writeFileSync(stop, '')
    const results = await Promise.all(readers)
    assert.equal(writer.code, 0, writer.stderr)
    assert.equal(shell.code, 0, shell.err)
    let rounds = 0
    for (const r of results) {
      assert.equal(r.code, 0, r.stderr)
      const o = JSON.parse(r.stdout.toString()) as { rounds: number; bad: string[]; nbad: number; errors: string[]; nerrors: number }
      assert.deepEqual([o.nerrors, o.errors], [0, []], 'no reader may get an error')
      assert.deepEqual([o.nbad, o.bad], [0, []], 'a reader saw bytes that were never the whole secret')
      rounds += o.rounds
    }
    assert.ok(rounds >= 1000, `the readers ran ${rounds} rounds`)
    const last = steps + shellSteps
    assert.equal(await s.ok('cat repos/aws/c tags/prod/c'), `v-${last}v-${last}`)
    const [a, b] = await stat('%i %h', s.repo('aws', 'c'), s.tag('prod', 'c'))
    assert.equal(a, b)
    assert.match(a, / 2$/)
    assert.deepEqual(names(s.repo('aws')), ['c', 'other'])
    assert.deepEqual(names(s.tag('prod')), ['c'])
    return `${rounds} reads raced ${steps + shellSteps} saves`
  }

  it(
    'concurrent readers and a writer rewriting in place (>, >>, truncate, both paths): no reader error, no zeros never written; SIGTERM persists everything',
    { skip },
    async (t) => {
      const s = await mountedNode(t, { seed: { aws: { c: 'v-0', other: 'o' } }, tags: { prod: ['aws/c'] } })
      t.diagnostic(
        await readersAndWriter(
          s,
          'inplace',
          300,
          'printf "v-$i" > repos/aws/c || exit 1; printf "v-$i" > tags/prod/c || exit 2; echo x >> repos/aws/c || exit 3; truncate -s $((2 + ${#i})) tags/prod/c || exit 4; printf "v-$i" > repos/aws/c || exit 5;',
          10,
        ),
      )
      await signalAfterChanges(s, 'SIGTERM')
      assert.equal(await s.pkOk(['secret', 'get', 'aws/c']), 'v-310')
    },
  )

  // A save that renames a new file over the secret takes the old node's name away inside libfuse;
  // a reader whose lookup came just before the rename used to get ENOENT from its open (and its
  // fstat). The binding answers ESTALE, so the kernel looks the name up again, and answers an
  // fstat with the attributes last sent (docs/FUSE.md).
  it('concurrent readers and a writer saving by rename (write-temp-then-mv, sed -i): no reader error, only old or new bytes', { skip }, async (t) => {
    const s = await mountedNode(t, { seed: { aws: { c: 'v-0', other: 'o' } }, tags: { prod: ['aws/c'] } })
    t.diagnostic(
      await readersAndWriter(
        s,
        'rename',
        300,
        'printf "v-$i" > repos/aws/.c.tmp && mv repos/aws/.c.tmp repos/aws/c || exit 1; printf "v-$i" > tags/prod/.c.tmp && mv tags/prod/.c.tmp tags/prod/c || exit 2; sed -i "s/v-$i/v-$i/" tags/prod/c || exit 3;',
        10,
      ),
    )
  })

  it('no plaintext on disk: the node file, /tmp, /dev/shm and the runtime folder never hold a secret', { skip }, async (t) => {
    const marker = `pkmark${crypto.randomBytes(12).toString('hex')}`
    const s = await mountedNode(t)
    const look = async () => {
      const hits = [
        ...(await grepTree('/tmp', marker)),
        ...(await grepTree('/dev/shm', marker)),
        ...(await grepTree(agentDir(), marker)),
        ...(fs.readFileSync(s.node).includes(marker) ? [s.node] : []),
      ]
      return [...new Set(hits)]
    }
    // through the mount, with the usual tools, through a tag and through the agent
    await s.ok(
      `mkdir repos/m tags/mt && printf '%s\\n' ${marker} > repos/m/s && echo ${marker}-2 >> repos/m/s && sed -i s/-2/-3/ repos/m/s && ` +
        `cp repos/m/s repos/m/copy && ln repos/m/s tags/mt/ && cat tags/mt/s > repos/m/.s.tmp && mv repos/m/.s.tmp repos/m/s && ` +
        `sed -i s/-3/-4/ tags/mt/s && truncate -s 100 repos/m/copy`,
    )
    await s.pkOk(['secret', 'put', 'm/cli'], { input: `${marker}-cli` })
    assert.equal(await s.pkOk(['secret', 'get', 'm/cli']), `${marker}-cli`)
    // vim, appending a line (so the marker never enters a register saved to ~/.viminfo)
    await drive(s, 'vim repos/m/s', [
      { until: () => fs.existsSync(s.repo('m', '.s.swp')), what: 'swap' },
      { until: /\d+L, \d+B/, what: 'loaded' },
      'Goextra\x1b',
      { ms: 150 },
      ':wq\r',
    ])
    assert.equal(await s.ok('cat repos/m/s'), `${marker}\n${marker}-4\nextra\n`)
    await s.waitLog('m', (l) => l.length > 0 && !fs.existsSync(s.repo('m', '.s.swp')))
    await sleep(1200) // let the last commit and save happen
    assert.deepEqual(await look(), [], 'plaintext found while mounted')
    await s.unmount()
    assert.match(await s.pkOk(['secret', 'get', 'm/s']), new RegExp(marker)) // the marker is really in there
    assert.deepEqual(await look(), [], 'plaintext found after unmounting')
  })
})
