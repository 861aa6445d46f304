/*
 * http_stream.c - streaming responses and the request filter of the HTTP
 * server (libcommon/src/http_stream.c): chunked framing and keep-alive
 * after the end, HTTP/1.0 close-delimited bodies, client disconnect
 * noticed while idle, backpressure (a refused write, then DRAINED, every
 * byte delivered in order), posts from another thread, the server close
 * telling open streams, and filters that pass, defer or refuse.
 */
#include "http_harness.h"

#define PORT_STREAM 18105
#define PORT_DRAIN  18106

#define FLOOD_CHUNK (64 * 1024)
#define FLOOD_TOTAL (48 * 1024 * 1024) /* far more than loopback socket buffers hold */
#define POST_COUNT  200

static atomic_int st_closed;   /* CLOSED events */
static atomic_int st_closing;  /* CLOSING events */
static atomic_int st_retries;  /* writes refused with AG_E_RETRY */
static atomic_int st_drained;  /* DRAINED events */
static atomic_int st_overflow; /* queued bytes above the ceiling + one chunk (must stay 0) */
static atomic_int st_filtered; /* requests the filter saw */

/* ---- /chunks: three chunks from a timer, then the end ---- */

typedef struct {
	uv_timer_t timer;
	ag_http_req *req;
	int n;
} ticker;

static void ticker_closed(uv_handle_t *h)
{
	ticker *t = h->data;
	ag_http_req_release(t->req);
	free(t);
}

static void ticker_tick(uv_timer_t *tm)
{
	ticker *t = tm->data;
	static const char *const parts[] = {"alpha\n", "beta\n", "gamma\n"};
	if (t->n < 3) {
		ag_http_stream_write(t->req, parts[t->n], strlen(parts[t->n]));
		t->n++;
		return;
	}
	ag_http_stream_end(t->req);
	uv_timer_stop(tm);
	uv_close((uv_handle_t *)tm, ticker_closed);
}

static void h_chunks(ag_http_req *r, void *ud)
{
	test_server *ts = ud;
	ticker *t = calloc(1, sizeof *t);
	t->req = r;
	ag_http_req_retain(r);
	ag_http_resp_header(r, "X-Stream", "yes");
	if (ag_http_stream_begin(r, 200, "text/plain", NULL, NULL) != AG_OK)
		atomic_fetch_add(&stat_violations, 1);
	if (ag_http_stream_write(r, "", 0) != AG_OK) /* empty writes are no-ops, not the last chunk */
		atomic_fetch_add(&stat_violations, 1);
	uv_timer_init(&ts->loop, &t->timer);
	t->timer.data = t;
	uv_timer_start(&t->timer, ticker_tick, 1, 1);
}

/* ---- /hold: a stream that stays open until the client or the server closes it ---- */

static void hold_event(ag_http_req *r, ag_http_stream_event ev, void *ud)
{
	if (ev == AG_HTTP_STREAM_CLOSED) {
		atomic_fetch_add(&st_closed, 1);
		ag_http_req_release(r);
	} else if (ev == AG_HTTP_STREAM_CLOSING) {
		atomic_fetch_add(&st_closing, 1);
		ag_http_stream_write(r, "bye\n", 4);
		ag_http_stream_end(r);
		if (ag_http_stream_open(r)) /* ended: no longer open */
			atomic_fetch_add(&stat_violations, 1);
		ag_http_req_release(r);
	}
}

static void h_hold(ag_http_req *r, void *ud)
{
	ag_http_req_retain(r);
	if (ag_http_stream_begin(r, 200, "text/event-stream", hold_event, NULL) != AG_OK) {
		ag_http_req_release(r);
		return;
	}
	ag_http_stream_write(r, "hello\n", 6);
}

/* ---- /flood: FLOOD_TOTAL bytes as fast as the socket takes them ---- */

typedef struct {
	ag_http_req *req;
	size_t sent;
	unsigned char chunk[FLOOD_CHUNK];
} flood;

static void flood_pump(flood *f)
{
	while (f->sent < FLOOD_TOTAL) {
		for (size_t i = 0; i < 8; i++) /* the offset, so the client can check order */
			f->chunk[i] = (unsigned char)(f->sent >> (8 * i));
		ag_status st = ag_http_stream_write(f->req, f->chunk, FLOOD_CHUNK);
		if (st == AG_E_RETRY) {
			atomic_fetch_add(&st_retries, 1);
			return; /* DRAINED calls back */
		}
		if (st != AG_OK)
			return;
		if (ag_http_stream_queued(f->req) > AG_HTTP_STREAM_MAX_QUEUED + FLOOD_CHUNK + 16)
			atomic_fetch_add(&st_overflow, 1);
		f->sent += FLOOD_CHUNK;
	}
	ag_http_stream_end(f->req);
	ag_http_req_release(f->req);
	free(f);
}

