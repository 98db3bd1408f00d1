/*
 * git-remote-polykey's fast path (docs/ARCHITECTURE.md "git-remote-polykey's fast path",
 * docs/SHARING.md "Real git"). bin/git-remote-polykey starts it as
 * `git-remote-polykey --launched-by SCRIPT REMOTE ADDRESS`. When the node of ADDRESS is held open
 * by an agent of this user's (mounted or unlocked), it answers git's fetches itself: each request
 * is the same `git-serve` command the Node helper (src/gitremote/helper.ts) forwards, and the pack
 * streams into `git index-pack` as it arrives. So a clone costs no Node start-up and no unlock:
 * the agent already holds the node open and indexed.
 *
 * Anything else is the Node helper's: an address it does not parse exactly as Node does, no
 * agent, a push (`list for-push`), an agent gone before a request was sent. It then execs
 * `node SCRIPT REMOTE ADDRESS [--answered OPTION-LINE]… [--resume LINE]…`: the option lines it
 * answered, and the lines of git's it has read but not answered (stdin is read one byte at a
 * time, so nothing more has been taken from git). Once a request is sent it never falls back (as
 * the fast client): from then on it reports what the Node helper reports, with the same lines
 * and exit codes.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "frames.h"
#include "paths.h"
#include "request.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

struct pk_command {
  const char *group, *name;
  int forward, stdin, no_terminal_out;
  const char *local_with;
};
enum { PK_STDIN_NONE, PK_STDIN_DATA, PK_STDIN_SECRET };
#include "table.h"

enum { EXIT_OK = 0, EXIT_FAILED = 1 };
#define BRANCH_REF "refs/heads/main"
#define MAX_HAVES 256 /* as the Node helper's MAX_HAVES */
#define MAX_LINE 8192
#define MAX_PENDING 64

static const char *script;
static const char *remote_name, *address;
static int tracing;

/* git's lines read but not answered: handed to Node with --resume when it takes over */
static char *pending[MAX_PENDING];
static int npending;
/* the options git set (answered already): handed to Node with --answered */
static char *options[MAX_PENDING];
static int noptions;

static struct timespec started;

/* POLYKEY_FAST_CLIENT_TRACE: what it decided, with the milliseconds since it started */
static void trace(const char *what, const char *detail) {
  if (!tracing) return;
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  double ms = (double)(now.tv_sec - started.tv_sec) * 1e3 + (double)(now.tv_nsec - started.tv_nsec) / 1e6;
  fprintf(stderr, "git-remote-polykey: %.1f ms: %s%s%s\n", ms, what, detail ? " " : "", detail ? detail : "");
}

/* The Node helper takes over: same arguments, the pending lines first. Nothing was sent to an agent. */
static void __attribute__((noreturn)) use_node(const char *why) {
  trace("node:", why);
  char **argv = calloc((size_t)(npending + noptions) * 2 + 5, sizeof *argv);
  if (argv) {
    int n = 0;
    argv[n++] = "node";
    argv[n++] = (char *)script;
    argv[n++] = (char *)remote_name;
    argv[n++] = (char *)address;
    for (int i = 0; i < noptions; i++) {
      argv[n++] = "--answered";
      argv[n++] = options[i];
    }
    for (int i = 0; i < npending; i++) {
      argv[n++] = "--resume";
      argv[n++] = pending[i];
    }
    execvp("node", argv);
    if (errno == ENOENT) {
      argv[0] = PK_NODE_FALLBACK;
      execv(PK_NODE_FALLBACK, argv);
    }
  }
  fprintf(stderr, "polykey: error: cannot start node: %s\n", strerror(errno));
  exit(127);
}

static void __attribute__((noreturn)) fatal(int code, const char *fmt, const char *a, const char *b) {
  fprintf(stderr, "polykey: error: ");
  fprintf(stderr, fmt, a, b);
  fputc('\n', stderr);
  exit(code);
}

/* ------------------------------------------------------------------ buffers that may hold secrets */

/* struct pk_buf (request.h): grown by copy and wipe, wiped when freed; the packs it holds are secret values. */

static int write_all(int fd, const void *buf, size_t n) {
  const char *p = buf;
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        struct pollfd pf = { fd, POLLOUT, 0 };
        poll(&pf, 1, -1);
        continue;
      }
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* To git, on stdout: a reader that went away is git giving up; nothing is left to do. */
static void say(const char *s) {
  if (write_all(1, s, strlen(s)) != 0) exit(EXIT_FAILED);
}

