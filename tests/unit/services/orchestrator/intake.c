/*
 * Tests services/orchestrator/intake.c and sweeper.c with flow.c: the
 * orchestrator's handlers bound to their real consumers, four step workers
 * (the real step runner, libcommon/src/step.c) with trivial handlers, and a
 * job submitted the way the gateway does it. Checks that jobs run to their
 * end in PostgreSQL, that progress events reach aegis.events.<job>, and that
 * the sweeper drives a job whose submission was never published.
 * Servers: AEGIS_TEST_NATS_URL / AEGIS_TEST_DATABASE_URL when set, otherwise
 * scripts/devstack on 127.0.0.1:14233 (NATS) and 15443 (PostgreSQL).
 */
#include "../../../../services/orchestrator/bgwait.c"
#include "../../../../services/orchestrator/flow.c"
#include "../../../../services/orchestrator/intake.c"
#include "../../../../services/orchestrator/sweeper.c"
#include "../../../../services/orchestrator/timeouts.c"

#include "aegis/service.h"
#include "aegis/step.h"
#include "test.h"

#include <sys/stat.h>
#include <unistd.h>

#define TEST_NATS_PORT  14233
#define TEST_PG_PORT    15443
#define TEST_HTTP_PORT  "15445"
#define TEST_WAIT_MS    30000
#define TEST_URL_MAX    1024
#define TEST_CMD_MAX    1024
#define TEST_MAX_EVENTS 256

static char stack_dir[64];
static char base_db_url[TEST_URL_MAX];
static char scratch_db[64];
static char scratch_url[TEST_URL_MAX];
static char nats_url[TEST_URL_MAX];
static char user_id[FLOW_ID_MAX];

static ag_service *svc;
static intake *in;
static ag_bus_worker *orch[2];
static ag_bus_worker *event_collector;
static ag_step_worker *steps[FLOW_STEPS];

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
	char job_id[FLOW_ID_MAX];
	char job_state[16];
	char step_state[16];
	int step;
	int64_t seq;
} events[TEST_MAX_EVENTS];
static int nevents;

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

static ag_bus_verdict collect_event(ag_bus_msg *m, void *ud)
{
	size_t len = 0;
	const void *d = ag_bus_msg_data(m, &len);
	Aegis__V1__JobEvent *ev = aegis__v1__job_event__unpack(NULL, len, d);
	if (ev) {
		pthread_mutex_lock(&mu);
		if (nevents < TEST_MAX_EVENTS) {
			snprintf(events[nevents].job_id, sizeof events[nevents].job_id, "%s", ev->job_id);
			snprintf(events[nevents].job_state, sizeof events[nevents].job_state, "%s", ev->job_state);
			snprintf(events[nevents].step_state, sizeof events[nevents].step_state, "%s", ev->step_state);
			events[nevents].step = ev->step;
			events[nevents].seq = ev->seq;
			nevents++;
		}
		pthread_mutex_unlock(&mu);
		aegis__v1__job_event__free_unpacked(ev, NULL);
	}
	return (ag_bus_verdict){AG_BUS_ACK, 0};
}

/* ---------- the step handlers: the file name scripts the outcome ---------- */

