'use strict'
/*
 * Polykey's patched copy of fuse-native 2.2.6's index.js (MIT, see ./LICENSE;
 * upstream https://github.com/fuse-friends/fuse-native). The public API is
 * upstream's: new Fuse(mnt, ops, opts), fuse.mount(cb), fuse.unmount(cb),
 * Fuse.unmount(mnt, cb), Fuse.E* errno constants, fuse.errno(code). Changes
 * are marked "POLYKEY:" and summarised here (rationale in docs/FUSE.md):
 *
 *  - Loads ../build/Release/fuse_native.node, built from ./fuse-native.c by
 *    ../Makefile against the system libfuse. No node-gyp-build, no
 *    fuse-shared-library, no nanoresource (its 130 lines are inlined below).
 *  - Options: numeric options given as 0 are honoured (upstream tested them
 *    for truthiness, so attrTimeout: 0 / entryTimeout: 0 / umask: 0 / uid: 0
 *    were silently dropped and libfuse's 1 s defaults applied); userId was
 *    emitted as "user_id=,N"; new options negativeTimeout, bigWrites, maxWrite,
 *    hardRemove, useIno, readdirIno, directIo, atomicOTrunc, extraOptions.
 *    Option values are validated so that none can inject extra options.
 *  - Every operation handler gets one extra, final argument after the
 *    callback: ctx = { uid, gid, pid, umask } of the calling process
 *    (fuse_get_context()), plus req (low 32 bits of the kernel request's id:
 *    every operation one request leads to has the same) and hide (rename only:
 *    1 or 2 when libfuse is hiding an open file for an unlink or for a rename
 *    over it, 0 otherwise), and for an open with the path "" ino: the inode
 *    number of the file to open (the channel reopening what a node without a
 *    name stood for; only when open, fgetattr and release are implemented).
 *    fuse.getContext() returns the same object while a handler is running
 *    synchronously.
 *  - utimens(path, atime, mtime, cb, ctx): atime and mtime are milliseconds
 *    since the epoch (numbers, may be negative), or null when that time is to
 *    be left unchanged (UTIME_OMIT). Upstream passed atime as both.
 *  - New op: fallocate(path, mode, offset, length, fd, cb, ctx).
 *  - fgetattr(path, fd, cb, ctx) is called when implemented (upstream called
 *    getattr instead); opendir(path, flags, cb, ctx) gets the real open flags
 *    (upstream passed the not yet assigned file handle, always 0).
 *  - umask given as a number is written in octal, as libfuse parses it.
 *  - An operation timeout of 0 (globally or per op) disables the timeout like
 *    false does (upstream silently turned 0 into the 15 s default).
 *  - Fuse.unmount() runs fusermount via execFile (upstream built a shell
 *    command line from the path).
 */

const os = require('os')
const fs = require('fs')
const path = require('path')
const { execFile } = require('child_process')

// POLYKEY: our own build (see ../Makefile), not node-gyp-build's prebuilds.
const BINDING_PATH = path.join(__dirname, '..', 'build', 'Release', 'fuse_native.node')
const binding = require(BINDING_PATH)

const IS_OSX = os.platform() === 'darwin'
const OSX_FOLDER_ICON = '/System/Library/CoreServices/CoreTypes.bundle/Contents/Resources/GenericFolderIcon.icns'
const HAS_FOLDER_ICON = IS_OSX && fs.existsSync(OSX_FOLDER_ICON)
const DEFAULT_TIMEOUT = 15 * 1000
const TIMEOUT_ERRNO = IS_OSX ? -60 : -110
const ENOTCONN = IS_OSX ? -57 : -107
const OP_COUNT = binding.op_count // POLYKEY: was a literal 35
const LITTLE_ENDIAN = os.endianness() === 'LE'

// POLYKEY: where fuse-native.c stores the caller context in the per-thread
// buffer it hands to every handler.
const CTX_UID = binding.offsetof_fuse_thread_locals_t_ctx_uid
const CTX_GID = binding.offsetof_fuse_thread_locals_t_ctx_gid
const CTX_PID = binding.offsetof_fuse_thread_locals_t_ctx_pid
const CTX_UMASK = binding.offsetof_fuse_thread_locals_t_ctx_umask
const CTX_REQ = binding.offsetof_fuse_thread_locals_t_ctx_req
const CTX_HIDE = binding.offsetof_fuse_thread_locals_t_ctx_hide
const CTX_INO = binding.offsetof_fuse_thread_locals_t_ctx_ino
// POLYKEY: the words JS shares with the binding's own answers (fuse-native.c "Answered in the
// binding"): the attribute generation, and how many deferred releases wait.
const FT_ATTR_GEN = binding.offsetof_fuse_thread_t_attr_gen
const FT_RELEASES_PENDING = binding.offsetof_fuse_thread_t_releases_pending
// Requests that change nothing any answer depends on: they leave the attribute generation alone
// (every other request bumps it before it runs). An open does when it may write or truncate.
// (read and readdir: a filesystem asking for fastAnswers moves no access time on reads.)
const KEEPS_ATTRS = new Set(['init', 'getattr', 'fgetattr', 'opendir', 'readdir', 'releasedir', 'read', 'statfs', 'access', 'getxattr', 'listxattr', 'readlink', 'flush', 'release'])
// Requests that cannot tell whether a read-only file's release was taken yet (the ones that
// only look, and any open); before any other, the deferred releases are taken first, so that it
// finds them done.
const IGNORES_RELEASES = new Set([...KEEPS_ATTRS, 'open'])
const O_WRITE_OR_TRUNC = 3 | 0o1000 // O_ACCMODE | O_TRUNC
const RELEASE_CTX = Object.freeze({ uid: 0, gid: 0, pid: 0, umask: 0, req: 0, hide: 0 })

