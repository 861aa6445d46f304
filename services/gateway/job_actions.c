/*
 * job_actions.c - cancel, retry, reprocess and the dead-letter listing (see
 * job_actions.h). Each runs one transaction on the thread pool under the
 * job's row lock (FOR NO KEY UPDATE, the lock the orchestrator takes), so a
 * request and the orchestrator never both move one job. Cancelling works
 * through the fences the workers already respect: a cancelled job's steps
 * are `cancelled`/`skipped`, so no further step is claimed and a running
 * step's outcome no longer matches and is dropped with its writes. Retry
 * and reprocess commit, then announce the job on aegis.jobs.submitted; a
 * lost announcement leaves a queued job that the orchestrator's sweeper
 * drives.
 */
#include "job_actions.h"

#include "gateway.h"
#include "uuid.h"

#include "aegis/log.h"
#include "aegis/str.h"
#include "aegis/trace.h"
#include "aegis/v1/pipeline.pb-c.h"
#include "job_events.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ACT_LIST_DEFAULT 50  /* dead letters per page unless ?limit= */
#define ACT_LIST_MAX     500 /* largest ?limit= */
#define ACT_MSG_ID_MAX   96
#define ACT_PROBLEM_MAX  160

typedef enum { ACT_CANCEL, ACT_RETRY, ACT_REPROCESS, ACT_DEAD_LETTERS } act_kind;

typedef struct act_call {
	gateway *gw;
	act_kind kind;
	ag_trace trace;
	char owner[UUID_TEXT_LEN + 1];
	char id[UUID_TEXT_LEN + 1];
	char new_job[UUID_TEXT_LEN + 1];
	long long limit;
	ag_status st;
	ag_err err;
	int status; /* answer when st == AG_OK */
	char problem[ACT_PROBLEM_MAX];
	char events[JOB_EVENTS_IDS_MAX]; /* job_events ids written, published after COMMIT */
	json_t *body;
} act_call;