/* ------------------------------------------------------------------ the address */

/* nameProblem() of src/vault/names.ts, on the safe side: plain printable ASCII names only (any
 * other name goes to Node, which accepts or refuses it with its own words); never '-' first,
 * where the agent's parser would read an option. */
static int plain_repo_name(const char *s) {
  size_t l = strlen(s);
  if (l == 0 || l > 255 || s[0] == '-' || strcmp(s, ".") == 0 || strcmp(s, "..") == 0 || strcmp(s, ".git") == 0) return 0;
  for (const char *p = s; *p; p++)
    if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e || *p == '/') return 0;
  return 1;
}

static int is_oid(const char *s, size_t n) {
  if (n != 40) return 0;
  for (size_t i = 0; i < 40; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
  return 1;
}

/* ------------------------------------------------------------------ running git */

struct run {
  int code;
  struct pk_buf out, err;
};

/* git ARGS with `input` on its stdin; stdout kept when `keep_out`, else dropped; stderr kept. */
static int run_git(const char *const *args, const struct pk_buf *input, int keep_out, struct run *r) {
  memset(r, 0, sizeof *r);
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) != 0) return -1;
  if (pipe2(out, O_CLOEXEC) != 0) return -1;
  if (pipe2(err, O_CLOEXEC) != 0) return -1;
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
    execvp("git", (char *const *)args);
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  close(err[1]);
  size_t sent = 0;
  size_t total = input ? input->len : 0;
  if (total == 0) {
    close(in[1]);
    in[1] = -1;
  } else fcntl(in[1], F_SETFL, O_NONBLOCK);
  int open_out = 1, open_err = 1;
  uint8_t chunk[65536];
  while (open_out || open_err || in[1] >= 0) {
    struct pollfd pf[3];
    int n = 0, iw = -1, io = -1, ie = -1;
    if (in[1] >= 0) pf[iw = n++] = (struct pollfd){ in[1], POLLOUT, 0 };
    if (open_out) pf[io = n++] = (struct pollfd){ out[0], POLLIN, 0 };
    if (open_err) pf[ie = n++] = (struct pollfd){ err[0], POLLIN, 0 };
    if (poll(pf, (nfds_t)n, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (iw >= 0 && pf[iw].revents) {
      ssize_t w = write(in[1], input->data + sent, total - sent);
      if (w > 0) sent += (size_t)w;
      if ((w < 0 && errno != EAGAIN && errno != EINTR) || sent == total) {
        close(in[1]); /* done, or git stopped reading (it says why on stderr) */
        in[1] = -1;
      }
    }
    if (io >= 0 && pf[io].revents) {
      ssize_t k = read(out[0], chunk, sizeof chunk);
      if (k > 0 && keep_out) pk_buf_put(&r->out, chunk, (size_t)k);
      if (k == 0 || (k < 0 && errno != EINTR && errno != EAGAIN)) open_out = 0;
    }
    if (ie >= 0 && pf[ie].revents) {
      ssize_t k = read(err[0], chunk, sizeof chunk);
      if (k > 0) pk_buf_put(&r->err, chunk, (size_t)k);
      if (k == 0 || (k < 0 && errno != EINTR && errno != EAGAIN)) open_err = 0;
    }
  }
  if (in[1] >= 0) close(in[1]);
  close(out[0]);
  close(err[0]);
  int st;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  r->code = WIFEXITED(st) ? WEXITSTATUS(st) : 1;
  pk_buf_put(&r->err, "", 1); /* a C string */
  r->err.len--;
  return 0;
}

/* The first line of trimmed text (what the Node helper quotes of git's stderr). */
static char *first_line(const struct pk_buf *b) {
  const char *s = b->data ? (const char *)b->data : "";
  while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') s++;
  size_t n = strcspn(s, "\n");
  while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r')) n--;
  return strndup(s, n);
}

/* Does the folder (refs/…) hold anything but folders? -1 when it cannot tell. */
static int holds_files(const char *dir, int depth) {
  DIR *d = opendir(dir);
  if (!d) return errno == ENOENT ? 0 : -1;
  int found = 0;
  struct dirent *e;
  while (!found && (e = readdir(d))) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    char p[4096];
    if (snprintf(p, sizeof p, "%s/%s", dir, e->d_name) >= (int)sizeof p || depth > 8) {
      found = -1;
      break;
    }
    struct stat st;
    if (lstat(p, &st) != 0 || !S_ISDIR(st.st_mode)) found = 1;
    else found = holds_files(p, depth + 1);
  }
  closedir(d);
  return found;
}

