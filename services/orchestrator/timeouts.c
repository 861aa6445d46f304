/*
 * timeouts.c - step timeouts (timeouts.h). The candidates are read without
 * locks; each is then re-checked and changed in its own transaction under
 * the job's row lock (FOR NO KEY UPDATE SKIP LOCKED, the lock flow.c takes,
 * so replicas and message handlers never wait on each other and never both
 * act on one step). After the commit the job is driven (intake_drive),
 * which publishes the new attempt's task or ends the job.
 */
#include "timeouts.h"

#include "aegis/log.h"
#include "aegis/str.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TIMEOUTS_DB_ACQUIRE_MS 10000
#define TIMEOUTS_NUM_MAX       24
#define TIMEOUTS_MEMBERS_MAX   96
#define TIMEOUTS_MSG_MAX       256 /* the expiry's error text */

struct timeouts {
	timeouts_cfg cfg;
	ag_counter *redriven[FLOW_STEPS];
	ag_counter *dead[FLOW_STEPS];
};

ag_status timeouts_new(timeouts **out, const timeouts_cfg *cfg, ag_metrics *metrics, ag_err *err)
{
	*out = NULL;
	timeouts *t = calloc(1, sizeof *t);
	if (!t)
		return ag_err_set(err, AG_E_NOMEM, "no memory for the step timeouts");
	t->cfg = *cfg;
	char labels[96];
	for (int i = 0; i < FLOW_STEPS; i++) {
		snprintf(labels, sizeof labels, "kind=\"step_timeout\",step=\"%s\"", flow_step_names[i]);
		t->redriven[i] = ag_metrics_counter(metrics, "aegis_sweeper_remediations_total",
		                                    "Jobs and steps the sweeper had to drive again, by kind", labels);
		snprintf(labels, sizeof labels, "kind=\"step_dead_lettered\",step=\"%s\"", flow_step_names[i]);
		t->dead[i] = ag_metrics_counter(metrics, "aegis_sweeper_remediations_total",
		                                "Jobs and steps the sweeper had to drive again, by kind", labels);
	}
	*out = t;
	return AG_OK;
}

void timeouts_free(timeouts *t)
{
	free(t);
}

/* Steps that look expired (no locks): job_id, name, attempt, state. */
static ag_status timeouts_candidates(timeouts *t, PGconn *c, PGresult **r, ag_err *err)
{
	static const char sql[] =
	        "SELECT s.job_id, s.name, s.attempt, s.state FROM job_steps s JOIN jobs j ON j.id = s.job_id "
	        "WHERE j.state = 'running' AND ((s.state = 'running' AND coalesce(s.heartbeat_at, s.started_at, "
	        "s.dispatched_at) < now() - (CASE s.name WHEN 'validate' THEN $1 WHEN 'metadata' THEN $2 "
	        "WHEN 'content' THEN $3 ELSE $4 END)::bigint * interval '1 millisecond') "
	        "OR (s.state = 'dispatched' AND s.dispatched_at < now() - $5::bigint * interval '1 millisecond')) "
	        "LIMIT $6";
	char v[6][TIMEOUTS_NUM_MAX];
	const char *p[6];
	for (int i = 0; i < FLOW_STEPS; i++)
		snprintf(v[i], sizeof v[i], "%lld", t->cfg.step_timeout_ms[i]);
	snprintf(v[4], sizeof v[4], "%lld", t->cfg.dispatch_timeout_ms);
	snprintf(v[5], sizeof v[5], "%d", TIMEOUTS_BATCH);
	for (int i = 0; i < 6; i++)
		p[i] = v[i];
	return ag_db_exec(c, sql, 6, p, r, err);
}

typedef enum { TIMEOUT_SKIPPED, TIMEOUT_REDRIVEN, TIMEOUT_DEAD } timeout_result;

