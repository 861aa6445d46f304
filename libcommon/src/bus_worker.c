/*
 * bus_worker.c - the pull-consumer threads of ag_bus_worker_*: N threads per
 * durable consumer, each with its own pull subscription that binds to the
 * existing consumer (never creates it, so destroying it never deletes the
 * consumer), fetching one message at a time (the 3.4.1 Fetch overflow) and
 * acting on the handler's verdict: AckSync, NakWithDelay or Term.
 *
 * A fetch loop heals by itself: a pull request lost to a reconnect just times
 * out and the next Fetch sends a fresh one. A deleted consumer is silent too
 * (fetches merely time out), so a thread that saw nothing but empty fetches
 * for a while, or fetch errors, looks the consumer up; when it is gone
 * (server state lost) the thread drops its subscription, reports unbound
 * (readiness) and keeps trying to bind until someone recreates the consumer.
 */
#include "aegis/bus.h"

#include "aegis/limits.h"
#include "aegis/log.h"
#include "bus_priv.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WORKER_NAME_MAX         64    /* stream and durable names */
#define WORKER_FETCH_TIMEOUT_MS 1000  /* also bounds how long stop takes */
#define WORKER_ERROR_SLEEP_MS   250   /* after a fetch error */
#define WORKER_BIND_RETRY_MS    1000  /* between bind attempts (NATS down, consumer missing) */
#define WORKER_LOG_EVERY_MS     5000  /* at most one error line per thread per period */
#define WORKER_VERIFY_ERR_MS    5000  /* check the consumer still exists after fetch errors, at most this often */
#define WORKER_VERIFY_IDLE_MS   30000 /* and after this long with nothing but empty fetches */
#define WORKER_BIND_WAIT_MS     2000  /* consumer lookup at bind */
#define WORKER_ACK_TRIES        3     /* AckSync attempts on timeout */
#define WORKER_LABEL_MAX        160

struct ag_bus_msg {
	natsMsg *nm;
	uint64_t delivered;
	int max_deliver;
};

typedef struct worker_thread {
	ag_bus_worker *w;
	pthread_t tid;
	natsSubscription *sub; /* owned by this thread once started */
	int max_deliver;       /* of the consumer, read at bind */
	int64_t last_log_ms;
	int64_t last_verify_ms; /* consumer known to exist at this time (bind, message, lookup) */
} worker_thread;

struct ag_bus_worker {
	ag_bus *bus;
	char stream[WORKER_NAME_MAX];
	char durable[WORKER_NAME_MAX];
	ag_bus_handler fn;
	void *ud;
	int nthreads;
	int started; /* threads created */
	worker_thread *th;
	atomic_bool stop;
	atomic_int bound;
	atomic_int busy;
	atomic_int verify_idle_ms;
	pthread_mutex_t mu;
	pthread_cond_t cond; /* CLOCK_MONOTONIC; signalled on stop and on thread exit */
	int exited;          /* guarded by mu */
	bool joined;
	ag_counter *c_ack, *c_nak, *c_term;
	ag_histogram *h_handle;
};

static int64_t worker_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct timespec worker_deadline(int64_t ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	return ts;
}

