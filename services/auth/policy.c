/*
 * policy.c - the email and password rules of policy.h. Sentences here reach
 * end users through the gateway, so they say what to fix and never echo the
 * input back.
 */
#include "policy.h"

#include <stdint.h>
#include <string.h>

/* The sentences below spell these numbers out; keep them in step. */
_Static_assert(AG_EMAIL_MAX_BYTES == 254, "update the email length sentence");
_Static_assert(AG_PASSWORD_MAX_BYTES == 1024, "update the password length sentence");
_Static_assert(AG_PASSWORD_MIN_CHARS == 10, "update the password minimum sentence");
_Static_assert(POLICY_EMAIL_LOCAL_MAX == 64, "update the local part sentence");

/* Decode one code point at s[*i]; strict UTF-8 (RFC 3629). Advances *i on success. */
static bool policy_utf8_next(const unsigned char *s, size_t len, size_t *i, uint32_t *cp)
{
	size_t p = *i;
	unsigned char c = s[p];
	uint32_t v, min;
	size_t n;
	if (c < 0x80) {
		*cp = c;
		*i = p + 1;
		return true;
	} else if ((c & 0xe0) == 0xc0) {
		v = c & 0x1f;
		n = 1;
		min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		v = c & 0x0f;
		n = 2;
		min = 0x800;
	} else if ((c & 0xf8) == 0xf0) {
		v = c & 0x07;
		n = 3;
		min = 0x10000;
	} else {
		return false;
	}
	if (len - p <= n)
		return false;
	for (size_t k = 1; k <= n; k++) {
		if ((s[p + k] & 0xc0) != 0x80)
			return false;
		v = (v << 6) | (s[p + k] & 0x3f);
	}
	if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return false;
	*cp = v;
	*i = p + n + 1;
	return true;
}

bool policy_utf8_count(const char *s, size_t len, size_t *count)
{
	size_t i = 0, n = 0;
	uint32_t cp;
	while (i < len) {
		if (!policy_utf8_next((const unsigned char *)s, len, &i, &cp))
			return false;
		n++;
	}
	*count = n;
	return true;
}

static bool policy_ascii_space(unsigned char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

/* Spaces and invisible separators beyond ASCII that must not hide inside an address. */
static bool policy_unicode_space_or_control(uint32_t cp)
{
	return (cp >= 0x80 && cp <= 0xa0) || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200f) ||
	       (cp >= 0x2028 && cp <= 0x202f) || cp == 0x205f || cp == 0x2060 || cp == 0x3000 || cp == 0xfeff;
}

const char *policy_email_normalize(const char *in, char out[POLICY_EMAIL_BUF])
{
	out[0] = '\0';
	if (!in)
		return "email is required";
	/* Bound the scan: anything longer than the cap plus generous surrounding whitespace is refused anyway. */
	size_t len = strnlen(in, 4 * AG_EMAIL_MAX_BYTES + 1);
	if (len > 4 * AG_EMAIL_MAX_BYTES)
		return "email must be at most 254 bytes";
	size_t b = 0, e = len;
	while (b < e && policy_ascii_space((unsigned char)in[b]))
		b++;
	while (e > b && policy_ascii_space((unsigned char)in[e - 1]))
		e--;
	size_t n = e - b;
	if (n == 0)
		return "email is required";
	if (n > AG_EMAIL_MAX_BYTES)
		return "email must be at most 254 bytes";

	const unsigned char *s = (const unsigned char *)in + b;
	size_t at = 0, ats = 0, i = 0;
	while (i < n) {
		uint32_t cp;
		size_t start = i;
		if (!policy_utf8_next(s, n, &i, &cp))
			return "email must be valid UTF-8 text";
		if (cp <= 0x20 || cp == 0x7f || policy_unicode_space_or_control(cp))
			return "email must not contain spaces or control characters";
		if (cp == '@') {
			ats++;
			at = start;
		}
	}
	if (ats != 1)
		return "email must contain exactly one @";
	if (at == 0)
		return "email needs a name before the @";
	if (at > POLICY_EMAIL_LOCAL_MAX)
		return "the part of the email before the @ must be at most 64 bytes";
	const unsigned char *dom = s + at + 1;
	size_t dlen = n - at - 1;
	if (dlen == 0 || !memchr(dom, '.', dlen) || dom[0] == '.' || dom[dlen - 1] == '.' || memmem(dom, dlen, "..", 2))
		return "email needs a domain with a dot after the @, like example.org";

	for (size_t k = 0; k < n; k++) {
		unsigned char c = s[k];
		out[k] = (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
	}
	out[n] = '\0';
	return NULL;
}

const char *policy_password_check(const char *password)
{
	if (!password || !*password)
		return "password is required";
	size_t len = strnlen(password, AG_PASSWORD_MAX_BYTES + 1);
	if (len > AG_PASSWORD_MAX_BYTES)
		return "password must be at most 1024 bytes";
	const unsigned char *s = (const unsigned char *)password;
	size_t i = 0, count = 0;
	uint32_t first = 0, cp;
	bool all_same = true;
	while (i < len) {
		if (!policy_utf8_next(s, len, &i, &cp))
			return "password must be valid UTF-8 text";
		if (count == 0)
			first = cp;
		else if (cp != first)
			all_same = false;
		count++;
	}
	if (count < AG_PASSWORD_MIN_CHARS)
		return "password must be at least 10 characters";
	if (all_same)
		return "password must not be a single character repeated";
	return NULL;
}
