/*
 * extract.h - plain UTF-8 text from the file types extract-content
 * understands so far: text/plain, Markdown, and CSV, TSV, JSON and XML taken
 * as plain text. Two streaming passes over the file: the first decides the
 * charset from all of its bytes, the second converts (charset.h), so only the
 * text kept (at most max_bytes) is ever in memory.
 */
#ifndef CONTENT_EXTRACT_H
#define CONTENT_EXTRACT_H

#include "charset.h"

#include "aegis/limits.h"
#include "aegis/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EXTRACT_READ_BYTES AG_HTTP_READ_CHUNK /* one read from the file */

typedef struct extract_text {
	char *text;     /* NUL-terminated UTF-8, malloc'd; extract_text_free */
	size_t len;     /* bytes */
	uint64_t chars; /* code points */
	charset_id charset;
	bool truncated;   /* the text was longer than max_bytes and was cut */
	uint64_t dropped; /* invalid or undecodable sequences left out */
} extract_text;

/* true for the (sniffed, lower-case, parameter-free) MIME types handled here. */
bool extract_supported(const char *mime);

/* Called after every read, so the caller can heartbeat; may be NULL. */
typedef void (*extract_progress_fn)(void *ud);

/* The text of the file open at `fd` (read from offset 0; the position moves). AG_E_IO when reading fails. */
ag_status extract_text_fd(int fd, size_t max_bytes, extract_progress_fn progress, void *ud, extract_text *out,
                          ag_err *err);
void extract_text_free(extract_text *t); /* NULL ok */

#endif
