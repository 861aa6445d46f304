/*
 * http_conn.c - one HTTP/1.x connection: reading into a single buffer,
 * feeding http-parser, enforcing the limits, dispatching to routes,
 * timeouts, and closing (gracefully, with a short linger so a client still
 * sending a refused body reads our answer instead of a reset).
 *
 * One request at a time: the parser pauses at the end of the headers and at
 * the end of each message, and the connection parses nothing more until the
 * current response has been written. Unparsed bytes stay in the one read
 * buffer and reading stops while any are pending, so a pipelining client or
 * a streaming handler that pauses is held back by TCP, never by our memory.
 */
#include "aegis/log.h"
#include "http_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { EV_NONE, EV_HEADERS, EV_COMPLETE };

static void http_conn_closed(uv_handle_t *h);
static void http_conn_fail(http_conn *c, int status, const char *detail);
static void http_conn_shutdown(http_conn *c);
static void http_conn_recycle(http_conn *c);

/* --- parser callbacks: record, check limits, pause; the real work happens in http_conn_drive --- */

static int http_conn_cb_fail(http_conn *c, int status, const char *detail)
{
	c->err_status = status;
	c->err_detail = detail;
	return -1;
}

static int http_on_message_begin(http_parser *p)
{
	http_conn *c = p->data;
	if (c->req) /* cannot happen: parsing stops at each message end */
		return http_conn_cb_fail(c, 500, "request overlap");
	c->req = ag_http__req_new(c, c->srv->loop);
	if (!c->req)
		return http_conn_cb_fail(c, 503, "out of memory");
	if (c->srv->lim.request_timeout_ms)
		c->req->deadline_ms = uv_now(c->srv->loop) + c->srv->lim.request_timeout_ms;
	return 0;
}

static int http_on_url(http_parser *p, const char *at, size_t len)
{
	http_conn *c = p->data;
	c->req->hp_method = p->method;
	c->req->method_known = true;
	if (ag_http__req_url(c->req, at, len, c->srv->lim.max_url_bytes)) {
		snprintf(c->err_buf, sizeof c->err_buf, "request target longer than %zu bytes",
		         c->srv->lim.max_url_bytes);
		return http_conn_cb_fail(c, 414, c->err_buf);
	}
	return 0;
}

static int http_on_header_field(http_parser *p, const char *at, size_t len)
{
	http_conn *c = p->data;
	if (c->req->phase != REQ_HEADERS)
		return 0; /* chunked trailers: not exposed (the header table is already final) */
	if (ag_http__req_header_field(c->req, at, len, &c->srv->lim)) {
		snprintf(c->err_buf, sizeof c->err_buf, "more than %d header fields or %zu header bytes",
		         c->srv->lim.max_headers, c->srv->lim.max_header_bytes);
		return http_conn_cb_fail(c, 431, c->err_buf);
	}
	return 0;
}

static int http_on_header_value(http_parser *p, const char *at, size_t len)
{
	http_conn *c = p->data;
	if (c->req->phase != REQ_HEADERS)
		return 0;
	if (ag_http__req_header_value(c->req, at, len, &c->srv->lim)) {
		snprintf(c->err_buf, sizeof c->err_buf, "header fields larger than %zu bytes",
		         c->srv->lim.max_header_bytes);
		return http_conn_cb_fail(c, 431, c->err_buf);
	}
	return 0;
}

static int http_on_headers_complete(http_parser *p)
{
	http_conn *c = p->data;
	ag_http_req *r = c->req;
	r->hp_method = p->method;
	r->http_major = p->http_major;
	r->http_minor = p->http_minor;
	r->keep_alive = http_should_keep_alive(p) && !p->upgrade;
	bool chunked = (p->flags & F_CHUNKED) != 0;
	bool has_len = (p->flags & F_CONTENTLENGTH) != 0;
	r->has_body = chunked || (has_len && p->content_length > 0);
	r->content_length = has_len && !chunked ? (int64_t)p->content_length : -1;
	c->event = EV_HEADERS;
	http_parser_pause(p, 1);
	return 0;
}