function readContext (buf) {
  const ctx = LITTLE_ENDIAN
    ? { uid: buf.readUInt32LE(CTX_UID), gid: buf.readUInt32LE(CTX_GID), pid: buf.readUInt32LE(CTX_PID), umask: buf.readUInt32LE(CTX_UMASK), req: buf.readUInt32LE(CTX_REQ), hide: buf.readUInt32LE(CTX_HIDE) }
    : { uid: buf.readUInt32BE(CTX_UID), gid: buf.readUInt32BE(CTX_GID), pid: buf.readUInt32BE(CTX_PID), umask: buf.readUInt32BE(CTX_UMASK), req: buf.readUInt32BE(CTX_REQ), hide: buf.readUInt32BE(CTX_HIDE) }
  // POLYKEY: an open with the path "" is the binding opening, by inode number, the file that a
  // node without a name stood for (fuse-native.c pk_rescue_open)
  const ino = LITTLE_ENDIAN ? buf.readUInt32LE(CTX_INO) : buf.readUInt32BE(CTX_INO)
  if (ino) ctx.ino = ino
  return ctx
}

const OpcodesAndDefaults = new Map([
  ['init', {
    op: binding.op_init
  }],
  ['error', {
    op: binding.op_error
  }],
  ['access', {
    op: binding.op_access,
    defaults: [0]
  }],
  ['statfs', {
    op: binding.op_statfs,
    defaults: [getStatfsArray()]
  }],
  ['fgetattr', {
    op: binding.op_fgetattr,
    defaults: [getStatArray()]
  }],
  ['getattr', {
    op: binding.op_getattr,
    defaults: [getStatArray()]
  }],
  ['flush', {
    op: binding.op_flush
  }],
  ['fsync', {
    op: binding.op_fsync
  }],
  ['fsyncdir', {
    op: binding.op_fsyncdir
  }],
  ['readdir', {
    op: binding.op_readdir,
    defaults: [[], []]
  }],
  ['truncate', {
    op: binding.op_truncate
  }],
  ['ftruncate', {
    op: binding.op_ftruncate
  }],
  ['utimens', {
    op: binding.op_utimens
  }],
  ['readlink', {
    op: binding.op_readlink,
    defaults: ['']
  }],
  ['chown', {
    op: binding.op_chown
  }],
  ['chmod', {
    op: binding.op_chmod
  }],
  ['mknod', {
    op: binding.op_mknod
  }],
  ['setxattr', {
    op: binding.op_setxattr
  }],
  ['getxattr', {
    op: binding.op_getxattr
  }],
  ['listxattr', {
    op: binding.op_listxattr
  }],
  ['removexattr', {
    op: binding.op_removexattr
  }],
  ['open', {
    op: binding.op_open,
    defaults: [0, 0]
  }],
  ['opendir', {
    op: binding.op_opendir,
    defaults: [0]
  }],
  ['read', {
    op: binding.op_read,
    defaults: [0]
  }],
  ['write', {
    op: binding.op_write,
    defaults: [0]
  }],
  ['release', {
    op: binding.op_release
  }],
  ['releasedir', {
    op: binding.op_releasedir
  }],
  ['create', {
    op: binding.op_create,
    defaults: [0, 0]
  }],
  ['unlink', {
    op: binding.op_unlink
  }],
  ['rename', {
    op: binding.op_rename
  }],
  ['link', {
    op: binding.op_link
  }],
  ['symlink', {
    op: binding.op_symlink
  }],
  ['mkdir', {
    op: binding.op_mkdir
  }],
  ['rmdir', {
    op: binding.op_rmdir
  }],
  ['fallocate', { // POLYKEY: new
    op: binding.op_fallocate
  }]
])

// POLYKEY: nanoresource 1.3.0 (MIT, Mathias Buus) inlined, so this file only
// depends on Node and our own addon.
const kOpening = Symbol('opening queue')
const kPreclosing = Symbol('closing when inactive')
const kClosing = Symbol('closing queue')
const kSync = Symbol('sync')
const kFastClose = Symbol('fast close')

class Nanoresource {
  constructor () {
    this.opening = false
    this.opened = false
    this.closing = false
    this.closed = false
    this.actives = 0
    this[kOpening] = null
    this[kPreclosing] = null
    this[kClosing] = null
    this[kSync] = false
    this[kFastClose] = true
  }

  _open (cb) { cb(null) }
  // POLYKEY: drop what the kernel cached for `relPath` (relative to the
  // mountpoint, e.g. '/repos/web/db'): invalidate() drops the attributes and
  // cached pages of the file or folder there; invalidateEntry() drops the
  // name itself (a rename or removal the kernel did not see). Runs off the JS
  // thread; cb(err), where err.code 'ENOENT' means nothing was cached.
  invalidate (relPath, cb) {
    this._invalidate(relPath, false, cb)
  }

  invalidateEntry (relPath, cb) {
    this._invalidate(relPath, true, cb)
  }

  _invalidate (relPath, entry, cb) {
    if (!this._thread || !this.opened) return process.nextTick(cb, Object.assign(new Error('not mounted'), { errno: ENOTCONN, code: 'ENOTCONN' }))
    const abs = path.join(this.mnt, relPath)
    if (!abs.startsWith(this.mnt + '/') && abs !== this.mnt) return process.nextTick(cb, new Error('invalidate: path outside the mount'))
    try {
      binding.fuse_native_invalidate(this._thread, abs, entry, (res) => {
        if (res >= 0) return cb(null)
        const code = Object.keys(os.constants.errno).find((k) => os.constants.errno[k] === -res)
        cb(Object.assign(new Error(`invalidate ${relPath}: ${code || res}`), { errno: res, code }))
      })
    } catch (err) {
      process.nextTick(cb, err)
    }
  }

