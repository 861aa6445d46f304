/*
 * xmltext.c - streaming XML and DOM HTML walkers that feed a sink.
 */
#include "xmltext.h"

#include "aegis/sandbox.h"

#include <libxml/HTMLparser.h>
#include <libxml/parser.h>
#include <libxml/xmlreader.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define XMLTEXT_OPTS (XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOCDATA)

static const char *const xmltext_none[] = {NULL};
const xmltext_rules xmltext_plain_rules = {NULL, xmltext_none, NULL, xmltext_none, xmltext_none, xmltext_none};

static bool xmltext_in(const char *const *list, const char *name)
{
	if (!list)
		return true; /* NULL line list = every element */
	for (; *list; list++)
		if (strcmp(*list, name) == 0)
			return true;
	return false;
}

static bool xmltext_listed(const char *const *list, const char *name)
{
	return list && xmltext_in(list, name);
}

static int xmltext_reader(xmlTextReaderPtr rd, const xmltext_rules *r, sink *s)
{
	int depth_text = 0, skip_depth = -1, ret;
	if (!rd)
		return AG_SANDBOX_EXIT_NOMEM;
	while ((ret = xmlTextReaderRead(rd)) == 1 && !sink_full(s)) {
		int type = xmlTextReaderNodeType(rd);
		int depth = xmlTextReaderDepth(rd);
		const char *name = (const char *)xmlTextReaderConstLocalName(rd);
		if (!name)
			name = "";
		if (skip_depth >= 0) {
			if (type == XML_READER_TYPE_END_ELEMENT && depth == skip_depth)
				skip_depth = -1;
			continue;
		}
		switch (type) {
		case XML_READER_TYPE_ELEMENT: {
			bool empty = xmlTextReaderIsEmptyElement(rd);
			if (xmltext_listed(r->skip, name)) {
				if (!empty)
					skip_depth = depth;
				break;
			}
			if (xmltext_listed(r->tab, name))
				sink_tab(s);
			if (xmltext_listed(r->space, name))
				sink_space(s);
			if (r->text && xmltext_in(r->text, name) && !empty)
				depth_text++;
			if (empty) {
				if (xmltext_listed(r->paragraph, name))
					sink_paragraph(s);
				else if (r->line ? xmltext_in(r->line, name) : false)
					sink_newline(s);
			}
			break;
		}
		case XML_READER_TYPE_END_ELEMENT:
			if (r->text && xmltext_in(r->text, name) && depth_text > 0)
				depth_text--;
			if (xmltext_listed(r->paragraph, name))
				sink_paragraph(s);
			else if (r->line == NULL || xmltext_in(r->line, name))
				sink_newline(s);
			break;
		case XML_READER_TYPE_TEXT:
		case XML_READER_TYPE_CDATA:
		case XML_READER_TYPE_SIGNIFICANT_WHITESPACE:
			if (!r->text || depth_text > 0) {
				const char *v = (const char *)xmlTextReaderConstValue(rd);
				if (v)
					sink_str(s, v);
			}
			break;
		default:
			break;
		}
	}
	xmlFreeTextReader(rd);
	return ret < 0 ? AG_SANDBOX_EXIT_FAIL : 0;
}

int xmltext_fd(int fd, const xmltext_rules *r, sink *s)
{
	return xmltext_reader(xmlReaderForFd(fd, NULL, NULL, XMLTEXT_OPTS), r, s);
}

typedef struct xmltext_zin {
	zip_file_t *f;
	uint64_t left;
} xmltext_zin;

