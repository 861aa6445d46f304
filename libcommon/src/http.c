/*
 * http.c - the HTTP server object: limits, the route table and its
 * matching, listening and the graceful close. Connections live in
 * http_conn.c, requests in http_req.c, responses in http_resp.c.
 */
#include "aegis/http.h"

#include "aegis/log.h"
#include "http_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ag_http_limits_default(ag_http_limits *lim)
{
	lim->max_header_bytes = AG_HTTP_MAX_HEADER_BYTES;
	lim->max_headers = AG_HTTP_MAX_HEADERS;
	lim->max_url_bytes = AG_HTTP_MAX_URL_BYTES;
	lim->max_body_buffered = AG_HTTP_MAX_BODY_BUFFERED;
	lim->max_connections = AG_HTTP_MAX_CONNECTIONS;
	lim->idle_timeout_ms = AG_HTTP_IDLE_TIMEOUT_MS;
	lim->request_timeout_ms = 0;
}

ag_status ag_http_server_new(ag_http_server **out, uv_loop_t *loop, const ag_http_limits *lim, ag_metrics *metrics)
{
	*out = NULL;
	if (!loop)
		return AG_E_INVAL;
	ag_http_server *s = calloc(1, sizeof *s);
	if (!s)
		return AG_E_NOMEM;
	s->loop = loop;
	s->metrics = metrics;
	if (pthread_mutex_init(&s->post_mu, NULL) != 0) {
		free(s);
		return AG_E_INTERNAL;
	}
	ag_http_limits_default(&s->lim);
	if (lim) {
		/* zero fields keep their defaults, so callers may fill in only what they change */
		if (lim->max_header_bytes)
			s->lim.max_header_bytes = lim->max_header_bytes;
		if (lim->max_headers > 0)
			s->lim.max_headers = lim->max_headers;
		if (lim->max_url_bytes)
			s->lim.max_url_bytes = lim->max_url_bytes;
		if (lim->max_body_buffered)
			s->lim.max_body_buffered = lim->max_body_buffered;
		if (lim->max_connections > 0)
			s->lim.max_connections = lim->max_connections;
		if (lim->idle_timeout_ms)
			s->lim.idle_timeout_ms = lim->idle_timeout_ms;
		s->lim.request_timeout_ms = lim->request_timeout_ms;
	}
	*out = s;
	return AG_OK;
}

static void http_handle_free(uv_handle_t *h)
{
	free(h);
}

static void http_on_connection(uv_stream_t *listener, int status)
{
	ag_http_server *s = listener->data;
	if (status < 0) {
		ag_log_warn("http: accept failed: %s", uv_strerror(status));
		return;
	}
	if (!s->closing && s->nconns < s->lim.max_connections) {
		ag_http__conn_accept(s, listener);
		return;
	}
	/* Over the cap: take the socket off the backlog and close it at once. */
	uv_tcp_t *t = malloc(sizeof *t);
	if (!t)
		return;
	uv_tcp_init(s->loop, t);
	if (uv_accept(listener, (uv_stream_t *)t) == 0) {
		uint64_t now = uv_now(s->loop);
		s->refused++;
		if (!s->refused_logged_ms || now - s->refused_logged_ms >= HTTP_REFUSED_LOG_MS) {
			ag_log_warn("http: %llu connection(s) refused: %d open (cap %d)",
			            (unsigned long long)s->refused, s->nconns, s->lim.max_connections);
			s->refused_logged_ms = now;
			s->refused = 0;
		}
	}
	ag_http__server_close_handle(s, (uv_handle_t *)t);
}

