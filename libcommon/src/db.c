/*
 * db.c - the PostgreSQL side of db.h: a fixed pool of libpq connections
 * guarded by a mutex and a condition variable, statement helpers that turn
 * SQLSTATEs into ag_status, and transactions. Migrations live in db_migrate.c.
 *
 * Connections are made lazily and without blocking past the caller's
 * deadline (PQconnectStartParams + poll), so a pool can exist while the
 * server is down and ag_db_acquire(…, 1000, …) really returns within about a
 * second. A pooled connection is checked cheaply before it is handed out: a
 * server that restarted has closed the socket, which shows as readable while
 * the connection is idle, and such a connection is replaced.
 */
#include "aegis/db.h"

#include "aegis/cfg.h"
#include "aegis/limits.h"
#include "aegis/log.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DB_CONNECT_TIMEOUT_DEFAULT_S 5    /* libpq connect_timeout when the conninfo has none */
#define DB_PING_TIMEOUT_MS           1000 /* readiness: connect + SELECT 1 */
#define DB_PING_BUSY_GRACE_MS        5000 /* all connections busy counts as ready if one worked this recently */
#define DB_MSG_MAX                   200  /* server or libpq text kept in an ag_err */
#define DB_IDLE_READS_MAX            8    /* reads of unsolicited input when checking an idle connection */

struct db_slot {
	PGconn *conn; /* NULL until first use or after a broken connection was closed */
	bool busy;    /* handed out by ag_db_acquire */
	bool fatal;   /* the server sent FATAL while the session was idle: it is going away */
};

struct ag_db_pool {
	pthread_mutex_t mu;
	pthread_cond_t cv; /* signalled when a slot becomes free; CLOCK_MONOTONIC */
	char *conninfo;
	int connect_timeout_ms; /* 0 = bounded by the caller's deadline only */
	int64_t last_ok_ms;     /* when a connection was last handed out or given back healthy; under mu */
	int size;
	struct db_slot slots[];
};

static int64_t db_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int db_remaining_ms(int64_t deadline)
{
	int64_t left = deadline - db_now_ms();
	if (left < 0)
		return 0;
	return left > INT32_MAX ? INT32_MAX : (int)left;
}

/* Copy libpq's (possibly multi-line) text into one line: newlines and tabs become spaces, trailing ones dropped. */
static void db_flatten(char *dst, size_t cap, const char *src)
{
	size_t n = 0;
	bool space = false;
	for (; src && *src && n + 1 < cap; src++) {
		char ch = *src;
		if (ch == '\n' || ch == '\r' || ch == '\t' || ch == ' ') {
			space = n > 0;
			continue;
		}
		if (space && n + 2 < cap)
			dst[n++] = ' ';
		space = false;
		dst[n++] = ch;
	}
	dst[n] = '\0';
}

/*
 * Class 22 (data exception) messages quote the offending input ("invalid input syntax for type uuid: \"…\""),
 * which may be a parameter and so a secret: quoted text becomes "?".
 */
static void db_redact_quoted(char *dst, size_t cap, const char *src)
{
	size_t n = 0;
	bool in_quote = false;
	for (; *src && n + 3 < cap; src++) {
		if (*src == '"') {
			dst[n++] = '"';
			if (!in_quote)
				dst[n++] = '?';
			in_quote = !in_quote;
		} else if (!in_quote) {
			dst[n++] = *src;
		}
	}
	if (in_quote)
		dst[n++] = '"';
	dst[n] = '\0';
}

/* SQLSTATE -> status, as promised in db.h. Connection-level codes count as unavailable. */
static ag_status db_sqlstate_status(const char *state)
{
	if (!state || strlen(state) != 5)
		return AG_E_INTERNAL;
	if (strcmp(state, "23505") == 0)
		return AG_E_EXISTS;
	if (strncmp(state, "23", 2) == 0 || strncmp(state, "22", 2) == 0)
		return AG_E_INVAL; /* 23503 fk, 23514 check, 23502 not null, 22xxx data */
	if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0)
		return AG_E_RETRY;
	if (strcmp(state, "57014") == 0)
		return AG_E_TIMEOUT;
	if (strncmp(state, "08", 2) == 0 || strcmp(state, "57P01") == 0 || strcmp(state, "57P02") == 0 ||
	    strcmp(state, "57P03") == 0)
		return AG_E_UNAVAILABLE; /* connection exception, admin/crash shutdown, cannot connect now */
	return AG_E_INTERNAL;
}

