/* The request line, written as JSON.parse on the agent's side will read it: the same strings
 * Node's JSON.stringify of process.argv, process.cwd() and the forwarded variables would give. */
#include "request.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int pk_buf_put(struct pk_buf *b, const void *s, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 1024;
    while (b->len + n + 1 > cap) cap *= 2;
    /* not realloc: the old block may hold a secret (a forwarded passphrase, a pack's values), and
     * must be wiped, not freed as is */
    char *d = malloc(cap);
    if (!d) return -1;
    if (b->data) {
      memcpy(d, b->data, b->len);
      explicit_bzero(b->data, b->cap);
      free(b->data);
    }
    b->data = d;
    b->cap = cap;
  }
  memcpy(b->data + b->len, s, n);
  b->len += n;
  b->data[b->len] = 0;
  return 0;
}

static int put(struct pk_buf *b, const char *s, size_t n) {
  return pk_buf_put(b, s, n);
}

static int puts_(struct pk_buf *b, const char *s) {
  return put(b, s, strlen(s));
}

/* Length of the UTF-8 sequence at p (well-formed: no overlong form, no surrogate, ≤ U+10FFFF), or 0. */
static size_t utf8_len(const uint8_t *p) {
  uint8_t c = p[0];
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf) return (p[1] & 0xc0) == 0x80 ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    uint8_t lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
    return p[1] >= lo && p[1] <= hi && (p[2] & 0xc0) == 0x80 ? 3 : 0;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    uint8_t lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
    return p[1] >= lo && p[1] <= hi && (p[2] & 0xc0) == 0x80 && (p[3] & 0xc0) == 0x80 ? 4 : 0;
  }
  return 0;
}

static int str(struct pk_buf *b, const char *s) {
  if (put(b, "\"", 1)) return -1;
  const uint8_t *p = (const uint8_t *)s;
  while (*p) {
    size_t n = utf8_len(p);
    if (n == 0) return -1;
    char esc[8];
    if (*p == '"' || *p == '\\') {
      esc[0] = '\\';
      esc[1] = (char)*p;
      if (put(b, esc, 2)) return -1;
    } else if (*p < 0x20) {
      snprintf(esc, sizeof esc, "\\u%04x", *p);
      if (put(b, esc, 6)) return -1;
    } else if (put(b, (const char *)p, n)) return -1;
    p += n;
  }
  return put(b, "\"", 1);
}

int pk_request(struct pk_buf *b, int version, char **args, int nargs, const char *cwd, const int tty[3], const char *const *forwarded_env) {
  memset(b, 0, sizeof *b);
  char num[32];
  snprintf(num, sizeof num, "{\"v\":%d,\"args\":[", version);
  int bad = puts_(b, num);
  for (int i = 0; i < nargs && !bad; i++) bad = (i && puts_(b, ",")) || str(b, args[i]);
  bad = bad || puts_(b, "],\"cwd\":") || str(b, cwd);
  bad = bad || puts_(b, ",\"tty\":{\"stdin\":") || puts_(b, tty[0] ? "true" : "false");
  bad = bad || puts_(b, ",\"stdout\":") || puts_(b, tty[1] ? "true" : "false");
  bad = bad || puts_(b, ",\"stderr\":") || puts_(b, tty[2] ? "true" : "false");
  bad = bad || puts_(b, "},\"env\":{");
  int first = 1;
  for (const char *const *k = forwarded_env; *k && !bad; k++) {
    const char *v = getenv(*k);
    if (!v) continue;
    bad = (!first && puts_(b, ",")) || str(b, *k) || puts_(b, ":") || str(b, v);
    first = 0;
  }
  bad = bad || puts_(b, "}}\n");
  if (bad) pk_buf_free(b);
  return bad ? -1 : 0;
}

void pk_buf_free(struct pk_buf *b) {
  if (b->data) explicit_bzero(b->data, b->cap); /* it may hold $POLYKEY_TARGET_PASSPHRASE */
  free(b->data);
  memset(b, 0, sizeof *b);
}
