/*
 * step.c - the step runner of step.h: what every pipeline worker does around
 * its handler. Per message on aegis.tasks.<step>:
 *
 *   decode StepTask strictly -> claim the step for the task's attempt (one
 *   fenced UPDATE, committed on its own so the job shows "running") -> run
 *   the handler (heartbeats, the file's local path, its transaction) ->
 *   record the outcome fenced on the attempt, plus a job_events row, in the
 *   handler's transaction -> COMMIT -> publish StepResult and the JobEvent ->
 *   AckSync (the bus does it when we return AG_BUS_ACK).
 *
 * Nothing is acked before the commit that records it; every failure to
 * record or publish becomes a delayed NAK, and the redelivery finds the
 * recorded outcome and republishes it (same message ids, so JetStream drops
 * the copies inside its duplicate window).
 */
#include "aegis/step.h"
#include "aegis/str.h"

#include "aegis/bus.h"
#include "aegis/db.h"
#include "aegis/limits.h"
#include "aegis/log.h"
#include "aegis/trace.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STEP_DB_ACQUIRE_MS    10000 /* wait for a pooled connection before NAKing */
#define STEP_BACKOFF_BASE_MS  1000  /* first NAK delay */
#define STEP_BACKOFF_CAP_MS   60000 /* longest NAK delay */
#define STEP_BACKOFF_JITTER   0.2   /* +-20 % */
#define STEP_CONSUMER_BACKOFF 3     /* AckWait-timeout redeliveries: ack_wait x1, x2, x4 */
#define STEP_MAX_ACK_PENDING  256   /* unacked messages per step consumer */
#define STEP_FREE_JOIN_MS     30000 /* ag_step_worker_free waits this long for the threads */
#define STEP_UUID_LEN         36    /* canonical text form */
#define STEP_SUBJECT_MAX      64    /* aegis.{tasks,results}.<step> */
#define STEP_MSG_ID_MAX       96    /* "<uuid>:<step>:<attempt>" / "ev:<uuid>:<id>" */
#define STEP_REASON_MAX       64    /* ag_step_fail reason code */
#define STEP_NOTE_PAUSE_MS    250   /* between tries to record a retry while the database is away */
#define STEP_LOG_MEMBERS_MAX  160   /* extra JSON members of a log line */
#define STEP_STATE_MAX        16    /* job/step state names */
#define STEP_WORKER_MAX       128   /* job_steps.worker */
#define STEP_NUM_MAX          24    /* a decimal int64 */
#define STEP_HEARTBEAT_DB_MS  1000  /* wait this long for a connection to record a heartbeat, else skip it */

enum step_outcome {
	STEP_OUT_SUCCEEDED,
	STEP_OUT_FAILED,
	STEP_OUT_REJECTED,
	STEP_OUT_RETRIED,     /* transient failure, NAKed with backoff */
	STEP_OUT_DEAD,        /* transient failure on the last delivery: failed + dead letter */
	STEP_OUT_REPUBLISHED, /* redelivery of a finished attempt */
	STEP_OUT_DISCARDED,   /* stale attempt, cancelled or unknown job */
	STEP_OUT_MALFORMED,   /* terminated: bad protobuf or wrong step */
	STEP_OUT_ERROR,       /* could not claim, record or publish: NAKed */
	STEP_OUT_COUNT
};

static const char *const step_outcome_names[STEP_OUT_COUNT] = {
        "succeeded", "failed", "rejected", "retried", "dead_lettered", "republished", "discarded", "malformed", "error",
};

struct ag_step_worker {
	ag_service *svc;
	ag_step_def def;
	char name[STEP_STATE_MAX];
	char results_subject[STEP_SUBJECT_MAX];
	ag_bus *bus;
	ag_db_pool *db;
	ag_bus_worker *bw;
	bool joined;
	ag_counter *outcomes[STEP_OUT_COUNT];
	ag_histogram *seconds;
};

struct ag_step_ctx {
	ag_step_worker *w;
	ag_bus_msg *msg;
	const Aegis__V1__StepTask *task;
	char attempt[STEP_NUM_MAX];
	PGconn *conn; /* pooled, held from the first ag_step_tx / recording until the message is done */
	bool in_tx;
	char *local_path;
	int64_t heartbeat_ms; /* monotonic time of the last in-progress ack */
	int64_t deliveries;   /* claims of this attempt, this one included */
	bool lost;            /* a heartbeat found the attempt taken away */
	ag_trace trace;
	char reason[STEP_REASON_MAX];
	char error[AG_ERR_MSG_MAX];
	bool failed; /* ag_step_fail was called */
	char log_members[STEP_LOG_MEMBERS_MAX];
};

/* What was recorded for an attempt: enough to build its StepResult and JobEvent. */
typedef struct step_record {
	Aegis__V1__StepOutcome outcome;
	char state[STEP_STATE_MAX];
	char error_code[STEP_REASON_MAX];
	char error[AG_ERR_MSG_MAX];
	char worker[STEP_WORKER_MAX];
	int64_t finished_at_ms;
	int64_t event_id; /* 0 when no job_events row was found */
	char job_state[STEP_STATE_MAX];
	int64_t event_at_ms;
} step_record;

/* ---------- small helpers ---------- */

static int64_t step_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool step_uuid_valid(const char *s)
{
	if (!s || strlen(s) != STEP_UUID_LEN)
		return false;
	for (int i = 0; i < STEP_UUID_LEN; i++) {
		char c = s[i];
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
			return false;
	}
	return true;
}

