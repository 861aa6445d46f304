/*
 * Tests libcommon/src/step.c, the step runner, end to end: a real service
 * (ag_service_start with PostgreSQL, NATS JetStream and file storage), a
 * "validate" step worker with a scripted handler, tasks published the way
 * the orchestrator publishes them, and the StepResults collected from
 * aegis.results.>. Servers: AEGIS_TEST_NATS_URL / AEGIS_TEST_DATABASE_URL
 * when set, otherwise scripts/devstack on 127.0.0.1:14232 (NATS) and 15442
 * (PostgreSQL), stopped and wiped after.
 *
 * The handler's behaviour is chosen by the document's file name: ok, reject,
 * unsupported, flaky (transient once), down (always transient), slow
 * (outlives AckWait while heartbeating).
 */
#include "aegis/bus.h"
#include "aegis/db.h"
#include "aegis/log.h"
#include "aegis/service.h"
#include "aegis/step.h"
#include "test.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TEST_NATS_PORT   14232
#define TEST_PG_PORT     15442
#define TEST_HTTP_PORT   "14234"
#define TEST_ACK_WAIT_MS 3000
#define TEST_MAX_DELIVER 2
#define TEST_CRASH_LIMIT 3
#define TEST_WAIT_MS     20000 /* for a result */
#define TEST_QUIET_MS    2500  /* to be sure nothing comes */
#define TEST_MAX_RESULTS 64
#define TEST_MAX_JOBS    32
#define TEST_URL_MAX     1024
#define TEST_CMD_MAX     1024
#define TEST_ID          37

static char stack_dir[64];
static char store_dir[64];
static char base_db_url[TEST_URL_MAX];
static char scratch_db[64];
static char scratch_url[TEST_URL_MAX];
static char nats_url[TEST_URL_MAX];
static char user_id[TEST_ID];

static ag_service *svc;
static ag_step_worker *worker;
static ag_bus_worker *collector;
static ag_bus_worker *event_collector;

/* ---------- results collected from aegis.results.> ---------- */

typedef struct seen_result {
	char job_id[TEST_ID];
	uint32_t attempt;
	Aegis__V1__StepOutcome outcome;
	char error_code[64];
	char error[256];
	char worker[128];
	char traceparent[64];
	int64_t finished_at_ms;
} seen_result;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static seen_result results[TEST_MAX_RESULTS];
static int nresults;

/* handler calls per job */
static struct {
	char job_id[TEST_ID];
	int calls;
} calls[TEST_MAX_JOBS];

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static ag_bus_verdict collect(ag_bus_msg *m, void *ud)
{
	size_t len = 0;
	const void *d = ag_bus_msg_data(m, &len);
	Aegis__V1__StepResult *r = aegis__v1__step_result__unpack(NULL, len, d);
	if (r) {
		pthread_mutex_lock(&mu);
		if (nresults < TEST_MAX_RESULTS) {
			seen_result *s = &results[nresults++];
			snprintf(s->job_id, sizeof s->job_id, "%s", r->job_id);
			s->attempt = r->attempt;
			s->outcome = r->outcome;
			snprintf(s->error_code, sizeof s->error_code, "%s", r->error_code);
			snprintf(s->error, sizeof s->error, "%s", r->error);
			snprintf(s->worker, sizeof s->worker, "%s", r->worker);
			snprintf(s->traceparent, sizeof s->traceparent, "%s", r->traceparent);
			s->finished_at_ms = r->finished_at_ms;
		}
		pthread_mutex_unlock(&mu);
		aegis__v1__step_result__free_unpacked(r, NULL);
	}
	return (ag_bus_verdict){AG_BUS_ACK, 0};
}

/* JobEvents seen on aegis.events.<job>: "<job> <step_state> <seq>" lines, counted per job. */
static struct {
	char job_id[TEST_ID];
	char step_state[16];
	int64_t seq;
} events[TEST_MAX_RESULTS];
static int nevents;

static ag_bus_verdict collect_event(ag_bus_msg *m, void *ud)
{
	size_t len = 0;
	const void *d = ag_bus_msg_data(m, &len);
	Aegis__V1__JobEvent *ev = aegis__v1__job_event__unpack(NULL, len, d);
	if (ev) {
		pthread_mutex_lock(&mu);
		if (nevents < TEST_MAX_RESULTS) {
			snprintf(events[nevents].job_id, sizeof events[nevents].job_id, "%s", ev->job_id);
			snprintf(events[nevents].step_state, sizeof events[nevents].step_state, "%s", ev->step_state);
			events[nevents].seq = ev->seq;
			nevents++;
		}
		pthread_mutex_unlock(&mu);
		aegis__v1__job_event__free_unpacked(ev, NULL);
	}
	return (ag_bus_verdict){AG_BUS_ACK, 0};
}

/* The step_state of the one event of `job`, or "" when there is not exactly one. */
static void event_of(const char *job, char *out, size_t cap, int64_t *seq)
{
	int n = 0;
	out[0] = '\0';
	pthread_mutex_lock(&mu);
	for (int i = 0; i < nevents; i++) {
		if (strcmp(events[i].job_id, job) == 0) {
			n++;
			snprintf(out, cap, "%s", events[i].step_state);
			*seq = events[i].seq;
		}
	}
	pthread_mutex_unlock(&mu);
	if (n != 1)
		out[0] = '\0';
}

