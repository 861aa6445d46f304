/*
 * sniff.c - libmagic behind a mutex: the MIME type and the encoding of a
 * file's first bytes, for validate, extract-metadata and extract-content.
 * Two handles (MAGIC_MIME_TYPE and MAGIC_MIME_ENCODING) so neither call has
 * to flip flags on a shared handle.
 */
#include "aegis/sniff.h"

#include "aegis/limits.h"
#include "aegis/mime.h"

#include <ctype.h>
#include <errno.h>
#include <magic.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct ag_sniff {
	pthread_mutex_t mu;
	magic_t type;
	magic_t encoding;
};

static ag_status sniff_open(magic_t *out, int flags, ag_err *err)
{
	magic_t m = magic_open(flags | MAGIC_ERROR);
	if (!m)
		return ag_err_set(err, AG_E_NOMEM, "magic_open: %s", strerror(errno));
	if (magic_load(m, NULL) != 0) {
		ag_status st = ag_err_set(err, AG_E_UNAVAILABLE, "magic_load: %s",
		                          magic_error(m) ? magic_error(m) : "cannot load the magic database");
		magic_close(m);
		return st;
	}
	*out = m;
	return AG_OK;
}

ag_status ag_sniff_new(ag_sniff **out, ag_err *err)
{
	ag_status st = AG_E_NOMEM;
	ag_sniff *s = calloc(1, sizeof *s);
	*out = NULL;
	if (!s)
		return ag_err_set(err, AG_E_NOMEM, "out of memory");
	if (pthread_mutex_init(&s->mu, NULL) != 0) {
		free(s);
		return ag_err_set(err, AG_E_NOMEM, "pthread_mutex_init failed");
	}
	st = sniff_open(&s->type, MAGIC_MIME_TYPE, err);
	if (st != AG_OK)
		goto out;
	st = sniff_open(&s->encoding, MAGIC_MIME_ENCODING, err);
	if (st != AG_OK)
		goto out;
	*out = s;
	s = NULL;
out:
	ag_sniff_free(s);
	return st;
}

void ag_sniff_free(ag_sniff *s)
{
	if (!s)
		return;
	if (s->type)
		magic_close(s->type);
	if (s->encoding)
		magic_close(s->encoding);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

/* Copy a libmagic answer lower-cased and without parameters ("text/plain; charset=x" -> "text/plain"). */
static void sniff_copy(char *dst, const char *src)
{
	size_t n = 0;
	for (; src && src[n] && src[n] != ';' && !isspace((unsigned char)src[n]) && n + 1 < AG_SNIFF_NAME_MAX; n++)
		dst[n] = (char)tolower((unsigned char)src[n]);
	dst[n] = '\0';
}

ag_status ag_sniff_buffer(ag_sniff *s, const void *buf, size_t len, ag_sniff_result *out, ag_err *err)
{
	ag_status st = AG_OK;
	memset(out, 0, sizeof *out);
	pthread_mutex_lock(&s->mu);
	const char *type = magic_buffer(s->type, buf, len);
	if (!type) {
		st = ag_err_set(err, AG_E_INTERNAL, "libmagic: %s", magic_error(s->type) ? magic_error(s->type) : "?");
		goto out;
	}
	sniff_copy(out->mime, type); /* the string belongs to the handle: copy under the lock */
	/* libmagic calls a message text/plain unless it starts with certain fields (Received, From, ...) */
	if (strcmp(out->mime, "text/plain") == 0 && ag_mime_sniff(buf, len))
		sniff_copy(out->mime, "message/rfc822");
	const char *enc = magic_buffer(s->encoding, buf, len);
	if (!enc) {
		st = ag_err_set(err, AG_E_INTERNAL, "libmagic: %s",
		                magic_error(s->encoding) ? magic_error(s->encoding) : "?");
		goto out;
	}
	sniff_copy(out->encoding, enc);
out:
	pthread_mutex_unlock(&s->mu);
	return st;
}

ag_status ag_sniff_fd(ag_sniff *s, int fd, ag_sniff_result *out, ag_err *err)
{
	ag_status st = AG_OK;
	unsigned char *buf = malloc(AG_SNIFF_BYTES);
	size_t have = 0;
	if (!buf)
		return ag_err_set(err, AG_E_NOMEM, "out of memory");
	while (have < AG_SNIFF_BYTES) {
		ssize_t n = pread(fd, buf + have, AG_SNIFF_BYTES - have, (off_t)have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			st = ag_err_set(err, AG_E_IO, "read: %s", strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		have += (size_t)n;
	}
	st = ag_sniff_buffer(s, buf, have, out, err);
out:
	free(buf);
	return st;
}
