/*
 * filename.c - sanitising of client-supplied file names (see filename.h).
 * The name is only ever data (the storage key is the document id), so the
 * point is a name that is valid UTF-8 for PostgreSQL and JSON, cannot
 * smuggle a path or terminal control sequences, and reads honestly.
 */
#include "filename.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define FILENAME_DEFAULT "upload"

static const unsigned char filename_replacement[3] = {0xef, 0xbf, 0xbd}; /* U+FFFD */

/* Decode one code point strictly (no overlongs, surrogates or > U+10FFFF). Returns the bytes it used (1 for
 * an invalid byte, with *cp = -1). */
static size_t filename_utf8_next(const unsigned char *s, size_t len, int32_t *cp)
{
	unsigned char b = s[0];
	size_t need;
	int32_t v;
	unsigned char lo = 0x80, hi = 0xbf;

	if (b < 0x80) {
		*cp = b;
		return 1;
	}
	if (b >= 0xc2 && b <= 0xdf) {
		need = 1;
		v = b & 0x1f;
	} else if (b >= 0xe0 && b <= 0xef) {
		need = 2;
		v = b & 0x0f;
		if (b == 0xe0)
			lo = 0xa0;
		else if (b == 0xed)
			hi = 0x9f;
	} else if (b >= 0xf0 && b <= 0xf4) {
		need = 3;
		v = b & 0x07;
		if (b == 0xf0)
			lo = 0x90;
		else if (b == 0xf4)
			hi = 0x8f;
	} else {
		*cp = -1;
		return 1;
	}
	if (len < need + 1) {
		*cp = -1;
		return 1;
	}
	for (size_t i = 1; i <= need; i++) {
		unsigned char c = s[i];
		if (c < (i == 1 ? lo : 0x80) || c > (i == 1 ? hi : 0xbf)) {
			*cp = -1;
			return 1;
		}
		v = (v << 6) | (c & 0x3f);
	}
	*cp = v;
	return need + 1;
}

static bool filename_dropped(int32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x200e || cp == 0x200f ||
	       (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

/* Clean `len` bytes into out (no NUL), stopping before the first character that would pass `cap` bytes.
 * Returns the bytes written; *cut tells whether input was left over. */
static size_t filename_clean(const unsigned char *in, size_t len, char *out, size_t cap, bool *cut)
{
	size_t n = 0, i = 0;
	*cut = false;
	while (i < len) {
		int32_t cp;
		size_t used = filename_utf8_next(in + i, len - i, &cp);
		const unsigned char *src = in + i;
		size_t srclen = used;
		i += used;
		if (cp >= 0 && filename_dropped(cp))
			continue;
		if (cp < 0) {
			src = filename_replacement;
			srclen = sizeof filename_replacement;
		}
		if (n + srclen > cap) {
			*cut = true;
			break;
		}
		memcpy(out + n, src, srclen);
		n += srclen;
	}
	return n;
}

size_t filename_sanitize(const char *in, size_t len, char out[AG_FILENAME_MAX_BYTES + 1])
{
	if (!in) {
		in = "";
		len = 0;
	}
	const unsigned char *base = (const unsigned char *)in;
	size_t blen = len;
	bool cut = false;
	size_t n, start = 0;

	for (size_t i = 0; i < blen; i++) {
		if (in[i] == '/' || in[i] == '\\')
			start = i + 1;
	}
	base += start;
	blen -= start;
	start = 0;
	n = filename_clean(base, blen, out, AG_FILENAME_MAX_BYTES, &cut);
	if (cut) {
		/* keep a short extension: "very long name….pdf" is more useful than "very long na" */
		const unsigned char *dot = NULL;
		for (size_t i = blen; i > 0; i--) {
			if (base[i - 1] == '.') {
				dot = base + i - 1;
				break;
			}
		}
		size_t elen_raw = dot ? blen - (size_t)(dot - base) : 0;
		if (dot && dot > base && elen_raw >= 2 && elen_raw <= FILENAME_EXT_MAX) {
			char ext[FILENAME_EXT_MAX + 1];
			bool ecut;
			size_t elen = filename_clean(dot, elen_raw, ext, FILENAME_EXT_MAX, &ecut);
			if (!ecut && elen >= 2) {
				n = filename_clean(base, (size_t)(dot - base), out, AG_FILENAME_MAX_BYTES - elen,
				                   &ecut);
				memcpy(out + n, ext, elen);
				n += elen;
			}
		}
	}
	while (n > 0 && (out[n - 1] == ' ' || out[n - 1] == '\t'))
		n--;
	while (start < n && (out[start] == ' ' || out[start] == '\t'))
		start++;
	n -= start;
	memmove(out, out + start, n);
	out[n] = '\0';
	if (n == 0 || strcmp(out, ".") == 0 || strcmp(out, "..") == 0) {
		memcpy(out, FILENAME_DEFAULT, sizeof FILENAME_DEFAULT);
		n = sizeof FILENAME_DEFAULT - 1;
	}
	return n;
}
