/*
 * gauges.c - jobs by state and JetStream consumer backlog as gauges
 * (gauges.h). The job query is one GROUP BY over jobs: an index-less scan
 * whose cost grows with the table, which is why its interval is a setting.
 * States absent from the answer are set to 0, so a gauge never shows a stale
 * count. A refresh that fails leaves the previous figures and logs once per
 * failure streak.
 */
#include "gauges.h"

#include "bgwait.h"

#include "aegis/cfg.h"
#include "aegis/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define GAUGES_DB_ACQUIRE_MS 5000
#define GAUGES_LABEL_MAX     320
#define GAUGES_NAME_MAX      64

static const char *const gauges_states[] = {"queued", "running", "succeeded", "failed", "rejected", "cancelled"};
#define GAUGES_STATES (sizeof gauges_states / sizeof gauges_states[0])

typedef struct gauges_watch {
	char stream[GAUGES_NAME_MAX];
	char durable[GAUGES_NAME_MAX];
	ag_gauge *pending;
	ag_gauge *ack_pending;
} gauges_watch;

struct gauges {
	ag_db_pool *db;
	ag_bus *bus;
	ag_gauge *jobs[GAUGES_STATES];
	gauges_watch watch[GAUGES_MAX_CONSUMERS];
	size_t nwatch;
	long long interval_ms;
	bool started;
	bool failing; /* the last refresh failed: log the next failure at debug only */
	pthread_t tid;
	pthread_mutex_t mu;
	pthread_cond_t cond; /* CLOCK_MONOTONIC; signalled on stop */
	atomic_bool stop;
	atomic_bool exited;
};

ag_status gauges_new(gauges **out, ag_db_pool *db, ag_bus *bus, ag_metrics *metrics, const gauges_consumer *consumers,
                     size_t nconsumers, ag_err *err)
{
	*out = NULL;
	if (!db || !bus || nconsumers > GAUGES_MAX_CONSUMERS || (nconsumers && !consumers))
		return ag_err_set(err, AG_E_INVAL, "gauges: db, bus and at most %d consumers required",
		                  GAUGES_MAX_CONSUMERS);
	for (size_t i = 0; i < nconsumers; i++)
		if (!consumers[i].stream || !consumers[i].durable || strlen(consumers[i].stream) >= GAUGES_NAME_MAX ||
		    strlen(consumers[i].durable) >= GAUGES_NAME_MAX)
			return ag_err_set(err, AG_E_INVAL,
			                  "gauges: consumer %zu needs a stream and a durable under %d bytes", i,
			                  GAUGES_NAME_MAX);
	gauges *g = calloc(1, sizeof *g);
	if (!g)
		return ag_err_set(err, AG_E_NOMEM, "no memory for the gauges");
	g->db = db;
	g->bus = bus;
	for (size_t i = 0; i < GAUGES_STATES; i++) {
		char labels[GAUGES_LABEL_MAX];
		snprintf(labels, sizeof labels, "state=\"%s\"", gauges_states[i]);
		g->jobs[i] = ag_metrics_gauge(metrics, "aegis_jobs",
		                              "Jobs by state (refreshed every ORCH_GAUGE_INTERVAL_MS)", labels);
	}
	for (size_t i = 0; i < nconsumers; i++) {
		gauges_watch *w = &g->watch[i];
		char labels[GAUGES_LABEL_MAX], es[GAUGES_NAME_MAX * 2], ed[GAUGES_NAME_MAX * 2];
		memcpy(w->stream, consumers[i].stream, strlen(consumers[i].stream) + 1);
		memcpy(w->durable, consumers[i].durable, strlen(consumers[i].durable) + 1);
		ag_metrics_label_escape(w->stream, es, sizeof es);
		ag_metrics_label_escape(w->durable, ed, sizeof ed);
		snprintf(labels, sizeof labels, "stream=\"%s\",consumer=\"%s\"", es, ed);
		w->pending = ag_metrics_gauge(metrics, "aegis_bus_consumer_pending",
		                              "Messages in the stream not yet delivered to the consumer", labels);
		w->ack_pending =
		        ag_metrics_gauge(metrics, "aegis_bus_consumer_ack_pending",
		                         "Messages delivered to the consumer and not yet acknowledged", labels);
	}
	g->nwatch = nconsumers;
	atomic_init(&g->stop, false);
	atomic_init(&g->exited, false);
	*out = g;
	return AG_OK;
}

