/*
 * str.h - small, bounded string helpers that several modules need.
 */
#ifndef AEGIS_STR_H
#define AEGIS_STR_H

#include <stddef.h>
#include <stdint.h>

/* Copy src (NULL = "") into dst of `cap` bytes (cap > 0), truncating; always NUL-terminated. Returns dst. */
char *ag_str_copy(char *dst, size_t cap, const char *src);
/* The value of one hex digit (either case), or -1. */
int ag_str_hexval(char c);
/* A decimal text as int64 (e.g. a bigint column from libpq); `fallback` for NULL, junk or overflow. */
int64_t ag_str_to_i64(const char *s, int64_t fallback);
/* Length (1-4) of the well-formed UTF-8 sequence at p[0..n), 0 when it is not one (overlong forms, surrogates
 * and code points past U+10FFFF included). n must be at least 1. */
size_t ag_utf8_len(const unsigned char *p, size_t n);

#endif
