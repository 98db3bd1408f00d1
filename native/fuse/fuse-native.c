/*
 * Polykey's patched copy of fuse-native 2.2.6 (fuse-native.c).
 *
 * Upstream: https://github.com/fuse-friends/fuse-native (MIT, see ./LICENSE).
 * Built from source against the system libfuse 2.9 (pkg-config fuse) instead
 * of the prebuilt binary + bundled fuse-shared-library. Every change against
 * upstream is marked with "POLYKEY:"; see docs/FUSE.md for the rationale.
 *
 *   1. utimens passed atime twice (mtime was lost); it now passes atime and
 *      mtime, resolves UTIME_NOW to the current time and reports UTIME_OMIT
 *      as "omitted" (null in JS). Times are signed (pre-1970 works). We set
 *      flag_utime_omit_ok so libfuse forwards mtime-only / atime-only changes.
 *   2. The caller's uid/gid/pid/umask (fuse_get_context) are captured on the
 *      FUSE thread for every operation and stored in the per-thread buffer
 *      that JS already holds, at offsets exported to JS as
 *      offsetof_fuse_thread_locals_t_ctx_{uid,gid,pid,umask}.
 *   3. New fallocate operation (libfuse >= 2.9.1 high-level API).
 *   4. If fuse_new() fails (e.g. an unknown -o option) the kernel mount made
 *      by fuse_mount() is undone instead of being leaked; errors say why.
 *   5. libfuse talks to /dev/fuse through our channel (estale_chan_ops):
 *      ENOENT for a node that lost its name becomes ESTALE (the kernel walks
 *      the path again), and a GETATTR of such a node gets the attributes
 *      last sent for it.
 *   6. flag_nullpath_ok: requests on an open file without a name reach JS
 *      with the path "".
 *   7. open/create answer (fd, openFlags); bit 0 sets direct_io.
 *   8. Every operation's context carries the kernel request it serves (ctx.req),
 *      and a rename tells libfuse hiding an open file for an unlink or for a
 *      rename over it (ctx.hide) from a rename asked for.
 */
#define _GNU_SOURCE // POLYKEY: name_to_handle_at()
#define FUSE_USE_VERSION 29

#include <uv.h>
#include <node_api.h>
#include "napi-macros.h" // POLYKEY: vendored copy (napi-macros 2.2.2, MIT)

#include <string.h>
#include <stdio.h>
#include <stdlib.h>
#include <assert.h>
#include <errno.h>   // POLYKEY
#include <signal.h>  // POLYKEY: pthread_sigmask
#include <fcntl.h>   // POLYKEY: name_to_handle_at()
#include <stdbool.h> // POLYKEY
#include <stdint.h>  // POLYKEY

#include <fuse.h>
#include <fuse_opt.h>
#include <fuse_common.h>
#include <fuse_lowlevel.h>

#include <unistd.h>
#include <sys/wait.h>
#include <pthread.h>
#include <time.h>     // POLYKEY: clock_gettime for UTIME_NOW
#include <sys/stat.h> // POLYKEY: UTIME_NOW / UTIME_OMIT
#include <sys/uio.h>  // POLYKEY: writev (our channel)

static int IS_ARRAY_BUFFER_DETACH_SUPPORTED = 0;

// POLYKEY: the kernel request this libfuse worker thread is serving. libfuse's multi-threaded
// loop processes each request on the thread that read it from our channel
// (estale_chan_receive), so these are set there and read by the operations it leads to.
#define PK_FUSE_UNLINK 10
#define PK_FUSE_RENAME 12
#define PK_HIDE_FOR_UNLINK 1 // libfuse renames an open file to .fuse_hiddenNNNN: it is being removed
#define PK_HIDE_FOR_RENAME 2 // ... it is being renamed over (the rename follows in the same request)
static __thread uint32_t pk_cur_opcode;
static __thread uint64_t pk_cur_unique;
static __thread char pk_cur_newname[256]; // FUSE_RENAME: the new name ("" when none or too long)
static __thread int pk_cur_op_called;     // one of our operations ran for this request
static __thread void *pk_cur_ft;          // the fuse_thread_t of the mount this thread serves
static __thread uint32_t pk_rescue_ino;   // pk_rescue_open: the inode the open is for (ctx.ino)
static __thread int pk_cur_synthetic;     // our channel itself calls an operation: no caller

// Whether rename(path, dest), called by libfuse while it serves the current request, is libfuse
// hiding an open file (hide_node() in fuse.c) rather than the rename the kernel asked for. Only
// an unlink or a rename request hides; a hiding rename goes to a name that is not the request's
// new name (a rename *to* a .fuse_hidden name asked for by a user is just a rename).
static uint32_t pk_hide_kind (const char *dest) {
  if (pk_cur_opcode == PK_FUSE_UNLINK) return PK_HIDE_FOR_UNLINK;
  if (pk_cur_opcode != PK_FUSE_RENAME || dest == NULL) return 0;
  const char *base = strrchr(dest, '/');
  base = base ? base + 1 : dest;
  return strcmp(base, pk_cur_newname) != 0 ? PK_HIDE_FOR_RENAME : 0;
}

napi_status napi_detach_arraybuffer(napi_env env, napi_value buf);

#define FUSE_NATIVE_CALLBACK(fn, blk)\
  napi_env env = ft->env;\
  napi_handle_scope scope;\
  napi_open_handle_scope(env, &scope);\
  napi_value ctx;\
  napi_get_reference_value(env, ft->ctx, &ctx);\
  napi_value callback;\
  napi_get_reference_value(env, fn, &callback);\
  blk\
  napi_close_handle_scope(env, scope);

#define FUSE_NATIVE_HANDLER(name, blk)\
  fuse_thread_locals_t *l = get_thread_locals();\
  capture_context(l); /* POLYKEY: expose the caller to JS */\
  l->ctx_req = (uint32_t) pk_cur_unique; /* POLYKEY */\
  l->ctx_hide = 0;\
  l->ctx_ino = pk_rescue_ino;\
  pk_cur_op_called = 1;\
  l->op = op_##name;\
  l->op_fn = fuse_native_dispatch_##name;\
  blk\
  uv_async_send(&(l->async));\
  uv_sem_wait(&(l->sem));\
  return l->res;

#define FUSE_METHOD(name, callbackArgs, signalArgs, signature, callBlk, callbackBlk, signalBlk)\
  static void fuse_native_dispatch_##name (uv_async_t* handle, fuse_thread_locals_t* l, fuse_thread_t* ft) {\
    uint32_t op = op_##name;\
    FUSE_NATIVE_CALLBACK(ft->handlers[op], {\
      napi_value argv[callbackArgs + 2];\
      napi_get_reference_value(env, l->self, &(argv[0]));\
      napi_create_uint32(env, l->op, &(argv[1]));\
      callbackBlk\
      NAPI_MAKE_CALLBACK(env, NULL, ctx, callback, callbackArgs + 2, argv, NULL)\
    })\
  }\
  NAPI_METHOD(fuse_native_signal_##name) {\
    NAPI_ARGV(signalArgs + 2)\
    NAPI_ARGV_BUFFER_CAST(fuse_thread_locals_t *, l, 0);\
    NAPI_ARGV_INT32(res, 1);\
    signalBlk\
    l->res = res;\
    uv_sem_post(&(l->sem));\
    return NULL;\
  }\
  static int fuse_native_##name signature {\
    FUSE_NATIVE_HANDLER(name, callBlk)\
  }

#define FUSE_METHOD_VOID(name, callbackArgs, signalArgs, signature, callBlk, callbackBlk)\
  FUSE_METHOD(name, callbackArgs, signalArgs, signature, callBlk, callbackBlk, {})

