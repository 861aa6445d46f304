/*
 * Tests services/orchestrator/gauges.c against real PostgreSQL and
 * nats-server: jobs in known states show up in aegis_jobs{state}, a
 * consumer holding an unacknowledged message and a backlog shows
 * aegis_bus_consumer_ack_pending / _pending, both go back to 0 once the
 * messages are acknowledged, and the refresh thread picks up a state change.
 * Servers: AEGIS_TEST_NATS_URL / AEGIS_TEST_DATABASE_URL (scripts/test-all
 * sets them).
 */
#include "../../../../services/orchestrator/bgwait.c"
#include "../../../../services/orchestrator/gauges.c"

#include "aegis/bus.h"
#include "aegis/db.h"
#include "aegis/limits.h"
#include "aegis/metrics.h"
#include "test.h"

#include <unistd.h>

#define TEST_WAIT_MS 20000
#define TEST_URL_MAX 1024
#define TEST_MSGS    3

static char base_db_url[TEST_URL_MAX];
static char scratch_db[64];
static char scratch_url[TEST_URL_MAX];
static char subject[96];
static char durable[64];
static ag_db_pool *db;
static ag_bus *bus;
static ag_metrics *mx;

static atomic_int entered;  /* handler calls started */
static atomic_int handled;  /* handler calls returned */
static atomic_bool release; /* let the held handler return */

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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

static bool sql_ok(const char *sql)
{
	PGconn *c = NULL;
	PGresult *r = NULL;
	ag_err e;
	bool ok = ag_db_acquire(db, &c, 5000, &e) == AG_OK;
	if (ok) {
		ok = ag_db_exec(c, sql, 0, NULL, &r, &e) == AG_OK;
		ag_db_release(db, c);
	}
	if (!ok)
		fprintf(stderr, "  %s: %s\n", sql, e.msg);
	PQclear(r);
	return ok;
}

/* The value of one series in the rendered registry, or -1 when absent. */
static double series(const char *name_and_labels)
{
	char *text = NULL;
	size_t len = 0;
	double v = -1;
	if (ag_metrics_render(mx, &text, &len) != AG_OK)
		return -1;
	size_t n = strlen(name_and_labels);
	for (char *p = text; p && *p;) {
		char *nl = strchr(p, '\n');
		if (strncmp(p, name_and_labels, n) == 0 && p[n] == ' ') {
			v = strtod(p + n + 1, NULL);
			break;
		}
		p = nl ? nl + 1 : NULL;
	}
	free(text);
	return v;
}

static ag_bus_verdict hold_first(ag_bus_msg *m, void *ud)
{
	int n = atomic_fetch_add(&entered, 1);
	if (n == 0)
		while (!atomic_load(&release))
			usleep(10000);
	atomic_fetch_add(&handled, 1);
	return (ag_bus_verdict){AG_BUS_ACK, 0};
}

static bool setup(void)
{
	const char *dburl = getenv("AEGIS_TEST_DATABASE_URL");
	const char *nats = getenv("AEGIS_TEST_NATS_URL");
	ag_err e;
	if (!dburl || !*dburl || !nats || !*nats) {
		printf("not ok - orchestrator gauges: AEGIS_TEST_DATABASE_URL and AEGIS_TEST_NATS_URL must be set "
		       "(run through scripts/test-all)\n");
		return false;
	}
	snprintf(base_db_url, sizeof base_db_url, "%s", dburl);
	snprintf(scratch_db, sizeof scratch_db, "aegis_gaugetest_%ld", (long)getpid());
	char sql[128];
	snprintf(sql, sizeof sql, "CREATE DATABASE %s", scratch_db);
	if (!admin_exec(sql)) {
		scratch_db[0] = '\0';
		printf("not ok - orchestrator gauges: cannot create database\n");
		return false;
	}
	char *slash = strrchr(base_db_url, '/');
	snprintf(scratch_url, sizeof scratch_url, "%.*s/%s", (int)(slash - base_db_url), base_db_url, scratch_db);
	snprintf(subject, sizeof subject, "%sgaugetest.%ld", AG_SUBJ_EVENTS_PREFIX, (long)getpid());
	snprintf(durable, sizeof durable, "gaugetest-%ld", (long)getpid());
	if (ag_metrics_new(&mx) != AG_OK || ag_db_pool_new(&db, scratch_url, 2, &e) != AG_OK ||
	    ag_db_migrate(db, &e) != AG_OK) {
		printf("not ok - orchestrator gauges: database: %s\n", e.msg);
		return false;
	}
	if (ag_bus_connect(&bus, nats, "gauges-test", NULL, &e) != AG_OK) {
		printf("not ok - orchestrator gauges: nats: %s\n", e.msg);
		return false;
	}
	for (int64_t dl = now_ms() + TEST_WAIT_MS; !ag_bus_connected(bus) && now_ms() < dl;)
		usleep(20000);
	if (ag_bus_ensure_streams(bus, &e) != AG_OK) {
		printf("not ok - orchestrator gauges: streams: %s\n", e.msg);
		return false;
	}
	return true;
}

