/*
 * Tests libcommon/src/db.c and db_migrate.c against a real PostgreSQL: the
 * server of AEGIS_TEST_DATABASE_URL when set, otherwise one this program
 * starts with scripts/devstack on 127.0.0.1:15432 (and stops and wipes after).
 * Every test works in scratch databases created here and dropped at the end.
 */
#include "aegis/db.h"
#include "aegis/limits.h"
#include "aegis/log.h"
#include "test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TEST_PG_PORT      15432 /* devstack PostgreSQL when no AEGIS_TEST_DATABASE_URL */
#define TEST_DEAD_PORT    15439 /* nothing listens here */
#define TEST_SILENT_PORT  15438 /* a socket that accepts TCP but never speaks */
#define TEST_CONNINFO_MAX 1024
#define TEST_CMD_MAX      1024
#define TEST_THREADS      8
#define TEST_ROUNDS       20

extern const size_t ag_migrations_count;

static char stack_dir[64]; /* devstack dir when this program started the server */
static char base_url[TEST_CONNINFO_MAX];
static char scratch_db[64]; /* per-run database for most tests */
static char scratch_info[TEST_CONNINFO_MAX];

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The conninfo of `base` with another database name, as key='value' pairs. */
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

/* Run one statement on a fresh connection to `info` (admin work outside the pool under test). */
static void quiet_notice(void *arg, const char *msg) {}