/* Sleep up to ms, waking early on stop. */
static void worker_nap(ag_bus_worker *w, int64_t ms)
{
	struct timespec dl = worker_deadline(ms);
	pthread_mutex_lock(&w->mu);
	while (!atomic_load(&w->stop)) {
		if (pthread_cond_timedwait(&w->cond, &w->mu, &dl) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&w->mu);
}

static bool worker_may_log(worker_thread *t)
{
	int64_t now = worker_now_ms();
	if (t->last_log_ms && now - t->last_log_ms < WORKER_LOG_EVERY_MS)
		return false;
	t->last_log_ms = now;
	return true;
}

/* Look the consumer up (its MaxDeliver; proof it exists) and bind a pull subscription to it. */
static ag_status worker_bind(worker_thread *t, ag_err *err)
{
	ag_bus_worker *w = t->w;
	jsCtx *js = ag_bus_js_(w->bus);
	jsConsumerInfo *ci = NULL;
	jsErrCode jerr = 0;
	jsOptions jo;
	char what[WORKER_NAME_MAX * 3];

	jsOptions_Init(&jo);
	jo.Wait = WORKER_BIND_WAIT_MS;
	natsStatus s = js_GetConsumerInfo(&ci, js, w->stream, w->durable, &jo, &jerr);
	if (s != NATS_OK) {
		snprintf(what, sizeof what, "consumer %s on %s", w->durable, w->stream);
		return ag_bus_err_(err, s, jerr, what);
	}
	int64_t md = ci->Config ? ci->Config->MaxDeliver : -1;
	t->max_deliver = md > 0 && md < INT32_MAX ? (int)md : -1;
	jsConsumerInfo_Destroy(ci);

	jsSubOptions so;
	jsSubOptions_Init(&so);
	so.Stream = w->stream;
	so.Consumer = w->durable; /* bind: js_PullSubscribe must never create (it would delete on close) */
	jerr = 0;
	s = js_PullSubscribe(&t->sub, js, NULL, NULL, &jo, &so, &jerr);
	if (s != NATS_OK) {
		t->sub = NULL;
		snprintf(what, sizeof what, "bind %s on %s", w->durable, w->stream);
		return ag_bus_err_(err, s, jerr, what);
	}
	t->last_verify_ms = worker_now_ms();
	atomic_fetch_add(&w->bound, 1);
	return AG_OK;
}

static void worker_unbind(worker_thread *t)
{
	if (!t->sub)
		return;
	natsSubscription_Destroy(t->sub); /* never Unsubscribe/Drain: see bus.h */
	t->sub = NULL;
	atomic_fetch_sub(&t->w->bound, 1);
}

static void worker_ack(worker_thread *t, natsMsg *nm)
{
	natsStatus s = NATS_OK;
	jsErrCode jerr = 0;
	for (int i = 0; i < WORKER_ACK_TRIES; i++) {
		s = natsMsg_AckSync(nm, NULL, &jerr);
		if (s != NATS_TIMEOUT)
			break;
	}
	if (s != NATS_OK)
		ag_log_warn("nats: ack on %s failed (%s, jerr %d); the message will be redelivered", t->w->durable,
		            natsStatus_GetText(s), (int)jerr);
}

static void worker_handle(worker_thread *t, natsMsg *nm)
{
	ag_bus_worker *w = t->w;
	ag_bus_msg m = {.nm = nm, .delivered = 1, .max_deliver = t->max_deliver};
	jsMsgMetaData *meta = NULL;
	if (natsMsg_GetMetaData(&meta, nm) == NATS_OK) {
		m.delivered = meta->NumDelivered;
		jsMsgMetaData_Destroy(meta);
	}
	const char *tp = NULL;
	if (natsMsgHeader_Get(nm, "traceparent", &tp) != NATS_OK)
		tp = NULL;
	ag_trace tr;
	ag_trace_continue(tp, &tr);
	ag_trace_set_current(&tr);

	atomic_fetch_add(&w->busy, 1);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ag_bus_verdict v = w->fn(&m, w->ud);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ag_histogram_observe(w->h_handle, (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);

	natsStatus s = NATS_OK;
	switch (v.action) {
	case AG_BUS_ACK:
		worker_ack(t, nm);
		ag_counter_inc(w->c_ack);
		break;
	case AG_BUS_TERM:
		s = natsMsg_Term(nm, NULL);
		ag_counter_inc(w->c_term);
		break;
	case AG_BUS_NAK:
	default:
		if (v.action != AG_BUS_NAK)
			ag_log_error("nats: handler of %s returned unknown action %d; nak", w->durable, (int)v.action);
		s = v.delay_ms > 0 ? natsMsg_NakWithDelay(nm, v.delay_ms, NULL) : natsMsg_Nak(nm, NULL);
		ag_counter_inc(w->c_nak);
		break;
	}
	if (s != NATS_OK)
		ag_log_warn("nats: nak/term on %s failed: %s", w->durable, natsStatus_GetText(s));
	atomic_fetch_sub(&w->busy, 1);
	ag_trace_set_current(NULL);
}

/* Is the consumer still there (checked at most every `every_ms`)? If it is gone (server lost its state),
 * drop the subscription so the thread reports unbound and rebinds once the consumer is recreated. */
static void worker_verify(worker_thread *t, int64_t every_ms)
{
	int64_t now = worker_now_ms();
	if (now - t->last_verify_ms < every_ms || !ag_bus_connected(t->w->bus))
		return;
	t->last_verify_ms = now;
	jsConsumerInfo *ci = NULL;
	jsErrCode jerr = 0;
	jsOptions jo;
	jsOptions_Init(&jo);
	jo.Wait = WORKER_BIND_WAIT_MS;
	natsStatus s = js_GetConsumerInfo(&ci, ag_bus_js_(t->w->bus), t->w->stream, t->w->durable, &jo, &jerr);
	jsConsumerInfo_Destroy(ci);
	if (s == NATS_NOT_FOUND || jerr == JSConsumerNotFoundErr || jerr == JSStreamNotFoundErr) {
		ag_log_error("nats: consumer %s on %s no longer exists; unbinding", t->w->durable, t->w->stream);
		worker_unbind(t);
	}
}

static void *worker_main(void *arg)
{
	worker_thread *t = arg;
	ag_bus_worker *w = t->w;

	while (!atomic_load(&w->stop)) {
		if (!t->sub) {
			ag_err e;
			ag_err_clear(&e);
			/* Lookups block for their whole wait while NATS is down; skip them so stop stays prompt. */
			if (!ag_bus_connected(w->bus) || worker_bind(t, &e) != AG_OK) {
				if (e.code != AG_OK && worker_may_log(t))
					ag_log_warn("nats: %s; retrying", e.msg);
				worker_nap(w, WORKER_BIND_RETRY_MS);
				continue;
			}
			ag_log_info("nats: worker bound to %s on %s", w->durable, w->stream);
		}
		natsMsgList list = {0};
		jsErrCode jerr = 0;
		natsStatus s = natsSubscription_Fetch(&list, t->sub, 1, WORKER_FETCH_TIMEOUT_MS, &jerr);
		if (s == NATS_TIMEOUT) {
			worker_verify(t, atomic_load(&w->verify_idle_ms));
			continue;
		}
		if (s != NATS_OK) {
			if (worker_may_log(t)) {
				natsStatus ls;
				const char *text = nats_GetLastError(&ls);
				ag_log_warn("nats: fetch on %s failed: %s (%s, jerr %d); retrying", w->durable,
				            natsStatus_GetText(s), text ? text : "", (int)jerr);
			}
			worker_verify(t, WORKER_VERIFY_ERR_MS);
			worker_nap(w, WORKER_ERROR_SLEEP_MS);
			continue;
		}
		/* A message fetched while stop was asked is still handled: it is this thread's current one. */
		for (int i = 0; i < list.Count; i++)
			worker_handle(t, list.Msgs[i]);
		t->last_verify_ms = worker_now_ms();
		natsMsgList_Destroy(&list);
	}
	worker_unbind(t);
	nats_ReleaseThreadMemory();

	pthread_mutex_lock(&w->mu);
	w->exited++;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

static void worker_metrics(ag_bus_worker *w)
{
	ag_metrics *mx = ag_bus_metrics_(w->bus);
	if (!mx)
		return;
	char esc[WORKER_NAME_MAX * 2], labels[WORKER_LABEL_MAX];
	ag_metrics_label_escape(w->durable, esc, sizeof esc);
	static const char help[] = "JetStream messages handled, by consumer and final action";
	snprintf(labels, sizeof labels, "consumer=\"%s\",action=\"ack\"", esc);
	w->c_ack = ag_metrics_counter(mx, "aegis_bus_messages_total", help, labels);
	snprintf(labels, sizeof labels, "consumer=\"%s\",action=\"nak\"", esc);
	w->c_nak = ag_metrics_counter(mx, "aegis_bus_messages_total", help, labels);
	snprintf(labels, sizeof labels, "consumer=\"%s\",action=\"term\"", esc);
	w->c_term = ag_metrics_counter(mx, "aegis_bus_messages_total", help, labels);
	snprintf(labels, sizeof labels, "consumer=\"%s\"", esc);
	w->h_handle = ag_metrics_histogram(mx, "aegis_bus_handle_seconds", "time in the message handler", labels,
	                                   ag_metrics_seconds_buckets, ag_metrics_seconds_buckets_len);
}

static void worker_destroy(ag_bus_worker *w)
{
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->mu);
	free(w->th);
	free(w);
}

ag_status ag_bus_worker_start(ag_bus_worker **out, ag_bus *b, const char *stream, const char *durable, int threads,
                              ag_bus_handler fn, void *ud, ag_err *err)
{
	ag_status st = AG_E_INTERNAL;
	ag_bus_worker *w = NULL;
	pthread_condattr_t ca;
	bool sync_init = false;

	*out = NULL;
	if (!b || !stream || !durable || !fn || strlen(stream) >= WORKER_NAME_MAX ||
	    strlen(durable) >= WORKER_NAME_MAX || threads < 1 || threads > AG_BUS_MAX_THREADS)
		return ag_err_set(err, AG_E_INVAL, "ag_bus_worker_start: stream, durable, handler and 1..%d threads",
		                  AG_BUS_MAX_THREADS);
	w = calloc(1, sizeof *w);
	if (!w)
		return ag_err_set(err, AG_E_NOMEM, "ag_bus_worker_start: out of memory");
	w->th = calloc((size_t)threads, sizeof *w->th);
	if (!w->th) {
		free(w);
		return ag_err_set(err, AG_E_NOMEM, "ag_bus_worker_start: out of memory");
	}
	if (pthread_condattr_init(&ca) != 0) {
		free(w->th);
		free(w);
		return ag_err_set(err, AG_E_INTERNAL, "ag_bus_worker_start: condattr");
	}
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	int rc = pthread_mutex_init(&w->mu, NULL);
	if (rc == 0 && (rc = pthread_cond_init(&w->cond, &ca)) != 0)
		pthread_mutex_destroy(&w->mu);
	pthread_condattr_destroy(&ca);
	if (rc != 0) {
		free(w->th);
		free(w);
		return ag_err_set(err, AG_E_INTERNAL, "ag_bus_worker_start: mutex/cond init");
	}
	sync_init = true;
	w->bus = b;
	memcpy(w->stream, stream, strlen(stream) + 1);
	memcpy(w->durable, durable, strlen(durable) + 1);
	w->fn = fn;
	w->ud = ud;
	w->nthreads = threads;
	atomic_init(&w->stop, false);
	atomic_init(&w->bound, 0);
	atomic_init(&w->busy, 0);
	atomic_init(&w->verify_idle_ms, WORKER_VERIFY_IDLE_MS);
	worker_metrics(w);

	for (int i = 0; i < threads; i++) {
		w->th[i].w = w;
		w->th[i].max_deliver = -1;
	}
	/* Bind now when NATS is up, so readiness is immediate and a missing consumer (ensure_consumer not
	 * called) fails loudly here; when NATS is down the threads bind once it is back. */
	if (ag_bus_connected(b)) {
		for (int i = 0; i < threads; i++) {
			ag_err be;
			ag_err_clear(&be);
			st = worker_bind(&w->th[i], &be);
			if (st == AG_E_NOTFOUND) {
				if (err)
					*err = be;
				goto out;
			}
			if (st != AG_OK)
				ag_log_warn("nats: worker %s: %s; binding in the background", durable, be.msg);
		}
	}
	for (int i = 0; i < threads; i++) {
		rc = pthread_create(&w->th[i].tid, NULL, worker_main, &w->th[i]);
		if (rc != 0) {
			st = ag_err_set(err, AG_E_INTERNAL, "ag_bus_worker_start: pthread_create: %s", strerror(rc));
			goto out;
		}
		w->started++;
	}
	*out = w;
	w = NULL;
	st = AG_OK;
out:
	if (w) {
		ag_bus_worker_stop(w);
		for (int i = 0; i < w->started; i++)
			pthread_join(w->th[i].tid, NULL);
		for (int i = w->started; i < threads; i++)
			worker_unbind(&w->th[i]);
		if (sync_init)
			worker_destroy(w);
	}
	return st;
}

void ag_bus_worker_stop(ag_bus_worker *w)
{
	if (!w)
		return;
	atomic_store(&w->stop, true);
	pthread_mutex_lock(&w->mu);
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->mu);
}

bool ag_bus_worker_join(ag_bus_worker *w, int timeout_ms)
{
	if (!w)
		return true;
	struct timespec dl = worker_deadline(timeout_ms > 0 ? timeout_ms : 0);
	pthread_mutex_lock(&w->mu);
	while (w->exited < w->started) {
		if (pthread_cond_timedwait(&w->cond, &w->mu, &dl) == ETIMEDOUT)
			break;
	}
	bool all = w->exited == w->started;
	pthread_mutex_unlock(&w->mu);
	if (all && !w->joined) {
		for (int i = 0; i < w->started; i++)
			pthread_join(w->th[i].tid, NULL);
		w->joined = true;
	}
	return all;
}

void ag_bus_worker_set_verify_idle_(ag_bus_worker *w, int ms)
{
	atomic_store(&w->verify_idle_ms, ms);
}

bool ag_bus_worker_bound(ag_bus_worker *w)
{
	return w && atomic_load(&w->bound) == w->nthreads;
}

int ag_bus_worker_busy(ag_bus_worker *w)
{
	return w ? atomic_load(&w->busy) : 0;
}

void ag_bus_worker_free(ag_bus_worker *w)
{
	if (!w)
		return;
	if (!w->joined && !ag_bus_worker_join(w, 0)) {
		/* Threads still use w; freeing it would crash them. The process is exiting anyway. */
		ag_log_error("nats: worker %s freed before its threads exited; leaking it", w->durable);
		return;
	}
	worker_destroy(w);
}

/* --- message accessors --- */

const void *ag_bus_msg_data(const ag_bus_msg *m, size_t *len)
{
	int n = natsMsg_GetDataLength(m->nm);
	if (len)
		*len = n > 0 ? (size_t)n : 0;
	return natsMsg_GetData(m->nm);
}

const char *ag_bus_msg_subject(const ag_bus_msg *m)
{
	return natsMsg_GetSubject(m->nm);
}

const char *ag_bus_msg_header(const ag_bus_msg *m, const char *key)
{
	const char *v = NULL;
	if (!key || natsMsgHeader_Get(m->nm, key, &v) != NATS_OK)
		return NULL;
	return v;
}

uint64_t ag_bus_msg_delivered(const ag_bus_msg *m)
{
	return m->delivered;
}

int ag_bus_msg_max_deliver(const ag_bus_msg *m)
{
	return m->max_deliver;
}

ag_status ag_bus_msg_in_progress(ag_bus_msg *m)
{
	natsStatus s = natsMsg_InProgress(m->nm, NULL);
	return ag_bus_status_(s, 0);
}
