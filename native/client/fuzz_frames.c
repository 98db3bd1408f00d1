/* libFuzzer harness for the frame reader (make fuzz-client): the input's first byte picks the
 * chunk sizes the bytes arrive in, the rest is what a hostile agent sends. Checked on every
 * input, besides what ASan/UBSan see: whatever the chunking, the frames delivered are the same
 * (compared with a one-shot reference parse of the same bytes), each within the limit, in
 * order, and never more payload than arrived. The limit is small here (64 KiB) so the fuzzer
 * reaches it; the client uses the protocol's MAX_FRAME. */
#include "frames.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define LIMIT 65536u

struct log {
  uint64_t hash; /* of every delivered (type, length, payload) */
  size_t frames, bytes;
};

static int record(void *ctx, uint8_t type, const uint8_t *payload, uint32_t len) {
  struct log *l = ctx;
  if (len > LIMIT) abort();
  if (len > 0 && payload == NULL) abort();
  uint64_t h = l->hash ^ ((uint64_t)type << 32 | len);
  for (uint32_t i = 0; i < len; i++) h = (h ^ payload[i]) * 1099511628211ull;
  l->hash = h * 1099511628211ull;
  l->frames++;
  l->bytes += len;
  return 0;
}

/* What the stream holds, parsed in one pass over the whole buffer. */
static void reference(const uint8_t *d, size_t n, struct log *l, int *too_big) {
  size_t i = 0;
  *too_big = 0;
  while (n - i >= 5) {
    uint32_t len = (uint32_t)d[i + 1] << 24 | (uint32_t)d[i + 2] << 16 | (uint32_t)d[i + 3] << 8 | d[i + 4];
    if (len > LIMIT) {
      *too_big = 1;
      return;
    }
    if (n - i - 5 < len) return;
    record(l, d[i], d + i + 5, len);
    i += 5 + len;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  unsigned seed = data[0];
  data++;
  size--;
  struct log want = { 0, 0, 0 }, got = { 0, 0, 0 };
  int too_big;
  reference(data, size, &want, &too_big);
  struct pk_frames r;
  pk_frames_init(&r, LIMIT);
  size_t off = 0;
  int st = PK_FRAMES_OK;
  while (off < size && st == PK_FRAMES_OK) {
    seed = seed * 1103515245u + 12345u;
    size_t chunk = 1 + (seed >> 16) % 97;
    if (chunk > size - off) chunk = size - off;
    /* a copy of exactly the chunk, so ASan sees any read past what "arrived" */
    uint8_t *c = malloc(chunk);
    memcpy(c, data + off, chunk);
    st = pk_frames_push(&r, c, chunk, record, &got);
    free(c);
    off += chunk;
  }
  if (got.frames != want.frames || got.hash != want.hash || got.bytes != want.bytes) abort();
  if ((st == PK_FRAMES_TOO_BIG) != too_big) abort();
  if (got.bytes > size) abort();
  pk_frames_free(&r);
  return 0;
}
