/*
 * db.h - PostgreSQL through libpq: a fixed-size connection pool, statement
 * helpers that map SQLSTATEs onto ag_status, transactions, and migrations.
 *
 * All calls block; on the event loop use them from ag_http_req_defer work or
 * from bus worker threads, never from a loop callback.
 *
 * Ownership: a PGconn from ag_db_acquire belongs to the caller until
 * ag_db_release; PGresult from ag_db_exec is the caller's, freed with PQclear.
 */
#ifndef AEGIS_DB_H
#define AEGIS_DB_H

#include "aegis/status.h"

#include <libpq-fe.h>
#include <stdbool.h>

typedef struct ag_db_pool ag_db_pool;

/* Connects lazily; a pool can be made while PostgreSQL is still down. */
ag_status ag_db_pool_new(ag_db_pool **out, const char *conninfo, int size, ag_err *err);
void ag_db_pool_free(ag_db_pool *p); /* all connections must be released; NULL ok */

/* Wait up to timeout_ms for a connection; reconnects a broken one. AG_E_UNAVAILABLE when the server cannot be
 * reached, AG_E_TIMEOUT when all connections stay busy. */
ag_status ag_db_acquire(ag_db_pool *p, PGconn **out, int timeout_ms, ag_err *err);
/* Give it back; a connection left inside a transaction is rolled back, a broken one is reset later. */
void ag_db_release(ag_db_pool *p, PGconn *c);
/* Readiness: a pooled connection answers `SELECT 1` within ~1 s. */
bool ag_db_ping(ag_db_pool *p);

/*
 * Run `sql` with text parameters ($1..$n; NULL entries are SQL NULL).
 * `out` may be NULL (result discarded). Status mapping: connection failure ->
 * AG_E_UNAVAILABLE; 23505 unique -> AG_E_EXISTS; 23503 fk, 23514 check,
 * 22xxx data -> AG_E_INVAL; 40001/40P01 -> AG_E_RETRY; 57014 -> AG_E_TIMEOUT;
 * anything else -> AG_E_INTERNAL. The SQLSTATE and server message go in err.
 */
ag_status ag_db_exec(PGconn *c, const char *sql, int nparams, const char *const *params, PGresult **out, ag_err *err);
/* Same, with binary-safe parameters: lengths[i] bytes each; formats[i] 1 = binary, 0 = text. */
ag_status ag_db_execb(PGconn *c, const char *sql, int nparams, const char *const *params, const int *lengths,
                      const int *formats, PGresult **out, ag_err *err);

ag_status ag_db_begin(PGconn *c, ag_err *err);
ag_status ag_db_commit(PGconn *c, ag_err *err);
void ag_db_rollback(PGconn *c); /* best effort */

/* Apply the migrations compiled into the binary (migrations/NNNN_name.sql), in order, each in its own
 * transaction, all under one advisory lock; already applied versions are skipped. */
ag_status ag_db_migrate(ag_db_pool *p, ag_err *err);

#endif
