/*
 * multipart.c - streaming multipart/form-data parser (see multipart.h).
 *
 * Delimiter search: a delimiter is "\r\n--" + boundary. RFC 2046 boundary
 * characters never include CR, so after a partial match fails the only
 * place a new match can start is a '\r' - no KMP table needed. Bytes that
 * matched a prefix and then turned out to be data are re-emitted from the
 * delimiter text itself, which is why chunk splits never need a copy of the
 * input. The first delimiter may come without the leading CRLF: the parser
 * starts as if it had just seen one.
 */
#include "multipart.h"

#include "hparams.h"

#include <string.h>
#include <strings.h>

enum {
	MP_PREAMBLE,
	MP_AFTER_DELIM, /* "--boundary" seen: "--" closes, else padding then CRLF */
	MP_CLOSE_DASH,
	MP_AFTER_DELIM_CR,
	MP_HEADERS,
	MP_BODY,
	MP_END,
	MP_FAILED,
};

static ag_status multipart_fail(multipart *mp, ag_status st, const char *why)
{
	mp->state = MP_FAILED;
	mp->failed = st;
	mp->error = why;
	return st;
}

static bool multipart_is_bchar(unsigned char c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return true;
	return c != '\0' && strchr("'()+_,-./:=? ", c) != NULL;
}

ag_status multipart_boundary(const char *content_type, char out[AG_MULTIPART_BOUNDARY_MAX + 1])
{
	char mt[HPARAMS_MEDIA_TYPE_MAX + 1];
	char name[HPARAMS_NAME_MAX + 1];
	char value[AG_MULTIPART_BOUNDARY_MAX + 1];
	const char *p = content_type;
	size_t len = 0;
	bool found = false;
	ag_status st;

	if (!p || hparams_token(&p, mt, sizeof mt) != AG_OK || strcmp(mt, "multipart/form-data") != 0)
		return AG_E_UNSUPPORTED;
	while ((st = hparams_next(&p, name, value, sizeof value, &len)) == AG_OK) {
		if (strcmp(name, "boundary") != 0)
			continue;
		if (found)
			return AG_E_PROTO;
		found = true;
		if (len == 0 || value[len - 1] == ' ')
			return AG_E_PROTO;
		for (size_t i = 0; i < len; i++)
			if (!multipart_is_bchar((unsigned char)value[i]))
				return AG_E_PROTO;
		memcpy(out, value, len + 1);
	}
	if (st != AG_E_NOTFOUND)
		return AG_E_PROTO; /* includes a boundary longer than 70 */
	return found ? AG_OK : AG_E_PROTO;
}

void multipart_init(multipart *mp, const char *boundary, const multipart_callbacks *cb, void *ud)
{
	size_t blen = strlen(boundary);
	memset(mp, 0, sizeof *mp);
	if (blen > AG_MULTIPART_BOUNDARY_MAX)
		blen = AG_MULTIPART_BOUNDARY_MAX;
	memcpy(mp->delim, "\r\n--", 4);
	memcpy(mp->delim + 4, boundary, blen);
	mp->delim_len = 4 + blen;
	mp->delim[mp->delim_len] = '\0';
	mp->match = 2; /* the first delimiter may start the body without a CRLF */
	mp->state = MP_PREAMBLE;
	mp->failed = AG_OK;
	mp->error = "";
	mp->cb = *cb;
	mp->ud = ud;
}

bool multipart_complete(const multipart *mp)
{
	return mp->state == MP_END;
}

const char *multipart_error(const multipart *mp)
{
	return mp->error ? mp->error : "";
}

/* One "Name: value" line, NUL-terminated in place (no CRLF). */
static ag_status multipart_header_line(multipart *mp, char *line, bool *seen_cd, bool *seen_ct)
{
	char *colon = strchr(line, ':');
	char *v, *end;
	if (line[0] == ' ' || line[0] == '\t')
		return multipart_fail(mp, AG_E_PROTO, "folded part header");
	if (!colon || colon == line)
		return multipart_fail(mp, AG_E_PROTO, "malformed part header");
	for (char *c = line; c < colon; c++)
		if (*c <= ' ' || *c >= 0x7f)
			return multipart_fail(mp, AG_E_PROTO, "malformed part header name");
	*colon = '\0';
	v = colon + 1;
	while (*v == ' ' || *v == '\t')
		v++;
	end = v + strlen(v);
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';

	if (strcasecmp(line, "content-disposition") == 0) {
		if (*seen_cd)
			return multipart_fail(mp, AG_E_PROTO, "part has two Content-Disposition headers");
		*seen_cd = true;
		ag_status st = disposition_parse(v, &mp->part.cd);
		if (st == AG_E_TOOBIG)
			return multipart_fail(mp, AG_E_TOOBIG, "part name or filename too long");
		if (st != AG_OK)
			return multipart_fail(mp, AG_E_PROTO, "malformed Content-Disposition in a part");
	} else if (strcasecmp(line, "content-type") == 0) {
		size_t n = (size_t)(end - v);
		if (*seen_ct)
			return multipart_fail(mp, AG_E_PROTO, "part has two Content-Type headers");
		*seen_ct = true;
		if (n > MULTIPART_CTYPE_MAX)
			return multipart_fail(mp, AG_E_PROTO, "part Content-Type too long");
		memcpy(mp->part.content_type, v, n + 1);
	}
	return AG_OK;
}

