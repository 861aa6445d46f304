/*
 * mime.c - the e-mail message parser of aegis/mime.h: header sections,
 * parameters (RFC 2045, 2231), boundaries (RFC 2046), the choice of text
 * parts, and the transfer decodings. Charsets and encoded words are in
 * mime_text.c, dates and sniffing in mime_date.c.
 */
#include "aegis/mime.h"

#include "mime_priv.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>

const ag_mime_limits ag_mime_default_limits = {.max_depth = 20, .max_parts = 1000};

typedef struct mime_field {
	char *name;  /* as written */
	char *raw;   /* unfolded, trimmed */
	char *value; /* raw with encoded words decoded (UTF-8) */
} mime_field;

typedef struct mime_entity {
	ag_mime_part pub;
	mime_field *fields;
	int nfields;
	int end; /* one past the last entity of this one's subtree */
	char *filename;
} mime_entity;

struct ag_mime_msg {
	const ag_mime_limits *lim;
	mime_entity *ents;
	int n, cap;
	unsigned defects;
	char first_defect[160];
	void *map; /* ag_mime_parse_fd's mapping */
	size_t map_len;
};

static void mime_defect(ag_mime_msg *m, const char *what)
{
	if (m->defects++ == 0)
		snprintf(m->first_defect, sizeof m->first_defect, "%s", what);
}

/* --- header sections --- */

/* The end of the line at p (one past its '\n', or e). */
static const char *mime_eol(const char *p, const char *e)
{
	const char *nl = memchr(p, '\n', (size_t)(e - p));
	return nl ? nl + 1 : e;
}

static bool mime_blank_line(const char *p, const char *e)
{
	return (p < e && *p == '\n') || (e - p >= 2 && p[0] == '\r' && p[1] == '\n') || (e - p == 1 && *p == '\r');
}

/* Length of a field name at p ending in ':' (printable ASCII, no space), 0 when the line is no field. */
static size_t mime_field_name(const char *p, const char *e)
{
	size_t n = 0;
	while (p + n < e && p[n] != ':') {
		unsigned char c = (unsigned char)p[n];
		if (c <= 32 || c >= 127 || n >= 128)
			return 0;
		n++;
	}
	return p + n < e && n > 0 ? n : 0;
}

