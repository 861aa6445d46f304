/*
 * pdfmeta.c - poppler-glib document properties (see pdfmeta.h).
 */
#include "pdfmeta.h"

#include "docmeta.h"

#include "aegis/sandbox.h"

#include <poppler.h>
#include <unistd.h>

int pdfmeta_rfc3339(GDateTime *dt, char *buf, size_t len)
{
	GDateTime *utc = g_date_time_to_utc(dt);
	gchar *s = utc ? g_date_time_format(utc, "%Y-%m-%dT%H:%M:%SZ") : NULL;
	int ok = s && (size_t)snprintf(buf, len, "%s", s) < len;
	g_free(s);
	if (utc)
		g_date_time_unref(utc);
	return ok;
}

static int pdfmeta_date(json_t *o, const char *key, GDateTime *dt)
{
	char buf[64];
	int rc = 0;
	if (dt && pdfmeta_rfc3339(dt, buf, sizeof buf))
		rc = docmeta_set_str(o, key, buf);
	if (dt)
		g_date_time_unref(dt);
	return rc;
}

/* Set o[key] from a g_malloc'd string and free it. */
static int pdfmeta_take(json_t *o, const char *key, gchar *v)
{
	int rc = docmeta_set_str(o, key, v);
	g_free(v);
	return rc;
}

int pdfmeta_read(int fd, json_t *o, FILE *err)
{
	GError *gerr = NULL;
	int dfd = dup(fd);
	if (dfd < 0) {
		fprintf(err, "io\tcannot duplicate the file descriptor");
		return AG_SANDBOX_EXIT_FAIL;
	}
	PopplerDocument *doc = poppler_document_new_from_fd(dfd, NULL, &gerr); /* owns dfd, even on failure */
	if (!doc) {
		bool enc = gerr && gerr->domain == POPPLER_ERROR && gerr->code == POPPLER_ERROR_ENCRYPTED;
		fprintf(err, "%s\t%s", enc ? "pdf_encrypted" : "pdf_corrupt",
		        enc ? "the PDF is encrypted and needs a password" : "the PDF cannot be read");
		g_clear_error(&gerr);
		return AG_SANDBOX_EXIT_FAIL;
	}
	int bad = json_object_set_new(o, "pages", json_integer(poppler_document_get_n_pages(doc)));
	bad |= pdfmeta_take(o, "title", poppler_document_get_title(doc));
	bad |= pdfmeta_take(o, "author", poppler_document_get_author(doc));
	bad |= pdfmeta_take(o, "subject", poppler_document_get_subject(doc));
	bad |= pdfmeta_take(o, "keywords", poppler_document_get_keywords(doc));
	bad |= pdfmeta_take(o, "creator", poppler_document_get_creator(doc));
	bad |= pdfmeta_take(o, "producer", poppler_document_get_producer(doc));
	bad |= pdfmeta_date(o, "created", poppler_document_get_creation_date_time(doc));
	bad |= pdfmeta_date(o, "modified", poppler_document_get_modification_date_time(doc));
	guint major = 0, minor = 0;
	poppler_document_get_pdf_version(doc, &major, &minor);
	char version[32];
	snprintf(version, sizeof version, "%u.%u", major, minor);
	bad |= docmeta_set_str(o, "pdf_version", version);
	/* It opened without a password, so an encryption dictionary here can only carry an owner password, whose
	 * restrictions poppler reports; an encrypted file granting every permission reads as not encrypted. */
	PopplerPermissions perm = poppler_document_get_permissions(doc);
	bad |= json_object_set_new(o, "encrypted", json_boolean(perm != POPPLER_PERMISSIONS_FULL));
	g_object_unref(doc);
	return bad ? AG_SANDBOX_EXIT_NOMEM : 0;
}