static int results_for(const char *job)
{
	int n = 0;
	pthread_mutex_lock(&mu);
	for (int i = 0; i < nresults; i++)
		n += strcmp(results[i].job_id, job) == 0;
	pthread_mutex_unlock(&mu);
	return n;
}

/* Wait until `job` has at least `want` results; copy the latest into *out. */
static bool wait_result(const char *job, int want, int timeout_ms, seen_result *out)
{
	int64_t end = now_ms() + timeout_ms;
	for (;;) {
		pthread_mutex_lock(&mu);
		int n = 0;
		for (int i = 0; i < nresults; i++) {
			if (strcmp(results[i].job_id, job) == 0) {
				n++;
				if (out)
					*out = results[i];
			}
		}
		pthread_mutex_unlock(&mu);
		if (n >= want)
			return true;
		if (now_ms() > end)
			return false;
		sleep_ms(50);
	}
}

static int calls_for(const char *job)
{
	int n = 0;
	pthread_mutex_lock(&mu);
	for (int i = 0; i < TEST_MAX_JOBS; i++)
		if (strcmp(calls[i].job_id, job) == 0)
			n = calls[i].calls;
	pthread_mutex_unlock(&mu);
	return n;
}

static int count_call(const char *job)
{
	int n = 0;
	pthread_mutex_lock(&mu);
	for (int i = 0; i < TEST_MAX_JOBS; i++) {
		if (calls[i].job_id[0] == '\0')
			snprintf(calls[i].job_id, sizeof calls[i].job_id, "%s", job);
		if (strcmp(calls[i].job_id, job) == 0) {
			n = ++calls[i].calls;
			break;
		}
	}
	pthread_mutex_unlock(&mu);
	return n;
}

/* ---------- the scripted handler ---------- */

static ag_status write_metadata(ag_step_ctx *ctx, ag_err *err)
{
	PGconn *c = NULL;
	ag_status st = ag_step_tx(ctx, &c, err);
	if (st != AG_OK)
		return st;
	const char *p[] = {ag_step_doc(ctx)->document_id};
	return ag_db_exec(c,
	                  "INSERT INTO document_metadata (document_id, metadata) VALUES ($1, '{\"by\":\"step-test\"}') "
	                  "ON CONFLICT (document_id) DO UPDATE SET metadata = excluded.metadata",
	                  1, p, NULL, err);
}

static ag_status handler(ag_step_ctx *ctx, void *ud)
{
	const Aegis__V1__StepTask *t = ag_step_task(ctx);
	const char *name = ag_step_doc(ctx)->filename;
	int n = count_call(t->job_id);
	ag_err err;
	ag_err_clear(&err);
	if (strcmp(name, "ok.txt") == 0) {
		const char *path = NULL;
		if (ag_step_local_path(ctx, &path, &err) != AG_OK)
			return ag_step_fail(ctx, err.code, "no_file", "%s", err.msg);
		struct stat sb;
		if (stat(path, &sb) != 0 || (uint64_t)sb.st_size != ag_step_doc(ctx)->size)
			return ag_step_fail(ctx, AG_E_INVAL, "size_mismatch", "the local file has the wrong size");
		return write_metadata(ctx, &err);
	}
	if (strcmp(name, "reject.exe") == 0) {
		if (write_metadata(ctx, &err) != AG_OK)
			return err.code;
		return ag_step_fail(ctx, AG_E_REJECTED, "type_not_allowed", "executables are not allowed");
	}
	if (strcmp(name, "unsupported.bin") == 0)
		return ag_step_fail(ctx, AG_E_UNSUPPORTED, "unsupported_format", "no extractor for %s", name);
	if (strcmp(name, "flaky.txt") == 0) {
		if (write_metadata(ctx, &err) != AG_OK)
			return err.code;
		return n == 1 ? ag_step_fail(ctx, AG_E_UNAVAILABLE, "backend_down", "the backend is down") : AG_OK;
	}
	if (strcmp(name, "down.txt") == 0)
		return ag_step_fail(ctx, AG_E_TIMEOUT, "backend_timeout", "the backend timed out");
	if (strcmp(name, "sloppy.txt") == 0) {
		/* a handler that ignores a failed statement and claims success */
		PGconn *c = NULL;
		if (ag_step_tx(ctx, &c, &err) != AG_OK)
			return err.code;
		(void)ag_db_exec(c, "SELECT 1 / 0", 0, NULL, NULL, &err);
		return AG_OK;
	}
	if (strcmp(name, "slow.txt") == 0) {
		int64_t end = now_ms() + TEST_ACK_WAIT_MS * 3 / 2;
		while (now_ms() < end) {
			ag_step_heartbeat(ctx);
			sleep_ms(100);
		}
		return write_metadata(ctx, &err);
	}
	return ag_step_fail(ctx, AG_E_INVAL, "unknown_test_file", "unknown test file %s", name);
}

/* ---------- fixtures ---------- */

