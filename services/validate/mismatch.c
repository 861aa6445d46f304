/*
 * mismatch.c - claimed type and extension against the sniffed type (see
 * mismatch.h).
 */
#include "mismatch.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define MISMATCH_TEXT "text" /* a table entry meaning "any text type" */

static const struct mismatch_ext {
	const char *ext;
	const char *mime;
} mismatch_exts[] = {
        {"txt", MISMATCH_TEXT},
        {"md", MISMATCH_TEXT},
        {"markdown", MISMATCH_TEXT},
        {"csv", MISMATCH_TEXT},
        {"tsv", MISMATCH_TEXT},
        {"json", MISMATCH_TEXT},
        {"xml", MISMATCH_TEXT},
        {"html", MISMATCH_TEXT},
        {"htm", MISMATCH_TEXT},
        {"xhtml", MISMATCH_TEXT},
        {"eml", MISMATCH_TEXT},
        {"pdf", "application/pdf"},
        {"docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
        {"xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
        {"pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation"},
        {"odt", "application/vnd.oasis.opendocument.text"},
        {"ods", "application/vnd.oasis.opendocument.spreadsheet"},
        {"odp", "application/vnd.oasis.opendocument.presentation"},
        {"epub", "application/epub+zip"},
        {"png", "image/png"},
        {"jpg", "image/jpeg"},
        {"jpeg", "image/jpeg"},
        {"gif", "image/gif"},
        {"tif", "image/tiff"},
        {"tiff", "image/tiff"},
        {"zip", "application/zip"},
};

bool mismatch_policy_parse(const char *s, mismatch_policy *out)
{
	if (strcmp(s, "allow") == 0)
		*out = MISMATCH_ALLOW;
	else if (strcmp(s, "reject") == 0)
		*out = MISMATCH_REJECT;
	else
		return false;
	return true;
}

/* A type whose bytes are text. `n` bytes of `m` (no parameters). */
static bool mismatch_is_text(const char *m, size_t n)
{
	static const char *const apps[] = {"application/json",       "application/xml",      "application/csv",
	                                   "application/javascript", "application/x-ndjson", "message/rfc822"};
	if (n >= 5 && strncasecmp(m, "text/", 5) == 0)
		return true;
	for (size_t i = 0; i < sizeof apps / sizeof apps[0]; i++)
		if (strlen(apps[i]) == n && strncasecmp(m, apps[i], n) == 0)
			return true;
	return (n > 5 && strncasecmp(m + n - 5, "+json", 5) == 0) || (n > 4 && strncasecmp(m + n - 4, "+xml", 4) == 0);
}

/* Does the expected type (`n` bytes, or MISMATCH_TEXT) agree with the sniffed one? */
static bool mismatch_agrees(const char *expected, size_t n, const char *sniffed)
{
	bool sniffed_text = mismatch_is_text(sniffed, strlen(sniffed));
	if ((n == 4 && strncmp(expected, MISMATCH_TEXT, 4) == 0) || mismatch_is_text(expected, n))
		return sniffed_text;
	if (n == 9 && strncasecmp(expected, "image/jpg", 9) == 0)
		return strcmp(sniffed, "image/jpeg") == 0;
	/* a package sniffed as its specific kind still is the zip a client may have called it */
	if (n == 15 && strncasecmp(expected, "application/zip", 15) == 0)
		return strcmp(sniffed, "application/zip") == 0 || strstr(sniffed, "openxmlformats") ||
		       strstr(sniffed, "opendocument") || strcmp(sniffed, "application/epub+zip") == 0;
	return strlen(sniffed) == n && strncasecmp(expected, sniffed, n) == 0;
}

bool mismatch_check(const char *filename, const char *claimed, const char *sniffed, char *why, size_t whylen)
{
	if (claimed && *claimed) {
		size_t n = strcspn(claimed, "; \t");
		bool no_claim = n == 0 || (n == 24 && strncasecmp(claimed, "application/octet-stream", 24) == 0);
		if (!no_claim && !mismatch_agrees(claimed, n, sniffed)) {
			snprintf(why, whylen, "the file was sent as %.*s but its content is %s",
			         (int)(n > 100 ? 100 : n), claimed, sniffed);
			return true;
		}
	}
	const char *dot = filename ? strrchr(filename, '.') : NULL;
	if (dot && dot[1] && !strchr(dot, '/')) {
		for (size_t i = 0; i < sizeof mismatch_exts / sizeof mismatch_exts[0]; i++) {
			if (strcasecmp(dot + 1, mismatch_exts[i].ext) != 0)
				continue;
			const char *m = mismatch_exts[i].mime;
			if (!mismatch_agrees(m, strlen(m), sniffed)) {
				snprintf(why, whylen, "the file name ends in .%s but its content is %s",
				         mismatch_exts[i].ext, sniffed);
				return true;
			}
			break;
		}
	}
	return false;
}