static char *mime_strndup(const char *s, size_t n)
{
	char *d = malloc(n + 1);
	if (d) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

/* Copy v[0..n) without CR and LF (unfolding), trimmed, at most AG_MIME_MAX_FIELD_BYTES. */
static char *mime_unfold(const char *v, size_t n)
{
	char *d = malloc((n < AG_MIME_MAX_FIELD_BYTES ? n : AG_MIME_MAX_FIELD_BYTES) + 1);
	size_t k = 0;
	if (!d)
		return NULL;
	for (size_t i = 0; i < n && k < AG_MIME_MAX_FIELD_BYTES; i++)
		if (v[i] != '\r' && v[i] != '\n')
			d[k++] = v[i] == '\t' ? ' ' : v[i];
	size_t b = 0;
	while (b < k && d[b] == ' ')
		b++;
	while (k > b && d[k - 1] == ' ')
		k--;
	memmove(d, d + b, k - b);
	d[k - b] = '\0';
	return d;
}

static ag_status mime_add_field(ag_mime_msg *m, mime_entity *ent, const char *name, size_t nlen, const char *v,
                                size_t vlen)
{
	if (ent->nfields >= AG_MIME_MAX_FIELDS) {
		mime_defect(m, "more header fields than kept");
		return AG_OK;
	}
	if (ent->nfields % 16 == 0) {
		mime_field *f = realloc(ent->fields, sizeof *f * (size_t)(ent->nfields + 16));
		if (!f)
			return AG_E_NOMEM;
		ent->fields = f;
	}
	mime_field *f = &ent->fields[ent->nfields];
	f->name = mime_strndup(name, nlen);
	f->raw = mime_unfold(v, vlen);
	f->value = f->raw ? ag_mime_decode_words(f->raw, strlen(f->raw)) : NULL;
	if (!f->name || !f->raw || !f->value) {
		free(f->name);
		free(f->raw);
		free(f->value);
		return AG_E_NOMEM;
	}
	ent->nfields++;
	return AG_OK;
}

/* Read the header section at [p, e) into ent; *body = where the body starts. */
static ag_status mime_headers(ag_mime_msg *m, mime_entity *ent, const char *p, const char *e, bool top,
                              const char **body)
{
	if (top && e - p >= 5 && memcmp(p, "From ", 5) == 0)
		p = mime_eol(p, e); /* an mbox separator line */
	while (p < e) {
		if (mime_blank_line(p, e)) {
			*body = mime_eol(p, e);
			return AG_OK;
		}
		size_t nlen = mime_field_name(p, e);
		if (nlen == 0) {
			/* No empty line before the body (or a stray continuation): the body starts here. */
			if (ent->nfields > 0 || top)
				mime_defect(m, "a header line that is no field");
			*body = p;
			return AG_OK;
		}
		const char *v = p + nlen + 1, *q = mime_eol(p, e);
		while (q < e && (*q == ' ' || *q == '\t'))
			q = mime_eol(q, e);
		ag_status st = mime_add_field(m, ent, p, nlen, v, (size_t)(q - v));
		if (st != AG_OK)
			return st;
		p = q;
	}
	*body = e; /* headers only */
	return AG_OK;
}

static const char *mime_raw(const mime_entity *ent, const char *name)
{
	for (int i = 0; i < ent->nfields; i++)
		if (strcasecmp(ent->fields[i].name, name) == 0)
			return ent->fields[i].raw;
	return NULL;
}

/* --- structured fields: tokens and parameters (RFC 2045 5.1, RFC 2231) --- */

static const char *mime_skip_cfws(const char *p)
{
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p != '(')
			return p;
		int depth = 0; /* a comment, nested ones too */
		for (; *p; p++) {
			if (*p == '\\' && p[1])
				p++;
			else if (*p == '(')
				depth++;
			else if (*p == ')' && --depth == 0) {
				p++;
				break;
			}
		}
	}
}

static bool mime_tspecial(char c)
{
	return strchr("()<>@,;:\\\"/[]?=", c) != NULL || (unsigned char)c <= 32 || (unsigned char)c >= 127;
}

/* A token at p copied lower-case into dst (size n); returns the position after it. */
static const char *mime_token(const char *p, char *dst, size_t n)
{
	size_t k = 0;
	p = mime_skip_cfws(p);
	for (; *p && !mime_tspecial(*p); p++)
		if (k + 1 < n)
			dst[k++] = (char)tolower((unsigned char)*p);
	dst[k] = '\0';
	return p;
}

/* A parameter value (token or quoted-string) at p into a malloc'd string; *next after it. */
static char *mime_param_value(const char *p, const char **next)
{
	p = mime_skip_cfws(p);
	bool quoted = *p == '"';
	const char *e = quoted ? p + 1 : p;
	if (quoted) {
		while (*e && *e != '"')
			e += e[0] == '\\' && e[1] ? 2 : 1;
	} else {
		/* tolerant: stop at ';' or space rather than at every tspecial (unquoted '/' or '=' in file names) */
		while (*e && *e != ';' && *e != ' ' && *e != '\t')
			e++;
	}
	char *d = malloc((size_t)(e - p) + 1);
	size_t k = 0;
	if (!d)
		return NULL;
	if (quoted) {
		for (p++; p < e; p++) {
			if (*p == '\\' && p + 1 < e)
				p++;
			d[k++] = *p;
		}
		if (*e == '"')
			e++;
	} else {
		memcpy(d, p, (size_t)(e - p));
		k = (size_t)(e - p);
	}
	d[k] = '\0';
	*next = e;
	return d;
}

static int mime_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Append the RFC 2231 extended value v (charset'lang'%xx or, when `first` is false, just %xx) to buf. */
static void mime_ext_value(const char *v, bool first, char *charset, size_t cslen, char *buf, size_t *k, size_t max)
{
	if (first) {
		const char *q1 = strchr(v, '\'');
		const char *q2 = q1 ? strchr(q1 + 1, '\'') : NULL;
		if (q2) {
			size_t n = (size_t)(q1 - v) < cslen - 1 ? (size_t)(q1 - v) : cslen - 1;
			memcpy(charset, v, n);
			charset[n] = '\0';
			v = q2 + 1;
		}
	}
	for (; *v && *k < max; v++) {
		int h, l;
		if (*v == '%' && (h = mime_hex(v[1])) >= 0 && (l = mime_hex(v[2])) >= 0) {
			buf[(*k)++] = (char)(h * 16 + l);
			v += 2;
		} else {
			buf[(*k)++] = *v;
		}
	}
}