static bool q1(const char *sql, int n, const char *const *p, char *out, size_t cap)
{
	PGconn *c = NULL;
	PGresult *r = NULL;
	ag_err e;
	bool ok = false;
	out[0] = '\0';
	if (ag_db_acquire(ag_service_db(svc), &c, 5000, &e) != AG_OK) {
		fprintf(stderr, "  acquire: %s\n", e.msg);
		return false;
	}
	if (ag_db_exec(c, sql, n, p, &r, &e) == AG_OK) {
		ok = true;
		if (PQntuples(r) > 0)
			snprintf(out, cap, "%s", PQgetisnull(r, 0, 0) ? "NULL" : PQgetvalue(r, 0, 0));
	} else {
		fprintf(stderr, "  %s: %s\n", sql, e.msg);
	}
	PQclear(r);
	ag_db_release(ag_service_db(svc), c);
	return ok;
}

static long long q_ll(const char *sql, const char *job)
{
	char v[64];
	const char *p[] = {job};
	return q1(sql, 1, p, v, sizeof v) ? strtoll(v, NULL, 10) : -1;
}

static void step_col(const char *job, const char *col, char *out, size_t cap)
{
	char sql[256];
	snprintf(sql, sizeof sql, "SELECT %s FROM job_steps WHERE job_id = $1 AND name = 'validate'", col);
	const char *p[] = {job};
	q1(sql, 1, p, out, cap);
}

typedef struct fixture {
	char job[TEST_ID];
	char doc[TEST_ID];
	char key[64];
	char filename[32];
	uint64_t size;
	uint32_t attempt;
} fixture;

/* A running job whose validate step is dispatched at `attempt`, with a stored file named `filename`. */
static bool make_fixture(fixture *f, const char *filename, const char *job_state, uint32_t attempt)
{
	static const char sql[] =
	        "WITH d AS (INSERT INTO documents (id, owner_id, filename, size, sha256, storage_key) "
	        "VALUES (gen_random_uuid(), $1, $2, 11, 'x', 'pending') RETURNING id), "
	        "j AS (INSERT INTO jobs (id, owner_id, document_id, state) SELECT gen_random_uuid(), $1, d.id, $3 FROM "
	        "d "
	        "RETURNING id, document_id), "
	        "s AS (INSERT INTO job_steps (job_id, name, state, attempt, dispatched_at) "
	        "SELECT id, n, CASE WHEN n = 'validate' THEN 'dispatched' ELSE 'pending' END, "
	        "CASE WHEN n = 'validate' THEN $4::int ELSE 0 END, now() "
	        "FROM j, unnest(ARRAY['validate', 'metadata', 'content', 'ai']) AS n) "
	        "SELECT id || ' ' || document_id FROM j";
	char att[16], both[2 * TEST_ID + 2];
	snprintf(att, sizeof att, "%u", attempt);
	const char *p[] = {user_id, filename, job_state, att};
	memset(f, 0, sizeof *f);
	if (!q1(sql, 4, p, both, sizeof both) || strlen(both) != 2 * (TEST_ID - 1) + 1)
		return false;
	memcpy(f->job, both, TEST_ID - 1);
	memcpy(f->doc, both + TEST_ID, TEST_ID - 1);
	snprintf(f->key, sizeof f->key, "uploads/%s", f->doc);
	snprintf(f->filename, sizeof f->filename, "%s", filename);
	f->size = 11;
	f->attempt = attempt;
	const char *pk[] = {f->key, f->doc};
	char ignore[8];
	if (!q1("UPDATE documents SET storage_key = $1 WHERE id = $2", 2, pk, ignore, sizeof ignore))
		return false;
	ag_storage_writer *w = NULL;
	ag_err e;
	ag_storage *s = ag_service_storage(svc);
	if (ag_storage_writer_new(s, f->key, &w, &e) != AG_OK || ag_storage_write(w, "hello world", 11, &e) != AG_OK ||
	    ag_storage_commit(w, &e) != AG_OK) {
		fprintf(stderr, "  storage: %s\n", e.msg);
		return false;
	}
	return true;
}

static bool publish_task(const fixture *f, Aegis__V1__Step step, uint32_t attempt, const char *msg_id)
{
	Aegis__V1__DocumentRef doc = AEGIS__V1__DOCUMENT_REF__INIT;
	doc.document_id = (char *)f->doc;
	doc.owner_id = user_id;
	doc.storage_key = (char *)f->key;
	doc.filename = (char *)f->filename;
	doc.size = f->size;
	Aegis__V1__StepTask t = AEGIS__V1__STEP_TASK__INIT;
	t.job_id = (char *)f->job;
	t.step = step;
	t.attempt = attempt;
	t.document = &doc;
	t.traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
	uint8_t buf[1024];
	size_t len = aegis__v1__step_task__pack(&t, buf);
	ag_trace tr;
	ag_trace_parse(t.traceparent, &tr);
	ag_err e;
	if (ag_bus_publish(ag_service_bus(svc), "aegis.tasks.validate", buf, len, msg_id, &tr, &e) != AG_OK) {
		fprintf(stderr, "  publish: %s\n", e.msg);
		return false;
	}
	return true;
}

