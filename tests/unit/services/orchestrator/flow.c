/*
 * Tests services/orchestrator/flow.c: the job state machine against a real
 * PostgreSQL - the server of AEGIS_TEST_DATABASE_URL when set, otherwise one
 * this program starts with scripts/devstack on 127.0.0.1:15442 (stopped and
 * wiped after). Workers are simulated by UPDATEs of job_steps, the way the
 * step runner records outcomes; every test works in a scratch database.
 */
#include "../../../../services/orchestrator/flow.c"

#include "aegis/db.h"
#include "aegis/log.h"
#include "test.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define TEST_PG_PORT      15442 /* devstack PostgreSQL when no AEGIS_TEST_DATABASE_URL */
#define TEST_CONNINFO_MAX 1024
#define TEST_CMD_MAX      1024
#define TEST_THREADS      6
#define TEST_SQL_MAX      512

static char stack_dir[64];
static char base_url[TEST_CONNINFO_MAX];
static char scratch_db[64];
static char scratch_info[TEST_CONNINFO_MAX];
static ag_db_pool *pool;
static char user_id[FLOW_ID_MAX];

/* ---------- helpers ---------- */

static void conninfo_for_db(char *out, size_t cap, const char *base, const char *db)
{
	PQconninfoOption *opts = PQconninfoParse(base, NULL);
	size_t n = 0;
	out[0] = '\0';
	for (PQconninfoOption *o = opts; o && o->keyword; o++) {
		if (!o->val || !o->val[0] || strcmp(o->keyword, "dbname") == 0)
			continue;
		n += (size_t)snprintf(out + n, n < cap ? cap - n : 0, "%s='", o->keyword);
		for (const char *v = o->val; *v && n + 3 < cap; v++) {
			if (*v == '\'' || *v == '\\')
				out[n++] = '\\';
			out[n++] = *v;
		}
		n += (size_t)snprintf(out + n, n < cap ? cap - n : 0, "' ");
	}
	snprintf(out + n, n < cap ? cap - n : 0, "dbname='%s'", db);
	PQconninfoFree(opts);
}

static bool admin_exec(const char *info, const char *sql)
{
	PGconn *c = PQconnectdb(info);
	bool ok = PQstatus(c) == CONNECTION_OK;
	if (ok) {
		PGresult *r = PQexec(c, sql);
		ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
		if (!ok)
			fprintf(stderr, "  admin: %s: %s", sql, PQresultErrorMessage(r));
		PQclear(r);
	} else {
		fprintf(stderr, "  admin: cannot connect: %s", PQerrorMessage(c));
	}
	PQfinish(c);
	return ok;
}

static int devstack(const char *verb, const char *extra)
{
	char cmd[TEST_CMD_MAX];
	snprintf(cmd, sizeof cmd, "scripts/devstack %s --only pg --dir %s --pg-port %d %s >&2", verb, stack_dir,
	         TEST_PG_PORT, extra);
	return system(cmd);
}

/* First column of the first row as text into out (NULL -> "NULL"); false on error or no row. */
static bool q1(PGconn *c, char *out, size_t cap, const char *sql, int n, const char *const *params)
{
	PGresult *r = NULL;
	ag_err e;
	out[0] = '\0';
	if (ag_db_exec(c, sql, n, params, &r, &e) != AG_OK) {
		fprintf(stderr, "  query %s: %s\n", sql, e.msg);
		return false;
	}
	bool ok = PQntuples(r) >= 1;
	if (ok)
		snprintf(out, cap, "%s", PQgetisnull(r, 0, 0) ? "NULL" : PQgetvalue(r, 0, 0));
	PQclear(r);
	return ok;
}

static long long q_ll(PGconn *c, const char *sql, const char *job)
{
	char v[64];
	const char *p[] = {job};
	if (!q1(c, v, sizeof v, sql, job ? 1 : 0, p))
		return -1;
	return strtoll(v, NULL, 10);
}

static bool exec_sql(PGconn *c, const char *sql, int n, const char *const *params)
{
	ag_err e;
	if (ag_db_exec(c, sql, n, params, NULL, &e) != AG_OK) {
		fprintf(stderr, "  exec %s: %s\n", sql, e.msg);
		return false;
	}
	return true;
}

