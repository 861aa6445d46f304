/*
 * scan.h - one streaming pass over an uploaded file that yields everything
 * extract-metadata records: size, SHA-256, sniffed type and charset, and for
 * text the line, word and character counts. Reads in SCAN_CHUNK_BYTES
 * pieces; the file is never held in memory whole.
 */
#ifndef METADATA_SCAN_H
#define METADATA_SCAN_H

#include "textstats.h"

#include "aegis/limits.h"
#include "aegis/sniff.h"
#include "aegis/status.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>

#define SCAN_CHUNK_BYTES AG_SNIFF_BYTES /* one read; the first one is also what libmagic sees */

typedef struct scan_result {
	uint64_t size;
	char sha256[crypto_hash_sha256_BYTES * 2 + 1]; /* lower-case hex */
	ag_sniff_result sniffed;
	bool text; /* a text type in a charset we can count: `stats` is filled */
	textstats stats;
} scan_result;

/* Called after every chunk (the caller heartbeats there); may be NULL. */
typedef void (*scan_progress_fn)(void *ud);

/* Scan `fd` from its current position to the end. AG_E_IO when a read fails. */
ag_status scan_fd(int fd, ag_sniff *sniff, scan_progress_fn progress, void *ud, scan_result *out, ag_err *err);

/* true for types whose bytes are text (text/..., JSON, XML and their +json/+xml kin) in a charset that counts
 * as bytes or UTF-8 (us-ascii, utf-8, iso-8859-1, unknown-8bit). */
bool scan_is_text(const char *mime, const char *encoding);

/* The metadata document as compact JSON:
 *   {"size":N,"sha256":"…","mime":"…","charset":"…","lines":N,"words":N,"chars":N}
 * charset is left out for binary files, the counts for non-text. malloc'd, caller free()s; NULL on OOM. */
char *scan_json(const scan_result *r);

#endif
