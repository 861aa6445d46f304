/*
 * tus_meta.h - the pure parts of the tus 1.0.0 protocol: the Upload-Metadata
 * header ("key base64,key base64,key", keys unique, values standard
 * base64), the non-negative integers of Upload-Length / Upload-Offset, and
 * the Upload-Expires date.
 */
#ifndef GATEWAY_TUS_META_H
#define GATEWAY_TUS_META_H

#include "aegis/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define TUS_META_MAX_PAIRS 32   /* key/value pairs in Upload-Metadata */
#define TUS_META_KEY_MAX   64   /* bytes of one key */
#define TUS_META_VALUE_MAX 1024 /* decoded bytes of one value (filename, filetype) */
#define TUS_HTTP_DATE_LEN  29   /* "Sun, 06 Nov 1994 08:49:37 GMT" */

/* The values Aegis reads from Upload-Metadata; other keys are accepted and ignored. */
typedef struct tus_meta {
	bool has_filename, has_filetype;
	size_t filename_len;
	char filename[TUS_META_VALUE_MAX + 1]; /* decoded, NUL-terminated; may hold anything but NUL (sanitise it) */
	char filetype[TUS_META_VALUE_MAX + 1];
} tus_meta;

/*
 * Parse an Upload-Metadata value (NULL or "" = no metadata). AG_E_INVAL with
 * a reason in `why` for: an empty or over-long key, a key with a space or
 * comma or non-ASCII byte, a duplicate key, bad base64, a value over
 * TUS_META_VALUE_MAX or one holding a NUL, more than TUS_META_MAX_PAIRS.
 */
ag_status tus_meta_parse(const char *header, tus_meta *out, char *why, size_t whysz);

/* Upload-Length / Upload-Offset: 1 to 18 decimal digits, nothing else. */
bool tus_parse_uint(const char *s, int64_t *out);

/* time -> IMF-fixdate (RFC 9110), out must hold TUS_HTTP_DATE_LEN + 1. */
void tus_http_date(time_t t, char out[TUS_HTTP_DATE_LEN + 1]);

#endif
