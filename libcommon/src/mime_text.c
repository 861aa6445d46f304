/*
 * mime_text.c - the byte-level half of the e-mail parser (aegis/mime.h):
 * transfer decodings (base64, quoted-printable), charset conversion to
 * UTF-8 with iconv, and RFC 2047 encoded words.
 */
#include "aegis/mime.h"
#include "aegis/str.h"

#include "mime_priv.h"

#include <ctype.h>
#include <errno.h>
#include <iconv.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* --- UTF-8 --- */

static bool mime_utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	for (size_t i = 0; i < n;) {
		size_t k = ag_utf8_len(p + i, n - i);
		if (k == 0)
			return false;
		i += k;
	}
	return true;
}

/* Copy the valid UTF-8 of s[0..n) into malloc'd memory. */
static char *mime_utf8_clean(const char *s, size_t n, uint64_t *dropped)
{
	const unsigned char *p = (const unsigned char *)s;
	char *d = malloc(n + 1);
	size_t k = 0;
	if (!d)
		return NULL;
	for (size_t i = 0; i < n;) {
		size_t l = ag_utf8_len(p + i, n - i);
		if (l == 0) {
			if (dropped)
				(*dropped)++;
			i++;
			continue;
		}
		memcpy(d + k, s + i, l);
		k += l;
		i += l;
	}
	d[k] = '\0';
	return d;
}

void mime_utf8_cut(char *s, size_t max)
{
	size_t n = strlen(s);
	if (n <= max)
		return;
	while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
		max--;
	s[max] = '\0';
}

/* --- charsets --- */

/* The iconv name for a charset label; NULL for "decide from the bytes", "" for UTF-8. */
static const char *mime_charset_name(const char *cs)
{
	static const char *const unknown[] = {"",          "us-ascii", "ascii",  "unknown-8bit",
	                                      "x-unknown", "unknown",  "default"};
	static const char *const latin1[] = {"iso-8859-1", "iso_8859-1",   "latin1", "latin-1", "l1",
	                                     "cp819",      "windows-1252", "cp1252", "x-cp1252"};
	for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++)
		if (strcasecmp(cs, unknown[i]) == 0)
			return NULL;
	if (strcasecmp(cs, "utf-8") == 0 || strcasecmp(cs, "utf8") == 0)
		return "";
	for (size_t i = 0; i < sizeof latin1 / sizeof latin1[0]; i++)
		if (strcasecmp(cs, latin1[i]) == 0)
			return "WINDOWS-1252";
	return cs;
}

static char *mime_iconv(iconv_t cd, const char *s, size_t n, uint64_t *dropped)
{
	size_t cap = n + n / 2 + 64, k = 0;
	char *d = malloc(cap);
	char *in = (char *)s;
	size_t inleft = n;
	if (!d)
		return NULL;
	while (inleft > 0) {
		char *o = d + k;
		size_t oleft = cap - k - 1;
		size_t r = iconv(cd, &in, &inleft, &o, &oleft);
		k = (size_t)(o - d);
		if (r != (size_t)-1)
			break;
		if (errno == E2BIG) {
			char *g = realloc(d, cap * 2);
			if (!g) {
				free(d);
				return NULL;
			}
			d = g;
			cap *= 2;
		} else if (errno == EILSEQ) {
			in++, inleft--;
			if (dropped)
				(*dropped)++;
		} else {
			if (dropped)
				(*dropped)++;
			break; /* EINVAL: an incomplete sequence at the end */
		}
	}
	char *o = d + k;
	size_t oleft = cap - k - 1;
	iconv(cd, NULL, NULL, &o, &oleft); /* the shift state back to initial */
	k = (size_t)(o - d);
	char *clean = mime_utf8_clean(d, k, dropped);
	free(d);
	return clean;
}

char *mime_to_utf8(const char *s, size_t n, const char *charset, uint64_t *dropped)
{
	const char *name = mime_charset_name(charset ? charset : "");
	if (!name)
		name = mime_utf8_valid(s, n) ? "" : "WINDOWS-1252";
	if (!*name)
		return mime_utf8_clean(s, n, dropped);
	iconv_t cd = iconv_open("UTF-8", name);
	if (cd == (iconv_t)-1) {
		/* a charset iconv does not know: read it like an unlabelled text */
		name = mime_utf8_valid(s, n) ? "" : "WINDOWS-1252";
		if (!*name)
			return mime_utf8_clean(s, n, dropped);
		cd = iconv_open("UTF-8", name);
		if (cd == (iconv_t)-1)
			return mime_utf8_clean(s, n, dropped);
	}
	char *d = mime_iconv(cd, s, n, dropped);
	iconv_close(cd);
	return d;
}

/* --- transfer encodings --- */