static void flood_event(ag_http_req *r, ag_http_stream_event ev, void *ud)
{
	flood *f = ud;
	if (ev == AG_HTTP_STREAM_DRAINED) {
		atomic_fetch_add(&st_drained, 1);
		flood_pump(f);
	} else if (ev == AG_HTTP_STREAM_CLOSED) {
		ag_http_req_release(r);
		free(f);
	}
}

static void h_flood(ag_http_req *r, void *ud)
{
	flood *f = calloc(1, sizeof *f);
	f->req = r;
	ag_http_req_retain(r);
	if (ag_http_stream_begin(r, 200, "application/octet-stream", flood_event, f) != AG_OK) {
		ag_http_req_release(r);
		free(f);
		return;
	}
	flood_pump(f);
}

/* ---- /posted: another thread writes POST_COUNT lines, then ends ---- */

typedef struct {
	ag_http_server *srv;
	uint64_t id;
} post_target;

static void *poster(void *arg)
{
	post_target *t = arg;
	char line[32];
	for (int i = 0; i < POST_COUNT; i++) {
		int n = snprintf(line, sizeof line, "line %d\n", i);
		while (ag_http_stream_post(t->srv, t->id, line, (size_t)n, false) == AG_E_RETRY)
			usleep(1000);
	}
	ag_http_stream_post(t->srv, t->id, NULL, 0, true);
	free(t);
	return NULL;
}

static void posted_event(ag_http_req *r, ag_http_stream_event ev, void *ud)
{
	if (ev == AG_HTTP_STREAM_CLOSED)
		atomic_fetch_add(&st_closed, 1);
}

static void h_posted(ag_http_req *r, void *ud)
{
	if (ag_http_stream_begin(r, 200, "text/plain", posted_event, NULL) != AG_OK)
		return;
	post_target *t = calloc(1, sizeof *t);
	t->srv = ag_http_req_server(r);
	t->id = ag_http_stream_id(r);
	if (!t->srv || !t->id)
		atomic_fetch_add(&stat_violations, 1);
	pthread_t th;
	pthread_create(&th, NULL, poster, t);
	pthread_detach(th);
	/* nothing retained: the stream lives on the connection; posts find it by id */
}

/* ---- the filter: /filtered/pass (sync), /filtered/defer (thread pool), /filtered/deny (429) ---- */

static void filter_work(void *ud)
{
	(void)ud;
}

static void filter_done(ag_http_req *r, void *ud)
{
	ag_http_resp_header(r, "X-Filter", "deferred");
	ag_http_req_next(r);
}

static void test_filter(ag_http_req *r, void *ud)
{
	const char *route = ag_http_req_route(r);
	atomic_fetch_add(&st_filtered, 1);
	if (strcmp(route, "/filtered/deny") == 0 || strcmp(route, "/filtered/upload") == 0) {
		ag_http_resp_header(r, "Retry-After", "7");
		ag_http_respond_problem(r, 429, "slow down");
	} else if (strcmp(route, "/filtered/defer") == 0) {
		ag_http_req_defer(r, filter_work, filter_done, NULL);
	} else {
		ag_http_req_next(r);
	}
}

static void up_never(ag_http_req *r, const char *data, size_t len, void *ud)
{
	atomic_fetch_add(&stat_violations, 1); /* a refused upload's body never reaches the route */
}

static void h_refused_upload(ag_http_req *r, void *ud)
{
	atomic_fetch_add(&stat_violations, 1);
}

