/*
 * ocr.c - Tesseract through its C API (see ocr.h).
 */
#include "ocr.h"

#include "aegis/sandbox.h"

#include <leptonica/allheaders.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <tesseract/capi.h>
#include <unistd.h>

struct ocr_engine {
	TessBaseAPI *api;
};

bool ocr_image_type(const char *mime)
{
	return strcmp(mime, "image/png") == 0 || strcmp(mime, "image/jpeg") == 0 || strcmp(mime, "image/tiff") == 0;
}

ocr_engine *ocr_open(const ocr_opts *o, FILE *err)
{
	ocr_engine *e = calloc(1, sizeof *e);
	setenv("OMP_THREAD_LIMIT", "1", 1); /* in the child only: read by OpenMP when Tesseract starts it */
	setMsgSeverity(L_SEVERITY_NONE);    /* Leptonica writes to stderr otherwise */
	if (e)
		e->api = TessBaseAPICreate();
	if (!e || !e->api) {
		free(e);
		fprintf(err, "no_memory\tout of memory starting the OCR engine");
		return NULL;
	}
	if (TessBaseAPIInit3(e->api, NULL, o->lang) != 0) {
		fprintf(err, "ocr_unavailable\tthe OCR language data for '%s' is not installed (tesseract-ocr-%s)",
		        o->lang, o->lang);
		ocr_close(e);
		return NULL;
	}
	TessBaseAPISetPageSegMode(e->api, PSM_AUTO);
	return e;
}

void ocr_close(ocr_engine *e)
{
	if (!e)
		return;
	if (e->api) {
		TessBaseAPIEnd(e->api);
		TessBaseAPIDelete(e->api);
	}
	free(e);
}

static int ocr_run(ocr_engine *e, sink *s)
{
	char *text = TessBaseAPIGetUTF8Text(e->api);
	if (!text)
		return AG_SANDBOX_EXIT_FAIL;
	sink_str(s, text);
	TessDeleteText(text);
	TessBaseAPIClear(e->api);
	return 0;
}

int ocr_pixels(ocr_engine *e, const unsigned char *px, int w, int h, int stride, int dpi, sink *s)
{
	TessBaseAPISetImage(e->api, px, w, h, 4, stride);
	TessBaseAPISetSourceResolution(e->api, dpi);
	return ocr_run(e, s);
}

int ocr_image_fd(ocr_engine *e, int fd, sink *s, FILE *err)
{
	struct stat sb;
	int rc = AG_SANDBOX_EXIT_FAIL;
	unsigned char *buf = NULL;
	PIX *pix = NULL;
	if (fstat(fd, &sb) != 0 || sb.st_size <= 0 || sb.st_size > OCR_MAX_IMAGE_BYTES) {
		fprintf(err, "image_corrupt\tthe image cannot be read for OCR (empty or over %lld bytes)",
		        OCR_MAX_IMAGE_BYTES);
		return rc;
	}
	buf = malloc((size_t)sb.st_size);
	if (!buf)
		return AG_SANDBOX_EXIT_NOMEM;
	size_t got = 0;
	while (got < (size_t)sb.st_size) {
		ssize_t n = pread(fd, buf + got, (size_t)sb.st_size - got, (off_t)got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	pix = got == (size_t)sb.st_size ? pixReadMem(buf, got) : NULL;
	if (!pix) {
		fprintf(err, "image_corrupt\tthe image cannot be decoded for OCR");
		goto out;
	}
	TessBaseAPISetImage2(e->api, pix);
	if (pixGetXRes(pix) < 70)
		TessBaseAPISetSourceResolution(e->api, 300); /* no usable resolution in the file: a scan's usual */
	rc = ocr_run(e, s);
	if (rc != 0)
		fprintf(err, "ocr_failed\tthe OCR engine could not recognise the image");
out:
	pixDestroy(&pix);
	free(buf);
	return rc;
}