  _close (cb) { cb(null) }

  open (cb) {
    if (!cb) cb = noop
    if (this[kClosing] || this.closed) return process.nextTick(cb, new Error('Resource is closed'))
    if (this.opened) return process.nextTick(cb)
    if (this[kOpening]) {
      this[kOpening].push(cb)
      return
    }
    this.opening = true
    this[kOpening] = [cb]
    this[kSync] = true
    this._open(resourceOnOpen.bind(this))
    this[kSync] = false
  }

  active (cb) {
    if ((this[kFastClose] && this[kPreclosing]) || this[kClosing] || this.closed) {
      if (cb) process.nextTick(cb, new Error('Resource is closed'))
      return false
    }
    this.actives++
    return true
  }

  inactive (cb, err, val) {
    if (!--this.actives) {
      const queue = this[kPreclosing]
      if (queue) {
        this[kPreclosing] = null
        while (queue.length) this.close(queue.shift())
      }
    }
    if (cb) cb(err, val)
  }

  close (allowActive, cb) {
    if (typeof allowActive === 'function') return this.close(false, allowActive)
    if (!cb) cb = noop
    if (allowActive) this[kFastClose] = false
    if (this.closed) return process.nextTick(cb)
    if (this.actives || this[kOpening]) {
      if (!this[kPreclosing]) this[kPreclosing] = []
      this[kPreclosing].push(cb)
      return
    }
    if (!this.opened) {
      this.closed = true
      process.nextTick(cb)
      return
    }
    if (this[kClosing]) {
      this[kClosing].push(cb)
      return
    }
    this.closing = true
    this[kClosing] = [cb]
    this[kSync] = true
    this._close(resourceOnClose.bind(this))
    this[kSync] = false
  }
}

function resourceOnOpen (err) {
  if (this[kSync]) return process.nextTick(resourceOnOpen.bind(this), err)
  const oqueue = this[kOpening]
  this[kOpening] = null
  this.opening = false
  this.opened = !err
  while (oqueue.length) oqueue.shift()(err)
  const cqueue = this[kPreclosing]
  if (cqueue && !this.actives) {
    this[kPreclosing] = null
    while (cqueue.length) this.close(cqueue.shift())
  }
}

function resourceOnClose (err) {
  if (this[kSync]) return process.nextTick(resourceOnClose.bind(this), err)
  const queue = this[kClosing]
  this.closing = false
  this[kClosing] = null
  this.closed = !err
  while (queue.length) queue.shift()(err)
}

function noop () {}

// POLYKEY: option helpers. libfuse parses "-o a,b=c" itself, so a value that
// contains a comma (or is not what it claims to be) could smuggle in options.
function numberOption (name, value) {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new TypeError(`fuse option ${name} must be a finite number >= 0, got ${value}`)
  }
  return String(value)
}

function intOption (name, value) {
  if (!Number.isInteger(value) || value < 0) {
    throw new TypeError(`fuse option ${name} must be an integer >= 0, got ${value}`)
  }
  return String(value)
}

function stringOption (name, value) {
  value = String(value)
  if (/[,\s\\]/.test(value) || value.length === 0) {
    throw new TypeError(`fuse option ${name} must be a non-empty string without commas, spaces or backslashes, got ${JSON.stringify(value)}`)
  }
  return value
}

function isSet (value) {
  return value !== undefined && value !== null && value !== false
}

class Fuse extends Nanoresource {
  constructor (mnt, ops, opts = {}) {
    super()

    this.opts = opts
    this.mnt = path.resolve(mnt)
    this.ops = ops
    // POLYKEY: 0 disables the timeout like false (upstream: 0 -> 15 s default)
    this.timeout = (opts.timeout === false || opts.timeout === 0) ? 0 : (opts.timeout || DEFAULT_TIMEOUT)

    this._force = !!opts.force
    this._mkdir = !!opts.mkdir
    // POLYKEY: let the binding answer repeated getattrs and read-only releases itself
    // (fuse-native.c "Answered in the binding"); the filesystem then calls attrsChanged()
    // whenever an answer it gave may have changed by anything but a request it was asked.
    this._fast = !!opts.fastAnswers
    this._attrGen = null
    this._releasesPending = null
    this._released = null
    this._thread = null
    this._currentContext = null
    this._handlers = this._makeHandlerArray()
    this._threads = new Set()

    const implemented = [binding.op_init, binding.op_error, binding.op_getattr]
    if (ops) {
      for (const [name, { op }] of OpcodesAndDefaults) {
        if (ops[name]) implemented.push(op)
      }
    }
    this._implemented = new Set(implemented)

    // Validate the options now rather than at mount time (throws TypeError).
    this._fuseOptions()

    // Used to determine if the user-defined callback needs to be nextTick'd.
    this._sync = true
  }

  _getImplementedArray () {
    const implemented = new Uint32Array(OP_COUNT)
    for (const impl of this._implemented) {
      implemented[impl] = 1
    }
    return implemented
  }

