// Process hardening for the process that holds plaintext (docs/SECURITY.md):
//   noCoreDumps(): RLIMIT_CORE = 0 and PR_SET_DUMPABLE = 0 (no core files, no ptrace by other
//                  processes of the same user, /proc/PID/mem unreadable to them).
//   lockMemory():  mlockall(MCL_CURRENT | MCL_FUTURE) so plaintext is never written to swap.
//   peerCred(fd):  who is at the other end of a unix socket (SO_PEERCRED).
//   flock(fd, op): flock(2) on an open file, non-blocking (op 1 exclusive, 0 unlock). Node has no
//                  flock; the node lock (src/archive/os-lock.ts) needs a lock on the file itself,
//                  so that every name of one node (symlinks, hard links) is one lock.
// Each returns 0 or the errno of the call that failed; the caller decides how loud to be.
#define _GNU_SOURCE // struct ucred
#include <errno.h>
#include <sys/file.h>
#include <node_api.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>

static napi_value ret_int(napi_env env, int v) {
  napi_value out;
  napi_create_int32(env, v, &out);
  return out;
}

static napi_value no_core_dumps(napi_env env, napi_callback_info info) {
  struct rlimit rl = {0, 0};
  if (setrlimit(RLIMIT_CORE, &rl) != 0) return ret_int(env, errno);
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) return ret_int(env, errno);
  return ret_int(env, 0);
}

static napi_value lock_memory(napi_env env, napi_callback_info info) {
  // With MCL_FUTURE every later allocation must fit under RLIMIT_MEMLOCK or it fails outright
  // (and V8 aborts): only lock when the limit leaves room for a whole Node heap.
  struct rlimit rl;
  if (getrlimit(RLIMIT_MEMLOCK, &rl) != 0) return ret_int(env, errno);
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)4 << 30) return ret_int(env, ENOMEM);
  if (mlockall(MCL_CURRENT | MCL_FUTURE) != 0) return ret_int(env, errno);
  return ret_int(env, 0);
}

static napi_value is_dumpable(napi_env env, napi_callback_info info) {
  return ret_int(env, prctl(PR_GET_DUMPABLE, 0, 0, 0, 0));
}

// peerCred(fd): [pid, uid, gid] of the process at the other end of a connected unix socket
// (SO_PEERCRED, filled in by the kernel at connect/listen time: it cannot be forged by the
// peer), or a number (the errno) when the call fails.
static napi_value peer_cred(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd = -1;
  napi_get_cb_info(env, info, &argc, argv, 0, 0);
  if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok) return ret_int(env, EINVAL);
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return ret_int(env, errno);
  napi_value out, v;
  napi_create_array_with_length(env, 3, &out);
  napi_create_int64(env, cred.pid, &v);
  napi_set_element(env, out, 0, v);
  napi_create_int64(env, cred.uid, &v);
  napi_set_element(env, out, 1, v);
  napi_create_int64(env, cred.gid, &v);
  napi_set_element(env, out, 2, v);
  return out;
}

static napi_value flock_fd(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t fd = -1, op = -1;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2) return ret_int(env, EINVAL);
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || napi_get_value_int32(env, argv[1], &op) != napi_ok) return ret_int(env, EINVAL);
  if (op != 0 && op != 1) return ret_int(env, EINVAL);
  if (flock(fd, op == 1 ? LOCK_EX | LOCK_NB : LOCK_UN) != 0) return ret_int(env, errno);
  return ret_int(env, 0);
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"noCoreDumps", 0, no_core_dumps, 0, 0, 0, napi_default, 0},
    {"lockMemory", 0, lock_memory, 0, 0, 0, napi_default, 0},
    {"isDumpable", 0, is_dumpable, 0, 0, 0, napi_default, 0},
    {"peerCred", 0, peer_cred, 0, 0, 0, napi_default, 0},
    {"flock", 0, flock_fd, 0, 0, 0, napi_default, 0},
  };
  napi_define_properties(env, exports, 5, props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