static const char *step_name_of(Aegis__V1__Step s)
{
	switch (s) {
	case AEGIS__V1__STEP__STEP_VALIDATE:
		return "validate";
	case AEGIS__V1__STEP__STEP_METADATA:
		return "metadata";
	case AEGIS__V1__STEP__STEP_CONTENT:
		return "content";
	case AEGIS__V1__STEP__STEP_AI:
		return "ai";
	default:
		return NULL;
	}
}

static Aegis__V1__StepOutcome step_outcome_of_state(const char *state)
{
	if (strcmp(state, "succeeded") == 0)
		return AEGIS__V1__STEP_OUTCOME__OUTCOME_SUCCEEDED;
	if (strcmp(state, "failed") == 0)
		return AEGIS__V1__STEP_OUTCOME__OUTCOME_FAILED;
	if (strcmp(state, "rejected") == 0)
		return AEGIS__V1__STEP_OUTCOME__OUTCOME_REJECTED;
	return AEGIS__V1__STEP_OUTCOME__OUTCOME_UNSPECIFIED;
}

/* A uniform double in [0,1) from a per-thread xorshift64* seeded from the clock and the thread. */
static double step_rand01(void)
{
	static _Thread_local uint64_t state;
	if (state == 0) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		state = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)&state;
		if (state == 0)
			state = 0x9e3779b97f4a7c15ULL;
	}
	state ^= state >> 12;
	state ^= state << 25;
	state ^= state >> 27;
	return (double)((state * 0x2545f4914f6cdd1dULL) >> 11) / 9007199254740992.0;
}

/* NAK delay for the given delivery count: 1 s x 2^(delivered-1), capped at 60 s, +-20 % jitter. */
static int64_t step_backoff_ms(uint64_t delivered)
{
	int64_t d = STEP_BACKOFF_BASE_MS;
	for (uint64_t i = 1; i < delivered && d < STEP_BACKOFF_CAP_MS; i++)
		d *= 2;
	if (d > STEP_BACKOFF_CAP_MS)
		d = STEP_BACKOFF_CAP_MS;
	double j = 1.0 - STEP_BACKOFF_JITTER + 2.0 * STEP_BACKOFF_JITTER * step_rand01();
	int64_t v = (int64_t)((double)d * j);
	if (v > STEP_BACKOFF_CAP_MS)
		v = STEP_BACKOFF_CAP_MS;
	return v < 1 ? 1 : v;
}

static void step_count(ag_step_worker *w, enum step_outcome o)
{
	ag_counter_inc(w->outcomes[o]);
}

static ag_bus_verdict step_verdict(ag_bus_action a, int64_t delay_ms)
{
	ag_bus_verdict v = {a, delay_ms};
	return v;
}

static ag_bus_verdict step_nak(ag_step_ctx *ctx)
{
	return step_verdict(AG_BUS_NAK, step_backoff_ms(ag_bus_msg_delivered(ctx->msg)));
}

#define step_log(ctx, lvl, ...) (ag_log_enabled(lvl) ? ag_log_writex((lvl), (ctx)->log_members, __VA_ARGS__) : (void)0)

/* ---------- database ---------- */

static ag_status step_conn(ag_step_ctx *ctx, ag_err *err)
{
	if (ctx->conn)
		return AG_OK;
	return ag_db_acquire(ctx->w->db, &ctx->conn, STEP_DB_ACQUIRE_MS, err);
}

static void step_conn_release(ag_step_ctx *ctx)
{
	if (!ctx->conn)
		return;
	if (ctx->in_tx)
		ag_db_rollback(ctx->conn);
	ctx->in_tx = false;
	ag_db_release(ctx->w->db, ctx->conn);
	ctx->conn = NULL;
}

static void step_rollback(ag_step_ctx *ctx)
{
	if (ctx->conn && ctx->in_tx)
		ag_db_rollback(ctx->conn);
	ctx->in_tx = false;
}

typedef enum { STEP_CLAIMED, STEP_NOT_CLAIMED } step_claim_result;

/* The claim: dispatched|running with this attempt, job still live -> running. Autocommit. */
static ag_status step_claim(ag_step_ctx *ctx, step_claim_result *res, ag_err *err)
{
	static const char sql[] =
	        "UPDATE job_steps s SET state = 'running', started_at = now(), heartbeat_at = now(), "
	        "deliveries = s.deliveries + 1, worker = $4 "
	        "WHERE s.job_id = $1 AND s.name = $2 AND s.attempt = $3 AND s.state IN ('dispatched', 'running') "
	        "AND EXISTS (SELECT 1 FROM jobs j WHERE j.id = s.job_id AND j.state IN ('queued', 'running')) "
	        "RETURNING s.deliveries";
	const char *params[] = {ctx->task->job_id, ctx->w->name, ctx->attempt, ag_service_instance(ctx->w->svc)};
	PGresult *r = NULL;
	ag_status st = step_conn(ctx, err);
	if (st != AG_OK)
		goto out;
	st = ag_db_exec(ctx->conn, sql, 4, params, &r, err);
	if (st != AG_OK)
		goto out;
	*res = PQntuples(r) == 1 ? STEP_CLAIMED : STEP_NOT_CLAIMED;
	if (*res == STEP_CLAIMED)
		ctx->deliveries = ag_str_to_i64(PQgetvalue(r, 0, 0), 1);
out:
	PQclear(r);
	return st;
}

