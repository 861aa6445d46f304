/*
 * mime_priv.h - what the files of the e-mail parser share (mime.c,
 * mime_text.c, mime_date.c); not part of the public API.
 */
#ifndef AEGIS_MIME_PRIV_H
#define AEGIS_MIME_PRIV_H

#include "aegis/mime.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* s[0..n) in `charset` ("" = unknown: UTF-8 when valid, else windows-1252; latin-1 is read as windows-1252) as
 * malloc'd, NUL-terminated, valid UTF-8; invalid sequences dropped and counted in *dropped (NULL ok). NULL on OOM. */
char *mime_to_utf8(const char *s, size_t n, const char *charset, uint64_t *dropped);

/* Cut the UTF-8 string s to at most max bytes, never inside a sequence. */
void mime_utf8_cut(char *s, size_t max);

/* Bytes of p's body once its transfer encoding is undone. */
uint64_t mime_decoded_size(const ag_mime_part *p);

#endif
