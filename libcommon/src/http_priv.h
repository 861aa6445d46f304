/*
 * http_priv.h - the structures shared by the four files of the HTTP server:
 * http.c (server, routes, listening, graceful close), http_conn.c (one
 * connection: reads, parser, limits, timers, writes), http_req.c (the
 * request object: target decoding, headers, accessors, lifetime, defer) and
 * http_resp.c (response serialisation, problem+json, metrics, access log).
 *
 * Ownership: the server owns its connections; a connection holds one
 * reference on its current request and drops it (setting req->conn = NULL)
 * when the response has been written or the connection goes away. Handlers
 * add their own references with ag_http_req_retain.
 */
#ifndef AEGIS_HTTP_PRIV_H
#define AEGIS_HTTP_PRIV_H

#include "aegis/http.h"
#include "aegis/limits.h"

#include <http_parser.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_MAX_RESP_HEADERS  16                               /* ag_http_resp_header calls kept per response */
#define HTTP_MAX_QUERY_PARAMS  64                               /* name=value pairs decoded from one query string */
#define HTTP_MAX_PATH_SEGMENTS 32                               /* deeper paths match no route */
#define HTTP_MAX_PATTERN_BYTES 256                              /* route pattern text */
#define HTTP_ROUTE_LABEL_MAX   (2 * HTTP_MAX_PATTERN_BYTES + 1) /* escaped pattern for metric labels */
#define HTTP_LINGER_MS         2000              /* after a closing response: wait this long for the client's FIN */
#define HTTP_LINGER_MAX_BYTES  (8 * 1024 * 1024) /* unread body discarded while lingering */
#define HTTP_PEER_MAX          64                /* textual IPv6 address fits */
#define HTTP_LISTEN_BACKLOG    511
#define HTTP_ERR_DETAIL_MAX    128   /* problem detail text the connection formats itself */
#define HTTP_REFUSED_LOG_MS    10000 /* at most one "connection refused" log line per interval */

typedef struct http_conn http_conn;
typedef struct http_post http_post; /* http_stream.c */

#define HTTP_ROUTE_COUNTERS 8 /* (method, status) request counters a route remembers */

typedef struct http_route {
	ag_http_method method;
	char pattern[HTTP_MAX_PATTERN_BYTES];
	char label[HTTP_ROUTE_LABEL_MAX]; /* pattern escaped as a metric label value */
	ag_http_route_ops ops;
	void *ud;
	/* the route's metric series, found once rather than looked up by name on every answer (loop thread only) */
	ag_histogram *duration;
	struct {
		int hp_method, status;
		ag_counter *counter;
	} counters[HTTP_ROUTE_COUNTERS];
	int ncounters;
} http_route;

struct ag_http_server {
	uv_loop_t *loop;
	ag_http_limits lim;
	ag_metrics *metrics;
	uv_tcp_t *listener;                  /* NULL until listening; heap so a failed listen can close it on its own */
	uint64_t refused, refused_logged_ms; /* over-cap connections, and when that was last logged */
	bool closing;                        /* ag_http_server_close was called */
	bool done_called;
	int pending_closes; /* listener and refused sockets not yet closed */
	http_route routes[AG_HTTP_MAX_ROUTES];
	int nroutes;
	http_conn *conns; /* doubly linked */
	int nconns;
	/* Read buffers of connections gone idle, reused by the next reads: freeing and allocating
	 * AG_HTTP_READ_CHUNK per request makes malloc trim and regrow its heap (page faults) under load. */
	char *rbuf_cache[AG_HTTP_READ_BUF_CACHE];
	int nrbuf_cache;
	void (*done)(void *ud);
	void *done_ud;
	/* filter and streaming responses (http_stream.c) */
	ag_http_filter filter;
	void *filter_ud;
	uint64_t next_stream_id;
	int nstreams;
	uv_async_t *post_async;  /* created with the first stream; closed by ag_http_server_close */
	pthread_mutex_t post_mu; /* guards the fields below, shared with posting threads */
	http_post *post_head, *post_tail;
	size_t post_bytes;
	bool post_closed;
	/* Responses written at once are completed from an idle handle (http_resp.c): created on first use */
	uv_idle_t *wdone_idle;
	http_conn *wdone_head;
};

