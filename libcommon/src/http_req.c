/*
 * http_req.c - the request object of the HTTP server: collecting the request
 * line and headers under their limits, decoding the target (path segments,
 * query), the public accessors, reference counting, backpressure and
 * deferred work on the thread pool.
 */
#include "aegis/http.h"
#include "aegis/str.h"

#include "aegis/log.h"
#include "http_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HTTP_HBUF_INITIAL 1024

ag_http_req *ag_http__req_new(http_conn *c, uv_loop_t *loop)
{
	ag_http_req *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	r->refs = 1;
	r->conn = c;
	r->loop = loop;
	r->phase = REQ_HEADERS;
	r->content_length = -1;
	r->start_ns = uv_hrtime();
	memcpy(r->peer, c->peer, sizeof r->peer);
	return r;
}

static void http_req_free(ag_http_req *r)
{
	free(r->url);
	free(r->hbuf);
	free(r->raw);
	free(r->path);
	free(r->segbuf);
	free(r->qbuf);
	free(r->headers);
	for (int i = 0; i < r->njoined; i++)
		free(r->joined[i]);
	free(r->joined);
	free(r->body);
	for (int i = 0; i < r->nresp; i++) {
		free(r->resp_name[i]);
		free(r->resp_value[i]);
	}
	free(r);
}

void ag_http_req_retain(ag_http_req *r)
{
	if (r)
		r->refs++;
}

void ag_http_req_release(ag_http_req *r)
{
	if (r && --r->refs == 0)
		http_req_free(r);
}

/* Grow *buf to hold `need` bytes, doubling, never past `max`. */
static bool http_grow(char **buf, size_t *cap, size_t need, size_t max, size_t initial)
{
	if (need <= *cap)
		return true;
	if (need > max)
		return false;
	size_t n = *cap ? *cap : initial;
	while (n < need)
		n *= 2;
	if (n > max)
		n = max;
	char *p = realloc(*buf, n);
	if (!p)
		return false;
	*buf = p;
	*cap = n;
	return true;
}

int ag_http__req_url(ag_http_req *r, const char *at, size_t len, size_t max)
{
	/* +1 for the NUL added once the target is complete */
	if (r->url_len + len + 1 > max + 1 || !http_grow(&r->url, &r->url_cap, r->url_len + len + 1, max + 1, 256))
		return 414;
	memcpy(r->url + r->url_len, at, len);
	r->url_len += len;
	r->url[r->url_len] = '\0';
	return 0;
}

static int http_hbuf_put(ag_http_req *r, const char *at, size_t len, size_t max)
{
	if (!http_grow(&r->hbuf, &r->hbuf_cap, r->hbuf_len + len, max, HTTP_HBUF_INITIAL))
		return 431;
	memcpy(r->hbuf + r->hbuf_len, at, len);
	r->hbuf_len += len;
	return 0;
}

int ag_http__req_header_field(ag_http_req *r, const char *at, size_t len, const ag_http_limits *lim)
{
	if (r->nraw == 0 || r->in_value) {
		if (r->nraw >= lim->max_headers)
			return 431;
		if (r->nraw == r->rawcap) {
			int cap = r->rawcap ? r->rawcap * 2 : 16;
			if (cap > lim->max_headers)
				cap = lim->max_headers;
			http_hdr_raw *p = realloc(r->raw, (size_t)cap * sizeof *p);
			if (!p)
				return 431;
			r->raw = p;
			r->rawcap = cap;
		}
		if (r->nraw > 0 && http_hbuf_put(r, "", 1, lim->max_header_bytes)) /* end the previous value */
			return 431;
		r->raw[r->nraw++] = (http_hdr_raw){.name = (uint32_t)r->hbuf_len};
		r->in_value = false;
	}
	r->raw[r->nraw - 1].name_len += (uint32_t)len;
	return http_hbuf_put(r, at, len, lim->max_header_bytes);
}

int ag_http__req_header_value(ag_http_req *r, const char *at, size_t len, const ag_http_limits *lim)
{
	if (r->nraw == 0)
		return 431; /* the parser never sends a value before a field */
	http_hdr_raw *h = &r->raw[r->nraw - 1];
	if (!r->in_value) {
		if (http_hbuf_put(r, "", 1, lim->max_header_bytes)) /* end the name */
			return 431;
		h->value = (uint32_t)r->hbuf_len;
		r->in_value = true;
	}
	h->value_len += (uint32_t)len;
	return http_hbuf_put(r, at, len, lim->max_header_bytes);
}

