/*
 * mailtext.c - an e-mail message as text (see mailtext.h).
 */
#include "mailtext.h"

#include "xmltext.h"

#include "aegis/sandbox.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* The header block of the message whose headers are entity i. */
static void mailtext_headers(const ag_mime_msg *m, size_t i, sink *s)
{
	static const char *const names[] = {"Subject", "From", "To", "Date"};
	for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
		const char *v = ag_mime_header(m, i, names[k]);
		if (!v || !*v)
			continue;
		sink_str(s, names[k]);
		sink_str(s, ": ");
		sink_str(s, v);
		sink_newline(s);
	}
	sink_paragraph(s);
}

/* One text part; 0 or AG_SANDBOX_EXIT_NOMEM. */
static int mailtext_part(const ag_mime_part *p, sink *s)
{
	char *text = NULL;
	size_t len = 0, room = s->max > s->len ? s->max - s->len : 0;
	bool truncated = false;
	ag_status st = ag_mime_body(p, room + 1, true, &text, &len, &truncated, NULL);
	if (st != AG_OK)
		return AG_SANDBOX_EXIT_NOMEM;
	/* HTML that libxml2 cannot make a tree of still has its words: read as text then */
	if (len > 0 && (!p->html || xmltext_html_mem(text, len, s) != 0))
		sink_text(s, text, len);
	free(text);
	sink_paragraph(s);
	return 0;
}

int mailtext_fd(int fd, const ag_mime_limits *lim, sink *s, FILE *err)
{
	ag_mime_msg *m = NULL;
	ag_err e = {0};
	ag_status st = ag_mime_parse_fd(fd, lim, &m, &e);
	if (st == AG_E_NOMEM)
		return AG_SANDBOX_EXIT_NOMEM;
	if (st != AG_OK) {
		fprintf(err, "%s\t%s", st == AG_E_TOOBIG ? "mail_too_complex" : "mail_unreadable", e.msg);
		return AG_SANDBOX_EXIT_FAIL;
	}
	int rc = 0;
	size_t n = ag_mime_count(m), attachments = 0;
	mailtext_headers(m, 0, s);
	for (size_t i = 0; i < n && rc == 0 && !sink_full(s); i++) {
		const ag_mime_part *p = ag_mime_part_at(m, i);
		const ag_mime_part *up = p->parent >= 0 ? ag_mime_part_at(m, (size_t)p->parent) : NULL;
		if (p->attachment)
			attachments++;
		if (up && up->message && !up->attachment)
			mailtext_headers(m, i, s); /* a forwarded message shown inline */
		if (p->text)
			rc = mailtext_part(p, s);
	}
	for (size_t i = 0; i < n && rc == 0 && attachments > 0; i++) {
		const ag_mime_part *p = ag_mime_part_at(m, i);
		if (!p->attachment)
			continue;
		char line[AG_MIME_TYPE_MAX + 48];
		snprintf(line, sizeof line, " (%s, %" PRIu64 " bytes)", p->type, p->size);
		sink_str(s, "Attachment: ");
		sink_str(s, p->filename ? p->filename : "(no name)");
		sink_str(s, line);
		sink_newline(s);
	}
	ag_mime_free(m);
	return rc;
}
