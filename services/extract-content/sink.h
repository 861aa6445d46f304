/*
 * sink.h - where a parser running in a sandbox child writes the text it
 * finds: valid UTF-8 only (invalid sequences and NULs dropped), runs of
 * blank lines folded to one empty line, at most `max` bytes (never cutting
 * a UTF-8 sequence), then a trailer the parent reads back:
 *
 *   <text> NUL <charset> TAB <dropped> TAB <truncated 0|1> TAB <pages>
 */
#ifndef CONTENT_SINK_H
#define CONTENT_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct sink {
	FILE *out;
	size_t len, max;
	uint64_t dropped;
	uint64_t pages;
	int newlines; /* trailing newlines written so far (to fold blank lines) */
	bool any;     /* something other than whitespace was written */
	bool space;   /* the last byte written was a space or tab */
	bool truncated;
} sink;

void sink_init(sink *s, FILE *out, size_t max);
/* Text already in UTF-8 (checked here). */
void sink_text(sink *s, const char *text, size_t len);
void sink_str(sink *s, const char *text);
/* A line break; a paragraph break (one empty line); a tab; a space (collapsed with a preceding one). */
void sink_newline(sink *s);
void sink_paragraph(sink *s);
void sink_tab(sink *s);
void sink_space(sink *s);
/* A page break (form feed, like pdftotext), counted in pages. */
void sink_page(sink *s);
/* Write the trailer; returns 0, or AG_SANDBOX_EXIT_FAIL when writing failed. */
int sink_finish(sink *s, const char *charset);
bool sink_full(const sink *s);

#endif
