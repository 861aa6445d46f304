/*
 * pkgmeta.h - core properties of office packages, for the sandboxed child
 * of extract-metadata (docmeta.h), read with libzip and libxml2 (network
 * off, entities never substituted, parts of at most PKGMETA_PART_BYTES):
 *
 *   OOXML (docx, xlsx, pptx): docProps/core.xml (title, subject, author =
 *     dc:creator, keywords, description, last_modified_by, created,
 *     modified) and docProps/app.xml (application, pages, words,
 *     characters, paragraphs, slides);
 *   ODF (odt, ods, odp): meta.xml (the same names: dc:*, meta:generator ->
 *     application, meta:initial-creator -> author, meta:document-statistic
 *     counts).
 *
 * Dates that carry a zone are written as RFC 3339 in UTC; zone-less ones
 * (common in ODF) as "YYYY-MM-DDTHH:MM:SS", local time of an unknown zone.
 * A package without these parts has no properties: not an error.
 */
#ifndef METADATA_PKGMETA_H
#define METADATA_PKGMETA_H

#include <jansson.h>
#include <stdio.h>

#define PKGMETA_PART_BYTES (1024 * 1024) /* a properties part larger than this is left out */

typedef enum { PKGMETA_NONE, PKGMETA_OOXML, PKGMETA_ODF } pkgmeta_kind;

pkgmeta_kind pkgmeta_kind_of(const char *mime);

/* Fill `o` from the package open on fd (not consumed). 0, or AG_SANDBOX_EXIT_FAIL with "code\tsentence" in err. */
int pkgmeta_read(int fd, pkgmeta_kind kind, json_t *o, FILE *err);

/* An ISO 8601 / W3CDTF date as described above into buf; false when `s` is no such date. */
int pkgmeta_date(const char *s, char *buf, size_t len);

#endif