static bool http_req_keep_joined(ag_http_req *r, char *s)
{
	char **p = realloc(r->joined, (size_t)(r->njoined + 1) * sizeof *p);
	if (!p)
		return false;
	r->joined = p;
	r->joined[r->njoined++] = s;
	return true;
}

/*
 * Headers are complete: NUL-terminate, then merge repeated names into one
 * value joined with ", " (RFC 9110 5.3). Host may appear once only.
 */
int ag_http__req_headers_done(ag_http_req *r, const char **detail)
{
	if (r->nraw > 0) {
		if (!r->in_value) {
			/* a field with no value at all: give it an empty one */
			if (http_hbuf_put(r, "", 1, SIZE_MAX))
				return 431;
			r->raw[r->nraw - 1].value = (uint32_t)r->hbuf_len;
		}
		if (http_hbuf_put(r, "", 1, SIZE_MAX))
			return 431;
	}
	r->headers = calloc((size_t)(r->nraw ? r->nraw : 1), sizeof *r->headers);
	if (!r->headers) {
		*detail = "out of memory";
		return 503;
	}
	for (int i = 0; i < r->nraw; i++) {
		const char *name = r->hbuf + r->raw[i].name;
		const char *value = r->hbuf + r->raw[i].value;
		int j;
		for (j = 0; j < r->nheaders; j++)
			if (strcasecmp(r->headers[j].name, name) == 0)
				break;
		if (j == r->nheaders) {
			r->headers[r->nheaders++] = (http_header){name, value};
			continue;
		}
		if (strcasecmp(name, "host") == 0) {
			*detail = "more than one Host header";
			return 400;
		}
		size_t a = strlen(r->headers[j].value), b = strlen(value);
		char *joined = malloc(a + 2 + b + 1);
		if (!joined || !http_req_keep_joined(r, joined)) {
			free(joined);
			*detail = "out of memory";
			return 503;
		}
		memcpy(joined, r->headers[j].value, a);
		memcpy(joined + a, ", ", 2);
		memcpy(joined + a + 2, value, b + 1);
		r->headers[j].value = joined;
	}
	return 0;
}

/* Percent-decode [s, s+n) into out (room for n+1); '+' becomes ' ' when `plus`. false on a bad escape or %00. */
static bool http_pct_decode(const char *s, size_t n, char *out, bool plus, size_t *outlen)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '%') {
			if (i + 2 >= n)
				return false;
			int h = ag_str_hexval(s[i + 1]), l = ag_str_hexval(s[i + 2]);
			if (h < 0 || l < 0 || (h == 0 && l == 0))
				return false;
			out[o++] = (char)(h * 16 + l);
			i += 2;
		} else if (c == '+' && plus) {
			out[o++] = ' ';
		} else {
			out[o++] = c;
		}
	}
	out[o] = '\0';
	*outlen = o;
	return true;
}

static int http_req_path(ag_http_req *r, const char *p, size_t n, const char **detail)
{
	if (n == 0) { /* absolute-form target without a path, e.g. "http://host" */
		p = "/";
		n = 1;
	}
	if (p[0] != '/') {
		*detail = "request target must start with /";
		return 400;
	}
	r->path = malloc(n + 1);
	r->segbuf = malloc(n + 1);
	if (!r->path || !r->segbuf) {
		*detail = "out of memory";
		return 503;
	}
	/* Route on segments decoded one by one, so an encoded "/" (%2F) stays inside its segment. */
	size_t po = 0, so = 0;
	const char *s = p + 1, *end = p + n;
	r->path[po++] = '/';
	r->nseg = 0;
	for (;;) {
		const char *slash = memchr(s, '/', (size_t)(end - s));
		const char *e = slash ? slash : end;
		size_t dl;
		if (!http_pct_decode(s, (size_t)(e - s), r->segbuf + so, false, &dl)) {
			free(r->path); /* half-decoded: keep nothing */
			r->path = NULL;
			*detail = "bad percent-encoding in path";
			return 400;
		}
		if (r->nseg < HTTP_MAX_PATH_SEGMENTS)
			r->seg[r->nseg] = r->segbuf + so;
		if (r->nseg <= HTTP_MAX_PATH_SEGMENTS)
			r->nseg++;
		memcpy(r->path + po, r->segbuf + so, dl);
		po += dl;
		so += dl + 1;
		if (!slash)
			break;
		r->path[po++] = '/';
		s = slash + 1;
	}
	r->path[po] = '\0';
	return 0;
}

