// A mounted node: the node file (locked for the whole mount), its contents unpacked into memfs,
// served through FUSE, with changes committed per repository (coalesced) and appended to the
// node file. This process is also the node's agent (src/agent/server.ts).
import fs from 'node:fs'
import { NodeFile, type KeySource } from '../archive/nodefile.js'
import { NodeLock } from '../archive/lock.js'
import { SeenRecord } from '../archive/seen.js'
import { MemStore, wipeVolume } from '../vault/mem-store.js'
import { Vault, REPOS, META } from '../vault/vault.js'
import { IDENTITY_MEMBER, nodeIdOf } from '../vault/node.js'
import { isScratchName } from '../vault/names.js'
import { encodeObject } from '../git/objects.js'
import { type SigningKeyPair, signingKeyPair, wipe } from '../crypto/index.js'
import { nodeAuthor } from '../vault/author.js'
import { isDumpable } from '../crypto/harden.js'
import { PolykeyError, fromFsError } from '../errors.js'
import { DEFAULT_MOUNT_OPTIONS, type FuseInstance, isMounted, loadFuse, unmountFuse } from './binding.js'
import { makeOperations, type MountHost } from './ops.js'
import { KernelCache } from './kernel-cache.js'
import type { FuseOperations } from './binding.js'
import { Gate } from './guard.js'
import { auditLog } from '../vault/audit.js'

/** Edits within this window become one commit (editors write in bursts). */
export const COMMIT_DELAY_MS = 1000
/** …and never later than this after the first one: what kill -9 can lose (docs/SECURITY.md: about a second). */
export const COMMIT_MAX_DELAY_MS = 1000
/** Reads only: the audit records are saved this long after the first one (docs/SECURITY.md). */
const AUDIT_SAVE_MS = 10_000
/** How often a closing mount retries a save that failed (a full disk). */
const CLOSE_RETRY_MS = 2000
/** An operation's answer waits at most this long for the kernel to drop stale names. */
const INVALIDATION_WAIT_MS = 200
/** An open waits at most this long for its own file's attributes and pages to be dropped. */
const OPEN_WAIT_MS = 1000

/** Run `fn` once: when `p` settles, or after `ms`, whichever comes first. */
function whenOrAfter(p: Promise<void>, ms: number, fn: () => void): void {
  let timer: NodeJS.Timeout | null = null
  const go = () => {
    if (!timer) return
    clearTimeout(timer)
    timer = null
    fn()
  }
  timer = setTimeout(go, ms)
  timer.unref()
  void p.then(go)
}

export interface MountOptions {
  log: (msg: string) => void
  lockTimeoutMs?: number
  /** only programs the node's access rules allow may open secrets (docs/SECURITY.md) */
  guard?: boolean
  /** record every open of a secret in the node's audit log (default on) */
  audit?: boolean
  /** the user's rollback record (default: the one this process's environment names) */
  seen?: SeenRecord | null
}

export class MountedNode implements MountHost {
  readonly store: MemStore
  readonly vault: Vault
  readonly nodeId: string
  /** the node key: every commit the mount makes is signed with it; wiped on close */
  private readonly keys: SigningKeyPair
  private fuse: FuseInstance | null = null
  private kernel: KernelCache | null = null
  private gate: Gate | null = null
  private auditTimer: NodeJS.Timeout | null = null
  private pending = new Set<string>()
  private timer: NodeJS.Timeout | null = null
  private firstPending = 0
  private watch: NodeJS.Timeout | null = null
  private closing: Promise<void> | null = null
  private saveError: string | null = null
  private resolveClosed!: () => void
  /** settles once everything is saved and the node released (after unmount, by any route) */
  readonly closed = new Promise<void>((r) => (this.resolveClosed = r))

  private constructor(
    readonly file: NodeFile,
    private readonly lock: NodeLock,
    readonly mountpoint: string,
    private readonly opts: MountOptions,
  ) {
    this.store = MemStore.load(file)
    const sk = this.store.readFile(IDENTITY_MEMBER)
    if (!sk || sk.length !== 64) throw new PolykeyError('CORRUPT', 'node identity is missing or damaged')
    this.keys = signingKeyPair(sk.subarray(0, 32))
    this.nodeId = nodeIdOf(this.keys.publicKey)
    this.vault = new Vault(this.store, nodeAuthor(this.store, this.nodeId, this.keys))
  }

