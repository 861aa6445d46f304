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

/* Copied into the sandbox child byte for byte (aegis/sandbox.h): values only. */
typedef struct docmeta_job {
	int fd;                      /* set by docmeta_run from the sandbox's input file */
	char mime[AG_MIME_TYPE_MAX]; /* sniffed */
	ag_mime_limits mail;         /* e-mail nesting and part limits */
} docmeta_job;

/* true when `mime` has format-specific metadata. */
bool docmeta_applies(const char *mime);

/* An ag_sandbox_fn; arg is a docmeta_job. */
int docmeta_run(void *arg, int fd, FILE *out);

/* Set o[key] to a copy of the string, cut at DOCMETA_MAX_STRING bytes (on a UTF-8 boundary) and only if it is
 * valid UTF-8 and not empty after trimming. Returns 0, -1 on OOM. */
int docmeta_set_str(json_t *o, const char *key, const char *v);

/* Merge the child's JSON object `extra` into the compact JSON object `common` (scan_json): a new malloc'd string,
 * NULL on OOM or when either is not a JSON object. Keys of `common` win. */
char *docmeta_merge(const char *common, const char *extra);

#endif
