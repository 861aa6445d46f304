/*
 * allow.h - the allow-list of sniffed MIME types a deployment accepts
 * (VALIDATE_ALLOWED_TYPES): exact types ("application/pdf"), whole top-level
 * families (written "text/" followed by a star) and a star on both sides of
 * the slash for everything. Matching ignores case and parameters.
 */
#ifndef VALIDATE_ALLOW_H
#define VALIDATE_ALLOW_H

#include "aegis/status.h"

#include <stdbool.h>

#define ALLOW_MAX_ENTRIES    64  /* entries in one allow-list */
#define ALLOW_MAX_TYPE_BYTES 128 /* longest entry, with its NUL */

typedef struct allow_list {
	int n;
	char types[ALLOW_MAX_ENTRIES][ALLOW_MAX_TYPE_BYTES]; // lower-case; "text/*" for a family
} allow_list;

// Parse a comma-separated list ("text/plain, image/*"); blanks around entries are ignored. Every entry must be
// "type/subtype", "type/*" or "*/*" of token characters; AG_E_INVAL (with the offending entry in err) otherwise,
// or when the list is empty or longer than ALLOW_MAX_ENTRIES.
ag_status allow_parse(allow_list *out, const char *spec, ag_err *err);

/* true when `mime` (as libmagic reports it, parameters allowed) is on the list. */
bool allow_match(const allow_list *l, const char *mime);

#endif