static void http_conn_stream_body(ag_http_req *r, const char *at, size_t len)
{
	ag_http_req_retain(r);
	http_trace_saved saved_trace;
	ag_http__trace_enter(r, &saved_trace);
	r->route->ops.on_body(r, at, len, r->route->ud);
	ag_http__trace_leave(&saved_trace);
	ag_http_req_release(r);
}

static int http_on_body(http_parser *p, const char *at, size_t len)
{
	http_conn *c = p->data;
	ag_http_req *r = c->req;
	if (!r->route)
		return 0; /* refused at the headers: nothing reads this body */
	if (!r->route->ops.on_body) {
		if (ag_http__req_body_append(r, at, len, c->srv->lim.max_body_buffered)) {
			snprintf(c->err_buf, sizeof c->err_buf, "request body larger than %zu bytes",
			         c->srv->lim.max_body_buffered);
			return http_conn_cb_fail(c, 413, c->err_buf);
		}
		return 0;
	}
	if (ag_http__req_live(r))
		http_conn_stream_body(r, at, len);
	/* Stop the parser right here when the handler paused, answered or the connection is ending. */
	if (r->paused || !ag_http__req_live(r))
		http_parser_pause(p, 1);
	return 0;
}

static int http_on_message_complete(http_parser *p)
{
	http_conn *c = p->data;
	c->event = EV_COMPLETE;
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings http_settings = {
        .on_message_begin = http_on_message_begin,
        .on_url = http_on_url,
        .on_header_field = http_on_header_field,
        .on_header_value = http_on_header_value,
        .on_headers_complete = http_on_headers_complete,
        .on_body = http_on_body,
        .on_message_complete = http_on_message_complete,
};

/* --- dispatch --- */

static const char *http_limit_detail(int status)
{
	switch (status) {
	case 413:
		return "request body too large";
	case 414:
		return "request target too long";
	case 431:
		return "request header fields too large";
	case 408:
		return "request timed out";
	default:
		return "malformed request";
	}
}

static ag_http_method http_map_method(unsigned m)
{
	switch (m) {
	case HTTP_GET:
		return AG_HTTP_GET;
	case HTTP_HEAD:
		return AG_HTTP_HEAD;
	case HTTP_POST:
		return AG_HTTP_POST;
	case HTTP_PUT:
		return AG_HTTP_PUT;
	case HTTP_PATCH:
		return AG_HTTP_PATCH;
	case HTTP_DELETE:
		return AG_HTTP_DELETE;
	case HTTP_OPTIONS:
		return AG_HTTP_OPTIONS;
	default:
		return 0;
	}
}

/* Answer from the server itself (404, 413, …): the request never reaches a handler. */
static void http_conn_refuse(http_conn *c, ag_http_req *r, int status, const char *detail)
{
	ag_http__problem(c, r, status, false, detail);
}

static void http_conn_on_headers(http_conn *c)
{
	ag_http_req *r = c->req;
	const ag_http_limits *lim = &c->srv->lim;
	const char *detail = NULL;
	int st;

	r->method = http_map_method(r->hp_method);
	st = ag_http__req_headers_done(r, &detail);
	ag_trace_continue(st ? NULL : ag_http_req_header(r, "traceparent"), &r->trace);
	if (!st)
		st = ag_http__req_target(r, &detail);
	if (st) {
		http_conn_fail(c, st, detail ? detail : http_limit_detail(st));
		return;
	}
	r->phase = REQ_BODY;

	char allow[64];
	r->route = ag_http__route_match(c->srv, r, &st, allow, sizeof allow);
	if (!r->route) {
		if (st == 405)
			ag_http_resp_header(r, "Allow", allow);
		http_conn_refuse(c, r, st, st == 405 ? "method not allowed for this resource" : "no such resource");
		return;
	}
	const char *expect = ag_http_req_header(r, "expect");
	if (expect) {
		if (strcasecmp(expect, "100-continue") != 0) {
			http_conn_refuse(c, r, 417, "only Expect: 100-continue is supported");
			return;
		}
		r->expect_continue = r->has_body && (r->http_major > 1 || (r->http_major == 1 && r->http_minor >= 1));
	}
	if (!r->route->ops.on_body) {
		if (r->content_length > 0 && (uint64_t)r->content_length > lim->max_body_buffered) {
			snprintf(c->err_buf, sizeof c->err_buf, "request body of %lld bytes is larger than %zu bytes",
			         (long long)r->content_length, lim->max_body_buffered);
			http_conn_refuse(c, r, 413, c->err_buf);
			return;
		}
		/* the buffer grows as bytes arrive: a claimed length alone reserves no memory */
		return;
	}
	/* streaming: the handler sees the headers now and sets its own pace (and timeouts) */
	r->deadline_ms = 0;
	r->dispatched = true;
	ag_http_req_retain(r);
	http_trace_saved saved_trace;
	ag_http__trace_enter(r, &saved_trace);
	ag_http__dispatch(c, r);
	ag_http__trace_leave(&saved_trace);
	ag_http_req_release(r);
}

/* A handler that returned without answering and without keeping a reference can never answer. */
static void http_conn_check_orphan(http_conn *c, ag_http_req *r)
{
	if (ag_http__req_live(r) && r->refs == 2) { /* the connection's reference and the caller's */
		ag_log_error("http: handler for %s %s returned without answering or retaining the request",
		             r->route->pattern, ag_http_req_path(r));
		ag_http__problem(c, r, 500, false, "the handler did not answer");
	}
}

static void http_conn_on_complete(http_conn *c)
{
	ag_http_req *r = c->req;
	r->msg_done = true;
	r->phase = REQ_DONE;
	r->deadline_ms = 0;
	if (r->responded || r->aborted) {
		/* answered early; once that answer is on the wire the connection moves on */
		if (!c->resp_writing && !c->resp_close)
			http_conn_recycle(c);
		return;
	}
	ag_http_req_retain(r);
	http_trace_saved saved_trace;
	ag_http__trace_enter(r, &saved_trace);
	if (!r->route->ops.on_body) {
		if (!r->body)
			ag_http__req_body_append(r, "", 0, c->srv->lim.max_body_buffered);
		r->dispatched = true;
		ag_http__dispatch(c, r);
	} else if (r->route->ops.on_body_end) {
		r->route->ops.on_body_end(r, r->route->ud);
	}
	ag_http__trace_leave(&saved_trace);
	http_conn_check_orphan(c, r);
	ag_http_req_release(r);
}

/* May the parser consume more bytes now? */
static bool http_conn_blocked(const http_conn *c)
{
	const ag_http_req *r = c->req;
	if (c->closed || c->shutting || c->resp_close)
		return true;
	if (!r || r->phase == REQ_HEADERS)
		return false;
	if (r->phase == REQ_DONE)
		return true; /* until the response is written */
	if (r->responded || r->aborted)
		return r->has_body; /* an early answer reads no body; without one, parse on to the message end */
	return r->paused;
}

void ag_http__conn_drive(http_conn *c)
{
	if (c->in_drive)
		return; /* the running loop re-reads every flag a callback may have changed */
	c->in_drive = true;
	for (;;) {
		ag_http_req *r = c->req;
		if (c->closed || c->shutting)
			break;
		if (r && r->phase == REQ_BODY && r->expect_continue && !r->paused && ag_http__req_live(r)) {
			r->expect_continue = false;
			ag_http__send_continue(c);
		}
		if (http_conn_blocked(c) || c->rpos == c->rlen)
			break;
		bool in_headers = !r || r->phase == REQ_HEADERS;
		c->event = EV_NONE;
		http_parser_pause(&c->parser, 0);
		size_t n = http_parser_execute(&c->parser, &http_settings, c->rbuf + c->rpos, c->rlen - c->rpos);
		c->rpos += n;
		enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
		if (e != HPE_OK && e != HPE_PAUSED) {
			int st = c->err_status ? c->err_status : (e == HPE_HEADER_OVERFLOW ? 431 : 400);
			const char *detail = c->err_detail ? c->err_detail : http_errno_description(e);
			http_conn_fail(c, st, detail);
			break;
		}
		if (in_headers) {
			c->hdr_raw += n;
			if (c->hdr_raw > c->srv->lim.max_header_bytes) {
				snprintf(c->err_buf, sizeof c->err_buf,
				         "request line and headers larger than %zu bytes",
				         c->srv->lim.max_header_bytes);
				http_conn_fail(c, 431, c->err_buf);
				break;
			}
		}
		if (e == HPE_PAUSED) {
			if (c->event == EV_HEADERS)
				http_conn_on_headers(c);
			else if (c->event == EV_COMPLETE)
				http_conn_on_complete(c);
			continue;
		}
		if (c->rpos < c->rlen) { /* upgrade: the rest is another protocol, which we do not speak */
			http_conn_fail(c, 400, "protocol upgrade is not supported");
			break;
		}
	}
	c->in_drive = false;
	ag_http__conn_update_io(c);
}

/* --- reading, timers --- */

static char *http_rbuf_get(ag_http_server *s)
{
	return s->nrbuf_cache > 0 ? s->rbuf_cache[--s->nrbuf_cache] : malloc(AG_HTTP_READ_CHUNK);
}

static void http_rbuf_put(ag_http_server *s, char *buf)
{
	if (buf && s->nrbuf_cache < AG_HTTP_READ_BUF_CACHE)
		s->rbuf_cache[s->nrbuf_cache++] = buf;
	else
		free(buf);
}

static void http_conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	http_conn *c = h->data;
	(void)suggested;
	*buf = uv_buf_init(NULL, 0); /* UV_ENOBUFS: treated as a read error */
	if (c->rpos != c->rlen)
		return;
	if (!c->rbuf)
		c->rbuf = http_rbuf_get(c->srv);
	if (c->rbuf)
		*buf = uv_buf_init(c->rbuf, AG_HTTP_READ_CHUNK);
}