/* Re-check and expire one step in a transaction. */
static ag_status timeouts_expire(timeouts *t, PGconn *c, const char *job, const char *step, const char *attempt,
                                 const char *state, timeout_result *res, flow_event *ev, char *evmsg, size_t evmsglen,
                                 ag_err *err)
{
	static const char sql_job[] = "SELECT 1 FROM jobs WHERE id = $1 AND state = 'running' "
	                              "FOR NO KEY UPDATE SKIP LOCKED";
	static const char sql_step[] =
	        "SELECT deliveries, coalesce(worker, ''), started_at FROM job_steps WHERE job_id = $1 AND name = $2 "
	        "AND attempt = $3 AND state = $4 AND ((state = 'running' AND coalesce(heartbeat_at, started_at, "
	        "dispatched_at) < now() - $5::bigint * interval '1 millisecond') OR (state = 'dispatched' AND "
	        "dispatched_at < now() - $6::bigint * interval '1 millisecond')) FOR UPDATE";
	static const char sql_attempt[] =
	        "INSERT INTO step_attempts (job_id, step, attempt, delivery, worker, outcome, error_code, error, "
	        "started_at) VALUES ($1, $2, $3, $4, nullif($5, ''), $6, 'timed_out', $7, $8)";
	static const char sql_redrive[] =
	        "UPDATE job_steps SET state = 'dispatched', attempt = attempt + 1, dispatched_at = now(), "
	        "started_at = NULL, heartbeat_at = NULL, finished_at = NULL, worker = NULL, deliveries = 0, "
	        "error_code = NULL, error = NULL WHERE job_id = $1 AND name = $2";
	static const char sql_fail[] = "UPDATE job_steps SET state = 'failed', error_code = 'timed_out', error = $3, "
	                               "finished_at = now() WHERE job_id = $1 AND name = $2";
	static const char sql_dead[] =
	        "INSERT INTO dead_letters (job_id, step, attempt, deliveries, error) VALUES ($1, $2, $3, $4, $5)";
	static const char sql_event[] = "INSERT INTO job_events (job_id, job_state, step, step_state, error) "
	                                "VALUES ($1, 'running', $2, $3, $4) "
	                                "RETURNING id, (extract(epoch FROM at) * 1000)::bigint";
	static const char sql_touch[] = "UPDATE jobs SET updated_at = now() WHERE id = $1";
	PGresult *r = NULL;
	bool in_tx = false;
	char timeout[TIMEOUTS_NUM_MAX], dispatch[TIMEOUTS_NUM_MAX], msg[TIMEOUTS_MSG_MAX];
	int k = -1;
	for (int i = 0; i < FLOW_STEPS; i++)
		if (strcmp(step, flow_step_names[i]) == 0)
			k = i;
	*res = TIMEOUT_SKIPPED;
	if (k < 0)
		return AG_OK;
	snprintf(timeout, sizeof timeout, "%lld", t->cfg.step_timeout_ms[k]);
	snprintf(dispatch, sizeof dispatch, "%lld", t->cfg.dispatch_timeout_ms);

	ag_status st = ag_db_begin(c, err);
	if (st != AG_OK)
		goto out;
	in_tx = true;
	const char *pj[] = {job};
	st = ag_db_exec(c, sql_job, 1, pj, &r, err);
	if (st != AG_OK || PQntuples(r) == 0)
		goto out; /* ended, or another replica / a handler has it now */
	PQclear(r);
	r = NULL;
	const char *ps[] = {job, step, attempt, state, timeout, dispatch};
	st = ag_db_exec(c, sql_step, 6, ps, &r, err);
	if (st != AG_OK || PQntuples(r) == 0)
		goto out; /* moved on since the candidates were read */
	bool running = strcmp(state, "running") == 0;
	long long n = ag_str_to_i64(attempt, 0);
	bool dead = n >= t->cfg.max_attempts;
	snprintf(msg, sizeof msg, "attempt %lld timed out: %s for %lld s%s", n,
	         running ? "running with no heartbeat" : "dispatched and not claimed",
	         (running ? t->cfg.step_timeout_ms[k] : t->cfg.dispatch_timeout_ms) / 1000,
	         dead ? "; no attempts left" : "");
	const char *pa[] = {job,
	                    step,
	                    attempt,
	                    PQgetvalue(r, 0, 0),
	                    PQgetvalue(r, 0, 1),
	                    dead ? "dead_lettered" : "timed_out",
	                    msg,
	                    PQgetisnull(r, 0, 2) ? NULL : PQgetvalue(r, 0, 2)};
	st = ag_db_exec(c, sql_attempt, 8, pa, NULL, err);
	if (st != AG_OK)
		goto out;
	if (dead) {
		const char *pf[] = {job, step, msg};
		const char *pd[] = {job, step, attempt, PQgetvalue(r, 0, 0), msg};
		st = ag_db_exec(c, sql_fail, 3, pf, NULL, err);
		if (st == AG_OK)
			st = ag_db_exec(c, sql_dead, 5, pd, NULL, err);
	} else {
		const char *pr[] = {job, step};
		st = ag_db_exec(c, sql_redrive, 2, pr, NULL, err);
	}
	if (st != AG_OK)
		goto out;
	const char *pe[] = {job, step, dead ? "failed" : "dispatched", msg};
	PQclear(r);
	r = NULL;
	st = ag_db_exec(c, sql_event, 4, pe, &r, err);
	if (st == AG_OK) {
		ev->id = ag_str_to_i64(PQgetvalue(r, 0, 0), 0);
		ev->at_ms = ag_str_to_i64(PQgetvalue(r, 0, 1), 0);
		ag_str_copy(ev->job_state, sizeof ev->job_state, "running");
		ev->step = flow_step_names[k];
		ag_str_copy(ev->step_state, sizeof ev->step_state, dead ? "failed" : "dispatched");
		ag_str_copy(evmsg, evmsglen, msg);
		ev->error = evmsg;
	}
	if (st == AG_OK)
		st = ag_db_exec(c, sql_touch, 1, pj, NULL, err);
	if (st == AG_OK)
		st = ag_db_commit(c, err);
	in_tx = false;
	if (st != AG_OK)
		goto out;
	*res = dead ? TIMEOUT_DEAD : TIMEOUT_REDRIVEN;
	char members[TIMEOUTS_MEMBERS_MAX];
	snprintf(members, sizeof members, "\"job_id\":\"%s\",\"step\":\"%s\",\"attempt\":%lld", job, step, n);
	ag_log_writex(dead ? AG_LOG_ERROR : AG_LOG_WARN, members, "sweeper: %s; %s", msg,
	              dead ? "step dead-lettered" : "dispatched again with the next attempt");
out:
	PQclear(r);
	if (in_tx)
		ag_db_rollback(c);
	return st;
}