ag_status ag_http_listen(ag_http_server *s, const char *host, int port, ag_err *err)
{
	struct sockaddr_storage ss;
	int rc;
	if (!s || !host || port < 0 || port > 65535)
		return ag_err_set(err, AG_E_INVAL, "http: bad listen address");
	if (s->listener || s->closing)
		return ag_err_set(err, AG_E_INVAL, "http: already listening or closed");
	if (strchr(host, ':'))
		rc = uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss);
	else
		rc = uv_ip4_addr(host, port, (struct sockaddr_in *)&ss);
	if (rc != 0)
		return ag_err_set(err, AG_E_INVAL, "http: bad listen host \"%s\": %s", host, uv_strerror(rc));
	uv_tcp_t *l = malloc(sizeof *l);
	if (!l)
		return ag_err_set(err, AG_E_NOMEM, "http: out of memory");
	rc = uv_tcp_init(s->loop, l);
	if (rc != 0) {
		free(l);
		return ag_err_set(err, AG_E_INTERNAL, "http: %s", uv_strerror(rc));
	}
	l->data = s;
	rc = uv_tcp_bind(l, (const struct sockaddr *)&ss, 0);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)l, HTTP_LISTEN_BACKLOG, http_on_connection);
	if (rc != 0) {
		/* closed without the server: the caller may free it right away */
		uv_close((uv_handle_t *)l, http_handle_free);
		return ag_err_set(err, rc == UV_EADDRINUSE ? AG_E_EXISTS : AG_E_IO, "http: listen on %s:%d: %s", host,
		                  port, uv_strerror(rc));
	}
	s->listener = l;
	ag_log_info("http: listening on %s:%d", host, port);
	return AG_OK;
}

static void http_handle_closed(uv_handle_t *h)
{
	ag_http_server *s = h->data;
	free(h);
	s->pending_closes--;
	ag_http__server_maybe_done(s);
}

void ag_http__server_close_handle(ag_http_server *s, uv_handle_t *h)
{
	h->data = s;
	s->pending_closes++;
	uv_close(h, http_handle_closed);
}

void ag_http__server_maybe_done(ag_http_server *s)
{
	if (!s->closing || s->done_called || s->nconns > 0 || s->pending_closes > 0)
		return;
	s->done_called = true;
	if (s->done)
		s->done(s->done_ud); /* last: `done` may free the server */
}

void ag_http__server_conn_gone(ag_http_server *s, http_conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->nconns--;
	ag_http__server_maybe_done(s);
}

void ag_http_server_close(ag_http_server *s, void (*done)(void *ud), void *ud)
{
	if (!s || s->closing)
		return;
	s->closing = true;
	s->done = done;
	s->done_ud = ud;
	if (s->listener) {
		ag_http__server_close_handle(s, (uv_handle_t *)s->listener);
		s->listener = NULL;
	}
	ag_http__streams_closing(s); /* open streams are told to end; the post mailbox closes */
	ag_http__wdone_close(s);     /* responses written at once are completed now */
	/* Busy connections close after their response (it carries Connection: close). */
	http_conn *next;
	for (http_conn *c = s->conns; c; c = next) {
		next = c->next;
		if (ag_http__conn_idle(c))
			ag_http__conn_close(c);
	}
	ag_http__server_maybe_done(s);
}

void ag_http_server_free(ag_http_server *s)
{
	if (!s)
		return;
	ag_http__server_free_posts(s);
	pthread_mutex_destroy(&s->post_mu);
	for (int i = 0; i < s->nrbuf_cache; i++)
		free(s->rbuf_cache[i]);
	free(s);
}

/* --- routes --- */

static int http_pattern_params(const char *p)
{
	int n = 0;
	for (const char *q = strstr(p, "{}"); q; q = strstr(q + 2, "{}"))
		n++;
	return n;
}

/* A pattern is "/" or "/seg/seg" where each segment is literal text or exactly "{}". */
static bool http_pattern_ok(const char *p)
{
	if (p[0] != '/')
		return false;
	for (const char *q = p; *q; q++) {
		if (*q == '{' || *q == '}') {
			bool capture = q[0] == '{' && q[1] == '}' && q[-1] == '/' && (q[2] == '/' || q[2] == '\0');
			if (!capture)
				return false;
			q++;
		} else if (*q == '?' || *q == '#' || *q == '%' || (unsigned char)*q <= ' ') {
			return false;
		}
	}
	return http_pattern_params(p) <= AG_HTTP_MAX_PATH_PARAMS;
}

