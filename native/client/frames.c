/* The frame reader, written to be fuzzed (make fuzz-client): every length comes from the socket,
 * so each is checked against max before anything is allocated, and no copy goes past what was
 * announced or what arrived. It delivers exactly what the Node client's FrameReader
 * (src/agent/protocol.ts) delivers: whole frames in order, none after a frame above max, and
 * nothing of a frame the stream cut short. */
#include "frames.h"
#include <stdlib.h>
#include <string.h>

void pk_frames_init(struct pk_frames *r, uint32_t max) {
  memset(r, 0, sizeof *r);
  r->max = max;
}

static void wipe(void *p, size_t n) {
  volatile uint8_t *v = p;
  while (n--) *v++ = 0;
}

static void drop_payload(struct pk_frames *r) {
  if (r->payload) {
    wipe(r->payload, r->have); /* stdout frames carry secret values */
    free(r->payload);
  }
  r->payload = NULL;
  r->len = r->have = 0;
  r->have_head = 0;
}

int pk_frames_push(struct pk_frames *r, const uint8_t *data, size_t n, pk_frame_cb cb, void *ctx) {
  if (r->dead) return PK_FRAMES_TOO_BIG;
  while (n > 0) {
    if (r->have_head < 5) {
      size_t take = 5 - r->have_head;
      if (take > n) take = n;
      memcpy(r->head + r->have_head, data, take);
      r->have_head += (uint32_t)take;
      data += take;
      n -= take;
      if (r->have_head < 5) return PK_FRAMES_OK;
      r->len = (uint32_t)r->head[1] << 24 | (uint32_t)r->head[2] << 16 | (uint32_t)r->head[3] << 8 | r->head[4];
      r->have = 0;
      if (r->len > r->max) {
        r->dead = 1;
        return PK_FRAMES_TOO_BIG;
      }
      if (r->len > 0) {
        r->payload = malloc(r->len);
        if (!r->payload) {
          r->dead = 1;
          return PK_FRAMES_NOMEM;
        }
      }
    }
    if (r->have < r->len) {
      size_t take = r->len - r->have;
      if (take > n) take = n;
      memcpy(r->payload + r->have, data, take);
      r->have += (uint32_t)take;
      data += take;
      n -= take;
      if (r->have < r->len) return PK_FRAMES_OK;
    }
    int stop = cb(ctx, r->head[0], r->payload, r->len);
    drop_payload(r);
    if (stop) {
      r->dead = 1;
      return stop;
    }
  }
  return PK_FRAMES_OK;
}

size_t pk_frames_pending(const struct pk_frames *r) {
  return r->have_head + r->have;
}

void pk_frames_free(struct pk_frames *r) {
  drop_payload(r);
}