/* A repository with no refs at all (what git clone gives its helper): one git process fewer.
 * Only the plain layout is read (loose refs under refs/, no packed-refs, no reftable, not a
 * worktree); anything else, or any doubt, asks git. */
static int surely_no_refs(void) {
  const char *gitdir = getenv("GIT_DIR");
  if (!gitdir || gitdir[0] != '/' || getenv("GIT_COMMON_DIR")) return 0;
  char p[4096];
  struct stat st;
  const char *absent[] = { "packed-refs", "reftable", "commondir", NULL };
  for (const char *const *a = absent; *a; a++) {
    if (snprintf(p, sizeof p, "%s/%s", gitdir, *a) >= (int)sizeof p) return 0;
    if (lstat(p, &st) == 0 || errno != ENOENT) return 0;
  }
  if (snprintf(p, sizeof p, "%s/refs", gitdir) >= (int)sizeof p) return 0;
  if (lstat(p, &st) != 0 || !S_ISDIR(st.st_mode)) return 0;
  return holds_files(p, 0) == 0;
}

/* Tips of this clone's refs, what the node need not send again (the Node helper's haves()). */
static int haves(char *out[MAX_HAVES]) {
  if (surely_no_refs()) return 0;
  const char *args[] = { "git", "for-each-ref", "--format=%(objectname)", NULL };
  struct run r;
  int n = 0;
  if (run_git(args, NULL, 1, &r) != 0 || r.code != 0) {
    pk_buf_free(&r.out);
    pk_buf_free(&r.err);
    return 0;
  }
  const char *p = (const char *)r.out.data, *end = p + r.out.len;
  while (p && p < end && n < MAX_HAVES) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
    if (is_oid(p, l)) {
      int dup = 0;
      for (int i = 0; i < n && !dup; i++) dup = memcmp(out[i], p, 40) == 0;
      if (!dup) out[n++] = strndup(p, 40);
    }
    p = nl ? nl + 1 : end;
  }
  pk_buf_free(&r.out);
  pk_buf_free(&r.err);
  return n;
}

/* ------------------------------------------------------------------ the agent */

static char *node_path;   /* the node file (for the agent's socket) */
static char *node_arg;    /* --node's value for the agent: the address's path, NULL for polykey::#REPO */
static char *repo;
static char *sock_path;
static int first_fd = -1; /* the connection made at start (the check that an agent answers), used by the first request */

/* A connection to the node's agent, checked as the Node client checks it; -1 when none answers. */
static int connect_agent(void) {
  if (first_fd >= 0) {
    int fd = first_fd;
    first_fd = -1;
    return fd;
  }
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  strcpy(sa.sun_path, sock_path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    close(fd);
    return -1;
  }
  struct ucred cred;
  socklen_t cl = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) != 0) {
    close(fd);
    return -1;
  }
  if (cred.uid != getuid()) {
    char uid[32];
    snprintf(uid, sizeof uid, "%u", (unsigned)cred.uid);
    fatal(EXIT_FAILED, "refusing the agent at %s: it runs as uid %s, not as you", sock_path, uid);
  }
  return fd;
}

/*
 * One git-serve request and its answer, read as it comes: the stdout bytes not consumed yet are
 * `out` from `used` on (the answer's first line, then the pack), stderr is kept whole for the
 * error line, and the exit code comes last.
 */
struct answer {
  int fd;      /* -1 once the agent has closed the connection (or we did) */
  int have_code;
  int32_t code;
  struct pk_buf out, err;
  size_t used;
  struct pk_frames fr;
};

static int on_frame(void *ctx, uint8_t type, const uint8_t *payload, uint32_t len) {
  struct answer *a = ctx;
  if (len == 0) return 0;
  if (type == PK_FRAME_STDOUT) return pk_buf_put(&a->out, payload, len) ? PK_FRAMES_NOMEM : 0;
  if (type == PK_FRAME_STDERR) return pk_buf_put(&a->err, payload, len) ? PK_FRAMES_NOMEM : 0;
  if (type == PK_FRAME_EXIT && len == 4) {
    a->code = (int32_t)((uint32_t)payload[0] << 24 | (uint32_t)payload[1] << 16 | (uint32_t)payload[2] << 8 | payload[3]);
    a->have_code = 1;
  }
  return 0;
}

static const char *errno_name(int e) {
  switch (e) {
  case EPIPE: return "EPIPE";
  case ECONNRESET: return "ECONNRESET";
  default: return "EIO";
  }
}