/* A new document + job in `state`; its id into job (FLOW_ID_MAX bytes). */
static bool make_job(PGconn *c, const char *state, char *job)
{
	static const char sql[] =
	        "WITH d AS (INSERT INTO documents (id, owner_id, filename, claimed_mime, size, sha256, storage_key) "
	        "VALUES (gen_random_uuid(), $1, 'report.pdf', 'application/pdf', 1234, "
	        "'9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08', 'uploads/ab/cd.bin') RETURNING "
	        "id) "
	        "INSERT INTO jobs (id, owner_id, document_id, state, traceparent) "
	        "SELECT gen_random_uuid(), $1, d.id, $2, '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' "
	        "FROM d "
	        "RETURNING id";
	const char *p[] = {user_id, state};
	return q1(c, job, FLOW_ID_MAX, sql, 2, p);
}

/* Simulate a worker: set a step's state (and error) the way the step runner records it. */
static bool set_step(PGconn *c, const char *job, const char *step, const char *state, const char *code,
                     const char *error)
{
	static const char sql[] = "UPDATE job_steps SET state = $3, error_code = $4, error = $5, "
	                          "finished_at = CASE WHEN $3 IN ('succeeded', 'failed', 'rejected') THEN now() END "
	                          "WHERE job_id = $1 AND name = $2";
	const char *p[] = {job, step, state, code, error};
	return exec_sql(c, sql, 5, p);
}

static void step_state(PGconn *c, const char *job, const char *step, char *state, size_t cap, long long *attempt)
{
	const char *p[] = {job, step};
	q1(c, state, cap, "SELECT state FROM job_steps WHERE job_id = $1 AND name = $2", 2, p);
	char a[32];
	q1(c, a, sizeof a, "SELECT attempt FROM job_steps WHERE job_id = $1 AND name = $2", 2, p);
	*attempt = strtoll(a, NULL, 10);
}

static void job_col(PGconn *c, const char *job, const char *col, char *out, size_t cap)
{
	char sql[TEST_SQL_MAX];
	snprintf(sql, sizeof sql, "SELECT %s FROM jobs WHERE id = $1", col);
	const char *p[] = {job};
	q1(c, out, cap, sql, 1, p);
}

static long long events_of(PGconn *c, const char *job)
{
	return q_ll(c, "SELECT count(*) FROM job_events WHERE job_id = $1", job);
}

/* The task of `step` in the plan, or NULL. */
static const flow_task *task_of(const flow_plan *p, const char *step)
{
	for (size_t i = 0; i < p->ntasks; i++)
		if (strcmp(p->tasks[i].step, step) == 0)
			return &p->tasks[i];
	return NULL;
}

static PGconn *conn(void)
{
	PGconn *c = NULL;
	ag_err e;
	if (ag_db_acquire(pool, &c, 5000, &e) != AG_OK) {
		fprintf(stderr, "  acquire: %s\n", e.msg);
		return NULL;
	}
	return c;
}

static ag_status advance(PGconn *c, const char *job, flow_plan *plan)
{
	ag_err e;
	ag_err_clear(&e);
	ag_status st = flow_advance(c, job, plan, &e);
	if (st != AG_OK && st != AG_E_NOTFOUND)
		fprintf(stderr, "  flow_advance: %s\n", e.msg);
	return st;
}

/* ---------- pure decision ---------- */

static void decide_follows_the_flow(void)
{
	static const struct {
		const char *s[FLOW_STEPS];
		const char *finish;
		int cause;
		bool d[FLOW_STEPS];
	} cases[] = {
	        {{"pending", "pending", "pending", "pending"}, NULL, -1, {true, false, false, false}},
	        {{"dispatched", "pending", "pending", "pending"}, NULL, -1, {false, false, false, false}},
	        {{"running", "pending", "pending", "pending"}, NULL, -1, {false, false, false, false}},
	        {{"succeeded", "pending", "pending", "pending"}, NULL, -1, {false, true, true, false}},
	        {{"succeeded", "running", "pending", "pending"}, NULL, -1, {false, false, true, false}},
	        {{"succeeded", "running", "succeeded", "pending"}, NULL, -1, {false, false, false, true}},
	        {{"succeeded", "succeeded", "running", "pending"}, NULL, -1, {false, false, false, false}},
	        {{"succeeded", "succeeded", "succeeded", "pending"}, NULL, -1, {false, false, false, true}},
	        {{"succeeded", "succeeded", "succeeded", "running"}, NULL, -1, {false, false, false, false}},
	        {{"succeeded", "succeeded", "succeeded", "succeeded"}, "succeeded", -1, {false, false, false, false}},
	        {{"rejected", "pending", "pending", "pending"}, "rejected", 0, {false, false, false, false}},
	        {{"succeeded", "failed", "running", "pending"}, "failed", 1, {false, false, false, false}},
	        {{"succeeded", "failed", "rejected", "pending"}, "rejected", 2, {false, false, false, false}},
	        {{"succeeded", "succeeded", "succeeded", "failed"}, "failed", 3, {false, false, false, false}},
	        {{"pending", NULL, NULL, NULL}, NULL, -1, {true, false, false, false}},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		flow_decision d;
		flow_decide(cases[i].s, &d);
		if (cases[i].finish)
			AG_CHECK_STR(d.finish, cases[i].finish);
		else
			AG_CHECK(d.finish == NULL);
		AG_CHECK_INT(d.cause, cases[i].cause);
		for (int k = 0; k < FLOW_STEPS; k++) {
			if (d.dispatch[k] != cases[i].d[k])
				fprintf(stderr, "  case %zu step %s: dispatch %d, want %d\n", i, flow_step_names[k],
				        d.dispatch[k], cases[i].d[k]);
			AG_CHECK(d.dispatch[k] == cases[i].d[k]);
		}
	}
}