  static async open(nodePath: string, key: KeySource, mountpoint: string, opts: MountOptions): Promise<MountedNode> {
    // memfs calls process.getuid()/getgid() (a system call each) for every inode it creates and
    // every path it checks; this process serves one user whose ids do not change.
    const uid = process.getuid?.() ?? 0
    const gid = process.getgid?.() ?? 0
    process.getuid = () => uid
    process.getgid = () => gid
    const seen = opts.seen === undefined ? SeenRecord.forUser(process.env, (m) => opts.log(`warning: ${m}`)) : opts.seen
    const file = NodeFile.open(nodePath, key, { writable: true, warn: opts.log, seen })
    let lock: NodeLock | null = null
    try {
      lock = await NodeLock.acquire(nodePath, opts.lockTimeoutMs ?? 5000)
      file.refresh(opts.log)
      return new MountedNode(file, lock, mountpoint, opts)
    } catch (err) {
      lock?.release()
      file.close()
      throw err
    }
  }

  async mount(): Promise<void> {
    const Fuse = loadFuse()
    try {
      fs.mkdirSync(this.mountpoint, { recursive: true, mode: 0o700 })
    } catch (err) {
      throw fromFsError(err, `cannot create mountpoint ${this.mountpoint}`)
    }
    if (isMounted(this.mountpoint)) throw new PolykeyError('REFUSED', `${this.mountpoint} is already a mountpoint`)
    // A guard is only worth having if nothing else of the user's can read this process's memory.
    if (this.opts.guard && isDumpable() !== false)
      throw new PolykeyError(
        'REFUSED',
        'a guarded mount needs this process to be non-dumpable, and it is not',
        {},
        { hint: "build the native hardening addon ('make build'), then mount again" },
      )
    const gate = (this.gate = new Gate(this.store, this.vault, {
      guard: !!this.opts.guard,
      audit: this.opts.audit !== false,
      mountpoint: fs.realpathSync(this.mountpoint),
      log: (m) => this.log(m),
    }))
    // Records wait in memory (the read path only pushes an object) for the next save: a change's
    // coalesced save, or AUDIT_SAVE_MS after the first record when nothing else saves (a save
    // ends in an fsync that would stall the readers if it came every second), or at once when
    // MAX_PENDING records wait.
    auditLog(this.store).onPending = (full) => {
      if (full) return this.touched()
      this.auditTimer ??= setTimeout(() => {
        this.auditTimer = null
        if (!this.closing) this.save()
      }, AUDIT_SAVE_MS)
    }
    let ops = makeOperations(this, (code) => (Fuse as unknown as Record<string, number>)[code] ?? Fuse.EIO, {
      history: true,
      gate: gate.enabled ? gate : undefined,
      guard: !!this.opts.guard,
    })
    ops = this.keepKernelTrue(ops)
    if (process.env.POLYKEY_FUSE_STATS)
      ops = countCalls(
        ops,
        (counts) => this.log(`fuse op counts: ${JSON.stringify({ ...counts, ...Fuse.stats() })}`),
        (fn) => this.closed.then(fn),
      )
    const fuse = new Fuse(this.mountpoint, ops, {
      ...DEFAULT_MOUNT_OPTIONS,
      // No hardRemove: a file removed or renamed over while open keeps a hidden name in libfuse
      // (.fuse_hiddenNNNN, never shown, saved or committed; ops/hidden.ts), so its descriptors
      // keep working — read, write, fstat, ftruncate — until the last close.
      useIno: true, // report our inode numbers: a tag entry and its secret are one file (ls -i, find -samefile, cp -a, tar)
      // Repeated getattrs and read-only releases answered in the binding (docs/FUSE.md "Answered
      // in the binding"): every change the store records calls attrsChanged (below), and reads
      // move no access time (mem-store.ts noAccessTimes).
      fastAnswers: true,
      fsname: 'polykey',
      subtype: 'polykey',
      // No default_permissions: with attribute caching off it doubles the getattr calls of every
      // lookup. Modes are checked in open() instead (ops.ts); the mount is private to one user.
    } as ConstructorParameters<typeof Fuse>[2])
    this.store.onChange = (p) => {
      if (p !== META && !p.startsWith(`${META}/`)) fuse.attrsChanged() // (.polykey is never shown)
    }
    await new Promise<void>((resolve, reject) =>
      fuse.mount((err) => (err ? reject(new PolykeyError('IO', `cannot mount at ${this.mountpoint}: ${err.message}`, {}, { cause: err })) : resolve())),
    )
    this.fuse = fuse
    this.store.takeChanged() // what the kernel saw being made needs no invalidating
    this.kernel = new KernelCache(fuse, this.store, (m) => this.log(m))
    // `umount` / `fusermount -u` from outside: notice, save, exit.
    this.watch = setInterval(() => {
      if (!isMounted(this.mountpoint)) void this.close({ alreadyUnmounted: true })
    }, 500)
    this.watch.unref?.()
  }