static bool dispatch(const fixture *f)
{
	char id[128];
	snprintf(id, sizeof id, "%s:validate:%u", f->job, f->attempt);
	return publish_task(f, AEGIS__V1__STEP__STEP_VALIDATE, f->attempt, id);
}

/* The value of one series ("name{labels}") in the service's metrics; 0 when absent. Tests compare deltas, so
 * messages another test left on a shared server cannot change the outcome. */
static double metric(const char *series)
{
	char *text = NULL;
	size_t len = 0;
	double v = 0;
	if (ag_metrics_render(ag_service_metrics(svc), &text, &len) != AG_OK)
		return -1;
	size_t n = strlen(series);
	for (const char *p = strstr(text, series); p; p = strstr(p + 1, series)) {
		if ((p == text || p[-1] == '\n') && p[n] == ' ') {
			v = strtod(p + n + 1, NULL);
			break;
		}
	}
	free(text);
	return v;
}

#define STEP_SERIES(outcome) "aegis_step_total{step=\"validate\",outcome=\"" outcome "\"}"

/* ---------- tests ---------- */

static void success_is_recorded_then_published(void)
{
	fixture f;
	seen_result r;
	char v[256];
	AG_CHECK(make_fixture(&f, "ok.txt", "running", 1));
	AG_CHECK(dispatch(&f));
	AG_CHECK(wait_result(f.job, 1, TEST_WAIT_MS, &r));
	AG_CHECK_INT(r.outcome, AEGIS__V1__STEP_OUTCOME__OUTCOME_SUCCEEDED);
	AG_CHECK_INT(r.attempt, 1);
	AG_CHECK_STR(r.worker, ag_service_instance(svc));
	AG_CHECK_STR(r.error_code, "");
	AG_CHECK(r.finished_at_ms > 0);
	AG_CHECK(strncmp(r.traceparent, "00-4bf92f3577b34da6a3ce929d0e0e4736-", 36) == 0); /* same trace */
	step_col(f.job, "state", v, sizeof v);
	AG_CHECK_STR(v, "succeeded");
	step_col(f.job, "deliveries", v, sizeof v);
	AG_CHECK_STR(v, "1");
	step_col(f.job, "worker", v, sizeof v);
	AG_CHECK_STR(v, ag_service_instance(svc));
	step_col(f.job, "started_at IS NOT NULL AND finished_at >= started_at", v, sizeof v);
	AG_CHECK_STR(v, "t");
	AG_CHECK_INT(q_ll("SELECT count(*) FROM document_metadata m JOIN jobs j ON j.document_id = m.document_id "
	                  "WHERE j.id = $1",
	                  f.job),
	             1);
	AG_CHECK_INT(q_ll("SELECT count(*) FROM job_events WHERE job_id = $1 AND step = 'validate' "
	                  "AND step_state = 'succeeded' AND job_state = 'running'",
	                  f.job),
	             1);
	AG_CHECK_INT(calls_for(f.job), 1);
	/* the progress event of the outcome, with the job_events id as its sequence number */
	char ev[16];
	int64_t seq = 0;
	int64_t end = now_ms() + TEST_WAIT_MS;
	do {
		event_of(f.job, ev, sizeof ev, &seq);
		if (!ev[0])
			sleep_ms(50);
	} while (!ev[0] && now_ms() < end);
	AG_CHECK_STR(ev, "succeeded");
	AG_CHECK_INT(seq, q_ll("SELECT id FROM job_events WHERE job_id = $1 AND step = 'validate'", f.job));

	/* A redelivery of the finished attempt republishes the recorded result (same message id, so JetStream
	 * drops the copy of a result it already has) and does no work. */
	double republished = metric(STEP_SERIES("republished"));
	AG_CHECK(publish_task(&f, AEGIS__V1__STEP__STEP_VALIDATE, 1, NULL));
	end = now_ms() + TEST_WAIT_MS;
	while (metric(STEP_SERIES("republished")) < republished + 1 && now_ms() < end)
		sleep_ms(50);
	AG_CHECK(metric(STEP_SERIES("republished")) == republished + 1);
	sleep_ms(TEST_QUIET_MS);
	AG_CHECK_INT(results_for(f.job), 1);
	AG_CHECK_INT(calls_for(f.job), 1);
	step_col(f.job, "deliveries", v, sizeof v);
	AG_CHECK_STR(v, "1");
	AG_CHECK(metric(STEP_SERIES("succeeded")) >= 1);
	AG_CHECK(metric("aegis_step_seconds_count{step=\"validate\"}") >= 1);
}

static void rejection_rolls_back_the_handler_writes(void)
{
	fixture f;
	seen_result r;
	char v[256];
	AG_CHECK(make_fixture(&f, "reject.exe", "running", 1));
	AG_CHECK(dispatch(&f));
	AG_CHECK(wait_result(f.job, 1, TEST_WAIT_MS, &r));
	AG_CHECK_INT(r.outcome, AEGIS__V1__STEP_OUTCOME__OUTCOME_REJECTED);
	AG_CHECK_STR(r.error_code, "type_not_allowed");
	AG_CHECK_STR(r.error, "executables are not allowed");
	step_col(f.job, "state || ' ' || error_code || ' ' || error", v, sizeof v);
	AG_CHECK_STR(v, "rejected type_not_allowed executables are not allowed");
	AG_CHECK_INT(q_ll("SELECT count(*) FROM document_metadata m JOIN jobs j ON j.document_id = m.document_id "
	                  "WHERE j.id = $1",
	                  f.job),
	             0);
	AG_CHECK_INT(calls_for(f.job), 1);
}

