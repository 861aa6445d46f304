/*
 * http_harness.h - the test server and raw-socket client shared by the HTTP
 * tests (tests/unit/libcommon/http.c and http_lifecycle.c), included by each:
 * the server runs its own libuv loop in a thread; the test is a plain
 * blocking-socket client that writes raw HTTP/1.x bytes and reads the answers.
 * Each program uses only part of it, hence the unused-function pragma.
 */
#ifndef AEGIS_TEST_HTTP_HARNESS_H
#define AEGIS_TEST_HTTP_HARNESS_H

#pragma GCC diagnostic ignored "-Wunused-function"

#include "aegis/http.h"
#include "aegis/limits.h"
#include "aegis/log.h"
#include "aegis/metrics.h"
#include "test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define PORT_MAIN    18100
#define PORT_LIMITS  18101
#define PORT_TIMEOUT 18102
#define PORT_MAXCONN 18103
#define PORT_CLOSE   18104

#define UPLOAD_BYTES (8 * 1024 * 1024)

/* ---------------------------------------------------------------- server side (loop thread) */

typedef struct {
	uv_loop_t loop;
	uv_async_t stop;
	pthread_t thread;
	ag_http_server *srv;
	ag_metrics *metrics;
	atomic_int done_called;
} test_server;

static atomic_int stat_aborts;
static atomic_int stat_defers_done;
static atomic_int stat_violations;
static atomic_int stat_inflight; /* deferred requests whose work has started */

static uint64_t fnv1a(uint64_t h, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 1099511628211ULL;
	}
	return h;
}
#define FNV_OFFSET 14695981039346656037ULL

static void h_hello(ag_http_req *r, void *ud)
{
	ag_http_respond(r, 200, "text/plain", "hello", 5);
}

static void h_item(ag_http_req *r, void *ud)
{
	json_t *o = json_pack("{s:s,s:s,s:s?}", "id", ag_http_req_param(r, 0), "path", ag_http_req_path(r), "part",
	                      ag_http_req_param(r, 1));
	ag_http_respond_json(r, 200, o);
}

static void h_post_items(ag_http_req *r, void *ud)
{
	size_t len = 0;
	const char *body = ag_http_req_body(r, &len);
	json_t *o = json_pack("{s:s%,s:I,s:I,s:b,s:s?}", "body", body, len, "len", (json_int_t)len, "content_length",
	                      (json_int_t)ag_http_req_content_length(r), "nul", body[len] == '\0', "xa",
	                      ag_http_req_header(r, "X-A"));
	ag_http_respond_json(r, 201, o);
}

static void h_query(ag_http_req *r, void *ud)
{
	json_t *o = json_pack("{s:s?,s:s?,s:s?,s:s?,s:s?,s:s?,s:s}", "a", ag_http_req_query(r, "a"), "b",
	                      ag_http_req_query(r, "b"), "c", ag_http_req_query(r, "c"), "d", ag_http_req_query(r, "d"),
	                      "e", ag_http_req_query(r, "e"), "missing", ag_http_req_query(r, "missing"), "path",
	                      ag_http_req_path(r));
	ag_http_respond_json(r, 200, o);
}

static void h_headers(ag_http_req *r, void *ud)
{
	json_t *o = json_pack("{s:s?,s:s?,s:s?,s:s?}", "xa", ag_http_req_header(r, "X-A"), "xb",
	                      ag_http_req_header(r, "x-B"), "missing", ag_http_req_header(r, "X-Missing"), "peer",
	                      ag_http_req_peer(r));
	ag_http_respond_json(r, 200, o);
}

static void h_problem(ag_http_req *r, void *ud)
{
	ag_http_respond_problem(r, 409, "conflict on %s", "x");
	ag_http_respond(r, 200, "text/plain", "second answer is ignored", 24);
}

static void h_trace(ag_http_req *r, void *ud)
{
	const char *cur = ag_trace_current_id();
	ag_http_respond(r, 200, "text/plain", cur, strlen(cur));
	/* answering leaves the handler's trace in place for its own logging */
	if (strcmp(ag_trace_current_id(), ag_http_req_trace(r)->trace_id) != 0)
		atomic_fetch_add(&stat_violations, 1);
}

static void h_resp_headers(ag_http_req *r, void *ud)
{
	ag_http_resp_header(r, "X-Custom", "yes");
	ag_http_resp_header(r, "X-Evil", "a\r\nInjected: 1");
	ag_http_resp_header(r, "Content-Length", "999");
	ag_http_resp_header(r, "Content-Type", "text/csv");
	ag_http_respond(r, 200, NULL, "a,b\n", 4);
}

static void h_orphan(ag_http_req *r, void *ud)
{
	/* returns without answering or retaining: the server must answer 500 rather than hang */
}