/*
 * Turn a result into a status. The error text names the SQLSTATE and the server's primary message only: the
 * DETAIL line and libpq's full message repeat key values, which may be secrets.
 */
static ag_status db_check_result(PGconn *c, PGresult *r, PGresult **out, ag_err *err)
{
	ag_status st = AG_OK;
	char msg[DB_MSG_MAX];

	if (!r) {
		db_flatten(msg, sizeof msg, PQerrorMessage(c));
		st = PQstatus(c) == CONNECTION_BAD ? AG_E_UNAVAILABLE : AG_E_NOMEM;
		ag_err_set(err, st, "postgres: %s", msg[0] ? msg : "no result");
		goto out;
	}
	switch (PQresultStatus(r)) {
	case PGRES_COMMAND_OK:
	case PGRES_TUPLES_OK:
	case PGRES_EMPTY_QUERY:
		goto out;
	case PGRES_COPY_IN:
	case PGRES_COPY_OUT:
	case PGRES_COPY_BOTH:
		st = ag_err_set(err, AG_E_INVAL, "postgres: COPY is not supported by ag_db_exec");
		goto out;
	default:
		break;
	}
	const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	const char *primary = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
	if (PQstatus(c) == CONNECTION_BAD) {
		st = AG_E_UNAVAILABLE;
		db_flatten(msg, sizeof msg, primary ? primary : PQerrorMessage(c));
	} else if (state) {
		st = db_sqlstate_status(state);
		db_flatten(msg, sizeof msg, primary);
		if (strncmp(state, "22", 2) == 0) {
			char plain[DB_MSG_MAX];
			memcpy(plain, msg, sizeof plain);
			db_redact_quoted(msg, sizeof msg, plain);
		}
	} else {
		/* client-side failure (libpq generated the result): its text holds no server data */
		st = AG_E_INTERNAL;
		db_flatten(msg, sizeof msg, PQresultErrorMessage(r));
	}
	ag_err_set(err, st, "postgres: SQLSTATE %s: %s", state ? state : "none", msg[0] ? msg : "error");
out:
	if (st == AG_OK && out) {
		*out = r;
	} else {
		PQclear(r);
	}
	return st;
}

/*
 * Server notices go to the log, not to stderr. A FATAL arrives here when the server ends an idle session
 * (shutdown, restart, pg_terminate_backend); `arg` is the slot's flag that marks the connection as doomed.
 */
static void db_notice(void *arg, const PGresult *r)
{
	const char *sev = PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);
	const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	const char *primary = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
	char msg[DB_MSG_MAX];
	db_flatten(msg, sizeof msg, primary);
	bool dying = sev && (strcmp(sev, "FATAL") == 0 || strcmp(sev, "PANIC") == 0);
	bool loud = dying || (sev && (strcmp(sev, "WARNING") == 0 || strcmp(sev, "ERROR") == 0));
	if (dying && arg)
		*(bool *)arg = true;
	if (loud)
		ag_log_warn("postgres %s (SQLSTATE %s): %s", sev, state ? state : "none", msg);
	else
		ag_log_debug("postgres %s (SQLSTATE %s): %s", sev ? sev : "NOTICE", state ? state : "none", msg);
}

/*
 * Connect without blocking past `deadline` (nor past connect_timeout). connect_timeout and client_encoding come
 * before the expanded conninfo, so values the conninfo sets itself win. The host name lookup inside
 * PQconnectStartParams is the one step that can still block.
 */