static void answer_close(struct answer *a) {
  if (a->fd >= 0) close(a->fd);
  a->fd = -1;
  pk_frames_free(&a->fr);
}

static void answer_free(struct answer *a) {
  answer_close(a);
  pk_buf_free(&a->out);
  pk_buf_free(&a->err);
  a->used = 0;
}

/* Drop what was consumed of stdout (wiped: pack bytes are secret values). */
static void answer_compact(struct answer *a) {
  if (a->used == 0) return;
  size_t left = a->out.len - a->used;
  memmove(a->out.data, a->out.data + a->used, left);
  explicit_bzero(a->out.data + left, a->used);
  a->out.len = left;
  a->used = 0;
}

/* One read from the agent into the answer; 0 at the end of the connection (then closed). */
static int answer_read(struct answer *a) {
  uint8_t buf[65536];
  for (;;) {
    ssize_t r = read(a->fd, buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) fatal(EXIT_FAILED, "lost the node's agent: read %s%s", errno_name(errno), "");
    if (r == 0) {
      answer_close(a);
      trace("answered", NULL);
      return 0;
    }
    int st = pk_frames_push(&a->fr, buf, (size_t)r, on_frame, a);
    explicit_bzero(buf, (size_t)r);
    if (st != PK_FRAMES_OK) { /* a frame above the limit: the Node client hangs up there too */
      answer_close(a);
      return 0;
    }
    return 1;
  }
}

