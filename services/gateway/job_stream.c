/*
 * job_stream.c - Server-Sent Events of a job's progress (job_stream.h).
 *
 * One hub per gateway holds one plain NATS subscription to aegis.events.*;
 * its callback (a cnats thread) decodes each JobEvent into a locked,
 * bounded mailbox and wakes the loop with uv_async. On the loop, events go
 * to the streams watching that job. Each stream keeps the id of the last
 * event it sent: a stream registers before it reads PostgreSQL, holds the
 * live events that arrive meanwhile, and after the replay sends only those
 * above the last replayed id. Anything it could not take (mailbox or hold
 * overflow, a client too slow for its socket queue, a bus outage) is read
 * again from PostgreSQL, which is the system of record; the heartbeat does
 * that read regularly as a safety net.
 */
#include "job_stream.h"

#include "gateway.h"
#include "uuid.h"

#include "aegis/log.h"
#include "aegis/str.h"
#include "aegis/v1/pipeline.pb-c.h"

#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define JOB_STREAM_STATE_MAX 16  /* job and step state names */
#define JOB_STREAM_ERROR_MAX 256 /* error text carried by a live event (longer is cut; the DB has it all) */
#define JOB_STREAM_TS_MAX    64

typedef struct js_event {
	int64_t id;
	char job[UUID_TEXT_LEN + 1];
	char job_state[JOB_STREAM_STATE_MAX];
	char step[JOB_STREAM_STATE_MAX];       /* "" for job-level events */
	char step_state[JOB_STREAM_STATE_MAX]; /* "" when none */
	char error[JOB_STREAM_ERROR_MAX];      /* "" when none */
	int64_t at_ms;
} js_event;

typedef struct js_mail {
	struct js_mail *next;
	js_event ev;
} js_mail;

typedef struct job_stream job_stream;

struct job_stream_hub {
	gateway *gw;
	ag_bus_service *sub;
	uv_async_t async;
	bool async_open, stopped;
	pthread_mutex_t mu; /* guards the mailbox */
	js_mail *head, *tail;
	int nmail;
	bool overflow; /* mail was dropped: every stream re-reads the DB */
	/* loop thread */
	job_stream *streams;
	int nstreams;
};

struct job_stream {
	job_stream *prev, *next;
	job_stream_hub *hub;
	ag_http_req *req; /* retained until freed */
	char job[UUID_TEXT_LEN + 1];
	char owner[UUID_TEXT_LEN + 1];
	ag_trace trace;
	int64_t floor; /* every event at or below it is out (the client's Last-Event-ID, raised as the set fills) */
	int64_t *sent; /* ids sent above floor, ascending (at most JOB_STREAM_SENT_MAX) */
	int nsent;
	uv_timer_t heartbeat;
	bool linked, begun, finished, timer_open, reading;
	bool reread;    /* something was missed: read the DB again when the current read ends */
	js_event *held; /* live events held while reading the DB */
	int nheld;
};

/* One read of PostgreSQL for a stream (thread pool). */
typedef struct js_read {
	job_stream *st;
	int64_t after;
	ag_status st_code;
	ag_err err;
	PGresult *res; /* rows: job state, then event columns (NULL when the job has none after `after`) */
} js_read;

static const char *const js_steps[] = {"", "validate", "metadata", "content", "ai"}; /* by Aegis__V1__Step */

static bool js_terminal(const char *state)
{
	return strcmp(state, "succeeded") == 0 || strcmp(state, "failed") == 0 || strcmp(state, "rejected") == 0 ||
	       strcmp(state, "cancelled") == 0;
}

static void js_copy(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", src ? src : "");
}

/* ---- the mailbox (cnats thread -> loop) ---- */

