/*
 * disposition.c - Content-Disposition parsing: the disposition type, `name`,
 * `filename` and the RFC 8187 extended `filename*`.
 */
#include "disposition.h"
#include "aegis/str.h"

#include "hparams.h"

#include <string.h>
#include <strings.h>

/* A filename* value is at most three times longer than its decoded bytes (%XX), plus charset and language. */
#define DISPOSITION_RAW_MAX (3 * DISPOSITION_VALUE_MAX + 64)

/*
 * RFC 8187 ext-value: charset "'" [ language ] "'" value-chars. Decodes into
 * out as UTF-8. AG_E_UNSUPPORTED for a charset other than UTF-8/ISO-8859-1,
 * AG_E_PROTO when malformed, AG_E_TOOBIG when it does not fit.
 */
static ag_status disposition_ext_value(const char *in, char *out, size_t outsz)
{
	const char *q1 = strchr(in, '\'');
	const char *q2 = q1 ? strchr(q1 + 1, '\'') : NULL;
	bool latin1;
	size_t n = 0;
	if (!q2)
		return AG_E_PROTO;
	if ((size_t)(q1 - in) == 5 && strncasecmp(in, "utf-8", 5) == 0)
		latin1 = false;
	else if ((size_t)(q1 - in) == 10 && strncasecmp(in, "iso-8859-1", 10) == 0)
		latin1 = true;
	else
		return AG_E_UNSUPPORTED;
	for (const char *p = q2 + 1; *p; p++) {
		unsigned char b = (unsigned char)*p;
		if (b == '%') {
			int hi = ag_str_hexval(p[1]);
			int lo = hi >= 0 ? ag_str_hexval(p[2]) : -1;
			if (lo < 0)
				return AG_E_PROTO;
			b = (unsigned char)(hi * 16 + lo);
			p += 2;
		} else if (b <= 0x20 || b >= 0x7f || b == '\'') {
			return AG_E_PROTO; /* value-chars are attr-char / pct-encoded only */
		}
		if (latin1 && b >= 0x80) {
			if (n + 2 >= outsz)
				return AG_E_TOOBIG;
			out[n++] = (char)(0xc0 | (b >> 6));
			out[n++] = (char)(0x80 | (b & 0x3f));
		} else {
			if (n + 1 >= outsz)
				return AG_E_TOOBIG;
			out[n++] = (char)b;
		}
	}
	out[n] = '\0';
	return AG_OK;
}

static ag_status disposition_copy(char *dst, size_t dstsz, const char *src, size_t len)
{
	if (len + 1 > dstsz)
		return AG_E_TOOBIG;
	memcpy(dst, src, len);
	dst[len] = '\0';
	return AG_OK;
}

ag_status disposition_parse(const char *value, disposition *out)
{
	char name[HPARAMS_NAME_MAX + 1];
	char raw[DISPOSITION_RAW_MAX];
	char ext[DISPOSITION_VALUE_MAX + 1];
	bool has_ext = false, seen_ext = false;
	size_t len = 0;
	const char *p = value;
	ag_status st;

	memset(out, 0, sizeof *out);
	if (!value)
		return AG_E_PROTO;
	st = hparams_token(&p, out->type, sizeof out->type);
	if (st != AG_OK)
		return st == AG_E_TOOBIG ? AG_E_PROTO : st;
	if (strchr(out->type, '/'))
		return AG_E_PROTO;
	while ((st = hparams_next(&p, name, raw, sizeof raw, &len)) == AG_OK) {
		if (strcmp(name, "name") == 0) {
			if (out->has_name)
				return AG_E_PROTO;
			out->has_name = true;
			st = disposition_copy(out->name, sizeof out->name, raw, len);
		} else if (strcmp(name, "filename") == 0) {
			if (out->has_filename)
				return AG_E_PROTO;
			out->has_filename = true;
			st = disposition_copy(out->filename, sizeof out->filename, raw, len);
		} else if (strcmp(name, "filename*") == 0) {
			if (seen_ext)
				return AG_E_PROTO;
			seen_ext = true;
			st = disposition_ext_value(raw, ext, sizeof ext);
			if (st == AG_OK)
				has_ext = true;
			else if (st == AG_E_UNSUPPORTED)
				st = AG_OK; /* fall back to the plain filename */
		}
		if (st != AG_OK)
			return st;
	}
	if (st != AG_E_NOTFOUND)
		return st;
	if (has_ext) {
		memcpy(out->filename, ext, strlen(ext) + 1);
		out->has_filename = true;
	}
	return AG_OK;
}
