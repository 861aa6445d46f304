/*
 * docmeta.c - dispatch by sniffed type in the child, and the merge of its
 * JSON into the common fields in the parent (see docmeta.h).
 */
#include "docmeta.h"

#include "imgmeta.h"
#include "mailmeta.h"
#include "pdfmeta.h"
#include "pkgmeta.h"

#include "aegis/sandbox.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

bool docmeta_applies(const char *mime)
{
	return strcmp(mime, "application/pdf") == 0 || pkgmeta_kind_of(mime) != PKGMETA_NONE || imgmeta_applies(mime) ||
	       mailmeta_applies(mime);
}

int docmeta_set_str(json_t *o, const char *key, const char *v)
{
	if (!v)
		return 0;
	while (*v && isspace((unsigned char)*v))
		v++;
	size_t n = strlen(v);
	while (n > 0 && isspace((unsigned char)v[n - 1]))
		n--;
	if (n > DOCMETA_MAX_STRING) {
		n = DOCMETA_MAX_STRING;
		while (n > 0 && ((unsigned char)v[n] & 0xC0) == 0x80)
			n--; /* never cut a UTF-8 sequence */
	}
	if (n == 0)
		return 0;
	json_t *s = json_stringn(v, n); /* NULL for invalid UTF-8 too: such a property is left out */
	if (!s)
		return 0;
	return json_object_set_new(o, key, s) == 0 ? 0 : -1;
}

int docmeta_run(void *arg, int fd, FILE *out)
{
	docmeta_job *j = arg;
	j->fd = fd;
	json_t *o = json_object();
	char *errbuf = NULL;
	size_t errlen = 0;
	FILE *err = open_memstream(&errbuf, &errlen);
	int rc = AG_SANDBOX_EXIT_NOMEM;
	if (!o || !err)
		goto out;
	pkgmeta_kind kind = pkgmeta_kind_of(j->mime);
	if (strcmp(j->mime, "application/pdf") == 0)
		rc = pdfmeta_read(j->fd, o, err);
	else if (kind != PKGMETA_NONE)
		rc = pkgmeta_read(j->fd, kind, o, err);
	else if (mailmeta_applies(j->mime))
		rc = mailmeta_read(j->fd, &j->mail, o, err);
	else
		rc = imgmeta_read(j->fd, j->mime, o, err);
	fflush(err);
	if (rc == 0) {
		if (json_dumpf(o, out, JSON_COMPACT | JSON_PRESERVE_ORDER) != 0)
			rc = AG_SANDBOX_EXIT_NOMEM;
	} else if (errlen) {
		fwrite(errbuf, 1, errlen, out);
	}
out:
	if (err)
		fclose(err);
	free(errbuf);
	json_decref(o);
	return rc;
}

char *docmeta_merge(const char *common, const char *extra)
{
	char *text = NULL;
	json_t *a = json_loads(common, 0, NULL), *b = json_loads(extra, 0, NULL);
	if (json_is_object(a) && json_is_object(b) && json_object_update_missing(a, b) == 0)
		text = json_dumps(a, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(a);
	json_decref(b);
	return text;
}