typedef enum { REQ_HEADERS, REQ_BODY, REQ_DONE } http_req_phase;

typedef struct http_header {
	const char *name;
	const char *value;
} http_header;

typedef struct http_hdr_raw {
	uint32_t name, name_len, value, value_len; /* offsets into req->hbuf */
} http_hdr_raw;

typedef struct http_kv {
	const char *name;
	const char *value;
} http_kv;

struct ag_http_req {
	int refs;
	http_conn *conn; /* NULL once the connection is done with this request */
	uv_loop_t *loop;
	const http_route *route;      /* NULL when unmatched */
	const http_route *path_route; /* on 405: the first route whose pattern matched the path */
	http_req_phase phase;

	/* request line and headers as received */
	unsigned hp_method; /* enum http_method, valid when method_known */
	bool method_known;
	ag_http_method method; /* 0 when not one Aegis routes */
	unsigned short http_major, http_minor;
	char *url;
	size_t url_len, url_cap;
	char *hbuf; /* header names and values, each NUL-terminated once complete */
	size_t hbuf_len, hbuf_cap;
	http_hdr_raw *raw;
	int nraw, rawcap;
	bool in_value;

	/* decoded */
	char *path;   /* decoded, no query */
	char *segbuf; /* decoded segments, each NUL-terminated */
	const char *seg[HTTP_MAX_PATH_SEGMENTS];
	int nseg; /* HTTP_MAX_PATH_SEGMENTS + 1 when deeper */
	const char *params[AG_HTTP_MAX_PATH_PARAMS];
	int nparams;
	char *qbuf;
	http_kv query[HTTP_MAX_QUERY_PARAMS];
	int nquery;
	http_header *headers; /* merged: one entry per name, duplicates joined with ", " */
	int nheaders;
	char **joined; /* values built for duplicates; freed with the request */
	int njoined;

	int64_t content_length; /* -1 when absent or chunked */
	bool has_body, keep_alive, expect_continue, head;
	char *body;
	size_t body_len, body_cap;
	ag_trace trace;
	char peer[HTTP_PEER_MAX];
	void *data;

	bool dispatched; /* the handler has seen the request (on_request ran) */
	bool responded;
	bool aborted;
	bool paused;
	bool msg_done; /* parser reached the end of the message */
	uint64_t start_ns;
	uint64_t deadline_ms; /* absolute uv_now; 0 = none */
	int status;

	/* filter and streaming response (http_stream.c) */
	bool filter_pending; /* the filter has not passed the request on yet */
	bool streaming, stream_ended, stream_chunked, stream_want_drain;
	uint64_t stream_id;
	size_t stream_queued;
	ag_http_stream_fn stream_fn;
	void *stream_ud;

	char *resp_name[HTTP_MAX_RESP_HEADERS];
	char *resp_value[HTTP_MAX_RESP_HEADERS];
	int nresp;
};

typedef enum { TIMER_NONE, TIMER_IDLE, TIMER_HEADERS, TIMER_BODY, TIMER_LINGER } http_timer_mode;

struct http_conn {
	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_shutdown_t shutdown;
	ag_http_server *srv;
	http_conn *prev, *next;
	http_parser parser;
	char *rbuf; /* one read of AG_HTTP_READ_CHUNK; [rpos, rlen) not yet parsed */
	size_t rpos, rlen;
	ag_http_req *req;
	char peer[HTTP_PEER_MAX];
	int open_handles;
	bool reading, closed, shutting, in_drive;
	bool resp_writing; /* the response's write has not completed */
	bool wdone;        /* written at once (uv_try_write): on the server's wdone list until completed */
	http_conn *wdone_next;
	bool resp_close; /* close once the response is written */
	http_timer_mode tmode;
	bool timer_kick; /* bytes arrived: restart the body timer */
	int event;       /* set by parser callbacks before they pause */
	int err_status;  /* set by a parser callback that fails */
	const char *err_detail;
	char err_buf[HTTP_ERR_DETAIL_MAX]; /* formatted detail for limit errors */
	size_t hdr_raw;                    /* raw bytes of the current request line + headers */
	size_t linger_bytes;
};