static void permanent_failure_is_not_retried(void)
{
	fixture f;
	seen_result r;
	char v[256];
	AG_CHECK(make_fixture(&f, "unsupported.bin", "running", 1));
	AG_CHECK(dispatch(&f));
	AG_CHECK(wait_result(f.job, 1, TEST_WAIT_MS, &r));
	AG_CHECK_INT(r.outcome, AEGIS__V1__STEP_OUTCOME__OUTCOME_FAILED);
	AG_CHECK_STR(r.error_code, "unsupported_format");
	AG_CHECK_STR(r.error, "no extractor for unsupported.bin");
	step_col(f.job, "state", v, sizeof v);
	AG_CHECK_STR(v, "failed");
	AG_CHECK_INT(q_ll("SELECT count(*) FROM dead_letters WHERE job_id = $1", f.job), 0);
	sleep_ms(TEST_QUIET_MS);
	AG_CHECK_INT(calls_for(f.job), 1);
}

static void transient_failure_retries_with_backoff(void)
{
	fixture f;
	seen_result r;
	char v[256];
	AG_CHECK(make_fixture(&f, "flaky.txt", "running", 1));
	int64_t t0 = now_ms();
	AG_CHECK(dispatch(&f));
	AG_CHECK(wait_result(f.job, 1, TEST_WAIT_MS, &r));
	int64_t took = now_ms() - t0;
	AG_CHECK_INT(r.outcome, AEGIS__V1__STEP_OUTCOME__OUTCOME_SUCCEEDED);
	AG_CHECK_INT(calls_for(f.job), 2);
	AG_CHECK(took >= 700); /* the NAK delay of the first redelivery: 1 s - 20 % jitter, at least */
	step_col(f.job, "deliveries", v, sizeof v);
	AG_CHECK_STR(v, "2");
	AG_CHECK_INT(results_for(f.job), 1); /* no result for the failed delivery */
	/* the first delivery's write was rolled back, the second's kept */
	AG_CHECK_INT(q_ll("SELECT count(*) FROM document_metadata m JOIN jobs j ON j.document_id = m.document_id "
	                  "WHERE j.id = $1",
	                  f.job),
	             1);
}

static void last_delivery_dead_letters(void)
{
	fixture f;
	seen_result r;
	char v[256];
	AG_CHECK(make_fixture(&f, "down.txt", "running", 1));
	AG_CHECK(dispatch(&f));
	AG_CHECK(wait_result(f.job, 1, TEST_WAIT_MS, &r));
	AG_CHECK_INT(r.outcome, AEGIS__V1__STEP_OUTCOME__OUTCOME_FAILED);
	AG_CHECK_STR(r.error_code, "backend_timeout");
	AG_CHECK_STR(r.error, "gave up after 2 attempts: the backend timed out");
	AG_CHECK_INT(calls_for(f.job), TEST_MAX_DELIVER);
	step_col(f.job, "state", v, sizeof v);
	AG_CHECK_STR(v, "failed");
	const char *p[] = {f.job};
	AG_CHECK(q1("SELECT step || ' ' || attempt || ' ' || deliveries || ' ' || error FROM dead_letters "
	            "WHERE job_id = $1",
	            1, p, v, sizeof v));
	AG_CHECK_STR(v, "validate 1 2 gave up after 2 attempts: the backend timed out");
	/* counted after the result is published: give the worker a moment past the result we saw */
	int64_t end = now_ms() + TEST_WAIT_MS;
	while (metric(STEP_SERIES("dead_lettered")) < 1 && now_ms() < end)
		sleep_ms(50);
	AG_CHECK(metric(STEP_SERIES("dead_lettered")) >= 1);
}

static void uncommittable_success_is_a_failure(void)
{
	fixture f;
	seen_result r;
	char v[64];
	AG_CHECK(make_fixture(&f, "sloppy.txt", "running", 1));
	AG_CHECK(dispatch(&f));
	AG_CHECK(wait_result(f.job, 1, TEST_WAIT_MS, &r));
	AG_CHECK_INT(r.outcome, AEGIS__V1__STEP_OUTCOME__OUTCOME_FAILED);
	AG_CHECK(strncmp(r.error, "gave up after 2 attempts: committing the step: ", 47) == 0);
	AG_CHECK_INT(calls_for(f.job), TEST_MAX_DELIVER);
	step_col(f.job, "state", v, sizeof v);
	AG_CHECK_STR(v, "failed");
	AG_CHECK_INT(q_ll("SELECT count(*) FROM dead_letters WHERE job_id = $1", f.job), 1);
}