static void h_metrics(ag_http_req *r, void *ud)
{
	test_server *ts = ud;
	char *text = NULL;
	size_t len = 0;
	if (ag_metrics_render(ts->metrics, &text, &len) != AG_OK) {
		ag_http_respond_problem(r, 500, "render failed");
		return;
	}
	ag_http_respond(r, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
	free(text);
}

static void h_stats(ag_http_req *r, void *ud)
{
	json_t *o = json_pack("{s:i,s:i,s:i}", "aborts", atomic_load(&stat_aborts), "defers_done",
	                      atomic_load(&stat_defers_done), "violations", atomic_load(&stat_violations));
	ag_http_respond_json(r, 200, o);
}

/* deferred work */
typedef struct {
	long ms;
	int result;
} slow_work;

static void slow_run(void *ud)
{
	slow_work *w = ud;
	atomic_fetch_add(&stat_inflight, 1);
	struct timespec ts = {w->ms / 1000, (w->ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
	w->result = 42;
}

static void slow_done(ag_http_req *r, void *ud)
{
	slow_work *w = ud;
	char buf[32];
	int n = snprintf(buf, sizeof buf, "deferred:%d", w->result);
	ag_http_respond(r, 200, "text/plain", buf, (size_t)n);
	free(w);
	atomic_fetch_add(&stat_defers_done, 1);
}

static void h_slow(ag_http_req *r, void *ud)
{
	slow_work *w = calloc(1, sizeof *w);
	const char *ms = ag_http_req_query(r, "ms");
	w->ms = ms ? strtol(ms, NULL, 10) : 50;
	if (ag_http_req_defer(r, slow_run, slow_done, w) != AG_OK) {
		free(w);
		ag_http_respond_problem(r, 500, "defer failed");
	}
}

/* streaming upload with pause/resume after every chunk */
typedef struct {
	uv_timer_t timer;
	ag_http_req *req;
	uint64_t hash, bytes;
	int chunks;
	size_t max_chunk;
	bool paused, finished;
} upload_state;

static void upload_closed(uv_handle_t *h)
{
	upload_state *u = h->data;
	ag_http_req_release(u->req);
	free(u);
}

static void upload_finish(upload_state *u)
{
	if (u->finished)
		return;
	u->finished = true;
	uv_close((uv_handle_t *)&u->timer, upload_closed);
}

static void upload_resume(uv_timer_t *t)
{
	upload_state *u = t->data;
	u->paused = false;
	ag_http_req_resume(u->req); /* may deliver the next chunk right here */
}

static void up_request(ag_http_req *r, void *ud)
{
	test_server *ts = ud;
	upload_state *u = calloc(1, sizeof *u);
	uv_timer_init(&ts->loop, &u->timer);
	u->timer.data = u;
	u->req = r;
	u->hash = FNV_OFFSET;
	ag_http_req_retain(r);
	ag_http_req_set_data(r, u);
	if (ag_http_req_query(r, "hold")) { /* not ready yet: hold the body back for a while */
		u->paused = true;
		ag_http_req_pause(r);
		uv_timer_start(&u->timer, upload_resume, 30, 0);
	}
}

static void up_body(ag_http_req *r, const char *data, size_t len, void *ud)
{
	upload_state *u = ag_http_req_data(r);
	if (u->paused)
		atomic_fetch_add(&stat_violations, 1);
	u->hash = fnv1a(u->hash, (const unsigned char *)data, len);
	u->bytes += len;
	u->chunks++;
	if (len > u->max_chunk)
		u->max_chunk = len;
	u->paused = true;
	ag_http_req_pause(r);
	uv_timer_start(&u->timer, upload_resume, (uint64_t)(u->chunks % 3), 0);
}

static void up_end(ag_http_req *r, void *ud)
{
	upload_state *u = ag_http_req_data(r);
	char hex[17];
	snprintf(hex, sizeof hex, "%016llx", (unsigned long long)u->hash);
	json_t *o = json_pack("{s:I,s:s,s:i,s:I,s:I}", "bytes", (json_int_t)u->bytes, "hash", hex, "chunks", u->chunks,
	                      "max_chunk", (json_int_t)u->max_chunk, "content_length",
	                      (json_int_t)ag_http_req_content_length(r));
	ag_http_respond_json(r, 200, o);
	upload_finish(u);
}

static void up_abort(ag_http_req *r, void *ud)
{
	atomic_fetch_add(&stat_aborts, 1);
	upload_finish(ag_http_req_data(r));
}

/* streaming route that refuses at the headers, before any body */
static void early_request(ag_http_req *r, void *ud)
{
	ag_http_respond_problem(r, 401, "no token");
}

static void early_body(ag_http_req *r, const char *data, size_t len, void *ud)
{
	atomic_fetch_add(&stat_violations, 1); /* never called after an answer */
}

static void *server_thread(void *arg)
{
	test_server *ts = arg;
	uv_run(&ts->loop, UV_RUN_DEFAULT);
	return NULL;
}

static void server_closed(void *ud)
{
	test_server *ts = ud;
	atomic_store(&ts->done_called, 1);
	uv_close((uv_handle_t *)&ts->stop, NULL);
}

static void server_stop_cb(uv_async_t *a)
{
	test_server *ts = a->data;
	ag_http_server_close(ts->srv, server_closed, ts);
}

static bool server_start(test_server *ts, int port, const ag_http_limits *lim)
{
	memset(ts, 0, sizeof *ts);
	uv_loop_init(&ts->loop);
	ag_metrics_new(&ts->metrics);
	if (ag_http_server_new(&ts->srv, &ts->loop, lim, ts->metrics) != AG_OK)
		return false;
	ag_http_route_simple(ts->srv, AG_HTTP_GET, "/hello", h_hello, NULL);
	ag_http_route_simple(ts->srv, AG_HTTP_GET, "/items/{}", h_item, NULL);
	ag_http_route_simple(ts->srv, AG_HTTP_GET, "/items/{}/parts/{}", h_item, NULL);
	ag_http_route_simple(ts->srv, AG_HTTP_POST, "/items", h_post_items, NULL);
	ag_http_route_simple(ts->srv, AG_HTTP_GET, "/q", h_query, NULL);
	ag_http_route_simple(ts->srv, AG_HTTP_GET, "/headers", h_headers, NULL);
	ag_http_route_simple(ts->srv, AG_HTTP_GET, "/problem", h_problem, NULL);
	ag_http_route_simple(ts->srv, AG_HTTP_GET, "/trace", h_trace, NULL);
	ag_http_route_simple(ts->srv, AG_HTTP_GET, "/resp-headers", h_resp_headers, NULL);
	ag_http_route_simple(ts->srv, AG_HTTP_GET, "/orphan", h_orphan, NULL);
	ag_http_route_simple(ts->srv, AG_HTTP_GET, "/metrics", h_metrics, ts);
	ag_http_route_simple(ts->srv, AG_HTTP_GET, "/stats", h_stats, NULL);
	ag_http_route_simple(ts->srv, AG_HTTP_POST, "/slow", h_slow, NULL);
	ag_http_route_ops up = {
	        .on_request = up_request, .on_body = up_body, .on_body_end = up_end, .on_abort = up_abort};
	ag_http_route(ts->srv, AG_HTTP_PUT, "/upload", &up, ts);
	ag_http_route_ops early = {.on_request = early_request, .on_body = early_body};
	ag_http_route(ts->srv, AG_HTTP_POST, "/early", &early, NULL);
	ag_err err;
	ag_err_clear(&err);
	if (ag_http_listen(ts->srv, "127.0.0.1", port, &err) != AG_OK) {
		fprintf(stderr, "  listen: %s\n", err.msg);
		return false;
	}
	uv_async_init(&ts->loop, &ts->stop, server_stop_cb);
	ts->stop.data = ts;
	return pthread_create(&ts->thread, NULL, server_thread, ts) == 0;
}

static void server_stop(test_server *ts)
{
	uv_async_send(&ts->stop);
	pthread_join(ts->thread, NULL);
	AG_CHECK_INT(atomic_load(&ts->done_called), 1);
	ag_http_server_free(ts->srv);
	AG_CHECK_INT(uv_loop_close(&ts->loop), 0); /* every handle closed */
	ag_metrics_free(ts->metrics);
}

/* ---------------------------------------------------------------- client side (test thread) */

typedef struct {
	int fd;
	char buf[256 * 1024];
	size_t len;
} cli;

typedef struct {
	int status;
	char head[16384];
	char *body;
	size_t blen;
} resp;

static cli *cli_open(int port)
{
	cli *c = calloc(1, sizeof *c);
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	struct timeval tv = {5, 0};
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		close(c->fd);
		free(c);
		return NULL;
	}
	return c;
}

static void cli_close(cli *c)
{
	if (!c)
		return;
	close(c->fd);
	free(c);
}

static bool cli_send(cli *c, const void *data, size_t len)
{
	const char *p = data;
	while (len > 0) {
		ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

static bool cli_sends(cli *c, const char *s)
{
	return cli_send(c, s, strlen(s));
}

static int cli_fill(cli *c)
{
	if (c->len == sizeof c->buf)
		return -1;
	ssize_t n = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
	if (n > 0)
		c->len += (size_t)n;
	return (int)n;
}

static void cli_consume(cli *c, size_t n)
{
	memmove(c->buf, c->buf + n, c->len - n);
	c->len -= n;
}

static bool resp_header(const resp *r, const char *name, char *out, size_t outsz)
{
	size_t nl = strlen(name);
	for (const char *p = r->head; p && *p; p = strstr(p, "\r\n") ? strstr(p, "\r\n") + 2 : NULL) {
		if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *v = p + nl + 1;
			while (*v == ' ')
				v++;
			const char *e = strstr(v, "\r\n");
			size_t n = e ? (size_t)(e - v) : strlen(v);
			if (n >= outsz)
				n = outsz - 1;
			memcpy(out, v, n);
			out[n] = '\0';
			return true;
		}
	}
	return false;
}

static void resp_clear(resp *r)
{
	free(r->body);
	memset(r, 0, sizeof *r);
}

/* Read one response; `head_req` when it answers a HEAD (no body whatever Content-Length says). */
static bool cli_read(cli *c, resp *r, bool head_req)
{
	resp_clear(r);
	char *end;
	while (!(end = memmem(c->buf, c->len, "\r\n\r\n", 4)))
		if (cli_fill(c) <= 0)
			return false;
	size_t hl = (size_t)(end - c->buf) + 4;
	if (sscanf(c->buf, "HTTP/1.%*d %d", &r->status) != 1)
		return false;
	const char *eol = strstr(c->buf, "\r\n");
	size_t start = (size_t)(eol - c->buf) + 2;
	size_t n = hl - start < sizeof r->head - 1 ? hl - start : sizeof r->head - 1;
	memcpy(r->head, c->buf + start, n);
	r->head[n] = '\0';
	cli_consume(c, hl);
	char v[64];
	size_t cl = 0;
	if (resp_header(r, "Content-Length", v, sizeof v))
		cl = strtoull(v, NULL, 10);
	if (head_req || r->status < 200 || r->status == 204 || r->status == 304)
		cl = 0;
	while (c->len < cl)
		if (cli_fill(c) <= 0)
			return false;
	r->body = malloc(cl + 1);
	memcpy(r->body, c->buf, cl);
	r->body[cl] = '\0';
	r->blen = cl;
	cli_consume(c, cl);
	return true;
}

/* Has the server closed the connection (EOF or reset) with nothing more to read? */
static bool cli_closed(cli *c)
{
	if (c->len)
		return false;
	char b[256];
	for (;;) {
		ssize_t n = recv(c->fd, b, sizeof b, 0);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return true;
		if (n < 0)
			return false; /* timeout: still open */
	}
}

/* One request on a fresh connection. */
static bool http_once(int port, const char *raw, resp *r)
{
	cli *c = cli_open(port);
	if (!c)
		return false;
	bool ok = cli_sends(c, raw) && cli_read(c, r, strncmp(raw, "HEAD ", 5) == 0);
	cli_close(c);
	return ok;
}

static json_t *resp_json(const resp *r)
{
	json_t *j = json_loadb(r->body ? r->body : "", r->blen, 0, NULL);
	if (!j)
		fprintf(stderr, "  not JSON: %s\n", r->body ? r->body : "(null)");
	return j;
}

static const char *jstr(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

static long long jint(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	return json_is_integer(v) ? json_integer_value(v) : -999;
}

static void check_problem(const resp *r, int status)
{
	char ct[128] = "";
	AG_CHECK_INT(r->status, status);
	resp_header(r, "Content-Type", ct, sizeof ct);
	AG_CHECK_STR(ct, "application/problem+json");
	json_t *j = resp_json(r);
	AG_CHECK(j != NULL);
	AG_CHECK_STR(jstr(j, "type"), "about:blank");
	AG_CHECK_STR(jstr(j, "title"), ag_http_reason(status));
	AG_CHECK_INT(jint(j, "status"), status);
	AG_CHECK(jstr(j, "detail") != NULL);
	json_decref(j);
}

static test_server S; /* the main server on PORT_MAIN */

static void fill_random(unsigned char *p, size_t n)
{
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (unsigned char)x;
	}
}

static int stats_get(const char *key)
{
	resp r = {0};
	int v = -1;
	if (http_once(PORT_MAIN, "GET /stats HTTP/1.1\r\nHost: t\r\n\r\n", &r)) {
		json_t *j = resp_json(&r);
		v = (int)jint(j, key);
		json_decref(j);
	}
	resp_clear(&r);
	return v;
}

static int stats_wait(const char *key, int want)
{
	int v = -1;
	for (int i = 0; i < 100; i++) {
		v = stats_get(key);
		if (v >= want)
			break;
		usleep(20000);
	}
	return v;
}

static void flag_done(void *ud)
{
	*(int *)ud = 1;
}

#endif
