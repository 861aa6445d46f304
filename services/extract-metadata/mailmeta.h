/*
 * mailmeta.h - the properties of an e-mail message (message/rfc822), for the
 * sandboxed child of extract-metadata (docmeta.h), read with aegis/mime.h:
 *
 *   subject, from, to, cc (decoded header values, UTF-8), date (RFC 3339
 *   UTC when it parses, else as written), message_id, parts (leaf MIME
 *   parts), attachments [{filename, mime, size}] (decoded bytes; at most
 *   MAILMETA_MAX_ATTACHMENTS listed, attachment_count counts them all),
 *   and mail_defects with the first one when the message was malformed.
 */
#ifndef METADATA_MAILMETA_H
#define METADATA_MAILMETA_H

#include "aegis/mime.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#define MAILMETA_MAX_ATTACHMENTS 200 /* attachments listed; keeps the JSON under DOCMETA_MAX_OUTPUT */

bool mailmeta_applies(const char *mime);

/* Fill `o` from the message open on fd. 0; AG_SANDBOX_EXIT_FAIL with "code\tsentence" in err; AG_SANDBOX_EXIT_NOMEM.
 * NULL lim = the defaults. */
int mailmeta_read(int fd, const ag_mime_limits *lim, json_t *o, FILE *err);

#endif
