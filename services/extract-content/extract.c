/*
 * extract.c - the two read passes of text extraction (detect, then convert).
 */
#include "extract.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

bool extract_supported(const char *mime)
{
	static const char *const types[] = {
	        "text/plain",       "text/markdown",   "text/x-markdown", "text/csv", "text/tab-separated-values",
	        "application/json", "application/xml", "text/xml",
	};
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
		if (strcmp(mime, types[i]) == 0)
			return true;
	return false;
}

/* One pass from offset 0: `feed` every piece; stop early when `enough` says so. */
static ag_status extract_pass(int fd, unsigned char *buf, ag_status (*feed)(void *, const void *, size_t, ag_err *),
                              bool (*enough)(void *), void *state, extract_progress_fn progress, void *ud, ag_err *err)
{
	if (lseek(fd, 0, SEEK_SET) != 0)
		return ag_err_set(err, AG_E_IO, "seek: %s", strerror(errno));
	for (;;) {
		ssize_t n = read(fd, buf, EXTRACT_READ_BYTES);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return ag_err_set(err, AG_E_IO, "read: %s", strerror(errno));
		if (n == 0)
			return AG_OK;
		ag_status st = feed(state, buf, (size_t)n, err);
		if (st != AG_OK)
			return st;
		if (progress)
			progress(ud);
		if (enough && enough(state))
			return AG_OK;
	}
}

static ag_status extract_detect_feed(void *d, const void *buf, size_t len, ag_err *err)
{
	(void)err;
	charset_detect_feed(d, buf, len);
	return AG_OK;
}

static ag_status extract_decode_feed(void *d, const void *buf, size_t len, ag_err *err)
{
	return charset_decoder_feed(d, buf, len, err);
}

static bool extract_decoder_full(void *d)
{
	return charset_decoder_full(d);
}

ag_status extract_text_fd(int fd, size_t max_bytes, extract_progress_fn progress, void *ud, extract_text *out,
                          ag_err *err)
{
	charset_detect det;
	charset_decoder dec = {.cd = (iconv_t)-1};
	unsigned char *buf = malloc(EXTRACT_READ_BYTES);
	ag_status st = AG_E_NOMEM;

	memset(out, 0, sizeof *out);
	if (!buf) {
		ag_err_set(err, st, "out of memory");
		goto out;
	}
	charset_detect_init(&det);
	st = extract_pass(fd, buf, extract_detect_feed, NULL, &det, progress, ud, err);
	if (st != AG_OK)
		goto out;
	out->charset = charset_detect_finish(&det);

	st = charset_decoder_init(&dec, out->charset, max_bytes, err);
	if (st != AG_OK)
		goto out;
	st = extract_pass(fd, buf, extract_decode_feed, extract_decoder_full, &dec, progress, ud, err);
	if (st != AG_OK)
		goto out;
	st = charset_decoder_finish(&dec, err);
	if (st != AG_OK)
		goto out;
	out->chars = dec.chars;
	out->truncated = dec.truncated;
	out->dropped = dec.dropped;
	out->text = charset_decoder_take(&dec, &out->len);
out:
	charset_decoder_free(&dec);
	free(buf);
	return st;
}

void extract_text_free(extract_text *t)
{
	if (!t)
		return;
	free(t->text);
	t->text = NULL;
	t->len = 0;
}