ag_status ag_http_route(ag_http_server *s, ag_http_method m, const char *pattern, const ag_http_route_ops *ops,
                        void *ud)
{
	if (!s || !pattern || !ops || !ops->on_request || m < AG_HTTP_GET || m > AG_HTTP_OPTIONS)
		return AG_E_INVAL;
	if (strlen(pattern) >= HTTP_MAX_PATTERN_BYTES || !http_pattern_ok(pattern))
		return AG_E_INVAL;
	if (s->nroutes >= AG_HTTP_MAX_ROUTES)
		return AG_E_TOOBIG;
	http_route *r = &s->routes[s->nroutes];
	memset(r, 0, sizeof *r);
	r->method = m;
	snprintf(r->pattern, sizeof r->pattern, "%s", pattern);
	ag_metrics_label_escape(pattern, r->label, sizeof r->label);
	r->ops = *ops;
	r->ud = ud;
	s->nroutes++;
	return AG_OK;
}

ag_status ag_http_route_simple(ag_http_server *s, ag_http_method m, const char *pattern, ag_http_handler fn, void *ud)
{
	ag_http_route_ops ops = {.on_request = fn};
	return ag_http_route(s, m, pattern, &ops, ud);
}

/* Does the decoded segment list match the pattern? Captures go to params when `capture`. */
static bool http_route_path_match(const http_route *rt, ag_http_req *req, bool capture)
{
	const char *p = rt->pattern + 1;
	int i = 0, np = 0;
	if (req->nseg > HTTP_MAX_PATH_SEGMENTS)
		return false;
	for (;;) {
		const char *end = strchr(p, '/');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (i >= req->nseg)
			return false;
		if (len == 2 && p[0] == '{' && p[1] == '}') {
			if (capture)
				req->params[np] = req->seg[i];
			np++;
		} else if (strlen(req->seg[i]) != len || memcmp(req->seg[i], p, len) != 0) {
			return false;
		}
		i++;
		if (!end)
			break;
		p = end + 1;
	}
	if (i != req->nseg)
		return false;
	if (capture)
		req->nparams = np;
	return true;
}

static const char *const http_method_names[] = {
        [AG_HTTP_GET] = "GET",     [AG_HTTP_HEAD] = "HEAD",     [AG_HTTP_POST] = "POST",       [AG_HTTP_PUT] = "PUT",
        [AG_HTTP_PATCH] = "PATCH", [AG_HTTP_DELETE] = "DELETE", [AG_HTTP_OPTIONS] = "OPTIONS",
};

/*
 * The route for the request, or NULL with *status 404 (no path matches) or
 * 405 (a path matches under other methods; `allow` lists them). HEAD falls
 * back to a GET route and is then answered without a body.
 */
const http_route *ag_http__route_match(const ag_http_server *s, ag_http_req *req, int *status, char *allow,
                                       size_t allowsz)
{
	const http_route *get = NULL;
	bool methods[AG_HTTP_OPTIONS + 1] = {false};
	bool any = false;
	for (int i = 0; i < s->nroutes; i++) {
		const http_route *rt = &s->routes[i];
		if (!http_route_path_match(rt, req, false))
			continue;
		if (!any)
			req->path_route = rt;
		any = true;
		methods[rt->method] = true;
		if (req->method && rt->method == req->method) {
			http_route_path_match(rt, req, true);
			return rt;
		}
		if (req->method == AG_HTTP_HEAD && rt->method == AG_HTTP_GET && !get)
			get = rt;
	}
	if (get) {
		http_route_path_match(get, req, true);
		req->head = true;
		return get;
	}
	*status = any ? 405 : 404;
	allow[0] = '\0';
	if (any) {
		methods[AG_HTTP_HEAD] = methods[AG_HTTP_HEAD] || methods[AG_HTTP_GET];
		size_t o = 0;
		for (int m = AG_HTTP_GET; m <= AG_HTTP_OPTIONS; m++) {
			if (!methods[m])
				continue;
			int n = snprintf(allow + o, allowsz - o, "%s%s", o ? ", " : "", http_method_names[m]);
			if (n < 0 || (size_t)n >= allowsz - o)
				break;
			o += (size_t)n;
		}
	}
	return NULL;
}