  _fuseOptions () {
    const o = this.opts
    const options = []

    if ((/\*|(^,)fuse-bindings(,$)/.test(process.env.DEBUG)) || o.debug) options.push('debug')
    if (o.allowOther) options.push('allow_other')
    if (o.allowRoot) options.push('allow_root')
    if (o.autoUnmount) options.push('auto_unmount')
    if (o.defaultPermissions) options.push('default_permissions')
    if (o.blkdev) options.push('blkdev')
    // POLYKEY: every numeric option is tested with isSet(), not truthiness,
    // so that 0 (e.g. attr_timeout=0) reaches libfuse.
    if (isSet(o.blksize)) options.push('blksize=' + intOption('blksize', o.blksize))
    if (isSet(o.maxRead)) options.push('max_read=' + intOption('maxRead', o.maxRead))
    if (isSet(o.maxWrite)) options.push('max_write=' + intOption('maxWrite', o.maxWrite))
    if (isSet(o.fd)) options.push('fd=' + intOption('fd', o.fd))
    if (isSet(o.userId)) options.push('user_id=' + intOption('userId', o.userId)) // POLYKEY: was push('user_id=', id)
    if (isSet(o.fsname)) options.push('fsname=' + stringOption('fsname', o.fsname))
    if (isSet(o.subtype)) options.push('subtype=' + stringOption('subtype', o.subtype))
    if (o.kernelCache) options.push('kernel_cache')
    if (o.autoCache) options.push('auto_cache')
    if (o.bigWrites) options.push('big_writes')
    if (o.directIo) options.push('direct_io')
    if (o.hardRemove) options.push('hard_remove')
    if (o.useIno) options.push('use_ino')
    if (o.readdirIno) options.push('readdir_ino')
    if (o.atomicOTrunc) options.push('atomic_o_trunc')
    if (isSet(o.umask)) options.push('umask=' + (typeof o.umask === 'number' ? o.umask.toString(8).padStart(4, '0') : stringOption('umask', o.umask)))
    if (isSet(o.uid)) options.push('uid=' + intOption('uid', o.uid))
    if (isSet(o.gid)) options.push('gid=' + intOption('gid', o.gid))
    if (isSet(o.entryTimeout)) options.push('entry_timeout=' + numberOption('entryTimeout', o.entryTimeout))
    if (isSet(o.negativeTimeout)) options.push('negative_timeout=' + numberOption('negativeTimeout', o.negativeTimeout))
    if (isSet(o.attrTimeout)) options.push('attr_timeout=' + numberOption('attrTimeout', o.attrTimeout))
    if (isSet(o.acAttrTimeout)) options.push('ac_attr_timeout=' + numberOption('acAttrTimeout', o.acAttrTimeout))
    if (o.noforget) options.push('noforget')
    if (isSet(o.remember)) options.push('remember=' + intOption('remember', o.remember))
    if (isSet(o.modules)) options.push('modules=' + stringOption('modules', o.modules))
    if (Array.isArray(o.extraOptions)) {
      for (const extra of o.extraOptions) options.push(stringOption('extraOptions', extra))
    }

    if (o.displayFolder && IS_OSX) { // only works on osx
      options.push('volname=' + path.basename(o.name || this.mnt))
      if (HAS_FOLDER_ICON) options.push('volicon=' + OSX_FOLDER_ICON)
    }

    const str = options.length ? '-o' + options.join(',') : ''
    if (Buffer.byteLength(str) >= 1024) throw new TypeError('fuse options are too long (fuse-native.c limit: 1023 bytes)')
    return str
  }

  _malloc (size) {
    const buf = Buffer.alloc(size)
    this._threads.add(buf)
    return buf
  }

  _makeHandlerArray () {
    const self = this
    const handlers = new Array(OpcodesAndDefaults.size)

    for (const [name, { op, defaults }] of OpcodesAndDefaults) {
      const nativeSignal = binding[`fuse_native_signal_${name}`]
      if (!nativeSignal) continue

      handlers[op] = makeHandler(name, op, defaults, nativeSignal)
    }

    return handlers

    function makeHandler (name, op, defaults, nativeSignal) {
      let to = self.timeout
      if (typeof to === 'object' && to) {
        const defaultTimeout = (to.default === false || to.default === 0) ? 0 : (to.default || DEFAULT_TIMEOUT)
        to = to[name]
        // POLYKEY: an explicit 0 disables this op's timeout (like false)
        if (to === undefined || to === null) to = defaultTimeout
      }

      const keepsAttrs = KEEPS_ATTRS.has(name)
      const ignoresReleases = IGNORES_RELEASES.has(name)
      return function (nativeHandler, opCode, ...args) {
        const sig = signal.bind(null, nativeHandler)
        const funcName = `_op_${name}`
        if (!self[funcName] || !self._implemented.has(op)) return sig(-1, ...defaults)
        // POLYKEY: keep the binding's own answers true (attrsChanged, _takeReleases)
        if (self._attrGen !== null) {
          if (!ignoresReleases && self._releasesPending[0] !== 0) self._takeReleases()
          if (!keepsAttrs && !(name === 'open' && (args[1] & O_WRITE_OR_TRUNC) === 0)) Atomics.add(self._attrGen, 0, 1)
        }
        // POLYKEY: the timeout's timer is started only when the handler has not answered by the
        // time it returns (most answer at once: no timer to arm and clear per request).
        const timed = to ? lazyTimeout(sig, args) : null
        const boundSignal = timed ? timed.cb : sig
        // POLYKEY: caller context, passed to the op as its last argument.
        const ctx = readContext(nativeHandler)
        self._currentContext = ctx
        try {
          return self[funcName].apply(self, [boundSignal, ctx, ...args])
        } finally {
          self._currentContext = null
          if (timed) timed.arm()
        }
      }

      function signal (nativeHandler, err, ...args) {
        var arr = [nativeHandler, err, ...args]

        if (defaults) {
          while (arr.length > 2 && arr[arr.length - 1] === undefined) arr.pop()
          if (arr.length === 2) arr = arr.concat(defaults)
        }

        // POLYKEY: answered at once (upstream deferred every answer to a nextTick: one more queue
        // entry and a copy of the arguments per request). The worker thread may go on to its
        // next request now; nothing after the answer touches this request's buffers.
        return nativeSignal(...arr)
      }

      function lazyTimeout (cb, input) {
        let called = false
        let timeout = null
        return { cb: timeoutWrap, arm () { if (!called) timeout = setTimeout(timeoutWrap, to, TIMEOUT_ERRNO) } }

        function timeoutWrap (err, ...args) {
          if (called) return
          called = true

          if (timeout) clearTimeout(timeout)

          if (err === TIMEOUT_ERRNO) {
            switch (name) {
              case 'write':
              case 'read':
                return cb(TIMEOUT_ERRNO, 0, input[2].buffer)
              case 'setxattr':
                return cb(TIMEOUT_ERRNO, input[2].buffer)
              case 'getxattr':
                return cb(TIMEOUT_ERRNO, input[2].buffer)
              case 'listxattr':
                return cb(TIMEOUT_ERRNO, input[1].buffer)
            }
          }

          cb(err, ...args)
        }
      }
    }
  }

