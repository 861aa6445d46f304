/*
 * charset.h - turning the bytes of a text file into clean UTF-8.
 *
 * Detection (fed the whole file in pieces): a byte-order mark decides
 * (UTF-8, UTF-16LE, UTF-16BE); otherwise the bytes are UTF-8 when they
 * decode as UTF-8 (allowing a few stray invalid bytes in a text that is
 * mostly multi-byte UTF-8, CHARSET_UTF8_TOLERANCE); anything else is taken
 * as windows-1252, the superset of latin-1 that real-world 8-bit text uses.
 *
 * Decoding (fed the file again, in pieces of any size): converts to UTF-8
 * (iconv for UTF-16 and windows-1252), drops a leading BOM, turns CRLF and
 * lone CR into LF, drops NULs and invalid sequences, and keeps at most
 * `max_bytes` of output, never cutting a UTF-8 sequence.
 */
#ifndef CONTENT_CHARSET_H
#define CONTENT_CHARSET_H

#include "aegis/status.h"

#include <iconv.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CHARSET_UTF8_TOLERANCE  4 /* UTF-8 despite invalid bytes when multi-byte sequences outnumber them 4:1 */
#define CHARSET_OUT_INITIAL     (64 * 1024) /* first output allocation; grows by doubling up to max_bytes */
#define CHARSET_ICONV_OUT_BYTES (16 * 1024)

typedef enum { CHARSET_UTF8, CHARSET_UTF16LE, CHARSET_UTF16BE, CHARSET_WINDOWS_1252 } charset_id;

/* "utf-8", "utf-16le", "utf-16be", "windows-1252": what document_content.charset records. */
const char *charset_name(charset_id id);

/* An incremental UTF-8 decoder state (one partial sequence). */
typedef struct charset_utf8 {
	unsigned char seq[4];
	uint8_t have, need;
} charset_utf8;

typedef struct charset_detect {
	unsigned char head[3]; /* the first bytes, for the BOM */
	size_t nhead;
	charset_utf8 u;
	uint64_t multibyte; /* valid sequences of 2-4 bytes */
	uint64_t invalid;   /* invalid sequences */
} charset_detect;

void charset_detect_init(charset_detect *d);
void charset_detect_feed(charset_detect *d, const void *buf, size_t len);
charset_id charset_detect_finish(charset_detect *d);

typedef struct charset_decoder {
	charset_id id;
	iconv_t cd;            /* (iconv_t)-1 for UTF-8 */
	unsigned char pend[4]; /* input iconv could not finish yet */
	size_t npend;
	charset_utf8 u;
	bool started;  /* a code point was emitted (so a BOM now is content) */
	bool after_cr; /* the last code point was CR, emitted as LF */
	char *out;     /* NUL-terminated UTF-8 */
	size_t len, alloc, max;
	uint64_t chars;   /* code points in out */
	uint64_t dropped; /* invalid sequences dropped */
	bool truncated;   /* output reached max and later text was discarded */
} charset_decoder;

/* AG_E_UNSUPPORTED when iconv lacks the conversion. */
ag_status charset_decoder_init(charset_decoder *d, charset_id id, size_t max_bytes, ag_err *err);
ag_status charset_decoder_feed(charset_decoder *d, const void *buf, size_t len, ag_err *err);
/* Flush what is pending at the end of the input. */
ag_status charset_decoder_finish(charset_decoder *d, ag_err *err);
/* The output is full: further input would be discarded, so the caller may stop reading. */
bool charset_decoder_full(const charset_decoder *d);
/* Hand the text over: returns the malloc'd NUL-terminated output (never NULL after a successful init; the
 * caller free()s it) and its length; the decoder keeps nothing. */
char *charset_decoder_take(charset_decoder *d, size_t *len);
void charset_decoder_free(charset_decoder *d); /* zeroed or initialised; idempotent */

#endif