static int http_req_query(ag_http_req *r, const char *q, size_t n, const char **detail)
{
	r->qbuf = malloc(n + 2); /* every name and value NUL-terminated: at most n + 2 bytes */
	if (!r->qbuf) {
		*detail = "out of memory";
		return 503;
	}
	size_t o = 0;
	const char *s = q, *end = q + n;
	while (s < end) {
		const char *amp = memchr(s, '&', (size_t)(end - s));
		const char *e = amp ? amp : end;
		if (e > s) {
			if (r->nquery >= HTTP_MAX_QUERY_PARAMS) {
				*detail = "too many query parameters";
				return 400;
			}
			const char *eq = memchr(s, '=', (size_t)(e - s));
			const char *ne = eq ? eq : e;
			size_t dl;
			char *name = r->qbuf + o;
			if (!http_pct_decode(s, (size_t)(ne - s), name, true, &dl))
				goto bad;
			o += dl + 1;
			char *value = r->qbuf + o;
			if (eq) {
				if (!http_pct_decode(eq + 1, (size_t)(e - eq - 1), value, true, &dl))
					goto bad;
				o += dl + 1;
			} else {
				value = name + strlen(name); /* "" */
			}
			r->query[r->nquery++] = (http_kv){name, value};
		}
		s = e + 1;
	}
	return 0;
bad:
	*detail = "bad percent-encoding in query";
	return 400;
}

/* Split and decode the request target. */
int ag_http__req_target(ag_http_req *r, const char **detail)
{
	struct http_parser_url u;
	http_parser_url_init(&u);
	if (!r->url || http_parser_parse_url(r->url, r->url_len, 0, &u) != 0) {
		*detail = "malformed request target";
		return 400;
	}
	const char *path = "";
	size_t plen = 0;
	if (u.field_set & (1 << UF_PATH)) {
		path = r->url + u.field_data[UF_PATH].off;
		plen = u.field_data[UF_PATH].len;
	}
	int st = http_req_path(r, path, plen, detail);
	if (st)
		return st;
	if (u.field_set & (1 << UF_QUERY))
		return http_req_query(r, r->url + u.field_data[UF_QUERY].off, u.field_data[UF_QUERY].len, detail);
	return 0;
}

int ag_http__req_body_append(ag_http_req *r, const char *at, size_t len, size_t max)
{
	/* +1: the body is kept NUL-terminated for JSON parsers */
	if (r->body_len + len > max ||
	    !http_grow(&r->body, &r->body_cap, r->body_len + len + 1, max + 1, len + 1 > 4096 ? len + 1 : 4096))
		return 413;
	memcpy(r->body + r->body_len, at, len);
	r->body_len += len;
	r->body[r->body_len] = '\0';
	return 0;
}

bool ag_http__req_live(const ag_http_req *r)
{
	return r && r->conn && !r->responded && !r->aborted && !r->conn->closed && !r->conn->shutting;
}

void ag_http__req_abort(ag_http_req *r)
{
	if (r->aborted || r->responded)
		return;
	r->aborted = true;
	if (!r->dispatched || r->filter_pending || !r->route || !r->route->ops.on_abort)
		return;
	ag_http_req_retain(r);
	http_trace_saved saved_trace;
	ag_http__trace_enter(r, &saved_trace);
	r->route->ops.on_abort(r, r->route->ud);
	ag_http__trace_leave(&saved_trace);
	ag_http_req_release(r);
}

void ag_http__trace_enter(const ag_http_req *r, http_trace_saved *saved)
{
	const char *id = ag_trace_current_id(); /* copied without printf: this runs for every request */
	size_t n = strnlen(id, sizeof saved->id - 1);
	memcpy(saved->id, id, n);
	saved->id[n] = '\0';
	ag_trace_set_current(&r->trace);
}

