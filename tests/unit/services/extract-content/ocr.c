/*
 * Tests services/extract-content/ocr.c and the OCR path of pdftext.c with Tesseract on images made at test time:
 * groff typesets known text, Ghostscript renders it to a PNG and to an image-only PDF (no text layer); the
 * recognised words must match the known ones (token recall >= 0.9). Prints "not ok" when Tesseract's English data
 * is missing (scripts/deps.sh installs tesseract-ocr-eng).
 */
#include "../../../../services/extract-content/ocr.c"
#include "../../../../services/extract-content/pdftext.c"
#include "../../../../services/extract-content/sink.c"

#include "test.h"

#include <ctype.h>
#include <fcntl.h>

static char dir[] = "/tmp/ag-ocr-XXXXXX";
static const char *const words[] = {"the",  "quick", "brown", "fox",   "jumps",   "over",
                                    "lazy", "dog",   "aegis", "reads", "scanned", "pages"};
static const ocr_opts opts = {.enabled = true, .lang = "eng", .dpi = 150, .max_pages = 10};

/* Share of the expected words found (lower-cased) in text. */
static double recall(const char *text)
{
	size_t n = sizeof words / sizeof words[0], found = 0;
	char *low = strdup(text ? text : "");
	for (char *p = low; p && *p; p++)
		*p = (char)tolower((unsigned char)*p);
	for (size_t i = 0; low && i < n; i++)
		found += strstr(low, words[i]) != NULL;
	free(low);
	return (double)found / (double)n;
}

/* Run fn's output through a sink into a string: the text before the NUL trailer. */
static char *sink_text_of(int (*fn)(int fd, sink *s, FILE *err), const char *name, int *rc)
{
	char path[512], *buf = NULL, *ebuf = NULL;
	size_t len = 0, elen = 0;
	snprintf(path, sizeof path, "%s/%s", dir, name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	FILE *out = open_memstream(&buf, &len), *err = open_memstream(&ebuf, &elen);
	sink s;
	sink_init(&s, out, 1 << 20);
	*rc = fd >= 0 ? fn(fd, &s, err) : -1;
	if (*rc == 0)
		sink_finish(&s, "utf-8");
	fclose(out);
	fclose(err);
	if (*rc != 0)
		fprintf(stderr, "  %s: rc %d: %s\n", name, *rc, ebuf ? ebuf : "");
	free(ebuf);
	if (fd >= 0)
		close(fd);
	return buf;
}

static int run_image(int fd, sink *s, FILE *err)
{
	ocr_engine *e = ocr_open(&opts, err);
	if (!e)
		return AG_SANDBOX_EXIT_FAIL;
	int rc = ocr_image_fd(e, fd, s, err);
	ocr_close(e);
	return rc;
}

static int run_pdf(int fd, sink *s, FILE *err)
{
	return pdftext(fd, &opts, s, err);
}

static int run_pdf_no_ocr(int fd, sink *s, FILE *err)
{
	return pdftext(fd, NULL, s, err);
}

static void ocr_png(void)
{
	int rc;
	char *text = sink_text_of(run_image, "page.png", &rc);
	AG_CHECK_INT(rc, 0);
	double r = recall(text);
	if (r < 0.9)
		fprintf(stderr, "  recall %.2f of: %s\n", r, text ? text : "");
	AG_CHECK(r >= 0.9);
	free(text);
}

static void ocr_pdf_without_text_layer(void)
{
	int rc;
	char *text = sink_text_of(run_pdf_no_ocr, "scan.pdf", &rc);
	AG_CHECK_INT(rc, 0);
	AG_CHECK(recall(text) == 0.0); /* no text layer indeed */
	free(text);
	text = sink_text_of(run_pdf, "scan.pdf", &rc);
	AG_CHECK_INT(rc, 0);
	double r = recall(text);
	if (r < 0.9)
		fprintf(stderr, "  recall %.2f of: %s\n", r, text ? text : "");
	AG_CHECK(r >= 0.9);
	free(text);
}

static void ocr_missing_language(void)
{
	char *ebuf = NULL;
	size_t elen = 0;
	FILE *err = open_memstream(&ebuf, &elen);
	ocr_opts bad = opts;
	bad.lang = "xx-none";
	ocr_engine *e = ocr_open(&bad, err);
	fclose(err);
	AG_CHECK(e == NULL);
	AG_CHECK(ebuf && strncmp(ebuf, "ocr_unavailable\t", 16) == 0);
	ocr_close(e);
	free(ebuf);
}

static void ocr_tesseract_missing(void)
{
	printf("# Tesseract's English data is not installed: scripts/deps.sh installs tesseract-ocr-eng\n");
	ag_test_failed_checks++;
}

int main(void)
{
	char cmd[1024];
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(cmd, sizeof cmd,
	         "cd %s && printf '.nf\\n.ps 24\\n.vs 30\\nThe quick brown fox\\njumps over the lazy dog\\n"
	         "Aegis reads scanned pages\\n' | groff -Tps > t.ps && "
	         "gs -q -dNOPAUSE -dBATCH -dSAFER -sDEVICE=pnggray -r150 -o page.png t.ps && "
	         "gs -q -dNOPAUSE -dBATCH -dSAFER -sDEVICE=pdfimage8 -r150 -o scan.pdf t.ps",
	         dir);
	bool made = system(cmd) == 0;
	if (!made) {
		printf("not ok - making the test images with groff and gs\n");
		ag_test_failed++;
	} else if (system("tesseract --list-langs 2>/dev/null | grep -qx eng") != 0) {
		AG_TEST_RUN(ocr_tesseract_missing);
	} else {
		AG_TEST_RUN(ocr_png);
		AG_TEST_RUN(ocr_pdf_without_text_layer);
		AG_TEST_RUN(ocr_missing_language);
	}
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	return ag_test_summary();
}
