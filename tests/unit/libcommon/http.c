/*
 * Tests libcommon/src/http*.c, requests and answers: routing, decoding,
 * headers, syntax errors, limits, chunked bodies, 100-continue, keep-alive,
 * problem+json, response headers, metrics, route validation (loopback ports
 * 18100-18101; the harness is http_harness.h).
 */
#include "http_harness.h"

static void routing_captures_404_405_and_head(void)
{
	resp r = {0};
	AG_CHECK(http_once(PORT_MAIN, "GET /items/abc%20d HTTP/1.1\r\nHost: t\r\n\r\n", &r));
	AG_CHECK_INT(r.status, 200);
	json_t *j = resp_json(&r);
	AG_CHECK_STR(jstr(j, "id"), "abc d");
	AG_CHECK_STR(jstr(j, "path"), "/items/abc d");
	json_decref(j);

	/* an encoded slash stays inside its segment */
	AG_CHECK(http_once(PORT_MAIN, "GET /items/a%2Fb HTTP/1.1\r\nHost: t\r\n\r\n", &r));
	j = resp_json(&r);
	AG_CHECK_INT(r.status, 200);
	AG_CHECK_STR(jstr(j, "id"), "a/b");
	json_decref(j);

	AG_CHECK(http_once(PORT_MAIN, "GET /items/7/parts/x HTTP/1.1\r\nHost: t\r\n\r\n", &r));
	j = resp_json(&r);
	AG_CHECK_STR(jstr(j, "id"), "7");
	AG_CHECK_STR(jstr(j, "part"), "x");
	json_decref(j);

	AG_CHECK(http_once(PORT_MAIN, "GET /items/7/parts HTTP/1.1\r\nHost: t\r\n\r\n", &r));
	check_problem(&r, 404);
	AG_CHECK(http_once(PORT_MAIN, "GET /nowhere HTTP/1.1\r\nHost: t\r\n\r\n", &r));
	check_problem(&r, 404);
	AG_CHECK(http_once(PORT_MAIN, "GET /hello/ HTTP/1.1\r\nHost: t\r\n\r\n", &r));
	AG_CHECK_INT(r.status, 404);

	char allow[64] = "";
	AG_CHECK(http_once(PORT_MAIN, "DELETE /items/1 HTTP/1.1\r\nHost: t\r\n\r\n", &r));
	check_problem(&r, 405);
	AG_CHECK(resp_header(&r, "Allow", allow, sizeof allow));
	AG_CHECK_STR(allow, "GET, HEAD");
	AG_CHECK(http_once(PORT_MAIN, "GET /items HTTP/1.1\r\nHost: t\r\n\r\n", &r));
	AG_CHECK_INT(r.status, 405);
	resp_header(&r, "Allow", allow, sizeof allow);
	AG_CHECK_STR(allow, "POST");

	/* HEAD on a GET route: same headers, no body; the connection stays in sync */
	cli *c = cli_open(PORT_MAIN);
	AG_CHECK(cli_sends(c, "HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n"));
	AG_CHECK(cli_read(c, &r, true));
	AG_CHECK_INT(r.status, 200);
	char cl[32] = "";
	resp_header(&r, "Content-Length", cl, sizeof cl);
	AG_CHECK_STR(cl, "5");
	AG_CHECK(cli_sends(c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"));
	AG_CHECK(cli_read(c, &r, false));
	AG_CHECK_STR(r.body, "hello");
	cli_close(c);
	resp_clear(&r);
}

static void query_and_percent_decoding(void)
{
	resp r = {0};
	AG_CHECK(http_once(PORT_MAIN, "GET /q?a=1&b=hello+world&c=%41%42%c3%a9&d&e=&a=2 HTTP/1.1\r\nHost: t\r\n\r\n",
	                   &r));
	AG_CHECK_INT(r.status, 200);
	json_t *j = resp_json(&r);
	AG_CHECK_STR(jstr(j, "a"), "1"); /* first value wins */
	AG_CHECK_STR(jstr(j, "b"), "hello world");
	AG_CHECK_STR(jstr(j, "c"), "AB\xc3\xa9");
	AG_CHECK_STR(jstr(j, "d"), "");
	AG_CHECK_STR(jstr(j, "e"), "");
	AG_CHECK(json_is_null(json_object_get(j, "missing")));
	json_decref(j);

	/* '+' is literal in a path */
	AG_CHECK(http_once(PORT_MAIN, "GET /items/a+b HTTP/1.1\r\nHost: t\r\n\r\n", &r));
	j = resp_json(&r);
	AG_CHECK_STR(jstr(j, "id"), "a+b");
	json_decref(j);

	static const char *const bad[] = {
	        "GET /items/%zz HTTP/1.1\r\nHost: t\r\n\r\n",  "GET /items/a%00b HTTP/1.1\r\nHost: t\r\n\r\n",
	        "GET /items/abc% HTTP/1.1\r\nHost: t\r\n\r\n", "GET /q?a=%4 HTTP/1.1\r\nHost: t\r\n\r\n",
	        "GET /q?a=%00 HTTP/1.1\r\nHost: t\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		AG_CHECK(http_once(PORT_MAIN, bad[i], &r));
		check_problem(&r, 400);
	}
	resp_clear(&r);
}

static void headers_case_insensitive_and_duplicates(void)
{
	resp r = {0};
	AG_CHECK(http_once(PORT_MAIN, "GET /headers HTTP/1.1\r\nHost: t\r\nX-A: 1\r\nX-B: two\r\nx-a: 2\r\n\r\n", &r));
	AG_CHECK_INT(r.status, 200);
	json_t *j = resp_json(&r);
	AG_CHECK_STR(jstr(j, "xa"), "1, 2");
	AG_CHECK_STR(jstr(j, "xb"), "two");
	AG_CHECK(json_is_null(json_object_get(j, "missing")));
	AG_CHECK_STR(jstr(j, "peer"), "127.0.0.1");
	json_decref(j);

	AG_CHECK(http_once(PORT_MAIN, "GET /headers HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", &r));
	check_problem(&r, 400);
	/* conflicting lengths are a smuggling vector: refused */
	AG_CHECK(http_once(PORT_MAIN,
	                   "POST /items HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
	                   &r));
	AG_CHECK_INT(r.status, 400);
	AG_CHECK(http_once(PORT_MAIN,
	                   "POST /items HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
	                   "3\r\nabc\r\n0\r\n\r\n",
	                   &r));
	AG_CHECK_INT(r.status, 400);
	resp_clear(&r);
}

static void bad_syntax_is_400_problem_and_close(void)
{
	resp r = {0};
	cli *c = cli_open(PORT_MAIN);
	AG_CHECK(cli_sends(c, "GARBAGE\r\n\r\n"));
	AG_CHECK(cli_read(c, &r, false));
	check_problem(&r, 400);
	char conn[32] = "";
	resp_header(&r, "Connection", conn, sizeof conn);
	AG_CHECK_STR(conn, "close");
	AG_CHECK(cli_closed(c));
	cli_close(c);

	c = cli_open(PORT_MAIN);
	AG_CHECK(cli_sends(c, "GET /hello HTTP/1.1\r\nBad Header\r\n\r\n"));
	AG_CHECK(cli_read(c, &r, false));
	check_problem(&r, 400);
	AG_CHECK(cli_closed(c));
	cli_close(c);
	resp_clear(&r);
}

static void limits_431_414_413(void)
{
	test_server ts;
	ag_http_limits lim;
	ag_http_limits_default(&lim);
	lim.max_header_bytes = 2048;
	lim.max_headers = 10;
	lim.max_url_bytes = 256;
	lim.max_body_buffered = 1024;
	AG_CHECK(server_start(&ts, PORT_LIMITS, &lim));
	resp r = {0};
	char req[8192];

	/* header bytes */
	char big[3000];
	memset(big, 'v', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	snprintf(req, sizeof req, "GET /hello HTTP/1.1\r\nHost: t\r\nX-Big: %s\r\n\r\n", big);
	AG_CHECK(http_once(PORT_LIMITS, req, &r));
	check_problem(&r, 431);

	/* header count: 10 allowed, 11 refused */
	size_t o = (size_t)snprintf(req, sizeof req, "GET /hello HTTP/1.1\r\n");
	for (int i = 0; i < 10; i++)
		o += (size_t)snprintf(req + o, sizeof req - o, "X-H%d: %d\r\n", i, i);
	snprintf(req + o, sizeof req - o, "\r\n");
	AG_CHECK(http_once(PORT_LIMITS, req, &r));
	AG_CHECK_INT(r.status, 200);
	snprintf(req + o - 2, sizeof req - o + 2, "\r\nX-H10: x\r\n\r\n");
	AG_CHECK(http_once(PORT_LIMITS, req, &r));
	check_problem(&r, 431);

	/* URL */
	char path[400];
	memset(path, 'p', sizeof path - 1);
	path[sizeof path - 1] = '\0';
	snprintf(req, sizeof req, "GET /%s HTTP/1.1\r\nHost: t\r\n\r\n", path);
	AG_CHECK(http_once(PORT_LIMITS, req, &r));
	check_problem(&r, 414);

	/* body: Content-Length over the limit answers at once, before the body is sent, then closes */
	cli *c = cli_open(PORT_LIMITS);
	AG_CHECK(cli_sends(c, "POST /items HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n"));
	AG_CHECK(cli_read(c, &r, false));
	check_problem(&r, 413);
	AG_CHECK(cli_closed(c));
	cli_close(c);

	/* the client already sent its oversize body: it still reads the 413 (lingering close, no reset) */
	char body[5000];
	memset(body, 'b', sizeof body);
	c = cli_open(PORT_LIMITS);
	AG_CHECK(cli_sends(c, "POST /items HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n"));
	AG_CHECK(cli_send(c, body, sizeof body));
	AG_CHECK(cli_read(c, &r, false));
	AG_CHECK_INT(r.status, 413);
	cli_close(c);

	/* chunked with no length up front: refused once the buffered bytes pass the limit */
	c = cli_open(PORT_LIMITS);
	AG_CHECK(cli_sends(c, "POST /items HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"));
	for (int i = 0; i < 3; i++) {
		AG_CHECK(cli_sends(c, "200\r\n"));
		AG_CHECK(cli_send(c, body, 0x200));
		AG_CHECK(cli_sends(c, "\r\n"));
	}
	AG_CHECK(cli_read(c, &r, false));
	check_problem(&r, 413);
	AG_CHECK(cli_closed(c));
	cli_close(c);

	/* exactly at the limit is fine */
	snprintf(req, sizeof req, "POST /items HTTP/1.1\r\nHost: t\r\nContent-Length: 1024\r\n\r\n%.1024s", body);
	AG_CHECK(http_once(PORT_LIMITS, req, &r));
	AG_CHECK_INT(r.status, 201);
	resp_clear(&r);
	server_stop(&ts);
}

static void chunked_body_is_decoded(void)
{
	resp r = {0};
	AG_CHECK(http_once(PORT_MAIN,
	                   "POST /items HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
	                   "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\n",
	                   &r));
	AG_CHECK_INT(r.status, 201);
	json_t *j = resp_json(&r);
	AG_CHECK_STR(jstr(j, "body"), "hello world");
	AG_CHECK_INT(jint(j, "len"), 11);
	AG_CHECK_INT(jint(j, "content_length"), -1);
	AG_CHECK(json_is_true(json_object_get(j, "nul")));
	json_decref(j);

	AG_CHECK(http_once(PORT_MAIN, "POST /items HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\n{}x", &r));
	j = resp_json(&r);
	AG_CHECK_STR(jstr(j, "body"), "{}x");
	AG_CHECK_INT(jint(j, "content_length"), 3);
	json_decref(j);

	/* trailers are skipped; the headers stay intact even when many trailer bytes arrive */
	char req[8192];
	size_t o = (size_t)snprintf(req, sizeof req,
	                            "POST /items HTTP/1.1\r\nHost: t\r\nX-A: kept\r\nTransfer-Encoding: chunked\r\n\r\n"
	                            "2\r\nok\r\n0\r\n");
	for (int i = 0; i < 40; i++)
		o += (size_t)snprintf(req + o, sizeof req - o, "T%d: %0100d\r\n", i, i);
	snprintf(req + o, sizeof req - o, "\r\n");
	AG_CHECK(http_once(PORT_MAIN, req, &r));
	AG_CHECK_INT(r.status, 201);
	j = resp_json(&r);
	AG_CHECK_STR(jstr(j, "body"), "ok");
	AG_CHECK_STR(jstr(j, "xa"), "kept");
	json_decref(j);

	/* no body at all: "" and length 0 */
	AG_CHECK(http_once(PORT_MAIN, "POST /items HTTP/1.1\r\nHost: t\r\n\r\n", &r));
	j = resp_json(&r);
	AG_CHECK_STR(jstr(j, "body"), "");
	AG_CHECK_INT(jint(j, "len"), 0);
	json_decref(j);
	resp_clear(&r);
}

static void expect_100_continue(void)
{
	resp r = {0};
	cli *c = cli_open(PORT_MAIN);
	AG_CHECK(cli_sends(c, "POST /items HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"));
	AG_CHECK(cli_read(c, &r, false));
	AG_CHECK_INT(r.status, 100);
	AG_CHECK(cli_sends(c, "abcde"));
	AG_CHECK(cli_read(c, &r, false));
	AG_CHECK_INT(r.status, 201);
	json_t *j = resp_json(&r);
	AG_CHECK_STR(jstr(j, "body"), "abcde");
	json_decref(j);
	/* the same connection goes on */
	AG_CHECK(cli_sends(c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"));
	AG_CHECK(cli_read(c, &r, false));
	AG_CHECK_INT(r.status, 200);
	cli_close(c);

	/* too large: 413 straight away, no 100 */
	c = cli_open(PORT_MAIN);
	AG_CHECK(cli_sends(
	        c, "POST /items HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999\r\nExpect: 100-continue\r\n\r\n"));
	AG_CHECK(cli_read(c, &r, false));
	AG_CHECK_INT(r.status, 413);
	cli_close(c);

	/* streaming route: 100 before the body is read */
	c = cli_open(PORT_MAIN);
	AG_CHECK(cli_sends(c, "PUT /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n"));
	AG_CHECK(cli_read(c, &r, false));
	AG_CHECK_INT(r.status, 100);
	AG_CHECK(cli_sends(c, "xyz"));
	AG_CHECK(cli_read(c, &r, false));
	AG_CHECK_INT(r.status, 200);
	j = resp_json(&r);
	AG_CHECK_INT(jint(j, "bytes"), 3);
	json_decref(j);
	cli_close(c);

	/* streaming route that refuses at the headers: no 100, no body callbacks, connection closed */
	c = cli_open(PORT_MAIN);
	AG_CHECK(cli_sends(
	        c, "POST /early HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\nExpect: 100-continue\r\n\r\n"));
	AG_CHECK(cli_read(c, &r, false));
	check_problem(&r, 401);
	AG_CHECK(cli_closed(c));
	cli_close(c);

	/* an expectation we do not know */
	AG_CHECK(http_once(PORT_MAIN, "POST /items HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nExpect: magic\r\n\r\nx",
	                   &r));
	check_problem(&r, 417);
	resp_clear(&r);
}

static void keep_alive_pipelining_and_http10(void)
{
	resp r = {0};
	char v[64];
	cli *c = cli_open(PORT_MAIN);
	AG_CHECK(cli_sends(c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"));
	AG_CHECK(cli_read(c, &r, false));
	AG_CHECK_STR(r.body, "hello");
	AG_CHECK(!resp_header(&r, "Connection", v, sizeof v));
	AG_CHECK(cli_sends(c, "GET /items/2 HTTP/1.1\r\nHost: t\r\n\r\n"));
	AG_CHECK(cli_read(c, &r, false));
	AG_CHECK_INT(r.status, 200);

	/* three pipelined requests in one write, one with a body; answers come in order */
	AG_CHECK(cli_sends(c, "GET /items/a HTTP/1.1\r\nHost: t\r\n\r\n"
	                      "POST /items HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi"
	                      "GET /items/c HTTP/1.1\r\nHost: t\r\n\r\n"));
	AG_CHECK(cli_read(c, &r, false));
	json_t *j = resp_json(&r);
	AG_CHECK_STR(jstr(j, "id"), "a");
	json_decref(j);
	AG_CHECK(cli_read(c, &r, false));
	j = resp_json(&r);
	AG_CHECK_STR(jstr(j, "body"), "hi");
	json_decref(j);
	AG_CHECK(cli_read(c, &r, false));
	j = resp_json(&r);
	AG_CHECK_STR(jstr(j, "id"), "c");
	json_decref(j);

	/* Connection: close is honoured */
	AG_CHECK(cli_sends(c, "GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
	AG_CHECK(cli_read(c, &r, false));
	AG_CHECK_INT(r.status, 200);
	resp_header(&r, "Connection", v, sizeof v);
	AG_CHECK_STR(v, "close");
	AG_CHECK(cli_closed(c));
	cli_close(c);

	/* HTTP/1.0: closes by default, stays with keep-alive */
	c = cli_open(PORT_MAIN);
	AG_CHECK(cli_sends(c, "GET /hello HTTP/1.0\r\n\r\n"));
	AG_CHECK(cli_read(c, &r, false));
	AG_CHECK_STR(r.body, "hello");
	AG_CHECK(cli_closed(c));
	cli_close(c);
	c = cli_open(PORT_MAIN);
	AG_CHECK(cli_sends(c, "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
	AG_CHECK(cli_read(c, &r, false));
	v[0] = '\0';
	resp_header(&r, "Connection", v, sizeof v);
	AG_CHECK_STR(v, "keep-alive");
	AG_CHECK(cli_sends(c, "GET /hello HTTP/1.0\r\n\r\n"));
	AG_CHECK(cli_read(c, &r, false));
	AG_CHECK_STR(r.body, "hello");
	AG_CHECK(cli_closed(c));
	cli_close(c);
	resp_clear(&r);
}

static void problem_json_shape_and_single_answer(void)
{
	resp r = {0};
	cli *c = cli_open(PORT_MAIN);
	AG_CHECK(cli_sends(c, "GET /problem HTTP/1.1\r\nHost: t\r\n\r\nGET /hello HTTP/1.1\r\nHost: t\r\n\r\n"));
	AG_CHECK(cli_read(c, &r, false));
	check_problem(&r, 409);
	json_t *j = resp_json(&r);
	AG_CHECK_STR(jstr(j, "title"), "Conflict");
	AG_CHECK_STR(jstr(j, "detail"), "conflict on x");
	AG_CHECK_INT(json_object_size(j), 4);
	json_decref(j);
	/* the second respond() was ignored: next on the wire is the pipelined /hello */
	AG_CHECK(cli_read(c, &r, false));
	AG_CHECK_STR(r.body, "hello");
	cli_close(c);

	AG_CHECK(http_once(PORT_MAIN, "GET /orphan HTTP/1.1\r\nHost: t\r\n\r\n", &r));
	check_problem(&r, 500);
	AG_CHECK_STR(ag_http_reason(404), "Not Found");
	AG_CHECK_STR(ag_http_reason(413), "Content Too Large");
	AG_CHECK_STR(ag_http_reason(299), "Success");
	resp_clear(&r);
}

static void response_headers_date_and_trace(void)
{
	resp r = {0};
	char v[256];
	AG_CHECK(http_once(PORT_MAIN, "GET /resp-headers HTTP/1.1\r\nHost: t\r\n\r\n", &r));
	AG_CHECK_INT(r.status, 200);
	AG_CHECK(resp_header(&r, "X-Custom", v, sizeof v) && strcmp(v, "yes") == 0);
	AG_CHECK(!resp_header(&r, "X-Evil", v, sizeof v));
	AG_CHECK(!resp_header(&r, "Injected", v, sizeof v));
	AG_CHECK(resp_header(&r, "Content-Length", v, sizeof v) && strcmp(v, "4") == 0);
	AG_CHECK(resp_header(&r, "Content-Type", v, sizeof v) && strcmp(v, "text/csv") == 0);
	AG_CHECK(resp_header(&r, "Date", v, sizeof v) && strlen(v) == 29 && strcmp(v + 25, " GMT") == 0);
	AG_CHECK_STR(r.body, "a,b\n");

	/* the client's trace is continued (same trace id, new span) and current in the handler */
	const char *tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
	char req[256];
	snprintf(req, sizeof req, "GET /trace HTTP/1.1\r\nHost: t\r\ntraceparent: %s\r\n\r\n", tp);
	AG_CHECK(http_once(PORT_MAIN, req, &r));
	AG_CHECK_STR(r.body, "4bf92f3577b34da6a3ce929d0e0e4736");
	AG_CHECK(resp_header(&r, "traceparent", v, sizeof v));
	AG_CHECK(strncmp(v, tp, 36) == 0 && strlen(v) == 55);
	AG_CHECK(strcmp(v, tp) != 0);
	/* no traceparent: a fresh trace, still echoed */
	AG_CHECK(http_once(PORT_MAIN, "GET /trace HTTP/1.1\r\nHost: t\r\n\r\n", &r));
	AG_CHECK_INT(r.blen, 32);
	AG_CHECK(resp_header(&r, "traceparent", v, sizeof v) && strncmp(v + 3, r.body, 32) == 0);
	AG_CHECK_INT(stats_get("violations"), 0);
	resp_clear(&r);
}

static void metrics_count_routes_and_unmatched(void)
{
	resp r = {0};
	AG_CHECK(http_once(PORT_MAIN, "GET /items/zz HTTP/1.1\r\nHost: t\r\n\r\n", &r));
	AG_CHECK(http_once(PORT_MAIN, "GET /no/such/thing HTTP/1.1\r\nHost: t\r\n\r\n", &r));
	AG_CHECK(http_once(PORT_MAIN, "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n", &r));
	AG_CHECK_INT(r.status, 200);
	char ct[128];
	resp_header(&r, "Content-Type", ct, sizeof ct);
	AG_CHECK_STR(ct, "text/plain; version=0.0.4; charset=utf-8");
	AG_CHECK(strstr(r.body, "# TYPE aegis_http_requests_total counter\n") != NULL);
	AG_CHECK(strstr(r.body, "aegis_http_requests_total{route=\"/items/{}\",method=\"GET\",status=\"200\"} ") !=
	         NULL);
	AG_CHECK(strstr(r.body, "aegis_http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"} ") !=
	         NULL);
	AG_CHECK(strstr(r.body,
	                "aegis_http_requests_total{route=\"/items/{}\",method=\"DELETE\",status=\"405\"} 1\n") != NULL);
	AG_CHECK(strstr(r.body, "# TYPE aegis_http_request_duration_seconds histogram\n") != NULL);
	AG_CHECK(strstr(r.body, "aegis_http_request_duration_seconds_bucket{route=\"/items/{}\",le=\"+Inf\"} ") !=
	         NULL);
	/* no label per raw path: unknown paths share one series */
	AG_CHECK(strstr(r.body, "no/such") == NULL);
	resp_clear(&r);
}

static void routes_and_listen_are_validated(void)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	ag_http_server *s = NULL;
	AG_CHECK_INT(ag_http_server_new(&s, &loop, NULL, NULL), AG_OK);
	AG_CHECK_INT(ag_http_route_simple(s, AG_HTTP_GET, "no-slash", h_hello, NULL), AG_E_INVAL);
	AG_CHECK_INT(ag_http_route_simple(s, AG_HTTP_GET, "/a{}", h_hello, NULL), AG_E_INVAL);
	AG_CHECK_INT(ag_http_route_simple(s, AG_HTTP_GET, "/{}/{}/{}/{}/{}", h_hello, NULL), AG_E_INVAL);
	AG_CHECK_INT(ag_http_route_simple(s, AG_HTTP_GET, "/ok/{}/x", h_hello, NULL), AG_OK);
	AG_CHECK_INT(ag_http_route_simple(s, AG_HTTP_GET, "/x", NULL, NULL), AG_E_INVAL);
	ag_err err;
	ag_err_clear(&err);
	AG_CHECK_INT(ag_http_listen(s, "not-an-ip", 18105, &err), AG_E_INVAL);
	AG_CHECK(strlen(err.msg) > 0);
	/* closing a server that never listened calls done at once */
	int done = 0;
	ag_http_server_close(s, flag_done, &done);
	AG_CHECK_INT(done, 1);
	ag_http_server_free(s);
	AG_CHECK_INT(uv_run(&loop, UV_RUN_NOWAIT), 0);
	AG_CHECK_INT(uv_loop_close(&loop), 0);

	/* a port in use is reported */
	uv_loop_init(&loop);
	AG_CHECK_INT(ag_http_server_new(&s, &loop, NULL, NULL), AG_OK);
	AG_CHECK_INT(ag_http_listen(s, "127.0.0.1", PORT_MAIN, &err), AG_E_EXISTS);
	ag_http_server_close(s, NULL, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	ag_http_server_free(s);
	AG_CHECK_INT(uv_loop_close(&loop), 0);
}

int main(void)
{
	/* AEGIS_TEST_LOG=debug shows the access log */
	ag_log_level lvl = AG_LOG_WARN; /* 5xx access lines are warnings: that path runs in every test run */
	if (getenv("AEGIS_TEST_LOG"))
		ag_log_level_parse(getenv("AEGIS_TEST_LOG"), &lvl);
	ag_log_init("http-test", lvl);
	if (!server_start(&S, PORT_MAIN, NULL)) {
		printf("not ok - server_start (port %d)\n", PORT_MAIN);
		return 1;
	}
	AG_TEST_RUN(routing_captures_404_405_and_head);
	AG_TEST_RUN(query_and_percent_decoding);
	AG_TEST_RUN(headers_case_insensitive_and_duplicates);
	AG_TEST_RUN(bad_syntax_is_400_problem_and_close);
	AG_TEST_RUN(limits_431_414_413);
	AG_TEST_RUN(chunked_body_is_decoded);
	AG_TEST_RUN(expect_100_continue);
	AG_TEST_RUN(keep_alive_pipelining_and_http10);
	AG_TEST_RUN(problem_json_shape_and_single_answer);
	AG_TEST_RUN(response_headers_date_and_trace);
	AG_TEST_RUN(metrics_count_routes_and_unmatched);
	AG_TEST_RUN(routes_and_listen_are_validated);
	server_stop(&S);
	return ag_test_summary();
}
