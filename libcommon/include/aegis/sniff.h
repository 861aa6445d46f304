/*
 * sniff.h - what a file really is, judged from its bytes with libmagic:
 * the MIME type ("application/pdf") and the character encoding ("utf-8",
 * "us-ascii", "iso-8859-1", "binary"). File names and the type a client
 * claimed are never consulted.
 *
 * libmagic handles are not thread-safe; an ag_sniff holds one handle per
 * question behind a mutex, so one ag_sniff may be shared by all worker
 * threads of a process. Sniffing looks at the first AG_SNIFF_BYTES only.
 * All calls block (file reads): use them from worker threads.
 */
#ifndef AEGIS_SNIFF_H
#define AEGIS_SNIFF_H

#include "aegis/status.h"

#include <stddef.h>

typedef struct ag_sniff ag_sniff;

#define AG_SNIFF_NAME_MAX 128 /* longest MIME type or encoding name kept, with its NUL */

typedef struct ag_sniff_result {
	char mime[AG_SNIFF_NAME_MAX];     /* lower-case, no parameters: "text/plain" */
	char encoding[AG_SNIFF_NAME_MAX]; /* lower-case: "utf-8", "us-ascii", "binary", "unknown-8bit" */
} ag_sniff_result;

/* Load the magic database (the system default). AG_E_UNAVAILABLE when it cannot be loaded. */
ag_status ag_sniff_new(ag_sniff **out, ag_err *err);
void ag_sniff_free(ag_sniff *s); /* NULL ok */

/* Sniff `len` bytes (callers pass at most the first AG_SNIFF_BYTES of a file). Thread-safe. */
ag_status ag_sniff_buffer(ag_sniff *s, const void *buf, size_t len, ag_sniff_result *out, ag_err *err);
/* Read the first AG_SNIFF_BYTES of the open file `fd` (pread at offset 0; the file position is not moved)
 * and sniff them. AG_E_IO when the read fails. Thread-safe. */
ag_status ag_sniff_fd(ag_sniff *s, int fd, ag_sniff_result *out, ag_err *err);

#endif