static ag_status step_handler(ag_step_ctx *ctx, void *ud)
{
	const char *step = ud;
	const char *name = ag_step_doc(ctx)->filename;
	if (strcmp(step, "validate") == 0 && strcmp(name, "evil.exe") == 0)
		return ag_step_fail(ctx, AG_E_REJECTED, "type_not_allowed", "executables are not allowed");
	if (strcmp(step, "metadata") == 0 && strcmp(name, "broken.pdf") == 0)
		return ag_step_fail(ctx, AG_E_UNSUPPORTED, "corrupt_pdf", "the PDF cross-reference table is broken");
	PGconn *c = NULL;
	ag_err err;
	if (strcmp(step, "content") == 0) {
		ag_status st = ag_step_tx(ctx, &c, &err);
		if (st != AG_OK)
			return st;
		const char *p[] = {ag_step_doc(ctx)->document_id};
		return ag_db_exec(c,
		                  "INSERT INTO document_content (document_id, text, chars) VALUES ($1, 'hello', 5) "
		                  "ON CONFLICT (document_id) DO NOTHING",
		                  1, p, NULL, &err);
	}
	return AG_OK;
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

/* A queued job for a document named `filename`, as the gateway records it; `age_ms` back-dates updated_at. */
static bool make_job(const char *filename, long long age_ms, char *job)
{
	static const char sql[] =
	        "WITH d AS (INSERT INTO documents (id, owner_id, filename, size, sha256, storage_key) "
	        "VALUES (gen_random_uuid(), $1, $2, 5, 'x', 'uploads/x') RETURNING id) "
	        "INSERT INTO jobs (id, owner_id, document_id, traceparent, updated_at) "
	        "SELECT gen_random_uuid(), $1, d.id, '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', "
	        "now() - $3::bigint * interval '1 millisecond' FROM d RETURNING id";
	char age[32];
	snprintf(age, sizeof age, "%lld", age_ms);
	const char *p[] = {user_id, filename, age};
	return q1(sql, 3, p, job, FLOW_ID_MAX);
}

static bool submit(const char *job)
{
	Aegis__V1__JobSubmitted js = AEGIS__V1__JOB_SUBMITTED__INIT;
	js.job_id = (char *)job;
	uint8_t buf[256];
	size_t len = aegis__v1__job_submitted__pack(&js, buf);
	ag_err e;
	if (ag_bus_publish(ag_service_bus(svc), AG_SUBJ_JOB_SUBMITTED, buf, len, job, NULL, &e) != AG_OK) {
		fprintf(stderr, "  publish: %s\n", e.msg);
		return false;
	}
	return true;
}

/* Wait for the job to reach a final state; its "state error_code error" into out. */
static bool wait_job(const char *job, char *out, size_t cap)
{
	const char *p[] = {job};
	int64_t end = now_ms() + TEST_WAIT_MS;
	while (now_ms() < end) {
		if (q1("SELECT state || ' ' || coalesce(error_code, '-') || ' ' || coalesce(error, '-') FROM jobs "
		       "WHERE id = $1 AND state IN ('succeeded', 'failed', 'rejected')",
		       1, p, out, cap) &&
		    out[0])
			return true;
		sleep_ms(100);
	}
	q1("SELECT state FROM jobs WHERE id = $1", 1, p, out, cap);
	fprintf(stderr, "  job %s still %s\n", job, out);
	return false;
}

static long long q_ll(const char *sql, const char *job)
{
	char v[64];
	const char *p[] = {job};
	return q1(sql, 1, p, v, sizeof v) ? strtoll(v, NULL, 10) : -1;
}

/* Wait until the job's final job-level event arrived; returns how many events the job had on the bus. */
static int wait_events(const char *job, const char *final_state)
{
	int64_t end = now_ms() + TEST_WAIT_MS;
	for (;;) {
		int n = 0;
		bool done = false;
		pthread_mutex_lock(&mu);
		for (int i = 0; i < nevents; i++) {
			if (strcmp(events[i].job_id, job) != 0)
				continue;
			n++;
			done = done || (events[i].step == 0 && strcmp(events[i].job_state, final_state) == 0);
		}
		pthread_mutex_unlock(&mu);
		if (done || now_ms() > end)
			return done ? n : -n - 1;
		sleep_ms(50);
	}
}

/* ---------- tests ---------- */

static void submitted_job_runs_to_success(void)
{
	char job[FLOW_ID_MAX], v[256];
	AG_CHECK(make_job("report.txt", 0, job));
	AG_CHECK(submit(job));
	AG_CHECK(wait_job(job, v, sizeof v));
	AG_CHECK_STR(v, "succeeded - -");
	AG_CHECK_INT(
	        q_ll("SELECT count(*) FROM job_steps WHERE job_id = $1 AND state = 'succeeded' AND attempt = 1", job),
	        4);
	AG_CHECK_INT(q_ll("SELECT count(*) FROM document_content c JOIN jobs j ON j.document_id = c.document_id "
	                  "WHERE j.id = $1",
	                  job),
	             1);
	/* ai ran after content finished */
	AG_CHECK_INT(q_ll("SELECT count(*) FROM job_steps a JOIN job_steps c ON c.job_id = a.job_id "
	                  "AND c.name = 'content' WHERE a.job_id = $1 AND a.name = 'ai' "
	                  "AND a.dispatched_at >= c.finished_at",
	                  job),
	             1);
	/* every job_events row reached the bus: job running, 4 dispatches, 4 step outcomes, job succeeded */
	long long rows = q_ll("SELECT count(*) FROM job_events WHERE job_id = $1", job);
	AG_CHECK_INT(rows, 10);
	int seen = wait_events(job, "succeeded");
	AG_CHECK_INT(seen, rows);
}

static void rejected_upload_ends_the_job(void)
{
	char job[FLOW_ID_MAX], v[256];
	AG_CHECK(make_job("evil.exe", 0, job));
	AG_CHECK(submit(job));
	AG_CHECK(wait_job(job, v, sizeof v));
	AG_CHECK_STR(v, "rejected type_not_allowed executables are not allowed");
	AG_CHECK_INT(
	        q_ll("SELECT count(*) FROM job_steps WHERE job_id = $1 AND state = 'skipped' AND attempt = 0", job), 3);
	AG_CHECK(wait_events(job, "rejected") > 0);
}

static void failed_step_fails_the_job(void)
{
	char job[FLOW_ID_MAX], v[256];
	AG_CHECK(make_job("broken.pdf", 0, job));
	AG_CHECK(submit(job));
	AG_CHECK(wait_job(job, v, sizeof v));
	AG_CHECK_STR(v, "failed corrupt_pdf the PDF cross-reference table is broken");
	AG_CHECK(wait_events(job, "failed") > 0);
}

static void duplicate_submissions_are_harmless(void)
{
	char job[FLOW_ID_MAX], v[256];
	AG_CHECK(make_job("twice.txt", 0, job));
	/* the same job submitted under two message ids (a gateway retry past the duplicate window) */
	AG_CHECK(submit(job));
	Aegis__V1__JobSubmitted js = AEGIS__V1__JOB_SUBMITTED__INIT;
	js.job_id = job;
	uint8_t buf[256];
	size_t len = aegis__v1__job_submitted__pack(&js, buf);
	ag_err e;
	AG_CHECK_INT(ag_bus_publish(ag_service_bus(svc), AG_SUBJ_JOB_SUBMITTED, buf, len, NULL, NULL, &e), AG_OK);
	AG_CHECK(wait_job(job, v, sizeof v));
	AG_CHECK_STR(v, "succeeded - -");
	AG_CHECK_INT(q_ll("SELECT max(attempt) FROM job_steps WHERE job_id = $1", job), 1);
	AG_CHECK_INT(q_ll("SELECT count(*) FROM job_events WHERE job_id = $1", job), 10);
}

/* The value of one series ("name{labels}"); 0 when absent. Compared as deltas (a shared server may hold
 * messages other tests left). */
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

#define ORCH_SERIES(consumer, outcome) \
	"aegis_orchestrator_messages_total{consumer=\"" consumer "\",outcome=\"" outcome "\"}"

static void unknown_and_malformed_messages_are_terminated(void)
{
	double unknown = metric(ORCH_SERIES("submitted", "unknown_job"));
	double bad_sub = metric(ORCH_SERIES("submitted", "malformed"));
	double bad_res = metric(ORCH_SERIES("results", "malformed"));
	AG_CHECK(submit("0b5cbd4e-2f7c-4c59-9a39-1d0c64d0c0de"));
	ag_err e;
	AG_CHECK_INT(ag_bus_publish(ag_service_bus(svc), AG_SUBJ_JOB_SUBMITTED, "\x0a\x03xyz", 5, NULL, NULL, &e),
	             AG_OK);
	AG_CHECK_INT(ag_bus_publish(ag_service_bus(svc), "aegis.results.ai", "\xff", 1, NULL, NULL, &e), AG_OK);
	int64_t end = now_ms() + TEST_WAIT_MS;
	while (now_ms() < end && (metric(ORCH_SERIES("submitted", "unknown_job")) < unknown + 1 ||
	                          metric(ORCH_SERIES("submitted", "malformed")) < bad_sub + 1 ||
	                          metric(ORCH_SERIES("results", "malformed")) < bad_res + 1))
		sleep_ms(100);
	AG_CHECK_INT(metric(ORCH_SERIES("submitted", "unknown_job")) - unknown, 1);
	AG_CHECK_INT(metric(ORCH_SERIES("submitted", "malformed")) - bad_sub, 1);
	AG_CHECK_INT(metric(ORCH_SERIES("results", "malformed")) - bad_res, 1);
}

static void sweeper_drives_a_job_never_submitted(void)
{
	char job[FLOW_ID_MAX], fresh[FLOW_ID_MAX], v[256];
	/* the gateway committed the job and died before publishing */
	AG_CHECK(make_job("orphan.txt", 600000, job));
	AG_CHECK(make_job("fresh.txt", 0, fresh)); /* not stuck yet: left alone */
	int driven = -1;
	ag_err e;
	AG_CHECK_INT(sweeper_round(in, ag_service_db(svc), 300000, &driven, &e), AG_OK);
	AG_CHECK_INT(driven, 1);
	AG_CHECK(wait_job(job, v, sizeof v));
	AG_CHECK_STR(v, "succeeded - -");
	const char *p[] = {fresh};
	AG_CHECK(q1("SELECT state FROM jobs WHERE id = $1", 1, p, v, sizeof v));
	AG_CHECK_STR(v, "queued");
	/* the swept job was stamped, so the next round does not take it again */
	AG_CHECK_INT(sweeper_round(in, ag_service_db(svc), 300000, &driven, &e), AG_OK);
	AG_CHECK_INT(driven, 0);
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
			printf("not ok - orchestrator intake: scripts/devstack not found (run from the repository "
			       "root) "
			       "and AEGIS_TEST_DATABASE_URL / AEGIS_TEST_NATS_URL are not set\n");
			return false;
		}
		snprintf(stack_dir, sizeof stack_dir, "/tmp/aegis-orchtest-XXXXXX");
		if (!mkdtemp(stack_dir) || chmod(stack_dir, 0755) != 0) {
			stack_dir[0] = '\0';
			printf("not ok - orchestrator intake: cannot make a temporary directory\n");
			return false;
		}
		if (devstack("start", "") != 0) {
			printf("not ok - orchestrator intake: could not start NATS and PostgreSQL with "
			       "scripts/devstack\n");
			return false;
		}
		snprintf(base_db_url, sizeof base_db_url, "postgresql://aegis@127.0.0.1:%d/aegis", TEST_PG_PORT);
		snprintf(nats_url, sizeof nats_url, "nats://127.0.0.1:%d", TEST_NATS_PORT);
	}
	snprintf(scratch_db, sizeof scratch_db, "aegis_orchtest_%ld", (long)getpid());
	char sql[128];
	snprintf(sql, sizeof sql, "CREATE DATABASE %s", scratch_db);
	if (!admin_exec(sql)) {
		scratch_db[0] = '\0';
		printf("not ok - orchestrator intake: cannot create database\n");
		return false;
	}
	char *slash = strrchr(base_db_url, '/');
	snprintf(scratch_url, sizeof scratch_url, "%.*s/%s", (int)(slash - base_db_url), base_db_url, scratch_db);
	setenv("NATS_URL", nats_url, 1);
	setenv("DATABASE_URL", scratch_url, 1);
	setenv("HTTP_HOST", "127.0.0.1", 1);
	setenv("HTTP_PORT", TEST_HTTP_PORT, 1);
	setenv("LOG_LEVEL", "warn", 1);
	setenv("DB_POOL_SIZE", "16", 1);
	return true;
}

