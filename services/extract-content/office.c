/*
 * office.c - which parts of a package hold the text, in which order, and
 * the element rules for each (see office.h).
 */
#include "office.h"

#include "xmltext.h"

#include "aegis/sandbox.h"

#include <libxml/tree.h>
#include <libxml/xmlreader.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zip.h>

#define OFFICE_MAX_PARTS     4096 /* slides or sheets taken from one package */
#define OFFICE_PKG_XML_BYTES (1024 * 1024)

static const char *const none[] = {NULL};
static const char *const docx_text[] = {"t", NULL};
static const char *const docx_para[] = {"p", NULL};
static const char *const docx_line[] = {"br", "cr", "tr", NULL};
static const char *const docx_tab[] = {"tab", "tc", NULL};
static const char *const docx_skip[] = {"instrText", "delText", NULL};
static const xmltext_rules docx_rules = {docx_text, docx_para, docx_line, docx_tab, none, docx_skip};

static const char *const pptx_para[] = {"p", NULL};
static const char *const pptx_line[] = {"br", "tr", NULL};
static const char *const pptx_tab[] = {"tc", NULL};
static const xmltext_rules pptx_rules = {docx_text, pptx_para, pptx_line, pptx_tab, none, none};

static const char *const odf_para[] = {"p", "h", NULL};
static const char *const odf_line[] = {"line-break", "table-row", "list-item", NULL};
static const char *const odf_tab[] = {"tab", "table-cell", NULL};
static const char *const odf_space[] = {"s", NULL};
static const char *const odf_skip[] = {"automatic-styles", "font-face-decls", "scripts", "annotation",
                                       "tracked-changes",  "forms",           NULL};
static const xmltext_rules odf_rules = {NULL, odf_para, odf_line, odf_tab, odf_space, odf_skip};

static int office_fail(FILE *err, const char *code, const char *sentence)
{
	if (err)
		fprintf(err, "%s\t%s", code, sentence);
	return AG_SANDBOX_EXIT_FAIL;
}

/* The number in "ppt/slides/slide12.xml" after `prefix`, or -1 when the name is not prefix<N>.xml. */
static long office_part_number(const char *name, const char *prefix)
{
	size_t n = strlen(prefix);
	if (strncmp(name, prefix, n) != 0)
		return -1;
	char *end = NULL;
	long v = strtol(name + n, &end, 10);
	if (end == name + n || strcmp(end, ".xml") != 0 || v < 0)
		return -1;
	return v;
}

static int office_cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;
	return (x > y) - (x < y);
}

/* Every prefix<N>.xml part in numeric order through fn. */
static int office_numbered(zip_t *z, const char *prefix, uint64_t max, const xmltext_rules *r, sink *s,
                           int (*fn)(zip_t *, const char *, uint64_t, const xmltext_rules *, sink *))
{
	long nums[OFFICE_MAX_PARTS];
	size_t n = 0;
	zip_int64_t count = zip_get_num_entries(z, 0);
	for (zip_int64_t i = 0; i < count && n < OFFICE_MAX_PARTS; i++) {
		const char *name = zip_get_name(z, (zip_uint64_t)i, 0);
		long v = name ? office_part_number(name, prefix) : -1;
		if (v >= 0)
			nums[n++] = v;
	}
	qsort(nums, n, sizeof nums[0], office_cmp_long);
	for (size_t i = 0; i < n && !sink_full(s); i++) {
		char name[256];
		snprintf(name, sizeof name, "%s%ld.xml", prefix, nums[i]);
		int rc = fn(z, name, max, r, s);
		if (rc == AG_SANDBOX_EXIT_NOMEM)
			return rc;
		sink_paragraph(s);
	}
	return 0;
}

/* --- xlsx: shared strings, then every sheet, cells by tab, rows by line --- */

typedef struct xlsx_strings {
	char **v;
	size_t n, alloc;
	size_t bytes, max_bytes;
} xlsx_strings;

static void xlsx_strings_free(xlsx_strings *ss)
{
	for (size_t i = 0; i < ss->n; i++)
		free(ss->v[i]);
	free(ss->v);
}

typedef struct xlsx_in {
	zip_file_t *f;
	uint64_t left;
} xlsx_in;

static int xlsx_read(void *ctx, char *buf, int len)
{
	xlsx_in *in = ctx;
	if (in->left == 0)
		return 0;
	if ((uint64_t)len > in->left)
		len = (int)in->left;
	zip_int64_t n = zip_fread(in->f, buf, (zip_uint64_t)len);
	if (n < 0)
		return -1;
	in->left -= (uint64_t)n;
	return (int)n;
}