/* The connection is gone under a request (EOF, reset, write error). */
static void http_conn_lost(http_conn *c, const char *why)
{
	if (c->req && !c->req->responded)
		ag_log_debug("http: connection from %s lost during a request: %s", c->peer, why);
	ag_http__conn_close(c);
}

static void http_conn_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	http_conn *c = s->data;
	(void)buf;
	if (nread == 0 || c->closed)
		return;
	if (nread < 0) {
		if (c->shutting)
			ag_http__conn_close(c);
		else
			http_conn_lost(c, nread == UV_EOF ? "end of stream" : uv_strerror((int)nread));
		return;
	}
	if (c->shutting) { /* lingering: discard until the client closes, within bounds */
		c->linger_bytes += (size_t)nread;
		if (c->linger_bytes > HTTP_LINGER_MAX_BYTES)
			ag_http__conn_close(c);
		return;
	}
	c->rpos = 0;
	c->rlen = (size_t)nread;
	c->timer_kick = true;
	ag_http__conn_drive(c);
}

static void http_conn_timeout(uv_timer_t *t)
{
	http_conn *c = t->data;
	if (c->tmode == TIMER_LINGER) {
		ag_http__conn_close(c);
		return;
	}
	ag_log_debug("http: %s timeout for %s", c->tmode == TIMER_BODY ? "body" : "idle/header", c->peer);
	http_conn_fail(c, 408, "request timed out");
}