  // Static methods

  // POLYKEY: what the binding's channel did on its own, for every mount of this process
  static stats () {
    return binding.fuse_native_stats()
  }

  static unmount (mnt, cb) {
    // POLYKEY: execFile, no shell (upstream interpolated the path into a shell command)
    const [cmd, args] = IS_OSX ? ['diskutil', ['unmount', 'force', mnt]] : ['fusermount', ['-u', '-z', mnt]]
    execFile(cmd, args, err => {
      if (err) return cb(err)
      return cb(null)
    })
  }

  // POLYKEY: something an answer was given from may have changed other than by a request the
  // binding handed us (a command through the agent, a commit, a pull): answers the binding kept
  // are not given again. Call it before the change is visible to anyone.
  attrsChanged () {
    if (this._attrGen) Atomics.add(this._attrGen, 0, 1)
  }

  // POLYKEY: the binding's wakeup: releases it answered are waiting (one wakeup for a batch).
  _onReleased () {
    this._takeReleases()
  }

  // POLYKEY: the releases the binding answered itself, made now (in order). Called at the
  // binding's wakeup, before any request that could tell, and before unmount.
  _takeReleases () {
    if (!this._thread || !this._released) return
    const fds = this._released
    for (;;) {
      const n = binding.fuse_native_take_releases(this._thread, fds)
      for (let i = 0; i < n; i++) {
        try {
          this.ops.release('', fds[i], noop, RELEASE_CTX)
        } catch {} // (the filesystem answers with an errno; nobody waits for this one)
      }
      if (n < fds.length) return
    }
  }

  // POLYKEY: the caller of the operation whose handler is running right now
  // (synchronous part only; null otherwise). Handlers also get it as their
  // last argument, which stays valid in asynchronous code.
  getContext () {
    return this._currentContext
  }

  // Lifecycle methods

  _open (cb) {
    const self = this

    if (this._force) {
      return fs.stat(path.join(this.mnt, 'test'), (err, st) => {
        if (err && (err.errno === ENOTCONN || err.errno === Fuse.ENXIO)) return Fuse.unmount(this.mnt, open)
        return open()
      })
    }
    return open()

    function open () {
      // If there was an unmount error, continue attempting to mount (this is the best we can do)
      self._thread = Buffer.alloc(binding.sizeof_fuse_thread_t)
      self._openCallback = cb
      if (self._fast) {
        // (Buffer.alloc: its own ArrayBuffer, so these 32-bit words are aligned)
        self._attrGen = new Int32Array(self._thread.buffer, self._thread.byteOffset + FT_ATTR_GEN, 1)
        self._releasesPending = new Int32Array(self._thread.buffer, self._thread.byteOffset + FT_RELEASES_PENDING, 1)
        self._released = new Uint32Array(256)
      }

      const opts = self._fuseOptions()
      const implemented = self._getImplementedArray()

      return fs.stat(self.mnt, (err, stat) => {
        if (err && err.errno !== -2) return cb(err)
        if (err) {
          if (!self._mkdir) return cb(new Error('Mountpoint does not exist'))
          return fs.mkdir(self.mnt, { recursive: true }, err => {
            if (err) return cb(err)
            fs.stat(self.mnt, (err, stat) => {
              if (err) return cb(err)
              return onexists(stat)
            })
          })
        }
        if (!stat.isDirectory()) return cb(new Error('Mountpoint is not a directory'))
        return onexists(stat)
      })

      function onexists (stat) {
        fs.stat(path.join(self.mnt, '..'), (_, parent) => {
          if (parent && parent.dev !== stat.dev) return cb(new Error('Mountpoint in use'))
          try {
            // TODO: asyncify
            binding.fuse_native_mount(self.mnt, opts, self._thread, self, self._malloc, self._handlers, implemented, self._fast ? () => self._onReleased() : undefined)
          } catch (err) {
            self._openCallback = null
            return cb(err)
          }
        })
      }
    }
  }

  _close (cb) {
    const self = this

    Fuse.unmount(this.mnt, err => {
      if (err) {
        err.unmountFailure = true
        return cb(err)
      }
      nativeUnmount()
    })

    function nativeUnmount () {
      try {
        binding.fuse_native_unmount(self.mnt, self._thread)
        self._takeReleases() // POLYKEY: the ones the binding answered (it answers no more now)
      } catch (err) {
        return cb(err)
      }
      return cb(null)
    }
  }

  // Handlers. POLYKEY: each gets the caller context as its second parameter
  // and passes it to the user's op after the callback.