static void js_on_bus(const void *data, size_t len, void **reply, size_t *reply_len, void *ud)
{
	job_stream_hub *h = ud;
	(void)reply;
	(void)reply_len;
	Aegis__V1__JobEvent *m = aegis__v1__job_event__unpack(NULL, len, data);
	if (!m) {
		ag_log_warn("job events: undecodable message on the events subject (%zu bytes); ignored", len);
		return;
	}
	js_mail *mail = NULL;
	if (uuid_valid(m->job_id) && m->seq > 0)
		mail = calloc(1, sizeof *mail);
	if (mail) {
		js_event *e = &mail->ev;
		e->id = m->seq;
		js_copy(e->job, sizeof e->job, m->job_id);
		js_copy(e->job_state, sizeof e->job_state, m->job_state);
		int step = (int)m->step;
		js_copy(e->step, sizeof e->step,
		        step >= 0 && step < (int)(sizeof js_steps / sizeof js_steps[0]) ? js_steps[step] : "");
		js_copy(e->step_state, sizeof e->step_state, m->step_state);
		js_copy(e->error, sizeof e->error, m->error);
		e->at_ms = m->at_ms;
	}
	aegis__v1__job_event__free_unpacked(m, NULL);
	if (!mail)
		return;
	pthread_mutex_lock(&h->mu);
	if (h->stopped || h->nmail >= JOB_STREAM_MAILBOX_MAX) {
		h->overflow = !h->stopped;
		free(mail);
		mail = NULL;
	} else {
		if (h->tail)
			h->tail->next = mail;
		else
			h->head = mail;
		h->tail = mail;
		h->nmail++;
	}
	if (h->async_open)
		uv_async_send(&h->async); /* wake-ups coalesce; the loop takes the whole list */
	pthread_mutex_unlock(&h->mu);
}

/* ---- writing events ---- */

static void js_ts(int64_t at_ms, char *out, size_t n)
{
	time_t t = (time_t)(at_ms / 1000);
	struct tm tm;
	if (!gmtime_r(&t, &tm)) {
		out[0] = '\0';
		return;
	}
	snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
	         tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(at_ms % 1000));
}

static json_t *js_text_or_null(const char *s)
{
	return s[0] ? json_string(s) : json_null();
}

/*
 * Which events went out. Event ids come from one bigserial, and parallel steps commit in their own
 * transactions, so an event may become visible after one with a higher id: the stream therefore remembers
 * the ids it sent (not just the highest) and reads PostgreSQL from `floor` each time, so a late event is
 * still sent (possibly after a higher id) and none is sent twice.
 */