static ag_status db_connect(ag_db_pool *p, struct db_slot *slot, int64_t deadline, PGconn **out, ag_err *err)
{
	char timeout_s[16];
	snprintf(timeout_s, sizeof timeout_s, "%d", DB_CONNECT_TIMEOUT_DEFAULT_S);
	const char *const keys[] = {"connect_timeout", "client_encoding", "dbname", NULL};
	const char *const vals[] = {timeout_s, "UTF8", p->conninfo, NULL};
	ag_status st = AG_E_UNAVAILABLE;
	char msg[DB_MSG_MAX];

	*out = NULL;
	if (p->connect_timeout_ms > 0) {
		int64_t cap = db_now_ms() + p->connect_timeout_ms;
		if (cap < deadline)
			deadline = cap;
	}
	PGconn *c = PQconnectStartParams(keys, vals, 1);
	if (!c) {
		st = ag_err_set(err, AG_E_NOMEM, "postgres: out of memory starting a connection");
		goto out;
	}
	PostgresPollingStatusType ps = PQstatus(c) == CONNECTION_BAD ? PGRES_POLLING_FAILED : PGRES_POLLING_WRITING;
	while (ps != PGRES_POLLING_OK) {
		if (ps == PGRES_POLLING_FAILED) {
			db_flatten(msg, sizeof msg, PQerrorMessage(c));
			ag_err_set(err, AG_E_UNAVAILABLE, "postgres: cannot connect: %s", msg);
			goto out;
		}
		int left = db_remaining_ms(deadline);
		if (left == 0) {
			ag_err_set(err, AG_E_UNAVAILABLE, "postgres: cannot connect: no answer within the timeout");
			goto out;
		}
		/* the socket can change between calls (several hosts, SSL fallback) */
		struct pollfd pfd = {.fd = PQsocket(c), .events = ps == PGRES_POLLING_READING ? POLLIN : POLLOUT};
		int n = poll(&pfd, 1, left);
		if (n < 0 && errno != EINTR) {
			ag_err_set(err, AG_E_UNAVAILABLE, "postgres: cannot connect: poll: %s", strerror(errno));
			goto out;
		}
		if (n > 0)
			ps = PQconnectPoll(c);
	}
	slot->fatal = false;
	PQsetNoticeReceiver(c, db_notice, &slot->fatal);
	*out = c;
	c = NULL;
	st = AG_OK;
out:
	PQfinish(c);
	return st;
}

/*
 * Whether an idle pooled connection can be handed out. Readable data on an idle connection is a notice or, usually,
 * the FATAL + EOF of a server that ended the session; consuming it sets the slot's fatal flag or PQstatus.
 */
static bool db_conn_usable(PGconn *c, const struct db_slot *slot)
{
	if (PQstatus(c) != CONNECTION_OK || PQtransactionStatus(c) != PQTRANS_IDLE)
		return false;
	for (int i = 0; i < DB_IDLE_READS_MAX && !slot->fatal; i++) {
		struct pollfd pfd = {.fd = PQsocket(c), .events = POLLIN};
		if (poll(&pfd, 1, 0) <= 0)
			break;
		if (!PQconsumeInput(c))
			return false;
		PGnotify *n;
		while ((n = PQnotifies(c)))
			PQfreemem(n);
	}
	return PQstatus(c) == CONNECTION_OK && !slot->fatal;
}

ag_status ag_db_pool_new(ag_db_pool **out, const char *conninfo, int size, ag_err *err)
{
	ag_status st = AG_E_NOMEM;
	ag_db_pool *p = NULL;
	PQconninfoOption *opts = NULL;
	char *parse_err = NULL;

	if (out)
		*out = NULL;
	if (!out || !conninfo || size < 1 || size > AG_DB_MAX_POOL) {
		st = ag_err_set(err, AG_E_INVAL, "db pool: need a conninfo and a size between 1 and %d",
		                AG_DB_MAX_POOL);
		goto out;
	}
	/* libpq's parse error can quote the whole string, password included, so it is not repeated */
	opts = PQconninfoParse(conninfo, &parse_err);
	if (!opts) {
		st = ag_err_set(err, parse_err ? AG_E_INVAL : AG_E_NOMEM,
		                "DATABASE_URL is not a valid PostgreSQL connection string "
		                "(postgresql://user@host:port/db or key=value pairs)");
		goto out;
	}
	p = calloc(1, sizeof *p + (size_t)size * sizeof p->slots[0]);
	if (!p)
		goto out;
	p->size = size;
	p->connect_timeout_ms = DB_CONNECT_TIMEOUT_DEFAULT_S * 1000;
	for (PQconninfoOption *o = opts; o->keyword; o++) {
		long long secs;
		if (strcmp(o->keyword, "connect_timeout") == 0 && o->val && o->val[0]) {
			if (!ag_cfg_parse_ll(o->val, 0, 3600, &secs)) {
				st = ag_err_set(err, AG_E_INVAL,
				                "DATABASE_URL: connect_timeout must be 0..3600 seconds");
				goto out;
			}
			p->connect_timeout_ms = (int)secs * 1000;
		}
	}
	p->conninfo = strdup(conninfo);
	if (!p->conninfo)
		goto out;
	pthread_condattr_t ca;
	if (pthread_condattr_init(&ca) != 0)
		goto out;
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	int rc = pthread_cond_init(&p->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (rc != 0)
		goto out;
	if (pthread_mutex_init(&p->mu, NULL) != 0) {
		pthread_cond_destroy(&p->cv);
		goto out;
	}
	*out = p;
	p = NULL;
	st = AG_OK;
out:
	if (st == AG_E_NOMEM)
		ag_err_set(err, st, "db pool: out of memory");
	if (p) {
		free(p->conninfo);
		free(p);
	}
	PQconninfoFree(opts);
	PQfreemem(parse_err);
	return st;
}

void ag_db_pool_free(ag_db_pool *p)
{
	if (!p)
		return;
	for (int i = 0; i < p->size; i++) {
		if (p->slots[i].busy)
			ag_log_error("db pool freed while connection %d is still acquired", i);
		PQfinish(p->slots[i].conn);
	}
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p->conninfo);
	free(p);
}