static void stale_and_cancelled_tasks_are_dropped(void)
{
	fixture f, g;
	char v[64];
	/* the orchestrator moved on to attempt 2: a task of attempt 1 is acked without effect */
	AG_CHECK(make_fixture(&f, "ok.txt", "running", 2));
	AG_CHECK(publish_task(&f, AEGIS__V1__STEP__STEP_VALIDATE, 1, NULL));
	/* the job was cancelled */
	AG_CHECK(make_fixture(&g, "ok.txt", "cancelled", 1));
	AG_CHECK(dispatch(&g));
	sleep_ms(TEST_QUIET_MS);
	AG_CHECK_INT(results_for(f.job), 0);
	AG_CHECK_INT(results_for(g.job), 0);
	AG_CHECK_INT(calls_for(f.job) + calls_for(g.job), 0);
	step_col(f.job, "state || ' ' || attempt", v, sizeof v);
	AG_CHECK_STR(v, "dispatched 2");
	step_col(g.job, "state", v, sizeof v);
	AG_CHECK_STR(v, "dispatched");
	/* and the current attempt still works */
	AG_CHECK(dispatch(&f));
	seen_result r;
	AG_CHECK(wait_result(f.job, 1, TEST_WAIT_MS, &r));
	AG_CHECK_INT(r.attempt, 2);
	AG_CHECK_INT(r.outcome, AEGIS__V1__STEP_OUTCOME__OUTCOME_SUCCEEDED);
}

static void malformed_tasks_are_terminated(void)
{
	fixture f;
	AG_CHECK(make_fixture(&f, "ok.txt", "running", 1));
	double malformed = metric(STEP_SERIES("malformed"));
	ag_err e;
	/* not protobuf */
	AG_CHECK_INT(ag_bus_publish(ag_service_bus(svc), "aegis.tasks.validate", "\xff\xff\xff", 3, NULL, NULL, &e),
	             AG_OK);
	/* a task for another step on this step's subject */
	AG_CHECK(publish_task(&f, AEGIS__V1__STEP__STEP_CONTENT, 1, NULL));
	sleep_ms(TEST_QUIET_MS);
	AG_CHECK_INT(metric(STEP_SERIES("malformed")) - malformed, 2);
	AG_CHECK_INT(calls_for(f.job), 0);
	char v[32];
	step_col(f.job, "state", v, sizeof v);
	AG_CHECK_STR(v, "dispatched");
}

static void heartbeats_keep_a_long_step_alive(void)
{
	fixture f;
	seen_result r;
	char v[32];
	AG_CHECK(make_fixture(&f, "slow.txt", "running", 1));
	AG_CHECK(dispatch(&f));
	AG_CHECK(wait_result(f.job, 1, TEST_WAIT_MS, &r));
	AG_CHECK_INT(r.outcome, AEGIS__V1__STEP_OUTCOME__OUTCOME_SUCCEEDED);
	sleep_ms(TEST_QUIET_MS);
	AG_CHECK_INT(calls_for(f.job), 1); /* no redelivery although the work outlived AckWait */
	step_col(f.job, "deliveries", v, sizeof v);
	AG_CHECK_STR(v, "1");
}

static void *send_sigterm(void *arg)
{
	sleep_ms(300);
	kill(getpid(), SIGTERM);
	return NULL;
}

static void drain_finishes_promptly(void)
{
	pthread_t th;
	pthread_create(&th, NULL, send_sigterm, NULL);
	int64_t t0 = now_ms();
	int code = ag_service_run(svc);
	pthread_join(th, NULL);
	AG_CHECK_INT(code, 0);
	AG_CHECK(now_ms() - t0 < 8000); /* drained, not cut off by the grace period */
}

/* ---------- setup ---------- */

static int devstack(const char *verb, const char *extra)
{
	char cmd[TEST_CMD_MAX];
	snprintf(cmd, sizeof cmd, "scripts/devstack %s --dir %s --nats-port %d --pg-port %d %s >&2", verb, stack_dir,
	         TEST_NATS_PORT, TEST_PG_PORT, extra);
	return system(cmd);
}

static bool admin_exec(const char *sql)
{
	PGconn *c = PQconnectdb(base_db_url);
	bool ok = PQstatus(c) == CONNECTION_OK;
	if (ok) {
		PGresult *r = PQexec(c, sql);
		ok = PQresultStatus(r) == PGRES_COMMAND_OK;
		if (!ok)
			fprintf(stderr, "  admin: %s: %s", sql, PQresultErrorMessage(r));
		PQclear(r);
	}
	PQfinish(c);
	return ok;
}

