/*
 * office.h - text of zip-packaged documents, for parser children: OOXML
 * (docx, xlsx, pptx), ODF (odt, ods, odp) and EPUB. Every XML part is
 * streamed (xmltext.h) and read for at most `max_part` uncompressed bytes;
 * validate has already checked the archive against the zip-bomb limits.
 */
#ifndef CONTENT_OFFICE_H
#define CONTENT_OFFICE_H

#include "sink.h"

#include <stdint.h>

typedef enum { OFFICE_DOCX, OFFICE_XLSX, OFFICE_PPTX, OFFICE_ODF, OFFICE_EPUB } office_kind;

/* 0, or AG_SANDBOX_EXIT_FAIL with "code\tsentence" written to `err` when the package cannot be read. */
int office_text(int fd, office_kind kind, uint64_t max_part, sink *s, FILE *err);

#endif
