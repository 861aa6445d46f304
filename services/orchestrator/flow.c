/*
 * flow.c - the job state machine (flow.h): decide from the step states in
 * PostgreSQL, write the transitions and their job_events rows in one
 * transaction under the job's row lock, and hand back what to publish.
 *
 * The job row is locked FOR NO KEY UPDATE, not FOR UPDATE: workers insert
 * job_events and dead_letters rows (foreign keys to jobs take KEY SHARE
 * locks) while holding their job_steps row, and a FOR UPDATE here would
 * make those two lock orders deadlock.
 */
#include "flow.h"

#include "aegis/cfg.h"
#include "aegis/str.h"
#include "aegis/db.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FLOW_NUM_MAX 24 /* a decimal int64 */

const char *const flow_step_names[FLOW_STEPS] = {"validate", "metadata", "content", "ai"};

static const Aegis__V1__Step flow_step_ids[FLOW_STEPS] = {
        AEGIS__V1__STEP__STEP_VALIDATE,
        AEGIS__V1__STEP__STEP_METADATA,
        AEGIS__V1__STEP__STEP_CONTENT,
        AEGIS__V1__STEP__STEP_AI,
};

enum { FLOW_VALIDATE, FLOW_METADATA, FLOW_CONTENT, FLOW_AI };

static int flow_step_index(const char *name)
{
	for (int i = 0; i < FLOW_STEPS; i++)
		if (strcmp(name, flow_step_names[i]) == 0)
			return i;
	return -1;
}

Aegis__V1__Step flow_step_id(const char *name)
{
	int i = flow_step_index(name);
	return i < 0 ? AEGIS__V1__STEP__STEP_UNSPECIFIED : flow_step_ids[i];
}

const char *flow_step_name(Aegis__V1__Step step)
{
	for (int i = 0; i < FLOW_STEPS; i++)
		if (flow_step_ids[i] == step)
			return flow_step_names[i];
	return NULL;
}

bool flow_uuid_valid(const char *s)
{
	if (!s || strlen(s) != FLOW_ID_MAX - 1)
		return false;
	for (int i = 0; i < FLOW_ID_MAX - 1; i++) {
		char c = s[i];
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (c != '-')
				return false;
		} else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
			return false;
		}
	}
	return true;
}

static bool flow_is(const char *state, const char *want)
{
	return state && strcmp(state, want) == 0;
}

void flow_decide(const char *const states[FLOW_STEPS], flow_decision *out)
{
	memset(out, 0, sizeof *out);
	out->cause = -1;
	/* A refusal by policy outranks a failure: it is the more useful answer for the user. */
	for (int i = 0; i < FLOW_STEPS; i++) {
		if (flow_is(states[i], "rejected")) {
			out->finish = "rejected";
			out->cause = i;
			return;
		}
	}
	for (int i = 0; i < FLOW_STEPS; i++) {
		if (flow_is(states[i], "failed")) {
			out->finish = "failed";
			out->cause = i;
			return;
		}
	}
	bool all_done = true;
	for (int i = 0; i < FLOW_STEPS; i++)
		all_done = all_done && (flow_is(states[i], "succeeded") || flow_is(states[i], "skipped"));
	if (all_done) {
		out->finish = "succeeded";
		return;
	}
	out->dispatch[FLOW_VALIDATE] = flow_is(states[FLOW_VALIDATE], "pending");
	if (flow_is(states[FLOW_VALIDATE], "succeeded")) {
		out->dispatch[FLOW_METADATA] = flow_is(states[FLOW_METADATA], "pending");
		out->dispatch[FLOW_CONTENT] = flow_is(states[FLOW_CONTENT], "pending");
	}
	/* ai reads the extracted text only, so it may run while metadata still works. */
	if (flow_is(states[FLOW_CONTENT], "succeeded"))
		out->dispatch[FLOW_AI] = flow_is(states[FLOW_AI], "pending");
}

/* ---------- plan ---------- */

