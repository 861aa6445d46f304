/*
 * http.h - the small HTTP/1.1 server every Aegis service runs: libuv for I/O,
 * http-parser for parsing. Used for /healthz, /readyz and /metrics
 * everywhere, and for the whole public API on the gateway.
 *
 * Threading: every function here runs on the loop thread, except the `work`
 * callback of ag_http_req_defer, which runs on the libuv thread pool and
 * must not touch the request.
 *
 * Request lifetime: the server owns each request. A handler that answers
 * later (after deferred work, or when a streaming body ends) keeps the
 * request alive with ag_http_req_retain and drops it with
 * ag_http_req_release. Answering a request whose connection has gone is a
 * harmless no-op, so handlers need not race the client.
 *
 * Limits (limits.h defaults, overridable in ag_http_limits): header bytes ->
 * 431, header count -> 431, URL length -> 414, buffered body -> 413, idle and
 * slow-header timeouts -> 408 and close, connection cap -> new connections
 * are closed at once.
 */
#ifndef AEGIS_HTTP_H
#define AEGIS_HTTP_H

#include "aegis/metrics.h"
#include "aegis/status.h"
#include "aegis/trace.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

typedef struct ag_http_server ag_http_server;
typedef struct ag_http_req ag_http_req;

typedef enum {
	AG_HTTP_GET = 1,
	AG_HTTP_HEAD,
	AG_HTTP_POST,
	AG_HTTP_PUT,
	AG_HTTP_PATCH,
	AG_HTTP_DELETE,
	AG_HTTP_OPTIONS,
} ag_http_method;

typedef struct ag_http_limits {
	size_t max_header_bytes;
	int max_headers;
	size_t max_url_bytes;
	size_t max_body_buffered;
	int max_connections;
	uint64_t idle_timeout_ms;    /* no byte received on an idle keep-alive or while reading headers */
	uint64_t request_timeout_ms; /* whole buffered request; 0 = none (streaming routes set their own) */
} ag_http_limits;

void ag_http_limits_default(ag_http_limits *lim);

/* `metrics` may be NULL; when given, the server counts requests by route and status and times them. */
ag_status ag_http_server_new(ag_http_server **out, uv_loop_t *loop, const ag_http_limits *lim, ag_metrics *metrics);
ag_status ag_http_listen(ag_http_server *s, const char *host, int port, ag_err *err);
/* Stop accepting, close idle connections, let in-flight requests finish; `done` runs on the loop once every
 * connection is closed (or immediately when none). */
void ag_http_server_close(ag_http_server *s, void (*done)(void *ud), void *ud);
/* After close's `done` ran (or if listen never happened). NULL ok. */
void ag_http_server_free(ag_http_server *s);

typedef void (*ag_http_handler)(ag_http_req *req, void *ud);

/*
 * A route. With `on_body` NULL the body is buffered (up to max_body_buffered)
 * and `on_request` runs once it is complete. With `on_body` set the route
 * streams: `on_request` runs after the headers, then `on_body` for each chunk
 * (the pointer is valid only during the call), then `on_body_end`. A
 * streaming handler applies backpressure with ag_http_req_pause/resume; the
 * server never buffers more than one read. `on_abort` runs if the
 * connection is lost before the response was sent (free your state there
 * or on your own release path).
 */
typedef struct ag_http_route_ops {
	ag_http_handler on_request;
	void (*on_body)(ag_http_req *req, const char *data, size_t len, void *ud);
	void (*on_body_end)(ag_http_req *req, void *ud);
	void (*on_abort)(ag_http_req *req, void *ud);
} ag_http_route_ops;

/*
 * Pattern: literal segments and `{}` for one captured segment, e.g.
 * "/v1/jobs/{}/events". Exact match only; the first matching route wins. A
 * path that matches a pattern but not its method answers 405 with Allow.
 * No match answers 404 problem+json.
 */
ag_status ag_http_route(ag_http_server *s, ag_http_method m, const char *pattern, const ag_http_route_ops *ops,
                        void *ud);
/* Shorthand for a buffered route. */
ag_status ag_http_route_simple(ag_http_server *s, ag_http_method m, const char *pattern, ag_http_handler fn, void *ud);

/* --- request --- (strings valid for the request's lifetime) */
ag_http_method ag_http_req_method(const ag_http_req *r);
const char *ag_http_req_path(const ag_http_req *r);                     /* percent-decoded path, no query */
const char *ag_http_req_param(const ag_http_req *r, int i);             /* i-th `{}` capture, decoded; NULL if none */
const char *ag_http_req_query(const ag_http_req *r, const char *name);  /* first value, decoded; NULL if absent */
const char *ag_http_req_header(const ag_http_req *r, const char *name); /* case-insensitive; NULL if absent */
int64_t ag_http_req_content_length(const ag_http_req *r);               /* -1 when absent (chunked or none) */
const char *ag_http_req_body(const ag_http_req *r, size_t *len);        /* buffered routes; NUL-terminated */
const char *ag_http_req_peer(const ag_http_req *r);                     /* client IP as text */
const ag_trace *ag_http_req_trace(const ag_http_req *r);                /* continues the client's traceparent or new */
void ag_http_req_set_data(ag_http_req *r, void *data);
void *ag_http_req_data(const ag_http_req *r);
bool ag_http_req_alive(const ag_http_req *r); /* connection still open and not yet answered */

void ag_http_req_retain(ag_http_req *r);
void ag_http_req_release(ag_http_req *r);
void ag_http_req_pause(ag_http_req *r);  /* stop reading the body */
void ag_http_req_resume(ag_http_req *r); /* continue; may deliver the rest of a pending read at once */

