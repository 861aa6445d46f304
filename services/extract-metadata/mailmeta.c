/*
 * mailmeta.c - e-mail headers and attachments as metadata (see mailmeta.h).
 */
#include "mailmeta.h"

#include "docmeta.h"

#include "aegis/sandbox.h"

#include <string.h>

bool mailmeta_applies(const char *mime)
{
	return strcmp(mime, "message/rfc822") == 0;
}

static int mailmeta_attachments(const ag_mime_msg *m, json_t *o)
{
	json_t *list = json_array();
	size_t count = 0;
	if (!list || json_object_set_new(o, "attachments", list) != 0)
		return -1;
	for (size_t i = 0; i < ag_mime_count(m); i++) {
		const ag_mime_part *p = ag_mime_part_at(m, i);
		if (!p->attachment || count++ >= MAILMETA_MAX_ATTACHMENTS)
			continue;
		json_t *a = json_object();
		if (!a || json_array_append_new(list, a) != 0)
			return -1;
		if (docmeta_set_str(a, "filename", p->filename) != 0 ||
		    json_object_set_new(a, "mime", json_string(p->type)) != 0 ||
		    json_object_set_new(a, "size", json_integer((json_int_t)p->size)) != 0)
			return -1;
	}
	return json_object_set_new(o, "attachment_count", json_integer((json_int_t)count));
}

int mailmeta_read(int fd, const ag_mime_limits *lim, json_t *o, FILE *err)
{
	static const struct {
		const char *header, *key;
	} fields[] = {
	        {"Subject", "subject"}, {"From", "from"}, {"To", "to"}, {"Cc", "cc"}, {"Message-ID", "message_id"}};
	ag_mime_msg *m = NULL;
	ag_err e = {0};
	ag_status st = ag_mime_parse_fd(fd, lim, &m, &e);
	if (st == AG_E_NOMEM)
		return AG_SANDBOX_EXIT_NOMEM;
	if (st != AG_OK) {
		fprintf(err, "%s\t%s", st == AG_E_TOOBIG ? "mail_too_complex" : "mail_unreadable", e.msg);
		return AG_SANDBOX_EXIT_FAIL;
	}
	int rc = AG_SANDBOX_EXIT_NOMEM;
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
		if (docmeta_set_str(o, fields[i].key, ag_mime_header(m, 0, fields[i].header)) != 0)
			goto out;
	const char *date = ag_mime_header(m, 0, "Date");
	char rfc3339[32];
	if (docmeta_set_str(o, "date", date && ag_mime_date(date, rfc3339, sizeof rfc3339) ? rfc3339 : date) != 0)
		goto out;
	size_t leaves = 0;
	for (size_t i = 0; i < ag_mime_count(m); i++) {
		const ag_mime_part *p = ag_mime_part_at(m, i);
		leaves += !p->multipart && !p->message;
	}
	if (json_object_set_new(o, "parts", json_integer((json_int_t)leaves)) != 0 || mailmeta_attachments(m, o) != 0)
		goto out;
	if (ag_mime_defects(m) > 0 && (json_object_set_new(o, "mail_defects", json_integer(ag_mime_defects(m))) != 0 ||
	                               docmeta_set_str(o, "mail_defect", ag_mime_first_defect(m)) != 0))
		goto out;
	rc = 0;
out:
	ag_mime_free(m);
	return rc;
}