static bool stream_server_start(test_server *ts, int port, bool with_filter)
{
	memset(ts, 0, sizeof *ts);
	uv_loop_init(&ts->loop);
	ag_metrics_new(&ts->metrics);
	if (ag_http_server_new(&ts->srv, &ts->loop, NULL, ts->metrics) != AG_OK)
		return false;
	ag_http_route_simple(ts->srv, AG_HTTP_GET, "/hello", h_hello, NULL);
	ag_http_route_simple(ts->srv, AG_HTTP_GET, "/chunks", h_chunks, ts);
	ag_http_route_simple(ts->srv, AG_HTTP_GET, "/hold", h_hold, ts);
	ag_http_route_simple(ts->srv, AG_HTTP_GET, "/flood", h_flood, ts);
	ag_http_route_simple(ts->srv, AG_HTTP_GET, "/posted", h_posted, ts);
	ag_http_route_simple(ts->srv, AG_HTTP_GET, "/filtered/pass", h_hello, NULL);
	ag_http_route_simple(ts->srv, AG_HTTP_GET, "/filtered/defer", h_hello, NULL);
	ag_http_route_simple(ts->srv, AG_HTTP_GET, "/filtered/deny", h_hello, NULL);
	ag_http_route_ops up = {.on_request = h_refused_upload, .on_body = up_never};
	ag_http_route(ts->srv, AG_HTTP_POST, "/filtered/upload", &up, NULL);
	ag_http_route_ops up2 = {
	        .on_request = up_request, .on_body = up_body, .on_body_end = up_end, .on_abort = up_abort};
	ag_http_route(ts->srv, AG_HTTP_PUT, "/upload", &up2, ts);
	if (with_filter)
		ag_http_server_set_filter(ts->srv, test_filter, NULL);
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

/* ---- client: chunked bodies ---- */

/* Read a chunked body into *out (malloc'd); false on a framing error or EOF before the last chunk. */
static bool cli_read_chunked(cli *c, char **out, size_t *outlen, size_t max)
{
	size_t cap = 4096, len = 0;
	char *body = malloc(cap);
	for (;;) {
		char *eol;
		while (!(eol = memmem(c->buf, c->len, "\r\n", 2)))
			if (cli_fill(c) <= 0)
				goto fail;
		size_t n = strtoul(c->buf, NULL, 16);
		cli_consume(c, (size_t)(eol - c->buf) + 2);
		while (c->len < n + 2) {
			if (c->len == sizeof c->buf) { /* chunk larger than the buffer: move what we have */
				size_t take = c->len;
				if (len + take > max)
					goto fail;
				while (len + take > cap)
					body = realloc(body, cap *= 2);
				memcpy(body + len, c->buf, take);
				len += take;
				n -= take;
				cli_consume(c, take);
				continue;
			}
			if (cli_fill(c) <= 0)
				goto fail;
		}
		if (n == 0) {
			cli_consume(c, 2);
			break;
		}
		if (len + n > max)
			goto fail;
		while (len + n > cap)
			body = realloc(body, cap *= 2);
		memcpy(body + len, c->buf, n);
		len += n;
		if (memcmp(c->buf + n, "\r\n", 2) != 0)
			goto fail;
		cli_consume(c, n + 2);
	}
	*out = body;
	*outlen = len;
	return true;
fail:
	free(body);
	return false;
}

static bool cli_read_head(cli *c, resp *r)
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
	return true;
}

static int wait_atomic(atomic_int *v, int want)
{
	for (int i = 0; i < 250 && atomic_load(v) < want; i++)
		usleep(20000);
	return atomic_load(v);
}

/* ---- tests ---- */