/* Read what is recorded for the step (after a failed claim). *found false when the job or step is unknown. */
static ag_status step_lookup(ag_step_ctx *ctx, bool *found, step_record *rec, int64_t *attempt, ag_err *err)
{
	static const char sql_step[] =
	        "SELECT s.state, s.attempt, coalesce(s.error_code, ''), coalesce(s.error, ''), coalesce(s.worker, ''), "
	        "coalesce((extract(epoch FROM s.finished_at) * 1000)::bigint, 0), j.state "
	        "FROM job_steps s JOIN jobs j ON j.id = s.job_id WHERE s.job_id = $1 AND s.name = $2";
	static const char sql_event[] = "SELECT id, job_state, (extract(epoch FROM at) * 1000)::bigint FROM job_events "
	                                "WHERE job_id = $1 AND step = $2 AND step_state = $3 ORDER BY id DESC LIMIT 1";
	PGresult *r = NULL;
	ag_status st = step_conn(ctx, err);
	if (st != AG_OK)
		goto out;
	const char *p[] = {ctx->task->job_id, ctx->w->name, NULL};
	st = ag_db_exec(ctx->conn, sql_step, 2, p, &r, err);
	if (st != AG_OK)
		goto out;
	*found = PQntuples(r) == 1;
	if (!*found)
		goto out;
	ag_str_copy(rec->state, sizeof rec->state, PQgetvalue(r, 0, 0));
	*attempt = ag_str_to_i64(PQgetvalue(r, 0, 1), 0);
	ag_str_copy(rec->error_code, sizeof rec->error_code, PQgetvalue(r, 0, 2));
	ag_str_copy(rec->error, sizeof rec->error, PQgetvalue(r, 0, 3));
	ag_str_copy(rec->worker, sizeof rec->worker, PQgetvalue(r, 0, 4));
	rec->finished_at_ms = ag_str_to_i64(PQgetvalue(r, 0, 5), 0);
	ag_str_copy(rec->job_state, sizeof rec->job_state, PQgetvalue(r, 0, 6));
	rec->outcome = step_outcome_of_state(rec->state);
	PQclear(r);
	r = NULL;
	if (rec->outcome == AEGIS__V1__STEP_OUTCOME__OUTCOME_UNSPECIFIED)
		goto out;
	p[2] = rec->state;
	st = ag_db_exec(ctx->conn, sql_event, 3, p, &r, err);
	if (st != AG_OK)
		goto out;
	if (PQntuples(r) == 1) {
		rec->event_id = ag_str_to_i64(PQgetvalue(r, 0, 0), 0);
		ag_str_copy(rec->job_state, sizeof rec->job_state, PQgetvalue(r, 0, 1));
		rec->event_at_ms = ag_str_to_i64(PQgetvalue(r, 0, 2), 0);
	}
out:
	PQclear(r);
	return st;
}

/*
 * Record the outcome in the open transaction (BEGIN if none), fenced on the attempt, with its job_events row
 * and, when `dead_letter`, a dead_letters row; COMMIT. AG_E_CONFLICT when the fence did not match (another
 * delivery recorded it, or the orchestrator moved the step on): nothing was written.
 */
static ag_status step_record_outcome(ag_step_ctx *ctx, step_record *rec, bool dead_letter, ag_err *err)
{
	static const char sql_step[] =
	        "UPDATE job_steps SET state = $4, error_code = $5, error = $6, finished_at = now() "
	        "WHERE job_id = $1 AND name = $2 AND attempt = $3 AND state = 'running' "
	        "RETURNING deliveries, coalesce(worker, ''), (extract(epoch FROM finished_at) * 1000)::bigint, "
	        "started_at";
	static const char sql_attempt[] =
	        "INSERT INTO step_attempts (job_id, step, attempt, delivery, worker, outcome, error_code, error, "
	        "started_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
	static const char sql_event[] = "INSERT INTO job_events (job_id, job_state, step, step_state, error) "
	                                "SELECT id, state, $2, $3, $4 FROM jobs WHERE id = $1 "
	                                "RETURNING id, job_state, (extract(epoch FROM at) * 1000)::bigint";
	static const char sql_dead[] =
	        "INSERT INTO dead_letters (job_id, step, attempt, deliveries, error) VALUES ($1, $2, $3, $4, $5)";
	PGresult *r = NULL;
	PGconn *c = NULL;
	char deliveries[STEP_NUM_MAX] = "0";
	const char *code = rec->error_code[0] ? rec->error_code : NULL;
	const char *error = rec->error[0] ? rec->error : NULL;

	ag_status st = ag_step_tx(ctx, &c, err);
	if (st != AG_OK)
		goto out;
	const char *ps[] = {ctx->task->job_id, ctx->w->name, ctx->attempt, rec->state, code, error};
	st = ag_db_exec(c, sql_step, 6, ps, &r, err);
	if (st != AG_OK)
		goto out;
	if (PQntuples(r) != 1) {
		st = ag_err_set(err, AG_E_CONFLICT, "step %s attempt %s of job %s is no longer running here",
		                ctx->w->name, ctx->attempt, ctx->task->job_id);
		goto out;
	}
	ag_str_copy(deliveries, sizeof deliveries, PQgetvalue(r, 0, 0));
	ag_str_copy(rec->worker, sizeof rec->worker, PQgetvalue(r, 0, 1));
	rec->finished_at_ms = ag_str_to_i64(PQgetvalue(r, 0, 2), 0);
	const char *pa[] = {ctx->task->job_id,
	                    ctx->w->name,
	                    ctx->attempt,
	                    deliveries,
	                    rec->worker,
	                    dead_letter ? "dead_lettered" : rec->state,
	                    code,
	                    error,
	                    PQgetisnull(r, 0, 3) ? NULL : PQgetvalue(r, 0, 3)};
	st = ag_db_exec(c, sql_attempt, 9, pa, NULL, err);
	if (st != AG_OK)
		goto out;
	PQclear(r);
	r = NULL;

	const char *pe[] = {ctx->task->job_id, ctx->w->name, rec->state, error};
	st = ag_db_exec(c, sql_event, 4, pe, &r, err);
	if (st != AG_OK)
		goto out;
	if (PQntuples(r) == 1) {
		rec->event_id = ag_str_to_i64(PQgetvalue(r, 0, 0), 0);
		ag_str_copy(rec->job_state, sizeof rec->job_state, PQgetvalue(r, 0, 1));
		rec->event_at_ms = ag_str_to_i64(PQgetvalue(r, 0, 2), 0);
	}
	PQclear(r);
	r = NULL;

	if (dead_letter) {
		const char *pd[] = {ctx->task->job_id, ctx->w->name, ctx->attempt, deliveries,
		                    error ? error : "unknown error"};
		st = ag_db_exec(c, sql_dead, 5, pd, NULL, err);
		if (st != AG_OK)
			goto out;
	}
	st = ag_db_commit(c, err);
	ctx->in_tx = false;
out:
	PQclear(r);
	if (st != AG_OK)
		step_rollback(ctx);
	return st;
}