static void act_problem(act_call *c, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void act_problem(act_call *c, int status, const char *fmt, ...)
{
	va_list ap;
	c->status = status;
	va_start(ap, fmt);
	vsnprintf(c->problem, sizeof c->problem, fmt, ap);
	va_end(ap);
}

/* Announce job `job` (best effort: the sweeper drives a queued job whose announcement was lost). */
static void act_announce(act_call *c, const char *job, const char *msg_id)
{
	Aegis__V1__JobSubmitted msg = AEGIS__V1__JOB_SUBMITTED__INIT;
	char tp[AG_TRACEPARENT_LEN + 1];
	struct timespec now;
	ag_err err;
	ag_err_clear(&err);
	ag_trace_format(&c->trace, tp, sizeof tp);
	clock_gettime(CLOCK_REALTIME, &now);
	msg.job_id = (char *)job;
	msg.traceparent = tp;
	msg.submitted_at_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
	size_t len = aegis__v1__job_submitted__get_packed_size(&msg);
	uint8_t *buf = malloc(len ? len : 1);
	ag_status st = AG_E_NOMEM;
	if (buf) {
		aegis__v1__job_submitted__pack(&msg, buf);
		st = ag_bus_publish(c->gw->bus, AG_SUBJ_JOB_SUBMITTED, buf, len, msg_id, &c->trace, &err);
	}
	if (st != AG_OK)
		ag_log_warn("job %s queued but not announced (%s); the orchestrator's sweeper will pick it up", job,
		            err.msg[0] ? err.msg : ag_status_str(st));
	free(buf);
}

/* Lock the caller's job; *state gets its state, "" when it is not theirs or does not exist. */
static ag_status act_lock_job(act_call *c, PGconn *conn, char *state, size_t statelen)
{
	PGresult *r = NULL;
	const char *p[] = {c->id, c->owner};
	ag_status st = ag_db_exec(conn, "SELECT state FROM jobs WHERE id = $1 AND owner_id = $2 FOR NO KEY UPDATE", 2,
	                          p, &r, &c->err);
	state[0] = 0;
	if (st == AG_OK && PQntuples(r) == 1)
		ag_str_copy(state, statelen, PQgetvalue(r, 0, 0));
	PQclear(r);
	return st;
}

static ag_status act_cancel_tx(act_call *c, PGconn *conn)
{
	static const char sql_job[] =
	        "UPDATE jobs SET state = 'cancelled', error_code = 'cancelled', error = 'cancelled by the user', "
	        "finished_at = now(), updated_at = now() WHERE id = $1";
	static const char sql_steps[] =
	        "UPDATE job_steps SET state = CASE WHEN state = 'pending' THEN 'skipped' ELSE 'cancelled' END, "
	        "finished_at = now() WHERE job_id = $1 AND state IN ('pending', 'dispatched', 'running') "
	        "RETURNING name, state";
	static const char sql_event[] = "INSERT INTO job_events (job_id, job_state, step, step_state, error) "
	                                "SELECT $1, 'cancelled', name, state, NULL FROM job_steps "
	                                "WHERE job_id = $1 AND name = ANY($2::text[]) RETURNING id";
	static const char sql_final[] = "INSERT INTO job_events (job_id, job_state, error) "
	                                "VALUES ($1, 'cancelled', 'cancelled by the user') RETURNING id";
	char state[32];
	PGresult *r = NULL;
	ag_status st = act_lock_job(c, conn, state, sizeof state);
	if (st != AG_OK)
		return st;
	if (!state[0]) {
		act_problem(c, 404, "job not found");
		return AG_OK;
	}
	if (strcmp(state, "cancelled") == 0)
		goto answer;
	if (strcmp(state, "queued") != 0 && strcmp(state, "running") != 0) {
		act_problem(c, 409, "the job already ended (%s); nothing to cancel", state);
		return AG_OK;
	}
	const char *p[] = {c->id, NULL};
	st = ag_db_exec(conn, sql_job, 1, p, NULL, &c->err);
	if (st == AG_OK)
		st = ag_db_exec(conn, sql_steps, 1, p, &r, &c->err);
	if (st != AG_OK)
		goto out;
	char names[64] = "{";
	for (int i = 0; i < PQntuples(r); i++) {
		size_t n = strlen(names);
		snprintf(names + n, sizeof names - n, "%s%s", i ? "," : "", PQgetvalue(r, i, 0));
	}
	size_t n = strlen(names);
	snprintf(names + n, sizeof names - n, "}");
	p[1] = names;
	PQclear(r);
	r = NULL;
	st = ag_db_exec(conn, sql_event, 2, p, &r, &c->err);
	for (int i = 0; st == AG_OK && i < PQntuples(r); i++)
		job_events_note(c->events, sizeof c->events, PQgetvalue(r, i, 0));
	PQclear(r);
	r = NULL;
	if (st == AG_OK)
		st = ag_db_exec(conn, sql_final, 1, p, &r, &c->err);
	if (st != AG_OK)
		goto out;
	job_events_note(c->events, sizeof c->events, PQgetvalue(r, 0, 0));
	ag_log_info("job %s cancelled by its owner", c->id);
answer:
	c->status = 200;
	c->body = json_pack("{s:s, s:s}", "id", c->id, "state", "cancelled");
out:
	PQclear(r);
	return st;
}

static ag_status act_retry_tx(act_call *c, PGconn *conn)
{
	static const char sql_steps[] = "UPDATE job_steps SET state = 'pending', deliveries = 0, worker = NULL, "
	                                "error_code = NULL, error = NULL, "
	                                "started_at = NULL, finished_at = NULL, heartbeat_at = NULL "
	                                "WHERE job_id = $1 AND state NOT IN ('succeeded', 'pending') RETURNING name";
	static const char sql_job[] = "UPDATE jobs SET state = 'queued', error_code = NULL, error = NULL, "
	                              "finished_at = NULL, updated_at = now() WHERE id = $1";
	static const char sql_event[] = "INSERT INTO job_events (job_id, job_state, error) "
	                                "VALUES ($1, 'queued', 'retry requested') RETURNING id";
	char state[32], msg_id[ACT_MSG_ID_MAX];
	PGresult *r = NULL, *ev = NULL;
	ag_status st = act_lock_job(c, conn, state, sizeof state);
	if (st != AG_OK)
		return st;
	if (!state[0]) {
		act_problem(c, 404, "job not found");
		return AG_OK;
	}
	if (strcmp(state, "failed") != 0 && strcmp(state, "cancelled") != 0) {
		act_problem(c, 409, "only a failed or cancelled job can be retried; this one is %s", state);
		return AG_OK;
	}
	const char *p[] = {c->id};
	st = ag_db_exec(conn, sql_steps, 1, p, &r, &c->err);
	if (st == AG_OK)
		st = ag_db_exec(conn, sql_job, 1, p, NULL, &c->err);
	if (st == AG_OK)
		st = ag_db_exec(conn, sql_event, 1, p, &ev, &c->err);
	if (st != AG_OK)
		goto out;
	json_t *steps = json_array();
	for (int i = 0; i < PQntuples(r); i++)
		json_array_append_new(steps, json_string(PQgetvalue(r, i, 0)));
	c->status = 202;
	c->body = json_pack("{s:s, s:s, s:o}", "id", c->id, "state", "queued", "redriven_steps", steps);
	snprintf(msg_id, sizeof msg_id, "%s:retry:%s", c->id, PQgetvalue(ev, 0, 0));
	ag_str_copy(c->new_job, sizeof c->new_job, c->id);
	job_events_note(c->events, sizeof c->events, PQgetvalue(ev, 0, 0));
	ag_str_copy(c->problem, sizeof c->problem, msg_id); /* the announcement's message id, used after COMMIT */
out:
	PQclear(r);
	PQclear(ev);
	return st;
}

static ag_status act_reprocess_tx(act_call *c, PGconn *conn)
{
	PGresult *r = NULL;
	char tp[AG_TRACEPARENT_LEN + 1];
	const char *p[] = {c->id, c->owner};
	ag_status st = ag_db_exec(conn, "SELECT id FROM documents WHERE id = $1 AND owner_id = $2 FOR UPDATE", 2, p, &r,
	                          &c->err);
	if (st != AG_OK)
		goto out;
	if (PQntuples(r) == 0) {
		act_problem(c, 404, "document not found");
		goto out;
	}
	PQclear(r);
	r = NULL;
	st = ag_db_exec(conn,
	                "SELECT id FROM jobs WHERE document_id = $1 AND state IN ('queued', 'running') "
	                "ORDER BY created_at DESC LIMIT 1",
	                1, p, &r, &c->err);
	if (st != AG_OK)
		goto out;
	if (PQntuples(r) > 0) {
		act_problem(c, 409, "job %s of this document is still in progress; cancel it or wait",
		            PQgetvalue(r, 0, 0));
		goto out;
	}
	uuid_v4(c->new_job);
	ag_trace_format(&c->trace, tp, sizeof tp);
	const char *pj[] = {c->new_job, c->owner, c->id, tp};
	st = ag_db_exec(
	        conn,
	        "INSERT INTO jobs (id, owner_id, document_id, state, traceparent) VALUES ($1, $2, $3, 'queued', $4)", 4,
	        pj, NULL, &c->err);
	if (st != AG_OK)
		goto out;
	c->status = 202;
	c->body = json_pack("{s:s, s:s}", "job_id", c->new_job, "document_id", c->id);
	ag_str_copy(c->problem, sizeof c->problem, c->new_job);
out:
	PQclear(r);
	return st;
}

static ag_status act_dead_letters(act_call *c, PGconn *conn)
{
	static const char sql[] =
	        "SELECT d.id, d.job_id, j.document_id, j.owner_id, d.step, d.attempt, d.deliveries, d.error, "
	        "j.state, " GATEWAY_SQL_TS("d.created_at") " FROM dead_letters d JOIN jobs j ON j.id = d.job_id "
	                                                   "ORDER BY d.created_at DESC, d.id DESC LIMIT $1";
	char limit[24];
	PGresult *r = NULL;
	snprintf(limit, sizeof limit, "%lld", c->limit);
	const char *p[] = {limit};
	ag_status st = ag_db_exec(conn, sql, 1, p, &r, &c->err);
	if (st != AG_OK)
		goto out;
	json_t *items = json_array();
	for (int i = 0; i < PQntuples(r); i++)
		json_array_append_new(
		        items, json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "id",
		                         gateway_json_int(r, i, 0), "job_id", gateway_json_text(r, i, 1), "document_id",
		                         gateway_json_text(r, i, 2), "owner_id", gateway_json_text(r, i, 3), "step",
		                         gateway_json_text(r, i, 4), "attempt", gateway_json_int(r, i, 5), "deliveries",
		                         gateway_json_int(r, i, 6), "error", gateway_json_text(r, i, 7), "job_state",
		                         gateway_json_text(r, i, 8), "created_at", gateway_json_text(r, i, 9)));
	c->status = 200;
	c->body = json_pack("{s:o}", "items", items);
out:
	PQclear(r);
	return st;
}