ag_status ag_db_acquire(ag_db_pool *p, PGconn **out, int timeout_ms, ag_err *err)
{
	if (out)
		*out = NULL;
	if (!p || !out)
		return ag_err_set(err, AG_E_INVAL, "db acquire: pool and out are required");
	int64_t deadline = db_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += (timeout_ms > 0 ? timeout_ms : 0) / 1000;
	until.tv_nsec += (long)((timeout_ms > 0 ? timeout_ms : 0) % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}

	int slot = -1;
	bool timed_out = false;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		/* prefer a free slot that already holds a connection */
		for (int i = 0; i < p->size; i++) {
			if (!p->slots[i].busy && (slot < 0 || (p->slots[i].conn && !p->slots[slot].conn)))
				slot = i;
		}
		if (slot >= 0 || timed_out)
			break;
		timed_out = pthread_cond_timedwait(&p->cv, &p->mu, &until) == ETIMEDOUT;
	}
	PGconn *c = NULL;
	if (slot >= 0) {
		p->slots[slot].busy = true;
		c = p->slots[slot].conn;
	}
	pthread_mutex_unlock(&p->mu);
	if (slot < 0)
		return ag_err_set(err, AG_E_TIMEOUT, "db acquire: all %d connections stayed busy for %d ms", p->size,
		                  timeout_ms);

	/* network work happens outside the lock: the slot is ours while busy */
	ag_status st = AG_OK;
	if (c && !db_conn_usable(c, &p->slots[slot])) {
		ag_log_info("postgres connection lost, reconnecting");
		PQfinish(c);
		c = NULL;
	}
	if (!c)
		st = db_connect(p, &p->slots[slot], deadline, &c, err);

	pthread_mutex_lock(&p->mu);
	p->slots[slot].conn = c;
	if (st == AG_OK) {
		p->last_ok_ms = db_now_ms();
	} else {
		p->slots[slot].busy = false;
		pthread_cond_signal(&p->cv);
	}
	pthread_mutex_unlock(&p->mu);
	if (st == AG_OK)
		*out = c;
	return st;
}