static void teardown(void)
{
	ag_bus_free(bus);
	ag_db_pool_free(db);
	ag_metrics_free(mx);
	if (scratch_db[0]) {
		char sql[128];
		snprintf(sql, sizeof sql, "DROP DATABASE %s WITH (FORCE)", scratch_db);
		admin_exec(sql);
	}
	ag_bus_shutdown_library();
}

static void rejects_bad_arguments(void)
{
	gauges *g = NULL;
	ag_err e;
	gauges_consumer many[GAUGES_MAX_CONSUMERS + 1];
	for (size_t i = 0; i < GAUGES_MAX_CONSUMERS + 1; i++)
		many[i] = (gauges_consumer){AG_STREAM_TASKS, "x"};
	AG_CHECK_INT(gauges_new(&g, db, bus, mx, many, GAUGES_MAX_CONSUMERS + 1, &e), AG_E_INVAL);
	AG_CHECK(g == NULL);
	gauges_consumer nameless = {AG_STREAM_TASKS, NULL};
	AG_CHECK_INT(gauges_new(&g, db, bus, mx, &nameless, 1, &e), AG_E_INVAL);
	AG_CHECK_INT(gauges_new(&g, NULL, bus, mx, NULL, 0, &e), AG_E_INVAL);
	AG_CHECK_INT(ag_bus_set_stream_replicas(bus, 0, &e), AG_E_INVAL);
	AG_CHECK_INT(ag_bus_set_stream_replicas(bus, AG_BUS_MAX_STREAM_REPLICAS + 1, &e), AG_E_INVAL);
	AG_CHECK_INT(ag_bus_set_stream_replicas(bus, 1, &e), AG_OK);
	ag_bus_consumer_info ci;
	AG_CHECK_INT(ag_bus_consumer_info_get(bus, AG_STREAM_TASKS, "no-such-consumer", &ci, &e), AG_E_NOTFOUND);
}