/* http.c */
const http_route *ag_http__route_match(const ag_http_server *s, ag_http_req *req, int *status, char *allow,
                                       size_t allowsz);
void ag_http__server_conn_gone(ag_http_server *s, http_conn *c);
void ag_http__server_maybe_done(ag_http_server *s);
/* Close a heap-allocated handle of the server (listener, stream mailbox, idle): freed, and counted in
 * pending_closes until then, so the server's done callback waits for it. */
void ag_http__server_close_handle(ag_http_server *s, uv_handle_t *h);

/* http_conn.c */
void ag_http__conn_accept(ag_http_server *s, uv_stream_t *listener);
void ag_http__conn_close(http_conn *c);
bool ag_http__conn_idle(const http_conn *c);
void ag_http__conn_drive(http_conn *c);
void ag_http__conn_update_io(http_conn *c);
void ag_http__conn_response_written(http_conn *c, int status);
void ag_http__wdone_forget(http_conn *c);     /* a connection being freed leaves the wdone list */
void ag_http__wdone_close(ag_http_server *s); /* at server close: complete what is pending, close the handle */
/* A connection over a connected stream socket (the fuzz harness), as if accepted; the server owns fd after AG_OK. */
ag_status ag_http__conn_open(ag_http_server *s, uv_os_sock_t fd);

/* http_req.c */
ag_http_req *ag_http__req_new(http_conn *c, uv_loop_t *loop);
int ag_http__req_url(ag_http_req *r, const char *at, size_t len, size_t max);
int ag_http__req_header_field(ag_http_req *r, const char *at, size_t len, const ag_http_limits *lim);
int ag_http__req_header_value(ag_http_req *r, const char *at, size_t len, const ag_http_limits *lim);
int ag_http__req_headers_done(ag_http_req *r, const char **detail);
int ag_http__req_target(ag_http_req *r, const char **detail);
int ag_http__req_body_append(ag_http_req *r, const char *at, size_t len, size_t max);
bool ag_http__req_live(const ag_http_req *r);
void ag_http__req_abort(ag_http_req *r);

/* The thread's current trace is saved around handler callbacks and restored after, so a
 * respond() inside a handler, or a callback nested in another's, leaves the caller's trace as it was. */
typedef struct http_trace_saved {
	char id[33];
} http_trace_saved;
void ag_http__trace_enter(const ag_http_req *r, http_trace_saved *saved);
void ag_http__trace_leave(const http_trace_saved *saved);

/* http_resp.c */
void ag_http__respond(http_conn *c, ag_http_req *req, int status, const char *ctype, const void *body, size_t len,
                      bool force_close);
void ag_http__problem(http_conn *c, ag_http_req *req, int status, bool force_close, const char *detail);
void ag_http__send_continue(http_conn *c);
/* Status line + headers for a streaming response, malloc'd in *out (*len bytes); marks the request answered. */
ag_status ag_http__stream_head(http_conn *c, ag_http_req *req, int status, const char *ctype, bool chunked, bool close,
                               char **out, size_t *len);

/* http_stream.c */
void ag_http__dispatch(http_conn *c, ag_http_req *r);         /* the filter, then the route's on_request */
void ag_http__stream_gone(ag_http_server *s, ag_http_req *r); /* the connection let go of a stream */
void ag_http__streams_closing(ag_http_server *s);             /* ag_http_server_close: tell open streams */
void ag_http__server_free_posts(ag_http_server *s);

#endif