static http_timer_mode http_conn_timer_mode(const http_conn *c)
{
	const ag_http_req *r = c->req;
	if (c->shutting)
		return TIMER_LINGER;
	if (!r)
		return TIMER_IDLE;
	if (r->phase == REQ_HEADERS)
		return TIMER_HEADERS;
	if (r->phase == REQ_BODY && !r->responded && !r->aborted && !r->paused)
		return TIMER_BODY;
	return TIMER_NONE; /* the handler's time: no server timeout */
}

static void http_conn_update_timer(http_conn *c)
{
	http_timer_mode m = http_conn_timer_mode(c);
	bool restart = m != c->tmode || (m == TIMER_BODY && c->timer_kick);
	c->timer_kick = false;
	if (!restart)
		return;
	c->tmode = m;
	uint64_t ms = c->srv->lim.idle_timeout_ms;
	if (m == TIMER_LINGER)
		ms = HTTP_LINGER_MS;
	if (c->req && c->req->deadline_ms && m != TIMER_LINGER) {
		uint64_t now = uv_now(c->srv->loop);
		uint64_t left = c->req->deadline_ms > now ? c->req->deadline_ms - now : 1;
		if (!ms || left < ms)
			ms = left;
	}
	if (m == TIMER_NONE || ms == 0)
		uv_timer_stop(&c->timer);
	else
		uv_timer_start(&c->timer, http_conn_timeout, ms, 0);
}

