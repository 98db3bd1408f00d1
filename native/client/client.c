/*
 * polykey-client: the fast path of `polykey` (docs/ARCHITECTURE.md "The fast client and the
 * agent protocol"). bin/polykey starts it as `polykey-client --launched-by SCRIPT ARGS…`; run
 * as the program itself (a symlink), it finds bin/polykey beside its own binary. When the
 * command is one the node's agent serves and an agent of this user's answers for the node, it
 * forwards the command exactly as src/agent/client.ts does and prints the answer; in every other case, and
 * whenever it is unsure, it execs `node SCRIPT ARGS…` with nothing printed, so the command line
 * behaves as if this program did not exist. Once the request is sent it never falls back (the
 * agent may have acted, and stdin is spent): from then on it reports as the Node client would.
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
#include <unistd.h>

struct pk_command {
  const char *group, *name;
  int forward, stdin, no_terminal_out;
  const char *local_with;
};
enum { PK_STDIN_NONE, PK_STDIN_DATA, PK_STDIN_SECRET };
#include "table.h"

static const char *script;
static char **user_args;
static int user_nargs;
static int tracing;

static void trace(const char *what, const char *detail) {
  if (tracing) fprintf(stderr, "polykey-client: %s%s%s\n", what, detail ? " " : "", detail ? detail : "");
}

/* The one way out before anything is sent: the same command line, through Node. */
static void __attribute__((noreturn)) use_node(const char *why) {
  trace("node:", why);
  char **argv = calloc((size_t)user_nargs + 3, sizeof *argv);
  if (argv) {
    argv[0] = "node";
    argv[1] = (char *)script;
    for (int i = 0; i < user_nargs; i++) argv[i + 2] = user_args[i];
    execvp("node", argv);
    if (errno == ENOENT) { /* no node on PATH (a script with a narrow PATH): the one we were built with */
      argv[0] = PK_NODE_FALLBACK;
      execv(PK_NODE_FALLBACK, argv);
    }
  }
  fprintf(stderr, "polykey: error: cannot start node: %s\n", strerror(errno));
  exit(127);
}

static const struct pk_command *find(const char *group, const char *name) {
  for (const struct pk_command *c = PK_COMMANDS; c->group; c++)
    if (strcmp(c->group, group) == 0 && ((name == NULL) == (c->name == NULL)) && (!name || strcmp(c->name, name) == 0)) return c;
  return NULL;
}

static int is_group(const char *w) {
  for (const struct pk_command *c = PK_COMMANDS; c->group; c++)
    if (c->name && strcmp(c->group, w) == 0) return 1;
  return 0;
}

static int starts(const char *s, const char *prefix) {
  return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* --OPT, --OPT=…, --no-OPT: the option a command's localWith names, in any form yargs takes. */
static int names_option(const char *a, const char *opt) {
  if (!starts(a, "--")) return 0;
  a += 2;
  if (starts(a, "no-")) a += 3;
  size_t l = strlen(opt);
  return strncmp(a, opt, l) == 0 && (a[l] == 0 || a[l] == '=');
}

/* A global option of the parser's (generated list): 2 = its value is the next argument, 1 = it
 * is whole (--opt=VALUE, or a flag), 0 = not one the client knows. */
static int global_option(const char *a) {
  if (!starts(a, "--")) return 0;
  const char *n = a + 2;
  for (const char *const *o = PK_GLOBAL_WITH_VALUE; *o; o++) {
    size_t l = strlen(*o);
    if (strncmp(n, *o, l) == 0 && n[l] == 0) return 2;
    if (strncmp(n, *o, l) == 0 && n[l] == '=') return 1;
  }
  for (const char *const *o = PK_GLOBAL_FLAGS; *o; o++)
    if (strcmp(n, *o) == 0) return 1;
  return 0;
}

struct plan {
  const struct pk_command *cmd;
  const char *node; /* --node's value, NULL when not given */
};

/*
 * Just enough of yargs: the parser's global options (generated from parser.ts) before the
 * command words, the command words, and --node anywhere before '--'. Whatever else could
 * change which command runs, or how Node would report it (--help, --version, --verbose's stack
 * traces, option spellings it does not know before the command), means Node.
 */
static struct plan parse(void) {
  struct plan p = { NULL, NULL };
  const char *first = NULL;
  int nodes = 0;
  for (int i = 0; i < user_nargs; i++) {
    const char *a = user_args[i];
    if (strcmp(a, "--") == 0) {
      if (!p.cmd) use_node("'--' before the command");
      break;
    }
    if (a[0] == '-') {
      if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0 || starts(a, "--help=") || strcmp(a, "--version") == 0 || starts(a, "--version=") || strcmp(a, "-V") == 0)
        use_node("help or version");
      if (strcmp(a, "--verbose") == 0 || starts(a, "--verbose=")) use_node("--verbose");
      if (strcmp(a, "--node") == 0) {
        if (i + 1 >= user_nargs || user_args[i + 1][0] == '-') use_node("--node without a value");
        p.node = user_args[++i];
        nodes++;
        continue;
      }
      if (starts(a, "--node=")) {
        p.node = a + 7;
        nodes++;
        continue;
      }
      if (!p.cmd) {
        switch (global_option(a)) {
        case 2: /* --opt VALUE */
          if (i + 1 >= user_nargs || user_args[i + 1][0] == '-') use_node("an option without a value");
          i++;
          continue;
        case 1: /* --opt=VALUE, or a flag */
          continue;
        default:
          use_node("an option before the command");
        }
      }
      if (a[1] != '-' || starts(a, "--no-")) use_node("a short or negated option");
      if (p.cmd->local_with && names_option(a, p.cmd->local_with)) use_node("an option that makes the command local");
      continue;
    }
    if (p.cmd) continue;
    if (!first) {
      first = a;
      p.cmd = find(a, NULL);
      if (!p.cmd && !is_group(a)) use_node("not a command");
      continue;
    }
    p.cmd = find(first, a);
    if (!p.cmd) use_node("not a command");
  }
  if (!p.cmd) use_node("no command");
  if (nodes > 1) use_node("--node given twice");
  return p;
}

