/*
 * sha256.h - SHA-256 of streamed bytes, hex out. OpenSSL's implementation,
 * which uses the CPU's SHA extensions or vector units: several times faster
 * than a portable one on every upload byte.
 */
#ifndef AEGIS_SHA256_H
#define AEGIS_SHA256_H

#include "aegis/status.h"

#include <stddef.h>

#define AG_SHA256_HEX_LEN 64 /* without the NUL */

typedef struct ag_sha256 {
	void *ctx; /* EVP_MD_CTX; NULL before init and after final/free */
} ag_sha256;

ag_status ag_sha256_init(ag_sha256 *h); /* AG_E_NOMEM when no context can be made */
void ag_sha256_update(ag_sha256 *h, const void *data, size_t len);
/* The digest as lower-case hex; frees the context (ag_sha256_free is then a no-op). */
void ag_sha256_final_hex(ag_sha256 *h, char hex[AG_SHA256_HEX_LEN + 1]);
void ag_sha256_free(ag_sha256 *h); /* without a final: an abandoned stream; safe twice */

#endif