/* A failed git-serve: its `polykey: error:` line (the Node helper's errorOf), then git gives up. */
static void __attribute__((noreturn)) failed(struct answer *a) {
  pk_buf_put(&a->err, "", 1);
  const char *e = (const char *)a->err.data;
  const char *hit = NULL;
  for (const char *l = e; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
    if (strncmp(l, "polykey: error: ", 16) == 0) {
      hit = l + 16;
      break;
    }
  char *line;
  if (hit) line = strndup(hit, strcspn(hit, "\n"));
  else {
    a->err.len--;
    line = first_line(&a->err);
    if (!line[0]) {
      free(line);
      char b[48];
      snprintf(b, sizeof b, "failed (exit %d)", (int)a->code);
      line = strdup(b);
    }
  }
  fprintf(stderr, "polykey: error: %s\n", line);
  exit(a->code);
}

/* The end of a request: no exit code is the Node client's line; a failure its error line. */
static void answer_done(struct answer *a) {
  while (a->fd >= 0) answer_read(a);
  if (!a->have_code) fatal(EXIT_FAILED, "the node's agent closed the connection without an answer%s%s", "", "");
  if (a->code != 0) failed(a);
}

/*
 * `git-serve fetch REPO WANT HAVES… [--node NODE]` in the agent, read up to the end of the
 * answer's first line: the head (40 hex, or "" for null) is returned, the pack is still to be
 * read from `a`. Returns the number of haves; -1 when no agent answered and nothing was sent
 * (the caller hands over to Node).
 */
static int open_fetch(const char *want, char head[41], struct answer *a) {
  memset(a, 0, sizeof *a);
  a->fd = -1;
  pk_frames_init(&a->fr, PK_MAX_FRAME);
  char *hv[MAX_HAVES];
  int nh = haves(hv);
  char *args[MAX_HAVES + 8];
  int n = 0;
  args[n++] = "git-serve";
  args[n++] = "fetch";
  args[n++] = repo;
  args[n++] = (char *)want;
  for (int i = 0; i < nh; i++) args[n++] = hv[i];
  if (node_arg) {
    args[n++] = "--node";
    args[n++] = node_arg;
  }
  char cwd[4096];
  struct pk_buf req;
  const int tty[3] = { 0, 0, 0 }; /* as the Node helper: its streams are git's pipes, never a terminal */
  int bad = !getcwd(cwd, sizeof cwd) || pk_request(&req, PK_PROTOCOL_VERSION, args, n, cwd, tty, PK_FORWARDED_ENV) != 0;
  for (int i = 0; i < nh; i++) free(hv[i]);
  if (!bad && req.len > PK_MAX_REQUEST_LINE) {
    pk_buf_free(&req);
    bad = 1;
  }
  if (bad) return -1;
  a->fd = connect_agent();
  if (a->fd < 0) {
    pk_buf_free(&req);
    return -1;
  }
  trace("forward to", sock_path);
  const char *p = req.data;
  size_t left = req.len;
  while (left > 0) {
    ssize_t w = send(a->fd, p, left, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) fatal(EXIT_FAILED, "lost the node's agent: write %s%s", errno_name(errno), "");
    p += w;
    left -= (size_t)w;
  }
  pk_buf_free(&req);
  shutdown(a->fd, SHUT_WR); /* no stdin for these requests */
  char *nl;
  while (!(nl = a->out.len ? memchr(a->out.data, '\n', a->out.len) : NULL))
    if (!answer_read(a)) break;
  if (!nl) {
    answer_done(a); /* a failure says why */
    fatal(EXIT_FAILED, "internal error: the node's answer has no head line%s%s", "", "");
  }
  trace("head", NULL);
  /* {"head":null…} or {"head":"<40 hex>"…}, as gitServe writes it (JSON.stringify of {head, want}) */
  const char *o = (const char *)a->out.data;
  size_t hl = (size_t)(nl - a->out.data);
  head[0] = 0;
  if (hl >= 12 && memcmp(o, "{\"head\":null", 12) == 0) {
  } else if (hl >= 51 && memcmp(o, "{\"head\":\"", 9) == 0 && is_oid(o + 9, 40) && o[49] == '"') {
    memcpy(head, o + 9, 40);
    head[40] = 0;
  } else
    fatal(EXIT_FAILED, "internal error: the node's answer is not understood%s%s", "", "");
  a->used = hl + 1;
  return nh;
}

/*
 * The rest of the answer (a pack) into `git index-pack --stdin ARGS…` as it arrives; stdout of
 * index-pack is kept in `out`. An empty pack starts nothing (*ran = 0). The agent's failure
 * comes first (the pack was cut short because of it), then index-pack's.
 */
#define MAX_QUEUED (8u << 20)
static void index_pack(struct answer *a, const char *const *args, struct run *r, int *ran) {
  memset(r, 0, sizeof *r);
  *ran = 0;
  while (a->fd >= 0 && a->out.len - a->used < 12) answer_read(a);
  if (a->out.len - a->used < 12) {
    answer_done(a);
    return; /* nothing, or less than a pack header: nothing this clone lacks */
  }
  const uint8_t *h = (const uint8_t *)a->out.data + a->used;
  if (memcmp(h, "PACK", 4) == 0 && h[8] == 0 && h[9] == 0 && h[10] == 0 && h[11] == 0) {
    answer_done(a); /* an empty pack */
    return;
  }
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) fatal(EXIT_FAILED, "cannot run git index-pack: %s%s", strerror(errno), "");
  trace("index-pack", NULL);
  pid_t pid = fork();
  if (pid < 0) fatal(EXIT_FAILED, "cannot run git index-pack: %s%s", strerror(errno), "");
  if (pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
    execvp("git", (char *const *)args);
    _exit(127);
  }
  *ran = 1;
  close(in[0]);
  close(out[1]);
  close(err[1]);
  fcntl(in[1], F_SETFL, O_NONBLOCK);
  int open_out = 1, open_err = 1;
  uint8_t chunk[65536];
  while (open_out || open_err || in[1] >= 0) {
    struct pollfd pf[4];
    int n = 0, iw = -1, io = -1, ie = -1, is = -1;
    size_t queued = a->out.len - a->used;
    if (in[1] >= 0 && queued > 0) pf[iw = n++] = (struct pollfd){ in[1], POLLOUT, 0 };
    if (in[1] >= 0 && a->fd >= 0 && queued < MAX_QUEUED) pf[is = n++] = (struct pollfd){ a->fd, POLLIN, 0 };
    if (open_out) pf[io = n++] = (struct pollfd){ out[0], POLLIN, 0 };
    if (open_err) pf[ie = n++] = (struct pollfd){ err[0], POLLIN, 0 };
    if (in[1] >= 0 && queued == 0 && a->fd < 0) { /* all of it is with index-pack */
      close(in[1]);
      in[1] = -1;
      continue;
    }
    if (poll(pf, (nfds_t)n, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (is >= 0 && pf[is].revents) answer_read(a);
    if (iw >= 0 && pf[iw].revents) {
      ssize_t w = write(in[1], a->out.data + a->used, a->out.len - a->used);
      if (w > 0) {
        a->used += (size_t)w;
        if (a->used == a->out.len || a->used > (1u << 20)) answer_compact(a);
      } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
        close(in[1]); /* index-pack stopped reading: it says why on stderr */
        in[1] = -1;
      }
    }
    if (io >= 0 && pf[io].revents) {
      ssize_t k = read(out[0], chunk, sizeof chunk);
      if (k > 0) pk_buf_put(&r->out, chunk, (size_t)k);
      if (k == 0 || (k < 0 && errno != EINTR && errno != EAGAIN)) open_out = 0;
    }
    if (ie >= 0 && pf[ie].revents) {
      ssize_t k = read(err[0], chunk, sizeof chunk);
      if (k > 0) pk_buf_put(&r->err, chunk, (size_t)k);
      if (k == 0 || (k < 0 && errno != EINTR && errno != EAGAIN)) open_err = 0;
    }
  }
  if (in[1] >= 0) close(in[1]);
  close(out[0]);
  close(err[0]);
  int st;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  r->code = WIFEXITED(st) ? WEXITSTATUS(st) : 1;
  pk_buf_put(&r->err, "", 1); /* a C string */
  r->err.len--;
  answer_done(a);
  trace("indexed", NULL);
}

/* ------------------------------------------------------------------ git's side */

/* One line from git, read a byte at a time so that nothing past it is taken from the pipe (Node
 * may have to read the rest). NULL at the end of input. */
static char *read_line(void) {
  static char line[MAX_LINE];
  size_t n = 0;
  for (;;) {
    char c;
    ssize_t r = read(0, &c, 1);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      if (n == 0) return NULL;
      break;
    }
    if (c == '\n') break;
    if (n + 1 >= sizeof line) use_node("a line longer than this helper reads"); /* taken: Node gets what is left */
    line[n++] = c;
  }
  if (n > 0 && line[n - 1] == '\r') n--;
  line[n] = 0;
  return line;
}

