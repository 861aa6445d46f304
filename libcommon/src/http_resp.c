/*
 * http_resp.c - responses of the HTTP server: reason phrases, response
 * headers set by handlers, serialising status line + headers + body into one
 * write, JSON and RFC 9457 problem bodies, and per-request metrics and the
 * access log line.
 */
#include "aegis/http.h"

#include "aegis/log.h"
#include "http_priv.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define HTTP_RESP_FIXED_MAX  512  /* status line and the headers the server always writes */
#define HTTP_DETAIL_MAX      512  /* problem detail text */
#define HTTP_RESP_HEADER_MAX 8192 /* one handler-set header line */

const char *ag_http_reason(int status)
{
	if (status == 413)
		return "Content Too Large"; /* RFC 9110 names */
	if (status == 422)
		return "Unprocessable Content";
	switch (status) {
#define HTTP_X_REASON(num, name, string) \
	case num:                        \
		return #string;
		HTTP_STATUS_MAP(HTTP_X_REASON)
#undef HTTP_X_REASON
	default:
		break;
	}
	if (status >= 100 && status < 200)
		return "Informational";
	if (status >= 200 && status < 300)
		return "Success";
	if (status >= 300 && status < 400)
		return "Redirection";
	if (status >= 400 && status < 500)
		return "Client Error";
	return "Server Error";
}

/* --- handler-set headers --- */