/*
 * Run `work(ud)` on the thread pool, then `done(req, ud)` on the loop thread.
 * The request is retained in between and released after `done`. `done` runs
 * even if the client went away (answering is then a no-op), so it is the one
 * place to free `ud`.
 */
ag_status ag_http_req_defer(ag_http_req *r, void (*work)(void *ud), void (*done)(ag_http_req *r, void *ud), void *ud);

/* --- response --- (one per request; later calls are ignored) */
void ag_http_resp_header(ag_http_req *r, const char *name, const char *value); /* before respond */
void ag_http_respond(ag_http_req *r, int status, const char *content_type, const void *body, size_t len);
/* Serialises `body` and drops the reference (json_decref), also on failure. */
void ag_http_respond_json(ag_http_req *r, int status, json_t *body);
/* RFC 9457: {type:"about:blank", title:<reason phrase>, status, detail}. */
void ag_http_respond_problem(ag_http_req *r, int status, const char *detail_fmt, ...)
        __attribute__((format(printf, 3, 4)));
const char *ag_http_reason(int status);

/*
 * --- streaming responses --- (loop thread, except ag_http_stream_post)
 *
 * A handler that answers over time (Server-Sent Events, long downloads)
 * begins the response instead of answering at once: the status line and
 * headers (handler-set ones included) go out with Transfer-Encoding:
 * chunked (an HTTP/1.0 client gets a body delimited by the connection's
 * close), each write is one chunk, end writes the last chunk and the
 * connection carries on with keep-alive. Hold a reference
 * (ag_http_req_retain) for as long as you write; `fn` tells you what
 * happens to the stream:
 *   AG_HTTP_STREAM_DRAINED  a write refused with AG_E_RETRY may be retried:
 *                           every queued byte reached the socket;
 *   AG_HTTP_STREAM_CLOSING  the server is closing (SIGTERM drain): end the
 *                           stream soon, it will not be waited for forever;
 *   AG_HTTP_STREAM_CLOSED   the client went away or a write failed: further
 *                           writes are no-ops (AG_E_CANCELLED). Comes once, and
 *                           never after ag_http_stream_end.
 * The connection keeps reading while a stream is open, so a client that
 * disconnects is noticed at once, not at the next write.
 */
typedef enum {
	AG_HTTP_STREAM_DRAINED = 1,
	AG_HTTP_STREAM_CLOSING,
	AG_HTTP_STREAM_CLOSED,
} ag_http_stream_event;
typedef void (*ag_http_stream_fn)(ag_http_req *r, ag_http_stream_event ev, void *ud);

/* Send status + headers. AG_E_CANCELLED when the connection is gone or the request was answered,
 * AG_E_UNAVAILABLE when the server is closing (answer normally instead), AG_E_NOMEM. `fn` may be NULL. */
ag_status ag_http_stream_begin(ag_http_req *r, int status, const char *content_type, ag_http_stream_fn fn, void *ud);
/* Queue one chunk (copied; len 0 is a no-op). AG_E_RETRY when more than AG_HTTP_STREAM_MAX_QUEUED bytes are
 * still unwritten: nothing was queued, wait for AG_HTTP_STREAM_DRAINED. AG_E_CANCELLED once closed or ended. */
ag_status ag_http_stream_write(ag_http_req *r, const void *data, size_t len);
/* Bytes queued on the socket and not yet written (0 when not streaming). */
size_t ag_http_stream_queued(const ag_http_req *r);
/* Finish the body (the last chunk); the request is complete once it is on the wire. Idempotent. */
void ag_http_stream_end(ag_http_req *r);
/* Is `r` a stream that is still open (begun, not ended, connection alive)? */
bool ag_http_stream_open(const ag_http_req *r);

/*
 * Writing from another thread: the loop thread hands out the stream's id
 * and server (both plain values, valid after ag_http_stream_begin), and any
 * thread posts bytes by id. Posts are copied into one locked mailbox per
 * server (at most AG_HTTP_STREAM_MAX_POSTED bytes; beyond, AG_E_RETRY) and
 * written on the loop thread after a uv_async wake-up, in order; a post for
 * a stream that has gone is dropped. A stream whose client does not keep up
 * with posted data (its socket queue over AG_HTTP_STREAM_MAX_QUEUED) is
 * closed rather than buffered without bound. `end` ends the stream after
 * the data. The server must outlive every post (ag_http_server_free);
 * after ag_http_server_close posts return AG_E_CANCELLED.
 */
uint64_t ag_http_stream_id(const ag_http_req *r);         /* 0 when not streaming */
ag_http_server *ag_http_req_server(const ag_http_req *r); /* NULL once the connection is gone */
ag_status ag_http_stream_post(ag_http_server *s, uint64_t id, const void *data, size_t len, bool end);
/* Streams begun and not yet finished on the server (loop thread). */
int ag_http_stream_count(const ag_http_server *s);

/*
 * --- request filter --- (loop thread)
 *
 * One filter per server runs before every routed request reaches its
 * handler (after route matching, so 404/405 never reach it; for a buffered
 * route once the body is complete, for a streaming route after the headers,
 * with the body held back until it passes). The filter either answers the
 * request (e.g. 429) or calls ag_http_req_next, now or later (keep a
 * reference meanwhile, e.g. through ag_http_req_defer). Response headers it
 * sets stay on whatever answer the handler gives.
 */
typedef void (*ag_http_filter)(ag_http_req *req, void *ud);
void ag_http_server_set_filter(ag_http_server *s, ag_http_filter fn, void *ud);
/* Hand the request on to its handler (a no-op once answered or gone). */
void ag_http_req_next(ag_http_req *r);
/* The pattern of the route the request matched ("/v1/jobs/{}"), or NULL. */
const char *ag_http_req_route(const ag_http_req *r);

#endif
