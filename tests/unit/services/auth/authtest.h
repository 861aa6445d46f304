/*
 * authtest.h - helpers shared by the auth service tests: each test program
 * gets a database of its own on the server AEGIS_TEST_DATABASE_URL names
 * (created, migrated, dropped at the end), so tests never see each other's
 * users or signing keys.
 */
#ifndef AUTH_TEST_H
#define AUTH_TEST_H

#include "aegis/db.h"
#include "test.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define AUTHTEST_URL_MAX 1024

static char authtest_base[AUTHTEST_URL_MAX];
static char authtest_url[AUTHTEST_URL_MAX];
static char authtest_dbname[64];

/* Run one statement on the server's maintenance connection; false (and a message) on failure. */
static inline bool authtest_admin(const char *sql)
{
	PGconn *c = PQconnectdb(authtest_base);
	bool ok = PQstatus(c) == CONNECTION_OK;
	if (ok) {
		PGresult *r = PQexec(c, sql);
		ok = PQresultStatus(r) == PGRES_COMMAND_OK;
		if (!ok)
			fprintf(stderr, "  %s: %s", sql, PQresultErrorMessage(r));
		PQclear(r);
	} else {
		fprintf(stderr, "  cannot connect to AEGIS_TEST_DATABASE_URL: %s", PQerrorMessage(c));
	}
	PQfinish(c);
	return ok;
}

/* The URL with its database name replaced (URI form) or overridden (key=value form). */
static inline bool authtest_url_for(const char *base, const char *db, char *out, size_t cap)
{
	const char *scheme = strstr(base, "://");
	int n;
	if (strncmp(base, "postgres", 8) == 0 && scheme) {
		const char *path = strchr(scheme + 3, '/');
		const char *query = strchr(scheme + 3, '?');
		if (!path || (query && query < path))
			path = query ? query : base + strlen(base);
		n = snprintf(out, cap, "%.*s/%s%s", (int)(path - base), base, db, query ? query : "");
	} else {
		n = snprintf(out, cap, "%s dbname=%s", base, db);
	}
	return n > 0 && (size_t)n < cap;
}

/* Create and migrate a private database; returns its URL, or NULL when the test cannot run. */
static inline const char *authtest_db_create(const char *tag)
{
	const char *base = getenv("AEGIS_TEST_DATABASE_URL");
	if (!base || !*base) {
		fprintf(stderr, "  AEGIS_TEST_DATABASE_URL is not set: database tests cannot run\n");
		return NULL;
	}
	snprintf(authtest_base, sizeof authtest_base, "%s", base);
	snprintf(authtest_dbname, sizeof authtest_dbname, "aegis_t_%s_%d", tag, (int)getpid());
	char sql[160];
	snprintf(sql, sizeof sql, "CREATE DATABASE %s", authtest_dbname);
	if (!authtest_url_for(base, authtest_dbname, authtest_url, sizeof authtest_url) || !authtest_admin(sql))
		return NULL;
	ag_db_pool *p = NULL;
	ag_err e;
	ag_err_clear(&e);
	bool ok = ag_db_pool_new(&p, authtest_url, 1, &e) == AG_OK && ag_db_migrate(p, &e) == AG_OK;
	if (!ok)
		fprintf(stderr, "  migrating %s: %s\n", authtest_dbname, e.msg);
	ag_db_pool_free(p);
	return ok ? authtest_url : NULL;
}

static inline void authtest_db_drop(void)
{
	if (!authtest_dbname[0])
		return;
	char sql[160];
	snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", authtest_dbname);
	authtest_admin(sql);
	authtest_dbname[0] = '\0';
}

/* One-row, one-column query on a fresh connection; "" when there is no row. */
static inline void authtest_query1(const char *sql, char *out, size_t cap)
{
	out[0] = '\0';
	PGconn *c = PQconnectdb(authtest_url);
	PGresult *r = PQexec(c, sql);
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0)
		snprintf(out, cap, "%s", PQgetvalue(r, 0, 0));
	else if (PQresultStatus(r) != PGRES_TUPLES_OK)
		fprintf(stderr, "  %s: %s", sql, PQresultErrorMessage(r));
	PQclear(r);
	PQfinish(c);
}

static inline bool authtest_exec(const char *sql)
{
	PGconn *c = PQconnectdb(authtest_url);
	PGresult *r = PQexec(c, sql);
	bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	if (!ok)
		fprintf(stderr, "  %s: %s", sql, PQresultErrorMessage(r));
	PQclear(r);
	PQfinish(c);
	return ok;
}

/* Fails the current test with a clear reason when the database is missing. */
static inline void needs_a_database(void)
{
	AG_CHECK(!"AEGIS_TEST_DATABASE_URL is set and reachable");
}

#endif
