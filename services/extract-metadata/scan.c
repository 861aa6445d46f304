/*
 * scan.c - the single read pass of extract-metadata: hash, sniff and count
 * while the bytes go by.
 */
#include "scan.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

bool scan_is_text(const char *mime, const char *encoding)
{
	static const char *const text_app[] = {"application/json", "application/xml", "application/javascript",
	                                       "application/x-ndjson", "application/csv"};
	static const char *const encodings[] = {"us-ascii", "utf-8", "iso-8859-1", "unknown-8bit"};
	bool type_ok = strncmp(mime, "text/", 5) == 0;
	for (size_t i = 0; !type_ok && i < sizeof text_app / sizeof text_app[0]; i++)
		type_ok = strcmp(mime, text_app[i]) == 0;
	if (!type_ok && strncmp(mime, "application/", 12) == 0) {
		const char *sub = mime + 12; /* "ld+json", "atom+xml": a name before the suffix */
		size_t n = strlen(sub);
		type_ok = (n > 5 && strcmp(sub + n - 5, "+json") == 0) || (n > 4 && strcmp(sub + n - 4, "+xml") == 0);
	}
	if (!type_ok)
		return false;
	for (size_t i = 0; i < sizeof encodings / sizeof encodings[0]; i++)
		if (strcmp(encoding, encodings[i]) == 0)
			return true;
	return false;
}

/* read() until `len` bytes or end of file; *got < len only at the end. */
static ag_status scan_read(int fd, unsigned char *buf, size_t len, size_t *got, ag_err *err)
{
	*got = 0;
	while (*got < len) {
		ssize_t n = read(fd, buf + *got, len - *got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return ag_err_set(err, AG_E_IO, "read: %s", strerror(errno));
		if (n == 0)
			break;
		*got += (size_t)n;
	}
	return AG_OK;
}

ag_status scan_fd(int fd, ag_sniff *sniff, scan_progress_fn progress, void *ud, scan_result *out, ag_err *err)
{
	ag_status st = AG_OK;
	crypto_hash_sha256_state sha;
	unsigned char digest[crypto_hash_sha256_BYTES];
	unsigned char *buf = malloc(SCAN_CHUNK_BYTES);
	size_t got = 0;
	bool first = true;

	memset(out, 0, sizeof *out);
	if (!buf)
		return ag_err_set(err, AG_E_NOMEM, "out of memory");
	crypto_hash_sha256_init(&sha);
	do {
		st = scan_read(fd, buf, SCAN_CHUNK_BYTES, &got, err);
		if (st != AG_OK)
			goto out;
		if (first) {
			/* the first chunk holds the AG_SNIFF_BYTES libmagic looks at (fewer for a small file) */
			first = false;
			st = ag_sniff_buffer(sniff, buf, got, &out->sniffed, err);
			if (st != AG_OK)
				goto out;
			out->text = scan_is_text(out->sniffed.mime, out->sniffed.encoding);
			textstats_init(&out->stats, strcmp(out->sniffed.encoding, "iso-8859-1") == 0 ||
			                                    strcmp(out->sniffed.encoding, "unknown-8bit") == 0);
		}
		crypto_hash_sha256_update(&sha, buf, got);
		if (out->text)
			textstats_feed(&out->stats, buf, got);
		out->size += got;
		if (progress)
			progress(ud);
	} while (got == SCAN_CHUNK_BYTES);
	textstats_finish(&out->stats);
	crypto_hash_sha256_final(&sha, digest);
	sodium_bin2hex(out->sha256, sizeof out->sha256, digest, sizeof digest);
out:
	free(buf);
	return st;
}

char *scan_json(const scan_result *r)
{
	char *text = NULL;
	json_t *o = json_object();
	if (!o)
		return NULL;
	int bad = json_object_set_new(o, "size", json_integer((json_int_t)r->size));
	bad |= json_object_set_new(o, "sha256", json_string(r->sha256));
	bad |= json_object_set_new(o, "mime", json_string(r->sniffed.mime));
	if (strcmp(r->sniffed.encoding, "binary") != 0 && r->sniffed.encoding[0])
		bad |= json_object_set_new(o, "charset", json_string(r->sniffed.encoding));
	if (r->text) {
		bad |= json_object_set_new(o, "lines", json_integer((json_int_t)r->stats.lines));
		bad |= json_object_set_new(o, "words", json_integer((json_int_t)r->stats.words));
		bad |= json_object_set_new(o, "chars", json_integer((json_int_t)r->stats.chars));
	}
	if (!bad)
		text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	return text;
}
