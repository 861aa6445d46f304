/*
 * mailtext.h - the text of an e-mail message (message/rfc822), for the
 * parser child of extract-content (parse.h), read with aegis/mime.h:
 *
 *   Subject: ... / From: ... / To: ... / Date: ...      (those present)
 *   <the text parts in order; HTML ones through xmltext_html_mem>
 *   <an attached message: its own header block, then its text parts>
 *   Attachment: <file name> (<type>, <decoded bytes> bytes)   (one per line)
 */
#ifndef CONTENT_MAILTEXT_H
#define CONTENT_MAILTEXT_H

#include "sink.h"

#include "aegis/mime.h"

#include <stdio.h>

/* The message open at fd into s. 0; AG_SANDBOX_EXIT_FAIL with "code\tsentence" in err (mail_too_complex when a
 * MAIL_MAX_* limit is exceeded); AG_SANDBOX_EXIT_NOMEM. NULL lim = the defaults. */
int mailtext_fd(int fd, const ag_mime_limits *lim, sink *s, FILE *err);

#endif
