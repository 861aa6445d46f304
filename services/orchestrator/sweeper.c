/*
 * sweeper.c - drives jobs that stopped moving (sweeper.h). A round claims
 * its batch by bumping jobs.updated_at in one statement (SKIP LOCKED, so
 * replicas and the message handlers never wait on each other), which also
 * spaces out the next look at the same job by stuck_after.
 */
#include "sweeper.h"

#include "bgwait.h"

#include "aegis/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SWEEPER_DB_ACQUIRE_MS 10000
#define SWEEPER_NUM_MAX       24

/* What driving a stuck job turned out to be. */
enum sweeper_kind { SWEEP_UNPUBLISHED, SWEEP_NOT_FOLLOWED, SWEEP_REPUBLISHED, SWEEP_KINDS };
static const char *const sweeper_kind_names[SWEEP_KINDS] = {"unpublished", "result_not_followed", "republished"};

struct sweeper {
	intake *in;
	ag_db_pool *db;
	timeouts *to;
	ag_counter *kinds[SWEEP_KINDS];
	long long interval_ms, stuck_after_ms;
	pthread_t tid;
	pthread_mutex_t mu;
	pthread_cond_t cond; /* CLOCK_MONOTONIC; signalled on stop */
	atomic_bool stop;
	atomic_bool exited;
};

static ag_status sweeper_round_counted(intake *in, ag_db_pool *db, long long stuck_after_ms, ag_counter **kinds,
                                       int *driven, ag_err *err)
{
	static const char sql[] =
	        "UPDATE jobs SET updated_at = now() WHERE id IN (SELECT id FROM jobs WHERE state IN ('queued', "
	        "'running') "
	        "AND updated_at < now() - $1::bigint * interval '1 millisecond' ORDER BY updated_at LIMIT $2 "
	        "FOR UPDATE SKIP LOCKED) RETURNING id, state";
	PGconn *c = NULL;
	PGresult *r = NULL;
	char stuck[SWEEPER_NUM_MAX], batch[SWEEPER_NUM_MAX];
	int ok = 0;
	snprintf(stuck, sizeof stuck, "%lld", stuck_after_ms);
	snprintf(batch, sizeof batch, "%d", SWEEPER_BATCH);
	const char *p[] = {stuck, batch};

	ag_status st = ag_db_acquire(db, &c, SWEEPER_DB_ACQUIRE_MS, err);
	if (st != AG_OK)
		goto out;
	st = ag_db_exec(c, sql, 2, p, &r, err);
	ag_db_release(db, c);
	if (st != AG_OK)
		goto out;
	if (PQntuples(r) > 0)
		ag_log_info("sweeper: driving %d job(s) unchanged for %lld ms", PQntuples(r), stuck_after_ms);
	for (int i = 0; i < PQntuples(r); i++) {
		ag_err e;
		ag_err_clear(&e);
		const char *id = PQgetvalue(r, i, 0);
		bool queued = strcmp(PQgetvalue(r, i, 1), "queued") == 0, advanced = false;
		char members[64];
		snprintf(members, sizeof members, "\"job_id\":\"%s\"", id);
		if (intake_drive_ex(in, id, &advanced, &e) == AG_OK) {
			ok++;
			enum sweeper_kind k = queued     ? SWEEP_UNPUBLISHED
			                      : advanced ? SWEEP_NOT_FOLLOWED
			                                 : SWEEP_REPUBLISHED;
			if (kinds)
				ag_counter_inc(kinds[k]);
			if (k != SWEEP_REPUBLISHED)
				ag_log_writex(
				        AG_LOG_WARN, members, "sweeper: %s",
				        k == SWEEP_UNPUBLISHED
				                ? "job was recorded but never started; dispatched now"
				                : "a committed step result had not been followed up; job advanced");
		} else {
			ag_log_writex(AG_LOG_WARN, members, "sweeper: cannot drive the job: %s", e.msg);
		}
	}
out:
	PQclear(r);
	if (driven)
		*driven = ok;
	return st;
}

ag_status sweeper_round(intake *in, ag_db_pool *db, long long stuck_after_ms, int *driven, ag_err *err)
{
	return sweeper_round_counted(in, db, stuck_after_ms, NULL, driven, err);
}

static void *sweeper_main(void *arg)
{
	sweeper *s = arg;
	for (;;) {
		(void)bgwait(&s->mu, &s->cond, &s->stop, s->interval_ms);
		if (atomic_load(&s->stop))
			break;
		ag_err err;
		ag_err_clear(&err);
		if (s->to && timeouts_round(s->to, s->in, s->db, NULL, NULL, &err) != AG_OK)
			ag_log_warn("sweeper: step timeouts round failed: %s", err.msg);
		ag_err_clear(&err);
		if (sweeper_round_counted(s->in, s->db, s->stuck_after_ms, s->kinds, NULL, &err) != AG_OK)
			ag_log_warn("sweeper: round failed: %s", err.msg);
	}
	pthread_mutex_lock(&s->mu);
	atomic_store(&s->exited, true);
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

ag_status sweeper_start(sweeper **out, intake *in, ag_db_pool *db, timeouts *to, ag_metrics *metrics,
                        long long interval_ms, long long stuck_after_ms, ag_err *err)
{
	*out = NULL;
	if (interval_ms < 1 || stuck_after_ms < 1)
		return ag_err_set(err, AG_E_INVAL, "sweeper: interval and stuck-after must be positive");
	sweeper *s = calloc(1, sizeof *s);
	if (!s)
		return ag_err_set(err, AG_E_NOMEM, "no memory for the sweeper");
	s->in = in;
	s->db = db;
	s->to = to;
	for (int k = 0; k < SWEEP_KINDS; k++) {
		char labels[64];
		snprintf(labels, sizeof labels, "kind=\"%s\"", sweeper_kind_names[k]);
		s->kinds[k] = ag_metrics_counter(metrics, "aegis_sweeper_remediations_total",
		                                 "Jobs and steps the sweeper had to drive again, by kind", labels);
	}
	s->interval_ms = interval_ms;
	s->stuck_after_ms = stuck_after_ms;
	atomic_init(&s->stop, false);
	atomic_init(&s->exited, false);
	pthread_mutex_init(&s->mu, NULL);
	bgwait_cond_init(&s->cond);
	int rc = pthread_create(&s->tid, NULL, sweeper_main, s);
	if (rc != 0) {
		pthread_cond_destroy(&s->cond);
		pthread_mutex_destroy(&s->mu);
		free(s);
		return ag_err_set(err, AG_E_INTERNAL, "sweeper: pthread_create failed (%d)", rc);
	}
	*out = s;
	return AG_OK;
}

void sweeper_drain_begin(void *ud)
{
	sweeper *s = ud;
	atomic_store(&s->stop, true);
	pthread_mutex_lock(&s->mu);
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->mu);
}

bool sweeper_drained(void *ud)
{
	sweeper *s = ud;
	return atomic_load(&s->exited);
}

bool sweeper_stop(sweeper *s, int timeout_ms)
{
	if (!s)
		return true;
	sweeper_drain_begin(s);
	bool done = bgwait(&s->mu, &s->cond, &s->exited, timeout_ms);
	return done;
}

void sweeper_free(sweeper *s)
{
	if (!s)
		return;
	sweeper_drain_begin(s);
	pthread_join(s->tid, NULL);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->mu);
	free(s);
}
