/* SHA-256 (FIPS 180-4), only to name an agent's socket as src/agent/paths.ts does. */
#ifndef PK_SHA256_H
#define PK_SHA256_H
#include <stddef.h>
#include <stdint.h>
void pk_sha256(const uint8_t *data, size_t len, uint8_t out[32]);
#endif