typedef struct test_cfg {
	ag_common_cfg common;
} test_cfg;

static const ag_cfg_item test_items[] = {AG_CFG_COMMON_ITEMS(test_cfg, TEST_HTTP_PORT)};

static bool start_consumer(ag_bus_worker **w, const char *stream, const char *durable, const char *filter, int threads,
                           ag_bus_handler fn, void *ud)
{
	static const int64_t backoff[] = {30000, 60000, 120000};
	ag_bus_consumer_cfg cc = {stream, durable, filter, 30000, 10, backoff, 3, 256};
	ag_err e;
	if (ag_bus_ensure_consumer(ag_service_bus(svc), &cc, &e) != AG_OK ||
	    ag_bus_worker_start(w, ag_service_bus(svc), stream, durable, threads, fn, ud, &e) != AG_OK) {
		printf("not ok - orchestrator intake: consumer %s: %s\n", durable, e.msg);
		return false;
	}
	return true;
}

static bool start_everything(void)
{
	static test_cfg cfg;
	ag_service_spec spec = {
	        .name = "orch-test",
	        .items = test_items,
	        .nitems = sizeof test_items / sizeof test_items[0],
	        .cfg = &cfg,
	        .common = &cfg.common,
	        .needs = AG_NEEDS_DB | AG_NEEDS_BUS,
	};
	char *argv[] = {"orch-test", NULL};
	int code = 0;
	ag_err e;
	if (ag_service_start(&svc, &spec, 1, argv, &code) != AG_OK) {
		printf("not ok - orchestrator intake: the service did not start (exit code %d)\n", code);
		return false;
	}
	char id[FLOW_ID_MAX];
	if (!q1("INSERT INTO users (email, password_hash) VALUES ('orch@example.com', 'x') RETURNING id", 0, NULL, id,
	        sizeof id))
		return false;
	memcpy(user_id, id, sizeof user_id);
	if (intake_new(&in, ag_service_bus(svc), ag_service_db(svc), ag_service_metrics(svc), &e) != AG_OK)
		return false;
	if (!start_consumer(&orch[0], AG_STREAM_JOBS, "orchestrator-submitted", AG_SUBJ_JOB_SUBMITTED, 2,
	                    intake_on_submitted, in) ||
	    !start_consumer(&orch[1], AG_STREAM_RESULTS, "orchestrator-results", "aegis.results.>", 2, intake_on_result,
	                    in) ||
	    !start_consumer(&event_collector, AG_STREAM_EVENTS, "orch-test-events", "aegis.events.>", 1, collect_event,
	                    NULL))
		return false;
	for (int i = 0; i < FLOW_STEPS; i++) {
		ag_step_def def = {flow_step_names[i],
		                   flow_step_id(flow_step_names[i]),
		                   step_handler,
		                   (void *)flow_step_names[i],
		                   2,
		                   5000,
		                   3,
		                   0};
		if (ag_step_worker_start(&steps[i], svc, &def, &e) != AG_OK) {
			printf("not ok - orchestrator intake: step worker %s: %s\n", flow_step_names[i], e.msg);
			return false;
		}
	}
	return true;
}