void ag_http__trace_leave(const http_trace_saved *saved)
{
	if (!saved->id[0]) {
		ag_trace_set_current(NULL);
		return;
	}
	/* the id is all trace.h lets anyone read back, so restoring it restores everything observable */
	ag_trace t;
	memset(&t, 0, sizeof t);
	memcpy(t.trace_id, saved->id, sizeof t.trace_id);
	ag_trace_set_current(&t);
}

/* --- accessors --- */

ag_http_method ag_http_req_method(const ag_http_req *r)
{
	return r->method;
}

const char *ag_http_req_path(const ag_http_req *r)
{
	return r->path ? r->path : "/";
}

const char *ag_http_req_param(const ag_http_req *r, int i)
{
	return i >= 0 && i < r->nparams ? r->params[i] : NULL;
}

const char *ag_http_req_query(const ag_http_req *r, const char *name)
{
	for (int i = 0; i < r->nquery; i++)
		if (strcmp(r->query[i].name, name) == 0)
			return r->query[i].value;
	return NULL;
}

const char *ag_http_req_header(const ag_http_req *r, const char *name)
{
	for (int i = 0; i < r->nheaders; i++)
		if (strcasecmp(r->headers[i].name, name) == 0)
			return r->headers[i].value;
	return NULL;
}

int64_t ag_http_req_content_length(const ag_http_req *r)
{
	return r->content_length;
}

const char *ag_http_req_body(const ag_http_req *r, size_t *len)
{
	if (r->route && r->route->ops.on_body) {
		if (len)
			*len = 0;
		return NULL;
	}
	if (len)
		*len = r->body_len;
	return r->body ? r->body : "";
}

const char *ag_http_req_peer(const ag_http_req *r)
{
	return r->peer;
}

const ag_trace *ag_http_req_trace(const ag_http_req *r)
{
	return &r->trace;
}

void ag_http_req_set_data(ag_http_req *r, void *data)
{
	r->data = data;
}

void *ag_http_req_data(const ag_http_req *r)
{
	return r->data;
}

bool ag_http_req_alive(const ag_http_req *r)
{
	return ag_http__req_live(r);
}

void ag_http_req_pause(ag_http_req *r)
{
	if (!r || r->paused)
		return;
	r->paused = true;
	/* Inside a parser callback the connection pauses the parser itself; outside, stop reading now. */
	if (r->conn && !r->conn->in_drive)
		ag_http__conn_update_io(r->conn);
}

void ag_http_req_resume(ag_http_req *r)
{
	if (!r || !r->paused)
		return;
	r->paused = false;
	if (r->conn)
		ag_http__conn_drive(r->conn); /* a no-op when already driving: the running loop sees the flag */
}

/* --- deferred work --- */

typedef struct http_defer {
	uv_work_t work;
	ag_http_req *req;
	void (*fn)(void *ud);
	void (*done)(ag_http_req *r, void *ud);
	void *ud;
} http_defer;

static void http_defer_work(uv_work_t *w)
{
	http_defer *d = w->data;
	d->fn(d->ud);
}

static void http_defer_after(uv_work_t *w, int status)
{
	http_defer *d = w->data;
	ag_http_req *r = d->req;
	(void)status; /* never cancelled: `done` runs either way and owns ud */
	http_trace_saved saved_trace;
	ag_http__trace_enter(r, &saved_trace);
	d->done(r, d->ud);
	ag_http__trace_leave(&saved_trace);
	free(d);
	ag_http_req_release(r);
}

ag_status ag_http_req_defer(ag_http_req *r, void (*work)(void *ud), void (*done)(ag_http_req *r, void *ud), void *ud)
{
	if (!r || !work || !done)
		return AG_E_INVAL;
	http_defer *d = calloc(1, sizeof *d);
	if (!d)
		return AG_E_NOMEM;
	d->work.data = d;
	d->req = r;
	d->fn = work;
	d->done = done;
	d->ud = ud;
	ag_http_req_retain(r);
	int rc = uv_queue_work(r->loop, &d->work, http_defer_work, http_defer_after);
	if (rc != 0) {
		ag_http_req_release(r);
		free(d);
		ag_log_error("http: queue work: %s", uv_strerror(rc));
		return AG_E_INTERNAL;
	}
	return AG_OK;
}