/* The header block is complete in mp->hdr (ending with an empty line): parse it and announce the part. */
static ag_status multipart_headers_done(multipart *mp)
{
	bool seen_cd = false, seen_ct = false;
	size_t end = mp->hdr_len - 2; /* drop the empty line's CRLF */
	size_t pos = 0;
	ag_status st;

	memset(&mp->part, 0, sizeof mp->part);
	while (pos < end) {
		char *line = mp->hdr + pos;
		char *crlf = memchr(line, '\r', end - pos);
		if (!crlf || (size_t)(crlf - mp->hdr) + 1 >= mp->hdr_len || crlf[1] != '\n')
			return multipart_fail(mp, AG_E_PROTO, "part header line without CRLF");
		*crlf = '\0';
		if (memchr(line, '\n', (size_t)(crlf - line)))
			return multipart_fail(mp, AG_E_PROTO, "bare LF in part headers");
		pos = (size_t)(crlf - mp->hdr) + 2;
		st = multipart_header_line(mp, line, &seen_cd, &seen_ct);
		if (st != AG_OK)
			return st;
	}
	if (mp->cb.on_part) {
		st = mp->cb.on_part(mp->ud, &mp->part);
		if (st != AG_OK)
			return multipart_fail(mp, st, "part refused");
	}
	mp->state = MP_BODY;
	mp->match = 0;
	return AG_OK;
}

static ag_status multipart_emit(multipart *mp, const char *data, size_t len)
{
	if (len == 0 || !mp->cb.on_data)
		return AG_OK;
	ag_status st = mp->cb.on_data(mp->ud, data, len);
	return st == AG_OK ? AG_OK : multipart_fail(mp, st, "part data refused");
}

/* Part data up to the next delimiter. Advances *pi; leaves the state at MP_AFTER_DELIM when one was found. */
static ag_status multipart_body(multipart *mp, const char *data, size_t len, size_t *pi)
{
	size_t i = *pi, run = i; /* [run, i) is input known to be data, not yet emitted */
	ag_status st;

	while (i < len) {
		if (mp->match == 0) {
			const char *cr = memchr(data + i, '\r', len - i);
			if (!cr) {
				i = len;
				break;
			}
			i = (size_t)(cr - data);
			st = multipart_emit(mp, data + run, i - run);
			if (st != AG_OK)
				return st;
			mp->match = 1;
			run = ++i;
			continue;
		}
		if (data[i] == mp->delim[mp->match]) {
			mp->match++;
			run = ++i;
			if (mp->match == mp->delim_len) {
				mp->match = 0;
				mp->state = MP_AFTER_DELIM;
				*pi = i;
				if (mp->cb.on_part_end && (st = mp->cb.on_part_end(mp->ud)) != AG_OK)
					return multipart_fail(mp, st, "part end refused");
				return AG_OK;
			}
			continue;
		}
		/* not a delimiter after all: what matched so far was data */
		st = multipart_emit(mp, mp->delim, mp->match);
		if (st != AG_OK)
			return st;
		mp->match = 0;
		run = i;
	}
	st = multipart_emit(mp, data + run, i - run);
	*pi = i;
	return st;
}

static ag_status multipart_header_bytes(multipart *mp, const char *data, size_t len, size_t *pi)
{
	size_t i = *pi;
	while (i < len) {
		if (mp->hdr_len == sizeof mp->hdr)
			return multipart_fail(mp, AG_E_TOOBIG, "part headers too large");
		char c = data[i++];
		mp->hdr[mp->hdr_len++] = c;
		if (c != '\n')
			continue;
		if ((mp->hdr_len == 2 && mp->hdr[0] == '\r') ||
		    (mp->hdr_len >= 4 && memcmp(mp->hdr + mp->hdr_len - 4, "\r\n\r\n", 4) == 0)) {
			*pi = i;
			return multipart_headers_done(mp);
		}
	}
	*pi = i;
	return AG_OK;
}

ag_status multipart_feed(multipart *mp, const char *data, size_t len)
{
	size_t i = 0;
	ag_status st = AG_OK;

	while (i < len && st == AG_OK) {
		char c;
		switch (mp->state) {
		case MP_PREAMBLE:
			c = data[i++];
			if (c == mp->delim[mp->match]) {
				if (++mp->match == mp->delim_len) {
					mp->match = 0;
					mp->state = MP_AFTER_DELIM;
				}
			} else {
				mp->match = c == '\r' ? 1 : 0;
			}
			break;
		case MP_AFTER_DELIM:
			c = data[i++];
			if (c == '-')
				mp->state = MP_CLOSE_DASH;
			else if (c == '\r')
				mp->state = MP_AFTER_DELIM_CR;
			else if (c != ' ' && c != '\t')
				st = multipart_fail(mp, AG_E_PROTO, "junk after a boundary");
			break;
		case MP_CLOSE_DASH:
			c = data[i++];
			if (c == '-')
				mp->state = MP_END;
			else
				st = multipart_fail(mp, AG_E_PROTO, "junk after a boundary");
			break;
		case MP_AFTER_DELIM_CR:
			c = data[i++];
			if (c != '\n') {
				st = multipart_fail(mp, AG_E_PROTO, "boundary line without CRLF");
			} else if (++mp->nparts > MULTIPART_PARTS_MAX) {
				st = multipart_fail(mp, AG_E_TOOBIG, "too many parts");
			} else {
				mp->hdr_len = 0;
				mp->state = MP_HEADERS;
			}
			break;
		case MP_HEADERS:
			st = multipart_header_bytes(mp, data, len, &i);
			break;
		case MP_BODY:
			st = multipart_body(mp, data, len, &i);
			break;
		case MP_END:
			i = len; /* the epilogue is ignored */
			break;
		default:
			return mp->failed;
		}
	}
	return mp->state == MP_FAILED ? mp->failed : st;
}