static void keep_pending(const char *l) {
  if (npending >= MAX_PENDING) use_node("too many lines");
  pending[npending++] = strdup(l);
}

static void clear_pending(void) {
  for (int i = 0; i < npending; i++) free(pending[i]);
  npending = 0;
}

/* the answer to `list`, its pack still coming: what git's fetch of that head reads */
static char prefetched_want[41];
static struct answer prefetched = { .fd = -1 };
static int warned;
/* `option check-connectivity true` (a clone): index-pack checks that the pack is whole, and git
 * is told so (connectivity-ok), as git's own fetch-pack does, instead of walking it again */
static int check_connectivity;

/* `option NAME VALUE`: the Node helper's option(), the same answers. */
static void do_option(const char *line) {
  const char *name = line + 7;
  size_t nl = strcspn(name, " ");
  const char *value = name[nl] ? name + nl + 1 : "";
  if (noptions >= MAX_PENDING) use_node("too many options");
  options[noptions++] = strdup(line);
  if (nl == 18 && strncmp(name, "check-connectivity", 18) == 0) {
    check_connectivity = strcmp(value, "true") == 0;
    say("ok\n");
  } else if ((nl == 8 && strncmp(name, "progress", 8) == 0) || (nl == 9 && strncmp(name, "verbosity", 9) == 0) || (nl == 7 && strncmp(name, "cloning", 7) == 0))
    say("ok\n");
  else
    say("unsupported\n");
}

static void do_list(void) {
  char head[41];
  answer_free(&prefetched);
  prefetched_want[0] = 0;
  int nh = open_fetch("HEAD", head, &prefetched);
  if (nh < 0) use_node("no agent answers any more");
  clear_pending();
  const char *gitdir = getenv("GIT_DIR");
  if (nh == 0 && !warned && gitdir && gitdir[0]) { /* a clone; `git ls-remote` outside a repository writes nothing */
    warned = 1;
    fprintf(stderr,
            "polykey: warning: git writes the secrets of '%s' to this work tree in plaintext; Polykey cannot protect them there (see docs/SECURITY.md)\n",
            repo);
  }
  if (head[0]) {
    memcpy(prefetched_want, head, 41);
    char out[160];
    snprintf(out, sizeof out, "%s " BRANCH_REF "\n@" BRANCH_REF " HEAD\n\n", head);
    say(out);
  } else {
    answer_done(&prefetched);
    answer_free(&prefetched);
    say("\n");
  }
}