#define MIME_MAX_SECTIONS 64 /* RFC 2231 continuations of one parameter */

/* The parameter `name` of a Content-Type/Disposition value after its first ';', as malloc'd UTF-8 (RFC 2231 forms
 * preferred, encoded words decoded); NULL when absent or on OOM. */
static char *mime_param(const char *params, const char *name, size_t max)
{
	char *plain = NULL, *sect[MIME_MAX_SECTIONS] = {0}, *out = NULL;
	bool ext[MIME_MAX_SECTIONS] = {0}, any = false;
	size_t nl = strlen(name);
	const char *p = params;
	while (p && *p) {
		p = strchr(p, ';');
		if (!p)
			break;
		p = mime_skip_cfws(p + 1);
		const char *a = p;
		while (*p && *p != '=' && *p != ';' && *p != ' ' && *p != '\t')
			p++;
		const char *ae = p;
		p = mime_skip_cfws(p);
		if (*p != '=')
			continue;
		const char *next = p + 1;
		if ((size_t)(ae - a) < nl || strncasecmp(a, name, nl) != 0)
			continue;
		const char *suf = a + nl;
		char *v = mime_param_value(p + 1, &next);
		if (!v)
			goto out;
		if (suf == ae && !plain) {
			plain = v;
			v = NULL;
		} else if (*suf == '*') {
			int idx = 0;
			bool star = false;
			if (suf + 1 == ae) {
				star = true; /* name*= */
			} else {
				const char *d = suf + 1;
				while (d < ae && isdigit((unsigned char)*d) && idx < 1000)
					idx = idx * 10 + (*d++ - '0');
				if (d < ae && *d == '*')
					star = true, d++;
				if (d != ae)
					idx = -1;
			}
			if (idx >= 0 && idx < MIME_MAX_SECTIONS && !sect[idx]) {
				sect[idx] = v;
				ext[idx] = star;
				any = true;
				v = NULL;
			}
		}
		free(v);
		p = next;
	}
	if (any && sect[0]) {
		char charset[AG_MIME_CHARSET_MAX] = "", *buf = malloc(max + 1);
		size_t k = 0;
		if (!buf)
			goto out;
		for (int i = 0; i < MIME_MAX_SECTIONS && sect[i]; i++) {
			if (ext[i]) {
				mime_ext_value(sect[i], i == 0, charset, sizeof charset, buf, &k, max);
			} else {
				size_t n = strlen(sect[i]);
				n = n < max - k ? n : max - k;
				memcpy(buf + k, sect[i], n);
				k += n;
			}
		}
		out = mime_to_utf8(buf, k, charset, NULL);
		free(buf);
	} else if (plain) {
		size_t n = strlen(plain);
		out = ag_mime_decode_words(plain, n < max ? n : max);
	}
	if (out)
		mime_utf8_cut(out, max);
out:
	free(plain);
	for (int i = 0; i < MIME_MAX_SECTIONS; i++)
		free(sect[i]);
	return out;
}

/* --- entities --- */

static ag_status mime_parse_entity(ag_mime_msg *m, const char *p, const char *e, int parent, int depth, bool digest,
                                   ag_err *err);

static ag_status mime_new_entity(ag_mime_msg *m, int parent, int depth, ag_err *err)
{
	if (depth > m->lim->max_depth)
		return ag_err_set(err, AG_E_TOOBIG, "the message nests parts deeper than %lld levels (MAIL_MAX_DEPTH)",
		                  m->lim->max_depth);
	if (m->n >= m->lim->max_parts)
		return ag_err_set(err, AG_E_TOOBIG, "the message has more than %lld parts (MAIL_MAX_PARTS)",
		                  m->lim->max_parts);
	if (m->n == m->cap) {
		int cap = m->cap ? m->cap * 2 : 8;
		mime_entity *n = realloc(m->ents, sizeof *n * (size_t)cap);
		if (!n)
			return ag_err_set(err, AG_E_NOMEM, "out of memory");
		m->ents = n;
		m->cap = cap;
	}
	mime_entity *ent = &m->ents[m->n++];
	memset(ent, 0, sizeof *ent);
	ent->pub.parent = parent;
	ent->pub.depth = depth;
	return AG_OK;
}

