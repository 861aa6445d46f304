/*
 * chunk.h - splitting a document's text into overlapping chunks for search
 * and for AI providers with small context windows.
 *
 * Each chunk holds at most `max_chars` code points. A chunk ends at the
 * last paragraph break in the second half of its window, else at the last
 * sentence end there, else at the last whitespace there, else at the window
 * end; the cut never falls inside a UTF-8 sequence. The next chunk starts
 * about `overlap_chars` code points before the cut, moved forward to the
 * start of a word. Together the chunks cover the whole text, in order.
 */
#ifndef CONTENT_CHUNK_H
#define CONTENT_CHUNK_H

#include "aegis/status.h"

#include <stddef.h>

#define CHUNK_MAX_CHARS 100000 /* highest CONTENT_CHUNK_CHARS accepted */

/* One chunk: `text` points into the caller's text (not NUL-terminated), `len` bytes. A non-OK return stops the
 * split and is returned by chunk_split. */
typedef ag_status (*chunk_fn)(void *ud, size_t seq, const char *text, size_t len);

/* Split UTF-8 `text` of `len` bytes. Requires 1 <= max_chars and 2 * overlap_chars < max_chars (or no overlap;
 * AG_E_INVAL otherwise). An empty text has no chunks. */
ag_status chunk_split(const char *text, size_t len, size_t max_chars, size_t overlap_chars, chunk_fn fn, void *ud);

#endif