static void act_work(void *ud)
{
	act_call *c = ud;
	PGconn *conn = NULL;
	bool tx = false;
	ag_trace_set_current(&c->trace);
	ag_err_clear(&c->err);
	c->st = ag_db_acquire(c->gw->db, &conn, GATEWAY_DB_TIMEOUT_MS, &c->err);
	if (c->st != AG_OK)
		goto out;
	if (c->kind == ACT_DEAD_LETTERS) {
		c->st = act_dead_letters(c, conn);
		goto out;
	}
	c->st = ag_db_begin(conn, &c->err);
	if (c->st != AG_OK)
		goto out;
	tx = true;
	if (c->kind == ACT_CANCEL)
		c->st = act_cancel_tx(c, conn);
	else if (c->kind == ACT_RETRY)
		c->st = act_retry_tx(c, conn);
	else
		c->st = act_reprocess_tx(c, conn);
	if (c->st != AG_OK || c->status >= 400)
		goto out;
	c->st = ag_db_commit(conn, &c->err);
	tx = false;
	if (c->st == AG_OK)
		job_events_publish(c->gw->bus, conn, c->id, c->events, &c->trace);
	if (c->st == AG_OK && c->new_job[0])
		act_announce(c, c->new_job, c->problem);
out:
	if (tx)
		ag_db_rollback(conn);
	if (conn)
		ag_db_release(c->gw->db, conn);
	if (c->st != AG_OK || c->status >= 400) {
		json_decref(c->body);
		c->body = NULL;
	}
	ag_trace_set_current(NULL);
}