static bool setup(void)
{
	const char *db = getenv("AEGIS_TEST_DATABASE_URL");
	const char *nats = getenv("AEGIS_TEST_NATS_URL");
	if (db && db[0] && nats && nats[0]) {
		snprintf(base_db_url, sizeof base_db_url, "%s", db);
		snprintf(nats_url, sizeof nats_url, "%s", nats);
	} else {
		if (access("scripts/devstack", X_OK) != 0) {
			printf("not ok - step: scripts/devstack not found (run from the repository root) and "
			       "AEGIS_TEST_DATABASE_URL / AEGIS_TEST_NATS_URL are not set\n");
			return false;
		}
		snprintf(stack_dir, sizeof stack_dir, "/tmp/aegis-steptest-XXXXXX");
		if (!mkdtemp(stack_dir) || chmod(stack_dir, 0755) != 0) {
			stack_dir[0] = '\0';
			printf("not ok - step: cannot make a temporary directory\n");
			return false;
		}
		if (devstack("start", "") != 0) {
			printf("not ok - step: could not start NATS and PostgreSQL with scripts/devstack\n");
			return false;
		}
		snprintf(base_db_url, sizeof base_db_url, "postgresql://aegis@127.0.0.1:%d/aegis", TEST_PG_PORT);
		snprintf(nats_url, sizeof nats_url, "nats://127.0.0.1:%d", TEST_NATS_PORT);
	}
	snprintf(scratch_db, sizeof scratch_db, "aegis_steptest_%ld", (long)getpid());
	char sql[128];
	snprintf(sql, sizeof sql, "CREATE DATABASE %s", scratch_db);
	if (!admin_exec(sql)) {
		scratch_db[0] = '\0';
		printf("not ok - step: cannot create database\n");
		return false;
	}
	/* base_db_url is a URI ending in /<db>: swap the database name */
	char *slash = strrchr(base_db_url, '/');
	snprintf(scratch_url, sizeof scratch_url, "%.*s/%s", (int)(slash - base_db_url), base_db_url, scratch_db);
	snprintf(store_dir, sizeof store_dir, "/tmp/aegis-stepstore-XXXXXX");
	if (!mkdtemp(store_dir)) {
		store_dir[0] = '\0';
		printf("not ok - step: cannot make a storage directory\n");
		return false;
	}
	char storage_url[128];
	snprintf(storage_url, sizeof storage_url, "file://%s", store_dir);
	setenv("NATS_URL", nats_url, 1);
	setenv("DATABASE_URL", scratch_url, 1);
	setenv("STORAGE_URL", storage_url, 1);
	setenv("HTTP_HOST", "127.0.0.1", 1);
	setenv("HTTP_PORT", TEST_HTTP_PORT, 1);
	setenv("LOG_LEVEL", "warn", 1);
	setenv("SHUTDOWN_GRACE_MS", "10000", 1);

	return true;
}

typedef struct test_cfg {
	ag_common_cfg common;
} test_cfg;

static const ag_cfg_item test_items[] = {AG_CFG_COMMON_ITEMS(test_cfg, TEST_HTTP_PORT)};

static bool start_service(void)
{
	static test_cfg cfg;
	ag_service_spec spec = {
	        .name = "step-test",
	        .items = test_items,
	        .nitems = sizeof test_items / sizeof test_items[0],
	        .cfg = &cfg,
	        .common = &cfg.common,
	        .needs = AG_NEEDS_DB | AG_NEEDS_BUS | AG_NEEDS_STORAGE,
	};
	char *argv[] = {"step-test", NULL};
	int code = 0;
	ag_err e;
	ag_err_clear(&e);
	if (ag_service_start(&svc, &spec, 1, argv, &code) != AG_OK) {
		printf("not ok - step: the service did not start (exit code %d)\n", code);
		return false;
	}
	char id[TEST_ID];
	if (!q1("INSERT INTO users (email, password_hash) VALUES ('step@example.com', 'x') RETURNING id", 0, NULL, id,
	        sizeof id)) {
		printf("not ok - step: cannot create the test user\n");
		return false;
	}
	memcpy(user_id, id, sizeof user_id);
	/* the orchestrator's results consumer, to see what the worker publishes */
	static const int64_t backoff[] = {5000};
	ag_bus_consumer_cfg cc = {
	        AG_STREAM_RESULTS, "orchestrator-results", "aegis.results.>", 5000, 5, backoff, 1, 64};
	if (ag_bus_ensure_consumer(ag_service_bus(svc), &cc, &e) != AG_OK ||
	    ag_bus_worker_start(&collector, ag_service_bus(svc), AG_STREAM_RESULTS, "orchestrator-results", 1, collect,
	                        NULL, &e) != AG_OK) {
		printf("not ok - step: results consumer: %s\n", e.msg);
		return false;
	}
	ag_bus_consumer_cfg ec = {AG_STREAM_EVENTS, "step-test-events", "aegis.events.>", 5000, 5, backoff, 1, 64};
	if (ag_bus_ensure_consumer(ag_service_bus(svc), &ec, &e) != AG_OK ||
	    ag_bus_worker_start(&event_collector, ag_service_bus(svc), AG_STREAM_EVENTS, "step-test-events", 1,
	                        collect_event, NULL, &e) != AG_OK) {
		printf("not ok - step: events consumer: %s\n", e.msg);
		return false;
	}
	ag_step_def def = {
	        .name = "validate",
	        .step = AEGIS__V1__STEP__STEP_VALIDATE,
	        .handler = handler,
	        .threads = 2,
	        .ack_wait_ms = TEST_ACK_WAIT_MS,
	        .max_deliver = TEST_MAX_DELIVER,
	        .crash_limit = TEST_CRASH_LIMIT,
	};
	if (ag_step_worker_start(&worker, svc, &def, &e) != AG_OK) {
		printf("not ok - step: worker: %s\n", e.msg);
		return false;
	}
	return true;
}

