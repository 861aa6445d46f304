/*
 * inspect.h - the structure checks of validate, run in a sandboxed child
 * (aegis/sandbox.h) because they parse hostile bytes:
 *
 *   zip packages (zip, OOXML, ODF, EPUB): entry count, total declared
 *     uncompressed size and its ratio to the file size (zip bombs),
 *     encrypted entries; every XML part gets the XML check below;
 *   XML: no DTD entity declarations (billion laughs) and no external DTD or
 *     entities (XXE), well-formed, nesting depth;
 *   PDF: opens without a password (else "pdf_encrypted"), parses (else
 *     "pdf_corrupt"), ends with %%EOF (else "pdf_truncated");
 *   PNG, JPEG, GIF: width x height within the pixel limit.
 *
 * The child writes "ok", or "reason_code TAB sentence" and exits
 * AG_SANDBOX_EXIT_FAIL.
 */
#ifndef VALIDATE_INSPECT_H
#define VALIDATE_INSPECT_H

#include "aegis/mime.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct inspect_limits {
	long long zip_max_entries;
	long long zip_max_total_bytes; /* declared uncompressed size of all entries */
	long long zip_max_ratio;       /* total uncompressed / file size */
	long long xml_max_depth;
	long long max_pixels;
} inspect_limits;

/* Copied into the sandbox child byte for byte (aegis/sandbox.h): values only. */
typedef struct inspect_job {
	int fd; /* set by inspect_run from the sandbox's input file */
	char mime[AG_MIME_TYPE_MAX];
	long long size;
	inspect_limits lim;
} inspect_job;

/* true when `mime` gets a structure check. */
bool inspect_applies(const char *mime);

/* An ag_sandbox_fn; arg is an inspect_job. */
int inspect_run(void *arg, int fd, FILE *out);

/* Width and height from the header of a PNG, JPEG or GIF held in buf; false when not found. */
bool inspect_image_size(const unsigned char *buf, size_t len, uint32_t *w, uint32_t *h);

#endif
