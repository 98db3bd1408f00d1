/* The request line of protocol v2 (src/agent/protocol.ts Request) as JSON. */
#ifndef PK_REQUEST_H
#define PK_REQUEST_H
#include <stddef.h>

struct pk_buf {
  char *data;
  size_t len, cap;
};

/* {"v":…,"args":[…],"cwd":…,"tty":{…},"env":{…}}\n; -1 when a string is not valid UTF-8 (Node
 * would have replaced bytes: that is left to Node) or memory runs out. */
int pk_request(struct pk_buf *b, int version, char **args, int nargs, const char *cwd, const int tty[3], const char *const *forwarded_env);
/* Append n bytes (kept NUL-terminated); grown by copy and wipe, never realloc. -1: no memory. */
int pk_buf_put(struct pk_buf *b, const void *p, size_t n);
/* Wipe and free. */
void pk_buf_free(struct pk_buf *b);
#endif