/* The next delimiter line "--boundary[--]" at a line start in [p, e): its start, *after = the next line, *close
 * for the closing one. NULL when there is none. */
static const char *mime_delimiter(const char *p, const char *e, const char *b, size_t blen, const char **after,
                                  bool *close)
{
	const char *start = p;
	while (p < e) {
		const char *d = memmem(p, (size_t)(e - p), "--", 2);
		if (!d)
			return NULL;
		p = d + 1;
		if ((d != start && d[-1] != '\n') || (size_t)(e - d - 2) < blen || memcmp(d + 2, b, blen) != 0)
			continue;
		const char *q = d + 2 + blen;
		bool c = e - q >= 2 && q[0] == '-' && q[1] == '-';
		if (c)
			q += 2;
		while (q < e && (*q == ' ' || *q == '\t' || *q == '\r'))
			q++;
		if (q < e && *q != '\n')
			continue; /* a longer boundary, or text after it */
		*after = q < e ? q + 1 : e;
		*close = c;
		return d;
	}
	return NULL;
}

/* Split a multipart body at its boundary; false when no delimiter was found. */
static ag_status mime_multipart(ag_mime_msg *m, const char *p, const char *e, const char *b, int self, int depth,
                                bool digest, bool *found, ag_err *err)
{
	size_t blen = strlen(b);
	const char *after, *part = NULL;
	bool close = false;
	*found = false;
	for (const char *d; (d = mime_delimiter(p, e, b, blen, &after, &close)) != NULL; p = after) {
		if (part) {
			const char *pe = d;
			if (pe > part && pe[-1] == '\n')
				pe--;
			if (pe > part && pe[-1] == '\r')
				pe--;
			ag_status st = mime_parse_entity(m, part, pe, self, depth + 1, digest, err);
			if (st != AG_OK)
				return st;
		}
		*found = true;
		if (close)
			return AG_OK;
		part = after;
	}
	if (part) {
		mime_defect(m, "a multipart without its closing delimiter");
		return mime_parse_entity(m, part, e, self, depth + 1, digest, err);
	}
	return AG_OK;
}

static ag_mime_cte mime_cte(ag_mime_msg *m, const char *v)
{
	char t[32];
	if (!v)
		return AG_MIME_7BIT;
	mime_token(v, t, sizeof t);
	if (strcmp(t, "base64") == 0)
		return AG_MIME_BASE64;
	if (strcmp(t, "quoted-printable") == 0)
		return AG_MIME_QP;
	if (strcmp(t, "8bit") == 0)
		return AG_MIME_8BIT;
	if (strcmp(t, "binary") == 0)
		return AG_MIME_BINARY;
	if (strcmp(t, "7bit") != 0)
		mime_defect(m, "an unknown Content-Transfer-Encoding");
	return AG_MIME_7BIT;
}

