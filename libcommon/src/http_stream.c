/*
 * http_stream.c - the request filter and streaming responses of the HTTP
 * server (http.h): a response begun with its headers and written chunk by
 * chunk (chunked transfer encoding), with backpressure (a ceiling on bytes
 * queued on the socket and a "drained" event), notice of the client going
 * away or the server closing, and a locked mailbox + uv_async through which
 * other threads post bytes to a stream by id.
 */
#include "aegis/log.h"
#include "http_priv.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HTTP_CHUNK_HEAD_MAX 20 /* hex length + CRLF */

static void stream_posts_run(uv_async_t *a);

struct http_post {
	http_post *next;
	uint64_t id;
	bool end;
	size_t len;
	char data[]; /* len bytes */
};

/* --- filter --- */

void ag_http_server_set_filter(ag_http_server *s, ag_http_filter fn, void *ud)
{
	s->filter = fn;
	s->filter_ud = ud;
}

const char *ag_http_req_route(const ag_http_req *r)
{
	return r && r->route ? r->route->pattern : NULL;
}

void ag_http__dispatch(http_conn *c, ag_http_req *r)
{
	ag_http_server *s = c->srv;
	if (!s->filter) {
		r->route->ops.on_request(r, r->route->ud);
		return;
	}
	r->filter_pending = true;
	if (r->route->ops.on_body)
		r->paused = true; /* a streaming route's body waits until the filter passes it */
	s->filter(r, s->filter_ud);
}

void ag_http_req_next(ag_http_req *r)
{
	if (!r || !r->filter_pending)
		return;
	r->filter_pending = false;
	if (!ag_http__req_live(r))
		return;
	bool streaming_route = r->route->ops.on_body != NULL;
	if (streaming_route)
		r->paused = false;
	ag_http_req_retain(r);
	http_trace_saved saved_trace;
	ag_http__trace_enter(r, &saved_trace);
	r->route->ops.on_request(r, r->route->ud);
	ag_http__trace_leave(&saved_trace);
	if (streaming_route && r->conn)
		ag_http__conn_drive(r->conn); /* the body flows now (a no-op inside a drive) */
	ag_http_req_release(r);
}

/* --- writing --- */

typedef struct stream_write {
	uv_write_t w;
	http_conn *c;
	size_t len;
	bool last; /* the terminating chunk: the response is complete once written */
	char buf[];
} stream_write;

static void stream_fire(ag_http_req *r, ag_http_stream_event ev)
{
	if (!r->stream_fn)
		return;
	ag_http_req_retain(r);
	http_trace_saved saved_trace;
	ag_http__trace_enter(r, &saved_trace);
	r->stream_fn(r, ev, r->stream_ud);
	ag_http__trace_leave(&saved_trace);
	ag_http_req_release(r);
}

static void stream_written(uv_write_t *w, int status)
{
	stream_write *sw = (stream_write *)w;
	http_conn *c = sw->c;
	bool last = sw->last;
	size_t len = sw->len;
	free(sw);
	if (last) {
		ag_http__conn_response_written(c, status);
		return;
	}
	if (c->closed)
		return;
	if (status < 0) {
		ag_log_debug("http: stream write to %s failed: %s", c->peer, uv_strerror(status));
		ag_http__conn_close(c);
		return;
	}
	ag_http_req *r = c->req;
	if (!r || !r->streaming)
		return;
	r->stream_queued -= len <= r->stream_queued ? len : r->stream_queued;
	if (r->stream_want_drain && r->stream_queued == 0 && !r->stream_ended) {
		r->stream_want_drain = false;
		stream_fire(r, AG_HTTP_STREAM_DRAINED);
	}
}