static void act_done(ag_http_req *req, void *ud)
{
	act_call *c = ud;
	if (c->st != AG_OK)
		gateway_respond_error(req, c->st, &c->err, "the database");
	else if (c->status >= 400)
		ag_http_respond_problem(req, c->status, "%s", c->problem);
	else if (!c->body)
		ag_http_respond_problem(req, 500, "could not build the answer");
	else {
		if (c->kind == ACT_REPROCESS || c->kind == ACT_RETRY) {
			char location[64];
			snprintf(location, sizeof location, "/v1/jobs/%s", c->new_job);
			ag_http_resp_header(req, "Location", location);
		}
		ag_http_respond_json(req, c->status, c->body);
		c->body = NULL;
	}
	free(c);
}

static void act_start(ag_http_req *req, const ag_jwt_claims *claims, void *ud, act_kind kind)
{
	act_call *c;
	const char *id = ag_http_req_param(req, 0);
	if (!claims)
		return;
	if (kind == ACT_DEAD_LETTERS && strcmp(claims->role, "admin") != 0) {
		ag_http_respond_problem(req, 403, "listing dead letters needs the admin role");
		return;
	}
	if (kind != ACT_DEAD_LETTERS && !uuid_valid(id)) {
		ag_http_respond_problem(req, 404, kind == ACT_REPROCESS ? "document not found" : "job not found");
		return;
	}
	c = calloc(1, sizeof *c);
	if (!c) {
		ag_http_respond_problem(req, 500, "out of memory");
		return;
	}
	c->gw = ud;
	c->kind = kind;
	c->trace = *ag_http_req_trace(req);
	c->limit = ACT_LIST_DEFAULT;
	if (kind == ACT_DEAD_LETTERS) {
		const char *l = ag_http_req_query(req, "limit");
		if (l && !ag_cfg_parse_ll(l, 1, ACT_LIST_MAX, &c->limit)) {
			free(c);
			ag_http_respond_problem(req, 400, "limit must be an integer from 1 to %d", ACT_LIST_MAX);
			return;
		}
	} else {
		memcpy(c->id, id, UUID_TEXT_LEN);
	}
	memcpy(c->owner, claims->sub, UUID_TEXT_LEN);
	if (ag_http_req_defer(req, act_work, act_done, c) != AG_OK) {
		gateway_respond_unavailable(req, "the server is busy; try again");
		free(c);
	}
}

GATEWAY_AUTHED_ACTION(job_actions_cancel, act_start, ACT_CANCEL)
GATEWAY_AUTHED_ACTION(job_actions_retry, act_start, ACT_RETRY)
GATEWAY_AUTHED_ACTION(job_actions_reprocess, act_start, ACT_REPROCESS)
GATEWAY_AUTHED_ACTION(job_actions_dead_letters, act_start, ACT_DEAD_LETTERS)
