/*
 * pdfmeta.h - PDF document information through poppler-glib, for the
 * sandboxed child of extract-metadata (docmeta.h): pages, title, author,
 * subject, keywords, creator, producer, created and modified (RFC 3339,
 * UTC), pdf_version and encrypted.
 */
#ifndef METADATA_PDFMETA_H
#define METADATA_PDFMETA_H

#include <jansson.h>
#include <stdio.h>

/* Fill `o` from the PDF open on fd (not consumed). 0, or AG_SANDBOX_EXIT_FAIL with "code\tsentence" in err. */
int pdfmeta_read(int fd, json_t *o, FILE *err);

/* A GLib date-time as RFC 3339 in UTC ("2024-05-01T12:00:00Z") into buf; false when it does not fit. */
struct _GDateTime;
int pdfmeta_rfc3339(struct _GDateTime *dt, char *buf, size_t len);

#endif
