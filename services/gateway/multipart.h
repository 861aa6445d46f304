/*
 * multipart.h - a streaming multipart/form-data parser (RFC 7578, RFC 2046
 * §5.1) with bounded state: feed it the body in chunks split anywhere and it
 * calls back with each part's headers, its data (zero-copy slices of the
 * input where possible) and its end. It never buffers part data; the only
 * buffer is one part's header block (MULTIPART_HEADER_BYTES_MAX).
 *
 * Usage:
 *   multipart_boundary(content_type, boundary)      -> AG_OK for multipart/form-data
 *   multipart_init(&mp, boundary, &callbacks, ud)
 *   multipart_feed(&mp, chunk, len) ...              -> AG_OK or the first error
 *   multipart_complete(&mp)                          -> the closing delimiter was seen
 *
 * The preamble before the first delimiter and the epilogue after the last
 * are ignored. Parts without headers are allowed (name ""). A callback that
 * returns non-OK stops the parser with that status.
 */
#ifndef GATEWAY_MULTIPART_H
#define GATEWAY_MULTIPART_H

#include "disposition.h"

#include "aegis/limits.h"
#include "aegis/status.h"

#include <stdbool.h>
#include <stddef.h>

#define MULTIPART_HEADER_BYTES_MAX 8192 /* one part's header block, CRLFs included */
#define MULTIPART_PARTS_MAX        64   /* parts in one body */
#define MULTIPART_CTYPE_MAX        255  /* a part's Content-Type value */
/* "\r\n--" + boundary */
#define MULTIPART_DELIM_MAX (4 + AG_MULTIPART_BOUNDARY_MAX)

typedef struct multipart_part {
	disposition cd;                             /* name, filename (raw: sanitise before use) */
	char content_type[MULTIPART_CTYPE_MAX + 1]; /* "" when the part has none */
} multipart_part;

typedef struct multipart_callbacks {
	ag_status (*on_part)(void *ud, const multipart_part *part);   /* headers complete */
	ag_status (*on_data)(void *ud, const char *data, size_t len); /* part data, any number of calls */
	ag_status (*on_part_end)(void *ud);
} multipart_callbacks;

typedef struct multipart {
	int state;
	char delim[MULTIPART_DELIM_MAX + 1];
	size_t delim_len;
	size_t match; /* bytes of delim matched so far (possibly across chunks) */
	char hdr[MULTIPART_HEADER_BYTES_MAX];
	size_t hdr_len;
	int nparts;
	multipart_part part;
	multipart_callbacks cb;
	void *ud;
	ag_status failed;  /* AG_OK until the first error */
	const char *error; /* static text describing the first error */
} multipart;

/*
 * The boundary of a `multipart/form-data` Content-Type. AG_E_UNSUPPORTED when
 * the media type is something else; AG_E_PROTO when the boundary parameter
 * is missing or not 1..70 RFC 2046 bchars (not ending in a space).
 */
ag_status multipart_boundary(const char *content_type, char out[AG_MULTIPART_BOUNDARY_MAX + 1]);

/* `boundary` must have come from multipart_boundary (validated). */
void multipart_init(multipart *mp, const char *boundary, const multipart_callbacks *cb, void *ud);

/*
 * Feed the next `len` bytes. AG_E_PROTO on malformed input (then
 * multipart_error says why), AG_E_TOOBIG when a header block or the part
 * count exceeds its ceiling, or a callback's status. After an error every
 * further call returns the same status.
 */
ag_status multipart_feed(multipart *mp, const char *data, size_t len);

/* true once the closing delimiter ("--boundary--") was parsed. */
bool multipart_complete(const multipart *mp);

/* A short English reason for the last error, or "" when none. */
const char *multipart_error(const multipart *mp);

#endif
