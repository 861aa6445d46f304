/*
 * charset.c - detection and conversion of text to clean UTF-8, in pieces.
 * Every conversion ends in the same UTF-8 decoder, so BOM, line ends, NULs,
 * invalid sequences and the output cap are handled in one place.
 */
#include "charset.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

const char *charset_name(charset_id id)
{
	switch (id) {
	case CHARSET_UTF8:
		return "utf-8";
	case CHARSET_UTF16LE:
		return "utf-16le";
	case CHARSET_UTF16BE:
		return "utf-16be";
	case CHARSET_WINDOWS_1252:
		return "windows-1252";
	}
	return "unknown";
}

enum { UTF8_MORE = 0, UTF8_BAD = -1, UTF8_BAD_AGAIN = -2 };

/* Push one byte: returns the length of a completed code point (in u->seq), UTF8_MORE, UTF8_BAD (the byte is
 * invalid and gone) or UTF8_BAD_AGAIN (the partial sequence was invalid and is gone; push `c` again). */
static int charset_utf8_push(charset_utf8 *u, unsigned char c)
{
	if (u->have == 0) {
		if (c < 0x80) {
			u->seq[0] = c;
			return 1;
		}
		if (c >= 0xC2 && c <= 0xDF)
			u->need = 2;
		else if (c >= 0xE0 && c <= 0xEF)
			u->need = 3;
		else if (c >= 0xF0 && c <= 0xF4)
			u->need = 4;
		else
			return UTF8_BAD;
		u->seq[u->have++] = c;
		return UTF8_MORE;
	}
	unsigned char lo = 0x80, hi = 0xBF;
	if (u->have == 1) { /* no overlongs, no surrogates, nothing above U+10FFFF */
		if (u->seq[0] == 0xE0)
			lo = 0xA0;
		else if (u->seq[0] == 0xED)
			hi = 0x9F;
		else if (u->seq[0] == 0xF0)
			lo = 0x90;
		else if (u->seq[0] == 0xF4)
			hi = 0x8F;
	}
	if (c < lo || c > hi) {
		u->have = 0;
		return UTF8_BAD_AGAIN;
	}
	u->seq[u->have++] = c;
	if (u->have < u->need)
		return UTF8_MORE;
	int n = u->have;
	u->have = 0;
	return n;
}

void charset_detect_init(charset_detect *d)
{
	memset(d, 0, sizeof *d);
}

void charset_detect_feed(charset_detect *d, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	for (size_t i = 0; i < len; i++) {
		if (d->nhead < sizeof d->head)
			d->head[d->nhead++] = p[i];
		int r = charset_utf8_push(&d->u, p[i]);
		if (r == UTF8_BAD_AGAIN) {
			d->invalid++;
			r = charset_utf8_push(&d->u, p[i]);
		}
		if (r == UTF8_BAD)
			d->invalid++;
		else if (r > 1)
			d->multibyte++;
	}
}

charset_id charset_detect_finish(charset_detect *d)
{
	if (d->u.have > 0) {
		d->invalid++;
		d->u.have = 0;
	}
	if (d->nhead >= 3 && memcmp(d->head, "\xEF\xBB\xBF", 3) == 0)
		return CHARSET_UTF8;
	if (d->nhead >= 2 && d->head[0] == 0xFF && d->head[1] == 0xFE)
		return CHARSET_UTF16LE;
	if (d->nhead >= 2 && d->head[0] == 0xFE && d->head[1] == 0xFF)
		return CHARSET_UTF16BE;
	if (d->invalid == 0 || d->multibyte >= CHARSET_UTF8_TOLERANCE * d->invalid)
		return CHARSET_UTF8;
	return CHARSET_WINDOWS_1252;
}

ag_status charset_decoder_init(charset_decoder *d, charset_id id, size_t max_bytes, ag_err *err)
{
	static const char *const from[] = {[CHARSET_UTF16LE] = "UTF-16LE",
	                                   [CHARSET_UTF16BE] = "UTF-16BE",
	                                   [CHARSET_WINDOWS_1252] = "WINDOWS-1252"};
	memset(d, 0, sizeof *d);
	d->id = id;
	d->cd = (iconv_t)-1;
	d->max = max_bytes;
	if (id != CHARSET_UTF8) {
		d->cd = iconv_open("UTF-8", from[id]);
		if (d->cd == (iconv_t)-1)
			return ag_err_set(err, AG_E_UNSUPPORTED, "iconv cannot convert %s: %s", from[id],
			                  strerror(errno));
	}
	d->alloc = CHARSET_OUT_INITIAL < max_bytes + 1 ? CHARSET_OUT_INITIAL : max_bytes + 1;
	d->out = malloc(d->alloc);
	if (!d->out) {
		charset_decoder_free(d);
		return ag_err_set(err, AG_E_NOMEM, "out of memory");
	}
	d->out[0] = '\0';
	return AG_OK;
}

bool charset_decoder_full(const charset_decoder *d)
{
	return d->truncated;
}