/* The value + 1 of each base64 character; 0 for anything else. */
static const unsigned char mime_b64[256] = {
        ['A'] = 1,  ['B'] = 2,  ['C'] = 3,  ['D'] = 4,  ['E'] = 5,  ['F'] = 6,  ['G'] = 7,  ['H'] = 8,
        ['I'] = 9,  ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16,
        ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24,
        ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32,
        ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36, ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40,
        ['o'] = 41, ['p'] = 42, ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48,
        ['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56,
        ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['+'] = 63, ['/'] = 64,
};

static int mime_xdigit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

typedef struct mime_sink {
	char *out; /* NULL: count only */
	size_t len, max;
	uint64_t total;
} mime_sink;

static void mime_emit(mime_sink *o, char c)
{
	if (o->out && o->len < o->max)
		o->out[o->len++] = c;
	o->total++;
}

/* base64, forgiving: characters outside the alphabet are skipped, a partial last group yields what it holds. */
static void mime_unbase64(const char *s, size_t n, mime_sink *o)
{
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned v = mime_b64[(unsigned char)s[i]];
		if (v == 0)
			continue;
		acc = (acc << 6) | (v - 1);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			mime_emit(o, (char)((acc >> bits) & 0xFF));
		}
	}
}

/* quoted-printable (RFC 2045 6.7): =XX, soft line breaks, trailing whitespace of lines dropped; a '=' that starts
 * neither is kept as it is. */
static void mime_unqp(const char *s, size_t n, mime_sink *o)
{
	size_t i = 0;
	while (i < n) {
		char c = s[i];
		if (c == '=') {
			int h = i + 1 < n ? mime_xdigit(s[i + 1]) : -1, l = i + 2 < n ? mime_xdigit(s[i + 2]) : -1;
			if (h >= 0 && l >= 0) {
				mime_emit(o, (char)(h * 16 + l));
				i += 3;
				continue;
			}
			size_t j = i + 1;
			while (j < n && (s[j] == ' ' || s[j] == '\t'))
				j++;
			if (j < n && s[j] == '\r')
				j++;
			if (j >= n || s[j] == '\n') {
				i = j + 1; /* soft line break */
				continue;
			}
			mime_emit(o, c);
			i++;
		} else if (c == ' ' || c == '\t') {
			size_t j = i;
			while (j < n && (s[j] == ' ' || s[j] == '\t'))
				j++;
			if (j >= n || s[j] == '\r' || s[j] == '\n') {
				i = j;
				continue;
			}
			for (; i < j; i++)
				mime_emit(o, s[i]);
		} else {
			mime_emit(o, c);
			i++;
		}
	}
}

static void mime_decode(const ag_mime_part *p, mime_sink *o)
{
	switch (p->encoding) {
	case AG_MIME_BASE64:
		mime_unbase64(p->body, p->body_len, o);
		break;
	case AG_MIME_QP:
		mime_unqp(p->body, p->body_len, o);
		break;
	default:
		for (size_t i = 0; i < p->body_len; i++)
			mime_emit(o, p->body[i]);
		break;
	}
}

uint64_t mime_decoded_size(const ag_mime_part *p)
{
	if (p->encoding != AG_MIME_BASE64 && p->encoding != AG_MIME_QP)
		return p->body_len;
	if (p->encoding == AG_MIME_BASE64) {
		uint64_t sextets = 0; /* every 8 bits of them make a byte, as mime_unbase64 emits them */
		for (size_t i = 0; i < p->body_len; i++)
			sextets += mime_b64[(unsigned char)p->body[i]] != 0;
		return sextets * 6 / 8;
	}
	mime_sink o = {0};
	mime_decode(p, &o);
	return o.total;
}

ag_status ag_mime_body(const ag_mime_part *p, size_t max, bool utf8, char **out, size_t *len, bool *truncated,
                       ag_err *err)
{
	/* decoding never grows the body, so min(max, body_len) bytes hold what is kept */
	size_t cap = p->body_len < max ? p->body_len : max;
	mime_sink o = {.out = malloc(cap + 1), .max = cap};
	*out = NULL;
	*len = 0;
	*truncated = false;
	if (!o.out)
		return ag_err_set(err, AG_E_NOMEM, "out of memory");
	mime_decode(p, &o);
	o.out[o.len] = '\0';
	*truncated = o.total > o.len;
	if (!utf8) {
		*out = o.out;
		*len = o.len;
		return AG_OK;
	}
	char *t = mime_to_utf8(o.out, o.len, p->charset, NULL);
	free(o.out);
	if (!t)
		return ag_err_set(err, AG_E_NOMEM, "out of memory");
	size_t k = 0;
	for (size_t i = 0; t[i]; i++) {
		if (t[i] == '\r') {
			t[k++] = '\n';
			if (t[i + 1] == '\n')
				i++;
		} else {
			t[k++] = t[i];
		}
	}
	t[k] = '\0';
	if (k > max) {
		mime_utf8_cut(t, max);
		*truncated = true;
		k = strlen(t);
	}
	*out = t;
	*len = k;
	return AG_OK;
}

