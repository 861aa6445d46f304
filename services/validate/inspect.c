/*
 * inspect.c - zip, XML, PDF and image structure checks (see inspect.h).
 */
#include "inspect.h"

#include "aegis/imghdr.h"
#include "aegis/sandbox.h"

#include <libxml/parser.h>
#include <poppler.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zip.h>

#define INSPECT_XML_CHUNK  (64 * 1024)
#define INSPECT_PDF_TAIL   1024 /* %%EOF must appear in the last this many bytes */
#define INSPECT_IMAGE_HEAD (256 * 1024)

static int inspect_reject(FILE *out, const char *code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int inspect_reject(FILE *out, const char *code, const char *fmt, ...)
{
	va_list ap;
	fprintf(out, "%s\t", code);
	va_start(ap, fmt);
	vfprintf(out, fmt, ap);
	va_end(ap);
	return AG_SANDBOX_EXIT_FAIL;
}

static bool inspect_is_zip(const char *mime)
{
	return strcmp(mime, "application/zip") == 0 || strcmp(mime, "application/epub+zip") == 0 ||
	       strncmp(mime, "application/vnd.openxmlformats-officedocument.", 46) == 0 ||
	       strncmp(mime, "application/vnd.oasis.opendocument.", 35) == 0;
}

static bool inspect_is_xml(const char *mime)
{
	size_t n = strlen(mime);
	return strcmp(mime, "application/xml") == 0 || strcmp(mime, "text/xml") == 0 ||
	       (n > 4 && strcmp(mime + n - 4, "+xml") == 0);
}

static bool inspect_is_image(const char *mime)
{
	return strcmp(mime, "image/png") == 0 || strcmp(mime, "image/jpeg") == 0 || strcmp(mime, "image/gif") == 0;
}

bool inspect_applies(const char *mime)
{
	return inspect_is_zip(mime) || inspect_is_xml(mime) || inspect_is_image(mime) ||
	       strcmp(mime, "application/pdf") == 0;
}

/* --- XML: a SAX pass that stops at the first entity declaration or external subset --- */

typedef struct inspect_xml {
	const char *verdict; /* reason code once decided */
	char why[160];
	int depth;
	long long max_depth;
	xmlParserCtxtPtr ctx;
} inspect_xml;

static void inspect_xml_stop(inspect_xml *x, const char *code, const char *why)
{
	if (x->verdict)
		return;
	x->verdict = code;
	snprintf(x->why, sizeof x->why, "%s", why);
	xmlStopParser(x->ctx);
}

static void inspect_entity_decl(void *ud, const xmlChar *name, int type, const xmlChar *pub, const xmlChar *sys,
                                xmlChar *content)
{
	inspect_xml *x = ((xmlParserCtxtPtr)ud)->_private;
	inspect_xml_stop(x, sys ? "xml_external_entity" : "xml_entity_declaration",
	                 sys ? "the XML declares an external entity" : "the XML declares entities (entity expansion)");
}

static void inspect_internal_subset(void *ud, const xmlChar *name, const xmlChar *pub, const xmlChar *sys)
{
	inspect_xml *x = ((xmlParserCtxtPtr)ud)->_private;
	if (sys || pub)
		inspect_xml_stop(x, "xml_external_dtd", "the XML refers to an external DTD");
}

static void inspect_start(void *ud, const xmlChar *l, const xmlChar *p, const xmlChar *u, int nn, const xmlChar **ns,
                          int na, int nd, const xmlChar **a)
{
	inspect_xml *x = ((xmlParserCtxtPtr)ud)->_private;
	if (++x->depth > x->max_depth)
		inspect_xml_stop(x, "xml_too_deep", "the XML nests elements deeper than allowed");
}

static void inspect_end(void *ud, const xmlChar *l, const xmlChar *p, const xmlChar *u)
{
	inspect_xml *x = ((xmlParserCtxtPtr)ud)->_private;
	x->depth--;
}

typedef int (*inspect_read_fn)(void *src, char *buf, int len);

/* 0 when fine; else the verdict in x. */
static int inspect_xml_stream(inspect_read_fn rd, void *src, const char *name, inspect_xml *x)
{
	xmlSAXHandler sax;
	char buf[INSPECT_XML_CHUNK];
	memset(&sax, 0, sizeof sax);
	xmlSAXVersion(&sax, 2);
	sax.entityDecl = inspect_entity_decl;
	sax.internalSubset = inspect_internal_subset;
	sax.externalSubset = inspect_internal_subset;
	sax.startElementNs = inspect_start;
	sax.endElementNs = inspect_end;
	sax.error = NULL;
	sax.warning = NULL;
	sax.serror = NULL;
	sax.characters = NULL;
	sax.ignorableWhitespace = NULL;
	x->ctx = xmlCreatePushParserCtxt(&sax, NULL, NULL, 0, name);
	if (!x->ctx)
		return AG_SANDBOX_EXIT_NOMEM;
	x->ctx->_private = x;
	xmlCtxtUseOptions(x->ctx, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	int n;
	while (!x->verdict && (n = rd(src, buf, sizeof buf)) > 0)
		xmlParseChunk(x->ctx, buf, n, 0);
	if (!x->verdict)
		xmlParseChunk(x->ctx, NULL, 0, 1);
	if (!x->verdict && !x->ctx->wellFormed)
		inspect_xml_stop(x, "xml_malformed", "the XML is not well-formed");
	xmlFreeParserCtxt(x->ctx);
	return x->verdict ? AG_SANDBOX_EXIT_FAIL : 0;
}

static int inspect_fd_read(void *src, char *buf, int len)
{
	return (int)read(*(int *)src, buf, (size_t)len);
}

static int inspect_zip_read(void *src, char *buf, int len)
{
	return (int)zip_fread(src, buf, (zip_uint64_t)len);
}

/* --- zip --- */

static bool inspect_xml_name(const char *name)
{
	size_t n = strlen(name);
	return (n > 4 && strcmp(name + n - 4, ".xml") == 0) || (n > 5 && strcmp(name + n - 5, ".rels") == 0) ||
	       (n > 4 && strcmp(name + n - 4, ".opf") == 0);
}

static int inspect_zip(const inspect_job *j, FILE *out)
{
	int zerr = 0, rc = 0;
	int dfd = dup(j->fd);
	zip_t *z = NULL;
	if (dfd < 0 || lseek(dfd, 0, SEEK_SET) != 0 || !(z = zip_fdopen(dfd, ZIP_RDONLY | ZIP_CHECKCONS, &zerr))) {
		if (dfd >= 0)
			close(dfd);
		return inspect_reject(out, "archive_corrupt", "the file is not a readable zip archive");
	}
	zip_int64_t count = zip_get_num_entries(z, 0);
	if (count > j->lim.zip_max_entries) {
		rc = inspect_reject(out, "zip_too_many_entries",
		                    "the archive has %lld entries; at most %lld are accepted", (long long)count,
		                    j->lim.zip_max_entries);
		goto out;
	}
	unsigned long long total = 0;
	for (zip_int64_t i = 0; i < count; i++) {
		zip_stat_t st;
		if (zip_stat_index(z, (zip_uint64_t)i, 0, &st) != 0)
			continue;
		if ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) && st.encryption_method != ZIP_EM_NONE) {
			rc = inspect_reject(out, "zip_encrypted", "the archive has encrypted entries");
			goto out;
		}
		if (st.valid & ZIP_STAT_SIZE)
			total += st.size;
	}
	if (total > (unsigned long long)j->lim.zip_max_total_bytes) {
		rc = inspect_reject(out, "zip_too_large_uncompressed",
		                    "the archive expands to %llu bytes; at most %lld are accepted", total,
		                    j->lim.zip_max_total_bytes);
		goto out;
	}
	if (j->size > 0 && total / (unsigned long long)j->size > (unsigned long long)j->lim.zip_max_ratio) {
		rc = inspect_reject(out, "zip_ratio", "the archive expands %llu times; at most %lld times is accepted",
		                    total / (unsigned long long)j->size, j->lim.zip_max_ratio);
		goto out;
	}
	for (zip_int64_t i = 0; i < count; i++) {
		zip_stat_t st;
		if (zip_stat_index(z, (zip_uint64_t)i, 0, &st) != 0 || !(st.valid & ZIP_STAT_NAME) || st.size == 0 ||
		    !inspect_xml_name(st.name))
			continue; /* empty placeholder parts (LibreOffice's Configurations2/...) are no XML documents */
		const char *name = st.name;
		zip_file_t *f = zip_fopen_index(z, (zip_uint64_t)i, 0);
		if (!f) {
			rc = inspect_reject(out, "archive_corrupt", "an entry of the archive cannot be read");
			goto out;
		}
		inspect_xml x = {.max_depth = j->lim.xml_max_depth};
		rc = inspect_xml_stream(inspect_zip_read, f, name, &x);
		zip_fclose(f);
		if (rc != 0) {
			rc = inspect_reject(out, x.verdict ? x.verdict : "xml_malformed", "%s (in %.100s)", x.why,
			                    name);
			goto out;
		}
	}
out:
	zip_discard(z);
	return rc;
}