static void names_and_ids_agree(void)
{
	for (int i = 0; i < FLOW_STEPS; i++)
		AG_CHECK_STR(flow_step_name(flow_step_id(flow_step_names[i])), flow_step_names[i]);
	AG_CHECK_INT(flow_step_id("ocr"), AEGIS__V1__STEP__STEP_UNSPECIFIED);
	AG_CHECK(flow_step_name(AEGIS__V1__STEP__STEP_UNSPECIFIED) == NULL);
	AG_CHECK(flow_uuid_valid("0b5cbd4e-2f7c-4c59-9a39-1d0c64d0c0de"));
	AG_CHECK(!flow_uuid_valid("0b5cbd4e-2f7c-4c59-9a39-1d0c64d0c0d"));
	AG_CHECK(!flow_uuid_valid("0b5cbd4e-2f7c-4c59-9a39-1d0c64d0c0dz"));
	AG_CHECK(!flow_uuid_valid("0b5cbd4e+2f7c-4c59-9a39-1d0c64d0c0de"));
	AG_CHECK(!flow_uuid_valid("x'; DROP TABLE jobs; --"));
	AG_CHECK(!flow_uuid_valid(NULL));
}

/* ---------- against PostgreSQL ---------- */

static void submission_creates_steps_and_dispatches_validate(void)
{
	PGconn *c = conn();
	char job[FLOW_ID_MAX], v[128], state[32];
	long long attempt;
	flow_plan plan;
	AG_CHECK(c && make_job(c, "queued", job));
	AG_CHECK_INT(advance(c, job, &plan), AG_OK);

	AG_CHECK_INT(q_ll(c, "SELECT count(*) FROM job_steps WHERE job_id = $1", job), 4);
	step_state(c, job, "validate", state, sizeof state, &attempt);
	AG_CHECK_STR(state, "dispatched");
	AG_CHECK_INT(attempt, 1);
	for (int i = 1; i < FLOW_STEPS; i++) {
		step_state(c, job, flow_step_names[i], state, sizeof state, &attempt);
		AG_CHECK_STR(state, "pending");
		AG_CHECK_INT(attempt, 0);
	}
	job_col(c, job, "state", v, sizeof v);
	AG_CHECK_STR(v, "running");
	job_col(c, job, "started_at IS NOT NULL", v, sizeof v);
	AG_CHECK_STR(v, "t");
	AG_CHECK_INT(q_ll(c, "SELECT count(*) FROM job_steps WHERE job_id = $1 AND dispatched_at IS NOT NULL", job), 1);

	/* the plan: one task with the document, and the two events written */
	AG_CHECK_STR(plan.job_state, "running");
	AG_CHECK_INT(plan.ntasks, 1);
	AG_CHECK_STR(plan.tasks[0].step, "validate");
	AG_CHECK_INT(plan.tasks[0].attempt, 1);
	AG_CHECK(plan.tasks[0].dispatched_at_ms > 0);
	AG_CHECK_STR(plan.storage_key, "uploads/ab/cd.bin");
	AG_CHECK_STR(plan.filename, "report.pdf");
	AG_CHECK_STR(plan.claimed_mime, "application/pdf");
	AG_CHECK_STR(plan.owner_id, user_id);
	AG_CHECK_INT(plan.size, 1234);
	AG_CHECK_STR(plan.traceparent, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
	AG_CHECK_INT(plan.nevents, 2);
	AG_CHECK_INT(events_of(c, job), 2);
	if (plan.nevents == 2) {
		AG_CHECK(plan.events[0].step == NULL);
		AG_CHECK_STR(plan.events[0].job_state, "running");
		AG_CHECK_STR(plan.events[1].step, "validate");
		AG_CHECK_STR(plan.events[1].step_state, "dispatched");
		AG_CHECK(plan.events[1].id > plan.events[0].id);
		AG_CHECK(plan.events[0].at_ms > 0);
	}
	flow_plan_free(&plan);
	ag_db_release(pool, c);
}

static void second_advance_only_republishes(void)
{
	PGconn *c = conn();
	char job[FLOW_ID_MAX], v[64], state[32];
	long long attempt;
	flow_plan plan;
	AG_CHECK(c && make_job(c, "queued", job));
	AG_CHECK_INT(advance(c, job, &plan), AG_OK);
	flow_plan_free(&plan);
	job_col(c, job, "updated_at", v, sizeof v);
	char updated[64];
	snprintf(updated, sizeof updated, "%s", v);

	AG_CHECK_INT(advance(c, job, &plan), AG_OK);
	AG_CHECK_INT(plan.nevents, 0);
	AG_CHECK_INT(plan.ntasks, 1); /* the still-dispatched validate, for a republish with the same id */
	AG_CHECK_STR(plan.tasks[0].step, "validate");
	AG_CHECK_INT(plan.tasks[0].attempt, 1);
	flow_plan_free(&plan);
	step_state(c, job, "validate", state, sizeof state, &attempt);
	AG_CHECK_INT(attempt, 1);
	AG_CHECK_INT(events_of(c, job), 2);
	job_col(c, job, "updated_at", v, sizeof v);
	AG_CHECK_STR(v, updated); /* a no-op writes nothing */

	/* once the worker claimed it, there is nothing to republish */
	AG_CHECK(set_step(c, job, "validate", "running", NULL, NULL));
	AG_CHECK_INT(advance(c, job, &plan), AG_OK);
	AG_CHECK_INT(plan.ntasks, 0);
	AG_CHECK_INT(plan.nevents, 0);
	flow_plan_free(&plan);
	ag_db_release(pool, c);
}

static void validate_success_dispatches_metadata_and_content(void)
{
	PGconn *c = conn();
	char job[FLOW_ID_MAX], state[32];
	long long attempt;
	flow_plan plan;
	AG_CHECK(c && make_job(c, "queued", job));
	AG_CHECK_INT(advance(c, job, &plan), AG_OK);
	flow_plan_free(&plan);

	AG_CHECK(set_step(c, job, "validate", "succeeded", NULL, NULL));
	AG_CHECK_INT(advance(c, job, &plan), AG_OK);
	AG_CHECK_INT(plan.ntasks, 2);
	AG_CHECK(task_of(&plan, "metadata") && task_of(&plan, "metadata")->attempt == 1);
	AG_CHECK(task_of(&plan, "content") && task_of(&plan, "content")->attempt == 1);
	AG_CHECK(task_of(&plan, "validate") == NULL);
	AG_CHECK(task_of(&plan, "ai") == NULL);
	AG_CHECK_INT(plan.nevents, 2); /* metadata and content dispatched; the job was already running */
	flow_plan_free(&plan);
	step_state(c, job, "ai", state, sizeof state, &attempt);
	AG_CHECK_STR(state, "pending");
	AG_CHECK_INT(events_of(c, job), 4);
	ag_db_release(pool, c);
}

static void ai_waits_for_content_only(void)
{
	PGconn *c = conn();
	char job[FLOW_ID_MAX], state[32];
	long long attempt;
	flow_plan plan;
	AG_CHECK(c && make_job(c, "queued", job));
	AG_CHECK_INT(advance(c, job, &plan), AG_OK);
	flow_plan_free(&plan);
	AG_CHECK(set_step(c, job, "validate", "succeeded", NULL, NULL));
	AG_CHECK_INT(advance(c, job, &plan), AG_OK);
	flow_plan_free(&plan);

	/* metadata done, content still working: ai waits */
	AG_CHECK(set_step(c, job, "metadata", "succeeded", NULL, NULL));
	AG_CHECK(set_step(c, job, "content", "running", NULL, NULL));
	AG_CHECK_INT(advance(c, job, &plan), AG_OK);
	AG_CHECK_INT(plan.ntasks, 0);
	AG_CHECK_INT(plan.nevents, 0);
	flow_plan_free(&plan);
	step_state(c, job, "ai", state, sizeof state, &attempt);
	AG_CHECK_STR(state, "pending");

	/* content done: ai goes */
	AG_CHECK(set_step(c, job, "content", "succeeded", NULL, NULL));
	AG_CHECK_INT(advance(c, job, &plan), AG_OK);
	AG_CHECK_INT(plan.ntasks, 1);
	AG_CHECK(task_of(&plan, "ai") && task_of(&plan, "ai")->attempt == 1);
	flow_plan_free(&plan);

	/* and ai does not wait for metadata */
	char job2[FLOW_ID_MAX];
	AG_CHECK(make_job(c, "queued", job2));
	AG_CHECK_INT(advance(c, job2, &plan), AG_OK);
	flow_plan_free(&plan);
	AG_CHECK(set_step(c, job2, "validate", "succeeded", NULL, NULL));
	AG_CHECK_INT(advance(c, job2, &plan), AG_OK);
	flow_plan_free(&plan);
	AG_CHECK(set_step(c, job2, "metadata", "running", NULL, NULL));
	AG_CHECK(set_step(c, job2, "content", "succeeded", NULL, NULL));
	AG_CHECK_INT(advance(c, job2, &plan), AG_OK);
	AG_CHECK_INT(plan.ntasks, 1);
	AG_CHECK(task_of(&plan, "ai") != NULL);
	flow_plan_free(&plan);
	step_state(c, job2, "metadata", state, sizeof state, &attempt);
	AG_CHECK_STR(state, "running");
	ag_db_release(pool, c);
}

static void all_steps_succeeded_ends_the_job(void)
{
	PGconn *c = conn();
	char job[FLOW_ID_MAX], v[128];
	flow_plan plan;
	AG_CHECK(c && make_job(c, "queued", job));
	AG_CHECK_INT(advance(c, job, &plan), AG_OK);
	flow_plan_free(&plan);
	for (int i = 0; i < FLOW_STEPS; i++)
		AG_CHECK(set_step(c, job, flow_step_names[i], "succeeded", NULL, NULL));
	AG_CHECK_INT(advance(c, job, &plan), AG_OK);
	AG_CHECK_STR(plan.job_state, "succeeded");
	AG_CHECK_INT(plan.ntasks, 0);
	AG_CHECK_INT(plan.nevents, 1);
	if (plan.nevents == 1) {
		AG_CHECK(plan.events[0].step == NULL);
		AG_CHECK_STR(plan.events[0].job_state, "succeeded");
		AG_CHECK(plan.events[0].error == NULL);
	}
	flow_plan_free(&plan);
	job_col(c, job, "state", v, sizeof v);
	AG_CHECK_STR(v, "succeeded");
	job_col(c, job, "finished_at IS NOT NULL", v, sizeof v);
	AG_CHECK_STR(v, "t");
	job_col(c, job, "error", v, sizeof v);
	AG_CHECK_STR(v, "NULL");

	/* a terminal job is left alone */
	long long before = events_of(c, job);
	AG_CHECK_INT(advance(c, job, &plan), AG_OK);
	AG_CHECK_INT(plan.ntasks, 0);
	AG_CHECK_INT(plan.nevents, 0);
	AG_CHECK_STR(plan.job_state, "succeeded");
	flow_plan_free(&plan);
	AG_CHECK_INT(events_of(c, job), before);
	ag_db_release(pool, c);
}

static void rejected_step_rejects_the_job(void)
{
	PGconn *c = conn();
	char job[FLOW_ID_MAX], v[128], state[32];
	long long attempt;
	flow_plan plan;
	AG_CHECK(c && make_job(c, "queued", job));
	AG_CHECK_INT(advance(c, job, &plan), AG_OK);
	flow_plan_free(&plan);
	AG_CHECK(set_step(c, job, "validate", "rejected", "type_not_allowed",
	                  "application/x-msdownload is not an allowed type"));
	AG_CHECK_INT(advance(c, job, &plan), AG_OK);
	AG_CHECK_STR(plan.job_state, "rejected");
	AG_CHECK_INT(plan.ntasks, 0);
	/* three skipped steps, then the job-level event with the reason, last */
	AG_CHECK_INT(plan.nevents, 4);
	if (plan.nevents == 4) {
		for (int i = 0; i < 3; i++) {
			AG_CHECK(plan.events[i].step != NULL);
			AG_CHECK_STR(plan.events[i].step_state, "skipped");
			AG_CHECK_STR(plan.events[i].job_state, "rejected");
		}
		AG_CHECK(plan.events[3].step == NULL);
		AG_CHECK_STR(plan.events[3].job_state, "rejected");
		AG_CHECK_STR(plan.events[3].error, "application/x-msdownload is not an allowed type");
	}
	flow_plan_free(&plan);
	job_col(c, job, "state", v, sizeof v);
	AG_CHECK_STR(v, "rejected");
	job_col(c, job, "error_code", v, sizeof v);
	AG_CHECK_STR(v, "type_not_allowed");
	job_col(c, job, "error", v, sizeof v);
	AG_CHECK_STR(v, "application/x-msdownload is not an allowed type");
	job_col(c, job, "finished_at IS NOT NULL", v, sizeof v);
	AG_CHECK_STR(v, "t");
	step_state(c, job, "metadata", state, sizeof state, &attempt);
	AG_CHECK_STR(state, "skipped");
	AG_CHECK_INT(attempt, 0); /* never dispatched */
	ag_db_release(pool, c);
}

static void failed_step_fails_the_job_and_fences_the_rest(void)
{
	PGconn *c = conn();
	char job[FLOW_ID_MAX], v[128], state[32];
	long long attempt;
	flow_plan plan;
	AG_CHECK(c && make_job(c, "queued", job));
	AG_CHECK_INT(advance(c, job, &plan), AG_OK);
	flow_plan_free(&plan);
	AG_CHECK(set_step(c, job, "validate", "succeeded", NULL, NULL));
	AG_CHECK_INT(advance(c, job, &plan), AG_OK);
	flow_plan_free(&plan);
	AG_CHECK(set_step(c, job, "content", "running", NULL, NULL));
	AG_CHECK(set_step(c, job, "metadata", "failed", "io", "gave up after 5 attempts: input/output error"));
	AG_CHECK_INT(advance(c, job, &plan), AG_OK);
	AG_CHECK_STR(plan.job_state, "failed");
	AG_CHECK_INT(plan.ntasks, 0);
	AG_CHECK(plan.nevents == 3); /* content cancelled, ai skipped, job failed */
	if (plan.nevents == 3) {
		AG_CHECK(plan.events[2].step == NULL);
		AG_CHECK_STR(plan.events[2].job_state, "failed");
		AG_CHECK_STR(plan.events[2].error, "gave up after 5 attempts: input/output error");
	}
	flow_plan_free(&plan);
	job_col(c, job, "state", v, sizeof v);
	AG_CHECK_STR(v, "failed");
	job_col(c, job, "error_code", v, sizeof v);
	AG_CHECK_STR(v, "io");
	job_col(c, job, "error", v, sizeof v);
	AG_CHECK_STR(v, "gave up after 5 attempts: input/output error");
	/* the running content step is cancelled, so its worker's fenced outcome update finds no row */
	step_state(c, job, "content", state, sizeof state, &attempt);
	AG_CHECK_STR(state, "cancelled");
	AG_CHECK_INT(q_ll(c,
	                  "WITH u AS (UPDATE job_steps SET state = 'succeeded' WHERE job_id = $1 AND name = 'content' "
	                  "AND attempt = 1 AND state = 'running' RETURNING 1) SELECT count(*) FROM u",
	                  job),
	             0);
	step_state(c, job, "ai", state, sizeof state, &attempt);
	AG_CHECK_STR(state, "skipped");
	ag_db_release(pool, c);
}

static void attempt_grows_on_each_dispatch(void)
{
	PGconn *c = conn();
	char job[FLOW_ID_MAX], state[32];
	long long attempt;
	flow_plan plan;
	AG_CHECK(c && make_job(c, "queued", job));
	AG_CHECK_INT(advance(c, job, &plan), AG_OK);
	flow_plan_free(&plan);
	/* a redrive puts the step back to pending: the next dispatch is a new attempt, a new fencing token */
	for (int round = 2; round <= 3; round++) {
		AG_CHECK(set_step(c, job, "validate", "pending", NULL, NULL));
		AG_CHECK_INT(advance(c, job, &plan), AG_OK);
		AG_CHECK_INT(plan.ntasks, 1);
		AG_CHECK_INT(plan.tasks[0].attempt, round);
		flow_plan_free(&plan);
		step_state(c, job, "validate", state, sizeof state, &attempt);
		AG_CHECK_STR(state, "dispatched");
		AG_CHECK_INT(attempt, round);
	}
	ag_db_release(pool, c);
}

static void unknown_or_cancelled_jobs(void)
{
	PGconn *c = conn();
	char job[FLOW_ID_MAX];
	flow_plan plan;
	ag_err e;
	AG_CHECK(c != NULL);
	AG_CHECK_INT(flow_advance(c, "0b5cbd4e-2f7c-4c59-9a39-1d0c64d0c0de", &plan, &e), AG_E_NOTFOUND);
	AG_CHECK_INT(plan.ntasks + plan.nevents, 0);
	flow_plan_free(&plan);
	AG_CHECK_INT(flow_advance(c, "not-a-uuid", &plan, &e), AG_E_INVAL);
	flow_plan_free(&plan);
	AG_CHECK_INT(PQtransactionStatus(c), PQTRANS_IDLE); /* nothing left open */

	AG_CHECK(make_job(c, "cancelled", job));
	AG_CHECK_INT(advance(c, job, &plan), AG_OK);
	AG_CHECK_INT(plan.ntasks + plan.nevents, 0);
	AG_CHECK_STR(plan.job_state, "cancelled");
	flow_plan_free(&plan);
	AG_CHECK_INT(q_ll(c, "SELECT count(*) FROM job_steps WHERE job_id = $1", job), 0);
	AG_CHECK_INT(PQtransactionStatus(c), PQTRANS_IDLE);
	ag_db_release(pool, c);
}

struct race {
	const char *job;
	ag_status st;
	size_t ntasks;
	uint32_t attempt;
};

static void *race_thread(void *arg)
{
	struct race *r = arg;
	PGconn *c = conn();
	if (!c) {
		r->st = AG_E_UNAVAILABLE;
		return NULL;
	}
	flow_plan plan;
	r->st = advance(c, r->job, &plan);
	r->ntasks = plan.ntasks;
	r->attempt = plan.ntasks ? plan.tasks[0].attempt : 0;
	flow_plan_free(&plan);
	ag_db_release(pool, c);
	return NULL;
}

static void concurrent_advances_dispatch_once(void)
{
	PGconn *c = conn();
	char job[FLOW_ID_MAX], state[32];
	long long attempt;
	AG_CHECK(c && make_job(c, "queued", job));
	struct race r[TEST_THREADS];
	pthread_t th[TEST_THREADS];
	for (int i = 0; i < TEST_THREADS; i++) {
		r[i] = (struct race){.job = job};
		pthread_create(&th[i], NULL, race_thread, &r[i]);
	}
	for (int i = 0; i < TEST_THREADS; i++) {
		pthread_join(th[i], NULL);
		AG_CHECK_INT(r[i].st, AG_OK);
		AG_CHECK_INT(r[i].ntasks, 1);
		AG_CHECK_INT(r[i].attempt, 1); /* everybody sees the one dispatch, nobody makes a second */
	}
	step_state(c, job, "validate", state, sizeof state, &attempt);
	AG_CHECK_INT(attempt, 1);
	AG_CHECK_INT(q_ll(c, "SELECT count(*) FROM job_steps WHERE job_id = $1", job), 4);
	AG_CHECK_INT(events_of(c, job), 2);
	ag_db_release(pool, c);
}

static void plan_messages_decode(void)
{
	PGconn *c = conn();
	char job[FLOW_ID_MAX];
	flow_plan plan;
	uint8_t *buf = NULL;
	size_t len = 0;
	ag_err e;
	AG_CHECK(c && make_job(c, "queued", job));
	AG_CHECK_INT(advance(c, job, &plan), AG_OK);

	AG_CHECK_INT(
	        flow_task_encode(&plan, 0, "00-4bf92f3577b34da6a3ce929d0e0e4736-1111111111111111-01", &buf, &len, &e),
	        AG_OK);
	Aegis__V1__StepTask *t = buf ? aegis__v1__step_task__unpack(NULL, len, buf) : NULL;
	AG_CHECK(t != NULL);
	if (t) {
		AG_CHECK_STR(t->job_id, job);
		AG_CHECK_INT(t->step, AEGIS__V1__STEP__STEP_VALIDATE);
		AG_CHECK_INT(t->attempt, 1);
		AG_CHECK_STR(t->traceparent, "00-4bf92f3577b34da6a3ce929d0e0e4736-1111111111111111-01");
		AG_CHECK(t->dispatched_at_ms > 0);
		AG_CHECK(t->document != NULL);
		if (t->document) {
			AG_CHECK_STR(t->document->document_id, plan.document_id);
			AG_CHECK_STR(t->document->owner_id, user_id);
			AG_CHECK_STR(t->document->storage_key, "uploads/ab/cd.bin");
			AG_CHECK_STR(t->document->sha256,
			             "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
			AG_CHECK_INT(t->document->size, 1234);
		}
		aegis__v1__step_task__free_unpacked(t, NULL);
	}
	free(buf);
	buf = NULL;

	AG_CHECK_INT(flow_event_encode(&plan, 1, &buf, &len, &e), AG_OK);
	Aegis__V1__JobEvent *ev = buf ? aegis__v1__job_event__unpack(NULL, len, buf) : NULL;
	AG_CHECK(ev != NULL);
	if (ev) {
		AG_CHECK_STR(ev->job_id, job);
		AG_CHECK_INT(ev->seq, plan.events[1].id);
		AG_CHECK_STR(ev->job_state, "running");
		AG_CHECK_INT(ev->step, AEGIS__V1__STEP__STEP_VALIDATE);
		AG_CHECK_STR(ev->step_state, "dispatched");
		aegis__v1__job_event__free_unpacked(ev, NULL);
	}
	free(buf);
	buf = NULL;
	AG_CHECK_INT(flow_event_encode(&plan, 7, &buf, &len, &e), AG_E_INVAL);
	AG_CHECK_INT(flow_task_encode(&plan, 3, NULL, &buf, &len, &e), AG_E_INVAL);
	AG_CHECK(buf == NULL);
	flow_plan_free(&plan);
	ag_db_release(pool, c);
}

/* ---------- setup ---------- */

static bool setup(void)
{
	const char *url = getenv("AEGIS_TEST_DATABASE_URL");
	ag_err e;
	if (url && url[0]) {
		snprintf(base_url, sizeof base_url, "%s", url);
	} else {
		if (access("scripts/devstack", X_OK) != 0) {
			printf("not ok - orchestrator flow: scripts/devstack not found (run from the repository root) "
			       "and "
			       "AEGIS_TEST_DATABASE_URL is not set\n");
			return false;
		}
		snprintf(stack_dir, sizeof stack_dir, "/tmp/aegis-flowtest-XXXXXX");
		if (!mkdtemp(stack_dir) || chmod(stack_dir, 0755) != 0) {
			printf("not ok - orchestrator flow: cannot make a temporary directory\n");
			stack_dir[0] = '\0';
			return false;
		}
		if (devstack("start", "") != 0) {
			printf("not ok - orchestrator flow: could not start PostgreSQL on port %d\n", TEST_PG_PORT);
			return false;
		}
		snprintf(base_url, sizeof base_url, "postgresql://aegis@127.0.0.1:%d/aegis", TEST_PG_PORT);
	}
	snprintf(scratch_db, sizeof scratch_db, "aegis_flowtest_%ld", (long)getpid());
	char sql[128];
	snprintf(sql, sizeof sql, "CREATE DATABASE %s", scratch_db);
	if (!admin_exec(base_url, sql)) {
		printf("not ok - orchestrator flow: cannot create database %s\n", scratch_db);
		scratch_db[0] = '\0';
		return false;
	}
	conninfo_for_db(scratch_info, sizeof scratch_info, base_url, scratch_db);
	if (ag_db_pool_new(&pool, scratch_info, TEST_THREADS + 1, &e) != AG_OK || ag_db_migrate(pool, &e) != AG_OK) {
		printf("not ok - orchestrator flow: migrations: %s\n", e.msg);
		return false;
	}
	PGconn *c = conn();
	bool ok = c &&
	          q1(c, user_id, sizeof user_id,
	             "INSERT INTO users (email, password_hash) VALUES ('flow@example.com', 'x') RETURNING id", 0, NULL);
	ag_db_release(pool, c);
	if (!ok)
		printf("not ok - orchestrator flow: cannot create the test user\n");
	return ok;
}

static void teardown(void)
{
	ag_db_pool_free(pool);
	if (scratch_db[0]) {
		char sql[128];
		snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", scratch_db);
		admin_exec(base_url, sql);
	}
	if (stack_dir[0]) {
		devstack("stop", "--wipe");
		rmdir(stack_dir);
	}
}

int main(void)
{
	ag_log_init("flow-test", AG_LOG_WARN);
	AG_TEST_RUN(decide_follows_the_flow);
	AG_TEST_RUN(names_and_ids_agree);
	if (!setup()) {
		teardown();
		ag_test_failed++;
		return ag_test_summary();
	}
	AG_TEST_RUN(submission_creates_steps_and_dispatches_validate);
	AG_TEST_RUN(second_advance_only_republishes);
	AG_TEST_RUN(validate_success_dispatches_metadata_and_content);
	AG_TEST_RUN(ai_waits_for_content_only);
	AG_TEST_RUN(all_steps_succeeded_ends_the_job);
	AG_TEST_RUN(rejected_step_rejects_the_job);
	AG_TEST_RUN(failed_step_fails_the_job_and_fences_the_rest);
	AG_TEST_RUN(attempt_grows_on_each_dispatch);
	AG_TEST_RUN(unknown_or_cancelled_jobs);
	AG_TEST_RUN(concurrent_advances_dispatch_once);
	AG_TEST_RUN(plan_messages_decode);
	teardown();
	return ag_test_summary();
}