/* Queue `len` bytes (copied) on the stream's socket; `last` completes the response once written. */
static ag_status stream_send(http_conn *c, ag_http_req *r, const void *data, size_t len, bool last)
{
	stream_write *sw = malloc(sizeof *sw + (len ? len : 1));
	if (!sw)
		return AG_E_NOMEM;
	sw->c = c;
	sw->len = len;
	sw->last = last;
	memcpy(sw->buf, data, len);
	uv_buf_t b = uv_buf_init(sw->buf, (unsigned)len);
	int rc = uv_write(&sw->w, (uv_stream_t *)&c->tcp, &b, 1, stream_written);
	if (rc != 0) {
		free(sw);
		if (last)
			ag_http__conn_response_written(c, rc);
		else
			ag_http__conn_close(c);
		return AG_E_CANCELLED;
	}
	if (!last)
		r->stream_queued += len;
	return AG_OK;
}

static bool stream_live(const ag_http_req *r)
{
	return r && r->streaming && !r->stream_ended && r->conn && !r->conn->closed && !r->conn->shutting;
}

bool ag_http_stream_open(const ag_http_req *r)
{
	return stream_live(r);
}

ag_status ag_http_stream_begin(ag_http_req *r, int status, const char *content_type, ag_http_stream_fn fn, void *ud)
{
	if (!ag_http__req_live(r) || r->streaming)
		return AG_E_CANCELLED;
	http_conn *c = r->conn;
	ag_http_server *s = c->srv;
	if (s->closing)
		return AG_E_UNAVAILABLE;
	if (status < 200 || status > 599 || status == 204 || status == 304)
		return AG_E_INVAL;
	if (!s->post_async) {
		uv_async_t *a = calloc(1, sizeof *a);
		if (!a)
			return AG_E_NOMEM;
		if (uv_async_init(s->loop, a, stream_posts_run) != 0) {
			free(a);
			return AG_E_INTERNAL;
		}
		a->data = s;
		pthread_mutex_lock(&s->post_mu);
		s->post_async = a;
		pthread_mutex_unlock(&s->post_mu);
	}
	bool http11 = r->http_major > 1 || (r->http_major == 1 && r->http_minor >= 1);
	bool body_read = r->msg_done || !r->has_body;
	bool close = !http11 || !r->keep_alive || !body_read;
	char *head = NULL;
	size_t hlen = 0;
	ag_status st = ag_http__stream_head(c, r, status, content_type, http11, close, &head, &hlen);
	if (st != AG_OK)
		return st;
	r->streaming = true;
	r->stream_chunked = http11;
	r->stream_fn = fn;
	r->stream_ud = ud;
	r->stream_id = ++s->next_stream_id;
	s->nstreams++;
	if (!r->head) {
		st = stream_send(c, r, head, hlen, false);
	} else { /* HEAD: the headers are the whole answer */
		r->stream_ended = true;
		s->nstreams--;
		st = stream_send(c, r, head, hlen, true);
	}
	free(head);
	return st;
}

ag_status ag_http_stream_write(ag_http_req *r, const void *data, size_t len)
{
	if (!stream_live(r))
		return AG_E_CANCELLED;
	if (len == 0)
		return AG_OK;
	if (r->stream_queued > 0 && r->stream_queued + len > AG_HTTP_STREAM_MAX_QUEUED) {
		r->stream_want_drain = true;
		return AG_E_RETRY;
	}
	if (!r->stream_chunked)
		return stream_send(r->conn, r, data, len, false);
	char head[HTTP_CHUNK_HEAD_MAX];
	int hl = snprintf(head, sizeof head, "%zx\r\n", len);
	char *frame = malloc((size_t)hl + len + 2);
	if (!frame)
		return AG_E_NOMEM;
	memcpy(frame, head, (size_t)hl);
	memcpy(frame + hl, data, len);
	memcpy(frame + (size_t)hl + len, "\r\n", 2);
	ag_status st = stream_send(r->conn, r, frame, (size_t)hl + len + 2, false);
	free(frame);
	return st;
}

size_t ag_http_stream_queued(const ag_http_req *r)
{
	return r && r->streaming ? r->stream_queued : 0;
}