/* One whole code point of decoded text: normalise it and append it if it fits. */
static ag_status charset_emit(charset_decoder *d, const unsigned char *s, size_t n, ag_err *err)
{
	bool first = !d->started;
	d->started = true;
	if (first && n == 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
		return AG_OK; /* byte-order mark */
	if (n == 1 && s[0] == '\0')
		return AG_OK;
	if (n == 1 && s[0] == '\n' && d->after_cr) {
		d->after_cr = false; /* the LF of a CRLF: the CR already became one */
		return AG_OK;
	}
	d->after_cr = n == 1 && s[0] == '\r';
	if (d->after_cr)
		s = (const unsigned char *)"\n";
	if (d->truncated)
		return AG_OK;
	if (d->len + n > d->max) {
		d->truncated = true;
		return AG_OK;
	}
	if (d->len + n + 1 > d->alloc) {
		size_t want = d->alloc * 2;
		if (want < d->len + n + 1)
			want = d->len + n + 1;
		if (want > d->max + 1)
			want = d->max + 1;
		char *p = realloc(d->out, want);
		if (!p)
			return ag_err_set(err, AG_E_NOMEM, "out of memory (%zu bytes of text)", want);
		d->out = p;
		d->alloc = want;
	}
	memcpy(d->out + d->len, s, n);
	d->len += n;
	d->out[d->len] = '\0';
	d->chars++;
	return AG_OK;
}

static ag_status charset_utf8_feed(charset_decoder *d, const unsigned char *p, size_t len, ag_err *err)
{
	for (size_t i = 0; i < len && !d->truncated; i++) {
		int r = charset_utf8_push(&d->u, p[i]);
		if (r == UTF8_BAD_AGAIN) {
			d->dropped++;
			r = charset_utf8_push(&d->u, p[i]);
		}
		if (r == UTF8_BAD) {
			d->dropped++;
		} else if (r > 0) {
			ag_status st = charset_emit(d, d->u.seq, (size_t)r, err);
			if (st != AG_OK)
				return st;
		}
	}
	return AG_OK;
}

/* Convert with iconv, handing every piece of UTF-8 output to the UTF-8 path. Undecodable input units are
 * dropped; an incomplete unit at the end waits in `pend` for the next piece (or is dropped when final). */
static ag_status charset_iconv_feed(charset_decoder *d, const unsigned char *buf, size_t len, bool final, ag_err *err)
{
	ag_status st = AG_OK;
	size_t unit = d->id == CHARSET_WINDOWS_1252 ? 1 : 2;
	unsigned char *work = NULL;
	const unsigned char *src = buf;
	size_t total = len;
	if (d->npend > 0) {
		total = d->npend + len;
		work = malloc(total);
		if (!work)
			return ag_err_set(err, AG_E_NOMEM, "out of memory");
		memcpy(work, d->pend, d->npend);
		if (len)
			memcpy(work + d->npend, buf, len);
		src = work;
		d->npend = 0;
	}
	char *in = (char *)(uintptr_t)src;
	size_t inleft = total;
	char outbuf[CHARSET_ICONV_OUT_BYTES];
	while (inleft > 0 && !d->truncated) {
		char *o = outbuf;
		size_t oleft = sizeof outbuf;
		size_t r = iconv(d->cd, &in, &inleft, &o, &oleft);
		int e = errno;
		st = charset_utf8_feed(d, (const unsigned char *)outbuf, (size_t)(o - outbuf), err);
		if (st != AG_OK)
			goto out;
		if (r != (size_t)-1 || e == E2BIG)
			continue;
		if (e == EILSEQ) {
			size_t skip = inleft < unit ? inleft : unit;
			in += skip;
			inleft -= skip;
			d->dropped++;
		} else if (e == EINVAL) { /* an incomplete unit (or surrogate pair) at the end */
			if (!final && inleft <= sizeof d->pend) {
				memcpy(d->pend, in, inleft);
				d->npend = inleft;
			} else {
				d->dropped++;
			}
			inleft = 0;
		} else {
			st = ag_err_set(err, AG_E_INTERNAL, "iconv: %s", strerror(e));
			goto out;
		}
	}
out:
	free(work);
	return st;
}

ag_status charset_decoder_feed(charset_decoder *d, const void *buf, size_t len, ag_err *err)
{
	if (d->truncated)
		return AG_OK;
	if (d->id == CHARSET_UTF8)
		return charset_utf8_feed(d, buf, len, err);
	return charset_iconv_feed(d, buf, len, false, err);
}

ag_status charset_decoder_finish(charset_decoder *d, ag_err *err)
{
	ag_status st = AG_OK;
	if (d->id != CHARSET_UTF8 && d->npend > 0 && !d->truncated)
		st = charset_iconv_feed(d, NULL, 0, true, err);
	if (d->u.have > 0) {
		d->u.have = 0;
		d->dropped++;
	}
	return st;
}

char *charset_decoder_take(charset_decoder *d, size_t *len)
{
	char *out = d->out;
	*len = d->len;
	d->out = NULL;
	d->len = d->alloc = 0;
	return out;
}

void charset_decoder_free(charset_decoder *d)
{
	if (d->cd != (iconv_t)-1 && d->cd != (iconv_t)0)
		iconv_close(d->cd);
	d->cd = (iconv_t)-1;
	free(d->out);
	d->out = NULL;
}
