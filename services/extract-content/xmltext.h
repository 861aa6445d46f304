/*
 * xmltext.h - text out of XML and HTML, for parser children (sink.h).
 *
 * XML is read with libxml2's streaming reader (memory stays flat however
 * large the part), with the network off and entities never substituted
 * (validate has already rejected documents that declare any). Which
 * elements hold text and which ones break lines is a table per format,
 * matched on local names. HTML goes through libxml2's HTML parser; script,
 * style, template and the head are skipped, block elements break lines.
 */
#ifndef CONTENT_XMLTEXT_H
#define CONTENT_XMLTEXT_H

#include "sink.h"

#include <stdbool.h>
#include <zip.h>

typedef struct xmltext_rules {
	const char *const *text;      /* only text inside these elements counts; NULL = all text */
	const char *const *paragraph; /* a paragraph break after these */
	const char *const *line;      /* a line break after these */
	const char *const *tab;       /* a tab before these (table cells) */
	const char *const *space;     /* a space for these (ODF text:s) */
	const char *const *skip;      /* whole subtrees left out */
} xmltext_rules;

extern const xmltext_rules xmltext_plain_rules; /* any XML: all text, a line break after every element */

/* Returns 0, or AG_SANDBOX_EXIT_FAIL with a "code\tsentence" line written to `err` (NULL ok) when the XML is not
 * well-formed. */
int xmltext_fd(int fd, const xmltext_rules *r, sink *s);
/* The same for the zip entry `name` (at most `max` uncompressed bytes are read). 1 when there is no such entry. */
int xmltext_zip(zip_t *z, const char *name, uint64_t max, const xmltext_rules *r, sink *s);

/* HTML from a file, or from a zip entry (EPUB chapters): 0, 1 when the entry is missing, AG_SANDBOX_EXIT_FAIL. */
int xmltext_html_fd(int fd, sink *s);
int xmltext_html_zip(zip_t *z, const char *name, uint64_t max, sink *s);
/* HTML held in memory as UTF-8 (an e-mail part): 0 or AG_SANDBOX_EXIT_FAIL. */
int xmltext_html_mem(const char *buf, size_t len, sink *s);

/* An XML part of a zip read whole (at most `max` bytes) and parsed, network off, no entities: for small parts
 * (EPUB container and package files). NULL when missing, too big or not well-formed; xmlFreeDoc. */
struct _xmlDoc *xmltext_zip_doc(zip_t *z, const char *name, uint64_t max);

#endif