static ag_status mime_parse_entity(ag_mime_msg *m, const char *p, const char *e, int parent, int depth, bool digest,
                                   ag_err *err)
{
	ag_status st = mime_new_entity(m, parent, depth, err);
	if (st != AG_OK)
		return st;
	int self = m->n - 1;
	const char *body = e;
	st = mime_headers(m, &m->ents[self], p, e, parent < 0, &body);
	if (st != AG_OK)
		return ag_err_set(err, st, "out of memory");

	mime_entity *ent = &m->ents[self]; /* valid until the next mime_new_entity */
	const char *ct = mime_raw(ent, "Content-Type"), *cd = mime_raw(ent, "Content-Disposition");
	char type[AG_MIME_TYPE_MAX / 2] = "", sub[AG_MIME_TYPE_MAX / 2 - 1] = "", disp[32] = "";
	const char *params = NULL;
	if (ct) {
		const char *q = mime_token(ct, type, sizeof type);
		q = mime_skip_cfws(q);
		if (*q == '/')
			params = mime_token(q + 1, sub, sizeof sub);
	}
	if (type[0] && sub[0]) {
		snprintf(ent->pub.type, sizeof ent->pub.type, "%s/%s", type, sub);
	} else {
		if (ct)
			mime_defect(m, "an unparsable Content-Type");
		snprintf(ent->pub.type, sizeof ent->pub.type, "%s", digest ? "message/rfc822" : "text/plain");
		params = NULL;
	}
	char *cs = params ? mime_param(params, "charset", AG_MIME_CHARSET_MAX - 1) : NULL;
	if (cs) {
		for (size_t i = 0; cs[i]; i++)
			ent->pub.charset[i] = (char)tolower((unsigned char)cs[i]);
		free(cs);
	}
	ent->pub.encoding = mime_cte(m, mime_raw(ent, "Content-Transfer-Encoding"));
	if (cd)
		mime_token(cd, disp, sizeof disp);
	const char *dparams = cd ? strchr(cd, ';') : NULL;
	ent->filename = dparams ? mime_param(dparams, "filename", AG_MIME_MAX_FILENAME) : NULL;
	if (!ent->filename && params)
		ent->filename = mime_param(params, "name", AG_MIME_MAX_FILENAME);
	if (ent->filename && !ent->filename[0]) {
		free(ent->filename);
		ent->filename = NULL;
	}
	ent->pub.filename = ent->filename;
	ent->pub.attachment = strcmp(disp, "attachment") == 0 || ent->filename != NULL;
	ent->pub.body = body;
	ent->pub.body_len = (size_t)(e - body);

	bool identity = ent->pub.encoding != AG_MIME_BASE64 && ent->pub.encoding != AG_MIME_QP;
	if (strncmp(ent->pub.type, "multipart/", 10) == 0) {
		char *b = params ? mime_param(params, "boundary", AG_MIME_MAX_BOUNDARY + 1) : NULL;
		bool found = false;
		if (b && b[0] && strlen(b) <= AG_MIME_MAX_BOUNDARY && identity) {
			ent->pub.multipart = true;
			st = mime_multipart(m, body, e, b, self, depth, strcmp(ent->pub.type, "multipart/digest") == 0,
			                    &found, err);
			ent = &m->ents[self];
		}
		free(b);
		if (st != AG_OK)
			return st;
		if (!found) {
			/* best effort: the body as text, so whatever it holds is still read */
			mime_defect(m, "a multipart without a usable boundary");
			ent->pub.multipart = false;
			snprintf(ent->pub.type, sizeof ent->pub.type, "text/plain");
		}
	} else if (strcmp(ent->pub.type, "message/rfc822") == 0 && identity) {
		ent->pub.message = true;
		st = mime_parse_entity(m, body, e, self, depth + 1, false, err);
		if (st != AG_OK)
			return st;
		ent = &m->ents[self];
	}
	if (!ent->pub.multipart && !ent->pub.message)
		ent->pub.size = mime_decoded_size(&ent->pub);
	if (ent->pub.message)
		ent->pub.size = ent->pub.body_len;
	ent->pub.html = strcmp(ent->pub.type, "text/html") == 0;
	ent->end = m->n;
	return AG_OK;
}

/* --- which leaves are the message's text --- */

static bool mime_subtree_has(const ag_mime_msg *m, int i, const char *type)
{
	for (int j = i; j < m->ents[i].end; j++)
		if (!m->ents[j].pub.attachment && strcmp(m->ents[j].pub.type, type) == 0)
			return true;
	return false;
}

/* In multipart/alternative i: the first child holding text/plain, else text/html, else the last child. */
static int mime_alternative(const ag_mime_msg *m, int i)
{
	static const char *const prefer[] = {"text/plain", "text/html"};
	int last = -1;
	for (size_t k = 0; k < sizeof prefer / sizeof prefer[0]; k++)
		for (int c = i + 1; c < m->ents[i].end; c = m->ents[c].end)
			if (mime_subtree_has(m, c, prefer[k]))
				return c;
	for (int c = i + 1; c < m->ents[i].end; c = m->ents[c].end)
		last = c;
	return last;
}

