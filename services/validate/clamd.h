/*
 * clamd.h - a malware scan of a file through a clamd daemon, with the
 * INSTREAM command: "zINSTREAM\0", then chunks of at most chunk_bytes each
 * preceded by its length as 4 bytes big-endian, then a zero length; clamd
 * answers "stream: OK", "stream: <signature> FOUND" or "... ERROR".
 *
 * clamd refuses a stream longer than its StreamMaxLength (25 MiB unless
 * configured) with "INSTREAM size limit exceeded"; max_bytes should match
 * it, and a longer file is reported as CLAMD_TOO_LARGE without connecting.
 * Blocking socket I/O bounded by timeout_ms per operation: call it from a
 * step handler, never from an event-loop callback.
 */
#ifndef VALIDATE_CLAMD_H
#define VALIDATE_CLAMD_H

#include "aegis/status.h"

#include <stddef.h>

#define CLAMD_MAX_CHUNK_BYTES (4 * 1024 * 1024) /* the largest chunk_bytes accepted */
#define CLAMD_REPLY_BYTES     1024              /* the longest reply read */

typedef struct clamd_cfg {
	const char *addr;     /* "host:port" or "unix:/path/to/socket" */
	long long timeout_ms; /* connect, each send and the reply */
	long long chunk_bytes;
	long long max_bytes;
} clamd_cfg;

typedef enum { CLAMD_CLEAN, CLAMD_INFECTED, CLAMD_TOO_LARGE } clamd_outcome;

typedef struct clamd_verdict {
	clamd_outcome outcome;
	char signature[256]; /* CLAMD_INFECTED: the signature name clamd reported */
} clamd_verdict;

/* Scan fd (from offset 0; its position is not used) of `size` bytes. AG_OK with a verdict; AG_E_UNAVAILABLE when
 * clamd cannot be reached, AG_E_TIMEOUT when it does not answer in time, AG_E_PROTO for a reply that is no
 * verdict (clamd's own error), AG_E_IO when the file cannot be read; `progress` (NULL ok) after every chunk. */
ag_status clamd_scan(const clamd_cfg *c, int fd, long long size, void (*progress)(void *), void *ud, clamd_verdict *v,
                     ag_err *err);

/* true when addr is a usable CLAMD_ADDR: empty, "unix:/abs/path" or "host:port". */
int clamd_addr_valid(const char *addr);

#endif
