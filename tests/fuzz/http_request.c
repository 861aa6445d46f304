/*
 * http_request.c - libFuzzer target for the HTTP/1.x server of libcommon
 * (http_conn.c, http_req.c, http_resp.c over http-parser): the input is what
 * a client sends on one connection (any bytes: several pipelined requests,
 * bad framing, chunked bodies, NUL bytes, huge headers). The connection is
 * one end of a socketpair (ag_http__conn_open), the loop runs until the
 * server has closed it after the client's EOF.
 *
 * Beyond the sanitizers, it fails (abort) when the server answers 500, when
 * the connection is still open long after the client's EOF, or when an
 * answer does not start with an HTTP/1.x status line.
 */
#include "../../libcommon/src/http_priv.h"
#include "aegis/log.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define FUZZ_SPIN_MAX 100000 /* loop turns after the client's EOF before the connection must be closed */

static uv_loop_t loop;
static ag_http_server *srv;

static void echo(ag_http_req *req, void *ud)
{
	size_t n = 0;
	const char *b = ag_http_req_body(req, &n);
	const char *q = ag_http_req_query(req, "q");
	const char *h = ag_http_req_header(req, "x-test");
	const char *p = ag_http_req_param(req, 0);
	char out[64];
	int k = snprintf(out, sizeof out, "%zu %d %d %d %zu", n, q != NULL, h != NULL, p != NULL, b ? strlen(b) : 0);
	ag_http_respond(req, 200, "text/plain", out, (size_t)k);
}

static void json_answer(ag_http_req *req, void *ud)
{
	ag_http_resp_header(req, "X-Fuzz", "1");
	/* the path may be any bytes (%FF): JSON needs UTF-8, so only its length goes in */
	ag_http_respond_json(req, 201, json_pack("{s:I}", "path_bytes", (json_int_t)strlen(ag_http_req_path(req))));
}

static void problem(ag_http_req *req, void *ud)
{
	ag_http_respond_problem(req, 409, "conflict on %s", ag_http_req_path(req));
}

/* streaming route: counts the body, pauses and resumes on alternate chunks, answers at the end */
typedef struct {
	size_t bytes;
} sink;

static void stream_done(ag_http_req *req);

static void stream_start(ag_http_req *req, void *ud)
{
	sink *s = calloc(1, sizeof *s);
	if (!s) {
		ag_http_respond_problem(req, 503, "out of memory");
		return;
	}
	ag_http_req_set_data(req, s);
	ag_http_req_retain(req);
}

static void stream_body(ag_http_req *req, const char *data, size_t len, void *ud)
{
	sink *s = ag_http_req_data(req);
	s->bytes += len;
	if (len && (data[0] & 1)) { /* pause, then resume at once: the pending rest is delivered again */
		ag_http_req_pause(req);
		ag_http_req_resume(req);
	}
	if (s->bytes > 4096 && data[0] == 'X') { /* an early answer before the body ends */
		ag_http_respond_problem(req, 413, "too large");
		stream_done(req); /* answered: neither on_body_end nor on_abort will come */
	}
}

static void stream_done(ag_http_req *req)
{
	free(ag_http_req_data(req));
	ag_http_req_set_data(req, NULL);
	ag_http_req_release(req);
}

static void stream_end(ag_http_req *req, void *ud)
{
	ag_http_respond(req, 204, NULL, NULL, 0);
	stream_done(req);
}

static void stream_abort(ag_http_req *req, void *ud)
{
	stream_done(req);
}

static const ag_http_route_ops stream_ops = {stream_start, stream_body, stream_end, stream_abort};

static void fuzz_init(void)
{
	ag_log_init("fuzz", AG_LOG_ERROR); /* handler-less noise stays quiet */
	uv_loop_init(&loop);
	ag_http_limits lim = {
	        .max_header_bytes = 2048, /* small, so the fuzzer reaches the limits */
	        .max_headers = 16,
	        .max_url_bytes = 512,
	        .max_body_buffered = 1024,
	        .idle_timeout_ms = 60000,
	};
	if (ag_http_server_new(&srv, &loop, &lim, NULL) != AG_OK)
		abort();
	ag_http_route_simple(srv, AG_HTTP_GET, "/echo", echo, NULL);
	ag_http_route_simple(srv, AG_HTTP_POST, "/echo", echo, NULL);
	ag_http_route_simple(srv, AG_HTTP_PUT, "/v1/{}/x", echo, NULL);
	ag_http_route_simple(srv, AG_HTTP_DELETE, "/v1/{}/x", json_answer, NULL);
	ag_http_route_simple(srv, AG_HTTP_HEAD, "/echo", echo, NULL);
	ag_http_route_simple(srv, AG_HTTP_OPTIONS, "/p", problem, NULL);
	ag_http_route(srv, AG_HTTP_POST, "/up", &stream_ops, NULL);
	ag_http_route(srv, AG_HTTP_PATCH, "/up/{}", &stream_ops, NULL);
}

/* Read what the server sent; false once the server closed its end. */
static bool drain(int fd, size_t *total, char *head, size_t headsz)
{
	char buf[16384];
	for (;;) {
		ssize_t n = read(fd, buf, sizeof buf);
		if (n > 0) {
			if (*total < headsz) {
				size_t k = (size_t)n < headsz - *total ? (size_t)n : headsz - *total;
				memcpy(head + *total, buf, k);
			}
			*total += (size_t)n;
			/* a 500 means a bug (the server or a handler lost track); 4xx are the expected answers */
			if (memmem(buf, (size_t)n, "HTTP/1.1 500 ", 13) ||
			    memmem(buf, (size_t)n, "HTTP/1.0 500 ", 13)) {
				fprintf(stderr, "server answered 500:\n%.*s\n", (int)n, buf);
				abort();
			}
			continue;
		}
		if (n == 0)
			return false;
		return true; /* EAGAIN */
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!srv)
		fuzz_init();
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
		abort();
	if (ag_http__conn_open(srv, sv[0]) != AG_OK)
		abort();

	size_t off = 0, got = 0;
	char head[16] = "";
	bool shut = false, open = true;
	int spins = 0;
	while (srv->nconns > 0) {
		if (off < size) {
			ssize_t n = write(sv[1], data + off, size - off);
			if (n > 0)
				off += (size_t)n;
			else if (n < 0 && errno != EAGAIN)
				off = size; /* the server closed: the rest cannot be sent */
		}
		if (off == size && !shut) {
			shutdown(sv[1], SHUT_WR);
			shut = true;
		}
		uv_run(&loop, UV_RUN_NOWAIT);
		if (open)
			open = drain(sv[1], &got, head, sizeof head);
		if (shut && ++spins > FUZZ_SPIN_MAX) {
			fprintf(stderr, "the connection is still open %d loop turns after the client's EOF\n", spins);
			abort();
		}
	}
	if (open)
		drain(sv[1], &got, head, sizeof head);
	close(sv[1]);
	if (got >= 5 && memcmp(head, "HTTP/", 5) != 0) {
		fprintf(stderr, "the answer does not start with a status line: %.16s\n", head);
		abort();
	}
	return 0;
}
