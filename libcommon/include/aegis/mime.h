/*
 * mime.h - e-mail messages (RFC 5322 with MIME: RFC 2045-2047, 2231) read
 * from memory, for the parser children of extract-content (the text) and
 * extract-metadata (the headers and the attachment list). One parser, so
 * both see the same structure.
 *
 * ag_mime_parse splits a message into its MIME entities, in document order
 * (pre-order: a container, then its children): header fields unfolded and
 * RFC 2047 encoded words decoded to UTF-8; multipart/... split on their
 * boundaries; message/rfc822 parts parsed as the message they enclose.
 * Bodies are not copied: each part points into the caller's buffer and is
 * decoded (quoted-printable, base64) and converted to UTF-8 on request.
 *
 * Hostile input is expected (these functions run in a sandboxed child):
 * nesting deeper than max_depth or more than max_parts entities fail the
 * parse (AG_E_TOOBIG, a sentence naming the setting); everything else that
 * is malformed - a multipart without its closing delimiter or without any
 * delimiter, bad base64 or quoted-printable, header lines that are no
 * fields, unknown charsets - is read best-effort and counted as a defect.
 * Work is linear in the input times the nesting depth; no recursion is
 * deeper than max_depth.
 *
 * Text parts: a leaf text part that is not an attachment and not an
 * alternative left out. In multipart/alternative the first child holding
 * text/plain is kept, else the first holding text/html, else the last.
 * Attachments: Content-Disposition: attachment, or a file name (the
 * disposition's filename or the type's name parameter).
 *
 * No globals, no locks besides iconv's: safe in a child after fork.
 */
#ifndef AEGIS_MIME_H
#define AEGIS_MIME_H

#include "aegis/cfg.h"
#include "aegis/limits.h"
#include "aegis/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AG_MIME_TYPE_MAX    128 /* bytes of "type/subtype" kept, with the NUL */
#define AG_MIME_CHARSET_MAX 64  /* bytes of a charset name kept, with the NUL */

typedef struct ag_mime_msg ag_mime_msg;

typedef enum { AG_MIME_7BIT, AG_MIME_8BIT, AG_MIME_BINARY, AG_MIME_QP, AG_MIME_BASE64 } ag_mime_cte;

typedef struct ag_mime_limits {
	long long max_depth; /* multipart/message nesting below the message itself */
	long long max_parts; /* MIME entities in one message, containers included */
} ag_mime_limits;

/* Settings of the services that read mail: embed `ag_mime_limits mail;` in the config struct and put
 * AG_MIME_CFG_ITEMS(T) in its table. */
#define AG_MIME_CFG_ITEMS(T)                                                                                           \
	{"MAIL_MAX_DEPTH",                                                                                             \
	 AG_CFG_INT,                                                                                                   \
	 offsetof(T, mail.max_depth),                                                                                  \
	 "20",                                                                                                         \
	 false,                                                                                                        \
	 1,                                                                                                            \
	 AG_MIME_MAX_DEPTH,                                                                                            \
	 false,                                                                                                        \
	 "deepest nesting of multipart and attached-message parts in an e-mail; deeper fails with mail_too_complex"},  \
	{                                                                                                              \
		"MAIL_MAX_PARTS", AG_CFG_INT, offsetof(T, mail.max_parts), "1000", false, 1, AG_MIME_MAX_PARTS, false, \
		        "most MIME parts (containers included) in an e-mail; more fails with mail_too_complex"         \
	}

/* The defaults of the settings above, for callers without a configuration (tests). */
extern const ag_mime_limits ag_mime_default_limits;

/* One MIME entity. Read-only; owned by the message (valid until ag_mime_free). */
typedef struct ag_mime_part {
	int parent;                        /* index of the enclosing entity; -1 for the message itself */
	int depth;                         /* 0 for the message itself */
	char type[AG_MIME_TYPE_MAX];       /* lower-case "type/subtype"; text/plain when absent or unparsable */
	char charset[AG_MIME_CHARSET_MAX]; /* lower-case charset parameter, "" when absent */
	ag_mime_cte encoding;              /* Content-Transfer-Encoding (unknown ones read as 7bit) */
	const char *filename;              /* UTF-8 file name (RFC 2231/2047 decoded), NULL when none */
	bool multipart;                    /* a multipart/... container: its children follow it */
	bool message;                      /* a message/rfc822 container: the enclosed message follows it */
	bool attachment;                   /* disposition attachment, or a file name */
	bool text;                         /* a part of the message's text (see above) */
	bool html;                         /* text/html */
	uint64_t size;                     /* bytes of the decoded body */
	const char *body;                  /* the still-encoded body, inside the parsed buffer */
	size_t body_len;
} ag_mime_part;

/* Parse the message in buf[0..len) (not copied: it must outlive the message). NULL lim = the defaults.
 * AG_E_TOOBIG when a limit is exceeded, AG_E_NOMEM; never fails on malformed input otherwise. Free with
 * ag_mime_free. */
ag_status ag_mime_parse(const void *buf, size_t len, const ag_mime_limits *lim, ag_mime_msg **out, ag_err *err);
/* The same for the file open at `fd` (mapped read-only, whole; unmapped by ag_mime_free). AG_E_IO when it cannot
 * be mapped; an empty file is a message without fields or body. */
ag_status ag_mime_parse_fd(int fd, const ag_mime_limits *lim, ag_mime_msg **out, ag_err *err);
void ag_mime_free(ag_mime_msg *m); /* NULL ok */

size_t ag_mime_count(const ag_mime_msg *m);                          /* entities, >= 1 */
const ag_mime_part *ag_mime_part_at(const ag_mime_msg *m, size_t i); /* NULL when out of range */
/* Problems worked around (see above), and a sentence about the first one ("" when none). */
unsigned ag_mime_defects(const ag_mime_msg *m);
const char *ag_mime_first_defect(const ag_mime_msg *m);

/* The first header field `name` (case-insensitive) of entity `i`, unfolded, encoded words decoded, UTF-8, trimmed;
 * NULL when absent. The message's own headers are entity 0; an attached message's are the entity after its
 * message/rfc822 container. Owned by the message. */
const char *ag_mime_header(const ag_mime_msg *m, size_t i, const char *name);

/* The decoded body of a leaf, at most `max` bytes (*truncated says whether more was left out): transfer
 * encoding undone; with `utf8`, converted from its charset to UTF-8 (no charset: UTF-8 when it is valid UTF-8,
 * else windows-1252), line ends made LF, NULs and invalid sequences dropped. *out is malloc'd and
 * NUL-terminated; the caller frees it. AG_E_NOMEM. */
ag_status ag_mime_body(const ag_mime_part *p, size_t max, bool utf8, char **out, size_t *len, bool *truncated,
                       ag_err *err);

/* Decode RFC 2047 encoded words in a header value of `n` bytes (8-bit text outside them: UTF-8 when valid, else
 * windows-1252) into malloc'd UTF-8; NULL on OOM. */
char *ag_mime_decode_words(const char *s, size_t n);

/* An RFC 5322 date ("Sun, 22 Nov 2026 10:00:00 +0100", obsolete zones too) as RFC 3339 UTC
 * ("2026-11-22T09:00:00Z") into buf (>= 21 bytes). false when `s` is no such date. */
bool ag_mime_date(const char *s, char *buf, size_t len);

/* true when buf starts like a message: header fields only up to an empty line, a From field and one of To, Cc,
 * Subject, Date, Message-ID, MIME-Version, Received. For text that libmagic calls text/plain. */
bool ag_mime_sniff(const void *buf, size_t len);

#endif