/* A heap copy of column `col` of row 0 ("" for NULL); false when out of memory. */
static bool flow_dup(PGresult *r, int col, char **out)
{
	*out = strdup(PQgetisnull(r, 0, col) ? "" : PQgetvalue(r, 0, col));
	return *out != NULL;
}

void flow_plan_free(flow_plan *plan)
{
	if (!plan)
		return;
	free(plan->traceparent);
	free(plan->document_id);
	free(plan->owner_id);
	free(plan->storage_key);
	free(plan->filename);
	free(plan->claimed_mime);
	free(plan->sha256);
	for (size_t i = 0; i < plan->nevents; i++)
		free(plan->events[i].error);
	memset(plan, 0, sizeof *plan);
}

/* Insert one job_events row and append it to the plan. */
static ag_status flow_event_add(PGconn *c, flow_plan *plan, const char *job_state, const char *step,
                                const char *step_state, const char *error, ag_err *err)
{
	static const char sql[] = "INSERT INTO job_events (job_id, job_state, step, step_state, error) "
	                          "VALUES ($1, $2, $3, $4, $5) RETURNING id, (extract(epoch FROM at) * 1000)::bigint";
	PGresult *r = NULL;
	ag_status st;
	if (plan->nevents >= FLOW_MAX_EVENTS) {
		st = ag_err_set(err, AG_E_INTERNAL, "more than %d events in one transition", FLOW_MAX_EVENTS);
		goto out;
	}
	const char *p[] = {plan->job_id, job_state, step, step_state, error};
	st = ag_db_exec(c, sql, 5, p, &r, err);
	if (st != AG_OK)
		goto out;
	flow_event *ev = &plan->events[plan->nevents];
	memset(ev, 0, sizeof *ev);
	if (error && !(ev->error = strdup(error))) {
		st = ag_err_set(err, AG_E_NOMEM, "no memory for an event");
		goto out;
	}
	ev->id = ag_str_to_i64(PQgetvalue(r, 0, 0), 0);
	ev->at_ms = ag_str_to_i64(PQgetvalue(r, 0, 1), 0);
	ag_str_copy(ev->job_state, sizeof ev->job_state, job_state);
	int k = step ? flow_step_index(step) : -1;
	ev->step = k >= 0 ? flow_step_names[k] : NULL;
	ag_str_copy(ev->step_state, sizeof ev->step_state, step_state);
	plan->nevents++;
out:
	PQclear(r);
	return st;
}

/* Lock the job and read it with its document into the plan. *found false when it does not exist. */
static ag_status flow_load_job(PGconn *c, flow_plan *plan, bool *found, ag_err *err)
{
	static const char sql[] =
	        "SELECT j.state, coalesce(j.traceparent, ''), d.id, d.owner_id, d.storage_key, d.filename, "
	        "coalesce(d.claimed_mime, ''), d.size, d.sha256 "
	        "FROM jobs j JOIN documents d ON d.id = j.document_id WHERE j.id = $1 FOR NO KEY UPDATE OF j";
	PGresult *r = NULL;
	const char *p[] = {plan->job_id};
	ag_status st = ag_db_exec(c, sql, 1, p, &r, err);
	if (st != AG_OK)
		goto out;
	*found = PQntuples(r) == 1;
	if (!*found)
		goto out;
	ag_str_copy(plan->job_state, sizeof plan->job_state, PQgetvalue(r, 0, 0));
	if (!flow_dup(r, 1, &plan->traceparent) || !flow_dup(r, 2, &plan->document_id) ||
	    !flow_dup(r, 3, &plan->owner_id) || !flow_dup(r, 4, &plan->storage_key) ||
	    !flow_dup(r, 5, &plan->filename) || !flow_dup(r, 6, &plan->claimed_mime) ||
	    !flow_dup(r, 8, &plan->sha256)) {
		st = ag_err_set(err, AG_E_NOMEM, "no memory for the job's document");
		goto out;
	}
	int64_t size = ag_str_to_i64(PQgetvalue(r, 0, 7), 0);
	plan->size = size > 0 ? (uint64_t)size : 0;
out:
	PQclear(r);
	return st;
}