/* --- PDF --- */

static int inspect_pdf(const inspect_job *j, FILE *out)
{
	char tail[INSPECT_PDF_TAIL + 1];
	off_t from = j->size > INSPECT_PDF_TAIL ? j->size - INSPECT_PDF_TAIL : 0;
	ssize_t n = pread(j->fd, tail, sizeof tail - 1, from);
	if (n <= 0)
		return inspect_reject(out, "pdf_corrupt", "the PDF cannot be read");
	tail[n] = '\0';
	if (!memmem(tail, (size_t)n, "%%EOF", 5))
		return inspect_reject(out, "pdf_truncated", "the PDF has no end-of-file marker: it is truncated");
	GError *gerr = NULL;
	int dfd = dup(j->fd);
	if (dfd < 0)
		return inspect_reject(out, "pdf_corrupt", "the PDF cannot be read");
	PopplerDocument *doc = poppler_document_new_from_fd(dfd, NULL, &gerr);
	if (!doc) {
		bool enc = gerr && gerr->domain == POPPLER_ERROR && gerr->code == POPPLER_ERROR_ENCRYPTED;
		g_clear_error(&gerr);
		return enc ? inspect_reject(out, "pdf_encrypted", "the PDF is encrypted and needs a password")
		           : inspect_reject(out, "pdf_corrupt", "the PDF is damaged and cannot be read");
	}
	int pages = poppler_document_get_n_pages(doc);
	g_object_unref(doc);
	if (pages <= 0)
		return inspect_reject(out, "pdf_corrupt", "the PDF has no pages");
	return 0;
}

