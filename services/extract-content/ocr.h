/*
 * ocr.h - optical character recognition with Tesseract (its C API and
 * Leptonica), for parser children only: images (PNG, JPEG, TIFF) whole,
 * and PDF pages that have no text layer, rendered by poppler + cairo at
 * OCR_DPI first. Off unless OCR_ENABLED; OCR_LANG names the trained data
 * (tesseract-ocr-<lang> packages). Tesseract runs single-threaded
 * (OMP_THREAD_LIMIT=1) so the sandbox's CPU limit means what it says.
 */
#ifndef CONTENT_OCR_H
#define CONTENT_OCR_H

#include "sink.h"

#include <stdbool.h>
#include <stdio.h>

#define OCR_MAX_RENDER_PIXELS (40LL * 1000 * 1000)  /* a rendered PDF page is scaled down to at most this many */
#define OCR_MAX_IMAGE_BYTES   (256LL * 1024 * 1024) /* an image file larger than this is not read */

typedef struct ocr_opts {
	bool enabled;
	const char *lang;    /* "eng", "deu+eng" */
	long long dpi;       /* PDF page rendering */
	long long max_pages; /* PDF pages OCR'd per document */
} ocr_opts;

/* A type OCR reads as an image. */
bool ocr_image_type(const char *mime);

typedef struct ocr_engine ocr_engine;

/* Start Tesseract with o->lang: NULL with "ocr_unavailable\tsentence" in err when the language data is missing. */
ocr_engine *ocr_open(const ocr_opts *o, FILE *err);
void ocr_close(ocr_engine *e); /* NULL ok */

/* Recognise an image file (fd, from offset 0) into s: 0, or AG_SANDBOX_EXIT_FAIL / _NOMEM with "code\tsentence". */
int ocr_image_fd(ocr_engine *e, int fd, sink *s, FILE *err);

/* Recognise 32-bit pixels (cairo ARGB32, `stride` bytes a row) into s: 0, or AG_SANDBOX_EXIT_FAIL. */
int ocr_pixels(ocr_engine *e, const unsigned char *px, int w, int h, int stride, int dpi, sink *s);

#endif