/* Earlier claims of the attempt that left no outcome: `crashed` of them, `retried` with a recorded retry. */
static bool claimed_before(const fixture *f, int crashed, int retried)
{
	char n[16], r[16], ignore[8];
	snprintf(n, sizeof n, "%d", crashed + retried);
	snprintf(r, sizeof r, "%d", retried);
	const char *p[] = {f->job, n, r};
	return q1("WITH s AS (UPDATE job_steps SET state = 'running', deliveries = $2::int, worker = 'gone' "
	          "WHERE job_id = $1 AND name = 'validate' RETURNING job_id, name, attempt) "
	          "INSERT INTO step_attempts (job_id, step, attempt, delivery, worker, outcome, error_code, error) "
	          "SELECT s.job_id, s.name, s.attempt, g, 'gone', 'retried', 'unavailable', 'down' "
	          "FROM s, generate_series(1, $3::int) g RETURNING 1",
	          3, p, ignore, sizeof ignore);
}

static void a_document_that_kills_its_worker_fails(void)
{
	fixture f;
	seen_result r;
	char v[256];
	/* STEP_CRASH_LIMIT deliveries of this attempt ended with the worker gone: the input is blamed */
	AG_CHECK(make_fixture(&f, "ok.txt", "running", 1));
	AG_CHECK(claimed_before(&f, TEST_CRASH_LIMIT, 0));
	AG_CHECK(dispatch(&f));
	AG_CHECK(wait_result(f.job, 1, TEST_WAIT_MS, &r));
	AG_CHECK_INT(r.outcome, AEGIS__V1__STEP_OUTCOME__OUTCOME_FAILED);
	AG_CHECK_STR(r.error_code, "worker_crashed");
	step_col(f.job, "state", v, sizeof v);
	AG_CHECK_STR(v, "failed");
	AG_CHECK_INT(calls_for(f.job), 0); /* the handler is not given the document again */

	/* the same number of earlier deliveries, but retries recorded for some: those were no crashes */
	fixture g;
	AG_CHECK(make_fixture(&g, "ok.txt", "running", 1));
	AG_CHECK(claimed_before(&g, TEST_CRASH_LIMIT - 1, 1));
	AG_CHECK(dispatch(&g));
	AG_CHECK(wait_result(g.job, 1, TEST_WAIT_MS, &r));
	AG_CHECK_INT(r.outcome, AEGIS__V1__STEP_OUTCOME__OUTCOME_SUCCEEDED);
	AG_CHECK_INT(calls_for(g.job), 1);
}

static void bad_definitions_are_refused(void)
{
	ag_step_worker *w = NULL;
	ag_err e;
	ag_step_def def = {"validate", AEGIS__V1__STEP__STEP_CONTENT, handler, NULL, 1, TEST_ACK_WAIT_MS, 2, 0};
	AG_CHECK_INT(ag_step_worker_start(&w, svc, &def, &e), AG_E_INVAL); /* name and step disagree */
	def.step = AEGIS__V1__STEP__STEP_VALIDATE;
	def.threads = 0;
	AG_CHECK_INT(ag_step_worker_start(&w, svc, &def, &e), AG_E_INVAL);
	def.threads = 1;
	def.handler = NULL;
	AG_CHECK_INT(ag_step_worker_start(&w, svc, &def, &e), AG_E_INVAL);
	AG_CHECK(w == NULL);
}

static void teardown(void)
{
	ag_step_worker_free(worker);
	ag_bus_worker *cs[] = {collector, event_collector};
	for (int i = 0; i < 2; i++) {
		if (!cs[i])
			continue;
		ag_bus_worker_stop(cs[i]);
		ag_bus_worker_join(cs[i], 10000);
		ag_bus_worker_free(cs[i]);
	}
	ag_service_free(svc);
	if (scratch_db[0]) {
		char sql[128];
		snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", scratch_db);
		admin_exec(sql);
	}
	if (store_dir[0]) {
		char cmd[TEST_CMD_MAX];
		snprintf(cmd, sizeof cmd, "rm -rf %s", store_dir);
		if (system(cmd) != 0)
			fprintf(stderr, "  could not remove %s\n", store_dir);
	}
	if (stack_dir[0]) {
		devstack("stop", "--wipe");
		rmdir(stack_dir);
	}
}

int main(void)
{
	if (!setup() || !start_service()) {
		teardown();
		ag_test_failed++;
		return ag_test_summary();
	}
	AG_TEST_RUN(bad_definitions_are_refused);
	AG_TEST_RUN(success_is_recorded_then_published);
	AG_TEST_RUN(rejection_rolls_back_the_handler_writes);
	AG_TEST_RUN(permanent_failure_is_not_retried);
	AG_TEST_RUN(transient_failure_retries_with_backoff);
	AG_TEST_RUN(last_delivery_dead_letters);
	AG_TEST_RUN(a_document_that_kills_its_worker_fails);
	AG_TEST_RUN(uncommittable_success_is_a_failure);
	AG_TEST_RUN(stale_and_cancelled_tasks_are_dropped);
	AG_TEST_RUN(malformed_tasks_are_terminated);
	AG_TEST_RUN(heartbeats_keep_a_long_step_alive);
	AG_TEST_RUN(drain_finishes_promptly);
	teardown();
	return ag_test_summary();
}