static bool http_token_char(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

static bool http_header_ok(const char *name, const char *value)
{
	if (!name || !*name || !value || strlen(name) + strlen(value) + 4 > HTTP_RESP_HEADER_MAX)
		return false;
	for (const char *p = name; *p; p++)
		if (!http_token_char((unsigned char)*p))
			return false;
	for (const char *p = value; *p; p++) {
		unsigned char ch = (unsigned char)*p;
		if ((ch < 0x20 && ch != '\t') || ch == 0x7f) /* no CR/LF: no header injection */
			return false;
	}
	static const char *const reserved[] = {"content-length", "transfer-encoding", "connection", "date",
	                                       "traceparent"};
	for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
		if (strcasecmp(name, reserved[i]) == 0)
			return false;
	return true;
}

void ag_http_resp_header(ag_http_req *r, const char *name, const char *value)
{
	if (!r || r->responded)
		return;
	if (!http_header_ok(name, value)) {
		ag_log_warn("http: response header \"%s\" refused (invalid or managed by the server)",
		            name ? name : "");
		return;
	}
	if (r->nresp >= HTTP_MAX_RESP_HEADERS) {
		ag_log_warn("http: response header \"%s\" dropped: more than %d", name, HTTP_MAX_RESP_HEADERS);
		return;
	}
	char *n = strdup(name), *v = strdup(value);
	if (!n || !v) {
		free(n);
		free(v);
		return;
	}
	r->resp_name[r->nresp] = n;
	r->resp_value[r->nresp] = v;
	r->nresp++;
}

/* --- metrics and access log --- */

static const char *http_resp_method(const ag_http_req *r)
{
	return r->method_known ? http_method_str((enum http_method)r->hp_method) : "other";
}

/* The request counter of (route, method, status): the route's remembered one, else looked up (and remembered). */
static ag_counter *http_resp_counter(ag_metrics *m, http_route *rt, const ag_http_req *r, int status)
{
	int hm = r->method_known ? (int)r->hp_method : -1;
	for (int i = 0; rt && i < rt->ncounters; i++)
		if (rt->counters[i].hp_method == hm && rt->counters[i].status == status)
			return rt->counters[i].counter;
	char labels[HTTP_ROUTE_LABEL_MAX + 64];
	snprintf(labels, sizeof labels, "route=\"%s\",method=\"%s\",status=\"%d\"", rt ? rt->label : "unmatched",
	         http_resp_method(r), status);
	ag_counter *ctr = ag_metrics_counter(m, "aegis_http_requests_total",
	                                     "HTTP requests answered, by route pattern, method and status.", labels);
	if (rt && ctr && rt->ncounters < HTTP_ROUTE_COUNTERS) {
		rt->counters[rt->ncounters].hp_method = hm;
		rt->counters[rt->ncounters].status = status;
		rt->counters[rt->ncounters++].counter = ctr;
	}
	return ctr;
}

static ag_histogram *http_resp_duration(ag_metrics *m, http_route *rt)
{
	if (rt && rt->duration)
		return rt->duration;
	char labels[HTTP_ROUTE_LABEL_MAX + 16];
	snprintf(labels, sizeof labels, "route=\"%s\"", rt ? rt->label : "unmatched");
	ag_histogram *h = ag_metrics_histogram(m, "aegis_http_request_duration_seconds",
	                                       "Time from the first byte of an HTTP request to its response.", labels,
	                                       ag_metrics_seconds_buckets, ag_metrics_seconds_buckets_len);
	if (rt)
		rt->duration = h;
	return h;
}

static void http_resp_observe(http_conn *c, ag_http_req *r, int status)
{
	if (!r)
		return; /* a connection-level answer (idle timeout, garbage) is not a request */
	double secs = (double)(uv_hrtime() - r->start_ns) / 1e9;
	/* bounded cardinality: a pattern, never a raw path */
	/* routes are const to requests; only their metric cache changes, here on the loop thread */
	http_route *rt = (http_route *)(r->route ? r->route : r->path_route);
	ag_metrics *m = c->srv->metrics;
	if (m) {
		ag_counter_inc(http_resp_counter(m, rt, r, status));
		ag_histogram_observe(http_resp_duration(m, rt), secs);
	}
	ag_log_level lvl = status >= 500 ? AG_LOG_WARN : AG_LOG_DEBUG;
	if (!ag_log_enabled(lvl))
		return;
	/* the decoded path, or for a target that did not decode the raw one; never the query (it may hold secrets) */
	const char *raw = r->url ? r->url : "";
	json_t *path = r->path ? json_string(r->path) : json_stringn(raw, strcspn(raw, "?"));
	json_t *o = json_pack("{s:s,s:o,s:s,s:i,s:f,s:s}", "http_method", http_resp_method(r), "path",
	                      path ? path : json_string("(not UTF-8)"), "route", r->route ? r->route->pattern : "",
	                      "status", status, "duration_ms", secs * 1000.0, "peer", r->peer);
	char *members = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;
	json_decref(o);
	size_t ml = members ? strlen(members) : 0;
	if (ml >= 2) { /* strip the braces: the logger wants bare members */
		members[ml - 1] = '\0';
	}
	http_trace_saved saved_trace;
	ag_http__trace_enter(r, &saved_trace);
	ag_log_writex(lvl, ml >= 2 ? members + 1 : NULL, "http %s %d", http_resp_method(r), status);
	ag_http__trace_leave(&saved_trace);
	free(members);
}

/* --- writing --- */

typedef struct http_write {
	uv_write_t w;
	http_conn *c;
	char *buf; /* malloc'd, or NULL for static data */
	bool response;
} http_write;

static void http_resp_written(uv_write_t *w, int status)
{
	http_write *hw = (http_write *)w;
	http_conn *c = hw->c;
	bool response = hw->response;
	free(hw->buf);
	free(hw);
	if (response)
		ag_http__conn_response_written(c, status);
}

/*
 * A response is first written at once with uv_try_write (nearly always all of it: responses are small and the
 * socket buffer empty). Its completion then runs from an idle handle, at the loop's next turn before it polls
 * (as uv_write's callback would), never inside the handler that responded. This skips uv_write's request and
 * the epoll_ctl libuv makes each time its write queue drains: one system call less per request.
 */
static void http_wdone_run(uv_idle_t *h)
{
	ag_http_server *s = h->data;
	while (s->wdone_head) {
		http_conn *c = s->wdone_head;
		s->wdone_head = c->wdone_next;
		c->wdone = false;
		c->wdone_next = NULL;
		ag_http__conn_response_written(c, 0);
	}
	uv_idle_stop(h);
}

/* The idle handle exists (made on first use); false when the server is closing or memory is short. */
static bool http_wdone_ready(ag_http_server *s)
{
	if (s->wdone_idle)
		return true;
	if (s->closing || !(s->wdone_idle = calloc(1, sizeof *s->wdone_idle)))
		return false;
	uv_idle_init(s->loop, s->wdone_idle);
	s->wdone_idle->data = s; /* active only while completions are pending: then it keeps the loop running */
	return true;
}

static void http_wdone_add(http_conn *c)
{
	ag_http_server *s = c->srv;
	c->wdone = true;
	c->wdone_next = s->wdone_head;
	s->wdone_head = c;
	uv_idle_start(s->wdone_idle, http_wdone_run);
}

void ag_http__wdone_forget(http_conn *c)
{
	if (!c->wdone)
		return;
	for (http_conn **p = &c->srv->wdone_head; *p; p = &(*p)->wdone_next)
		if (*p == c) {
			*p = c->wdone_next;
			break;
		}
	c->wdone = false;
}

void ag_http__wdone_close(ag_http_server *s)
{
	uv_idle_t *h = s->wdone_idle;
	if (!h)
		return;
	http_wdone_run(h);
	s->wdone_idle = NULL;
	ag_http__server_close_handle(s, (uv_handle_t *)h);
}

static void http_resp_write(http_conn *c, char *buf, const char *data, size_t len, bool response)
{
	uv_stream_t *stream = (uv_stream_t *)&c->tcp;
	if (response && uv_stream_get_write_queue_size(stream) == 0 && http_wdone_ready(c->srv)) {
		uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
		int n = uv_try_write(stream, &b, 1);
		if (n == (int)len) {
			free(buf);
			http_wdone_add(c);
			return;
		}
		if (n > 0) { /* the rest goes through uv_write, as a larger response's would */
			data += n;
			len -= (size_t)n;
		}
	}
	http_write *hw = calloc(1, sizeof *hw);
	int rc = UV_ENOMEM;
	if (hw) {
		hw->c = c;
		hw->buf = buf;
		hw->response = response;
		uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
		rc = uv_write(&hw->w, (uv_stream_t *)&c->tcp, &b, 1, http_resp_written);
		if (rc == 0)
			return;
	}
	free(buf);
	free(hw);
	if (response)
		ag_http__conn_response_written(c, rc);
}

void ag_http__send_continue(http_conn *c)
{
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
	http_resp_write(c, NULL, cont, sizeof cont - 1, false);
}

/* The Date header's value, made once a second per thread (gmtime and formatting on every answer cost more). */
static const char *http_date(void)
{
	static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char *const mons[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	static _Thread_local time_t made = -1;
	static _Thread_local char text[40];
	time_t t = time(NULL);
	if (t != made) {
		struct tm tm;
		gmtime_r(&t, &tm);
		snprintf(text, sizeof text, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday % 7], tm.tm_mday,
		         mons[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
		made = t;
	}
	return text;
}

typedef struct {
	char *p;
	size_t len, cap;
} http_out;

/* Append strings (and a number) without printf: the headers of every answer are made with these. */
static void http_out_put(http_out *o, const char *s)
{
	size_t n = strlen(s);
	if (n > o->cap - o->len - 1)
		n = o->cap - o->len - 1; /* sized in advance; a cut line would be a bug */
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = '\0';
}

static void http_out_num(http_out *o, size_t v)
{
	char digits[24];
	int i = (int)sizeof digits - 1;
	digits[i] = '\0';
	do
		digits[--i] = (char)('0' + v % 10);
	while ((v /= 10) && i > 0);
	http_out_put(o, digits + i);
}

static void http_out_header(http_out *o, const char *name, const char *value)
{
	http_out_put(o, name);
	http_out_put(o, ": ");
	http_out_put(o, value);
	http_out_put(o, "\r\n");
}

/* The status line, Date and Content-Type of every answer. */
static void http_out_status(http_out *o, int status, const char *ctype)
{
	http_out_put(o, "HTTP/1.1 ");
	http_out_num(o, (size_t)status);
	http_out_put(o, " ");
	http_out_put(o, ag_http_reason(status));
	http_out_put(o, "\r\n");
	http_out_header(o, "Date", http_date());
	if (ctype)
		http_out_header(o, "Content-Type", ctype);
}

/* After the framing lines: traceparent, the handler's headers (but a Content-Type among them when `ctype` is
 * given) and the blank line. */
static void http_out_end(http_out *o, const ag_http_req *req, const char *ctype)
{
	if (req && req->trace.trace_id[0]) {
		char tp[AG_TRACEPARENT_LEN + 1];
		ag_trace_format(&req->trace, tp, sizeof tp);
		http_out_header(o, "traceparent", tp);
	}
	for (int i = 0; req && i < req->nresp; i++) {
		if (ctype && strcasecmp(req->resp_name[i], "content-type") == 0)
			continue;
		http_out_header(o, req->resp_name[i], req->resp_value[i]);
	}
	http_out_put(o, "\r\n");
}

/*
 * Serialise and send one response. `req` is NULL for connection-level
 * answers. The connection closes after it when asked, when the client or
 * the server is closing, or when the request body was not read to its end.
 */
void ag_http__respond(http_conn *c, ag_http_req *req, int status, const char *ctype, const void *body, size_t len,
                      bool force_close)
{
	if (!body)
		len = 0;
	if (status < 200 || status > 599) {
		ag_log_error("http: handler answered with status %d; sending 500", status);
		status = 500;
		ctype = NULL;
		len = 0;
	}
	bool head = req && req->method == AG_HTTP_HEAD;
	bool bodyless = status == 204 || status == 304;
	bool body_read = !req || req->msg_done || !req->has_body;
	bool close = force_close || !req || !req->keep_alive || !body_read || c->srv->closing;
	if (req) {
		req->responded = true;
		req->status = status;
	}
	c->resp_close = close;
	c->resp_writing = true;

	size_t cap = HTTP_RESP_FIXED_MAX + (ctype ? strlen(ctype) : 0);
	for (int i = 0; req && i < req->nresp; i++)
		cap += strlen(req->resp_name[i]) + strlen(req->resp_value[i]) + 4;
	size_t blen = (head || bodyless || !body) ? 0 : len;
	http_out o = {malloc(cap + blen), 0, cap};
	if (!o.p) {
		http_resp_observe(c, req, status);
		ag_log_error("http: out of memory building a response");
		c->resp_close = true;
		ag_http__conn_response_written(c, UV_ENOMEM);
		return;
	}
	http_out_status(&o, status, bodyless ? NULL : ctype);
	if (!bodyless) {
		http_out_put(&o, "Content-Length: ");
		http_out_num(&o, body ? len : 0);
		http_out_put(&o, "\r\n");
	}
	if (close)
		http_out_put(&o, "Connection: close\r\n");
	else if (req->http_major == 1 && req->http_minor == 0)
		http_out_put(&o, "Connection: keep-alive\r\n");
	http_out_end(&o, req, ctype);
	if (blen) {
		memcpy(o.p + o.len, body, blen);
		o.len += blen;
	}
	http_resp_observe(c, req, status); /* after the copy: `body` may live anywhere */
	http_resp_write(c, o.p, o.p, o.len, true);
}

ag_status ag_http__stream_head(http_conn *c, ag_http_req *req, int status, const char *ctype, bool chunked, bool close,
                               char **out, size_t *len)
{
	size_t cap = HTTP_RESP_FIXED_MAX + (ctype ? strlen(ctype) : 0);
	for (int i = 0; i < req->nresp; i++)
		cap += strlen(req->resp_name[i]) + strlen(req->resp_value[i]) + 4;
	http_out o = {malloc(cap), 0, cap};
	if (!o.p)
		return AG_E_NOMEM;
	http_out_status(&o, status, ctype);
	if (chunked)
		http_out_put(&o, "Transfer-Encoding: chunked\r\n");
	if (close)
		http_out_put(&o, "Connection: close\r\n");
	http_out_end(&o, req, ctype);
	req->responded = true;
	req->status = status;
	c->resp_close = close;
	c->resp_writing = true;
	http_resp_observe(c, req, status);
	*out = o.p;
	*len = o.len;
	return AG_OK;
}

/* {type, title, status, detail} as compact JSON, or NULL when out of memory. */
static char *http_problem_body(int status, const char *detail)
{
	json_t *d = json_string(detail ? detail : "");
	if (!d)
		d = json_string("(detail is not valid UTF-8)");
	json_t *o = json_pack("{s:s,s:s,s:i,s:o}", "type", "about:blank", "title", ag_http_reason(status), "status",
	                      status, "detail", d);
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return s;
}

void ag_http__problem(http_conn *c, ag_http_req *req, int status, bool force_close, const char *detail)
{
	char *s = http_problem_body(status, detail);
	ag_http__respond(c, req, status, "application/problem+json", s ? s : "", s ? strlen(s) : 0, force_close);
	free(s);
}

/* --- public answers --- */

void ag_http_respond(ag_http_req *r, int status, const char *content_type, const void *body, size_t len)
{
	if (!ag_http__req_live(r))
		return;
	ag_http__respond(r->conn, r, status, content_type, body, len, false);
}

void ag_http_respond_json(ag_http_req *r, int status, json_t *body)
{
	char *s = body ? json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	json_decref(body);
	if (!ag_http__req_live(r)) {
		free(s);
		return;
	}
	if (!s) {
		ag_log_error("http: could not serialise a JSON response");
		ag_http__problem(r->conn, r, 500, false, "the response could not be serialised");
		return;
	}
	ag_http__respond(r->conn, r, status, "application/json", s, strlen(s), false);
	free(s);
}

void ag_http_respond_problem(ag_http_req *r, int status, const char *detail_fmt, ...)
{
	if (!ag_http__req_live(r))
		return;
	char detail[HTTP_DETAIL_MAX];
	va_list ap;
	va_start(ap, detail_fmt);
	vsnprintf(detail, sizeof detail, detail_fmt, ap);
	va_end(ap);
	ag_http__problem(r->conn, r, status, false, detail);
}