static void chunked_stream_then_keep_alive(void)
{
	cli *c = cli_open(PORT_STREAM);
	resp r = {0};
	char v[64] = "";
	char *body = NULL;
	size_t blen = 0;
	AG_CHECK(c != NULL);
	AG_CHECK(cli_sends(c, "GET /chunks HTTP/1.1\r\nHost: t\r\n\r\n"));
	AG_CHECK(cli_read_head(c, &r));
	AG_CHECK_INT(r.status, 200);
	AG_CHECK(resp_header(&r, "Transfer-Encoding", v, sizeof v));
	AG_CHECK_STR(v, "chunked");
	AG_CHECK(!resp_header(&r, "Content-Length", v, sizeof v));
	AG_CHECK(resp_header(&r, "X-Stream", v, sizeof v));
	AG_CHECK(cli_read_chunked(c, &body, &blen, 1024));
	AG_CHECK_INT(blen, 17);
	AG_CHECK(body && blen == 17 && memcmp(body, "alpha\nbeta\ngamma\n", 17) == 0);
	free(body);
	/* the connection carries on with the next request */
	AG_CHECK(cli_sends(c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"));
	AG_CHECK(cli_read(c, &r, false));
	AG_CHECK_INT(r.status, 200);
	AG_CHECK_STR(r.body, "hello");
	resp_clear(&r);
	cli_close(c);
}

static void http10_stream_is_close_delimited(void)
{
	cli *c = cli_open(PORT_STREAM);
	resp r = {0};
	char v[64];
	AG_CHECK(cli_sends(c, "GET /chunks HTTP/1.0\r\n\r\n"));
	AG_CHECK(cli_read_head(c, &r));
	AG_CHECK_INT(r.status, 200);
	AG_CHECK(!resp_header(&r, "Transfer-Encoding", v, sizeof v));
	while (cli_fill(c) > 0)
		;
	AG_CHECK_INT(c->len, 17);
	AG_CHECK(c->len == 17 && memcmp(c->buf, "alpha\nbeta\ngamma\n", 17) == 0);
	resp_clear(&r);
	cli_close(c);
}

static void client_disconnect_is_noticed(void)
{
	int before = atomic_load(&st_closed);
	cli *c = cli_open(PORT_STREAM);
	resp r = {0};
	AG_CHECK(cli_sends(c, "GET /hold HTTP/1.1\r\nHost: t\r\n\r\n"));
	AG_CHECK(cli_read_head(c, &r));
	AG_CHECK_INT(r.status, 200);
	while (!memmem(c->buf, c->len, "hello", 5))
		if (cli_fill(c) <= 0)
			break;
	AG_CHECK(memmem(c->buf, c->len, "hello", 5) != NULL);
	cli_close(c); /* nothing is being written: only the read side can tell */
	AG_CHECK_INT(wait_atomic(&st_closed, before + 1), before + 1);
	resp_clear(&r);
}

static void backpressure_delivers_everything_in_order(void)
{
	cli *c = cli_open(PORT_STREAM);
	resp r = {0};
	AG_CHECK(cli_sends(c, "GET /flood HTTP/1.1\r\nHost: t\r\n\r\n"));
	AG_CHECK(cli_read_head(c, &r));
	AG_CHECK_INT(r.status, 200);
	usleep(300000); /* let the server run into a full socket */
	char *body = NULL;
	size_t blen = 0;
	AG_CHECK(cli_read_chunked(c, &body, &blen, FLOOD_TOTAL));
	AG_CHECK_INT(blen, FLOOD_TOTAL);
	int bad = 0;
	for (size_t off = 0; body && off + FLOOD_CHUNK <= blen; off += FLOOD_CHUNK) {
		uint64_t got = 0;
		for (int i = 7; i >= 0; i--)
			got = got << 8 | (unsigned char)body[off + (size_t)i];
		if (got != off)
			bad++;
	}
	AG_CHECK_INT(bad, 0);
	free(body);
	AG_CHECK(atomic_load(&st_retries) > 0); /* 48 MiB do not fit in socket buffers */
	AG_CHECK_INT(atomic_load(&st_drained), atomic_load(&st_retries));
	AG_CHECK_INT(atomic_load(&st_overflow), 0);
	resp_clear(&r);
	cli_close(c);
}

static void posts_from_another_thread(void)
{
	cli *c = cli_open(PORT_STREAM);
	resp r = {0};
	AG_CHECK(cli_sends(c, "GET /posted HTTP/1.1\r\nHost: t\r\n\r\n"));
	AG_CHECK(cli_read_head(c, &r));
	AG_CHECK_INT(r.status, 200);
	char *body = NULL;
	size_t blen = 0;
	AG_CHECK(cli_read_chunked(c, &body, &blen, 1 << 20));
	int lines = 0, bad = 0;
	for (char *p = body, *e; p && p < body + blen && (e = memchr(p, '\n', (size_t)(body + blen - p))); p = e + 1) {
		char want[32];
		snprintf(want, sizeof want, "line %d", lines);
		if ((size_t)(e - p) != strlen(want) || memcmp(p, want, strlen(want)) != 0)
			bad++;
		lines++;
	}
	AG_CHECK_INT(lines, POST_COUNT);
	AG_CHECK_INT(bad, 0);
	free(body);
	/* a post to a stream that has gone is dropped, not an error */
	AG_CHECK_INT(ag_http_stream_post(S.srv, 999999, "x", 1, false), AG_OK);
	resp_clear(&r);
	cli_close(c);
}

static void filter_passes_defers_and_refuses(void)
{
	resp r = {0};
	char v[64] = "";
	int before = atomic_load(&st_filtered);
	AG_CHECK(http_once(PORT_STREAM, "GET /filtered/pass HTTP/1.1\r\nHost: t\r\n\r\n", &r));
	AG_CHECK_INT(r.status, 200);
	AG_CHECK_STR(r.body, "hello");
	AG_CHECK(http_once(PORT_STREAM, "GET /filtered/defer HTTP/1.1\r\nHost: t\r\n\r\n", &r));
	AG_CHECK_INT(r.status, 200);
	AG_CHECK_STR(r.body, "hello");
	AG_CHECK(resp_header(&r, "X-Filter", v, sizeof v)); /* the filter's headers stay on the handler's answer */
	AG_CHECK_STR(v, "deferred");
	AG_CHECK(http_once(PORT_STREAM, "GET /filtered/deny HTTP/1.1\r\nHost: t\r\n\r\n", &r));
	check_problem(&r, 429);
	AG_CHECK(resp_header(&r, "Retry-After", v, sizeof v));
	AG_CHECK_STR(v, "7");
	/* an unmatched path never reaches the filter */
	AG_CHECK(http_once(PORT_STREAM, "GET /nowhere HTTP/1.1\r\nHost: t\r\n\r\n", &r));
	AG_CHECK_INT(r.status, 404);
	AG_CHECK_INT(atomic_load(&st_filtered), before + 3);
	/* a streaming route refused by the filter: its handler and body callback never run, 100-continue is not sent */
	cli *c = cli_open(PORT_STREAM);
	AG_CHECK(cli_sends(c, "POST /filtered/upload HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
	                      "Expect: 100-continue\r\n\r\n"));
	AG_CHECK(cli_read(c, &r, false));
	check_problem(&r, 429);
	cli_close(c);
	resp_clear(&r);
}

static void filter_holds_a_streaming_body(void)
{
	/* the harness' upload route behind the (passing) filter still gets every byte */
	static unsigned char data[256 * 1024];
	fill_random(data, sizeof data);
	cli *c = cli_open(PORT_STREAM);
	resp r = {0};
	char head[128];
	snprintf(head, sizeof head, "PUT /upload HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n", sizeof data);
	AG_CHECK(cli_sends(c, head));
	AG_CHECK(cli_send(c, data, sizeof data));
	AG_CHECK(cli_read(c, &r, false));
	AG_CHECK_INT(r.status, 200);
	json_t *j = resp_json(&r);
	AG_CHECK_INT(jint(j, "bytes"), (long long)sizeof data);
	char hex[17];
	snprintf(hex, sizeof hex, "%016llx", (unsigned long long)fnv1a(FNV_OFFSET, data, sizeof data));
	AG_CHECK_STR(jstr(j, "hash"), hex);
	json_decref(j);
	resp_clear(&r);
	cli_close(c);
}

static void server_close_tells_open_streams(void)
{
	test_server d;
	AG_CHECK(stream_server_start(&d, PORT_DRAIN, false));
	int before = atomic_load(&st_closing);
	cli *c = cli_open(PORT_DRAIN);
	resp r = {0};
	AG_CHECK(cli_sends(c, "GET /hold HTTP/1.1\r\nHost: t\r\n\r\n"));
	AG_CHECK(cli_read_head(c, &r));
	AG_CHECK_INT(r.status, 200);
	char v[64] = "";
	AG_CHECK(resp_header(&r, "Transfer-Encoding", v, sizeof v));
	server_stop(&d); /* returns once the server closed: the open stream must not hold it */
	AG_CHECK_INT(atomic_load(&st_closing), before + 1);
	char *body = NULL;
	size_t blen = 0;
	AG_CHECK(cli_read_chunked(c, &body, &blen, 1024));
	AG_CHECK(body && blen == 10 && memcmp(body, "hello\nbye\n", 10) == 0);
	free(body);
	AG_CHECK(cli_closed(c));
	resp_clear(&r);
	cli_close(c);
}

int main(void)
{
	ag_log_init("http_stream", AG_LOG_ERROR);
	if (!stream_server_start(&S, PORT_STREAM, true)) {
		printf("not ok - server start\n");
		return 1;
	}
	AG_TEST_RUN(chunked_stream_then_keep_alive);
	AG_TEST_RUN(http10_stream_is_close_delimited);
	AG_TEST_RUN(client_disconnect_is_noticed);
	AG_TEST_RUN(backpressure_delivers_everything_in_order);
	AG_TEST_RUN(posts_from_another_thread);
	AG_TEST_RUN(filter_passes_defers_and_refuses);
	AG_TEST_RUN(filter_holds_a_streaming_body);
	AG_TEST_RUN(server_close_tells_open_streams);
	server_stop(&S);
	AG_CHECK_INT(atomic_load(&stat_violations), 0);
	return ag_test_summary();
}
