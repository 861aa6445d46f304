/*
 * db_migrate.c - ag_db_migrate: applies the SQL migrations the build embedded
 * (scripts/embed-migrations.sh -> $(BUILD)/gen/migrations.c) in version order.
 *
 * Every process may call it at start: a session-level advisory lock on one
 * connection serialises them, so the first one applies what is missing and
 * the others find nothing to do. Each migration runs in its own transaction
 * together with its schema_migrations row, so a crash leaves either all of a
 * migration or none of it.
 */
#include "aegis/db.h"

#include "aegis/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Emitted by scripts/embed-migrations.sh, sorted by file name (NNNN_name.sql). */
extern const struct ag_migration {
	int version;
	const char *name;
	const char *sql;
} ag_migrations[];
extern const size_t ag_migrations_count;

/* pg_advisory_lock key of the migrator: "AegisMig" in ASCII, shared by every Aegis process. */
#define DB_MIGRATE_LOCK_KEY    "4712286287716772199"
#define DB_MIGRATE_ACQUIRE_MS  30000 /* wait for a pooled connection */
#define DB_MIGRATE_MAX_VERSION 1000000

static ag_status migrate_check_order(ag_err *err)
{
	for (size_t i = 0; i < ag_migrations_count; i++) {
		int v = ag_migrations[i].version;
		if (v < 1 || v > DB_MIGRATE_MAX_VERSION || (i > 0 && v <= ag_migrations[i - 1].version))
			return ag_err_set(err, AG_E_INTERNAL, "migration %s: versions must be unique and increasing",
			                  ag_migrations[i].name);
	}
	return AG_OK;
}

/* Apply one migration and record it, in one transaction. The file may hold many statements, hence PQexec. */
static ag_status migrate_apply(PGconn *c, const struct ag_migration *m, ag_err *err)
{
	ag_status st = ag_db_begin(c, err);
	if (st != AG_OK)
		return st;
	PGresult *r = PQexec(c, m->sql);
	ExecStatusType rs = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
	if (rs != PGRES_COMMAND_OK && rs != PGRES_TUPLES_OK && rs != PGRES_EMPTY_QUERY) {
		const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
		const char *primary = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
		st = ag_err_set(err, PQstatus(c) == CONNECTION_BAD ? AG_E_UNAVAILABLE : AG_E_INTERNAL,
		                "migration %s failed: SQLSTATE %s: %s", m->name, state ? state : "none",
		                primary ? primary : "connection lost");
		PQclear(r);
		ag_db_rollback(c);
		return st;
	}
	PQclear(r);
	char version[16];
	snprintf(version, sizeof version, "%d", m->version);
	const char *params[] = {version, m->name};
	st = ag_db_exec(c, "INSERT INTO schema_migrations (version, name) VALUES ($1::int, $2)", 2, params, NULL, err);
	if (st == AG_OK)
		st = ag_db_commit(c, err);
	if (st != AG_OK) {
		ag_db_rollback(c);
		return st;
	}
	ag_log_info("applied migration %s (version %d)", m->name, m->version);
	return AG_OK;
}

/* Versions already applied, as a sorted array read from schema_migrations. */
static ag_status migrate_applied(PGconn *c, int **versions, int *n, ag_err *err)
{
	PGresult *r = NULL;
	*versions = NULL;
	*n = 0;
	ag_status st = ag_db_exec(c, "SELECT version FROM schema_migrations ORDER BY version", 0, NULL, &r, err);
	if (st != AG_OK)
		return st;
	int rows = PQntuples(r);
	int *v = calloc(rows > 0 ? (size_t)rows : 1, sizeof *v);
	if (!v) {
		PQclear(r);
		return ag_err_set(err, AG_E_NOMEM, "migrate: out of memory");
	}
	for (int i = 0; i < rows; i++)
		v[i] = (int)strtol(PQgetvalue(r, i, 0), NULL, 10);
	PQclear(r);
	*versions = v;
	*n = rows;
	return AG_OK;
}

static bool migrate_has(const int *versions, int n, int version)
{
	for (int i = 0; i < n; i++) {
		if (versions[i] == version)
			return true;
	}
	return false;
}

ag_status ag_db_migrate(ag_db_pool *p, ag_err *err)
{
	PGconn *c = NULL;
	bool locked = false;
	int *applied = NULL, napplied = 0, count = 0;

	ag_status st = migrate_check_order(err);
	if (st != AG_OK)
		goto out;
	st = ag_db_acquire(p, &c, DB_MIGRATE_ACQUIRE_MS, err);
	if (st != AG_OK)
		goto out;
	/* blocks while another process migrates; released explicitly below or by the server when we disconnect */
	st = ag_db_exec(c, "SELECT pg_advisory_lock(" DB_MIGRATE_LOCK_KEY ")", 0, NULL, NULL, err);
	if (st != AG_OK)
		goto out;
	locked = true;
	st = ag_db_exec(c,
	                "CREATE TABLE IF NOT EXISTS schema_migrations ("
	                "version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
	                0, NULL, NULL, err);
	if (st != AG_OK)
		goto out;
	st = migrate_applied(c, &applied, &napplied, err);
	if (st != AG_OK)
		goto out;
	for (size_t i = 0; i < ag_migrations_count; i++) {
		if (migrate_has(applied, napplied, ag_migrations[i].version))
			continue;
		st = migrate_apply(c, &ag_migrations[i], err);
		if (st != AG_OK)
			goto out;
		count++;
	}
	int newest = ag_migrations_count ? ag_migrations[ag_migrations_count - 1].version : 0;
	if (napplied > 0 && applied[napplied - 1] > newest)
		ag_log_warn("database schema is at version %d, newer than this binary knows (%d)",
		            applied[napplied - 1], newest);
	if (count == 0)
		ag_log_debug("database schema up to date (version %d)", newest);
out:
	if (locked) {
		ag_db_rollback(c);
		ag_err unlock_err;
		if (ag_db_exec(c, "SELECT pg_advisory_unlock(" DB_MIGRATE_LOCK_KEY ")", 0, NULL, NULL, &unlock_err) !=
		    AG_OK)
			ag_log_warn("migrate: unlock failed (the server drops it with the session): %s",
			            unlock_err.msg);
	}
	if (c)
		ag_db_release(p, c);
	free(applied);
	return st;
}