/* Step rows of the job: states[] and errors (row indexes kept in *rows, owned by the caller). */
static ag_status flow_load_steps(PGconn *c, flow_plan *plan, PGresult **rows, ag_err *err)
{
	static const char sql_select[] = "SELECT name, state, coalesce(error_code, ''), coalesce(error, '') "
	                                 "FROM job_steps WHERE job_id = $1";
	static const char sql_create[] = "INSERT INTO job_steps (job_id, name) VALUES ($1, 'validate'), "
	                                 "($1, 'metadata'), ($1, 'content'), ($1, 'ai') ON CONFLICT DO NOTHING";
	const char *p[] = {plan->job_id};
	ag_status st = ag_db_exec(c, sql_select, 1, p, rows, err);
	if (st != AG_OK || PQntuples(*rows) == FLOW_STEPS)
		return st;
	/* First sight of the job (or a partial set, which only a manual edit makes): create what is missing. */
	PQclear(*rows);
	*rows = NULL;
	st = ag_db_exec(c, sql_create, 1, p, NULL, err);
	if (st != AG_OK)
		return st;
	return ag_db_exec(c, sql_select, 1, p, rows, err);
}

static ag_status flow_finish(PGconn *c, flow_plan *plan, const flow_decision *d, const char *error_code,
                             const char *error, ag_err *err)
{
	static const char sql_job[] =
	        "UPDATE jobs SET state = $2, error_code = $3, error = $4, finished_at = now(), updated_at = now(), "
	        "started_at = coalesce(started_at, now()) WHERE id = $1";
	/* Steps that will never run, or whose result no longer matters; the fence turns their workers away. */
	static const char sql_steps[] =
	        "UPDATE job_steps SET state = CASE WHEN state = 'pending' THEN 'skipped' ELSE 'cancelled' END, "
	        "finished_at = now() WHERE job_id = $1 AND state IN ('pending', 'dispatched', 'running') "
	        "RETURNING name, state";
	PGresult *r = NULL;
	const char *pj[] = {plan->job_id, d->finish, error_code, error};
	ag_status st = ag_db_exec(c, sql_job, 4, pj, NULL, err);
	if (st != AG_OK)
		goto out;
	ag_str_copy(plan->job_state, sizeof plan->job_state, d->finish);
	const char *ps[] = {plan->job_id};
	st = ag_db_exec(c, sql_steps, 1, ps, &r, err);
	if (st != AG_OK)
		goto out;
	for (int i = 0; i < PQntuples(r) && st == AG_OK; i++)
		st = flow_event_add(c, plan, d->finish, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), NULL, err);
	if (st != AG_OK)
		goto out;
	/* The job-level event comes last: it is the one that tells a watcher the job is over. */
	st = flow_event_add(c, plan, d->finish, NULL, NULL, error, err);
out:
	PQclear(r);
	return st;
}

/* true when the UPDATE of `r` changed at least one row */
static bool flow_changed(PGresult *r)
{
	const char *n = PQcmdTuples(r);
	return n && *n && strcmp(n, "0") != 0;
}