static ag_status gauges_refresh_jobs(gauges *g, ag_err *err)
{
	static const char sql[] = "SELECT state, count(*) FROM jobs GROUP BY state";
	PGconn *c = NULL;
	PGresult *r = NULL;
	double counts[GAUGES_STATES] = {0};

	ag_status st = ag_db_acquire(g->db, &c, GAUGES_DB_ACQUIRE_MS, err);
	if (st != AG_OK)
		return st;
	st = ag_db_exec(c, sql, 0, NULL, &r, err);
	ag_db_release(g->db, c);
	if (st != AG_OK)
		goto out;
	for (int row = 0; row < PQntuples(r); row++) {
		const char *state = PQgetvalue(r, row, 0);
		long long n = 0;
		if (!ag_cfg_parse_ll(PQgetvalue(r, row, 1), 0, INT64_MAX, &n))
			continue;
		for (size_t i = 0; i < GAUGES_STATES; i++)
			if (strcmp(state, gauges_states[i]) == 0)
				counts[i] = (double)n;
	}
	for (size_t i = 0; i < GAUGES_STATES; i++)
		ag_gauge_set(g->jobs[i], counts[i]);
out:
	PQclear(r);
	return st;
}

ag_status gauges_refresh(gauges *g, ag_err *err)
{
	ag_status first = gauges_refresh_jobs(g, err);
	/* Disconnected, each call would wait out its 5 s timeout: keep the last figures instead. */
	if (g->nwatch > 0 && !ag_bus_connected(g->bus)) {
		if (first == AG_OK)
			first = ag_err_set(err, AG_E_UNAVAILABLE, "gauges: NATS not connected; consumer figures kept");
		return first;
	}
	for (size_t i = 0; i < g->nwatch && !atomic_load(&g->stop); i++) { /* a drain waits for one call at most */
		gauges_watch *w = &g->watch[i];
		ag_bus_consumer_info ci;
		ag_err e;
		ag_err_clear(&e);
		ag_status st = ag_bus_consumer_info_get(g->bus, w->stream, w->durable, &ci, &e);
		if (st == AG_E_NOTFOUND)
			continue; /* its workers have not started yet */
		if (st != AG_OK) {
			if (first == AG_OK) {
				first = st;
				if (err)
					*err = e;
			}
			continue;
		}
		ag_gauge_set(w->pending, (double)ci.pending);
		ag_gauge_set(w->ack_pending, (double)ci.ack_pending);
	}
	return first;
}

static void *gauges_main(void *arg)
{
	gauges *g = arg;
	for (;;) {
		ag_err err;
		ag_err_clear(&err);
		if (gauges_refresh(g, &err) != AG_OK) {
			if (!g->failing)
				ag_log_warn("gauges: refresh failed (figures kept): %s", err.msg);
			else
				ag_log_debug("gauges: refresh failed again: %s", err.msg);
			g->failing = true;
		} else {
			g->failing = false;
		}
		(void)bgwait(&g->mu, &g->cond, &g->stop, g->interval_ms);
		if (atomic_load(&g->stop))
			break;
	}
	pthread_mutex_lock(&g->mu);
	atomic_store(&g->exited, true);
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->mu);
	return NULL;
}

ag_status gauges_start(gauges *g, long long interval_ms, ag_err *err)
{
	if (!g || g->started || interval_ms < 1)
		return ag_err_set(err, AG_E_INVAL, "gauges: a positive interval and a gauges object not started");
	g->interval_ms = interval_ms;
	pthread_mutex_init(&g->mu, NULL);
	bgwait_cond_init(&g->cond);
	int rc = pthread_create(&g->tid, NULL, gauges_main, g);
	if (rc != 0) {
		pthread_cond_destroy(&g->cond);
		pthread_mutex_destroy(&g->mu);
		return ag_err_set(err, AG_E_INTERNAL, "gauges: pthread_create failed (%d)", rc);
	}
	g->started = true;
	return AG_OK;
}

void gauges_drain_begin(void *ud)
{
	gauges *g = ud;
	if (!g || !g->started)
		return;
	atomic_store(&g->stop, true);
	pthread_mutex_lock(&g->mu);
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->mu);
}

bool gauges_drained(void *ud)
{
	gauges *g = ud;
	return !g || !g->started || atomic_load(&g->exited);
}

bool gauges_stop(gauges *g, int timeout_ms)
{
	if (!g || !g->started)
		return true;
	gauges_drain_begin(g);
	bool done = bgwait(&g->mu, &g->cond, &g->exited, timeout_ms);
	return done;
}

void gauges_free(gauges *g)
{
	if (!g)
		return;
	if (g->started) {
		gauges_drain_begin(g);
		pthread_join(g->tid, NULL);
		pthread_cond_destroy(&g->cond);
		pthread_mutex_destroy(&g->mu);
	}
	free(g);
}