ag_status timeouts_round(timeouts *t, intake *in, ag_db_pool *db, int *redriven, int *dead, ag_err *err)
{
	PGconn *c = NULL;
	PGresult *r = NULL;
	int nr = 0, nd = 0;
	ag_status st = ag_db_acquire(db, &c, TIMEOUTS_DB_ACQUIRE_MS, err);
	if (st != AG_OK)
		goto out;
	st = timeouts_candidates(t, c, &r, err);
	for (int i = 0; st == AG_OK && i < PQntuples(r); i++) {
		const char *job = PQgetvalue(r, i, 0), *step = PQgetvalue(r, i, 1);
		timeout_result res = TIMEOUT_SKIPPED;
		flow_event ev;
		char evmsg[TIMEOUTS_MSG_MAX];
		memset(&ev, 0, sizeof ev);
		ag_err e;
		ag_err_clear(&e);
		if (timeouts_expire(t, c, job, step, PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), &res, &ev, evmsg,
		                    sizeof evmsg, &e) != AG_OK) {
			ag_log_warn("sweeper: cannot expire step %s of job %s: %s", step, job, e.msg);
			continue;
		}
		if (res == TIMEOUT_SKIPPED)
			continue;
		int k = flow_step_id(step) - AEGIS__V1__STEP__STEP_VALIDATE;
		if (k >= 0 && k < FLOW_STEPS)
			ag_counter_inc(res == TIMEOUT_DEAD ? t->dead[k] : t->redriven[k]);
		if (res == TIMEOUT_DEAD)
			nd++;
		else
			nr++;
		if (intake_publish_event(in, job, &ev, &e) != AG_OK)
			ag_log_warn("sweeper: step %s of job %s expired but its event was not published: %s", step, job,
			            e.msg);
		ag_err_clear(&e);
		/* Publish the new attempt's task, or end the job; a failure here is the sweeper's again next round. */
		if (intake_drive(in, job, &e) != AG_OK)
			ag_log_warn("sweeper: cannot drive job %s after expiring %s: %s", job, step, e.msg);
	}
out:
	if (c)
		ag_db_release(db, c);
	PQclear(r);
	if (redriven)
		*redriven = nr;
	if (dead)
		*dead = nd;
	return st;
}