/* --- RFC 2047 encoded words --- */

typedef struct mime_buf {
	char *p;
	size_t len, cap;
	bool oom;
} mime_buf;

static void mime_buf_add(mime_buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/* Convert raw[0..n) from `charset` and append. */
static void mime_buf_convert(mime_buf *b, const char *raw, size_t n, const char *charset)
{
	if (n == 0)
		return;
	char *t = mime_to_utf8(raw, n, charset, NULL);
	if (!t) {
		b->oom = true;
		return;
	}
	mime_buf_add(b, t, strlen(t));
	free(t);
}

#define MIME_WORD_CHARSET_MAX 64
#define MIME_WORD_MAX         1024 /* longest encoded word looked for (RFC 2047: 75); keeps the scan linear */

/* An encoded word =?charset?B|Q?text?= at s[0..n): its decoded bytes appended to `bytes`, its charset (the RFC 2231
 * language suffix dropped) into cs; the length of the word, 0 when s holds none. */
static size_t mime_word(const char *s, size_t n, mime_buf *bytes, char *cs)
{
	if (n < 8 || s[0] != '=' || s[1] != '?')
		return 0;
	size_t i = 2, c0 = 2;
	while (i < n && s[i] != '?' && s[i] != ' ' && i - c0 < MIME_WORD_CHARSET_MAX - 1)
		i++;
	if (i >= n || s[i] != '?' || i == c0 || i + 3 >= n || s[i + 2] != '?')
		return 0;
	size_t clen = i - c0;
	char enc = (char)toupper((unsigned char)s[i + 1]);
	if (enc != 'B' && enc != 'Q')
		return 0;
	size_t t0 = i + 3, t = t0;
	while (t + 1 < n && !(s[t] == '?' && s[t + 1] == '=') && s[t] != ' ' && t < MIME_WORD_MAX)
		t++;
	if (t + 1 >= n || s[t] != '?' || s[t + 1] != '=')
		return 0;
	memcpy(cs, s + c0, clen);
	cs[clen] = '\0';
	char *star = strchr(cs, '*');
	if (star)
		*star = '\0';
	char *tmp = malloc(t - t0 + 1);
	if (!tmp) {
		bytes->oom = true;
		return t + 2;
	}
	mime_sink o = {.out = tmp, .max = t - t0};
	if (enc == 'B') {
		mime_unbase64(s + t0, t - t0, &o);
	} else {
		for (size_t k = t0; k < t; k++) {
			int h, l;
			if (s[k] == '_') {
				mime_emit(&o, ' ');
			} else if (s[k] == '=' && k + 2 < t && (h = mime_xdigit(s[k + 1])) >= 0 &&
			           (l = mime_xdigit(s[k + 2])) >= 0) {
				mime_emit(&o, (char)(h * 16 + l));
				k += 2;
			} else {
				mime_emit(&o, s[k]);
			}
		}
	}
	mime_buf_add(bytes, tmp, o.len);
	free(tmp);
	return t + 2;
}

char *ag_mime_decode_words(const char *s, size_t n)
{
	mime_buf out = {0}, pend = {0};
	char pend_cs[MIME_WORD_CHARSET_MAX] = "", cs[MIME_WORD_CHARSET_MAX];
	size_t gap = 0; /* start of the text since the last word */
	bool after_word = false;
	for (size_t i = 0; i < n;) {
		size_t wl = 0;
		if (s[i] == '=' && i + 1 < n && s[i + 1] == '?') {
			mime_buf w = {0};
			wl = mime_word(s + i, n - i, &w, cs);
			if (wl > 0) {
				bool blank = true;
				for (size_t k = gap; k < i; k++)
					blank &= s[k] == ' ' || s[k] == '\t' || s[k] == '\r' || s[k] == '\n';
				/* whitespace between two encoded words is not text (RFC 2047 6.2) */
				if (!(after_word && blank) || strcasecmp(cs, pend_cs) != 0) {
					mime_buf_convert(&out, pend.p, pend.len, pend_cs);
					pend.len = 0;
					if (!(after_word && blank))
						mime_buf_convert(&out, s + gap, i - gap, "");
				}
				memcpy(pend_cs, cs, sizeof cs);
				mime_buf_add(&pend, w.p ? w.p : "", w.len);
				pend.oom |= w.oom;
				free(w.p);
				i += wl;
				gap = i;
				after_word = true;
				continue;
			}
			free(w.p);
		}
		i++;
	}
	mime_buf_convert(&out, pend.p, pend.len, pend_cs);
	mime_buf_convert(&out, s + gap, n - gap, "");
	free(pend.p);
	if (out.oom || pend.oom) {
		free(out.p);
		return NULL;
	}
	if (!out.p)
		return calloc(1, 1);
	return out.p;
}