/* A transient failure that will be retried: one attempts-history row, autocommit, best effort. */
static void step_note_retry(ag_step_ctx *ctx, const step_record *rec)
{
	static const char sql[] =
	        "INSERT INTO step_attempts (job_id, step, attempt, delivery, worker, outcome, error_code, error, "
	        "started_at) SELECT job_id, name, attempt, $4, worker, 'retried', $5, $6, started_at FROM job_steps "
	        "WHERE job_id = $1 AND name = $2 AND attempt = $3 AND state = 'running'";
	char delivery[STEP_NUM_MAX];
	ag_err err;
	ag_err_clear(&err);
	snprintf(delivery, sizeof delivery, "%" PRId64, ctx->deliveries);
	const char *p[] = {ctx->task->job_id, ctx->w->name, ctx->attempt, delivery, rec->error_code, rec->error};
	/* An unrecorded retry would later count as a crash (step_crashes), so a database that is away for a
	 * moment - often the very cause of this failure - is waited for, within a third of the ack wait. */
	int64_t until = step_now_ms() + ctx->w->def.ack_wait_ms / 3;
	for (;;) {
		ag_err_clear(&err);
		if (step_conn(ctx, &err) == AG_OK)
			ag_db_exec(ctx->conn, sql, 6, p, NULL, &err);
		step_conn_release(ctx);
		if (err.code == AG_OK || !ag_status_transient(err.code) || step_now_ms() >= until)
			break;
		struct timespec pause = {0, STEP_NOTE_PAUSE_MS * 1000000L};
		nanosleep(&pause, NULL);
	}
	if (err.code != AG_OK)
		step_log(ctx, AG_LOG_WARN, "cannot record the retried attempt: %s", err.msg);
}

/* Deliveries of this attempt that ended with no outcome and no retry recorded: the worker was gone. */
static ag_status step_crashes(ag_step_ctx *ctx, int64_t *crashes, ag_err *err)
{
	static const char sql[] = "SELECT count(*) FROM step_attempts WHERE job_id = $1 AND step = $2 AND attempt = $3 "
	                          "AND outcome = 'retried'";
	PGresult *r = NULL;
	*crashes = 0;
	ag_status st = step_conn(ctx, err);
	if (st != AG_OK)
		goto out;
	const char *p[] = {ctx->task->job_id, ctx->w->name, ctx->attempt};
	st = ag_db_exec(ctx->conn, sql, 3, p, &r, err);
	if (st != AG_OK)
		goto out;
	*crashes = ctx->deliveries - 1 - ag_str_to_i64(PQgetvalue(r, 0, 0), 0);
out:
	PQclear(r);
	return st;
}

/* ---------- publishing ---------- */

static ag_status step_publish(ag_step_ctx *ctx, const step_record *rec, ag_err *err)
{
	ag_step_worker *w = ctx->w;
	char tp[AG_TRACEPARENT_LEN + 1];
	char msg_id[STEP_MSG_ID_MAX];
	char subject[STEP_SUBJECT_MAX + STEP_UUID_LEN];
	uint8_t *buf = NULL;
	ag_status st = AG_OK;

	ag_trace_format(&ctx->trace, tp, sizeof tp);
	Aegis__V1__StepResult res = AEGIS__V1__STEP_RESULT__INIT;
	res.job_id = (char *)ctx->task->job_id;
	res.step = w->def.step;
	res.attempt = ctx->task->attempt;
	res.outcome = rec->outcome;
	res.error_code = (char *)rec->error_code;
	res.error = (char *)rec->error;
	res.worker = (char *)rec->worker;
	res.finished_at_ms = rec->finished_at_ms;
	res.traceparent = tp;
	size_t len = aegis__v1__step_result__get_packed_size(&res);
	buf = malloc(len ? len : 1);
	if (!buf) {
		st = ag_err_set(err, AG_E_NOMEM, "no memory for a step result");
		goto out;
	}
	aegis__v1__step_result__pack(&res, buf);
	snprintf(msg_id, sizeof msg_id, "%s:%s:%s", ctx->task->job_id, w->name, ctx->attempt);
	st = ag_bus_publish(w->bus, w->results_subject, buf, len, msg_id, &ctx->trace, err);
	if (st != AG_OK)
		goto out;
	free(buf);
	buf = NULL;

	if (rec->event_id <= 0)
		goto out;
	Aegis__V1__JobEvent ev = AEGIS__V1__JOB_EVENT__INIT;
	ev.job_id = (char *)ctx->task->job_id;
	ev.seq = rec->event_id;
	ev.job_state = (char *)rec->job_state;
	ev.step = w->def.step;
	ev.step_state = (char *)rec->state;
	ev.error = (char *)rec->error;
	ev.at_ms = rec->event_at_ms;
	len = aegis__v1__job_event__get_packed_size(&ev);
	buf = malloc(len ? len : 1);
	if (!buf) {
		st = ag_err_set(err, AG_E_NOMEM, "no memory for a job event");
		goto out;
	}
	aegis__v1__job_event__pack(&ev, buf);
	snprintf(msg_id, sizeof msg_id, "ev:%s:%" PRId64, ctx->task->job_id, rec->event_id);
	snprintf(subject, sizeof subject, "%s%s", AG_SUBJ_EVENTS_PREFIX, ctx->task->job_id);
	st = ag_bus_publish(w->bus, subject, buf, len, msg_id, &ctx->trace, err);
out:
	free(buf);
	return st;
}

