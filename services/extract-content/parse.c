/*
 * parse.c - dispatch by sniffed type to the format readers, in the child.
 */
#include "parse.h"

#include "extract.h"
#include "mailtext.h"
#include "office.h"
#include "pdftext.h"
#include "sink.h"
#include "xmltext.h"

#include "aegis/sandbox.h"

#include <stdlib.h>
#include <string.h>

typedef enum { P_TEXT, P_XML, P_HTML, P_PDF, P_OFFICE, P_MAIL, P_IMAGE } parse_family;

static const struct parse_type {
	const char *mime;
	parse_family family;
	office_kind kind;
} parse_types[] = {
        {"text/plain", P_TEXT, 0},
        {"text/markdown", P_TEXT, 0},
        {"text/x-markdown", P_TEXT, 0},
        {"text/csv", P_TEXT, 0},
        {"application/csv", P_TEXT, 0},
        {"text/tab-separated-values", P_TEXT, 0},
        {"application/json", P_TEXT, 0},
        {"text/x-tex", P_TEXT, 0},
        {"text/rtf", P_TEXT, 0},
        {"message/rfc822", P_MAIL, 0},
        {"application/xml", P_XML, 0},
        {"text/xml", P_XML, 0},
        {"image/svg+xml", P_XML, 0},
        {"text/html", P_HTML, 0},
        {"application/xhtml+xml", P_HTML, 0},
        {"application/pdf", P_PDF, 0},
        {"application/vnd.openxmlformats-officedocument.wordprocessingml.document", P_OFFICE, OFFICE_DOCX},
        {"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", P_OFFICE, OFFICE_XLSX},
        {"application/vnd.openxmlformats-officedocument.presentationml.presentation", P_OFFICE, OFFICE_PPTX},
        {"application/vnd.oasis.opendocument.text", P_OFFICE, OFFICE_ODF},
        {"application/vnd.oasis.opendocument.spreadsheet", P_OFFICE, OFFICE_ODF},
        {"application/vnd.oasis.opendocument.presentation", P_OFFICE, OFFICE_ODF},
        {"application/epub+zip", P_OFFICE, OFFICE_EPUB},
};

static const struct parse_type *parse_find(const char *mime)
{
	for (size_t i = 0; i < sizeof parse_types / sizeof parse_types[0]; i++)
		if (strcmp(mime, parse_types[i].mime) == 0)
			return &parse_types[i];
	return NULL;
}

bool parse_supported(const char *mime, const ocr_opts *ocr)
{
	return parse_find(mime) != NULL || (ocr && ocr->enabled && ocr_image_type(mime));
}

/* An image, through OCR. */
static int parse_image(const parse_job *j, sink *s, FILE *err)
{
	ocr_engine *e = ocr_open(&j->ocr, err);
	if (!e)
		return AG_SANDBOX_EXIT_FAIL;
	int rc = ocr_image_fd(e, j->fd, s, err);
	ocr_close(e);
	return rc;
}

/* Plain text: the charset-detecting two-pass reader, its output as is. */
static int parse_text(const parse_job *j, FILE *out)
{
	extract_text t = {0};
	ag_err err = {0};
	if (extract_text_fd(j->fd, j->max_text, NULL, NULL, &t, &err) != AG_OK) {
		fputc('\0', out);
		fprintf(out, "io\t%s", err.msg);
		return err.code == AG_E_NOMEM ? AG_SANDBOX_EXIT_NOMEM : AG_SANDBOX_EXIT_FAIL;
	}
	fwrite(t.text, 1, t.len, out);
	fputc('\0', out);
	fprintf(out, "%s\t%llu\t%d\t0", charset_name(t.charset), (unsigned long long)t.dropped, t.truncated ? 1 : 0);
	extract_text_free(&t);
	return 0;
}

int parse_run(void *arg, int fd, FILE *out)
{
	parse_job *j = arg;
	j->fd = fd;
	const struct parse_type *t = parse_find(j->mime);
	char *errbuf = NULL;
	size_t errlen = 0;
	FILE *err = open_memstream(&errbuf, &errlen);
	sink s;
	int rc;

	bool image = !t && j->ocr.enabled && ocr_image_type(j->mime);
	if ((!t && !image) || !err) {
		fputc('\0', out);
		fprintf(out, "unsupported_format\ttext cannot be extracted from %s files", j->mime);
		return AG_SANDBOX_EXIT_FAIL;
	}
	if (t && t->family == P_TEXT) {
		fclose(err);
		free(errbuf);
		return parse_text(j, out);
	}
	sink_init(&s, out, j->max_text);
	switch (image ? P_IMAGE : t->family) {
	case P_IMAGE:
		rc = parse_image(j, &s, err);
		break;
	case P_XML:
		rc = xmltext_fd(j->fd, &xmltext_plain_rules, &s);
		if (rc == AG_SANDBOX_EXIT_FAIL)
			fprintf(err, "xml_malformed\tthe XML document is not well-formed");
		break;
	case P_HTML:
		rc = xmltext_html_fd(j->fd, &s);
		if (rc == AG_SANDBOX_EXIT_FAIL)
			fprintf(err, "html_malformed\tthe HTML document cannot be parsed");
		break;
	case P_PDF:
		rc = pdftext(j->fd, &j->ocr, &s, err);
		break;
	case P_MAIL:
		rc = mailtext_fd(j->fd, &j->mail, &s, err);
		break;
	default:
		rc = office_text(j->fd, t->kind, j->max_part, &s, err);
		break;
	}
	if (rc == 0) {
		rc = sink_finish(&s, "utf-8");
	} else {
		fflush(err);
		fputc('\0', out);
		fwrite(errbuf, 1, errlen, out);
	}
	fclose(err);
	free(errbuf);
	return rc;
}