static int send_all(int fd, const void *buf, size_t n) {
  const char *p = buf;
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* write(2) until done; EAGAIN (a non-blocking descriptor we inherited) waits. */
static int write_all(int fd, const uint8_t *p, size_t n) {
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

/* errno as Node names it in "lost the node's agent: read ECONNRESET". */
static const char *errno_name(int e) {
  switch (e) {
  case EPIPE: return "EPIPE";
  case ECONNRESET: return "ECONNRESET";
  case ECONNABORTED: return "ECONNABORTED";
  case ETIMEDOUT: return "ETIMEDOUT";
  case ENOTCONN: return "ENOTCONN";
  case EIO: return "EIO";
  case ENOBUFS: return "ENOBUFS";
  case ENOMEM: return "ENOMEM";
  default: return "EIO";
  }
}

struct answer {
  int have_code;
  int32_t code;
  int stdout_closed;
};

static int on_frame(void *ctx, uint8_t type, const uint8_t *payload, uint32_t len) {
  struct answer *a = ctx;
  if (type == PK_FRAME_STDOUT) {
    /* A reader that went away (`| head`): the rest of stdout is dropped, exit 1, no message. */
    if (!a->stdout_closed && write_all(1, payload, len) != 0 && errno == EPIPE) a->stdout_closed = 1;
  } else if (type == PK_FRAME_STDERR) {
    (void)write_all(2, payload, len);
  } else if (type == PK_FRAME_EXIT && len == 4) {
    a->code = (int32_t)((uint32_t)payload[0] << 24 | (uint32_t)payload[1] << 16 | (uint32_t)payload[2] << 8 | payload[3]);
    a->have_code = 1;
  }
  return 0; /* pings and unknown types: ignored, as the Node client does */
}

static int lost(const char *syscall, int e, const struct answer *a) {
  if (a->stdout_closed) return 1;
  fprintf(stderr, "polykey: error: lost the node's agent: %s %s\n", syscall, errno_name(e));
  return 1;
}

static int forward(int fd, const struct pk_command *cmd, const char *req, size_t req_len) {
  struct answer a = { 0, 0, 0 };
  signal(SIGPIPE, SIG_IGN); /* a closed stdout is an EPIPE to handle, as in Node; nothing is exec'd after this */
  if (send_all(fd, req, req_len) != 0) return lost("write", errno, &a);
  if (cmd->stdin != PK_STDIN_NONE) {
    uint8_t buf[65536];
    for (;;) {
      ssize_t r = read(0, buf, sizeof buf);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break; /* EOF, or a stdin that cannot be read: what was read is all there is */
      int bad = send_all(fd, buf, (size_t)r);
      explicit_bzero(buf, (size_t)r); /* a secret value */
      if (bad) return lost("write", errno, &a);
    }
  }
  shutdown(fd, SHUT_WR);
  struct pk_frames fr;
  pk_frames_init(&fr, PK_MAX_FRAME);
  uint8_t buf[65536];
  for (;;) {
    ssize_t r = read(fd, buf, sizeof buf);
    if (r < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      pk_frames_free(&fr);
      return lost("read", e, &a);
    }
    if (r == 0) break;
    int st = pk_frames_push(&fr, buf, (size_t)r, on_frame, &a);
    explicit_bzero(buf, (size_t)r);
    if (st != PK_FRAMES_OK) break; /* a frame above the limit: the Node client hangs up there too */
  }
  pk_frames_free(&fr);
  close(fd);
  if (a.stdout_closed) return 1;
  if (!a.have_code) {
    fprintf(stderr, "polykey: error: the node's agent closed the connection without an answer\n");
    return 1;
  }
  return a.code;
}

/* bin/polykey beside the binary (native/build/client/ → bin/), for a client run as the program
 * itself (a symlink named polykey on PATH: one exec fewer than through the sh launcher). */
static char *script_beside_us(void) {
  static char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 32);
  if (n <= 0) return NULL;
  buf[n] = 0;
  for (int up = 0; up < 4; up++) { /* polykey-client, client, build, native */
    char *slash = strrchr(buf, '/');
    if (!slash) return NULL;
    *slash = 0;
  }
  strcat(buf, "/bin/polykey");
  return access(buf, R_OK) == 0 ? buf : NULL;
}

int main(int argc, char **argv) {
  if (argc >= 3 && strcmp(argv[1], "--launched-by") == 0) {
    script = argv[2]; /* bin/polykey: `polykey-client --launched-by SCRIPT ARGS…` */
    user_args = argv + 3;
    user_nargs = argc - 3;
  } else {
    script = script_beside_us();
    user_args = argv + 1;
    user_nargs = argc - 1;
    if (!script) {
      fprintf(stderr, "polykey: error: cannot find bin/polykey beside %s\n", argv[0]);
      return 1;
    }
  }
  const char *t = getenv("POLYKEY_FAST_CLIENT_TRACE");
  tracing = t && t[0];
  const char *off = getenv("POLYKEY_NO_FAST_CLIENT");
  if (off && off[0]) use_node("POLYKEY_NO_FAST_CLIENT");
  for (int fd = 0; fd <= 2; fd++)
    if (fcntl(fd, F_GETFD) < 0) use_node("a standard descriptor is closed");

  struct plan p = parse();
  if (!p.cmd->forward) use_node("a local command");
  if (p.cmd->stdin == PK_STDIN_SECRET && isatty(0)) use_node("a secret typed on the terminal");
  if (p.cmd->no_terminal_out && isatty(1)) use_node("refused on a terminal");

  char cwd[4096];
  if (!getcwd(cwd, sizeof cwd)) use_node("no working folder");
  const char *why = NULL;
  char *node;
  if (p.node) node = pk_resolve(cwd, p.node);
  else if (getenv("POLYKEY_NODE")) node = pk_resolve(cwd, getenv("POLYKEY_NODE"));
  else node = pk_default_node(cwd, &why);
  if (!node) use_node(why ? why : "no node path");
  trace("node", node);

  char *sock = pk_agent_socket(node, &why);
  if (!sock) use_node(why);
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  if (strlen(sock) >= sizeof sa.sun_path) use_node("socket path too long");
  strcpy(sa.sun_path, sock);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) use_node("no socket");
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) use_node("no agent answers (a stale socket)");
  struct ucred cred;
  socklen_t cl = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) != 0) use_node("no peer credentials");
  if (cred.uid != getuid()) {
    /* Node's refusal, word for word; handing over would connect to that listener a second time. */
    fprintf(stderr, "polykey: error: refusing the agent at %s: it runs as uid %u, not as you\n", sock, (unsigned)cred.uid);
    return 1;
  }

  struct pk_buf req;
  int tty[3] = { isatty(0), isatty(1), isatty(2) };
  if (pk_request(&req, PK_PROTOCOL_VERSION, user_args, user_nargs, cwd, tty, PK_FORWARDED_ENV) != 0) use_node("an argument or variable that is not UTF-8");
  if (req.len > PK_MAX_REQUEST_LINE) use_node("request too long");
  trace("forward to", sock);
  int code = forward(fd, p.cmd, req.data, req.len);
  pk_buf_free(&req);
  return code;
}
