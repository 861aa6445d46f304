/*
 * Tests libcommon/src/http*.c, connection life: streaming bodies with
 * pause/resume, aborts, deferred work, timeouts, the connection cap and a
 * graceful close with requests in flight (loopback ports 18100-18104; the
 * harness is http_harness.h).
 */
#include "http_harness.h"

static void streaming_pause_resume_multi_mb(void)
{
	unsigned char *data = malloc(UPLOAD_BYTES);
	fill_random(data, UPLOAD_BYTES);
	char want[17];
	snprintf(want, sizeof want, "%016llx", (unsigned long long)fnv1a(FNV_OFFSET, data, UPLOAD_BYTES));
	resp r = {0};
	char req[256];

	/* Content-Length body */
	cli *c = cli_open(PORT_MAIN);
	snprintf(req, sizeof req, "PUT /upload HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n", UPLOAD_BYTES);
	AG_CHECK(cli_sends(c, req));
	AG_CHECK(cli_send(c, data, UPLOAD_BYTES));
	AG_CHECK(cli_read(c, &r, false));
	AG_CHECK_INT(r.status, 200);
	json_t *j = resp_json(&r);
	AG_CHECK_INT(jint(j, "bytes"), UPLOAD_BYTES);
	AG_CHECK_STR(jstr(j, "hash"), want);
	AG_CHECK_INT(jint(j, "content_length"), UPLOAD_BYTES);
	AG_CHECK(jint(j, "chunks") > 1);
	AG_CHECK(jint(j, "max_chunk") <= AG_HTTP_READ_CHUNK);
	json_decref(j);

	/* chunked body on the same connection: many chunks per read, the parser resumes mid-buffer */
	AG_CHECK(cli_sends(c, "PUT /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"));
	size_t sent = 0, piece = 10000;
	while (sent < 2 * 1024 * 1024) {
		char hdr[32];
		snprintf(hdr, sizeof hdr, "%zx\r\n", piece);
		AG_CHECK(cli_sends(c, hdr));
		AG_CHECK(cli_send(c, data + sent, piece));
		AG_CHECK(cli_sends(c, "\r\n"));
		sent += piece;
	}
	AG_CHECK(cli_sends(c, "0\r\n\r\n"));
	snprintf(want, sizeof want, "%016llx", (unsigned long long)fnv1a(FNV_OFFSET, data, sent));
	AG_CHECK(cli_read(c, &r, false));
	AG_CHECK_INT(r.status, 200);
	j = resp_json(&r);
	AG_CHECK_INT(jint(j, "bytes"), sent);
	AG_CHECK_STR(jstr(j, "hash"), want);
	AG_CHECK_INT(jint(j, "content_length"), -1);
	AG_CHECK(jint(j, "chunks") >= (long long)(sent / piece));
	json_decref(j);
	cli_close(c);

	/* a handler that pauses before any body, with and without a body to come */
	c = cli_open(PORT_MAIN);
	AG_CHECK(cli_sends(c, "PUT /upload?hold=1 HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n"
	                      "PUT /upload?hold=1 HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"));
	AG_CHECK(cli_read(c, &r, false));
	j = resp_json(&r);
	AG_CHECK_INT(jint(j, "bytes"), 0);
	json_decref(j);
	AG_CHECK(cli_read(c, &r, false));
	j = resp_json(&r);
	AG_CHECK_INT(jint(j, "bytes"), 3);
	json_decref(j);
	cli_close(c);

	AG_CHECK(http_once(PORT_MAIN, "GET /stats HTTP/1.1\r\nHost: t\r\n\r\n", &r));
	j = resp_json(&r);
	AG_CHECK_INT(jint(j, "violations"), 0); /* no on_body while paused, none after an answer */
	json_decref(j);
	resp_clear(&r);
	free(data);
}

static void streaming_abort_on_disconnect(void)
{
	int before = stats_get("aborts");
	cli *c = cli_open(PORT_MAIN);
	AG_CHECK(cli_sends(c, "PUT /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n"));
	char half[50000];
	memset(half, 'h', sizeof half);
	AG_CHECK(cli_send(c, half, sizeof half));
	usleep(50000);
	cli_close(c);
	AG_CHECK_INT(stats_wait("aborts", before + 1), before + 1);
}

static void defer_work_and_done(void)
{
	resp r = {0};
	int before = stats_get("defers_done");
	AG_CHECK(http_once(PORT_MAIN, "POST /slow?ms=20 HTTP/1.1\r\nHost: t\r\n\r\n", &r));
	AG_CHECK_INT(r.status, 200);
	AG_CHECK_STR(r.body, "deferred:42");

	/* the client leaves before the work ends: done still runs, answering is a harmless no-op */
	cli *c = cli_open(PORT_MAIN);
	AG_CHECK(cli_sends(c, "POST /slow?ms=200 HTTP/1.1\r\nHost: t\r\n\r\n"));
	usleep(50000);
	cli_close(c);
	AG_CHECK_INT(stats_wait("defers_done", before + 2), before + 2);
	resp_clear(&r);
}