static void do_fetch(char **wants, int n) {
  int connected = 0, unique = 0;
  char *lock = NULL;
  for (int i = 0; i < n; i++) {
    int dup = 0;
    for (int j = 0; j < i && !dup; j++) dup = strcmp(wants[i], wants[j]) == 0;
    unique += !dup;
  }
  for (int i = 0; i < n; i++) {
    int dup = 0;
    for (int j = 0; j < i && !dup; j++) dup = strcmp(wants[i], wants[j]) == 0;
    if (dup) continue;
    struct answer a;
    if (prefetched_want[0] && strcmp(prefetched_want, wants[i]) == 0) {
      a = prefetched;
      memset(&prefetched, 0, sizeof prefetched);
      prefetched.fd = -1;
    } else {
      char head[41];
      if (open_fetch(wants[i], head, &a) < 0) use_node("no agent answers any more");
    }
    prefetched_want[0] = 0;
    answer_free(&prefetched);
    /* A clone's one pack: index-pack checks it is whole, and keeps it (.keep) until git has
     * checked the refs against it, as fetch-pack does: git is told with `lock PATH` and
     * `connectivity-ok`, removes the .keep, and does not walk the history again. */
    const char *gitdir = getenv("GIT_DIR");
    const char *objdir = getenv("GIT_OBJECT_DIRECTORY");
    int check = check_connectivity && unique == 1 && ((objdir && objdir[0]) || (gitdir && gitdir[0]));
    const char *args[] = { "git", "index-pack", "--stdin", check ? "--check-self-contained-and-connected" : NULL, check ? "--keep=git-remote-polykey" : NULL, NULL };
    struct run r;
    int ran;
    index_pack(&a, args, &r, &ran);
    answer_free(&a);
    if (!ran) continue;
    if (check && r.code <= 1) {
      /* stdout: keep\t<pack hash> */
      const char *o = (const char *)r.out.data;
      if (r.out.len >= 45 && memcmp(o, "keep\t", 5) == 0 && is_oid(o + 5, 40)) {
        size_t l = (objdir && objdir[0] ? strlen(objdir) : strlen(gitdir) + 8) + 64;
        lock = malloc(l);
        if (lock && objdir && objdir[0]) snprintf(lock, l, "%s/pack/pack-%.40s.keep", objdir, o + 5);
        else if (lock) snprintf(lock, l, "%s/objects/pack/pack-%.40s.keep", gitdir, o + 5);
        connected = r.code == 0; /* 1: kept, but not whole: git walks it */
      }
    } else if (r.code != 0) {
      char *l = first_line(&r.err);
      fatal(EXIT_FAILED, "git index-pack refused the pack from the node: %s%s", l, "");
    }
    pk_buf_free(&r.out);
    pk_buf_free(&r.err);
  }
  clear_pending();
  trace("fetched", NULL);
  if (lock) {
    say("lock ");
    say(lock);
    say("\n");
    free(lock);
  }
  say(connected ? "connectivity-ok\n\n" : "\n");
}

static int valid_utf8_free(const char *s) {
  for (const unsigned char *p = (const unsigned char *)s; *p; p++)
    if (*p >= 0x80) return 0;
  return 1;
}

/* bin/git-remote-polykey beside the binary, for the binary run as the program itself (a symlink). */
static char *script_beside_us(void) {
  static char b[4096];
  ssize_t n = readlink("/proc/self/exe", b, sizeof b - 40);
  if (n <= 0) return NULL;
  b[n] = 0;
  for (int up = 0; up < 4; up++) {
    char *slash = strrchr(b, '/');
    if (!slash) return NULL;
    *slash = 0;
  }
  strcat(b, "/bin/git-remote-polykey");
  return access(b, R_OK) == 0 ? b : NULL;
}

