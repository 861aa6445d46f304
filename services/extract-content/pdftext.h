/*
 * pdftext.h - the text of a PDF, page by page (a form feed after each page,
 * like pdftotext), through poppler-glib. For parser children only. With
 * OCR on (ocr.h), a page without a text layer is rendered and recognised,
 * up to ocr->max_pages pages.
 */
#ifndef CONTENT_PDFTEXT_H
#define CONTENT_PDFTEXT_H

#include "ocr.h"
#include "sink.h"

#include <stdio.h>

/* 0, or AG_SANDBOX_EXIT_FAIL with "code\tsentence" written to `err`. `ocr` may be NULL (off). */
int pdftext(int fd, const ocr_opts *ocr, sink *s, FILE *err);

#endif
