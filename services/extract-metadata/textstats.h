/*
 * textstats.h - line, word and character counts of a text, fed in pieces
 * of any size (a file is never held in memory whole).
 *
 *   lines: newline-terminated lines, plus a last line without a newline;
 *   words: runs of non-whitespace (ASCII whitespace separates, like wc -w);
 *   chars: UTF-8 code points, or bytes for single-byte charsets.
 */
#ifndef METADATA_TEXTSTATS_H
#define METADATA_TEXTSTATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct textstats {
	uint64_t lines;
	uint64_t words;
	uint64_t chars;
	bool single_byte; /* every byte is a character (iso-8859-1, windows-1252) */
	bool in_word;
	bool open_line; /* bytes seen since the last newline */
} textstats;

void textstats_init(textstats *t, bool single_byte);
void textstats_feed(textstats *t, const void *buf, size_t len);
/* Count a last line that has no newline. Call once, after the last feed. */
void textstats_finish(textstats *t);

#endif