int main(int argc, char **argv) {
  char **args;
  int nargs;
  if (argc >= 3 && strcmp(argv[1], "--launched-by") == 0) {
    script = argv[2];
    args = argv + 3;
    nargs = argc - 3;
  } else {
    script = script_beside_us();
    args = argv + 1;
    nargs = argc - 1;
    if (!script) {
      fprintf(stderr, "polykey: error: cannot find bin/git-remote-polykey beside %s\n", argv[0]);
      return 1;
    }
  }
  clock_gettime(CLOCK_MONOTONIC, &started);
  const char *t = getenv("POLYKEY_FAST_CLIENT_TRACE");
  tracing = t && t[0];
  remote_name = nargs > 0 ? args[0] : NULL;
  address = nargs > 1 ? args[1] : NULL;
  if (nargs != 2) {
    /* usage, or more than git passes: Node's answer */
    char **nv = calloc((size_t)nargs + 3, sizeof *nv);
    if (!nv) return 1;
    nv[0] = "node";
    nv[1] = (char *)script;
    for (int i = 0; i < nargs; i++) nv[i + 2] = args[i];
    execvp("node", nv);
    nv[0] = PK_NODE_FALLBACK;
    execv(PK_NODE_FALLBACK, nv);
    fprintf(stderr, "polykey: error: cannot start node: %s\n", strerror(errno));
    return 127;
  }
  const char *off = getenv("POLYKEY_NO_FAST_CLIENT");
  if (off && off[0]) use_node("POLYKEY_NO_FAST_CLIENT");
  for (int fd = 0; fd <= 2; fd++)
    if (fcntl(fd, F_GETFD) < 0) use_node("a standard descriptor is closed");

  /* parseAddress() of helper.ts, for the addresses it reads plainly: NODE_PATH#REPO with an
   * absolute (or ~/) path, or #REPO; relative paths (whose remote URL Node rewrites) are Node's. */
  const char *hash = strrchr(address, '#');
  if (!hash) use_node("no #REPO");
  repo = strdup(hash + 1);
  if (!plain_repo_name(repo)) use_node("a repository name this helper does not check");
  if (!valid_utf8_free(address)) use_node("a non-ASCII address");
  char cwd[4096];
  if (!getcwd(cwd, sizeof cwd)) use_node("no working folder");
  size_t fl = (size_t)(hash - address);
  char *file = strndup(address, fl);
  if (fl == 0) {
    const char *env = getenv("POLYKEY_NODE");
    const char *why = NULL;
    node_path = env ? pk_resolve(cwd, env) : pk_default_node(cwd, &why);
    if (!node_path) use_node(why ? why : "no node path");
  } else {
    const char *home = getenv("HOME");
    if (strcmp(file, "~") == 0 || strncmp(file, "~/", 2) == 0) {
      if (!home || home[0] != '/') use_node("~ without an absolute HOME");
      size_t l = strlen(home) + strlen(file) + 2;
      char *x = malloc(l);
      if (!x) use_node("out of memory");
      snprintf(x, l, "%s/%s", home, file[1] ? file + 2 : "");
      node_path = pk_resolve("/", x);
      free(x);
    } else if (file[0] == '/') node_path = pk_resolve("/", file);
    else use_node("a relative node path");
    node_arg = node_path;
  }
  free(file);
  if (!node_path) use_node("no node path");
  trace("node", node_path);
  const char *why = NULL;
  sock_path = pk_agent_socket(node_path, &why);
  if (!sock_path) use_node(why);
  struct sockaddr_un sa;
  if (strlen(sock_path) >= sizeof sa.sun_path) use_node("socket path too long");
  first_fd = connect_agent();
  if (first_fd < 0) use_node("no agent answers (a stale socket)");
  signal(SIGPIPE, SIG_IGN);

  char *wants[MAX_PENDING];
  int nwants = 0, in_fetch = 0;
  for (;;) {
    char *line = read_line();
    if (!line) return EXIT_OK;
    if (in_fetch) {
      keep_pending(line);
      if (line[0] == 0) {
        in_fetch = 0;
        do_fetch(wants, nwants);
        for (int i = 0; i < nwants; i++) free(wants[i]);
        nwants = 0;
        continue;
      }
      /* fetch <sha1> <name> */
      if (strncmp(line, "fetch ", 6) != 0) fatal(EXIT_FAILED, "unexpected '%s' from git in a fetch batch%s", line, "");
      const char *sha = line + 6;
      size_t sl = strcspn(sha, " ");
      if (!is_oid(sha, sl) || nwants >= MAX_PENDING - 1) use_node("a fetch this helper does not read");
      wants[nwants++] = strndup(sha, 40);
      continue;
    }
    if (line[0] == 0) return EXIT_OK; /* git is done */
    if (strcmp(line, "capabilities") == 0) say("fetch\npush\noption\ncheck-connectivity\n\n");
    else if (strncmp(line, "option ", 7) == 0) do_option(line);
    else if (strcmp(line, "list") == 0) {
      keep_pending(line);
      do_list();
    } else if (strncmp(line, "fetch ", 6) == 0) {
      keep_pending(line);
      in_fetch = 1;
      const char *sha = line + 6;
      size_t sl = strcspn(sha, " ");
      if (!is_oid(sha, sl)) use_node("a fetch this helper does not read");
      wants[nwants++] = strndup(sha, 40);
    } else {
      /* a push (list for-push, push …), or what Node answers with its own words */
      keep_pending(line);
      if (first_fd >= 0) close(first_fd);
      first_fd = -1;
      use_node("not a fetch");
    }
  }
}