/* --- images --- */

bool inspect_image_size(const unsigned char *b, size_t len, uint32_t *w, uint32_t *h)
{
	return ag_imghdr_size(b, len, w, h);
}

static int inspect_image(const inspect_job *j, FILE *out)
{
	unsigned char *buf = malloc(INSPECT_IMAGE_HEAD);
	if (!buf)
		return AG_SANDBOX_EXIT_NOMEM;
	ssize_t n = pread(j->fd, buf, INSPECT_IMAGE_HEAD, 0);
	uint32_t w = 0, h = 0;
	bool found = n > 0 && inspect_image_size(buf, (size_t)n, &w, &h);
	free(buf);
	if (!found)
		return inspect_reject(out, "image_corrupt", "the image header cannot be read");
	if (w == 0 || h == 0)
		return inspect_reject(out, "image_corrupt", "the image has no pixels");
	if ((unsigned long long)w * h > (unsigned long long)j->lim.max_pixels)
		return inspect_reject(out, "image_too_many_pixels",
		                      "the image has %u x %u pixels; at most %lld pixels are accepted", w, h,
		                      j->lim.max_pixels);
	return 0;
}

int inspect_run(void *arg, int fd, FILE *out)
{
	inspect_job *j = arg;
	j->fd = fd;
	int rc = 0;
	if (inspect_is_zip(j->mime)) {
		rc = inspect_zip(j, out);
	} else if (inspect_is_xml(j->mime)) {
		inspect_xml x = {.max_depth = j->lim.xml_max_depth};
		if (lseek(fd, 0, SEEK_SET) != 0)
			return inspect_reject(out, "io", "cannot read the file");
		rc = inspect_xml_stream(inspect_fd_read, &fd, "document.xml", &x);
		if (rc != 0)
			return x.verdict ? inspect_reject(out, x.verdict, "%s", x.why) : rc;
	} else if (strcmp(j->mime, "application/pdf") == 0) {
		rc = inspect_pdf(j, out);
	} else if (inspect_is_image(j->mime)) {
		rc = inspect_image(j, out);
	}
	if (rc == 0)
		fputs("ok", out);
	return rc;
}