void ag_http__conn_update_io(http_conn *c)
{
	if (c->closed)
		return;
	const ag_http_req *r = c->req;
	bool want = c->shutting ||
	            (c->rpos == c->rlen && !(r && r->phase == REQ_BODY && r->paused && !r->responded && !r->aborted));
	if (want && !c->reading) {
		int rc = uv_read_start((uv_stream_t *)&c->tcp, http_conn_alloc, http_conn_read);
		if (rc != 0) {
			http_conn_lost(c, uv_strerror(rc));
			return;
		}
		c->reading = true;
	} else if (!want && c->reading) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = false;
	}
	http_conn_update_timer(c);
}

/* --- lifecycle --- */

void ag_http__conn_accept(ag_http_server *s, uv_stream_t *listener)
{
	http_conn *c = calloc(1, sizeof *c);
	if (!c) {
		ag_log_error("http: out of memory accepting a connection");
		return;
	}
	c->srv = s;
	uv_tcp_init(s->loop, &c->tcp);
	c->tcp.data = c;
	c->open_handles = 1;
	if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
		c->closed = true;
		uv_close((uv_handle_t *)&c->tcp, http_conn_closed);
		s->nconns++; /* balanced in http_conn_closed */
		c->next = s->conns;
		if (s->conns)
			s->conns->prev = c;
		s->conns = c;
		return;
	}
	uv_timer_init(s->loop, &c->timer);
	c->timer.data = c;
	c->open_handles = 2;
	uv_tcp_nodelay(&c->tcp, 1);
	struct sockaddr_storage ss;
	int sl = sizeof ss;
	snprintf(c->peer, sizeof c->peer, "unknown");
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET6)
			uv_ip6_name((struct sockaddr_in6 *)&ss, c->peer, sizeof c->peer);
		else if (ss.ss_family == AF_INET)
			uv_ip4_name((struct sockaddr_in *)&ss, c->peer, sizeof c->peer);
	}
	http_parser_init(&c->parser, HTTP_REQUEST);
	c->parser.data = c;
	c->tmode = TIMER_NONE;
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->nconns++;
	ag_http__conn_update_io(c);
}

bool ag_http__conn_idle(const http_conn *c)
{
	return !c->req && c->rpos == c->rlen && !c->resp_writing && !c->closed;
}

static void http_conn_closed(uv_handle_t *h)
{
	http_conn *c = h->data;
	if (--c->open_handles > 0)
		return;
	ag_http_server *s = c->srv;
	http_rbuf_put(s, c->rbuf);
	ag_http__wdone_forget(c);
	ag_http__server_conn_gone(s, c);
	free(c);
}

static void http_conn_detach(http_conn *c)
{
	ag_http_req *r = c->req;
	if (!r)
		return;
	if (!r->responded)
		ag_http__req_abort(r);
	r->conn = NULL;
	c->req = NULL;
	ag_http__stream_gone(c->srv, r); /* after conn = NULL: writes from its callback are no-ops */
	ag_http_req_release(r);
}