static void jobs_and_consumer_backlog_show_up(void)
{
	gauges *g = NULL;
	ag_bus_worker *w = NULL;
	ag_err e;
	ag_err_clear(&e);

	/* Two jobs running, one failed: the documents and their owner first. */
	AG_CHECK(sql_ok("INSERT INTO users (id, email, password_hash) VALUES "
	                "('00000000-0000-4000-8000-000000000001', 'gauges@example.com', 'x')"));
	for (int i = 1; i <= 3; i++) {
		char sql[512];
		snprintf(sql, sizeof sql,
		         "INSERT INTO documents (id, owner_id, filename, size, sha256, storage_key) VALUES "
		         "('00000000-0000-4000-9000-00000000000%d', '00000000-0000-4000-8000-000000000001', 'd%d', 1, "
		         "'x', 'k%d')",
		         i, i, i);
		AG_CHECK(sql_ok(sql));
		snprintf(sql, sizeof sql,
		         "INSERT INTO jobs (id, owner_id, document_id, state) VALUES "
		         "('00000000-0000-4000-a000-00000000000%d', '00000000-0000-4000-8000-000000000001', "
		         "'00000000-0000-4000-9000-00000000000%d', '%s')",
		         i, i, i == 3 ? "failed" : "running");
		AG_CHECK(sql_ok(sql));
	}

	/* A consumer of its own with MaxAckPending 1: one message held by the handler, the rest waiting. */
	ag_bus_consumer_cfg cc = {.stream = AG_STREAM_EVENTS,
	                          .durable = durable,
	                          .filter = subject,
	                          .ack_wait_ms = 30000,
	                          .max_deliver = 5,
	                          .max_ack_pending = 1};
	AG_CHECK_INT(ag_bus_ensure_consumer(bus, &cc, &e), AG_OK);
	for (int i = 0; i < TEST_MSGS; i++)
		AG_CHECK_INT(ag_bus_publish(bus, subject, "m", 1, NULL, NULL, &e), AG_OK);
	gauges_consumer watch[] = {{AG_STREAM_EVENTS, durable}, {AG_STREAM_TASKS, "not-created-yet"}};
	AG_CHECK_INT(gauges_new(&g, db, bus, mx, watch, 2, &e), AG_OK);
	if (!g)
		return;
	char pend[256], ackp[256];
	snprintf(pend, sizeof pend, "aegis_bus_consumer_pending{stream=\"%s\",consumer=\"%s\"}", AG_STREAM_EVENTS,
	         durable);
	snprintf(ackp, sizeof ackp, "aegis_bus_consumer_ack_pending{stream=\"%s\",consumer=\"%s\"}", AG_STREAM_EVENTS,
	         durable);

	AG_CHECK_INT(gauges_refresh(g, &e), AG_OK); /* the missing consumer is skipped, not an error */
	AG_CHECK_INT(series("aegis_jobs{state=\"running\"}"), 2);
	AG_CHECK_INT(series("aegis_jobs{state=\"failed\"}"), 1);
	AG_CHECK_INT(series("aegis_jobs{state=\"queued\"}"), 0);
	AG_CHECK_INT(series(pend), TEST_MSGS);
	AG_CHECK_INT(series(ackp), 0);

	AG_CHECK_INT(ag_bus_worker_start(&w, bus, AG_STREAM_EVENTS, durable, 1, hold_first, NULL, &e), AG_OK);
	for (int64_t dl = now_ms() + TEST_WAIT_MS; atomic_load(&entered) == 0 && now_ms() < dl;)
		usleep(10000);
	AG_CHECK_INT(atomic_load(&entered), 1);
	AG_CHECK_INT(gauges_refresh(g, &e), AG_OK);
	AG_CHECK_INT(series(ackp), 1);
	AG_CHECK_INT(series(pend), TEST_MSGS - 1);

	/* Acknowledged: the backlog drains and the gauges say so. */
	atomic_store(&release, true);
	double p = -1, a = -1;
	for (int64_t dl = now_ms() + TEST_WAIT_MS; now_ms() < dl; usleep(50000)) {
		gauges_refresh(g, &e);
		p = series(pend);
		a = series(ackp);
		if (atomic_load(&handled) == TEST_MSGS && p == 0 && a == 0)
			break;
	}
	AG_CHECK_INT(atomic_load(&handled), TEST_MSGS);
	AG_CHECK_INT(p, 0);
	AG_CHECK_INT(a, 0);
	ag_bus_worker_stop(w);
	AG_CHECK(ag_bus_worker_join(w, TEST_WAIT_MS));
	ag_bus_worker_free(w);

	/* The refresh thread notices a state change on its own. */
	AG_CHECK_INT(gauges_start(g, 100, &e), AG_OK);
	AG_CHECK(sql_ok("UPDATE jobs SET state = 'succeeded' WHERE state = 'running'"));
	double s = -1;
	for (int64_t dl = now_ms() + TEST_WAIT_MS; now_ms() < dl && s != 2; usleep(50000))
		s = series("aegis_jobs{state=\"succeeded\"}");
	AG_CHECK_INT(s, 2);
	AG_CHECK_INT(series("aegis_jobs{state=\"running\"}"), 0);
	AG_CHECK(gauges_stop(g, TEST_WAIT_MS));
	AG_CHECK(gauges_drained(g));
	gauges_free(g);
}

int main(void)
{
	ag_log_init("gauges-test", AG_LOG_WARN);
	if (setup()) {
		AG_TEST_RUN(rejects_bad_arguments);
		AG_TEST_RUN(jobs_and_consumer_backlog_show_up);
	} else {
		ag_test_failed++;
	}
	teardown();
	return ag_test_summary();
}