static ag_status mime_choose_text(ag_mime_msg *m, ag_err *err)
{
	bool *hidden = calloc((size_t)m->n, sizeof *hidden);
	if (!hidden)
		return ag_err_set(err, AG_E_NOMEM, "out of memory");
	for (int i = 0; i < m->n; i++) {
		mime_entity *ent = &m->ents[i];
		int par = ent->pub.parent;
		if ((par >= 0 && hidden[par]) || ent->pub.attachment)
			hidden[i] = true;
		if (ent->pub.multipart && !hidden[i] && strcmp(ent->pub.type, "multipart/alternative") == 0) {
			int keep = mime_alternative(m, i);
			for (int c = i + 1; c < ent->end; c = m->ents[c].end)
				hidden[c] = c != keep;
		}
		if (!hidden[i] && !ent->pub.multipart && !ent->pub.message && strncmp(ent->pub.type, "text/", 5) == 0)
			ent->pub.text = true;
	}
	free(hidden);
	return AG_OK;
}

/* --- the public interface --- */

ag_status ag_mime_parse(const void *buf, size_t len, const ag_mime_limits *lim, ag_mime_msg **out, ag_err *err)
{
	ag_mime_msg *m = calloc(1, sizeof *m);
	ag_status st = AG_E_NOMEM;
	*out = NULL;
	if (!m)
		return ag_err_set(err, st, "out of memory");
	m->lim = lim ? lim : &ag_mime_default_limits;
	st = mime_parse_entity(m, buf, (const char *)buf + len, -1, 0, false, err);
	if (st == AG_OK)
		st = mime_choose_text(m, err);
	if (st != AG_OK) {
		ag_mime_free(m);
		return st;
	}
	*out = m;
	return AG_OK;
}

ag_status ag_mime_parse_fd(int fd, const ag_mime_limits *lim, ag_mime_msg **out, ag_err *err)
{
	struct stat sb;
	void *map = NULL;
	*out = NULL;
	if (fstat(fd, &sb) != 0)
		return ag_err_set(err, AG_E_IO, "fstat: %s", strerror(errno));
	if (sb.st_size > 0) {
		map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (map == MAP_FAILED)
			return ag_err_set(err, errno == ENOMEM ? AG_E_NOMEM : AG_E_IO, "mmap: %s", strerror(errno));
	}
	ag_status st = ag_mime_parse(map ? map : "", (size_t)sb.st_size, lim, out, err);
	if (st != AG_OK) {
		if (map)
			munmap(map, (size_t)sb.st_size);
		return st;
	}
	(*out)->map = map;
	(*out)->map_len = (size_t)sb.st_size;
	return AG_OK;
}

void ag_mime_free(ag_mime_msg *m)
{
	if (!m)
		return;
	if (m->map)
		munmap(m->map, m->map_len);
	for (int i = 0; i < m->n; i++) {
		for (int f = 0; f < m->ents[i].nfields; f++) {
			free(m->ents[i].fields[f].name);
			free(m->ents[i].fields[f].raw);
			free(m->ents[i].fields[f].value);
		}
		free(m->ents[i].fields);
		free(m->ents[i].filename);
	}
	free(m->ents);
	free(m);
}

size_t ag_mime_count(const ag_mime_msg *m)
{
	return (size_t)m->n;
}

const ag_mime_part *ag_mime_part_at(const ag_mime_msg *m, size_t i)
{
	return i < (size_t)m->n ? &m->ents[i].pub : NULL;
}

unsigned ag_mime_defects(const ag_mime_msg *m)
{
	return m->defects;
}

const char *ag_mime_first_defect(const ag_mime_msg *m)
{
	return m->first_defect;
}

const char *ag_mime_header(const ag_mime_msg *m, size_t i, const char *name)
{
	if (i >= (size_t)m->n)
		return NULL;
	const mime_entity *ent = &m->ents[i];
	for (int f = 0; f < ent->nfields; f++)
		if (strcasecmp(ent->fields[f].name, name) == 0)
			return ent->fields[f].value;
	return NULL;
}