  /**
   * After each operation that changed something, drop what the kernel cached for the other paths
   * concerned (a secret's other names; see kernel-cache.ts) before answering, so that the
   * invalidation is under way before the caller's system call returns; an open() waits for any
   * invalidation of the file it opens still under way, so nothing stale is read after the change.
   */
  private keepKernelTrue(ops: FuseOperations): FuseOperations {
    const out: Record<string, unknown> = { ...ops }
    // The path(s) an operation acts on: the kernel updated its own cache for them (writes go
    // through its page cache; a chmod's answer carries the new attributes).
    const ownPaths = new Set(['open', 'create', 'write', 'truncate', 'ftruncate', 'fallocate', 'fsync', 'release', 'chmod', 'utimens'])
    const namespace = new Set(['unlink', 'rename', 'link', 'mkdir', 'rmdir'])
    for (const name of [...ownPaths, ...namespace]) {
      const fn = (ops as Record<string, ((...a: unknown[]) => void) | undefined>)[name]
      if (!fn) continue
      out[name] = (...args: unknown[]) => {
        const cbAt = args.findIndex((a) => typeof a === 'function')
        const cb = args[cbAt] as (...r: unknown[]) => void
        args[cbAt] = (...r: unknown[]) => {
          if (!this.store.hasChanged || !this.kernel) return cb(...r)
          // The paths the operation names: the kernel updated its own cache for them. For the
          // namespace operations it also holds their folders locked until we answer, so dropping
          // one of those names would wait for this very answer.
          // (link: only the new name; the existing one's link count changed behind the kernel's back)
          const named = name === 'rename' ? [args[0], args[1]] : name === 'link' ? [args[1]] : [args[0]]
          const own = new Set(named.filter((a): a is string => typeof a === 'string').map((a) => a.slice(1)))
          const pending = this.kernel.flush(own)
          if (!pending) return cb(...r)
          // Answer once the kernel has dropped the other names (so the caller's next open of one
          // of them sees the change), but never hang on it: a rename racing this write can hold
          // a folder lock the invalidation needs until this answer is given.
          whenOrAfter(pending, INVALIDATION_WAIT_MS, () => cb(...r))
        }
        const run = () => fn(...args)
        // (the file it opens only: its pages and attributes must be dropped before it is read. ""
        // is the binding reopening a nameless node's file, by its inode, around the page cache.)
        const busy = name === 'open' && args[0] !== '' ? this.kernel?.idle(String(args[0]).slice(1)) : null
        if (!busy) return run()
        // never hang an open on it: an invalidation stuck behind a folder lock is at worst a
        // second's staleness (the attribute timeout), a hung open is a hung editor
        whenOrAfter(busy, OPEN_WAIT_MS, run)
      }
    }
    return out as FuseOperations
  }

  /** Drop what the kernel cached for everything changed so far (after an agent command). */
  async syncKernel(): Promise<void> {
    this.fuse?.attrsChanged() // (whatever the command did, touched or not)
    if (!this.kernel) {
      this.store.takeChanged()
      return
    }
    await this.kernel.flush()
    await this.kernel.idle()
  }

  // ------------------------------------------------------------------ MountHost
  log(msg: string): void {
    this.opts.log(msg)
  }
  changed(repo: string): void {
    this.pending.add(repo)
    this.schedule()
  }
  touched(): void {
    this.schedule()
  }
  syncNow(repo: string | null): void {
    if (repo) this.commitRepo(repo)
    this.save()
  }
  createRepo(name: string, mode: number): void {
    this.vault.repoCreate(name)
    if (mode) this.store.vol.chmodSync(`/${REPOS}/${name}`, mode)
    this.touched()
  }
  changedOutOfBand(): void {
    void this.syncKernel()
  }
  deleteRepo(name: string): void {
    this.pending.delete(name)
    this.vault.repoDelete(name)
    this.touched()
  }

  /**
   * Commit after COMMIT_DELAY_MS of quiet, but never later than COMMIT_MAX_DELAY_MS after the
   * first pending change: an editor's write-temp-then-rename save lands in one commit, and a
   * crash loses about a second (the two are equal now: one window from the first change).
   */
  private schedule(): void {
    if (this.closing) return
    const now = Date.now()
    if (this.timer) {
      if (now - this.firstPending >= COMMIT_MAX_DELAY_MS - COMMIT_DELAY_MS) return
      clearTimeout(this.timer)
    } else this.firstPending = now
    this.timer = setTimeout(() => {
      this.timer = null
      this.flush()
    }, COMMIT_DELAY_MS)
  }

  /** Commit every repository with pending edits, then append to the node file. */
  flush(): void {
    for (const repo of [...this.pending]) {
      if (this.commitRepo(repo) === 'busy') continue
    }
    this.save()
    if (this.pending.size || this.store.dirty.size) this.schedule()
  }