#define FUSE_UINT64_TO_INTS_ARGV(n, pos)\
  uint32_t low##pos = n % 4294967296;\
  uint32_t high##pos = (n - low##pos) / 4294967296;\
  napi_create_uint32(env, low##pos, &(argv[pos]));\
  napi_create_uint32(env, high##pos, &(argv[pos + 1]));


// Opcodes

static const uint32_t op_init = 0;
static const uint32_t op_error = 1;
static const uint32_t op_access = 2;
static const uint32_t op_statfs = 3;
static const uint32_t op_fgetattr = 4;
static const uint32_t op_getattr = 5;
static const uint32_t op_flush = 6;
static const uint32_t op_fsync = 7;
static const uint32_t op_fsyncdir = 8;
static const uint32_t op_readdir = 9;
static const uint32_t op_truncate = 10;
static const uint32_t op_ftruncate = 11;
static const uint32_t op_utimens = 12;
static const uint32_t op_readlink = 13;
static const uint32_t op_chown = 14;
static const uint32_t op_chmod = 15;
static const uint32_t op_mknod = 16;
static const uint32_t op_setxattr = 17;
static const uint32_t op_getxattr = 18;
static const uint32_t op_listxattr = 19;
static const uint32_t op_removexattr = 20;
static const uint32_t op_open = 21;
static const uint32_t op_opendir = 22;
static const uint32_t op_read = 23;
static const uint32_t op_write = 24;
static const uint32_t op_release = 25;
static const uint32_t op_releasedir = 26;
static const uint32_t op_create = 27;
static const uint32_t op_unlink = 28;
static const uint32_t op_rename = 29;
static const uint32_t op_link = 30;
static const uint32_t op_symlink = 31;
static const uint32_t op_mkdir = 32;
static const uint32_t op_rmdir = 33;
static const uint32_t op_fallocate = 34; // POLYKEY: new

// POLYKEY: size of the handler / "implemented" tables (was a literal 35).
#define FUSE_NATIVE_OP_COUNT 40
static const uint32_t op_count = FUSE_NATIVE_OP_COUNT;

// Data structures

// POLYKEY: sizes of what the binding answers itself (see "Answered in the binding")
#define PK_DEFERRED 1024
struct pk_ac_entry;

typedef struct {
  napi_env env;
  pthread_t thread;
  pthread_attr_t attr;
  napi_ref ctx;
  napi_ref malloc;

  // Operation handlers
  napi_ref handlers[FUSE_NATIVE_OP_COUNT];

  struct fuse *fuse;
  struct fuse_chan *ch;  // POLYKEY: our channel (estale_chan_ops) over kch's fd
  struct fuse_chan *kch; // POLYKEY: the kernel channel fuse_mount() made
  char mnt[1024];
  char mntopts[1024];
  int mounted;

  uv_async_t async;
  uv_mutex_t mut;
  uv_sem_t sem;

  // POLYKEY: kernel cache invalidation (fuse_native_invalidate). notify_dead
  // is set, under notify_mut, before the channel is torn down, so a notify
  // running on a worker thread never touches a freed channel.
  pthread_mutex_t notify_mut;
  int notify_dead;

  // POLYKEY: open, fgetattr and release are implemented, so our channel may open a file itself
  // for a node libfuse has no name for (pk_rescue_open) and release it.
  int rescue_ok;

  // POLYKEY: answers the binding gives without a round trip to the JS thread ("Answered in the
  // binding" below). attr_gen and releases_pending are read and written by JS too, as 32-bit
  // words at exported offsets (Atomics on an Int32Array over this buffer).
  uint32_t attr_gen;          // bumped by JS whenever an answer it gave may have changed
  uint32_t releases_pending;  // deferred releases waiting for JS
  int fast_on;                // the filesystem asked for it (mount option, attrsChanged contract)
  int fast_dead;              // unmounted: everything goes to JS again (under fast_mut)
  pthread_mutex_t fast_mut;
  struct pk_ac_entry *attr_cache; // PK_AC_SLOTS entries, or NULL
  uint32_t released[PK_DEFERRED];  // fds of deferred releases, in order
  uv_async_t *release_async;  // wakes JS to take them (malloc'd: outlives this buffer's use)
  napi_ref on_released;
} fuse_thread_t;

typedef struct {
  napi_ref self;

  // POLYKEY: caller context of the current operation (fuse_get_context()).
  // JS reads these straight out of this buffer (offsets are exported as
  // offsetof_ctx_uid etc.), so they must stay plain 32-bit fields.
  uint32_t ctx_uid;
  uint32_t ctx_gid;
  uint32_t ctx_pid;
  uint32_t ctx_umask;
  // POLYKEY: the kernel request being served (low 32 bits of its unique id: the operations one
  // request makes share it) and, for rename, whether this is libfuse hiding an open file
  // (PK_HIDE_FOR_UNLINK / PK_HIDE_FOR_RENAME) rather than a rename asked for.
  uint32_t ctx_req;
  uint32_t ctx_hide;
  // POLYKEY: open only: the inode number (st_ino) of the file to open when the path is "" (our
  // channel opening the file a node without a name stood for: pk_rescue_open).
  uint32_t ctx_ino;

  // POLYKEY: getattr: the attribute generation when the request was dispatched
  uint32_t attr_gen;

  // Opcode
  uint32_t op;
  void *op_fn;

  // Payloads
  const char *path;
  const char *dest;
  char *linkname;
  struct fuse_file_info *info;
  const void *buf;
  off_t offset;
  size_t len;
  mode_t mode;
  dev_t dev;
  uid_t uid;
  gid_t gid;
  int64_t atime; // POLYKEY: signed milliseconds (was size_t)
  int64_t mtime;
  int atime_omit; // POLYKEY: UTIME_OMIT was given for this time
  int mtime_omit;
  off_t length;   // POLYKEY: fallocate length
  int32_t res;

  // Extended attributes
  const char *name;
  const char *value;
  char *list;
  size_t size;
  uint32_t position;
  int flags;

  // Stat + Statfs
  struct stat *stat;
  struct statvfs *statvfs;

  // Readdir
  fuse_fill_dir_t readdir_filler;

  // Internal bookkeeping
  fuse_thread_t *fuse;
  uv_sem_t sem;
  uv_async_t async;

} fuse_thread_locals_t;

static pthread_key_t thread_locals_key;
static fuse_thread_locals_t* get_thread_locals();

// Helpers
// TODO: Extract into a separate file.

static uint64_t uint32s_to_uint64 (uint32_t **ints) {
  uint64_t low = *((*ints)++);
  uint64_t high = *((*ints)++);
  return high * 4294967296 + low;
}

static void uint32s_to_timespec (struct timespec* ts, uint32_t** ints) {
  uint64_t ms = uint32s_to_uint64(ints);
  ts->tv_sec = ms / 1000;
  ts->tv_nsec = (ms % 1000) * 1000000;
}

// POLYKEY: replaces timespec_to_uint64, which ignored UTIME_NOW/UTIME_OMIT
// and could not represent times before 1970. tv_nsec is always in
// [0, 1e9) for real times, so this is a floor division for negative tv_sec too.
static void utimens_to_ms (const struct timespec* ts, int64_t *ms, int *omit) {
  struct timespec now;
  if (ts != NULL && ts->tv_nsec == UTIME_OMIT) {
    *omit = 1;
    *ms = 0;
    return;
  }
  if (ts == NULL || ts->tv_nsec == UTIME_NOW) {
    clock_gettime(CLOCK_REALTIME, &now);
    ts = &now;
  }
  *omit = 0;
  *ms = ((int64_t) ts->tv_sec) * 1000 + (ts->tv_nsec / 1000000);
}

// POLYKEY: copy the requesting process's credentials into the thread locals.
// Runs on the FUSE thread, inside the libfuse operation, where
// fuse_get_context() is valid. For requests the kernel does not attribute to
// a process (release, releasedir, ...) libfuse reports 0/0/0.
static void capture_context (fuse_thread_locals_t *l) {
  struct fuse_context *fctx = fuse_get_context();
  if (fctx == NULL || pk_cur_synthetic) {
    l->ctx_uid = l->ctx_gid = l->ctx_pid = l->ctx_umask = 0;
    return;
  }
  l->ctx_uid = (uint32_t) fctx->uid;
  l->ctx_gid = (uint32_t) fctx->gid;
  l->ctx_pid = (uint32_t) fctx->pid;
  l->ctx_umask = (uint32_t) fctx->umask;
}

static void populate_stat (uint32_t *ints, struct stat* stat) {
  stat->st_mode = *ints++;
  stat->st_uid = *ints++;
  stat->st_gid = *ints++;
  stat->st_size = uint32s_to_uint64(&ints);
  stat->st_dev = *ints++;
  stat->st_nlink = *ints++;
  stat->st_ino = *ints++;
  stat->st_rdev = *ints++;
  stat->st_blksize = *ints++;
  stat->st_blocks = uint32s_to_uint64(&ints);
#ifdef __APPLE__
  uint32s_to_timespec(&stat->st_atimespec, &ints);
  uint32s_to_timespec(&stat->st_mtimespec, &ints);
  uint32s_to_timespec(&stat->st_ctimespec, &ints);
#else
  uint32s_to_timespec(&stat->st_atim, &ints);
  uint32s_to_timespec(&stat->st_mtim, &ints);
  uint32s_to_timespec(&stat->st_ctim, &ints);
#endif
}

static void populate_statvfs (uint32_t *ints, struct statvfs* statvfs) {
  statvfs->f_bsize = *ints++;
  statvfs->f_frsize = *ints++;
  statvfs->f_blocks = *ints++;
  statvfs->f_bfree = *ints++;
  statvfs->f_bavail = *ints++;
  statvfs->f_files = *ints++;
  statvfs->f_ffree = *ints++;
  statvfs->f_favail = *ints++;
  statvfs->f_fsid = *ints++;
  statvfs->f_flag = *ints++;
  statvfs->f_namemax = *ints++;
}

// POLYKEY: Answered in the binding.
//
// Most requests of a program reading secrets (open, read, close in a loop; `ls -l`; a shell's
// path walks) are LOOKUPs and GETATTRs of paths whose attributes have not changed, and RELEASEs
// of files opened read-only. Each costs a round trip to the JS thread: an async wakeup, a JS
// call, a semaphore. A filesystem that opts in (mount option fastAnswers) lets the binding
// answer those itself:
//
// - getattr: every successful answer JS gives is kept, tagged with ft->attr_gen as it was when
//   the request was handed to JS. A later getattr of the same path is answered from it while
//   the generation is unchanged. JS bumps the generation (Fuse#attrsChanged) whenever anything
//   an answer depends on may have changed, before it answers the request that changed it; an
//   answer computed while a change was being made is tagged with the generation from before the
//   change and is never used. libfuse's hidden names (.fuse_hidden*) are never kept.
// - release of a file JS opened with open flag PK_OPEN_DEFER_RELEASE (read-only opens: closing
//   them changes nothing anyone can see): answered at once; the fd is queued and JS takes the
//   queue in batches (one wakeup for many), and before any request that could tell the
//   difference (JS drains first). A hidden name's release (libfuse then removes that name) and a
//   full queue go to JS as before.
//
// After unmount (fast_dead) everything goes to JS again.
#define PK_AC_SLOTS 16384 // a power of two
#define PK_AC_PROBES 8
#define PK_OPEN_DEFER_RELEASE 2   // open answer flag from JS (bit 0: direct_io)
#define PK_FH_DEFER (1ULL << 40)  // set in fh; JS fds fit in 32 bits and see only those

struct pk_ac_entry { uint64_t hash; uint32_t gen; char *path; struct stat st; };
static unsigned long pk_attr_hits, pk_releases_deferred; // (fuse_native_stats)

static uint64_t pk_hash (const char *p) {
  uint64_t h = 1469598103934665603ULL;
  for (; *p; p++) h = (h ^ (unsigned char) *p) * 1099511628211ULL;
  return h;
}

static int pk_fuse_hidden (const char *path) {
  const char *base = strrchr(path, '/');
  return strncmp(base ? base + 1 : path, ".fuse_hidden", 12) == 0;
}

static uint32_t pk_gen (fuse_thread_t *ft) {
  return __atomic_load_n(&ft->attr_gen, __ATOMIC_ACQUIRE);
}

static int pk_ac_get (fuse_thread_t *ft, const char *path, struct stat *st, uint32_t gen) {
  if (!ft->fast_on || path == NULL || pk_fuse_hidden(path)) return 0;
  uint64_t h = pk_hash(path);
  int hit = 0;
  pthread_mutex_lock(&ft->fast_mut);
  if (!ft->fast_dead && ft->attr_cache != NULL) {
    for (int k = 0; k < PK_AC_PROBES; k++) {
      struct pk_ac_entry *e = &ft->attr_cache[(h + k) & (PK_AC_SLOTS - 1)];
      if (e->path != NULL && e->hash == h && e->gen == gen && strcmp(e->path, path) == 0) {
        *st = e->st;
        hit = 1;
        __atomic_add_fetch(&pk_attr_hits, 1, __ATOMIC_RELAXED);
        break;
      }
    }
  }
  pthread_mutex_unlock(&ft->fast_mut);
  return hit;
}

static void pk_ac_put (fuse_thread_t *ft, const char *path, const struct stat *st, uint32_t gen) {
  if (!ft->fast_on || path == NULL || pk_fuse_hidden(path)) return;
  uint64_t h = pk_hash(path);
  pthread_mutex_lock(&ft->fast_mut);
  uint32_t now = pk_gen(ft);
  if (!ft->fast_dead && gen == now) {
    if (ft->attr_cache == NULL) ft->attr_cache = (struct pk_ac_entry *) calloc(PK_AC_SLOTS, sizeof(struct pk_ac_entry));
    if (ft->attr_cache != NULL) {
      struct pk_ac_entry *slot = NULL;
      for (int k = 0; k < PK_AC_PROBES; k++) {
        struct pk_ac_entry *e = &ft->attr_cache[(h + k) & (PK_AC_SLOTS - 1)];
        if (e->path != NULL && e->hash == h && strcmp(e->path, path) == 0) { slot = e; break; }
        if (slot == NULL && (e->path == NULL || e->gen != now)) slot = e; // free, or stale
      }
      if (slot == NULL) slot = &ft->attr_cache[h & (PK_AC_SLOTS - 1)];
      if (slot->path == NULL || slot->hash != h || strcmp(slot->path, path) != 0) {
        char *copy = strdup(path);
        if (copy != NULL) {
          free(slot->path);
          slot->path = copy;
        }
      }
      if (slot->path != NULL && strcmp(slot->path, path) == 0) {
        slot->hash = h;
        slot->gen = gen;
        slot->st = *st;
      }
    }
  }
  pthread_mutex_unlock(&ft->fast_mut);
}

// Queue the release of a read-only open for JS to take (1), or 0: JS must answer it itself.
static int pk_defer_release (fuse_thread_t *ft, const char *path, uint64_t fh) {
  if (!ft->fast_on || !(fh & PK_FH_DEFER) || path == NULL || path[0] == '\0' || pk_fuse_hidden(path)) return 0;
  int queued = 0;
  pthread_mutex_lock(&ft->fast_mut);
  uint32_t n = ft->releases_pending;
  if (!ft->fast_dead && ft->release_async != NULL && n < PK_DEFERRED) {
    ft->released[n] = (uint32_t) fh;
    __atomic_store_n(&ft->releases_pending, n + 1, __ATOMIC_RELEASE);
    if (n == 0) uv_async_send(ft->release_async);
    queued = 1;
    __atomic_add_fetch(&pk_releases_deferred, 1, __ATOMIC_RELAXED);
  }
  pthread_mutex_unlock(&ft->fast_mut);
  return queued;
}

// fuse_native_take_releases(threadBuffer, Uint32Array out): how many fds were moved into out
NAPI_METHOD(fuse_native_take_releases) {
  NAPI_ARGV(2)
  NAPI_ARGV_BUFFER_CAST(fuse_thread_t *, ft, 0);
  void *data = NULL;
  size_t len = 0;
  napi_typedarray_type type;
  napi_value ab;
  size_t off;
  if (napi_get_typedarray_info(env, argv[1], &type, &len, &data, &ab, &off) != napi_ok || type != napi_uint32_array) {
    napi_throw_error(env, "EINVAL", "take_releases: a Uint32Array is needed");
    return NULL;
  }
  uint32_t *out = (uint32_t *) data;
  pthread_mutex_lock(&ft->fast_mut);
  uint32_t n = ft->releases_pending;
  uint32_t k = n < len ? n : (uint32_t) len;
  memcpy(out, ft->released, k * sizeof(uint32_t));
  memmove(ft->released, ft->released + k, (n - k) * sizeof(uint32_t));
  __atomic_store_n(&ft->releases_pending, n - k, __ATOMIC_RELEASE);
  pthread_mutex_unlock(&ft->fast_mut);
  NAPI_RETURN_UINT32(k)
}

static void pk_release_async_cb (uv_async_t *handle) {
  fuse_thread_t *ft = (fuse_thread_t *) handle->data;
  if (ft == NULL || ft->on_released == NULL) return;
  napi_env env = ft->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value ctx, cb;
  napi_get_reference_value(env, ft->ctx, &ctx);
  napi_get_reference_value(env, ft->on_released, &cb);
  NAPI_MAKE_CALLBACK(env, NULL, ctx, cb, 0, NULL, NULL)
  napi_close_handle_scope(env, scope);
}

static void pk_release_async_closed (uv_handle_t *handle) {
  free(handle);
}

// Unmounted: nothing more is answered in the binding; what it kept goes.
static void pk_fast_stop (napi_env env, fuse_thread_t *ft) {
  if (!ft->fast_on) return;
  pthread_mutex_lock(&ft->fast_mut);
  if (!ft->fast_dead) {
    ft->fast_dead = 1;
    if (ft->attr_cache != NULL) {
      for (int i = 0; i < PK_AC_SLOTS; i++) free(ft->attr_cache[i].path);
      free(ft->attr_cache);
      ft->attr_cache = NULL;
    }
    if (ft->release_async != NULL) {
      ft->release_async->data = NULL;
      uv_close((uv_handle_t *) ft->release_async, pk_release_async_closed);
      ft->release_async = NULL;
    }
  }
  pthread_mutex_unlock(&ft->fast_mut);
}

// Methods

FUSE_METHOD(statfs, 1, 1, (const char * path, struct statvfs *statvfs), {
  l->path = path;
  l->statvfs = statvfs;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
}, {
  NAPI_ARGV_BUFFER_CAST(uint32_t*, ints, 2)
  populate_statvfs(ints, l->statvfs);
})

FUSE_METHOD(getattr, 1, 1, (const char *path, struct stat *stat), {
  l->path = path;
  l->stat = stat;
  // POLYKEY: answered in the binding while nothing changed since JS gave this answer
  l->attr_gen = pk_gen(l->fuse);
  if (pk_ac_get(l->fuse, path, stat, l->attr_gen)) return 0;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
}, {
  NAPI_ARGV_BUFFER_CAST(uint32_t*, ints, 2)
  populate_stat(ints, l->stat);
  if (res == 0) pk_ac_put(l->fuse, l->path, l->stat, l->attr_gen); // POLYKEY
})

FUSE_METHOD(fgetattr, 2, 1, (const char *path, struct stat *stat, struct fuse_file_info *info), {
  l->path = path ? path : ""; // POLYKEY: NULL (flag_nullpath_ok) for a file without a name: ""
  l->stat = stat;
  l->info = info;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  if (l->info != NULL) {
    napi_create_uint32(env, l->info->fh, &(argv[3]));
  } else {
    napi_create_uint32(env, 0, &(argv[3]));
  }
}, {
  NAPI_ARGV_BUFFER_CAST(uint32_t*, ints, 2)
  populate_stat(ints, l->stat);
})

FUSE_METHOD_VOID(access, 2, 0, (const char *path, int mode), {
  l->path = path;
  l->mode = mode;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  napi_create_uint32(env, l->mode, &(argv[3]));
})

// POLYKEY: open and create answer (fd, openFlags): bit 0 asks for direct_io on this open
// (reads and writes bypass the page cache; see docs/FUSE.md "Readers racing a save").
FUSE_METHOD(open, 2, 2, (const char *path, struct fuse_file_info *info), {
  l->path = path;
  l->info = info;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  if (l->info != NULL) {
    napi_create_uint32(env, l->info->flags, &(argv[3]));
  } else {
    napi_create_uint32(env, 0, &(argv[3]));
  }
}, {
  NAPI_ARGV_INT32(fd, 2)
  NAPI_ARGV_UINT32(open_flags, 3)
  if (fd != 0) {
    l->info->fh = fd;
    if ((open_flags & PK_OPEN_DEFER_RELEASE) && l->fuse->fast_on) l->info->fh |= PK_FH_DEFER; // POLYKEY
  }
  if (open_flags & 1) l->info->direct_io = 1;
})

FUSE_METHOD(opendir, 3, 1, (const char *path, struct fuse_file_info *info), {
  l->path = path;
  l->info = info;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  if (l->info != NULL) {
    napi_create_uint32(env, l->info->fh, &(argv[3]));
    napi_create_uint32(env, l->info->flags, &(argv[4]));
  } else {
    napi_create_uint32(env, 0, &(argv[3]));
    napi_create_uint32(env, 0, &(argv[4]));
  }
}, {
  NAPI_ARGV_INT32(fd, 2)
  if (fd != 0) {
    l->info->fh = fd;
  }
})

FUSE_METHOD(create, 2, 2, (const char *path, mode_t mode, struct fuse_file_info *info), {
  l->path = path;
  l->mode = mode;
  l->info = info;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  napi_create_uint32(env, l->mode, &(argv[3]));
}, {
  NAPI_ARGV_INT32(fd, 2)
  NAPI_ARGV_UINT32(open_flags, 3)
  if (fd != 0) {
    l->info->fh = fd;
  }
  if (open_flags & 1) l->info->direct_io = 1;
})

// POLYKEY: upstream passed l->atime in both slots, so mtime never reached JS.
// JS now receives (path, atimeMs, mtimeMs) as numbers, or null when the
// kernel asked to leave that time alone (UTIME_OMIT).
FUSE_METHOD_VOID(utimens, 3, 0, (const char *path, const struct timespec tv[2]), {
  l->path = path;
  utimens_to_ms(tv == NULL ? NULL : &tv[0], &l->atime, &l->atime_omit);
  utimens_to_ms(tv == NULL ? NULL : &tv[1], &l->mtime, &l->mtime_omit);
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  if (l->atime_omit) napi_get_null(env, &(argv[3]));
  else napi_create_double(env, (double) l->atime, &(argv[3]));
  if (l->mtime_omit) napi_get_null(env, &(argv[4]));
  else napi_create_double(env, (double) l->mtime, &(argv[4]));
})

// POLYKEY: new operation. JS receives
// (path, fd, mode, offsetLow, offsetHigh, lengthLow, lengthHigh).
FUSE_METHOD_VOID(fallocate, 7, 0, (const char *path, int mode, off_t offset, off_t length, struct fuse_file_info *info), {
  l->path = path ? path : ""; // POLYKEY: NULL (flag_nullpath_ok) for a file without a name: ""
  l->mode = mode;
  l->offset = offset;
  l->length = length;
  l->info = info;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  if (l->info != NULL) {
    napi_create_uint32(env, l->info->fh, &(argv[3]));
  } else {
    napi_create_uint32(env, 0, &(argv[3]));
  }
  napi_create_uint32(env, (uint32_t) l->mode, &(argv[4]));
  FUSE_UINT64_TO_INTS_ARGV(l->offset, 5)
  FUSE_UINT64_TO_INTS_ARGV(l->length, 7)
})

FUSE_METHOD_VOID(release, 2, 0, (const char *path, struct fuse_file_info *info), {
  l->path = path ? path : ""; // POLYKEY: NULL (flag_nullpath_ok) for a file without a name: ""
  l->info = info;
  if (info != NULL && !pk_cur_synthetic && pk_defer_release(l->fuse, path, info->fh)) return 0; // POLYKEY
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  if (l->info != NULL) {
    napi_create_uint32(env, l->info->fh, &(argv[3]));
  } else {
    napi_create_uint32(env, 0, &(argv[3]));
  }
})

FUSE_METHOD_VOID(releasedir, 2, 0, (const char *path, struct fuse_file_info *info), {
  l->path = path;
  l->info = info;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  if (l->info != NULL) {
    napi_create_uint32(env, l->info->fh, &(argv[3]));
  } else {
    napi_create_uint32(env, 0, &(argv[3]));
  }
})

FUSE_METHOD(read, 6, 2, (const char *path, char *buf, size_t len, off_t offset, struct fuse_file_info *info), {
  l->path = path ? path : ""; // POLYKEY: NULL (flag_nullpath_ok) for a file without a name: ""
  l->buf = buf;
  l->len = len;
  l->offset = offset;
  l->info = info;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  napi_create_uint32(env, l->info->fh, &(argv[3]));
  napi_create_external_buffer(env, l->len, (char *) l->buf, NULL, NULL, &(argv[4]));
  napi_create_uint32(env, l->len, &(argv[5]));
  FUSE_UINT64_TO_INTS_ARGV(l->offset, 6)
}, {
  if (IS_ARRAY_BUFFER_DETACH_SUPPORTED == 1) assert(napi_detach_arraybuffer(env, argv[3]) == napi_ok);
})

FUSE_METHOD(write, 6, 2, (const char *path, const char *buf, size_t len, off_t offset, struct fuse_file_info *info), {
  l->path = path ? path : ""; // POLYKEY: NULL (flag_nullpath_ok) for a file without a name: ""
  l->buf = buf;
  l->len = len;
  l->offset = offset;
  l->info = info;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  napi_create_uint32(env, l->info->fh, &(argv[3]));
  napi_create_external_buffer(env, l->len, (char *) l->buf, NULL, NULL, &(argv[4]));
  napi_create_uint32(env, l->len, &(argv[5]));
  FUSE_UINT64_TO_INTS_ARGV(l->offset, 6)
}, {
  if (IS_ARRAY_BUFFER_DETACH_SUPPORTED == 1) assert(napi_detach_arraybuffer(env, argv[3]) == napi_ok);
})

FUSE_METHOD(readdir, 1, 2, (const char *path, void *buf, fuse_fill_dir_t filler, off_t offset, struct fuse_file_info *info), {
  l->buf = buf;
  l->path = path;
  l->offset = offset;
  l->info = info;
  l->readdir_filler = filler;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
}, {
  uint32_t stats_length;
  uint32_t names_length;
  napi_get_array_length(env, argv[3], &stats_length);
  napi_get_array_length(env, argv[2], &names_length);

  napi_value raw_names = argv[2];
  napi_value raw_stats = argv[3];

  if (names_length != stats_length) {
    NAPI_FOR_EACH(raw_names, raw_name) {
      NAPI_UTF8(name, 1024, raw_name)
      int err = l->readdir_filler((char *) l->buf, name, NULL, 0);
      if (err == 1) {
        break;
      }
    }
  } else {
    NAPI_FOR_EACH(raw_names, raw_name) {
      NAPI_UTF8(name, 1024, raw_name)
      napi_value raw_stat;
      napi_get_element(env, raw_stats, i, &raw_stat);

      NAPI_BUFFER_CAST(uint32_t*, stats_array, raw_stat);
      struct stat st;
      populate_stat(stats_array, &st);

      // TODO: It turns out readdirplus likely won't work with FUSE 29...
      // Metadata caching between readdir/getattr will be enabled when we upgrade fuse-shared-library
      int err = l->readdir_filler((char *) l->buf, name, (struct stat *) &st, 0);
      if (err == 1) {
        break;
      }
    }
  }
})

#ifdef __APPLE__

FUSE_METHOD(setxattr, 5, 1, (const char *path, const char *name, const char *value, size_t size, int flags, uint32_t position), {
  l->path = path;
  l->name = name;
  l->value = value;
  l->size = size;
  l->flags = flags;
  l->position = position;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  napi_create_string_utf8(env, l->name, NAPI_AUTO_LENGTH, &(argv[3]));
  napi_create_external_buffer(env, l->size, (char *) l->value, NULL, NULL, &(argv[4]));
  napi_create_uint32(env, l->position, &(argv[5]));
  napi_create_uint32(env, l->flags, &(argv[6]));
}, {
  if (IS_ARRAY_BUFFER_DETACH_SUPPORTED == 1) assert(napi_detach_arraybuffer(env, argv[2]) == napi_ok);
})

FUSE_METHOD(getxattr, 4, 1, (const char *path, const char *name, char *value, size_t size, uint32_t position), {
  l->path = path;
  l->name = name;
  l->value = value;
  l->size = size;
  l->position = position;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  napi_create_string_utf8(env, l->name, NAPI_AUTO_LENGTH, &(argv[3]));
  napi_create_external_buffer(env, l->size, (char *) l->value, NULL, NULL, &(argv[4]));
  napi_create_uint32(env, l->position, &(argv[5]));
}, {
  if (IS_ARRAY_BUFFER_DETACH_SUPPORTED == 1) assert(napi_detach_arraybuffer(env, argv[2]) == napi_ok);
})

#else

FUSE_METHOD(setxattr, 5, 1, (const char *path, const char *name, const char *value, size_t size, int flags), {
  l->path = path;
  l->name = name;
  l->value = value;
  l->size = size;
  l->flags = flags;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  napi_create_string_utf8(env, l->name, NAPI_AUTO_LENGTH, &(argv[3]));
  napi_create_external_buffer(env, l->size, (char *) l->value, NULL, NULL, &(argv[4]));
  napi_create_uint32(env, 0, &(argv[5])); // normalize apis between mac and linux
  napi_create_uint32(env, l->flags, &(argv[6]));
}, {
  if (IS_ARRAY_BUFFER_DETACH_SUPPORTED == 1) assert(napi_detach_arraybuffer(env, argv[2]) == napi_ok);
})

FUSE_METHOD(getxattr, 4, 1, (const char *path, const char *name, char *value, size_t size), {
  l->path = path;
  l->name = name;
  l->value = value;
  l->size = size;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  napi_create_string_utf8(env, l->name, NAPI_AUTO_LENGTH, &(argv[3]));
  napi_create_external_buffer(env, l->size, (char *) l->value, NULL, NULL, &(argv[4]));
  napi_create_uint32(env, 0, &(argv[5]));
}, {
  if (IS_ARRAY_BUFFER_DETACH_SUPPORTED == 1) assert(napi_detach_arraybuffer(env, argv[2]) == napi_ok);
})

#endif

FUSE_METHOD(listxattr, 2, 1, (const char *path, char *list, size_t size), {
  l->path = path;
  l->list = list;
  l->size = size;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  napi_create_external_buffer(env, l->size, l->list, NULL, NULL, &(argv[3]));
}, {
  if (IS_ARRAY_BUFFER_DETACH_SUPPORTED == 1) assert(napi_detach_arraybuffer(env, argv[2]) == napi_ok);
})

FUSE_METHOD_VOID(removexattr, 2, 0, (const char *path, const char *name), {
  l->path = path;
  l->name = name;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  napi_create_string_utf8(env, l->name, NAPI_AUTO_LENGTH, &(argv[3]));
})

FUSE_METHOD_VOID(flush, 2, 0, (const char *path, struct fuse_file_info *info), {
  l->path = path ? path : ""; // POLYKEY: NULL (flag_nullpath_ok) for a file without a name: ""
  l->info = info;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  if (l->info != NULL) {
    napi_create_uint32(env, l->info->fh, &(argv[3]));
  } else {
    napi_create_uint32(env, 0, &(argv[3]));
  }
})

FUSE_METHOD_VOID(fsync, 3, 0, (const char *path, int datasync, struct fuse_file_info *info), {
  l->path = path ? path : ""; // POLYKEY: NULL (flag_nullpath_ok) for a file without a name: ""
  l->mode = datasync;
  l->info = info;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  napi_create_uint32(env, l->mode, &(argv[3]));
  if (l->info != NULL) {
    napi_create_uint32(env, l->info->fh, &(argv[4]));
  } else {
    napi_create_uint32(env, 0, &(argv[4]));
  }
})

FUSE_METHOD_VOID(fsyncdir, 3, 0, (const char *path, int datasync, struct fuse_file_info *info), {
  l->path = path;
  l->mode = datasync;
  l->info = info;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  napi_create_uint32(env, l->mode, &(argv[3]));
  if (l->info != NULL) {
    napi_create_uint32(env, l->info->fh, &(argv[4]));
  } else {
    napi_create_uint32(env, 0, &(argv[4]));
  }
})


FUSE_METHOD_VOID(truncate, 3, 0, (const char *path, off_t size), {
  l->path = path;
  l->offset = size;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  FUSE_UINT64_TO_INTS_ARGV(l->offset, 3)
})

FUSE_METHOD_VOID(ftruncate, 4, 0, (const char *path, off_t size, struct fuse_file_info *info), {
  l->path = path ? path : ""; // POLYKEY: NULL (flag_nullpath_ok) for a file without a name: ""
  l->offset = size;
  l->info = info;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  if (l->info != NULL) {
    napi_create_uint32(env, l->info->fh, &(argv[3]));
  } else {
    napi_create_uint32(env, 0, &(argv[3]));
  }
  FUSE_UINT64_TO_INTS_ARGV(l->offset, 4)
})

FUSE_METHOD(readlink, 1, 1, (const char *path, char *linkname, size_t len), {
  l->path = path;
  l->linkname = linkname;
  l->len = len;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
}, {
  NAPI_ARGV_UTF8(linkname, l->len, 2)
  strncpy(l->linkname, linkname, l->len);
})

FUSE_METHOD_VOID(chown, 3, 0, (const char *path, uid_t uid, gid_t gid), {
  l->path = path;
  l->uid = uid;
  l->gid = gid;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  napi_create_uint32(env, l->uid, &(argv[3]));
  napi_create_uint32(env, l->gid, &(argv[4]));
})

FUSE_METHOD_VOID(chmod, 2, 0, (const char *path, mode_t mode), {
  l->path = path;
  l->mode = mode;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  napi_create_uint32(env, l->mode, &(argv[3]));
})

FUSE_METHOD_VOID(mknod, 3, 0, (const char *path, mode_t mode, dev_t dev), {
  l->path = path;
  l->mode = mode;
  l->dev = dev;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  napi_create_uint32(env, l->mode, &(argv[3]));
  napi_create_uint32(env, l->dev, &(argv[4]));
})

FUSE_METHOD_VOID(unlink, 1, 0, (const char *path), {
  l->path = path;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
})

FUSE_METHOD_VOID(rename, 2, 0, (const char *path, const char *dest), {
  l->path = path;
  l->dest = dest;
  l->ctx_hide = pk_hide_kind(dest); // POLYKEY
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  napi_create_string_utf8(env, l->dest, NAPI_AUTO_LENGTH, &(argv[3]));
})

FUSE_METHOD_VOID(link, 2, 0, (const char *path, const char *dest), {
  l->path = path;
  l->dest = dest;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  napi_create_string_utf8(env, l->dest, NAPI_AUTO_LENGTH, &(argv[3]));
})

FUSE_METHOD_VOID(symlink, 2, 0, (const char *path, const char *dest), {
  l->path = path;
  l->dest = dest;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  napi_create_string_utf8(env, l->dest, NAPI_AUTO_LENGTH, &(argv[3]));
})

FUSE_METHOD_VOID(mkdir, 2, 0, (const char *path, mode_t mode), {
  l->path = path;
  l->mode = mode;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  napi_create_uint32(env, l->mode, &(argv[3]));
})

FUSE_METHOD_VOID(rmdir, 1, 0, (const char *path), {
  l->path = path;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
})

static void fuse_native_dispatch_init (uv_async_t* handle, fuse_thread_locals_t* l, fuse_thread_t* ft) {\
  FUSE_NATIVE_CALLBACK(ft->handlers[op_init], {
    napi_value argv[2];

    napi_get_reference_value(env, l->self, &(argv[0]));
    napi_create_uint32(env, l->op, &(argv[1]));

    NAPI_MAKE_CALLBACK(env, NULL, ctx, callback, 2, argv, NULL);
  })
}

NAPI_METHOD(fuse_native_signal_init) {
  NAPI_ARGV(2)
  NAPI_ARGV_BUFFER_CAST(fuse_thread_locals_t *, l, 0);
  NAPI_ARGV_INT32(res, 1);
  l->res = res;
  uv_sem_post(&(l->sem));
  return NULL;
}

static void * fuse_native_init (struct fuse_conn_info *conn) {
  fuse_thread_locals_t *l = get_thread_locals();

  l->op = op_init;
  l->op_fn = fuse_native_dispatch_init;

  uv_async_send(&(l->async));
  uv_sem_wait(&(l->sem));

  return l->fuse;
}

// Top-level dispatcher

static void fuse_native_dispatch (uv_async_t* handle) {
  fuse_thread_locals_t *l = (fuse_thread_locals_t *) handle->data;
  fuse_thread_t *ft = l->fuse;
  void (*fn)(uv_async_t *, fuse_thread_locals_t *, fuse_thread_t *) = l->op_fn;

  fn(handle, l, ft);
}

static void fuse_native_async_init (uv_async_t* handle) {
  fuse_thread_t *ft = (fuse_thread_t *) handle->data;
  fuse_thread_locals_t *l;

  FUSE_NATIVE_CALLBACK(ft->malloc, {
    napi_value argv[1];
    napi_create_uint32(ft->env, (uint32_t) sizeof(fuse_thread_locals_t), &(argv[0]));

    napi_value buf;
    NAPI_MAKE_CALLBACK(ft->env, NULL, ctx, callback, 1, argv, &buf);

    size_t l_len;

    napi_get_buffer_info(env, buf, (void **) &l, &l_len);
    napi_create_reference(env, buf, 1, &(l->self));
  })


  int err = uv_async_init(uv_default_loop(), &(l->async), (uv_async_cb) fuse_native_dispatch);
  assert(err >= 0);

  uv_unref((uv_handle_t *) &(l->async));

  uv_sem_init(&(l->sem), 0);
  l->async.data = l;
  ft->async.data = l;
  l->fuse = ft;

  uv_sem_post(&(ft->sem));
}

static fuse_thread_locals_t* get_thread_locals () {
  struct fuse_context *ctx = fuse_get_context();
  // POLYKEY: our channel may call an operation before libfuse made a context on this thread
  fuse_thread_t *ft = (fuse_thread_t *) (ctx != NULL && ctx->private_data != NULL ? ctx->private_data : pk_cur_ft);

  void *data = pthread_getspecific(thread_locals_key);

  if (data != NULL) {
    return (fuse_thread_locals_t *) data;
  }

  // Need to lock the mutation of l->async.
  uv_mutex_lock(&(ft->mut));
  ft->async.data = ft;

  // Notify the main thread to uv_async_init l->async.
  uv_async_send(&(ft->async));
  uv_sem_wait(&(ft->sem));

  fuse_thread_locals_t *l = (fuse_thread_locals_t*) ft->async.data;

  pthread_setspecific(thread_locals_key, (void *) l);
  uv_mutex_unlock(&(ft->mut));

  return l;
}

static void* start_fuse_thread (void *data) {
  fuse_thread_t *ft = (fuse_thread_t *) data;
  fuse_loop_mt(ft->fuse);

  pthread_mutex_lock(&(ft->notify_mut)); // POLYKEY: no notify after this
  ft->notify_dead = 1;
  pthread_mutex_unlock(&(ft->notify_mut));

  fuse_unmount(ft->mnt, ft->kch); // POLYKEY: the kernel channel owns the fd
  fuse_session_remove_chan(ft->ch);
  fuse_destroy(ft->fuse);
  fuse_chan_destroy(ft->ch);

  return NULL;
}

// POLYKEY: kernel cache invalidation.
//
// libfuse 2's high-level API has no way to drop what the kernel cached for a
// path (fuse_invalidate() is a stub returning -EINVAL), but the low-level
// notify calls work on its channel given a node id. The node id of a path is
// what the kernel's FUSE file handle encodes (fuse_encode_fh: node id as two
// 32-bit words, then the generation; handle type FILEID_INO64_GEN = 0x81),
// and name_to_handle_at() hands that out without privileges. (stat() would
// not do: with use_ino, st_ino is the filesystem's inode number.)
//
// All of it runs on the libuv thread pool, never on the JS thread: resolving
// the path may need lookups that the JS thread answers, and the kernel may
// wait in the notify write() for page or directory locks held by a request
// that is itself waiting for the JS thread. The JS callback gets 0 or -errno
// (-ENOENT: nothing by that name, or nothing cached for it).

#ifndef FILEID_INO64_GEN
#define FILEID_INO64_GEN 0x81
#endif

typedef struct {
  napi_async_work work;
  napi_ref cb;
  napi_ref keep; // the fuse_thread_t buffer, kept alive while we run
  fuse_thread_t *ft;
  int entry;     // 0: the inode at path (attributes, pages); 1: the name itself
  char path[4096];
  int res;
} fuse_native_inval_t;

static int node_id_of (const char *path, uint64_t *out) {
  struct { struct file_handle fh; unsigned char bytes[MAX_HANDLE_SZ]; } h;
  h.fh.handle_bytes = MAX_HANDLE_SZ;
  int mount_id;
  if (name_to_handle_at(AT_FDCWD, path, &h.fh, &mount_id, 0) != 0) return -errno;
  if (h.fh.handle_type != FILEID_INO64_GEN || h.fh.handle_bytes < 8) return -EOPNOTSUPP;
  uint32_t w[2];
  memcpy(w, h.fh.f_handle, 8);
  *out = ((uint64_t) w[0] << 32) | w[1];
  return 0;
}

static void fuse_native_inval_execute (napi_env env, void *data) {
  fuse_native_inval_t *r = (fuse_native_inval_t *) data;
  uint64_t node = 0;
  const char *name = NULL;
  if (r->entry) {
    char *slash = strrchr(r->path, '/');
    if (slash == NULL || slash == r->path || slash[1] == '\0') { r->res = -EINVAL; return; }
    *slash = '\0';
    name = slash + 1;
  }
  r->res = node_id_of(r->path, &node);
  if (r->res != 0) return;
  pthread_mutex_lock(&(r->ft->notify_mut));
  if (r->ft->notify_dead || r->ft->ch == NULL) r->res = -ENOTCONN;
  else if (r->entry) r->res = fuse_lowlevel_notify_inval_entry(r->ft->ch, (fuse_ino_t) node, name, strlen(name));
  else r->res = fuse_lowlevel_notify_inval_inode(r->ft->ch, (fuse_ino_t) node, 0, 0);
  pthread_mutex_unlock(&(r->ft->notify_mut));
}

static void fuse_native_inval_complete (napi_env env, napi_status status, void *data) {
  fuse_native_inval_t *r = (fuse_native_inval_t *) data;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value cb, global, argv[1];
  napi_get_reference_value(env, r->cb, &cb);
  napi_get_global(env, &global);
  napi_create_int32(env, status == napi_ok ? r->res : -EIO, &argv[0]);
  napi_call_function(env, global, cb, 1, argv, NULL);
  napi_delete_reference(env, r->cb);
  napi_delete_reference(env, r->keep);
  napi_delete_async_work(env, r->work);
  free(r);
  napi_close_handle_scope(env, scope);
}

// fuse_native_invalidate(threadBuffer, absolutePath, entry: boolean, cb(res))
NAPI_METHOD(fuse_native_invalidate) {
  NAPI_ARGV(4)
  NAPI_ARGV_BUFFER_CAST(fuse_thread_t *, ft, 0);
  fuse_native_inval_t *r = (fuse_native_inval_t *) calloc(1, sizeof(fuse_native_inval_t));
  if (r == NULL) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  size_t len = 0;
  napi_get_value_string_utf8(env, argv[1], r->path, sizeof(r->path), &len);
  if (len == 0 || len >= sizeof(r->path) - 1 || r->path[0] != '/') {
    free(r);
    napi_throw_error(env, "EINVAL", "invalidate: an absolute path is needed");
    return NULL;
  }
  bool entry = false;
  napi_get_value_bool(env, argv[2], &entry);
  r->entry = entry ? 1 : 0;
  r->ft = ft;
  napi_create_reference(env, argv[0], 1, &(r->keep));
  napi_create_reference(env, argv[3], 1, &(r->cb));
  napi_value resource_name;
  napi_create_string_utf8(env, "fuse_native_invalidate", NAPI_AUTO_LENGTH, &resource_name);
  napi_create_async_work(env, NULL, resource_name, fuse_native_inval_execute, fuse_native_inval_complete, r, &(r->work));
  napi_queue_async_work(env, r->work);
  return NULL;
}

// POLYKEY: a node that lost its name.
//
// libfuse 2's high-level API keeps one path per kernel node. When a rename
// replaces a file (`mv new key`, sed -i, editors' saves), the replaced node
// loses its name in libfuse's table; a process whose path walk found `key`
// just before the rename and whose OPEN (or GETATTR, SETATTR) of that node
// arrives just after gets ENOENT from libfuse, although `key` exists. So this
// channel sits between libfuse and /dev/fuse and remembers the requests of
// those kinds:
//
// - OPEN: libfuse could not name the node (none of our operations ran). The
//   channel opens the file that node stood for itself: the file with the
//   inode number last sent to the kernel for that node (use_ino), found by the
//   filesystem (JS open with the path "" and ctx.ino; Polykey keeps a secret's
//   inode number across saves and never hands one out twice). The open is
//   answered with direct_io (the kernel's pages and size for that node are
//   not this file's), its attributes (fgetattr) become the node's last sent
//   ones, and its RELEASE, which libfuse would not know, is answered here. An
//   open that raced a save so opens the secret as saved, as a path walk after
//   the rename would have, and never fails: the kernel's own remedy below
//   retries only once.
// - Otherwise (no such file, or not a filesystem that opens by inode), and for
//   SETATTR: ESTALE. A path-based system call that gets ESTALE walks the path
//   once more with revalidation (LOOKUP_REVAL), which looks `key` up afresh
//   and finds the new node; a path that really is gone then fails the fresh
//   lookup with ENOENT, as before.
// - GETATTR: the attributes last sent for the node (below).
//
// The rest is what libfuse's own kernel channel does (fuse_kern_chan.c).

#define PK_FUSE_GETATTR 3
#define PK_FUSE_SETATTR 4
#define PK_FUSE_OPEN 14
#define PK_FUSE_RELEASE 18
#define PK_FOPEN_DIRECT_IO 1
#define PK_TRACKED 1024 // requests in flight we remember (by unique, open addressing)
#define PK_PROBES 16

struct pk_in_header { uint32_t len; uint32_t opcode; uint64_t unique; uint64_t nodeid; uint32_t uid, gid, pid, padding; };
struct pk_out_header { uint32_t len; int32_t error; uint64_t unique; };
struct pk_open_in { uint32_t flags; uint32_t unused; };
struct pk_open_out { uint64_t fh; uint32_t open_flags; uint32_t padding; };
struct pk_release_in { uint64_t fh; uint32_t flags; uint32_t release_flags; uint64_t lock_owner; };

static pthread_mutex_t pk_tracked_mut = PTHREAD_MUTEX_INITIALIZER;

// Attributes last sent for each node (a small direct-mapped cache by channel and node id). A
// GETATTR that libfuse cannot answer because the node lost its name (an fstat() racing a rename
// over the file, before libfuse counted the open that would have kept a hidden name) is answered
// with them instead of an error: nothing can change that file any more but its own descriptors.
#define PK_FUSE_LOOKUP 1
#define PK_FUSE_CREATE 35
#define PK_ATTR_SIZE 88
#define PK_ATTRS 4096
struct pk_attr_slot { const void *ch; uint64_t nodeid; unsigned char attr[PK_ATTR_SIZE]; };
static struct pk_attr_slot pk_attrs[PK_ATTRS];
struct pk_req { const void *ch; uint64_t unique; uint64_t nodeid; uint32_t opcode; uint32_t flags; };
static struct pk_req pk_reqs[PK_TRACKED]; // the tracked requests (unique 0: free)

// The files this channel opened itself (pk_rescue_open), by file handle, until their RELEASE.
#define PK_RESCUED 256
static struct { const void *ch; uint64_t fh; } pk_rescued[PK_RESCUED]; // fh 0: free
static int pk_rescued_n; // how many are in use (0: nothing to look for at a RELEASE)
static unsigned long pk_rescues; // opens answered this way (fuse_native_stats)

// (all of these under pk_tracked_mut)
static void pk_attr_put (const void *ch, uint64_t nodeid, const unsigned char *attr) {
  if (nodeid == 0) return;
  struct pk_attr_slot *a = &pk_attrs[nodeid % PK_ATTRS];
  a->ch = ch;
  a->nodeid = nodeid;
  memcpy(a->attr, attr, PK_ATTR_SIZE);
}

static int pk_attr_get (const void *ch, uint64_t nodeid, unsigned char *attr) {
  struct pk_attr_slot *a = &pk_attrs[nodeid % PK_ATTRS];
  if (a->nodeid != nodeid || a->ch != ch) return 0;
  memcpy(attr, a->attr, PK_ATTR_SIZE);
  return 1;
}

static int pk_rescued_add (const void *ch, uint64_t fh) {
  for (int i = 0; i < PK_RESCUED; i++)
    if (pk_rescued[i].fh == 0) { pk_rescued[i].ch = ch; pk_rescued[i].fh = fh; pk_rescued_n++; return 1; }
  return 0;
}

static int pk_rescued_take (const void *ch, uint64_t fh) {
  if (pk_rescued_n == 0 || fh == 0) return 0;
  for (int i = 0; i < PK_RESCUED; i++)
    if (pk_rescued[i].fh == fh && pk_rescued[i].ch == ch) { pk_rescued[i].fh = 0; pk_rescued_n--; return 1; }
  return 0;
}

static void pk_put_u64 (unsigned char *at, uint64_t v) { memcpy(at, &v, 8); }
static void pk_put_u32 (unsigned char *at, uint32_t v) { memcpy(at, &v, 4); }

// Open the file that the nameless node `nodeid` stood for (see above). Runs on the worker thread
// serving the OPEN, inside libfuse's reply, so the caller's context is still that request's.
// 0 and the file handle, or -errno.
static int pk_rescue_open (struct fuse_chan *ch, uint64_t nodeid, uint32_t flags, uint64_t *fh) {
  fuse_thread_t *ft = (fuse_thread_t *) fuse_chan_data(ch);
  unsigned char attr[PK_ATTR_SIZE];
  uint64_t ino;
  if (ft == NULL || !ft->rescue_ok) return -ENOENT;
  pthread_mutex_lock(&pk_tracked_mut);
  int have = pk_attr_get(ch, nodeid, attr);
  pthread_mutex_unlock(&pk_tracked_mut);
  if (!have) return -ENOENT;
  memcpy(&ino, attr, 8); // fuse_attr.ino
  if (ino == 0 || ino > UINT32_MAX) return -ENOENT;

  struct fuse_file_info fi;
  memset(&fi, 0, sizeof(fi));
  fi.flags = (int) flags;
  pk_rescue_ino = (uint32_t) ino;
  int res = fuse_native_open("", &fi);
  pk_rescue_ino = 0;
  if (res != 0) return res < 0 ? res : -EIO;
  if (fi.fh == 0) return -EIO;

  // What the kernel is told about that node from now on: this file's attributes.
  struct stat st;
  memset(&st, 0, sizeof(st));
  if (fuse_native_fgetattr("", &st, &fi) == 0) {
    pk_put_u64(attr + 8, (uint64_t) st.st_size);
    pk_put_u64(attr + 16, (uint64_t) st.st_blocks);
    pk_put_u64(attr + 24, (uint64_t) st.st_atim.tv_sec);
    pk_put_u64(attr + 32, (uint64_t) st.st_mtim.tv_sec);
    pk_put_u64(attr + 40, (uint64_t) st.st_ctim.tv_sec);
    pk_put_u32(attr + 48, (uint32_t) st.st_atim.tv_nsec);
    pk_put_u32(attr + 52, (uint32_t) st.st_mtim.tv_nsec);
    pk_put_u32(attr + 56, (uint32_t) st.st_ctim.tv_nsec);
    pk_put_u32(attr + 60, (uint32_t) st.st_mode);
  }
  pthread_mutex_lock(&pk_tracked_mut);
  pk_attr_put(ch, nodeid, attr);
  int kept = pk_rescued_add(ch, fi.fh);
  if (kept) pk_rescues++;
  pthread_mutex_unlock(&pk_tracked_mut);
  if (!kept) { // no room to remember it: close it again
    pk_cur_synthetic = 1;
    fuse_native_release("", &fi);
    pk_cur_synthetic = 0;
    return -ENOENT;
  }
  *fh = fi.fh;
  return 0;
}

static int estale_chan_receive (struct fuse_chan **chp, char *buf, size_t size) {
  struct fuse_chan *ch = *chp;
  struct fuse_session *se = fuse_chan_session(ch);
  ssize_t res;
  int err;
  pk_cur_ft = fuse_chan_data(ch);
restart:
  res = read(fuse_chan_fd(ch), buf, size);
  err = errno;
  if (fuse_session_exited(se)) return 0;
  if (res == -1) {
    if (err == ENOENT) goto restart; // the request was interrupted: safe to read again
    if (err == ENODEV) { fuse_session_exit(se); return 0; } // unmounted
    return -err;
  }
  if ((size_t) res < sizeof(struct pk_in_header)) return -EIO;
  const struct pk_in_header *in = (const struct pk_in_header *) buf;
  // the request this thread now serves (see pk_hide_kind)
  pk_cur_opcode = in->opcode;
  pk_cur_unique = in->unique;
  pk_cur_op_called = 0;
  pk_cur_newname[0] = '\0';
  if (in->opcode == PK_FUSE_RENAME && (size_t) res > sizeof(struct pk_in_header) + 8) {
    // fuse_rename_in { u64 newdir }, then oldname NUL newname NUL
    const char *names = buf + sizeof(struct pk_in_header) + 8;
    size_t n = (size_t) res - sizeof(struct pk_in_header) - 8;
    const char *end = memchr(names, '\0', n);
    if (end != NULL) {
      const char *newname = end + 1;
      const char *end2 = memchr(newname, '\0', n - (size_t) (newname - names));
      if (end2 != NULL && (size_t) (end2 - newname) < sizeof(pk_cur_newname)) memcpy(pk_cur_newname, newname, (size_t) (end2 - newname) + 1);
    }
  }
  // The last close of a file this channel opened (pk_rescue_open): libfuse never counted that
  // open, so the release is ours to make and answer.
  if (in->opcode == PK_FUSE_RELEASE && (size_t) res >= sizeof(struct pk_in_header) + sizeof(struct pk_release_in)) {
    struct pk_release_in ri;
    memcpy(&ri, buf + sizeof(struct pk_in_header), sizeof(ri));
    pthread_mutex_lock(&pk_tracked_mut);
    int ours = pk_rescued_take(ch, ri.fh);
    pthread_mutex_unlock(&pk_tracked_mut);
    if (ours) {
      struct fuse_file_info fi;
      memset(&fi, 0, sizeof(fi));
      fi.fh = ri.fh;
      fi.flags = (int) ri.flags;
      pk_cur_synthetic = 1; // a release is no process's (as libfuse reports it)
      fuse_native_release("", &fi);
      pk_cur_synthetic = 0;
      struct pk_out_header reply = { sizeof(struct pk_out_header), 0, in->unique };
      if (write(fuse_chan_fd(ch), &reply, sizeof(reply)) == -1 && errno == ENODEV) { fuse_session_exit(se); return 0; }
      goto restart;
    }
  }
  if (in->opcode == PK_FUSE_OPEN || in->opcode == PK_FUSE_GETATTR || in->opcode == PK_FUSE_SETATTR || in->opcode == PK_FUSE_LOOKUP || in->opcode == PK_FUSE_CREATE) {
    uint32_t flags = 0;
    if (in->opcode == PK_FUSE_OPEN && (size_t) res >= sizeof(struct pk_in_header) + sizeof(struct pk_open_in)) {
      struct pk_open_in oi;
      memcpy(&oi, buf + sizeof(struct pk_in_header), sizeof(oi));
      flags = oi.flags;
    }
    pthread_mutex_lock(&pk_tracked_mut);
    for (int k = 0; k < PK_PROBES; k++) {
      struct pk_req *r = &pk_reqs[(in->unique + k) % PK_TRACKED];
      if (r->unique == 0) { r->ch = ch; r->unique = in->unique; r->nodeid = in->nodeid; r->opcode = in->opcode; r->flags = flags; break; }
    }
    pthread_mutex_unlock(&pk_tracked_mut); // no free slot near: that one answer goes out as it is
  }
  return res;
}

static int estale_chan_send (struct fuse_chan *ch, const struct iovec iov[], size_t count) {
  if (iov == NULL) return 0;
  struct iovec fixed[2];
  struct { uint64_t attr_valid; uint32_t attr_valid_nsec; uint32_t dummy; unsigned char attr[PK_ATTR_SIZE]; } attr_out;
  struct pk_open_out open_out;
  struct pk_out_header reply;
  if (count > 0 && iov[0].iov_len >= sizeof(struct pk_out_header)) {
    struct pk_out_header *out = (struct pk_out_header *) iov[0].iov_base;
    struct pk_req req = { NULL, 0, 0, 0, 0 };
    if (out->unique != 0) {
      pthread_mutex_lock(&pk_tracked_mut);
      for (int k = 0; k < PK_PROBES; k++) {
        struct pk_req *r = &pk_reqs[(out->unique + k) % PK_TRACKED];
        if (r->unique == out->unique && r->ch == ch) { req = *r; r->unique = 0; break; }
      }
      pthread_mutex_unlock(&pk_tracked_mut);
    }
    if (req.unique != 0 && out->error == 0 && count > 1) {
      // remember what the kernel was told (fuse_entry_out: attr at 40; fuse_attr_out: at 16)
      const unsigned char *arg = (const unsigned char *) iov[1].iov_base;
      if ((req.opcode == PK_FUSE_LOOKUP || req.opcode == PK_FUSE_CREATE) && iov[1].iov_len >= 40 + PK_ATTR_SIZE) {
        uint64_t nodeid;
        memcpy(&nodeid, arg, 8);
        pthread_mutex_lock(&pk_tracked_mut);
        pk_attr_put(ch, nodeid, arg + 40);
        pthread_mutex_unlock(&pk_tracked_mut);
      } else if ((req.opcode == PK_FUSE_GETATTR || req.opcode == PK_FUSE_SETATTR) && iov[1].iov_len >= 16 + PK_ATTR_SIZE) {
        pthread_mutex_lock(&pk_tracked_mut);
        pk_attr_put(ch, req.nodeid, arg + 16);
        pthread_mutex_unlock(&pk_tracked_mut);
      }
    } else if (req.unique != 0 && out->error == -ENOENT && req.opcode != PK_FUSE_LOOKUP && req.opcode != PK_FUSE_CREATE) {
      int have = 0;
      if (req.opcode == PK_FUSE_OPEN && out->unique == pk_cur_unique && !pk_cur_op_called) {
        // libfuse had no name for the node (it never asked us to open anything)
        memset(&open_out, 0, sizeof(open_out));
        if (pk_rescue_open(ch, req.nodeid, req.flags, &open_out.fh) == 0) {
          open_out.open_flags = PK_FOPEN_DIRECT_IO;
          fixed[1].iov_base = &open_out;
          fixed[1].iov_len = sizeof(open_out);
          have = 1;
        }
      } else if (req.opcode == PK_FUSE_GETATTR) {
        pthread_mutex_lock(&pk_tracked_mut);
        if (pk_attr_get(ch, req.nodeid, attr_out.attr)) {
          attr_out.attr_valid = 0; // not cached
          attr_out.attr_valid_nsec = 0;
          attr_out.dummy = 0;
          pk_put_u32(attr_out.attr + 64, 0); // fuse_attr.nlink: it has no name left
          fixed[1].iov_base = &attr_out;
          fixed[1].iov_len = sizeof(attr_out);
          have = 1;
        }
        pthread_mutex_unlock(&pk_tracked_mut);
      }
      if (have) {
        reply.len = sizeof(reply) + fixed[1].iov_len;
        reply.error = 0;
        reply.unique = out->unique;
        fixed[0].iov_base = &reply;
        fixed[0].iov_len = sizeof(reply);
        iov = fixed;
        count = 2;
      } else out->error = -ESTALE; // libfuse's own header, writable
    }
  }
  ssize_t res = writev(fuse_chan_fd(ch), iov, count);
  if (res == -1) return -errno; // ENOENT: the request was interrupted
  return 0;
}

static void estale_chan_destroy (struct fuse_chan *ch) {
  (void) ch; // the fd belongs to the kernel channel (closed by fuse_unmount)
}

// fuse_native_stats(): { rescuedOpens } — opens of nameless nodes answered by pk_rescue_open
NAPI_METHOD(fuse_native_stats) {
  napi_value obj, v;
  napi_create_object(env, &obj);
  pthread_mutex_lock(&pk_tracked_mut);
  unsigned long n = pk_rescues;
  pthread_mutex_unlock(&pk_tracked_mut);
  napi_create_double(env, (double) n, &v);
  napi_set_named_property(env, obj, "rescuedOpens", v);
  napi_create_double(env, (double) __atomic_load_n(&pk_attr_hits, __ATOMIC_RELAXED), &v);
  napi_set_named_property(env, obj, "attrsAnswered", v);
  napi_create_double(env, (double) __atomic_load_n(&pk_releases_deferred, __ATOMIC_RELAXED), &v);
  napi_set_named_property(env, obj, "releasesDeferred", v);
  return obj;
}

static struct fuse_chan_ops estale_chan_ops = {
  .receive = estale_chan_receive,
  .send = estale_chan_send,
  .destroy = estale_chan_destroy,
};

NAPI_METHOD(fuse_native_mount) {
  NAPI_ARGV(8)

  NAPI_ARGV_UTF8(mnt, 1024, 0);
  NAPI_ARGV_UTF8(mntopts, 1024, 1);
  NAPI_ARGV_BUFFER_CAST(fuse_thread_t *, ft, 2);
  napi_create_reference(env, argv[3], 1, &(ft->ctx));
  napi_create_reference(env, argv[4], 1, &(ft->malloc));
  napi_value handlers = argv[5];
  NAPI_ARGV_BUFFER_CAST(uint32_t *, implemented, 6)

  for (int i = 0; i < FUSE_NATIVE_OP_COUNT; i++) {
    ft->handlers[i] = NULL;
  }

  NAPI_FOR_EACH(handlers, handler) {
    napi_create_reference(env, handler, 1, &ft->handlers[i]);
  }

  ft->env = env;

  struct fuse_operations ops = { };
  if (implemented[op_access]) ops.access = fuse_native_access;
  if (implemented[op_truncate]) ops.truncate = fuse_native_truncate;
  if (implemented[op_ftruncate]) ops.ftruncate = fuse_native_ftruncate;
  if (implemented[op_getattr]) ops.getattr = fuse_native_getattr;
  if (implemented[op_fgetattr]) ops.fgetattr = fuse_native_fgetattr;
  if (implemented[op_flush]) ops.flush = fuse_native_flush;
  if (implemented[op_fsync]) ops.fsync = fuse_native_fsync;
  if (implemented[op_fsyncdir]) ops.fsyncdir = fuse_native_fsyncdir;
  if (implemented[op_readdir]) ops.readdir = fuse_native_readdir;
  if (implemented[op_readlink]) ops.readlink = fuse_native_readlink;
  if (implemented[op_chown]) ops.chown = fuse_native_chown;
  if (implemented[op_chmod]) ops.chmod = fuse_native_chmod;
  if (implemented[op_mknod]) ops.mknod = fuse_native_mknod;
  if (implemented[op_setxattr]) ops.setxattr = fuse_native_setxattr;
  if (implemented[op_getxattr]) ops.getxattr = fuse_native_getxattr;
  if (implemented[op_listxattr]) ops.listxattr = fuse_native_listxattr;
  if (implemented[op_removexattr]) ops.removexattr = fuse_native_removexattr;
  if (implemented[op_statfs]) ops.statfs = fuse_native_statfs;
  if (implemented[op_open]) ops.open = fuse_native_open;
  if (implemented[op_opendir]) ops.opendir = fuse_native_opendir;
  if (implemented[op_read]) ops.read = fuse_native_read;
  if (implemented[op_write]) ops.write = fuse_native_write;
  if (implemented[op_release]) ops.release = fuse_native_release;
  if (implemented[op_releasedir]) ops.releasedir = fuse_native_releasedir;
  if (implemented[op_create]) ops.create = fuse_native_create;
  if (implemented[op_utimens]) ops.utimens = fuse_native_utimens;
  if (implemented[op_unlink]) ops.unlink = fuse_native_unlink;
  if (implemented[op_rename]) ops.rename = fuse_native_rename;
  if (implemented[op_link]) ops.link = fuse_native_link;
  if (implemented[op_symlink]) ops.symlink = fuse_native_symlink;
  if (implemented[op_mkdir]) ops.mkdir = fuse_native_mkdir;
  if (implemented[op_rmdir]) ops.rmdir = fuse_native_rmdir;
  if (implemented[op_init]) ops.init = fuse_native_init;
  if (implemented[op_fallocate]) ops.fallocate = fuse_native_fallocate; // POLYKEY
  // POLYKEY: utimens understands UTIME_NOW/UTIME_OMIT now. Without this flag
  // libfuse 2.9 only calls utimens when atime AND mtime are both set, and
  // silently drops e.g. `touch -m`, `touch -a` or tar's (UTIME_OMIT, mtime).
  ops.flag_utime_omit_ok = 1;
  // POLYKEY: requests on an open file go through when libfuse has no path for it any more (it
  // was renamed over before libfuse counted the open): JS gets "" and uses the handle.
  ops.flag_nullpath_ok = 1;
  // POLYKEY: our channel may open a nameless node's file itself (pk_rescue_open).
  ft->rescue_ok = implemented[op_open] && implemented[op_fgetattr] && implemented[op_release];

  int _argc = (strcmp(mntopts, "-o") <= 0) ? 1 : 2;
  char *_argv[] = {
    (char *) "fuse_bindings_dummy",
    (char *) mntopts
  };

  struct fuse_args args = FUSE_ARGS_INIT(_argc, _argv);
  struct fuse_chan *ch = fuse_mount(mnt, &args);

  if (ch == NULL) {
    // POLYKEY: clearer error (libfuse prints the reason on stderr).
    napi_throw_error(env, "FUSE_MOUNT_FAILED", "fuse_mount() failed (is /dev/fuse usable and the mountpoint free?)");
    return NULL;
  }

  // POLYKEY: libfuse talks to the kernel through our channel (ESTALE, above).
  struct fuse_chan *kch = ch;
  ch = fuse_chan_new(&estale_chan_ops, fuse_chan_fd(kch), fuse_chan_bufsize(kch), ft);
  if (ch == NULL) {
    fuse_unmount(mnt, kch);
    napi_throw_error(env, "FUSE_NEW_FAILED", "fuse_chan_new() failed");
    return NULL;
  }
  struct fuse *fuse = fuse_new(ch, &args, &ops, sizeof(struct fuse_operations), ft);

  // POLYKEY: upstream leaked the kernel mount when fuse_new() failed (it
  // fails e.g. on an unknown or malformed -o option) and then carried on.
  if (fuse == NULL) {
    fuse_chan_destroy(ch);
    fuse_unmount(mnt, kch);
    napi_throw_error(env, "FUSE_NEW_FAILED", "fuse_new() failed (invalid mount options?)");
    return NULL;
  }

  uv_mutex_init(&(ft->mut));
  uv_sem_init(&(ft->sem), 0);
  pthread_mutex_init(&(ft->notify_mut), NULL); // POLYKEY
  ft->notify_dead = 0;

  // POLYKEY: answers in the binding, when the filesystem asked for them: argv[7] is the function
  // that takes deferred releases (see "Answered in the binding").
  napi_valuetype on_released_type = napi_undefined;
  napi_typeof(env, argv[7], &on_released_type);
  pthread_mutex_init(&(ft->fast_mut), NULL);
  ft->fast_dead = 0;
  ft->attr_cache = NULL;
  ft->release_async = NULL;
  ft->on_released = NULL;
  ft->releases_pending = 0;
  ft->fast_on = 0;
  if (on_released_type == napi_function) {
    uv_async_t *a = (uv_async_t *) calloc(1, sizeof(uv_async_t));
    if (a != NULL && uv_async_init(uv_default_loop(), a, pk_release_async_cb) == 0) {
      a->data = ft;
      uv_unref((uv_handle_t *) a);
      ft->release_async = a;
      napi_create_reference(env, argv[7], 1, &(ft->on_released));
      ft->fast_on = 1;
    } else free(a);
  }

  strncpy(ft->mnt, mnt, 1024);
  strncpy(ft->mntopts, mntopts, 1024);
  ft->fuse = fuse;
  ft->ch = ch;
  ft->kch = kch;
  ft->mounted++;

  int err = uv_async_init(uv_default_loop(), &(ft->async), (uv_async_cb) fuse_native_async_init);

  if (fuse == NULL || err < 0) {
    napi_throw_error(env, "fuse failed", "fuse failed");
    return NULL;
  }

  pthread_attr_init(&(ft->attr));
  // POLYKEY: the FUSE thread, and the worker threads libfuse starts from it
  // (which inherit its signal mask), take no signals. libfuse only blocks
  // TERM/INT/HUP/QUIT in its workers and ends them with pthread_cancel(); a
  // SIGCHLD delivered to a worker being cancelled ran libuv's handler there,
  // which took libuv's process-wide signal lock (a 1-byte pipe read, a
  // cancellation point) and never gave it back: the JS thread then hung for
  // good in its next uv__signal_lock(). Signals belong to the JS thread.
  sigset_t all_signals, old_signals;
  sigfillset(&all_signals);
  pthread_sigmask(SIG_BLOCK, &all_signals, &old_signals);
  pthread_create(&(ft->thread), &(ft->attr), start_fuse_thread, ft);
  pthread_sigmask(SIG_SETMASK, &old_signals, NULL);

  return NULL;
}

NAPI_METHOD(fuse_native_unmount) {
  NAPI_ARGV(2)
  NAPI_ARGV_UTF8(mnt, 1024, 0);
  NAPI_ARGV_BUFFER_CAST(fuse_thread_t *, ft, 1);

  if (ft != NULL && ft->mounted) {
    // TODO: Investigate why the FUSE thread is not always killed after fusermount.
    // pthread_join(ft->thread, NULL);
  }

  // TODO: fix the async holding the loop
  uv_unref((uv_handle_t *) &(ft->async));
  ft->mounted--;
  pk_fast_stop(env, ft); // POLYKEY

  return NULL;
}

NAPI_INIT() {
  const napi_node_version* version;
  assert(napi_get_node_version(env, &version) == napi_ok);

  if (version->major > 12 || (version->major == 12 && version->minor >= 16)) {
    IS_ARRAY_BUFFER_DETACH_SUPPORTED = 1;
  }

  pthread_key_create(&(thread_locals_key), NULL); // TODO: add destructor

  NAPI_EXPORT_SIZEOF(fuse_thread_t)

  NAPI_EXPORT_FUNCTION(fuse_native_mount)
  NAPI_EXPORT_FUNCTION(fuse_native_unmount)
  NAPI_EXPORT_FUNCTION(fuse_native_invalidate) // POLYKEY
  NAPI_EXPORT_FUNCTION(fuse_native_stats)      // POLYKEY
  NAPI_EXPORT_FUNCTION(fuse_native_take_releases) // POLYKEY

  NAPI_EXPORT_FUNCTION(fuse_native_signal_getattr)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_init)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_access)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_statfs)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_fgetattr)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_getattr)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_flush)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_fsync)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_fsyncdir)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_readdir)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_truncate)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_ftruncate)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_utimens)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_readlink)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_chown)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_chmod)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_mknod)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_setxattr)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_getxattr)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_listxattr)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_removexattr)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_open)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_opendir)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_read)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_write)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_release)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_releasedir)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_create)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_unlink)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_rename)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_link)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_symlink)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_mkdir)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_rmdir)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_fallocate) // POLYKEY

  NAPI_EXPORT_UINT32(op_getattr)
  NAPI_EXPORT_UINT32(op_init)
  NAPI_EXPORT_UINT32(op_error)
  NAPI_EXPORT_UINT32(op_access)
  NAPI_EXPORT_UINT32(op_statfs)
  NAPI_EXPORT_UINT32(op_fgetattr)
  NAPI_EXPORT_UINT32(op_getattr)
  NAPI_EXPORT_UINT32(op_flush)
  NAPI_EXPORT_UINT32(op_fsync)
  NAPI_EXPORT_UINT32(op_fsyncdir)
  NAPI_EXPORT_UINT32(op_readdir)
  NAPI_EXPORT_UINT32(op_truncate)
  NAPI_EXPORT_UINT32(op_ftruncate)
  NAPI_EXPORT_UINT32(op_utimens)
  NAPI_EXPORT_UINT32(op_readlink)
  NAPI_EXPORT_UINT32(op_chown)
  NAPI_EXPORT_UINT32(op_chmod)
  NAPI_EXPORT_UINT32(op_mknod)
  NAPI_EXPORT_UINT32(op_setxattr)
  NAPI_EXPORT_UINT32(op_getxattr)
  NAPI_EXPORT_UINT32(op_listxattr)
  NAPI_EXPORT_UINT32(op_removexattr)
  NAPI_EXPORT_UINT32(op_open)
  NAPI_EXPORT_UINT32(op_opendir)
  NAPI_EXPORT_UINT32(op_read)
  NAPI_EXPORT_UINT32(op_write)
  NAPI_EXPORT_UINT32(op_release)
  NAPI_EXPORT_UINT32(op_releasedir)
  NAPI_EXPORT_UINT32(op_create)
  NAPI_EXPORT_UINT32(op_unlink)
  NAPI_EXPORT_UINT32(op_rename)
  NAPI_EXPORT_UINT32(op_link)
  NAPI_EXPORT_UINT32(op_symlink)
  NAPI_EXPORT_UINT32(op_mkdir)
  NAPI_EXPORT_UINT32(op_rmdir)
  NAPI_EXPORT_UINT32(op_fallocate) // POLYKEY
  NAPI_EXPORT_UINT32(op_count)     // POLYKEY

  // POLYKEY: where the caller context lives in the per-thread buffer.
  NAPI_EXPORT_OFFSETOF(fuse_thread_locals_t, ctx_uid)
  NAPI_EXPORT_OFFSETOF(fuse_thread_locals_t, ctx_gid)
  NAPI_EXPORT_OFFSETOF(fuse_thread_locals_t, ctx_pid)
  NAPI_EXPORT_OFFSETOF(fuse_thread_locals_t, ctx_umask)
  NAPI_EXPORT_OFFSETOF(fuse_thread_locals_t, ctx_req)
  NAPI_EXPORT_OFFSETOF(fuse_thread_locals_t, ctx_hide)
  NAPI_EXPORT_OFFSETOF(fuse_thread_locals_t, ctx_ino)
  NAPI_EXPORT_SIZEOF(fuse_thread_locals_t)
  // POLYKEY: the words JS shares with the binding's own answers.
  NAPI_EXPORT_OFFSETOF(fuse_thread_t, attr_gen)
  NAPI_EXPORT_OFFSETOF(fuse_thread_t, releases_pending)
}
