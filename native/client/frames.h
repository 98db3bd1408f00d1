/* The agent's answer, frame by frame: type(1) length(4, big-endian) payload. Pure: bytes in,
 * whole frames out through a callback, in order, whatever the chunking (docs/ARCHITECTURE.md). */
#ifndef PK_FRAMES_H
#define PK_FRAMES_H
#include <stddef.h>
#include <stdint.h>

enum { PK_FRAMES_OK = 0, PK_FRAMES_TOO_BIG = -1, PK_FRAMES_NOMEM = -2 };

/* Called once per complete frame; a nonzero return stops the reader and is returned by push. */
typedef int (*pk_frame_cb)(void *ctx, uint8_t type, const uint8_t *payload, uint32_t len);

struct pk_frames {
  uint32_t max;       /* largest payload accepted (the protocol's MAX_FRAME) */
  uint8_t head[5];
  uint32_t have_head;
  uint8_t *payload;   /* the frame being received, allocated to its announced length */
  uint32_t len, have;
  int dead;           /* a frame above max was announced: nothing more is read */
};

void pk_frames_init(struct pk_frames *r, uint32_t max);
int pk_frames_push(struct pk_frames *r, const uint8_t *data, size_t n, pk_frame_cb cb, void *ctx);
/* Bytes of an incomplete frame at the end of the stream (discarded, as the Node client does). */
size_t pk_frames_pending(const struct pk_frames *r);
/* Wipes and frees what a truncated frame left. */
void pk_frames_free(struct pk_frames *r);
#endif