void ag_http__conn_close(http_conn *c)
{
	if (c->closed)
		return;
	c->closed = true;
	c->reading = false;
	/* on_abort may call back into the request API; alive() is already false */
	http_conn_detach(c);
	/* A forced exit may have closed our handles behind our back (uv_walk): never close twice. */
	if (!uv_is_closing((uv_handle_t *)&c->tcp))
		uv_close((uv_handle_t *)&c->tcp, http_conn_closed);
	if (!uv_is_closing((uv_handle_t *)&c->timer))
		uv_close((uv_handle_t *)&c->timer, http_conn_closed);
}

static void http_conn_shutdown_done(uv_shutdown_t *sr, int status)
{
	http_conn *c = sr->data;
	if (status < 0 && !c->closed)
		ag_http__conn_close(c);
}

/* Send FIN after the queued writes, then read and drop what the client still sends, briefly. */
static void http_conn_shutdown(http_conn *c)
{
	if (c->closed || c->shutting)
		return;
	c->shutting = true;
	c->rpos = c->rlen = 0;
	if (c->req && !c->req->responded)
		ag_http__req_abort(c->req);
	c->shutdown.data = c;
	if (uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, http_conn_shutdown_done) != 0) {
		ag_http__conn_close(c);
		return;
	}
	ag_http__conn_update_io(c);
}

/* A protocol error or timeout: abort the handler's view, answer if we still can, close. */
static void http_conn_fail(http_conn *c, int status, const char *detail)
{
	if (c->closed || c->shutting)
		return;
	ag_http_req *r = c->req;
	if (r && !r->responded)
		ag_http__req_abort(r);
	if ((!r || !r->responded) && !c->resp_writing) {
		ag_http__problem(c, r, status, true, detail);
		return; /* the write completion shuts the connection down */
	}
	c->resp_close = true;
	if (!c->resp_writing)
		http_conn_shutdown(c);
}

/* The response of the current request is on the wire (or failed). */
void ag_http__conn_response_written(http_conn *c, int status)
{
	c->resp_writing = false;
	if (c->closed)
		return;
	if (status < 0) {
		http_conn_lost(c, uv_strerror(status));
		return;
	}
	ag_http_req *r = c->req;
	if (c->resp_close || c->srv->closing || !r) {
		http_conn_shutdown(c);
		return;
	}
	if (!r->msg_done) {
		ag_http__conn_drive(c); /* no body is left to read: parse on to the end of the message */
		return;
	}
	http_conn_recycle(c);
}

/* The current exchange is complete: drop the request and parse whatever the client pipelined. */
static void http_conn_recycle(http_conn *c)
{
	if (c->srv->closing) {
		http_conn_shutdown(c);
		return;
	}
	http_conn_detach(c);
	c->hdr_raw = 0;
	if (c->rpos == c->rlen) { /* idle keep-alive connections hold no read buffer */
		http_rbuf_put(c->srv, c->rbuf);
		c->rbuf = NULL;
		c->rpos = c->rlen = 0;
	}
	ag_http__conn_drive(c); /* inside a drive already, the running loop carries on */
}

/*
 * A connection over an already connected stream socket (tests/fuzz: one end
 * of a socketpair), set up exactly as an accepted one. Not for services:
 * they accept on a listener.
 */
ag_status ag_http__conn_open(ag_http_server *s, uv_os_sock_t fd)
{
	http_conn *c = calloc(1, sizeof *c);
	if (!c)
		return AG_E_NOMEM;
	c->srv = s;
	uv_tcp_init(s->loop, &c->tcp);
	if (uv_tcp_open(&c->tcp, fd) != 0) {
		uv_close((uv_handle_t *)&c->tcp, NULL); /* c itself is freed below: no callback needs it */
		uv_run(s->loop, UV_RUN_NOWAIT);         /* let the close finish before the memory goes */
		free(c);
		return AG_E_INVAL;
	}
	c->tcp.data = c;
	uv_timer_init(s->loop, &c->timer);
	c->timer.data = c;
	c->open_handles = 2;
	snprintf(c->peer, sizeof c->peer, "socketpair");
	http_parser_init(&c->parser, HTTP_REQUEST);
	c->parser.data = c;
	c->tmode = TIMER_NONE;
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->nconns++;
	ag_http__conn_update_io(c);
	return AG_OK;
}