  _op_init (signal) {
    if (this._openCallback) {
      process.nextTick(this._openCallback, null)
      this._openCallback = null
    }
    if (!this.ops.init) {
      signal(0)
      return
    }
    this.ops.init(err => {
      return signal(err)
    })
  }

  _op_error (signal) {
    if (!this.ops.error) {
      signal(0)
      return
    }
    this.ops.error(err => {
      return signal(err)
    })
  }

  _op_statfs (signal, ctx, path) {
    this.ops.statfs(path, (err, statfs) => {
      if (err) return signal(err)
      const arr = getStatfsArray(statfs)
      return signal(0, arr)
    }, ctx)
  }

  _op_getattr (signal, ctx, path) {
    if (!this.ops.getattr) {
      if (path !== '/') {
        signal(Fuse.EPERM)
      } else {
        signal(0, getStatArray({ mtime: new Date(0), atime: new Date(0), ctime: new Date(0), mode: 16877, size: 4096 }))
      }
      return
    }

    this.ops.getattr(path, (err, stat) => {
      if (err) return signal(err, getStatArray())
      return signal(0, getStatArray(stat))
    }, ctx)
  }

  _op_fgetattr (signal, ctx, path, fd) {
    // POLYKEY: call ops.fgetattr when given (upstream always called getattr)
    if (this.ops.fgetattr) {
      this.ops.fgetattr(path, fd, (err, stat) => {
        if (err) return signal(err)
        return signal(0, getStatArray(stat))
      }, ctx)
      return
    }
    if (!this.ops.getattr) {
      if (path !== '/') {
        signal(Fuse.EPERM)
      } else {
        signal(0, getStatArray({ mtime: new Date(0), atime: new Date(0), ctime: new Date(0), mode: 16877, size: 4096 }))
      }
      return
    }
    this.ops.getattr(path, (err, stat) => {
      if (err) return signal(err)
      return signal(0, getStatArray(stat))
    }, ctx)
  }

  _op_access (signal, ctx, path, mode) {
    this.ops.access(path, mode, err => {
      return signal(err)
    }, ctx)
  }

  _op_open (signal, ctx, path, flags) {
    // POLYKEY: (err, fd, openFlags): bit 0 = direct_io for this open
    this.ops.open(path, flags, (err, fd, openFlags) => {
      return signal(err, fd || 0, openFlags || 0)
    }, ctx)
  }

  _op_opendir (signal, ctx, path, fh, flags) {
    // POLYKEY: fuse-native.c sends (path, fh, flags); upstream handed the
    // (always 0) fh to the op as "flags". The op now gets the real flags.
    this.ops.opendir(path, flags, (err, fd) => {
      return signal(err, fd)
    }, ctx)
  }

  _op_create (signal, ctx, path, mode) {
    this.ops.create(path, mode, (err, fd, openFlags) => {
      return signal(err, fd || 0, openFlags || 0)
    }, ctx)
  }

  _op_utimens (signal, ctx, path, atime, mtime) {
    // POLYKEY: fuse-native.c now sends atime and mtime as ms numbers (or null
    // for "leave unchanged"); upstream sent atime twice as 32-bit halves.
    this.ops.utimens(path, atime, mtime, err => {
      return signal(err)
    }, ctx)
  }

  _op_release (signal, ctx, path, fd) {
    this.ops.release(path, fd, err => {
      return signal(err)
    }, ctx)
  }

  _op_releasedir (signal, ctx, path, fd) {
    this.ops.releasedir(path, fd, err => {
      return signal(err)
    }, ctx)
  }

  _op_read (signal, ctx, path, fd, buf, len, offsetLow, offsetHigh) {
    this.ops.read(path, fd, buf, len, getDoubleArg(offsetLow, offsetHigh), (err, bytesRead) => {
      return signal(err, bytesRead || 0, buf.buffer)
    }, ctx)
  }

  _op_write (signal, ctx, path, fd, buf, len, offsetLow, offsetHigh) {
    this.ops.write(path, fd, buf, len, getDoubleArg(offsetLow, offsetHigh), (err, bytesWritten) => {
      return signal(err, bytesWritten || 0, buf.buffer)
    }, ctx)
  }

  _op_readdir (signal, ctx, path) {
    this.ops.readdir(path, (err, names, stats) => {
      if (err) return signal(err)
      if (stats) stats = stats.map(getStatArray)
      return signal(0, names, stats || [])
    }, ctx)
  }

  _op_setxattr (signal, ctx, path, name, value, position, flags) {
    this.ops.setxattr(path, name, value, position, flags, err => {
      return signal(err, value.buffer)
    }, ctx)
  }

  _op_getxattr (signal, ctx, path, name, valueBuf, position) {
    this.ops.getxattr(path, name, position, (err, value) => {
      if (!err) {
        if (!value) return signal(IS_OSX ? -93 : -61, valueBuf.buffer)
        value.copy(valueBuf)
        return signal(value.length, valueBuf.buffer)
      }
      return signal(err, valueBuf.buffer)
    }, ctx)
  }

  _op_listxattr (signal, ctx, path, listBuf) {
    this.ops.listxattr(path, (err, list) => {
      if (list && !err) {
        if (!listBuf.length) {
          let size = 0
          for (const name of list) size += Buffer.byteLength(name) + 1
          size += 128 // fuse yells if we do not signal room for some mac stuff also
          return signal(size, listBuf.buffer)
        }

        let ptr = 0
        for (const name of list) {
          listBuf.write(name, ptr)
          ptr += Buffer.byteLength(name)
          listBuf[ptr++] = 0
        }

        return signal(ptr, listBuf.buffer)
      }
      return signal(err, listBuf.buffer)
    }, ctx)
  }