/* ---------- the message ---------- */

/* After a failed claim: republish a finished attempt, or drop the message. */
static ag_bus_verdict step_not_claimed(ag_step_ctx *ctx)
{
	ag_err err;
	ag_err_clear(&err);
	step_record rec;
	memset(&rec, 0, sizeof rec);
	bool found = false;
	int64_t attempt = 0;
	ag_status st = step_lookup(ctx, &found, &rec, &attempt, &err);
	step_conn_release(ctx);
	if (st != AG_OK) {
		step_log(ctx, AG_LOG_WARN, "cannot read the step after a failed claim: %s", err.msg);
		step_count(ctx->w, STEP_OUT_ERROR);
		return step_nak(ctx);
	}
	if (!found) {
		step_log(ctx, AG_LOG_WARN, "task for an unknown job or step; dropped");
		step_count(ctx->w, STEP_OUT_DISCARDED);
		return step_verdict(AG_BUS_ACK, 0);
	}
	if (attempt == (int64_t)ctx->task->attempt && rec.outcome != AEGIS__V1__STEP_OUTCOME__OUTCOME_UNSPECIFIED) {
		st = step_publish(ctx, &rec, &err);
		if (st != AG_OK) {
			step_log(ctx, AG_LOG_WARN, "cannot republish the recorded result: %s", err.msg);
			step_count(ctx->w, STEP_OUT_ERROR);
			return step_nak(ctx);
		}
		step_log(ctx, AG_LOG_INFO, "attempt already %s; result republished", rec.state);
		step_count(ctx->w, STEP_OUT_REPUBLISHED);
		return step_verdict(AG_BUS_ACK, 0);
	}
	step_log(ctx, AG_LOG_INFO, "stale task dropped (step %s at attempt %" PRId64 ", job %s)", rec.state, attempt,
	         rec.job_state);
	step_count(ctx->w, STEP_OUT_DISCARDED);
	return step_verdict(AG_BUS_ACK, 0);
}

/* After recording `rec` with status `st`: publish it and pick the verdict. `good` is the metric on success. */
static ag_bus_verdict step_after_record(ag_step_ctx *ctx, step_record *rec, ag_status st, const ag_err *rerr,
                                        enum step_outcome good)
{
	ag_err err;
	ag_err_clear(&err);
	if (st == AG_E_CONFLICT) {
		step_log(ctx, AG_LOG_WARN, "outcome %s not recorded: %s; dropped", rec->state, rerr->msg);
		step_count(ctx->w, STEP_OUT_DISCARDED);
		return step_verdict(AG_BUS_ACK, 0);
	}
	if (st != AG_OK) {
		step_log(ctx, AG_LOG_ERROR, "cannot record outcome %s: %s", rec->state, rerr->msg);
		step_count(ctx->w, STEP_OUT_ERROR);
		return step_nak(ctx);
	}
	st = step_publish(ctx, rec, &err);
	if (st != AG_OK) {
		/* The outcome is committed; the redelivery republishes it. */
		step_log(ctx, AG_LOG_WARN, "outcome %s recorded but not published: %s", rec->state, err.msg);
		step_count(ctx->w, STEP_OUT_ERROR);
		return step_nak(ctx);
	}
	if (good == STEP_OUT_SUCCEEDED)
		step_log(ctx, AG_LOG_INFO, "step succeeded");
	step_count(ctx->w, good);
	return step_verdict(AG_BUS_ACK, 0);
}

/* Record a non-success outcome in a fresh transaction, publish it, pick the verdict. */
static ag_bus_verdict step_finish(ag_step_ctx *ctx, step_record *rec, bool dead_letter, enum step_outcome good)
{
	ag_err err;
	ag_err_clear(&err);
	ag_step_heartbeat(ctx);
	ag_status st = step_record_outcome(ctx, rec, dead_letter, &err);
	step_conn_release(ctx);
	return step_after_record(ctx, rec, st, &err, good);
}