static int xmltext_zip_read(void *ctx, char *buf, int len)
{
	xmltext_zin *in = ctx;
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

static int xmltext_zip_close(void *ctx)
{
	xmltext_zin *in = ctx;
	zip_fclose(in->f);
	in->f = NULL;
	return 0;
}

int xmltext_zip(zip_t *z, const char *name, uint64_t max, const xmltext_rules *r, sink *s)
{
	xmltext_zin in = {zip_fopen(z, name, 0), max};
	if (!in.f)
		return 1;
	xmlTextReaderPtr rd = xmlReaderForIO(xmltext_zip_read, xmltext_zip_close, &in, name, NULL, XMLTEXT_OPTS);
	if (!rd) {
		zip_fclose(in.f);
		return AG_SANDBOX_EXIT_NOMEM;
	}
	return xmltext_reader(rd, r, s);
}

/* --- HTML --- */

static const char *const html_skip[] = {"script", "style", "head", "template", "noscript", "svg", NULL};
static const char *const html_block[] = {
        "p",  "div", "br",         "li",         "tr",      "h1",     "h2",     "h3",    "h4",   "h5",
        "h6", "pre", "blockquote", "section",    "article", "header", "footer", "table", "ul",   "ol",
        "dt", "dd",  "figure",     "figcaption", "hr",      "title",  "aside",  "nav",   "main", NULL};

static void xmltext_html_walk(xmlNode *n, sink *s, int depth)
{
	for (; n && !sink_full(s); n = n->next) {
		if (n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) {
			sink_str(s, (const char *)n->content);
		} else if (n->type == XML_ELEMENT_NODE) {
			const char *name = (const char *)n->name;
			bool cell = strcasecmp(name, "td") == 0 || strcasecmp(name, "th") == 0;
			bool skip = false, block = false;
			for (const char *const *p = html_skip; *p; p++)
				skip |= strcasecmp(name, *p) == 0;
			if (skip)
				continue;
			for (const char *const *p = html_block; *p; p++)
				block |= strcasecmp(name, *p) == 0;
			if (cell)
				sink_tab(s);
			if (depth < 512) /* libxml2 caps depth at 256 already; a second guard for the recursion */
				xmltext_html_walk(n->children, s, depth + 1);
			if (block)
				sink_newline(s);
		}
	}
}

static int xmltext_html_doc(htmlDocPtr doc, sink *s)
{
	if (!doc)
		return AG_SANDBOX_EXIT_FAIL;
	xmltext_html_walk(xmlDocGetRootElement(doc), s, 0);
	xmlFreeDoc(doc);
	return 0;
}

#define XMLTEXT_HTML_OPTS (HTML_PARSE_NONET | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING | HTML_PARSE_RECOVER)

int xmltext_html_fd(int fd, sink *s)
{
	return xmltext_html_doc(htmlReadFd(fd, NULL, NULL, XMLTEXT_HTML_OPTS), s);
}

/* Read a whole zip entry, at most max bytes; malloc'd. */
static char *xmltext_zip_slurp(zip_t *z, const char *name, uint64_t max, size_t *len)
{
	zip_stat_t st;
	if (zip_stat(z, name, 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE) || st.size > max)
		return NULL;
	zip_file_t *f = zip_fopen(z, name, 0);
	if (!f)
		return NULL;
	char *buf = malloc(st.size + 1);
	zip_int64_t n = buf ? zip_fread(f, buf, st.size) : -1;
	zip_fclose(f);
	if (n < 0) {
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	*len = (size_t)n;
	return buf;
}

int xmltext_html_zip(zip_t *z, const char *name, uint64_t max, sink *s)
{
	size_t len = 0;
	char *buf = xmltext_zip_slurp(z, name, max, &len);
	if (!buf)
		return 1;
	int rc = xmltext_html_doc(htmlReadMemory(buf, (int)len, name, "UTF-8", XMLTEXT_HTML_OPTS), s);
	free(buf);
	return rc;
}

int xmltext_html_mem(const char *buf, size_t len, sink *s)
{
	if (len > INT_MAX)
		len = INT_MAX;
	return xmltext_html_doc(htmlReadMemory(buf, (int)len, NULL, "UTF-8", XMLTEXT_HTML_OPTS), s);
}

xmlDocPtr xmltext_zip_doc(zip_t *z, const char *name, uint64_t max)
{
	size_t len = 0;
	char *buf = xmltext_zip_slurp(z, name, max, &len);
	if (!buf)
		return NULL;
	xmlDocPtr doc = xmlReadMemory(buf, (int)len, name, NULL, XMLTEXT_OPTS);
	free(buf);
	return doc;
}