  _op_removexattr (signal, ctx, path, name) {
    this.ops.removexattr(path, name, err => {
      return signal(err)
    }, ctx)
  }

  _op_flush (signal, ctx, path, fd) {
    this.ops.flush(path, fd, err => {
      return signal(err)
    }, ctx)
  }

  _op_fsync (signal, ctx, path, datasync, fd) {
    this.ops.fsync(path, datasync, fd, err => {
      return signal(err)
    }, ctx)
  }

  _op_fsyncdir (signal, ctx, path, datasync, fd) {
    this.ops.fsyncdir(path, datasync, fd, err => {
      return signal(err)
    }, ctx)
  }

  _op_truncate (signal, ctx, path, sizeLow, sizeHigh) {
    const size = getDoubleArg(sizeLow, sizeHigh)
    this.ops.truncate(path, size, err => {
      return signal(err)
    }, ctx)
  }

  _op_ftruncate (signal, ctx, path, fd, sizeLow, sizeHigh) {
    const size = getDoubleArg(sizeLow, sizeHigh)
    this.ops.ftruncate(path, fd, size, err => {
      return signal(err)
    }, ctx)
  }

  _op_readlink (signal, ctx, path) {
    this.ops.readlink(path, (err, linkname) => {
      return signal(err, linkname)
    }, ctx)
  }

  _op_chown (signal, ctx, path, uid, gid) {
    this.ops.chown(path, uid, gid, err => {
      return signal(err)
    }, ctx)
  }

  _op_chmod (signal, ctx, path, mode) {
    this.ops.chmod(path, mode, err => {
      return signal(err)
    }, ctx)
  }

  _op_mknod (signal, ctx, path, mode, dev) {
    this.ops.mknod(path, mode, dev, err => {
      return signal(err)
    }, ctx)
  }

  _op_unlink (signal, ctx, path) {
    this.ops.unlink(path, err => {
      return signal(err)
    }, ctx)
  }

  _op_rename (signal, ctx, src, dest) {
    this.ops.rename(src, dest, err => {
      return signal(err)
    }, ctx)
  }

  _op_link (signal, ctx, src, dest) {
    this.ops.link(src, dest, err => {
      return signal(err)
    }, ctx)
  }

  _op_symlink (signal, ctx, src, dest) {
    this.ops.symlink(src, dest, err => {
      return signal(err)
    }, ctx)
  }

  _op_mkdir (signal, ctx, path, mode) {
    this.ops.mkdir(path, mode, err => {
      return signal(err)
    }, ctx)
  }

  _op_rmdir (signal, ctx, path) {
    this.ops.rmdir(path, err => {
      return signal(err)
    }, ctx)
  }

  // POLYKEY: new. fallocate(path, mode, offset, length, fd, cb, ctx)
  _op_fallocate (signal, ctx, path, fd, mode, offsetLow, offsetHigh, lengthLow, lengthHigh) {
    const offset = getDoubleArg(offsetLow, offsetHigh)
    const length = getDoubleArg(lengthLow, lengthHigh)
    this.ops.fallocate(path, mode, offset, length, fd, err => {
      return signal(err)
    }, ctx)
  }

  // Public API

  mount (cb) {
    return this.open(cb)
  }

  unmount (cb) {
    return this.close(cb)
  }

  errno (code) {
    return (code && Fuse[code.toUpperCase()]) || -1
  }
}