static ag_bus_verdict step_process(ag_step_ctx *ctx)
{
	ag_step_worker *w = ctx->w;
	ag_err err;
	ag_err_clear(&err);
	step_claim_result claim = STEP_NOT_CLAIMED;
	ag_status st = step_claim(ctx, &claim, &err);
	if (st != AG_OK) {
		step_conn_release(ctx);
		step_log(ctx, AG_LOG_WARN, "cannot claim the step: %s", err.msg);
		step_count(w, STEP_OUT_ERROR);
		return step_nak(ctx);
	}
	if (claim == STEP_NOT_CLAIMED)
		return step_not_claimed(ctx);
	int64_t t0 = step_now_ms();
	ctx->heartbeat_ms = t0;
	step_record rec;
	memset(&rec, 0, sizeof rec);
	ag_bus_verdict v;
	int64_t crashes = 0;
	if (w->def.crash_limit > 0 && ctx->deliveries > w->def.crash_limit &&
	    step_crashes(ctx, &crashes, &err) == AG_OK && crashes >= w->def.crash_limit) {
		/* The same input took the worker down this often: it is the input, not the weather. */
		ag_str_copy(rec.state, sizeof rec.state, "failed");
		rec.outcome = AEGIS__V1__STEP_OUTCOME__OUTCOME_FAILED;
		ag_str_copy(rec.error_code, sizeof rec.error_code, "worker_crashed");
		snprintf(rec.error, sizeof rec.error,
		         "the %s worker stopped %" PRId64 " times while handling this document; not retried", w->name,
		         crashes);
		step_log(ctx, AG_LOG_ERROR, "step failed: %s", rec.error);
		v = step_finish(ctx, &rec, false, STEP_OUT_FAILED);
		goto out;
	}
	/* The claim is committed; the handler's transaction starts fresh when it asks for it. */
	step_conn_release(ctx);

	step_log(ctx, AG_LOG_DEBUG, "step started (delivery %" PRIu64 ")", ag_bus_msg_delivered(ctx->msg));
	st = w->def.handler(ctx, w->def.ud);
	if (ctx->local_path) {
		ag_storage_local_done(ag_service_storage(w->svc), ctx->local_path);
		ctx->local_path = NULL;
	}

	if (st == AG_OK) {
		ag_str_copy(rec.state, sizeof rec.state, "succeeded");
		rec.outcome = AEGIS__V1__STEP_OUTCOME__OUTCOME_SUCCEEDED;
		ag_step_heartbeat(ctx);
		st = step_record_outcome(ctx, &rec, false, &err);
		step_conn_release(ctx);
		if (st == AG_OK || st == AG_E_CONFLICT || st == AG_E_UNAVAILABLE || st == AG_E_TIMEOUT) {
			v = step_after_record(ctx, &rec, st, &err, STEP_OUT_SUCCEEDED);
			goto out;
		}
		/* The handler's writes could not be committed (a failed statement, a constraint, a serialization
		 * conflict): that is the handler's failure, classified like any other below. */
		ag_step_fail(ctx, st, ag_status_name(st), "committing the step: %s", err.msg);
		memset(&rec, 0, sizeof rec);
	}
	/* Every non-OK outcome drops the handler's partial writes before anything is recorded. */
	step_rollback(ctx);
	ag_str_copy(rec.error_code, sizeof rec.error_code, ctx->reason[0] ? ctx->reason : ag_status_name(st));
	ag_str_copy(rec.error, sizeof rec.error, ctx->failed && ctx->error[0] ? ctx->error : ag_status_str(st));
	if (st == AG_E_REJECTED) {
		ag_str_copy(rec.state, sizeof rec.state, "rejected");
		rec.outcome = AEGIS__V1__STEP_OUTCOME__OUTCOME_REJECTED;
		step_log(ctx, AG_LOG_INFO, "step rejected: %s (%s)", rec.error, rec.error_code);
		v = step_finish(ctx, &rec, false, STEP_OUT_REJECTED);
		goto out;
	}
	if (!ag_status_transient(st)) {
		ag_str_copy(rec.state, sizeof rec.state, "failed");
		rec.outcome = AEGIS__V1__STEP_OUTCOME__OUTCOME_FAILED;
		step_log(ctx, AG_LOG_WARN, "step failed: %s (%s)", rec.error, rec.error_code);
		v = step_finish(ctx, &rec, false, STEP_OUT_FAILED);
		goto out;
	}
	uint64_t delivered = ag_bus_msg_delivered(ctx->msg);
	int max_deliver = ag_bus_msg_max_deliver(ctx->msg);
	if (max_deliver <= 0) /* unknown: the consumer was made from our def */
		max_deliver = w->def.max_deliver;
	if (max_deliver > 0 && delivered >= (uint64_t)max_deliver) {
		char last[AG_ERR_MSG_MAX];
		ag_str_copy(last, sizeof last, rec.error);
		/* %.200s keeps the prefix and the count inside rec.error (256 bytes); the last error is cut. */
		snprintf(rec.error, sizeof rec.error, "gave up after %" PRIu64 " attempts: %.200s", delivered, last);
		ag_str_copy(rec.state, sizeof rec.state, "failed");
		rec.outcome = AEGIS__V1__STEP_OUTCOME__OUTCOME_FAILED;
		step_log(ctx, AG_LOG_ERROR, "step dead-lettered: %s (%s)", rec.error, rec.error_code);
		v = step_finish(ctx, &rec, true, STEP_OUT_DEAD);
		goto out;
	}
	step_note_retry(ctx, &rec);
	v = step_nak(ctx);
	step_log(ctx, AG_LOG_WARN, "transient failure, retry in %" PRId64 " ms (delivery %" PRIu64 "): %s (%s)",
	         v.delay_ms, delivered, rec.error, rec.error_code);
	step_count(w, STEP_OUT_RETRIED);
out:
	ag_histogram_observe(w->seconds, (double)(step_now_ms() - t0) / 1000.0);
	return v;
}

