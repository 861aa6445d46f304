/*
 * allow.c - parsing and matching of the MIME allow-list. Entries are
 * normalised once at start, so matching is a few string compares per file.
 */
#include "allow.h"

#include <ctype.h>
#include <string.h>

/* RFC 6838 restricted-name characters (plus '+', '.', '-', '_' which it includes). */
static bool allow_token_char(char c)
{
	return isalnum((unsigned char)c) || strchr("!#$&-^_.+", c) != NULL;
}

// Lower-case `s[0..n)` into dst and check it is type/subtype, type/* or */*.
static bool allow_entry(char *dst, const char *s, size_t n)
{
	if (n == 0 || n >= ALLOW_MAX_TYPE_BYTES)
		return false;
	if (n == 3 && memcmp(s, "*/*", 3) == 0) {
		memcpy(dst, "*/*", 4);
		return true;
	}
	size_t slash = n;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '/') {
			if (slash != n)
				return false;
			slash = i;
		} else if (!allow_token_char(s[i]) && !(s[i] == '*' && i == n - 1 && i == slash + 1)) {
			return false;
		}
		dst[i] = (char)tolower((unsigned char)s[i]);
	}
	dst[n] = '\0';
	return slash != n && slash > 0 && slash + 1 < n;
}

ag_status allow_parse(allow_list *out, const char *spec, ag_err *err)
{
	memset(out, 0, sizeof *out);
	const char *p = spec ? spec : "";
	for (;;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		const char *s = p;
		while (len > 0 && isspace((unsigned char)*s)) {
			s++;
			len--;
		}
		while (len > 0 && isspace((unsigned char)s[len - 1]))
			len--;
		if (len > 0) {
			if (out->n == ALLOW_MAX_ENTRIES)
				return ag_err_set(err, AG_E_INVAL, "more than %d allowed types", ALLOW_MAX_ENTRIES);
			if (!allow_entry(out->types[out->n], s, len))
				return ag_err_set(err, AG_E_INVAL,
				                  "\"%.*s\" is not a MIME type (type/subtype or type/*)",
				                  (int)(len > 64 ? 64 : len), s);
			out->n++;
		}
		if (!end)
			break;
		p = end + 1;
	}
	if (out->n == 0)
		return ag_err_set(err, AG_E_INVAL, "the list of allowed types is empty");
	return AG_OK;
}

bool allow_match(const allow_list *l, const char *mime)
{
	char m[ALLOW_MAX_TYPE_BYTES];
	size_t n = 0;
	if (!mime)
		return false;
	while (isspace((unsigned char)*mime))
		mime++;
	for (; mime[n] && mime[n] != ';' && !isspace((unsigned char)mime[n]); n++) {
		if (n + 1 >= sizeof m)
			return false;
		m[n] = (char)tolower((unsigned char)mime[n]);
	}
	m[n] = '\0';
	const char *slash = strchr(m, '/');
	if (!slash || slash == m || slash[1] == '\0')
		return false;
	size_t tlen = (size_t)(slash - m);
	for (int i = 0; i < l->n; i++) {
		const char *t = l->types[i];
		size_t len = strlen(t);
		if (strcmp(t, "*/*") == 0)
			return true;
		if (len >= 2 && t[len - 1] == '*') {
			if (len - 2 == tlen && memcmp(t, m, tlen) == 0)
				return true;
		} else if (strcmp(t, m) == 0) {
			return true;
		}
	}
	return false;
}
