/* The node file and its agent's socket, as the Node side computes them (paths.h). Anything this
 * file cannot decide exactly as Node would (an unusual home, a huge inode number) is "no": the
 * command then runs through Node, which is always right, only slower. */
#include "paths.h"
#include "sha256.h"
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *pk_resolve(const char *cwd, const char *p) {
  size_t lc = strlen(cwd), lp = strlen(p);
  char *in = malloc(lc + lp + 2), *out = malloc(lc + lp + 2);
  if (!in || !out) {
    free(in);
    free(out);
    return NULL;
  }
  if (p[0] == '/') memcpy(in, p, lp + 1);
  else snprintf(in, lc + lp + 2, "%s/%s", cwd, p);
  size_t o = 0;
  char *save = NULL;
  for (char *seg = strtok_r(in, "/", &save); seg; seg = strtok_r(NULL, "/", &save)) {
    if (strcmp(seg, ".") == 0) continue;
    if (strcmp(seg, "..") == 0) {
      while (o > 0 && out[o - 1] != '/') o--;
      if (o > 0) o--; /* the slash before the removed name */
      continue;
    }
    out[o++] = '/';
    size_t l = strlen(seg);
    memcpy(out + o, seg, l);
    o += l;
  }
  if (o == 0) out[o++] = '/';
  out[o] = 0;
  free(in);
  return out;
}

/* The password database's home of the user running us (os.userInfo().homedir), not $HOME. */
static const char *passwd_home(void) {
  struct passwd *pw = getpwuid(geteuid());
  return pw && pw->pw_dir && pw->pw_dir[0] == '/' ? pw->pw_dir : NULL;
}

/*
 * The one place the client knows the default node. It must say what Context.nodePath says
 * (src/cli/context.ts); test/fast/client.test.ts compares the two under several environments.
 * Today: $HOME/.polykey/node.pk ($HOME as given; unset: the password database's home).
 * An unset or empty $HOME is left to Node.
 */
char *pk_default_node(const char *cwd, const char **why) {
  /* defaultNodePath() of src/cli/context.ts: $XDG_DATA_HOME/polykey/node.pk (an absolute
     XDG_DATA_HOME, else ~/.local/share), but ~/.polykey/node.pk when only that one exists. */
  const char *home = getenv("HOME");
  if (!home || !home[0]) {
    *why = "HOME is unset or empty";
    return NULL;
  }
  const char *xdh = getenv("XDG_DATA_HOME");
  size_t l = strlen(home) + (xdh ? strlen(xdh) : 0) + sizeof "/.local/share/polykey/node.pk";
  char *xdg = malloc(l), *legacy = malloc(l);
  if (!xdg || !legacy) {
    free(xdg);
    free(legacy);
    return NULL;
  }
  if (xdh && xdh[0] == '/') snprintf(xdg, l, "%s/polykey/node.pk", xdh);
  else snprintf(xdg, l, "%s/.local/share/polykey/node.pk", home);
  snprintf(legacy, l, "%s/.polykey/node.pk", home);
  /* Lexically first, as Node's path.join does (a HOME of "h/./x/../" is "h"), then look. */
  char *x = pk_resolve(cwd, xdg), *g = pk_resolve(cwd, legacy);
  free(xdg);
  free(legacy);
  if (!x || !g) {
    free(x);
    free(g);
    return NULL;
  }
  struct stat st;
  if (stat(x, &st) != 0 && stat(g, &st) == 0) {
    free(x);
    return g;
  }
  free(g);
  return x;
}

/* untrusted() of src/agent/paths.ts: ours alone (owner, no group/other bits), of the right kind. */
static int ours(const char *p, mode_t kind) {
  struct stat st;
  if (lstat(p, &st) != 0) return 0;
  return (st.st_mode & S_IFMT) == kind && st.st_uid == getuid() && (st.st_mode & 077) == 0;
}

char *pk_agent_socket(const char *node, const char **why) {
  struct stat st;
  if (stat(node, &st) != 0 || !S_ISREG(st.st_mode)) {
    *why = "no node file there";
    return NULL;
  }
  /* Node reads st_dev and st_ino as doubles: beyond 2^53 its decimal form is not ours. */
  if ((uint64_t)st.st_dev > (1ull << 53) || (uint64_t)st.st_ino > (1ull << 53)) {
    *why = "device or inode number beyond 2^53";
    return NULL;
  }
  char id[64];
  int n = snprintf(id, sizeof id, "%llu:%llu", (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
  uint8_t h[32];
  pk_sha256((const uint8_t *)id, (size_t)n, h);
  const char *home = passwd_home();
  if (!home) {
    *why = "no home in the password database";
    return NULL;
  }
  char *joined = malloc(strlen(home) + sizeof "/.polykey/agents");
  if (!joined) return NULL;
  strcpy(joined, home);
  strcat(joined, "/.polykey/agents");
  char *dir = pk_resolve("/", joined);
  free(joined);
  if (!dir) return NULL;
  size_t l = strlen(dir) + 1 + 24 + sizeof ".sock";
  char *sock = malloc(l);
  if (!sock) {
    free(dir);
    return NULL;
  }
  int o = snprintf(sock, l, "%s/", dir);
  for (int i = 0; i < 12; i++) o += snprintf(sock + o, l - (size_t)o, "%02x", h[i]);
  snprintf(sock + o, l - (size_t)o, ".sock");
  struct stat ss;
  if (stat(sock, &ss) != 0) *why = "no agent socket";
  else if (!ours(dir, S_IFDIR)) *why = "the agent folder is not ours alone"; /* Node refuses it: its error */
  else if (!ours(sock, S_IFSOCK)) *why = "the agent socket is not ours alone";
  else *why = NULL;
  free(dir);
  if (*why) {
    free(sock);
    return NULL;
  }
  return sock;
}