static void timeouts_answer_408_and_close(void)
{
	test_server ts;
	ag_http_limits lim;
	ag_http_limits_default(&lim);
	lim.idle_timeout_ms = 300;
	AG_CHECK(server_start(&ts, PORT_TIMEOUT, &lim));
	resp r = {0};

	/* slow headers */
	cli *c = cli_open(PORT_TIMEOUT);
	AG_CHECK(cli_sends(c, "GET /hello HTTP/1.1\r\nHost: t\r\n"));
	AG_CHECK(cli_read(c, &r, false));
	check_problem(&r, 408);
	AG_CHECK(cli_closed(c));
	cli_close(c);

	/* headers trickled byte by byte still must finish within the timeout */
	c = cli_open(PORT_TIMEOUT);
	const char *slow = "GET /hello HTTP/1.1\r\nHost: t\r\nX-Slow: 1234567890\r\n\r\n";
	bool got408 = false;
	for (const char *p = slow; *p; p++) {
		if (!cli_send(c, p, 1))
			break;
		usleep(20000);
		if (p - slow > 25)
			break;
	}
	got408 = cli_read(c, &r, false) && r.status == 408;
	AG_CHECK(got408);
	cli_close(c);

	/* idle keep-alive connection after a response */
	c = cli_open(PORT_TIMEOUT);
	AG_CHECK(cli_sends(c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"));
	AG_CHECK(cli_read(c, &r, false));
	AG_CHECK_INT(r.status, 200);
	AG_CHECK(cli_read(c, &r, false));
	AG_CHECK_INT(r.status, 408);
	AG_CHECK(cli_closed(c));
	cli_close(c);

	/* a stalled body */
	c = cli_open(PORT_TIMEOUT);
	AG_CHECK(cli_sends(c, "POST /items HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc"));
	AG_CHECK(cli_read(c, &r, false));
	AG_CHECK_INT(r.status, 408);
	AG_CHECK(cli_closed(c));
	cli_close(c);
	resp_clear(&r);
	server_stop(&ts);
}

static void connection_cap_closes_new_connections(void)
{
	test_server ts;
	ag_http_limits lim;
	ag_http_limits_default(&lim);
	lim.max_connections = 2;
	AG_CHECK(server_start(&ts, PORT_MAXCONN, &lim));
	resp r = {0};
	cli *a = cli_open(PORT_MAXCONN), *b = cli_open(PORT_MAXCONN);
	AG_CHECK(cli_sends(a, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n") && cli_read(a, &r, false));
	AG_CHECK(cli_sends(b, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n") && cli_read(b, &r, false));
	AG_CHECK_INT(r.status, 200);
	cli *third = cli_open(PORT_MAXCONN);
	AG_CHECK(third != NULL); /* the kernel accepts; the server closes at once */
	if (third) {
		cli_sends(third, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
		AG_CHECK(cli_closed(third));
	}
	cli_close(third);
	/* a freed slot is usable again */
	cli_close(a);
	bool ok = false;
	for (int i = 0; i < 50 && !ok; i++) {
		usleep(20000);
		cli *d = cli_open(PORT_MAXCONN);
		ok = d && cli_sends(d, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n") && cli_read(d, &r, false) &&
		     r.status == 200;
		cli_close(d);
	}
	AG_CHECK(ok);
	cli_close(b);
	resp_clear(&r);
	server_stop(&ts);
}

static void close_while_in_flight_completes_it(void)
{
	test_server ts;
	AG_CHECK(server_start(&ts, PORT_CLOSE, NULL));
	resp r = {0};
	cli *idle = cli_open(PORT_CLOSE);
	AG_CHECK(cli_sends(idle, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n") && cli_read(idle, &r, false));
	int started = atomic_load(&stat_inflight);
	cli *c = cli_open(PORT_CLOSE);
	AG_CHECK(cli_sends(c, "POST /slow?ms=400 HTTP/1.1\r\nHost: t\r\n\r\n"));
	for (int i = 0; i < 200 && atomic_load(&stat_inflight) == started; i++)
		usleep(5000);
	uv_async_send(&ts.stop);    /* graceful close while the request works */
	AG_CHECK(cli_closed(idle)); /* idle keep-alive connections go at once */
	AG_CHECK(cli_read(c, &r, false));
	AG_CHECK_INT(r.status, 200);
	AG_CHECK_STR(r.body, "deferred:42");
	char v[32] = "";
	resp_header(&r, "Connection", v, sizeof v);
	AG_CHECK_STR(v, "close");
	AG_CHECK(cli_closed(c));
	cli_close(c);
	cli_close(idle);
	pthread_join(ts.thread, NULL); /* the loop ends: done ran and nothing is left open */
	AG_CHECK_INT(atomic_load(&ts.done_called), 1);
	AG_CHECK(cli_open(PORT_CLOSE) == NULL); /* no longer listening */
	ag_http_server_free(ts.srv);
	AG_CHECK_INT(uv_loop_close(&ts.loop), 0);
	ag_metrics_free(ts.metrics);
	resp_clear(&r);
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
	AG_TEST_RUN(streaming_pause_resume_multi_mb);
	AG_TEST_RUN(streaming_abort_on_disconnect);
	AG_TEST_RUN(defer_work_and_done);
	AG_TEST_RUN(timeouts_answer_408_and_close);
	AG_TEST_RUN(connection_cap_closes_new_connections);
	AG_TEST_RUN(close_while_in_flight_completes_it);
	server_stop(&S);
	return ag_test_summary();
}