/* The bus handler: decode strictly, then process; runs on a bus worker thread. */
static ag_bus_verdict step_on_msg(ag_bus_msg *m, void *ud)
{
	ag_step_worker *w = ud;
	ag_bus_verdict v = step_verdict(AG_BUS_TERM, 0);
	ag_step_ctx ctx;
	memset(&ctx, 0, sizeof ctx);
	ctx.w = w;
	ctx.msg = m;

	size_t len = 0;
	const void *data = ag_bus_msg_data(m, &len);
	Aegis__V1__StepTask *task = NULL;
	if (len <= AG_BUS_MAX_MSG_BYTES)
		task = aegis__v1__step_task__unpack(NULL, len, data);
	if (!task) {
		ag_log_error("step %s: undecodable task on %s (%zu bytes); terminated", w->name, ag_bus_msg_subject(m),
		             len);
		step_count(w, STEP_OUT_MALFORMED);
		goto out;
	}
	if (!step_uuid_valid(task->job_id) || !task->document || task->attempt == 0 || task->step != w->def.step) {
		const char *got = step_name_of(task->step);
		ag_log_error("step %s: invalid task (job_id %s, document %s, attempt %u, step %s); terminated", w->name,
		             step_uuid_valid(task->job_id) ? task->job_id : "invalid",
		             task->document ? "present" : "missing", task->attempt, got ? got : "unknown");
		step_count(w, STEP_OUT_MALFORMED);
		goto out;
	}
	ctx.task = task;
	snprintf(ctx.attempt, sizeof ctx.attempt, "%u", task->attempt);
	snprintf(ctx.log_members, sizeof ctx.log_members, "\"job_id\":\"%s\",\"step\":\"%s\",\"attempt\":%u",
	         task->job_id, w->name, task->attempt);

	ag_trace parent;
	const char *tp = ag_bus_msg_header(m, "traceparent");
	ag_trace_continue(tp && *tp ? tp : task->traceparent, &parent);
	ag_trace_child(&parent, &ctx.trace);
	ag_trace_set_current(&ctx.trace);

	v = step_process(&ctx);
out:
	step_conn_release(&ctx);
	if (ctx.local_path)
		ag_storage_local_done(ag_service_storage(w->svc), ctx.local_path);
	if (task)
		aegis__v1__step_task__free_unpacked(task, NULL);
	ag_trace_set_current(NULL);
	return v;
}

/* ---------- for handlers ---------- */

const Aegis__V1__StepTask *ag_step_task(const ag_step_ctx *ctx)
{
	return ctx->task;
}

const Aegis__V1__DocumentRef *ag_step_doc(const ag_step_ctx *ctx)
{
	return ctx->task->document;
}

ag_storage *ag_step_storage(ag_step_ctx *ctx)
{
	return ag_service_storage(ctx->w->svc);
}

uint64_t ag_step_delivered(const ag_step_ctx *ctx)
{
	return ag_bus_msg_delivered(ctx->msg);
}

ag_metrics *ag_step_metrics(ag_step_ctx *ctx)
{
	return ag_service_metrics(ctx->w->svc);
}

ag_status ag_step_local_path(ag_step_ctx *ctx, const char **path, ag_err *err)
{
	*path = NULL;
	if (!ctx->local_path) {
		ag_storage *s = ag_service_storage(ctx->w->svc);
		if (!s)
			return ag_err_set(err, AG_E_INTERNAL, "this service was started without storage");
		const char *key = ctx->task->document->storage_key;
		if (!ag_storage_key_valid(key))
			return ag_err_set(err, AG_E_INVAL, "invalid storage key in the task");
		ag_status st = ag_storage_local_path(s, key, &ctx->local_path, err);
		if (st != AG_OK)
			return st;
	}
	*path = ctx->local_path;
	return AG_OK;
}

ag_status ag_step_tx(ag_step_ctx *ctx, PGconn **conn, ag_err *err)
{
	*conn = NULL;
	ag_status st = step_conn(ctx, err);
	if (st != AG_OK)
		return st;
	if (!ctx->in_tx) {
		st = ag_db_begin(ctx->conn, err);
		if (st != AG_OK)
			return st;
		ctx->in_tx = true;
	}
	*conn = ctx->conn;
	return AG_OK;
}

/* job_steps.heartbeat_at, fenced on the attempt, on a connection of its own (the handler's transaction would
 * hide it until COMMIT). Zero rows: the attempt was taken away. Skipped when no connection is free soon. */
static void step_heartbeat_db(ag_step_ctx *ctx)
{
	static const char sql[] = "UPDATE job_steps SET heartbeat_at = now() WHERE job_id = $1 AND name = $2 "
	                          "AND attempt = $3 AND state = 'running'";
	PGconn *c = NULL;
	PGresult *r = NULL;
	ag_err err;
	ag_err_clear(&err);
	if (ag_db_acquire(ctx->w->db, &c, STEP_HEARTBEAT_DB_MS, &err) != AG_OK)
		return;
	const char *p[] = {ctx->task->job_id, ctx->w->name, ctx->attempt};
	if (ag_db_exec(c, sql, 3, p, &r, &err) == AG_OK) {
		const char *n = PQcmdTuples(r);
		if (n && strcmp(n, "0") == 0 && !ctx->lost) {
			ctx->lost = true;
			step_log(ctx, AG_LOG_WARN,
			         "attempt taken away (cancelled or timed out); its result will be dropped");
		}
	}
	PQclear(r);
	ag_db_release(ctx->w->db, c);
}

void ag_step_heartbeat(ag_step_ctx *ctx)
{
	int64_t every = ctx->w->def.ack_wait_ms / 3;
	int64_t now = step_now_ms();
	if (now - ctx->heartbeat_ms < every)
		return;
	ctx->heartbeat_ms = now;
	if (ag_bus_msg_in_progress(ctx->msg) != AG_OK)
		step_log(ctx, AG_LOG_WARN, "heartbeat (in-progress ack) failed");
	step_heartbeat_db(ctx);
}

bool ag_step_lost(const ag_step_ctx *ctx)
{
	return ctx->lost;
}

ag_status ag_step_fail(ag_step_ctx *ctx, ag_status code, const char *reason_code, const char *fmt, ...)
{
	ag_str_copy(ctx->reason, sizeof ctx->reason, reason_code);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ctx->error, sizeof ctx->error, fmt, ap);
	va_end(ap);
	ctx->failed = true;
	return code;
}

/* ---------- lifecycle ---------- */

static bool step_ready(void *ud, char *why, size_t whylen)
{
	ag_step_worker *w = ud;
	if (ag_bus_worker_bound(w->bw))
		return true;
	snprintf(why, whylen, "step consumer %s not bound", w->name);
	return false;
}