Fuse.EPERM = -1
Fuse.ENOENT = -2
Fuse.ESRCH = -3
Fuse.EINTR = -4
Fuse.EIO = -5
Fuse.ENXIO = -6
Fuse.E2BIG = -7
Fuse.ENOEXEC = -8
Fuse.EBADF = -9
Fuse.ECHILD = -10
Fuse.EAGAIN = -11
Fuse.ENOMEM = -12
Fuse.EACCES = -13
Fuse.EFAULT = -14
Fuse.ENOTBLK = -15
Fuse.EBUSY = -16
Fuse.EEXIST = -17
Fuse.EXDEV = -18
Fuse.ENODEV = -19
Fuse.ENOTDIR = -20
Fuse.EISDIR = -21
Fuse.EINVAL = -22
Fuse.ENFILE = -23
Fuse.EMFILE = -24
Fuse.ENOTTY = -25
Fuse.ETXTBSY = -26
Fuse.EFBIG = -27
Fuse.ENOSPC = -28
Fuse.ESPIPE = -29
Fuse.EROFS = -30
Fuse.EMLINK = -31
Fuse.EPIPE = -32
Fuse.EDOM = -33
Fuse.ERANGE = -34
Fuse.EDEADLK = -35
Fuse.ENAMETOOLONG = -36
Fuse.ENOLCK = -37
Fuse.ENOSYS = -38
Fuse.ENOTEMPTY = -39
Fuse.ELOOP = -40
Fuse.EWOULDBLOCK = -11
Fuse.ENOMSG = -42
Fuse.EIDRM = -43
Fuse.ECHRNG = -44
Fuse.EL2NSYNC = -45
Fuse.EL3HLT = -46
Fuse.EL3RST = -47
Fuse.ELNRNG = -48
Fuse.EUNATCH = -49
Fuse.ENOCSI = -50
Fuse.EL2HLT = -51
Fuse.EBADE = -52
Fuse.EBADR = -53
Fuse.EXFULL = -54
Fuse.ENOANO = -55
Fuse.EBADRQC = -56
Fuse.EBADSLT = -57
Fuse.EDEADLOCK = -35
Fuse.EBFONT = -59
Fuse.ENOSTR = -60
Fuse.ENODATA = -61
Fuse.ETIME = -62
Fuse.ENOSR = -63
Fuse.ENONET = -64
Fuse.ENOPKG = -65
Fuse.EREMOTE = -66
Fuse.ENOLINK = -67
Fuse.EADV = -68
Fuse.ESRMNT = -69
Fuse.ECOMM = -70
Fuse.EPROTO = -71
Fuse.EMULTIHOP = -72
Fuse.EDOTDOT = -73
Fuse.EBADMSG = -74
Fuse.EOVERFLOW = -75
Fuse.ENOTUNIQ = -76
Fuse.EBADFD = -77
Fuse.EREMCHG = -78
Fuse.ELIBACC = -79
Fuse.ELIBBAD = -80
Fuse.ELIBSCN = -81
Fuse.ELIBMAX = -82
Fuse.ELIBEXEC = -83
Fuse.EILSEQ = -84
Fuse.ERESTART = -85
Fuse.ESTRPIPE = -86
Fuse.EUSERS = -87
Fuse.ENOTSOCK = -88
Fuse.EDESTADDRREQ = -89
Fuse.EMSGSIZE = -90
Fuse.EPROTOTYPE = -91
Fuse.ENOPROTOOPT = -92
Fuse.EPROTONOSUPPORT = -93
Fuse.ESOCKTNOSUPPORT = -94
Fuse.EOPNOTSUPP = -95
Fuse.EPFNOSUPPORT = -96
Fuse.EAFNOSUPPORT = -97
Fuse.EADDRINUSE = -98
Fuse.EADDRNOTAVAIL = -99
Fuse.ENETDOWN = -100
Fuse.ENETUNREACH = -101
Fuse.ENETRESET = -102
Fuse.ECONNABORTED = -103
Fuse.ECONNRESET = -104
Fuse.ENOBUFS = -105
Fuse.EISCONN = -106
Fuse.ENOTCONN = -107
Fuse.ESHUTDOWN = -108
Fuse.ETOOMANYREFS = -109
Fuse.ETIMEDOUT = -110
Fuse.ECONNREFUSED = -111
Fuse.EHOSTDOWN = -112
Fuse.EHOSTUNREACH = -113
Fuse.EALREADY = -114
Fuse.EINPROGRESS = -115
Fuse.ESTALE = -116
Fuse.EUCLEAN = -117
Fuse.ENOTNAM = -118
Fuse.ENAVAIL = -119
Fuse.EISNAM = -120
Fuse.EREMOTEIO = -121
Fuse.EDQUOT = -122
Fuse.ENOMEDIUM = -123
Fuse.EMEDIUMTYPE = -124

// Forward configuration functions through the exported class.
// POLYKEY: with the system libfuse there is nothing to configure from here
// (Debian's fuse3 package provides fusermount and /dev/fuse); these keep
// upstream's API and report whether /dev/fuse is usable.
Fuse.beforeMount = function beforeMount (cb) { process.nextTick(cb || noop, null) }
Fuse.beforeUnmount = function beforeUnmount (cb) { process.nextTick(cb || noop, null) }
Fuse.configure = function configure (cb) { process.nextTick(cb || noop, null) }
Fuse.unconfigure = function unconfigure (cb) { process.nextTick(cb || noop, null) }
Fuse.isConfigured = function isConfigured (cb) {
  fs.access('/dev/fuse', fs.constants.R_OK | fs.constants.W_OK, err => cb(null, !err))
}
// POLYKEY: where the addon was loaded from (diagnostics).
Fuse.bindingPath = BINDING_PATH

module.exports = Fuse

function getStatfsArray (statfs) {
  const ints = new Uint32Array(11)

  ints[0] = (statfs && statfs.bsize) || 0
  ints[1] = (statfs && statfs.frsize) || 0
  ints[2] = (statfs && statfs.blocks) || 0
  ints[3] = (statfs && statfs.bfree) || 0
  ints[4] = (statfs && statfs.bavail) || 0
  ints[5] = (statfs && statfs.files) || 0
  ints[6] = (statfs && statfs.ffree) || 0
  ints[7] = (statfs && statfs.favail) || 0
  ints[8] = (statfs && statfs.fsid) || 0
  ints[9] = (statfs && statfs.flag) || 0
  ints[10] = (statfs && statfs.namemax) || 0

  return ints
}

function setDoubleInt (arr, idx, num) {
  arr[idx] = num % 4294967296
  arr[idx + 1] = (num - arr[idx]) / 4294967296
}

function getDoubleArg (a, b) {
  return a + b * 4294967296
}

function toDateMS (st) {
  if (typeof st === 'number') return st
  if (!st) return Date.now()
  return st.getTime()
}

function getStatArray (stat) {
  const ints = new Uint32Array(18)

  ints[0] = (stat && stat.mode) || 0
  ints[1] = (stat && stat.uid) || 0
  ints[2] = (stat && stat.gid) || 0
  setDoubleInt(ints, 3, (stat && stat.size) || 0)
  ints[5] = (stat && stat.dev) || 0
  ints[6] = (stat && stat.nlink) || 1
  ints[7] = (stat && stat.ino) || 0
  ints[8] = (stat && stat.rdev) || 0
  ints[9] = (stat && stat.blksize) || 0
  setDoubleInt(ints, 10, (stat && stat.blocks) || 0)
  setDoubleInt(ints, 12, toDateMS(stat && stat.atime))
  setDoubleInt(ints, 14, toDateMS(stat && stat.mtime))
  setDoubleInt(ints, 16, toDateMS(stat && stat.ctime))

  return ints
}