void ag_db_release(ag_db_pool *p, PGconn *c)
{
	if (!p || !c)
		return;
	int slot = -1;
	pthread_mutex_lock(&p->mu);
	for (int i = 0; i < p->size && slot < 0; i++) {
		if (p->slots[i].busy && p->slots[i].conn == c)
			slot = i;
	}
	pthread_mutex_unlock(&p->mu);
	if (slot < 0) {
		ag_log_error("db release: connection does not belong to this pool or was already released");
		return;
	}

	/* leave the connection as a new one would be: idle, outside any transaction */
	bool keep = PQstatus(c) == CONNECTION_OK;
	if (keep) {
		switch (PQtransactionStatus(c)) {
		case PQTRANS_IDLE:
			break;
		case PQTRANS_INTRANS:
		case PQTRANS_INERROR: {
			ag_log_warn("db release: connection returned inside a transaction; rolling back");
			PGresult *r = PQexec(c, "ROLLBACK");
			keep = r && PQresultStatus(r) == PGRES_COMMAND_OK;
			PQclear(r);
			break;
		}
		default: /* a query still running, or unknown: cheaper to reconnect than to drain */
			keep = false;
			break;
		}
	}
	if (!keep) {
		PQfinish(c);
		c = NULL;
	}
	pthread_mutex_lock(&p->mu);
	p->slots[slot].conn = c;
	p->slots[slot].busy = false;
	if (c)
		p->last_ok_ms = db_now_ms();
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

/* Send one query and wait for all its results, never past `deadline`; false on any error or timeout. */
static bool db_query_until(PGconn *c, const char *sql, int64_t deadline)
{
	bool ok = true;
	if (!PQsendQuery(c, sql))
		return false;
	for (;;) {
		while (PQisBusy(c)) {
			int left = db_remaining_ms(deadline);
			struct pollfd pfd = {.fd = PQsocket(c), .events = POLLIN};
			int n = left > 0 ? poll(&pfd, 1, left) : 0;
			if (n == 0)
				return false; /* the query is still active: release closes this connection */
			if (n < 0 && errno != EINTR)
				return false;
			if (n > 0 && !PQconsumeInput(c))
				return false;
		}
		PGresult *r = PQgetResult(c);
		if (!r)
			break;
		ExecStatusType rs = PQresultStatus(r);
		if (rs != PGRES_COMMAND_OK && rs != PGRES_TUPLES_OK)
			ok = false;
		PQclear(r);
	}
	return ok;
}

/*
 * Readiness. When every connection stays busy for the whole second the pool is working hard, not broken: that
 * counts as ready if a connection was handed out or returned healthy within DB_PING_BUSY_GRACE_MS.
 */
bool ag_db_ping(ag_db_pool *p)
{
	int64_t deadline = db_now_ms() + DB_PING_TIMEOUT_MS;
	PGconn *c = NULL;
	if (!p)
		return false;
	ag_status st = ag_db_acquire(p, &c, DB_PING_TIMEOUT_MS, NULL);
	if (st == AG_E_TIMEOUT) {
		pthread_mutex_lock(&p->mu);
		bool recent = p->last_ok_ms > 0 && db_now_ms() - p->last_ok_ms < DB_PING_BUSY_GRACE_MS;
		pthread_mutex_unlock(&p->mu);
		return recent;
	}
	if (st != AG_OK)
		return false;
	char sql[128];
	snprintf(sql, sizeof sql, "BEGIN; SET LOCAL statement_timeout = %d; SELECT 1; COMMIT", DB_PING_TIMEOUT_MS);
	bool ok = db_query_until(c, sql, deadline);
	ag_db_release(p, c);
	return ok;
}

ag_status ag_db_execb(PGconn *c, const char *sql, int nparams, const char *const *params, const int *lengths,
                      const int *formats, PGresult **out, ag_err *err)
{
	if (out)
		*out = NULL;
	if (!c || !sql)
		return ag_err_set(err, AG_E_INVAL, "db exec: connection and sql are required");
	if (nparams < 0 || nparams > AG_DB_MAX_PARAMS || (nparams > 0 && !params))
		return ag_err_set(err, AG_E_INVAL, "db exec: %d parameters (allowed: 0..%d, AG_DB_MAX_PARAMS)", nparams,
		                  AG_DB_MAX_PARAMS);
	PGresult *r = PQexecParams(c, sql, nparams, NULL, params, lengths, formats, 0);
	return db_check_result(c, r, out, err);
}

ag_status ag_db_exec(PGconn *c, const char *sql, int nparams, const char *const *params, PGresult **out, ag_err *err)
{
	return ag_db_execb(c, sql, nparams, params, NULL, NULL, out, err);
}

ag_status ag_db_begin(PGconn *c, ag_err *err)
{
	return ag_db_exec(c, "BEGIN", 0, NULL, NULL, err);
}

ag_status ag_db_commit(PGconn *c, ag_err *err)
{
	PGresult *r = NULL;
	ag_status st = ag_db_exec(c, "COMMIT", 0, NULL, &r, err);
	/* COMMIT of a transaction that already failed succeeds as a ROLLBACK: the caller's writes are gone */
	if (st == AG_OK && strcmp(PQcmdStatus(r), "ROLLBACK") == 0)
		st = ag_err_set(err, AG_E_INTERNAL,
		                "postgres: COMMIT rolled back: a statement in the transaction failed");
	PQclear(r);
	return st;
}

void ag_db_rollback(PGconn *c)
{
	if (!c || PQstatus(c) != CONNECTION_OK || PQtransactionStatus(c) == PQTRANS_IDLE)
		return;
	PQclear(PQexec(c, "ROLLBACK"));
}
