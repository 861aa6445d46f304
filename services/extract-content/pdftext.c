/*
 * pdftext.c - poppler-glib page loop.
 */
#include "pdftext.h"

#include "aegis/sandbox.h"

#include <cairo.h>
#include <ctype.h>
#include <math.h>
#include <poppler.h>
#include <unistd.h>

static bool pdftext_blank(const char *t)
{
	for (; t && *t; t++)
		if (!isspace((unsigned char)*t))
			return false;
	return true;
}

/* Render the page at o->dpi (less when that would exceed OCR_MAX_RENDER_PIXELS) on white and recognise it. */
static int pdftext_ocr_page(PopplerPage *page, const ocr_opts *o, ocr_engine *e, sink *s)
{
	double pw = 0, ph = 0;
	poppler_page_get_size(page, &pw, &ph);
	double scale = (double)o->dpi / 72.0;
	if (pw <= 0 || ph <= 0)
		return 0;
	if (pw * scale * ph * scale > (double)OCR_MAX_RENDER_PIXELS)
		scale = sqrt((double)OCR_MAX_RENDER_PIXELS / (pw * ph));
	int w = (int)(pw * scale), h = (int)(ph * scale);
	if (w < 1 || h < 1)
		return 0;
	cairo_surface_t *surf = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, w, h);
	if (cairo_surface_status(surf) != CAIRO_STATUS_SUCCESS) {
		cairo_surface_destroy(surf);
		return AG_SANDBOX_EXIT_NOMEM;
	}
	cairo_t *cr = cairo_create(surf);
	cairo_set_source_rgb(cr, 1, 1, 1);
	cairo_paint(cr);
	cairo_scale(cr, scale, scale);
	poppler_page_render_for_printing(page, cr);
	cairo_destroy(cr);
	cairo_surface_flush(surf);
	int rc = ocr_pixels(e, cairo_image_surface_get_data(surf), w, h, cairo_image_surface_get_stride(surf),
	                    (int)lround(scale * 72.0), s);
	cairo_surface_destroy(surf);
	return rc;
}

int pdftext(int fd, const ocr_opts *ocr, sink *s, FILE *err)
{
	ocr_engine *engine = NULL;
	long long ocr_pages = 0;
	GError *gerr = NULL;
	int dfd = dup(fd);
	if (dfd < 0) {
		fprintf(err, "io\tcannot duplicate the file descriptor");
		return AG_SANDBOX_EXIT_FAIL;
	}
	PopplerDocument *doc = poppler_document_new_from_fd(dfd, NULL, &gerr); /* owns dfd, even on failure */
	if (!doc) {
		bool enc = gerr && gerr->domain == POPPLER_ERROR && gerr->code == POPPLER_ERROR_ENCRYPTED;
		fprintf(err, "%s\t%s", enc ? "pdf_encrypted" : "pdf_corrupt",
		        enc ? "the PDF is encrypted and needs a password" : "the PDF cannot be read");
		g_clear_error(&gerr);
		return AG_SANDBOX_EXIT_FAIL;
	}
	int n = poppler_document_get_n_pages(doc);
	for (int i = 0; i < n && !sink_full(s); i++) {
		PopplerPage *page = poppler_document_get_page(doc, i);
		if (page) {
			char *text = poppler_page_get_text(page);
			if (ocr && ocr->enabled && pdftext_blank(text) && ocr_pages < ocr->max_pages) {
				if (!engine && !(engine = ocr_open(ocr, err))) {
					g_free(text);
					g_object_unref(page);
					g_object_unref(doc);
					return AG_SANDBOX_EXIT_FAIL;
				}
				ocr_pages++;
				if (pdftext_ocr_page(page, ocr, engine, s) == AG_SANDBOX_EXIT_NOMEM) {
					g_free(text);
					g_object_unref(page);
					g_object_unref(doc);
					ocr_close(engine);
					return AG_SANDBOX_EXIT_NOMEM;
				}
			} else {
				sink_str(s, text);
			}
			g_free(text);
			g_object_unref(page);
		}
		sink_page(s);
	}
	g_object_unref(doc);
	ocr_close(engine);
	return 0;
}