static bool js_was_sent(const job_stream *st, int64_t id)
{
	if (id <= st->floor)
		return true;
	int lo = 0, hi = st->nsent;
	while (lo < hi) {
		int mid = (lo + hi) / 2;
		if (st->sent[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < st->nsent && st->sent[lo] == id;
}

/* Everything at or below `id` counts as out: forget those ids. */
static void js_raise_floor(job_stream *st, int64_t id)
{
	if (id <= st->floor)
		return;
	int drop = 0;
	while (drop < st->nsent && st->sent[drop] <= id)
		drop++;
	memmove(st->sent, st->sent + drop, (size_t)(st->nsent - drop) * sizeof *st->sent);
	st->nsent -= drop;
	st->floor = id;
}

static void js_mark_sent(job_stream *st, int64_t id)
{
	if (js_was_sent(st, id))
		return;
	if (st->nsent == JOB_STREAM_SENT_MAX) /* forget the older half: the floor rises past it */
		js_raise_floor(st, st->sent[JOB_STREAM_SENT_MAX / 2 - 1]);
	if (id <= st->floor)
		return;
	int i = st->nsent;
	while (i > 0 && st->sent[i - 1] > id) {
		st->sent[i] = st->sent[i - 1];
		i--;
	}
	st->sent[i] = id;
	st->nsent++;
}

/* Write one event; false when it could not go out now (closed, or the socket queue is full). */
static bool js_send(job_stream *st, const js_event *e)
{
	char at[JOB_STREAM_TS_MAX];
	js_ts(e->at_ms, at, sizeof at);
	json_t *o = json_pack("{s:I, s:s, s:s, s:o, s:o, s:o, s:s}", "id", (json_int_t)e->id, "job_id", st->job,
	                      "job_state", e->job_state, "step", js_text_or_null(e->step), "step_state",
	                      js_text_or_null(e->step_state), "error", js_text_or_null(e->error), "at", at);
	char *data = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (!data)
		return false;
	size_t cap = strlen(data) + 64;
	char *frame = malloc(cap);
	int n = frame ? snprintf(frame, cap, "id: %" PRId64 "\nevent: %s\ndata: %s\n\n", e->id,
	                         e->step[0] ? "step" : "job", data)
	              : -1;
	free(data);
	ag_status s = n > 0 ? ag_http_stream_write(st->req, frame, (size_t)n) : AG_E_NOMEM;
	free(frame);
	if (s != AG_OK)
		return false;
	js_mark_sent(st, e->id);
	return true;
}

/* ---- stream lifetime ---- */

static void js_unlink(job_stream *st)
{
	if (!st->linked)
		return;
	st->linked = false;
	job_stream_hub *h = st->hub;
	if (st->prev)
		st->prev->next = st->next;
	else
		h->streams = st->next;
	if (st->next)
		st->next->prev = st->prev;
	h->nstreams--;
}

static void js_maybe_free(job_stream *st)
{
	if (!st->finished || st->reading || st->timer_open)
		return;
	ag_http_req_release(st->req);
	free(st->held);
	free(st->sent);
	free(st);
}

static void js_timer_closed(uv_handle_t *t)
{
	job_stream *st = t->data;
	st->timer_open = false;
	js_maybe_free(st);
}

/* No more events for this stream: end the body (if still open), unlink, free once nothing refers to it. */
static void js_finish(job_stream *st)
{
	if (st->finished)
		return;
	st->finished = true;
	js_unlink(st);
	if (!st->begun)
		gateway_respond_unavailable(st->req, "the server is shutting down; try again"); /* no-op if answered */
	ag_http_stream_end(st->req); /* a no-op when not begun or the client left */
	if (st->timer_open && !uv_is_closing((uv_handle_t *)&st->heartbeat))
		uv_close((uv_handle_t *)&st->heartbeat, js_timer_closed);
	js_maybe_free(st);
}

static bool js_read_start(job_stream *st);

/* A live event for this stream (loop thread). */
static void js_deliver(job_stream *st, const js_event *e)
{
	if (st->finished || js_was_sent(st, e->id))
		return; /* replayed already, or sent already */
	if (st->reading || !st->begun) {
		if (st->nheld < JOB_STREAM_PENDING_MAX)
			st->held[st->nheld++] = *e;
		else
			st->reread = true;
		return;
	}
	if (!js_send(st, e)) {
		st->reread = true; /* the DRAINED event or the next heartbeat reads it back */
		return;
	}
	if (js_terminal(e->job_state) && !js_read_start(st)) /* the rest of that transition, then the end */
		st->reread = true;
}

static void js_async(uv_async_t *a)
{
	job_stream_hub *h = a->data;
	pthread_mutex_lock(&h->mu);
	js_mail *list = h->head;
	bool overflow = h->overflow;
	h->head = h->tail = NULL;
	h->nmail = 0;
	h->overflow = false;
	pthread_mutex_unlock(&h->mu);
	while (list) {
		js_mail *m = list;
		list = m->next;
		job_stream *next;
		for (job_stream *st = h->streams; st; st = next) {
			next = st->next; /* delivery may finish (unlink) the stream */
			if (strcmp(st->job, m->ev.job) == 0)
				js_deliver(st, &m->ev);
		}
		free(m);
	}
	if (overflow) {
		ag_log_warn("job events: more than %d events waited for the loop; open streams read them from the "
		            "database",
		            JOB_STREAM_MAILBOX_MAX);
		job_stream *next;
		for (job_stream *st = h->streams; st; st = next) {
			next = st->next;
			if (!st->begun || !js_read_start(st))
				st->reread = true;
		}
	}
}

/* ---- reading PostgreSQL ---- */

static void js_read_work(void *ud)
{
	js_read *r = ud;
	job_stream *st = r->st;
	gateway *gw = st->hub->gw;
	PGconn *conn = NULL;
	char after[24], limit[16];
	snprintf(after, sizeof after, "%" PRId64, r->after);
	snprintf(limit, sizeof limit, "%d", JOB_STREAM_REPLAY_BATCH);
	const char *p[] = {st->job, st->owner, after, limit};
	ag_trace_set_current(&st->trace);
	ag_err_clear(&r->err);
	r->st_code = ag_db_acquire(gw->db, &conn, GATEWAY_DB_TIMEOUT_MS, &r->err);
	if (r->st_code == AG_OK) {
		/* the owner check, the job's current state and the next batch of events in one statement */
		r->st_code = ag_db_exec(conn,
		                        "SELECT j.state, e.id, e.job_state, coalesce(e.step, ''), "
		                        "coalesce(e.step_state, ''), coalesce(e.error, ''), "
		                        "(extract(epoch FROM e.at) * 1000)::bigint FROM jobs j "
		                        "LEFT JOIN LATERAL (SELECT * FROM job_events WHERE job_id = j.id AND id > $3 "
		                        "ORDER BY id LIMIT $4) e ON true "
		                        "WHERE j.id = $1 AND j.owner_id = $2 ORDER BY e.id",
		                        4, p, &r->res, &r->err);
		ag_db_release(gw->db, conn);
	}
	ag_trace_set_current(NULL);
}

static void js_on_stream(ag_http_req *req, ag_http_stream_event ev, void *ud);
static void js_heartbeat(uv_timer_t *t);

/* Start the response on the first successful read. */
static bool js_begin(job_stream *st)
{
	gateway *gw = st->hub->gw;
	ag_http_resp_header(st->req, "Cache-Control", "no-store");
	ag_http_resp_header(st->req, "X-Accel-Buffering", "no"); /* nginx: do not buffer the stream */
	if (ag_http_stream_begin(st->req, 200, "text/event-stream; charset=utf-8", js_on_stream, st) != AG_OK)
		return false;
	st->begun = true;
	char hello[64];
	int n = snprintf(hello, sizeof hello, "retry: %d\n\n", JOB_STREAM_RETRY_MS);
	ag_http_stream_write(st->req, hello, (size_t)n);
	uv_timer_init(gw->loop, &st->heartbeat);
	st->heartbeat.data = st;
	st->timer_open = true;
	uint64_t ms = (uint64_t)gw->cfg->sse_heartbeat_s * 1000;
	uv_timer_start(&st->heartbeat, js_heartbeat, ms, ms);
	return true;
}

static void js_read_done(ag_http_req *req, void *ud)
{
	js_read *r = ud;
	job_stream *st = r->st;
	st->reading = false;
	PGresult *res = r->res;
	ag_status code = r->st_code;
	ag_err err = r->err;
	free(r);
	if (st->finished) {
		PQclear(res);
		js_maybe_free(st);
		return;
	}
	if (code != AG_OK) {
		if (!st->begun)
			gateway_respond_error(req, code, &err, "the database");
		else
			ag_log_warn(
			        "job %s: reading events for a stream failed: %s; ending it (the client resumes with "
			        "Last-Event-ID)",
			        st->job, err.msg[0] ? err.msg : ag_status_str(code));
		PQclear(res);
		js_finish(st);
		return;
	}
	int rows = PQntuples(res);
	if (rows == 0) { /* not the caller's job (or gone) */
		ag_http_respond_problem(req, 404, "job not found");
		PQclear(res);
		js_finish(st);
		return;
	}
	if (!st->begun && !js_begin(st)) {
		PQclear(res);
		js_finish(st);
		return;
	}
	bool terminal = js_terminal(PQgetvalue(res, 0, 0));
	int events = 0;
	int64_t max_id = 0;
	bool blocked = false;
	for (int i = 0; i < rows && !blocked; i++) {
		if (PQgetisnull(res, i, 1))
			continue;
		events++;
		js_event e;
		memset(&e, 0, sizeof e);
		e.id = ag_str_to_i64(PQgetvalue(res, i, 1), 0);
		max_id = e.id > max_id ? e.id : max_id;
		if (js_was_sent(st, e.id))
			continue;
		js_copy(e.job_state, sizeof e.job_state, PQgetvalue(res, i, 2));
		js_copy(e.step, sizeof e.step, PQgetvalue(res, i, 3));
		js_copy(e.step_state, sizeof e.step_state, PQgetvalue(res, i, 4));
		js_copy(e.error, sizeof e.error, PQgetvalue(res, i, 5));
		e.at_ms = ag_str_to_i64(PQgetvalue(res, i, 6), 0);
		if (!js_send(st, &e))
			blocked = true;
	}
	PQclear(res);
	bool more = events >= JOB_STREAM_REPLAY_BATCH;
	if (!ag_http_stream_open(st->req)) {
		js_finish(st);
		return;
	}
	if (blocked) { /* the socket queue is full: DRAINED (or the heartbeat) reads on */
		st->reread = true;
		st->nheld = 0;
		return;
	}
	/* live events that came in meanwhile: those above what the DB gave */
	int held = st->nheld;
	st->nheld = 0;
	for (int i = 0; i < held && !more; i++)
		js_deliver(st, &st->held[i]);
	if (st->finished || st->reading)
		return;
	if (more || st->reread) {
		if (more)
			js_raise_floor(st, max_id); /* a full batch, all out: read on after it */
		st->reread = !js_read_start(st);
		return;
	}
	if (terminal)
		js_finish(st); /* every event of a job that has ended is out */
}

/* Read the events after floor; false when it could not start (the caller retries or gives up). */
static bool js_read_start(job_stream *st)
{
	if (st->finished)
		return false;
	if (st->reading)
		return true;
	js_read *r = calloc(1, sizeof *r);
	if (!r)
		return false;
	r->st = st;
	r->after = st->floor;
	st->reading = true;
	if (ag_http_req_defer(st->req, js_read_work, js_read_done, r) != AG_OK) {
		st->reading = false;
		free(r);
		return false;
	}
	return true;
}

static void js_heartbeat(uv_timer_t *t)
{
	job_stream *st = t->data;
	if (st->finished)
		return;
	static const char beat[] = ": keep-alive\n\n";
	if (ag_http_stream_write(st->req, beat, sizeof beat - 1) == AG_E_CANCELLED)
		return; /* CLOSED comes (or came) through js_on_stream */
	if (!st->reading)
		st->reread = !js_read_start(st); /* the safety net: whatever the bus did not bring */
}

static void js_on_stream(ag_http_req *req, ag_http_stream_event ev, void *ud)
{
	job_stream *st = ud;
	(void)req;
	switch (ev) {
	case AG_HTTP_STREAM_DRAINED:
		if (st->reread && !st->reading)
			st->reread = !js_read_start(st);
		break;
	case AG_HTTP_STREAM_CLOSING: /* SIGTERM: end now, the client resumes elsewhere with Last-Event-ID */
	case AG_HTTP_STREAM_CLOSED:
		js_finish(st);
		break;
	}
}

/* ---- the route ---- */

static void js_authed(ag_http_req *req, const ag_jwt_claims *claims, void *ud)
{
	gateway *gw = ud;
	job_stream_hub *h = gw->streams;
	const char *id = ag_http_req_param(req, 0);
	if (!claims)
		return;
	if (!uuid_valid(id)) {
		ag_http_respond_problem(req, 404, "job not found");
		return;
	}
	int64_t last = 0;
	const char *lei = ag_http_req_header(req, "Last-Event-ID");
	if (lei) {
		long long v;
		if (!ag_cfg_parse_ll(lei, 0, LLONG_MAX, &v)) {
			ag_http_respond_problem(req, 400, "Last-Event-ID must be an event id (a non-negative integer)");
			return;
		}
		last = (int64_t)v;
	}
	if (!h || h->stopped) {
		gateway_respond_unavailable(req, "the server is shutting down; try again");
		return;
	}
	if (h->nstreams >= gw->cfg->sse_max_streams) {
		ag_http_resp_header(req, "Retry-After", "5");
		ag_http_respond_problem(req, 503, "too many event streams are open on this server (%lld); try again",
		                        gw->cfg->sse_max_streams);
		return;
	}
	job_stream *st = calloc(1, sizeof *st);
	js_event *held = calloc(JOB_STREAM_PENDING_MAX, sizeof *held);
	int64_t *sent = calloc(JOB_STREAM_SENT_MAX, sizeof *sent);
	if (!st || !held || !sent) {
		free(st);
		free(held);
		free(sent);
		ag_http_respond_problem(req, 500, "out of memory");
		return;
	}
	st->held = held;
	st->sent = sent;
	st->hub = h;
	st->req = req;
	ag_http_req_retain(req);
	memcpy(st->job, id, UUID_TEXT_LEN);
	memcpy(st->owner, claims->sub, UUID_TEXT_LEN);
	st->trace = *ag_http_req_trace(req);
	st->floor = last;
	/* registered before the read: live events from now on are held, none falls between */
	st->linked = true;
	st->next = h->streams;
	if (h->streams)
		h->streams->prev = st;
	h->streams = st;
	h->nstreams++;
	if (!js_read_start(st))
		js_finish(st); /* answers 503 */
}

void job_stream_get(ag_http_req *req, void *gw)
{
	authn_require(((gateway *)gw)->authn, req, js_authed, gw);
}

/* ---- the hub ---- */

ag_status job_stream_hub_new(job_stream_hub **out, gateway *gw, ag_err *err)
{
	*out = NULL;
	job_stream_hub *h = calloc(1, sizeof *h);
	if (!h)
		return ag_err_set(err, AG_E_NOMEM, "job events: out of memory");
	h->gw = gw;
	if (pthread_mutex_init(&h->mu, NULL) != 0) {
		free(h);
		return ag_err_set(err, AG_E_INTERNAL, "job events: mutex");
	}
	if (uv_async_init(gw->loop, &h->async, js_async) != 0) {
		pthread_mutex_destroy(&h->mu);
		free(h);
		return ag_err_set(err, AG_E_INTERNAL, "job events: uv_async_init");
	}
	h->async.data = h;
	h->async_open = true;
	ag_status st = ag_bus_serve(&h->sub, gw->bus, AG_SUBJ_EVENTS_PREFIX "*", NULL, js_on_bus, h, err);
	if (st != AG_OK) {
		/* streams still work from the database (heartbeat reads); live latency is lost until a restart */
		ag_log_warn("job events: not subscribed to %s*: %s; streams poll the database every heartbeat",
		            AG_SUBJ_EVENTS_PREFIX, err && err->msg[0] ? err->msg : ag_status_str(st));
		h->sub = NULL;
	}
	*out = h;
	return AG_OK;
}

static void js_hub_async_closed(uv_handle_t *a)
{
	(void)a;
}

void job_stream_hub_stop(job_stream_hub *h)
{
	if (!h || h->stopped)
		return;
	ag_bus_service_free(h->sub); /* waits for a callback in flight; none starts after */
	h->sub = NULL;
	pthread_mutex_lock(&h->mu);
	h->stopped = true;
	h->async_open = false;
	pthread_mutex_unlock(&h->mu);
	uv_close((uv_handle_t *)&h->async, js_hub_async_closed);
	job_stream *next;
	for (job_stream *st = h->streams; st; st = next) {
		next = st->next;
		js_finish(st);
	}
}

void job_stream_hub_free(job_stream_hub *h)
{
	if (!h)
		return;
	js_mail *m = h->head;
	while (m) {
		js_mail *n = m->next;
		free(m);
		m = n;
	}
	pthread_mutex_destroy(&h->mu);
	free(h);
}

int job_stream_hub_count(const job_stream_hub *h)
{
	return h ? h->nstreams : 0;
}
