/*
 * pkgmeta.c - OOXML and ODF core properties (see pkgmeta.h). The parts are
 * small: each is read whole (bounded) and walked as a tree, elements and
 * attributes matched on local names through one table per part.
 */
#include "pkgmeta.h"

#include "docmeta.h"

#include "aegis/sandbox.h"

#include <glib.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zip.h>

typedef enum { PM_STR, PM_INT, PM_DATE } pkgmeta_type;

typedef struct pkgmeta_field {
	const char *name; /* local name of the element (or, for ODF statistics, the attribute) */
	const char *key;  /* JSON key */
	pkgmeta_type type;
} pkgmeta_field;

static const pkgmeta_field core_fields[] = {
        {"title", "title", PM_STR},
        {"subject", "subject", PM_STR},
        {"creator", "author", PM_STR},
        {"initial-creator", "author", PM_STR},
        {"keywords", "keywords", PM_STR},
        {"keyword", "keywords", PM_STR},
        {"description", "description", PM_STR},
        {"lastModifiedBy", "last_modified_by", PM_STR},
        {"created", "created", PM_DATE},
        {"creation-date", "created", PM_DATE},
        {"modified", "modified", PM_DATE},
        {"date", "modified", PM_DATE},
        {"Application", "application", PM_STR},
        {"generator", "application", PM_STR},
        {"Pages", "pages", PM_INT},
        {"Words", "words", PM_INT},
        {"Characters", "characters", PM_INT},
        {"Paragraphs", "paragraphs", PM_INT},
        {"Slides", "slides", PM_INT},
        {NULL, NULL, 0},
};

/* ODF meta:document-statistic attributes. */
static const pkgmeta_field odf_stats[] = {
        {"page-count", "pages", PM_INT},           {"word-count", "words", PM_INT},
        {"character-count", "characters", PM_INT}, {"paragraph-count", "paragraphs", PM_INT},
        {"table-count", "tables", PM_INT},         {NULL, NULL, 0},
};

pkgmeta_kind pkgmeta_kind_of(const char *mime)
{
	if (strncmp(mime, "application/vnd.openxmlformats-officedocument.", 46) == 0)
		return PKGMETA_OOXML;
	if (strncmp(mime, "application/vnd.oasis.opendocument.", 35) == 0)
		return PKGMETA_ODF;
	return PKGMETA_NONE;
}

int pkgmeta_date(const char *s, char *buf, size_t len)
{
	int y, mo, d, h, mi, sec, n = 0;
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || n != 19)
		return 0;
	const char *rest = s + n;
	if (*rest == '.')
		for (rest++; *rest >= '0' && *rest <= '9'; rest++) {
		}
	if (*rest == '\0') /* no zone: keep the wall-clock reading */
		return (size_t)snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d", y, mo, d, h, mi, sec) < len;
	GDateTime *dt = g_date_time_new_from_iso8601(s, NULL);
	if (!dt)
		return 0;
	GDateTime *utc = g_date_time_to_utc(dt);
	gchar *f = utc ? g_date_time_format(utc, "%Y-%m-%dT%H:%M:%SZ") : NULL;
	int ok = f && (size_t)snprintf(buf, len, "%s", f) < len;
	g_free(f);
	if (utc)
		g_date_time_unref(utc);
	g_date_time_unref(dt);
	return ok;
}

static int pkgmeta_set(json_t *o, const pkgmeta_field *f, const char *v)
{
	if (json_object_get(o, f->key))
		return 0; /* the first one wins (initial-creator before a later creator) */
	if (f->type == PM_INT) {
		char *end = NULL;
		long long n = strtoll(v, &end, 10);
		if (end == v || *end != '\0' || n < 0)
			return 0;
		return json_object_set_new(o, f->key, json_integer(n)) == 0 ? 0 : -1;
	}
	if (f->type == PM_DATE) {
		char buf[64];
		return pkgmeta_date(v, buf, sizeof buf) ? docmeta_set_str(o, f->key, buf) : 0;
	}
	return docmeta_set_str(o, f->key, v);
}

static const pkgmeta_field *pkgmeta_find(const pkgmeta_field *t, const char *name)
{
	for (; t->name; t++)
		if (strcmp(t->name, name) == 0)
			return t;
	return NULL;
}

static int pkgmeta_walk(xmlNode *n, json_t *o, int depth)
{
	int bad = 0;
	for (; n && depth < 16 && !bad; n = n->next) {
		if (n->type != XML_ELEMENT_NODE)
			continue;
		const char *name = (const char *)n->name;
		const pkgmeta_field *f = pkgmeta_find(core_fields, name);
		if (f) {
			xmlChar *v = xmlNodeGetContent(n);
			if (v)
				bad |= pkgmeta_set(o, f, (const char *)v);
			xmlFree(v);
			continue;
		}
		if (strcmp(name, "document-statistic") == 0) {
			for (xmlAttr *a = n->properties; a && !bad; a = a->next) {
				const pkgmeta_field *sf = pkgmeta_find(odf_stats, (const char *)a->name);
				xmlChar *v = sf ? xmlNodeListGetString(n->doc, a->children, 1) : NULL;
				if (v)
					bad |= pkgmeta_set(o, sf, (const char *)v);
				xmlFree(v);
			}
			continue;
		}
		bad |= pkgmeta_walk(n->children, o, depth + 1);
	}
	return bad;
}

/* Parse one part into `o`: 0 (also when the part is missing or unreadable), -1 on OOM. */
static int pkgmeta_part(zip_t *z, const char *name, json_t *o)
{
	zip_stat_t st;
	if (zip_stat(z, name, 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE) || st.size == 0 ||
	    st.size > PKGMETA_PART_BYTES)
		return 0;
	char *buf = malloc((size_t)st.size);
	if (!buf)
		return -1;
	zip_file_t *f = zip_fopen(z, name, 0);
	zip_int64_t got = f ? zip_fread(f, buf, st.size) : -1;
	if (f)
		zip_fclose(f);
	int rc = 0;
	if (got > 0) {
		/* no XML_PARSE_NOENT (entities stay unexpanded), no DTD loading, no network */
		xmlDocPtr doc = xmlReadMemory(buf, (int)got, name, NULL,
		                              XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
		if (doc)
			rc = pkgmeta_walk(xmlDocGetRootElement(doc), o, 0);
		xmlFreeDoc(doc);
	}
	free(buf);
	return rc;
}

int pkgmeta_read(int fd, pkgmeta_kind kind, json_t *o, FILE *err)
{
	int zerr = 0, rc = 0;
	int dfd = dup(fd);
	zip_t *z = NULL;
	if (dfd < 0 || lseek(dfd, 0, SEEK_SET) != 0 || !(z = zip_fdopen(dfd, ZIP_RDONLY, &zerr))) {
		if (dfd >= 0)
			close(dfd);
		fprintf(err, "archive_corrupt\tthe file is not a readable zip archive");
		return AG_SANDBOX_EXIT_FAIL;
	}
	if (kind == PKGMETA_OOXML)
		rc = pkgmeta_part(z, "docProps/core.xml", o) | pkgmeta_part(z, "docProps/app.xml", o);
	else
		rc = pkgmeta_part(z, "meta.xml", o);
	zip_discard(z);
	return rc ? AG_SANDBOX_EXIT_NOMEM : 0;
}