  /**
   * One commit from what differs between the working tree and HEAD. Files with open writers
   * wait for their close ("a closed, changed file becomes one commit").
   */
  private commitRepo(repo: string): 'done' | 'busy' {
    if (!this.vault.hasRepo(repo)) {
      this.pending.delete(repo)
      return 'done'
    }
    const dir = `${REPOS}/${repo}`
    const git = this.vault.git(repo)
    const head = git.treeOf(git.head())
    const changes = new Map<string, { data: Buffer; mode: number } | null>()
    const added: string[] = []
    const updated: string[] = []
    const removed: string[] = []
    const seen = new Set<string>()
    for (const name of this.store.list(dir)) {
      if (name === '.git' || isScratchName(name)) continue
      const st = this.store.stat(`${dir}/${name}`)
      if (st?.type !== 'file') continue
      const ino = this.store.ino(`${dir}/${name}`)!
      if (this.store.openWriters.get(ino)) return 'busy'
      seen.add(name)
      const data = this.store.readFile(`${dir}/${name}`)!
      const mode = st.mode & 0o111 ? '100755' : '100644'
      const old = head.get(name)
      if (old && old.oid === encodeObject('blob', data).oid && old.mode === mode) continue
      changes.set(name, { data, mode: st.mode })
      ;(old ? updated : added).push(name)
    }
    for (const name of head.keys()) if (!seen.has(name)) (changes.set(name, null), removed.push(name))
    this.pending.delete(repo)
    if (changes.size === 0) return 'done'
    git.commit(changes, message(added, updated, removed, head, changes), this.vault.author, Date.now())
    return 'done'
  }

  /** Append the dirty state; on failure (disk full…) keep it in memory and try again later. */
  save(): void {
    try {
      auditLog(this.store).flush()
      this.store.save(this.file)
      if (this.saveError) this.log('saving works again')
      this.saveError = null
    } catch (err) {
      const msg = err instanceof PolykeyError ? err.message : String(err)
      if (msg !== this.saveError) this.log(`cannot save the node file (changes are kept in memory and retried): ${msg}`)
      this.saveError = msg
    }
  }

  /** Persist everything, unmount, release the node. Idempotent. */
  close(opts: { alreadyUnmounted?: boolean } = {}): Promise<void> {
    this.closing ??= (async () => {
      if (this.timer) clearTimeout(this.timer)
      if (this.auditTimer) clearTimeout(this.auditTimer)
      if (this.watch) clearInterval(this.watch)
      this.timer = null
      // Open writers cannot finish once unmounted: commit what they wrote.
      this.store.openWriters.clear()
      for (const repo of [...this.pending]) this.commitRepo(repo)
      this.save()
      // Unmounted from outside with the disk full: the changes exist only here. Keep the process
      // (and the node lock) until a save works, saying so once; never release and lose them.
      if (this.saveError)
        this.log(`the node was unmounted but changes could not be saved (${this.saveError}); keeping them in memory and retrying every ${CLOSE_RETRY_MS / 1000} s`)
      while (this.saveError) {
        await new Promise((r) => setTimeout(r, CLOSE_RETRY_MS))
        this.save()
      }
      if (this.fuse && !opts.alreadyUnmounted) {
        try {
          await unmountFuse(this.fuse)
        } catch (err) {
          this.log(String((err as Error).message))
        }
      }
      this.gate?.close()
      this.lock.release()
      this.file.close()
      wipeVolume(this.store)
      wipe(this.keys.secretKey)
      this.resolveClosed()
    })()
    return this.closing
  }

  get guarded(): boolean {
    return !!this.opts.guard
  }

  get saveFailing(): string | null {
    return this.saveError
  }
}

function message(added: string[], updated: string[], removed: string[], head: Map<string, { oid: string }>, changes: Map<string, { data: Buffer } | null>): string {
  if (added.length === 1 && removed.length === 1 && updated.length === 0) {
    const a = changes.get(added[0])!
    if (head.get(removed[0])!.oid === encodeObject('blob', a.data).oid) return `rename ${removed[0]} to ${added[0]}`
  }
  const parts: string[] = []
  const list = (verb: string, xs: string[]) => {
    if (xs.length) parts.push(`${verb} ${xs.length <= 3 ? xs.join(', ') : `${xs.length} secrets`}`)
  }
  list('add', added)
  list('update', updated)
  list('remove', removed)
  return parts.join('; ')
}

/** Diagnostics (POLYKEY_FUSE_STATS=1): how many times the kernel called each operation. */
function countCalls<T extends object>(ops: T, report: (c: Record<string, number>) => void, onClose: (fn: () => void) => void): T {
  const counts: Record<string, number> = {}
  const out: Record<string, unknown> = {}
  for (const [name, fn] of Object.entries(ops)) {
    out[name] = (...args: unknown[]) => {
      counts[name] = (counts[name] ?? 0) + 1
      return (fn as (...a: unknown[]) => unknown)(...args)
    }
  }
  onClose(() => report(counts))
  return out as T
}