static ag_status flow_dispatch(PGconn *c, flow_plan *plan, const flow_decision *d, ag_err *err)
{
	static const char sql_start[] = "UPDATE jobs SET state = 'running', started_at = coalesce(started_at, now()), "
	                                "updated_at = now() WHERE id = $1 AND state = 'queued'";
	static const char sql_touch[] = "UPDATE jobs SET updated_at = now() WHERE id = $1";
	static const char sql_step[] =
	        "UPDATE job_steps SET state = 'dispatched', attempt = attempt + 1, dispatched_at = now(), "
	        "started_at = NULL, finished_at = NULL, worker = NULL, error_code = NULL, error = NULL "
	        "WHERE job_id = $1 AND name = $2 AND state = 'pending'";
	const char *p[] = {plan->job_id, NULL};
	PGresult *r = NULL;
	ag_status st;
	/* Events only for rows this statement changed: the job lock makes that all of them, this keeps it so. */
	if (strcmp(plan->job_state, "queued") == 0) {
		st = ag_db_exec(c, sql_start, 1, p, &r, err);
		if (st != AG_OK)
			goto out;
		ag_str_copy(plan->job_state, sizeof plan->job_state, "running");
		if (flow_changed(r))
			st = flow_event_add(c, plan, "running", NULL, NULL, NULL, err);
	} else {
		st = ag_db_exec(c, sql_touch, 1, p, &r, err);
	}
	for (int i = 0; i < FLOW_STEPS && st == AG_OK; i++) {
		if (!d->dispatch[i])
			continue;
		PQclear(r);
		r = NULL;
		p[1] = flow_step_names[i];
		st = ag_db_exec(c, sql_step, 2, p, &r, err);
		if (st == AG_OK && flow_changed(r))
			st = flow_event_add(c, plan, plan->job_state, flow_step_names[i], "dispatched", NULL, err);
	}
out:
	PQclear(r);
	return st;
}

/* Every step in state 'dispatched': the new dispatches and the ones whose task may not have been published. */
static ag_status flow_collect_tasks(PGconn *c, flow_plan *plan, ag_err *err)
{
	static const char sql[] =
	        "SELECT name, attempt, coalesce((extract(epoch FROM dispatched_at) * 1000)::bigint, 0) "
	        "FROM job_steps WHERE job_id = $1 AND state = 'dispatched'";
	PGresult *r = NULL;
	const char *p[] = {plan->job_id};
	ag_status st = ag_db_exec(c, sql, 1, p, &r, err);
	if (st != AG_OK)
		goto out;
	/* Flow order, whatever order the rows came in. */
	for (int s = 0; s < FLOW_STEPS; s++) {
		for (int i = 0; i < PQntuples(r); i++) {
			if (strcmp(PQgetvalue(r, i, 0), flow_step_names[s]) != 0)
				continue;
			flow_task *t = &plan->tasks[plan->ntasks++];
			t->step = flow_step_names[s];
			t->attempt = (uint32_t)ag_str_to_i64(PQgetvalue(r, i, 1), 0);
			t->dispatched_at_ms = ag_str_to_i64(PQgetvalue(r, i, 2), 0);
		}
	}
out:
	PQclear(r);
	return st;
}

static bool flow_terminal(const char *job_state)
{
	return strcmp(job_state, "succeeded") == 0 || strcmp(job_state, "failed") == 0 ||
	       strcmp(job_state, "rejected") == 0 || strcmp(job_state, "cancelled") == 0;
}