static bool admin_exec(const char *info, const char *sql)
{
	PGconn *c = PQconnectdb(info);
	bool ok = PQstatus(c) == CONNECTION_OK;
	if (ok) {
		PQsetNoticeProcessor(c, quiet_notice, NULL); /* "database … does not exist, skipping" */
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

static bool create_db(const char *name)
{
	char sql[128];
	snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
	if (!admin_exec(base_url, sql))
		return false;
	snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
	return admin_exec(base_url, sql);
}

static void drop_db(const char *name)
{
	char sql[128];
	snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
	admin_exec(base_url, sql);
}

static int devstack(const char *verb, const char *extra)
{
	char cmd[TEST_CMD_MAX];
	snprintf(cmd, sizeof cmd, "scripts/devstack %s --only pg --dir %s --pg-port %d %s >&2", verb, stack_dir,
	         TEST_PG_PORT, extra);
	return system(cmd);
}

/* Single value of a one-row query, as a long long; -1 on any failure. */
static long long query_ll(PGconn *c, const char *sql)
{
	PGresult *r = NULL;
	ag_err e;
	long long v = -1;
	if (ag_db_exec(c, sql, 0, NULL, &r, &e) != AG_OK) {
		fprintf(stderr, "  query %s: %s\n", sql, e.msg);
		return -1;
	}
	if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
		v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return v;
}

/* --- pool ------------------------------------------------------------------------------------------------------ */

struct contention {
	ag_db_pool *pool;
	atomic_int inside, max_inside, failures, done;
	pthread_mutex_t mu;
	long long pids[TEST_THREADS * TEST_ROUNDS];
	int npids;
};

static void *contention_thread(void *arg)
{
	struct contention *t = arg;
	for (int i = 0; i < TEST_ROUNDS; i++) {
		PGconn *c = NULL;
		ag_err e;
		if (ag_db_acquire(t->pool, &c, 10000, &e) != AG_OK) {
			fprintf(stderr, "  acquire failed: %s\n", e.msg);
			atomic_fetch_add(&t->failures, 1);
			continue;
		}
		int in = atomic_fetch_add(&t->inside, 1) + 1;
		int max = atomic_load(&t->max_inside);
		while (in > max && !atomic_compare_exchange_weak(&t->max_inside, &max, in))
			;
		long long pid = query_ll(c, "SELECT pg_backend_pid() FROM pg_sleep(0.002)");
		if (pid <= 0)
			atomic_fetch_add(&t->failures, 1);
		pthread_mutex_lock(&t->mu);
		t->pids[t->npids++] = pid;
		pthread_mutex_unlock(&t->mu);
		atomic_fetch_sub(&t->inside, 1);
		ag_db_release(t->pool, c);
		atomic_fetch_add(&t->done, 1);
	}
	return NULL;
}

static void pool_serves_more_threads_than_connections(void)
{
	struct contention t = {0};
	pthread_mutex_init(&t.mu, NULL);
	ag_err e;
	AG_CHECK_INT(ag_db_pool_new(&t.pool, scratch_info, 3, &e), AG_OK);
	pthread_t th[TEST_THREADS];
	for (int i = 0; i < TEST_THREADS; i++)
		pthread_create(&th[i], NULL, contention_thread, &t);
	for (int i = 0; i < TEST_THREADS; i++)
		pthread_join(th[i], NULL);
	AG_CHECK_INT(atomic_load(&t.failures), 0);
	AG_CHECK_INT(atomic_load(&t.done), TEST_THREADS * TEST_ROUNDS);
	AG_CHECK(atomic_load(&t.max_inside) <= 3);
	AG_CHECK(atomic_load(&t.max_inside) >= 2); /* the threads really overlapped */
	int distinct = 0;
	for (int i = 0; i < t.npids; i++) {
		bool seen = false;
		for (int j = 0; j < i; j++)
			seen = seen || t.pids[j] == t.pids[i];
		distinct += !seen;
	}
	AG_CHECK(distinct >= 1 && distinct <= 3); /* never more server sessions than the pool size */
	ag_db_pool_free(t.pool);
	pthread_mutex_destroy(&t.mu);
}

static void acquire_times_out_when_all_busy(void)
{
	ag_db_pool *p = NULL;
	PGconn *c1 = NULL, *c2 = NULL;
	ag_err e;
	AG_CHECK_INT(ag_db_pool_new(&p, scratch_info, 1, &e), AG_OK);
	AG_CHECK_INT(ag_db_acquire(p, &c1, 2000, &e), AG_OK);
	int64_t t0 = now_ms();
	AG_CHECK_INT(ag_db_acquire(p, &c2, 150, &e), AG_E_TIMEOUT);
	int64_t took = now_ms() - t0;
	AG_CHECK(took >= 140 && took < 1500);
	AG_CHECK(c2 == NULL);
	AG_CHECK(strstr(e.msg, "busy") != NULL);
	ag_db_release(p, c1);
	AG_CHECK_INT(ag_db_acquire(p, &c2, 150, &e), AG_OK);
	AG_CHECK(c2 == c1); /* the one connection is reused, not reopened */
	ag_db_release(p, c2);
	ag_db_pool_free(p);
}

static void pool_new_rejects_bad_arguments(void)
{
	ag_err e;
	ag_db_pool *p = (ag_db_pool *)&e; /* must come back NULL */
	AG_CHECK_INT(ag_db_pool_new(&p, scratch_info, 0, &e), AG_E_INVAL);
	AG_CHECK(p == NULL);
	AG_CHECK_INT(ag_db_pool_new(&p, scratch_info, AG_DB_MAX_POOL + 1, &e), AG_E_INVAL);
	AG_CHECK_INT(ag_db_pool_new(&p, "postgresql://aegis:hunter2@[::1/aegis", 2, &e), AG_E_INVAL);
	AG_CHECK(strstr(e.msg, "hunter2") == NULL); /* the password is never echoed */
	AG_CHECK(strstr(e.msg, "DATABASE_URL") != NULL);
	AG_CHECK_INT(ag_db_pool_new(&p, "host=127.0.0.1 nonsense_key=1", 2, &e), AG_E_INVAL);
	AG_CHECK_INT(ag_db_pool_new(&p, "host=127.0.0.1 connect_timeout=soon", 2, &e), AG_E_INVAL);
	AG_CHECK(p == NULL);
	ag_db_pool_free(NULL);
}

/* --- statements ------------------------------------------------------------------------------------------------ */

static void exec_maps_sqlstates(void)
{
	ag_db_pool *p = NULL;
	PGconn *c = NULL;
	ag_err e;
	AG_CHECK_INT(ag_db_pool_new(&p, scratch_info, 1, &e), AG_OK);
	AG_CHECK_INT(ag_db_acquire(p, &c, 5000, &e), AG_OK);
	if (!c)
		goto out;
	AG_CHECK_INT(ag_db_exec(c,
	                        "CREATE TABLE map_parent (id text PRIMARY KEY);"
	                        "CREATE TABLE map_child (id text REFERENCES map_parent(id));"
	                        "CREATE TABLE map_check (v int CHECK (v > 0))",
	                        0, NULL, NULL, &e),
	             AG_E_INTERNAL); /* several statements are not allowed with parameters support: 42601 */
	AG_CHECK(strstr(e.msg, "SQLSTATE 42601") != NULL);
	AG_CHECK_INT(ag_db_exec(c, "CREATE TABLE map_parent (id text PRIMARY KEY)", 0, NULL, NULL, &e), AG_OK);
	AG_CHECK_INT(ag_db_exec(c, "CREATE TABLE map_child (id text REFERENCES map_parent(id))", 0, NULL, NULL, &e),
	             AG_OK);
	AG_CHECK_INT(ag_db_exec(c, "CREATE TABLE map_check (v int CHECK (v > 0))", 0, NULL, NULL, &e), AG_OK);
	const char *secret[] = {"dup-s3cret-value"};
	AG_CHECK_INT(ag_db_exec(c, "INSERT INTO map_parent VALUES ($1)", 1, secret, NULL, &e), AG_OK);

	static const struct {
		const char *sql;
		const char *param;
		ag_status want;
		const char *state;
	} cases[] = {
	        {"INSERT INTO map_parent VALUES ($1)", "dup-s3cret-value", AG_E_EXISTS, "23505"},
	        {"INSERT INTO map_child VALUES ($1)", "fk-s3cret-value", AG_E_INVAL, "23503"},
	        {"INSERT INTO map_check VALUES ($1::int)", "-1", AG_E_INVAL, "23514"},
	        {"INSERT INTO map_parent VALUES ($1)", NULL, AG_E_INVAL, "23502"},
	        {"SELECT $1::int", "bad-s3cret-value", AG_E_INVAL, "22P02"},
	        {"SELECT 1 / $1::int", "0", AG_E_INVAL, "22012"},
	        {"SELECT $1::int", "99999999999", AG_E_INVAL, "22003"},
	        {"SELECT * FROM no_such_table WHERE $1::text IS NULL", "x", AG_E_INTERNAL, "42P01"},
	        {"DO $$BEGIN RAISE EXCEPTION 'x' USING ERRCODE = 'serialization_failure'; END$$", NULL, AG_E_RETRY,
	         "40001"},
	        {"DO $$BEGIN RAISE EXCEPTION 'x' USING ERRCODE = 'deadlock_detected'; END$$", NULL, AG_E_RETRY,
	         "40P01"},
	        {"DO $$BEGIN RAISE EXCEPTION 'x' USING ERRCODE = 'query_canceled'; END$$", NULL, AG_E_TIMEOUT, "57014"},
	        {"DO $$BEGIN RAISE EXCEPTION 'x' USING ERRCODE = 'connection_failure'; END$$", NULL, AG_E_UNAVAILABLE,
	         "08006"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *params[] = {cases[i].param};
		int n = strstr(cases[i].sql, "$1") && !strstr(cases[i].sql, "$$") ? 1 : 0;
		PGresult *r = (PGresult *)&e; /* must come back NULL on failure */
		ag_err_clear(&e);
		ag_status st = ag_db_exec(c, cases[i].sql, n, params, &r, &e);
		if (st != cases[i].want)
			fprintf(stderr, "  case %zu: %s -> %s (%s)\n", i, cases[i].sql, ag_status_name(st), e.msg);
		AG_CHECK_INT(st, cases[i].want);
		AG_CHECK(r == NULL);
		AG_CHECK(strstr(e.msg, cases[i].state) != NULL);
		AG_CHECK(strstr(e.msg, "s3cret") == NULL); /* parameter values never reach the message */
	}

	/* a real statement timeout */
	AG_CHECK_INT(ag_db_exec(c, "SET statement_timeout = 50", 0, NULL, NULL, &e), AG_OK);
	AG_CHECK_INT(ag_db_exec(c, "SELECT pg_sleep(2)", 0, NULL, NULL, &e), AG_E_TIMEOUT);
	AG_CHECK(strstr(e.msg, "57014") != NULL);
	AG_CHECK_INT(ag_db_exec(c, "RESET statement_timeout", 0, NULL, NULL, &e), AG_OK);

	AG_CHECK_INT(ag_db_exec(NULL, "SELECT 1", 0, NULL, NULL, &e), AG_E_INVAL);
	const char *many[AG_DB_MAX_PARAMS + 1] = {0};
	AG_CHECK_INT(ag_db_exec(c, "SELECT 1", AG_DB_MAX_PARAMS + 1, many, NULL, &e), AG_E_INVAL);
out:
	ag_db_release(p, c);
	ag_db_pool_free(p);
}

static void exec_returns_rows_and_nulls(void)
{
	ag_db_pool *p = NULL;
	PGconn *c = NULL;
	PGresult *r = NULL;
	ag_err e;
	AG_CHECK_INT(ag_db_pool_new(&p, scratch_info, 1, &e), AG_OK);
	AG_CHECK_INT(ag_db_acquire(p, &c, 5000, &e), AG_OK);
	if (!c)
		goto out;
	const char *params[] = {"héllo", NULL};
	AG_CHECK_INT(ag_db_exec(c, "SELECT $1::text, $2::text IS NULL, length($1)", 2, params, &r, &e), AG_OK);
	if (r) {
		AG_CHECK_INT(PQntuples(r), 1);
		AG_CHECK_STR(PQgetvalue(r, 0, 0), "héllo"); /* UTF-8 in and out */
		AG_CHECK_STR(PQgetvalue(r, 0, 1), "t");
		AG_CHECK_STR(PQgetvalue(r, 0, 2), "5");
		PQclear(r);
		r = NULL;
	}
	/* binary parameter with an embedded NUL */
	static const char blob[] = {'a', '\0', 'b', '\xff', 'c'};
	const char *bparams[] = {blob, "text-param"};
	const int lengths[] = {(int)sizeof blob, 0};
	const int formats[] = {1, 0};
	AG_CHECK_INT(ag_db_execb(c, "SELECT length($1::bytea), encode($1::bytea, 'hex'), $2::text", 2, bparams, lengths,
	                         formats, &r, &e),
	             AG_OK);
	if (r) {
		AG_CHECK_STR(PQgetvalue(r, 0, 0), "5");
		AG_CHECK_STR(PQgetvalue(r, 0, 1), "610062ff63");
		AG_CHECK_STR(PQgetvalue(r, 0, 2), "text-param");
		PQclear(r);
	}
	AG_CHECK_INT(ag_db_exec(c, "SELECT 1", 0, NULL, NULL, &e), AG_OK); /* out == NULL discards */
out:
	ag_db_release(p, c);
	ag_db_pool_free(p);
}

static void transactions_commit_and_roll_back(void)
{
	ag_db_pool *p = NULL;
	PGconn *c = NULL;
	ag_err e;
	AG_CHECK_INT(ag_db_pool_new(&p, scratch_info, 1, &e), AG_OK);
	AG_CHECK_INT(ag_db_acquire(p, &c, 5000, &e), AG_OK);
	if (!c)
		goto out;
	AG_CHECK_INT(ag_db_exec(c, "CREATE TABLE tx (v int PRIMARY KEY)", 0, NULL, NULL, &e), AG_OK);
	AG_CHECK_INT(ag_db_begin(c, &e), AG_OK);
	AG_CHECK_INT(ag_db_exec(c, "INSERT INTO tx VALUES (1)", 0, NULL, NULL, &e), AG_OK);
	AG_CHECK_INT(ag_db_commit(c, &e), AG_OK);
	AG_CHECK_INT(ag_db_begin(c, &e), AG_OK);
	AG_CHECK_INT(ag_db_exec(c, "INSERT INTO tx VALUES (2)", 0, NULL, NULL, &e), AG_OK);
	ag_db_rollback(c);
	AG_CHECK_INT(PQtransactionStatus(c), PQTRANS_IDLE);
	/* a failed statement dooms the transaction: COMMIT must not report success */
	AG_CHECK_INT(ag_db_begin(c, &e), AG_OK);
	AG_CHECK_INT(ag_db_exec(c, "INSERT INTO tx VALUES (3)", 0, NULL, NULL, &e), AG_OK);
	AG_CHECK_INT(ag_db_exec(c, "INSERT INTO tx VALUES (1)", 0, NULL, NULL, &e), AG_E_EXISTS);
	AG_CHECK(ag_db_commit(c, &e) != AG_OK);
	AG_CHECK(strstr(e.msg, "rolled back") != NULL);
	AG_CHECK_INT(query_ll(c, "SELECT count(*) FROM tx"), 1);
	ag_db_rollback(c); /* idle: a no-op */
out:
	ag_db_release(p, c);
	ag_db_pool_free(p);
}

static void release_rolls_back_open_transaction(void)
{
	ag_db_pool *p = NULL;
	PGconn *c = NULL;
	ag_err e;
	AG_CHECK_INT(ag_db_pool_new(&p, scratch_info, 1, &e), AG_OK);
	AG_CHECK_INT(ag_db_acquire(p, &c, 5000, &e), AG_OK);
	if (!c)
		goto out;
	AG_CHECK_INT(ag_db_exec(c, "CREATE TABLE left_open (v int)", 0, NULL, NULL, &e), AG_OK);
	long long pid = query_ll(c, "SELECT pg_backend_pid()");
	AG_CHECK_INT(ag_db_begin(c, &e), AG_OK);
	AG_CHECK_INT(ag_db_exec(c, "INSERT INTO left_open VALUES (1)", 0, NULL, NULL, &e), AG_OK);
	ag_db_release(p, c); /* forgot to commit */
	c = NULL;
	AG_CHECK_INT(ag_db_acquire(p, &c, 5000, &e), AG_OK);
	if (!c)
		goto out;
	AG_CHECK_INT(PQtransactionStatus(c), PQTRANS_IDLE);
	AG_CHECK_INT(query_ll(c, "SELECT pg_backend_pid()"), pid); /* same session, kept */
	AG_CHECK_INT(query_ll(c, "SELECT count(*) FROM left_open"), 0);
	/* a transaction in the failed state too */
	AG_CHECK_INT(ag_db_begin(c, &e), AG_OK);
	AG_CHECK_INT(ag_db_exec(c, "SELECT 1/0", 0, NULL, NULL, &e), AG_E_INVAL);
	AG_CHECK_INT(PQtransactionStatus(c), PQTRANS_INERROR);
	ag_db_release(p, c);
	c = NULL;
	AG_CHECK_INT(ag_db_acquire(p, &c, 5000, &e), AG_OK);
	AG_CHECK_INT(query_ll(c, "SELECT 42"), 42);
out:
	ag_db_release(p, c);
	ag_db_pool_free(p);
}

/* --- failures and recovery ------------------------------------------------------------------------------------- */

static void broken_connection_is_replaced(void)
{
	ag_db_pool *p = NULL;
	PGconn *c = NULL;
	ag_err e;
	AG_CHECK_INT(ag_db_pool_new(&p, scratch_info, 1, &e), AG_OK);
	AG_CHECK_INT(ag_db_acquire(p, &c, 5000, &e), AG_OK);
	if (!c)
		goto out;
	long long pid = query_ll(c, "SELECT pg_backend_pid()");
	/* the session is killed while in use: the statement reports unavailable */
	AG_CHECK_INT(ag_db_exec(c, "SELECT pg_terminate_backend(pg_backend_pid())", 0, NULL, NULL, &e),
	             AG_E_UNAVAILABLE);
	ag_db_release(p, c);
	c = NULL;
	AG_CHECK_INT(ag_db_acquire(p, &c, 5000, &e), AG_OK);
	if (!c)
		goto out;
	long long pid2 = query_ll(c, "SELECT pg_backend_pid()");
	AG_CHECK(pid2 > 0 && pid2 != pid);
	ag_db_release(p, c);
	c = NULL;

	/* the session is killed while idle in the pool (what a server restart does): the next acquire still works */
	char sql[96];
	snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%lld)", pid2);
	AG_CHECK(admin_exec(scratch_info, sql));
	usleep(100 * 1000);
	AG_CHECK_INT(ag_db_acquire(p, &c, 5000, &e), AG_OK);
	if (!c)
		goto out;
	long long pid3 = query_ll(c, "SELECT pg_backend_pid()");
	AG_CHECK(pid3 > 0 && pid3 != pid2);
out:
	ag_db_release(p, c);
	ag_db_pool_free(p);
}

static void recovers_after_server_restart(void)
{
	ag_db_pool *p = NULL;
	PGconn *c[2] = {NULL, NULL};
	ag_err e;
	AG_CHECK_INT(ag_db_pool_new(&p, scratch_info, 2, &e), AG_OK);
	for (int i = 0; i < 2; i++)
		AG_CHECK_INT(ag_db_acquire(p, &c[i], 5000, &e), AG_OK);
	for (int i = 0; i < 2; i++) {
		ag_db_release(p, c[i]);
		c[i] = NULL;
	}
	AG_CHECK(ag_db_ping(p));
	AG_CHECK_INT(devstack("restart", ""), 0);
	/* both pooled sessions died with the old server; the next acquires work without a failed statement */
	for (int i = 0; i < 2; i++) {
		AG_CHECK_INT(ag_db_acquire(p, &c[i], 5000, &e), AG_OK);
		if (c[i])
			AG_CHECK_INT(query_ll(c[i], "SELECT 1"), 1);
	}
	for (int i = 0; i < 2; i++)
		ag_db_release(p, c[i]);
	AG_CHECK(ag_db_ping(p));
	ag_db_pool_free(p);
}

static void unreachable_server_is_unavailable_quickly(void)
{
	char info[TEST_CONNINFO_MAX];
	ag_db_pool *p = NULL;
	PGconn *c = NULL;
	ag_err e;
	snprintf(info, sizeof info, "host=127.0.0.1 port=%d dbname=aegis user=aegis", TEST_DEAD_PORT);
	AG_CHECK_INT(ag_db_pool_new(&p, info, 2, &e), AG_OK); /* lazy: no server needed yet */
	int64_t t0 = now_ms();
	AG_CHECK_INT(ag_db_acquire(p, &c, 5000, &e), AG_E_UNAVAILABLE);
	AG_CHECK(now_ms() - t0 < 2000);
	AG_CHECK(c == NULL);
	AG_CHECK(strstr(e.msg, "cannot connect") != NULL);
	AG_CHECK(strchr(e.msg, '\n') == NULL);
	t0 = now_ms();
	AG_CHECK(!ag_db_ping(p));
	AG_CHECK(now_ms() - t0 < 1000);
	/* a failed connect gives the slot back: both slots are still usable (not leaked as busy) */
	for (int i = 0; i < 3; i++)
		AG_CHECK_INT(ag_db_acquire(p, &c, 100, &e), AG_E_UNAVAILABLE);
	ag_db_pool_free(p);
}

static void silent_server_respects_deadlines(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(TEST_SILENT_PORT)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	bool listening = bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(fd, 16) == 0;
	AG_CHECK(listening);
	char info[TEST_CONNINFO_MAX];
	ag_db_pool *p = NULL;
	PGconn *c = NULL;
	ag_err e;
	snprintf(info, sizeof info, "host=127.0.0.1 port=%d dbname=aegis user=aegis connect_timeout=1",
	         TEST_SILENT_PORT);
	AG_CHECK_INT(ag_db_pool_new(&p, info, 1, &e), AG_OK);
	/* the caller's deadline bounds the connect */
	int64_t t0 = now_ms();
	AG_CHECK_INT(ag_db_acquire(p, &c, 300, &e), AG_E_UNAVAILABLE);
	int64_t took = now_ms() - t0;
	AG_CHECK(took >= 250 && took < 1500);
	/* and so does the conninfo's connect_timeout */
	t0 = now_ms();
	AG_CHECK_INT(ag_db_acquire(p, &c, 10000, &e), AG_E_UNAVAILABLE);
	took = now_ms() - t0;
	AG_CHECK(took >= 900 && took < 2500);
	/* readiness answers within about a second */
	t0 = now_ms();
	AG_CHECK(!ag_db_ping(p));
	AG_CHECK(now_ms() - t0 < 1500);
	ag_db_pool_free(p);
	close(fd);
}

static void ping_answers_on_a_live_server(void)
{
	ag_db_pool *p = NULL;
	ag_err e;
	AG_CHECK_INT(ag_db_pool_new(&p, scratch_info, 1, &e), AG_OK);
	AG_CHECK(ag_db_ping(p));
	AG_CHECK(ag_db_ping(p));
	PGconn *c = NULL;
	AG_CHECK_INT(ag_db_acquire(p, &c, 1000, &e), AG_OK);
	AG_CHECK_INT(PQtransactionStatus(c), PQTRANS_IDLE);
	AG_CHECK_INT(query_ll(c, "SELECT setting::int FROM pg_settings WHERE name = 'statement_timeout'"), 0);
	ag_db_release(p, c);
	AG_CHECK(!ag_db_ping(NULL));
	/* a pool whose connections are all busy is working, not broken */
	AG_CHECK_INT(ag_db_acquire(p, &c, 1000, &e), AG_OK);
	int64_t t0 = now_ms();
	AG_CHECK(ag_db_ping(p));
	AG_CHECK(now_ms() - t0 < 1500);
	ag_db_release(p, c);
	ag_db_pool_free(p);
}

/* --- migrations ------------------------------------------------------------------------------------------------ */

static long long count_rows(const char *info, const char *sql)
{
	ag_db_pool *p = NULL;
	PGconn *c = NULL;
	long long v = -1;
	if (ag_db_pool_new(&p, info, 1, NULL) == AG_OK && ag_db_acquire(p, &c, 5000, NULL) == AG_OK)
		v = query_ll(c, sql);
	ag_db_release(p, c);
	ag_db_pool_free(p);
	return v;
}

static void migrations_apply_once(void)
{
	char db[80], info[TEST_CONNINFO_MAX];
	snprintf(db, sizeof db, "%s_mig", scratch_db);
	if (!create_db(db)) {
		AG_CHECK(!"cannot create the migration database");
		return;
	}
	conninfo_for_db(info, sizeof info, base_url, db);
	ag_db_pool *p = NULL;
	ag_err e;
	AG_CHECK_INT(ag_db_pool_new(&p, info, 2, &e), AG_OK);
	AG_CHECK_INT(ag_db_migrate(p, &e), AG_OK);
	AG_CHECK_INT(count_rows(info, "SELECT count(*) FROM schema_migrations"), (long long)ag_migrations_count);
	AG_CHECK_INT(count_rows(info, "SELECT count(*) FROM information_schema.tables WHERE table_name IN "
	                              "('users', 'documents', 'jobs', 'job_steps', 'dead_letters')"),
	             5);
	AG_CHECK_INT(
	        count_rows(info, "SELECT count(*) FROM schema_migrations WHERE version = 1 AND name = '0001_init'"), 1);
	long long stamp = count_rows(info, "SELECT (extract(epoch FROM max(applied_at)) * 1000000)::bigint "
	                                   "FROM schema_migrations");
	/* a second run changes nothing */
	AG_CHECK_INT(ag_db_migrate(p, &e), AG_OK);
	AG_CHECK_INT(count_rows(info, "SELECT count(*) FROM schema_migrations"), (long long)ag_migrations_count);
	AG_CHECK_INT(count_rows(info, "SELECT (extract(epoch FROM max(applied_at)) * 1000000)::bigint "
	                              "FROM schema_migrations"),
	             stamp);
	/* the lock is not left behind */
	AG_CHECK_INT(count_rows(info, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = "
	                              "(SELECT oid FROM pg_database WHERE datname = current_database())"),
	             0);
	ag_db_pool_free(p);
	drop_db(db);
}

struct migrate_run {
	const char *info;
	ag_status st;
	char msg[AG_ERR_MSG_MAX];
};

static void *migrate_thread(void *arg)
{
	struct migrate_run *m = arg;
	ag_db_pool *p = NULL;
	ag_err e;
	ag_err_clear(&e);
	m->st = ag_db_pool_new(&p, m->info, 1, &e);
	if (m->st == AG_OK)
		m->st = ag_db_migrate(p, &e);
	memcpy(m->msg, e.msg, sizeof m->msg);
	ag_db_pool_free(p);
	return NULL;
}

static void concurrent_migrations_are_serialised(void)
{
	char db[80], info[TEST_CONNINFO_MAX];
	snprintf(db, sizeof db, "%s_cmig", scratch_db);
	if (!create_db(db)) {
		AG_CHECK(!"cannot create the migration database");
		return;
	}
	conninfo_for_db(info, sizeof info, base_url, db);
	enum { RUNS = 4 };
	struct migrate_run runs[RUNS];
	pthread_t th[RUNS];
	for (int i = 0; i < RUNS; i++) {
		runs[i] = (struct migrate_run){.info = info};
		pthread_create(&th[i], NULL, migrate_thread, &runs[i]);
	}
	for (int i = 0; i < RUNS; i++) {
		pthread_join(th[i], NULL);
		if (runs[i].st != AG_OK)
			fprintf(stderr, "  run %d: %s\n", i, runs[i].msg);
		AG_CHECK_INT(runs[i].st, AG_OK);
	}
	AG_CHECK_INT(count_rows(info, "SELECT count(*) FROM schema_migrations"), (long long)ag_migrations_count);
	AG_CHECK_INT(count_rows(info, "SELECT count(*) FROM pg_tables WHERE tablename = 'users'"), 1);
	drop_db(db);
}

static void migrate_reports_unavailable(void)
{
	char info[TEST_CONNINFO_MAX];
	ag_db_pool *p = NULL;
	ag_err e;
	snprintf(info, sizeof info, "host=127.0.0.1 port=%d dbname=aegis user=aegis", TEST_DEAD_PORT);
	AG_CHECK_INT(ag_db_pool_new(&p, info, 1, &e), AG_OK);
	AG_CHECK_INT(ag_db_migrate(p, &e), AG_E_UNAVAILABLE);
	ag_db_pool_free(p);
}

/* --- setup ----------------------------------------------------------------------------------------------------- */

static bool setup(void)
{
	const char *url = getenv("AEGIS_TEST_DATABASE_URL");
	if (url && url[0]) {
		snprintf(base_url, sizeof base_url, "%s", url);
	} else {
		if (access("scripts/devstack", X_OK) != 0) {
			printf("not ok - db: scripts/devstack not found (run from the repository root) and "
			       "AEGIS_TEST_DATABASE_URL is not set\n");
			return false;
		}
		snprintf(stack_dir, sizeof stack_dir, "/tmp/aegis-dbtest-XXXXXX");
		if (!mkdtemp(stack_dir) || chmod(stack_dir, 0755) != 0) {
			printf("not ok - db: cannot make a temporary directory\n");
			stack_dir[0] = '\0';
			return false;
		}
		if (devstack("start", "") != 0) {
			printf("not ok - db: could not start PostgreSQL on port %d with scripts/devstack (see above)\n",
			       TEST_PG_PORT);
			return false;
		}
		snprintf(base_url, sizeof base_url, "postgresql://aegis@127.0.0.1:%d/aegis", TEST_PG_PORT);
	}
	snprintf(scratch_db, sizeof scratch_db, "aegis_dbtest_%ld", (long)getpid());
	if (!create_db(scratch_db)) {
		printf("not ok - db: cannot create database %s on the test server\n", scratch_db);
		scratch_db[0] = '\0';
		return false;
	}
	conninfo_for_db(scratch_info, sizeof scratch_info, base_url, scratch_db);
	return true;
}

static void teardown(void)
{
	if (scratch_db[0])
		drop_db(scratch_db);
	if (stack_dir[0]) {
		devstack("stop", "--wipe");
		rmdir(stack_dir);
	}
}

int main(void)
{
	ag_log_init("db-test", AG_LOG_INFO);
	if (!setup()) {
		teardown();
		ag_test_failed++;
		return ag_test_summary();
	}
	AG_TEST_RUN(pool_new_rejects_bad_arguments);
	AG_TEST_RUN(pool_serves_more_threads_than_connections);
	AG_TEST_RUN(acquire_times_out_when_all_busy);
	AG_TEST_RUN(exec_maps_sqlstates);
	AG_TEST_RUN(exec_returns_rows_and_nulls);
	AG_TEST_RUN(transactions_commit_and_roll_back);
	AG_TEST_RUN(release_rolls_back_open_transaction);
	AG_TEST_RUN(ping_answers_on_a_live_server);
	AG_TEST_RUN(broken_connection_is_replaced);
	AG_TEST_RUN(unreachable_server_is_unavailable_quickly);
	AG_TEST_RUN(silent_server_respects_deadlines);
	AG_TEST_RUN(migrations_apply_once);
	AG_TEST_RUN(concurrent_migrations_are_serialised);
	AG_TEST_RUN(migrate_reports_unavailable);
	if (stack_dir[0])
		AG_TEST_RUN(recovers_after_server_restart); /* only on a server this program owns */
	else
		printf("# skipped recovers_after_server_restart: the AEGIS_TEST_DATABASE_URL server is not ours to "
		       "restart (broken_connection_is_replaced covers killed sessions)\n");
	teardown();
	return ag_test_summary();
}