static void step_drain_begin(void *ud)
{
	ag_step_worker *w = ud;
	ag_bus_worker_stop(w->bw);
}

static bool step_drained(void *ud)
{
	ag_step_worker *w = ud;
	if (w->joined)
		return true;
	if (ag_bus_worker_busy(w->bw) != 0)
		return false;
	w->joined = ag_bus_worker_join(w->bw, 0);
	return w->joined;
}

static bool step_def_valid(const ag_step_def *def, ag_err *err)
{
	if (!def->name || !step_name_of(def->step) || strcmp(def->name, step_name_of(def->step)) != 0) {
		ag_err_set(err, AG_E_INVAL, "step definition: name and step must agree (validate|metadata|content|ai)");
		return false;
	}
	if (!def->handler || def->threads < 1 || def->threads > AG_BUS_MAX_THREADS || def->ack_wait_ms < 1000 ||
	    def->max_deliver < 1) {
		ag_err_set(err, AG_E_INVAL,
		           "step %s: needs a handler, 1..%d threads, ack_wait_ms >= 1000 and max_deliver >= 1",
		           def->name, AG_BUS_MAX_THREADS);
		return false;
	}
	return true;
}

ag_status ag_step_worker_start(ag_step_worker **out, ag_service *svc, const ag_step_def *def, ag_err *err)
{
	ag_status st = AG_E_INVAL;
	ag_step_worker *w = NULL;
	*out = NULL;
	if (!step_def_valid(def, err))
		goto out;
	if (!ag_service_bus(svc) || !ag_service_db(svc)) {
		st = ag_err_set(err, AG_E_INVAL, "step %s: the service needs AG_NEEDS_DB and AG_NEEDS_BUS", def->name);
		goto out;
	}
	w = calloc(1, sizeof *w);
	if (!w) {
		st = ag_err_set(err, AG_E_NOMEM, "no memory for a step worker");
		goto out;
	}
	w->svc = svc;
	w->def = *def;
	ag_str_copy(w->name, sizeof w->name, def->name);
	w->def.name = w->name;
	w->bus = ag_service_bus(svc);
	w->db = ag_service_db(svc);
	snprintf(w->results_subject, sizeof w->results_subject, "%s%s", AG_SUBJ_RESULTS_PREFIX, w->name);

	ag_metrics *m = ag_service_metrics(svc);
	char labels[STEP_LOG_MEMBERS_MAX];
	for (int i = 0; i < STEP_OUT_COUNT; i++) {
		snprintf(labels, sizeof labels, "step=\"%s\",outcome=\"%s\"", w->name, step_outcome_names[i]);
		w->outcomes[i] = ag_metrics_counter(m, "aegis_step_total", "Step messages handled, by outcome", labels);
	}
	snprintf(labels, sizeof labels, "step=\"%s\"", w->name);
	w->seconds = ag_metrics_histogram(m, "aegis_step_seconds", "Time from claim to recorded outcome", labels,
	                                  ag_metrics_seconds_buckets, ag_metrics_seconds_buckets_len);

	int64_t backoff[STEP_CONSUMER_BACKOFF];
	int nbackoff = 0;
	for (int i = 0; i < STEP_CONSUMER_BACKOFF && i < def->max_deliver - 1; i++)
		backoff[nbackoff++] = def->ack_wait_ms << i;
	char filter[STEP_SUBJECT_MAX];
	snprintf(filter, sizeof filter, "%s%s", AG_SUBJ_TASKS_PREFIX, w->name);
	ag_bus_consumer_cfg cc = {
	        .stream = AG_STREAM_TASKS,
	        .durable = w->name,
	        .filter = filter,
	        .ack_wait_ms = def->ack_wait_ms,
	        .max_deliver = def->max_deliver,
	        .backoff_ms = nbackoff ? backoff : NULL,
	        .backoff_len = nbackoff,
	        .max_ack_pending = def->threads > STEP_MAX_ACK_PENDING ? def->threads : STEP_MAX_ACK_PENDING,
	};
	st = ag_bus_ensure_consumer(w->bus, &cc, err);
	if (st != AG_OK)
		goto out;
	st = ag_bus_worker_start(&w->bw, w->bus, AG_STREAM_TASKS, w->name, def->threads, step_on_msg, w, err);
	if (st != AG_OK)
		goto out;
	ag_service_ready_check(svc, step_ready, w);
	ag_service_on_drain(svc, step_drain_begin, step_drained, w);
	ag_log_info("step worker %s started: %d threads, ack wait %" PRId64 " ms, max deliver %d", w->name,
	            def->threads, def->ack_wait_ms, def->max_deliver);
	*out = w;
	w = NULL;
out:
	free(w);
	return st;
}

bool ag_step_worker_join(ag_step_worker *w)
{
	if (!w || !w->bw)
		return true;
	ag_bus_worker_stop(w->bw);
	if (!w->joined)
		w->joined = ag_bus_worker_join(w->bw, STEP_FREE_JOIN_MS);
	if (!w->joined)
		ag_log_error("step worker %s: threads did not stop within %d ms", w->name, STEP_FREE_JOIN_MS);
	return w->joined;
}

void ag_step_worker_free(ag_step_worker *w)
{
	if (!w)
		return;
	if (w->bw) {
		ag_bus_worker_stop(w->bw);
		if (!w->joined)
			w->joined = ag_bus_worker_join(w->bw, STEP_FREE_JOIN_MS);
		if (!w->joined) {
			/* A handler is still running and uses w: leaking beats a use-after-free at exit. */
			ag_log_error("step worker %s: threads did not stop within %d ms", w->name, STEP_FREE_JOIN_MS);
			return;
		}
		ag_bus_worker_free(w->bw);
	}
	free(w);
}