static void teardown(void)
{
	for (int i = 0; i < FLOW_STEPS; i++)
		ag_step_worker_free(steps[i]);
	ag_bus_worker *ws[] = {orch[0], orch[1], event_collector};
	for (int i = 0; i < 3; i++) {
		if (!ws[i])
			continue;
		ag_bus_worker_stop(ws[i]);
		ag_bus_worker_join(ws[i], 30000);
		ag_bus_worker_free(ws[i]);
	}
	intake_free(in);
	ag_service_free(svc);
	if (scratch_db[0]) {
		char sql[128];
		snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", scratch_db);
		admin_exec(sql);
	}
	if (stack_dir[0]) {
		devstack("stop", "--wipe");
		rmdir(stack_dir);
	}
}

int main(void)
{
	if (!setup() || !start_everything()) {
		teardown();
		ag_test_failed++;
		return ag_test_summary();
	}
	AG_TEST_RUN(submitted_job_runs_to_success);
	AG_TEST_RUN(rejected_upload_ends_the_job);
	AG_TEST_RUN(failed_step_fails_the_job);
	AG_TEST_RUN(duplicate_submissions_are_harmless);
	AG_TEST_RUN(unknown_and_malformed_messages_are_terminated);
	AG_TEST_RUN(sweeper_drives_a_job_never_submitted);
	teardown();
	return ag_test_summary();
}