static xmlTextReaderPtr xlsx_open(zip_t *z, const char *name, uint64_t max, xlsx_in *in)
{
	in->f = zip_fopen(z, name, 0);
	in->left = max;
	if (!in->f)
		return NULL;
	return xmlReaderForIO(xlsx_read, NULL, in, name, NULL,
	                      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
}

static int xlsx_load_strings(zip_t *z, uint64_t max, xlsx_strings *ss)
{
	xlsx_in in;
	xmlTextReaderPtr rd = xlsx_open(z, "xl/sharedStrings.xml", max, &in);
	if (!rd) {
		if (in.f)
			zip_fclose(in.f);
		return 0; /* no shared strings: fine */
	}
	char *cur = NULL;
	size_t cur_len = 0;
	int in_t = 0, rc = 0;
	while (xmlTextReaderRead(rd) == 1) {
		int type = xmlTextReaderNodeType(rd);
		const char *name = (const char *)xmlTextReaderConstLocalName(rd);
		if (type == XML_READER_TYPE_ELEMENT && strcmp(name, "t") == 0 && !xmlTextReaderIsEmptyElement(rd))
			in_t = 1;
		else if (type == XML_READER_TYPE_END_ELEMENT && strcmp(name, "t") == 0)
			in_t = 0;
		else if ((type == XML_READER_TYPE_TEXT || type == XML_READER_TYPE_SIGNIFICANT_WHITESPACE) && in_t) {
			const char *v = (const char *)xmlTextReaderConstValue(rd);
			size_t vl = strlen(v);
			if (ss->bytes + vl > ss->max_bytes)
				continue;
			char *p = realloc(cur, cur_len + vl + 1);
			if (!p) {
				rc = AG_SANDBOX_EXIT_NOMEM;
				break;
			}
			memcpy(p + cur_len, v, vl + 1);
			cur = p;
			cur_len += vl;
			ss->bytes += vl;
		} else if (type == XML_READER_TYPE_END_ELEMENT && strcmp(name, "si") == 0) {
			if (ss->n == ss->alloc) {
				size_t na = ss->alloc ? ss->alloc * 2 : 256;
				char **nv = realloc(ss->v, na * sizeof *nv);
				if (!nv) {
					rc = AG_SANDBOX_EXIT_NOMEM;
					break;
				}
				ss->v = nv;
				ss->alloc = na;
			}
			ss->v[ss->n++] = cur ? cur : strdup("");
			cur = NULL;
			cur_len = 0;
		}
	}
	free(cur);
	xmlFreeTextReader(rd);
	zip_fclose(in.f);
	return rc;
}

static int xlsx_sheet(zip_t *z, const char *name, uint64_t max, const xmltext_rules *r, sink *s)
{
	const xlsx_strings *ss = (const void *)r; /* office_numbered passes the strings through the rules slot */
	xlsx_in in;
	xmlTextReaderPtr rd = xlsx_open(z, name, max, &in);
	if (!rd) {
		if (in.f)
			zip_fclose(in.f);
		return 1;
	}
	bool shared = false, in_v = false, first_cell = true;
	while (xmlTextReaderRead(rd) == 1 && !sink_full(s)) {
		int type = xmlTextReaderNodeType(rd);
		const char *lname = (const char *)xmlTextReaderConstLocalName(rd);
		if (type == XML_READER_TYPE_ELEMENT && strcmp(lname, "c") == 0) {
			xmlChar *t = xmlTextReaderGetAttribute(rd, (const xmlChar *)"t");
			shared = t && strcmp((const char *)t, "s") == 0;
			xmlFree(t);
			if (!first_cell)
				sink_tab(s);
			first_cell = false;
		} else if (type == XML_READER_TYPE_ELEMENT && (strcmp(lname, "v") == 0 || strcmp(lname, "t") == 0)) {
			in_v = !xmlTextReaderIsEmptyElement(rd);
		} else if (type == XML_READER_TYPE_END_ELEMENT &&
		           (strcmp(lname, "v") == 0 || strcmp(lname, "t") == 0)) {
			in_v = false;
		} else if (type == XML_READER_TYPE_END_ELEMENT && strcmp(lname, "row") == 0) {
			sink_newline(s);
			first_cell = true;
		} else if (type == XML_READER_TYPE_TEXT && in_v) {
			const char *v = (const char *)xmlTextReaderConstValue(rd);
			if (shared) {
				char *end = NULL;
				unsigned long idx = strtoul(v, &end, 10);
				if (end != v && idx < ss->n)
					sink_str(s, ss->v[idx]);
			} else {
				sink_str(s, v);
			}
		}
	}
	xmlFreeTextReader(rd);
	zip_fclose(in.f);
	return 0;
}

static int xlsx_text(zip_t *z, uint64_t max, sink *s)
{
	xlsx_strings ss = {.max_bytes = s->max};
	int rc = xlsx_load_strings(z, max, &ss);
	if (rc == 0)
		rc = office_numbered(z, "xl/worksheets/sheet", max, (const xmltext_rules *)(const void *)&ss, s,
		                     xlsx_sheet);
	xlsx_strings_free(&ss);
	return rc;
}

/* --- EPUB: container.xml -> package document -> spine order --- */

static xmlNode *epub_child(xmlNode *n, const char *name)
{
	for (n = n ? n->children : NULL; n; n = n->next)
		if (n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0)
			return n;
	return NULL;
}

static int epub_text(zip_t *z, uint64_t max, sink *s, FILE *err)
{
	int rc = 0;
	xmlDocPtr opf = NULL;
	xmlChar *root = NULL;
	xmlDocPtr cont = xmltext_zip_doc(z, "META-INF/container.xml", OFFICE_PKG_XML_BYTES);
	xmlNode *rf = epub_child(epub_child(xmlDocGetRootElement(cont), "rootfiles"), "rootfile");
	root = rf ? xmlGetProp(rf, (const xmlChar *)"full-path") : NULL;
	if (!root) {
		rc = office_fail(err, "epub_malformed", "the EPUB has no readable META-INF/container.xml");
		goto out;
	}
	opf = xmltext_zip_doc(z, (const char *)root, OFFICE_PKG_XML_BYTES);
	xmlNode *pkg = xmlDocGetRootElement(opf);
	xmlNode *manifest = epub_child(pkg, "manifest"), *spine = epub_child(pkg, "spine");
	if (!manifest || !spine) {
		rc = office_fail(err, "epub_malformed", "the EPUB package document has no manifest or spine");
		goto out;
	}
	const char *slash = strrchr((const char *)root, '/');
	int dirlen = slash ? (int)(slash - (const char *)root + 1) : 0;
	for (xmlNode *ref = spine->children; ref && !sink_full(s); ref = ref->next) {
		if (ref->type != XML_ELEMENT_NODE || strcmp((const char *)ref->name, "itemref") != 0)
			continue;
		xmlChar *idref = xmlGetProp(ref, (const xmlChar *)"idref");
		for (xmlNode *it = manifest->children; idref && it; it = it->next) {
			if (it->type != XML_ELEMENT_NODE)
				continue;
			xmlChar *id = xmlGetProp(it, (const xmlChar *)"id");
			bool match = id && xmlStrcmp(id, idref) == 0;
			xmlFree(id);
			if (!match)
				continue;
			xmlChar *href = xmlGetProp(it, (const xmlChar *)"href");
			if (href) {
				char path[1024];
				snprintf(path, sizeof path, "%.*s%s", dirlen, (const char *)root, (const char *)href);
				xmltext_html_zip(z, path, max, s);
				sink_paragraph(s);
				xmlFree(href);
			}
			break;
		}
		xmlFree(idref);
	}
out:
	xmlFree(root);
	xmlFreeDoc(opf);
	xmlFreeDoc(cont);
	return rc;
}

int office_text(int fd, office_kind kind, uint64_t max_part, sink *s, FILE *err)
{
	int zerr = 0, rc = 0;
	int dfd = dup(fd);
	zip_t *z = NULL;
	if (dfd < 0 || lseek(dfd, 0, SEEK_SET) != 0 || !(z = zip_fdopen(dfd, ZIP_RDONLY, &zerr))) {
		if (dfd >= 0)
			close(dfd);
		return office_fail(err, "archive_corrupt", "the file is not a readable zip archive");
	}
	switch (kind) {
	case OFFICE_DOCX:
		rc = xmltext_zip(z, "word/document.xml", max_part, &docx_rules, s);
		if (rc == 1)
			rc = office_fail(err, "ooxml_malformed", "the document has no word/document.xml part");
		break;
	case OFFICE_PPTX:
		rc = office_numbered(z, "ppt/slides/slide", max_part, &pptx_rules, s, xmltext_zip);
		break;
	case OFFICE_XLSX:
		rc = xlsx_text(z, max_part, s);
		break;
	case OFFICE_ODF:
		rc = xmltext_zip(z, "content.xml", max_part, &odf_rules, s);
		if (rc == 1)
			rc = office_fail(err, "odf_malformed", "the document has no content.xml part");
		break;
	case OFFICE_EPUB:
		rc = epub_text(z, max_part, s, err);
		break;
	}
	if (rc == AG_SANDBOX_EXIT_FAIL && err && ftell(err) == 0)
		office_fail(err, "xml_malformed", "an XML part of the document is not well-formed");
	zip_discard(z);
	return rc;
}
