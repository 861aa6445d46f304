/*
 * docmeta.h - the format-specific half of extract-metadata: PDF document
 * information (pdfmeta.h), OOXML and ODF core properties (pkgmeta.h) and
 * image dimensions and EXIF (imgmeta.h), read in a sandboxed child
 * (aegis/sandbox.h) because they parse hostile bytes.
 *
 * The child writes one compact JSON object of the fields it found; on a
 * parse error it writes "code TAB sentence" and exits AG_SANDBOX_EXIT_FAIL.
 * The parent merges the object into the common fields of scan.h.
 */
#ifndef METADATA_DOCMETA_H
#define METADATA_DOCMETA_H

#include "aegis/mime.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#define DOCMETA_MAX_OUTPUT (256 * 1024) /* bytes of JSON a child may write back */
#define DOCMETA_MAX_STRING 4096         /* bytes kept of one string property (title, keywords, ...) */

typedef struct docmeta_job {
	int fd;
	const char *mime;           /* sniffed */
	const ag_mime_limits *mail; /* e-mail nesting and part limits; NULL = the defaults */
} docmeta_job;

/* true when `mime` has format-specific metadata. */
bool docmeta_applies(const char *mime);

/* An ag_sandbox_fn; arg is a docmeta_job. */
int docmeta_run(void *arg, FILE *out);

/* Set o[key] to a copy of the string, cut at DOCMETA_MAX_STRING bytes (on a UTF-8 boundary) and only if it is
 * valid UTF-8 and not empty after trimming. Returns 0, -1 on OOM. */
int docmeta_set_str(json_t *o, const char *key, const char *v);

/* Merge the child's JSON object `extra` into the compact JSON object `common` (scan_json): a new malloc'd string,
 * NULL on OOM or when either is not a JSON object. Keys of `common` win. */
char *docmeta_merge(const char *common, const char *extra);

#endif