void ag_http_stream_end(ag_http_req *r)
{
	if (!stream_live(r))
		return;
	r->stream_ended = true;
	r->conn->srv->nstreams--;
	if (r->stream_chunked) {
		stream_send(r->conn, r, "0\r\n\r\n", 5, true);
		return;
	}
	/* close-delimited (HTTP/1.0): the FIN after the queued writes ends the body */
	r->conn->resp_close = true;
	ag_http__conn_response_written(r->conn, 0);
}

void ag_http__stream_gone(ag_http_server *s, ag_http_req *r)
{
	if (!r->streaming || r->stream_ended)
		return;
	r->stream_ended = true;
	s->nstreams--;
	stream_fire(r, AG_HTTP_STREAM_CLOSED);
}

uint64_t ag_http_stream_id(const ag_http_req *r)
{
	return r && r->streaming ? r->stream_id : 0;
}

ag_http_server *ag_http_req_server(const ag_http_req *r)
{
	return r && r->conn ? r->conn->srv : NULL;
}

int ag_http_stream_count(const ag_http_server *s)
{
	return s->nstreams;
}

/* --- posts from other threads --- */

ag_status ag_http_stream_post(ag_http_server *s, uint64_t id, const void *data, size_t len, bool end)
{
	if (!s || !id || (len && !data))
		return AG_E_INVAL;
	http_post *p = malloc(sizeof *p + len);
	if (!p)
		return AG_E_NOMEM;
	p->next = NULL;
	p->id = id;
	p->end = end;
	p->len = len;
	if (len)
		memcpy(p->data, data, len);
	ag_status st = AG_OK;
	pthread_mutex_lock(&s->post_mu);
	if (s->post_closed || !s->post_async) {
		st = AG_E_CANCELLED;
	} else if (s->post_bytes + len > AG_HTTP_STREAM_MAX_POSTED) {
		st = AG_E_RETRY;
	} else {
		if (s->post_tail)
			s->post_tail->next = p;
		else
			s->post_head = p;
		s->post_tail = p;
		s->post_bytes += len;
		uv_async_send(s->post_async); /* wake-ups coalesce; the callback takes the whole list */
		p = NULL;
	}
	pthread_mutex_unlock(&s->post_mu);
	free(p);
	return st;
}

static ag_http_req *stream_by_id(ag_http_server *s, uint64_t id)
{
	for (http_conn *c = s->conns; c; c = c->next)
		if (c->req && c->req->streaming && c->req->stream_id == id)
			return c->req;
	return NULL;
}

static void stream_posts_run(uv_async_t *a)
{
	ag_http_server *s = a->data;
	pthread_mutex_lock(&s->post_mu);
	http_post *list = s->post_head;
	s->post_head = s->post_tail = NULL;
	s->post_bytes = 0;
	pthread_mutex_unlock(&s->post_mu);
	while (list) {
		http_post *p = list;
		list = p->next;
		ag_http_req *r = stream_by_id(s, p->id);
		if (r && stream_live(r)) {
			ag_status st = ag_http_stream_write(r, p->data, p->len);
			if (st == AG_E_RETRY) {
				ag_log_warn("http: stream to %s does not keep up with posted data; closing it",
				            r->peer);
				ag_http__conn_close(r->conn);
			} else if (p->end) {
				ag_http_stream_end(r);
			}
		}
		free(p);
	}
}

void ag_http__streams_closing(ag_http_server *s)
{
	pthread_mutex_lock(&s->post_mu);
	s->post_closed = true;
	uv_async_t *a = s->post_async;
	s->post_async = NULL;
	pthread_mutex_unlock(&s->post_mu);
	if (a) {
		stream_posts_run(a); /* what was posted before the close still goes out */
		ag_http__server_close_handle(s, (uv_handle_t *)a);
	}
	http_conn *next;
	for (http_conn *c = s->conns; c; c = next) {
		next = c->next;
		if (c->req && stream_live(c->req))
			stream_fire(c->req, AG_HTTP_STREAM_CLOSING);
	}
}

void ag_http__server_free_posts(ag_http_server *s)
{
	http_post *p = s->post_head;
	while (p) {
		http_post *n = p->next;
		free(p);
		p = n;
	}
	s->post_head = s->post_tail = NULL;
}