ag_status flow_advance(PGconn *c, const char *job_id, flow_plan *plan, ag_err *err)
{
	PGresult *steps = NULL;
	bool in_tx = false, found = false;
	ag_status st;
	memset(plan, 0, sizeof *plan);
	if (!flow_uuid_valid(job_id)) {
		st = ag_err_set(err, AG_E_INVAL, "job id is not a uuid");
		goto out;
	}
	ag_str_copy(plan->job_id, sizeof plan->job_id, job_id);
	st = ag_db_begin(c, err);
	if (st != AG_OK)
		goto out;
	in_tx = true;
	st = flow_load_job(c, plan, &found, err);
	if (st != AG_OK)
		goto out;
	if (!found) {
		st = ag_err_set(err, AG_E_NOTFOUND, "job %s does not exist", job_id);
		goto out;
	}
	if (flow_terminal(plan->job_state))
		goto commit;
	st = flow_load_steps(c, plan, &steps, err);
	if (st != AG_OK)
		goto out;

	const char *states[FLOW_STEPS] = {NULL, NULL, NULL, NULL};
	int rows[FLOW_STEPS] = {-1, -1, -1, -1};
	for (int i = 0; i < PQntuples(steps); i++) {
		int k = flow_step_index(PQgetvalue(steps, i, 0));
		if (k >= 0) {
			states[k] = PQgetvalue(steps, i, 1);
			rows[k] = i;
		}
	}
	flow_decision d;
	flow_decide(states, &d);
	if (d.finish) {
		const char *code = NULL, *error = NULL;
		if (d.cause >= 0 && rows[d.cause] >= 0) {
			code = PQgetvalue(steps, rows[d.cause], 2);
			error = PQgetvalue(steps, rows[d.cause], 3);
			code = *code ? code : NULL;
			error = *error ? error : NULL;
		}
		st = flow_finish(c, plan, &d, code, error, err);
		if (st != AG_OK)
			goto out;
		goto commit;
	}
	bool any = false;
	for (int i = 0; i < FLOW_STEPS; i++)
		any = any || d.dispatch[i];
	if (any) {
		st = flow_dispatch(c, plan, &d, err);
		if (st != AG_OK)
			goto out;
	}
	st = flow_collect_tasks(c, plan, err);
	if (st != AG_OK)
		goto out;
commit:
	st = ag_db_commit(c, err);
	in_tx = false;
out:
	PQclear(steps);
	if (in_tx)
		ag_db_rollback(c);
	if (st != AG_OK) {
		char id[FLOW_ID_MAX];
		memcpy(id, plan->job_id, sizeof id);
		flow_plan_free(plan);
		memcpy(plan->job_id, id, sizeof id);
	}
	return st;
}

/* ---------- messages ---------- */

static ag_status flow_pack(const ProtobufCMessage *m, uint8_t **buf, size_t *len, ag_err *err)
{
	*len = protobuf_c_message_get_packed_size(m);
	*buf = malloc(*len ? *len : 1);
	if (!*buf)
		return ag_err_set(err, AG_E_NOMEM, "no memory to pack a message");
	protobuf_c_message_pack(m, *buf);
	return AG_OK;
}

ag_status flow_task_encode(const flow_plan *plan, size_t i, const char *traceparent, uint8_t **buf, size_t *len,
                           ag_err *err)
{
	*buf = NULL;
	*len = 0;
	if (i >= plan->ntasks)
		return ag_err_set(err, AG_E_INVAL, "no task %zu in the plan", i);
	const flow_task *t = &plan->tasks[i];
	Aegis__V1__DocumentRef doc = AEGIS__V1__DOCUMENT_REF__INIT;
	doc.document_id = plan->document_id;
	doc.owner_id = plan->owner_id;
	doc.storage_key = plan->storage_key;
	doc.filename = plan->filename;
	doc.claimed_mime = plan->claimed_mime;
	doc.size = plan->size;
	doc.sha256 = plan->sha256;
	Aegis__V1__StepTask task = AEGIS__V1__STEP_TASK__INIT;
	task.job_id = (char *)plan->job_id;
	task.step = flow_step_id(t->step);
	task.attempt = t->attempt;
	task.document = &doc;
	task.traceparent = (char *)(traceparent ? traceparent : plan->traceparent ? plan->traceparent : "");
	task.dispatched_at_ms = t->dispatched_at_ms;
	return flow_pack(&task.base, buf, len, err);
}

ag_status flow_event_encode(const flow_plan *plan, size_t i, uint8_t **buf, size_t *len, ag_err *err)
{
	*buf = NULL;
	*len = 0;
	if (i >= plan->nevents)
		return ag_err_set(err, AG_E_INVAL, "no event %zu in the plan", i);
	const flow_event *e = &plan->events[i];
	Aegis__V1__JobEvent ev = AEGIS__V1__JOB_EVENT__INIT;
	ev.job_id = (char *)plan->job_id;
	ev.seq = e->id;
	ev.job_state = (char *)e->job_state;
	ev.step = e->step ? flow_step_id(e->step) : AEGIS__V1__STEP__STEP_UNSPECIFIED;
	ev.step_state = (char *)e->step_state;
	ev.error = e->error ? e->error : (char *)"";
	ev.at_ms = e->at_ms;
	return flow_pack(&ev.base, buf, len, err);
}
