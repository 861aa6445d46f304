/*
 * tus_store.c - the storage side of resumable uploads (tus_priv.h): reading
 * the uploads row, taking a lease, explaining why an upload cannot be
 * served, recording the durable offset, finishing a complete upload (hash,
 * rename, document + job) and the expiry sweep that removes the bytes of
 * uploads nobody resumed (a timer starts it). All but the timer run on the thread pool.
 */
#include "tus_priv.h"

#include "aegis/log.h"
#include "aegis/sha256.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TUS_HASH_CHUNK     (256 * 1024) /* bytes read at a time when hashing a finished upload */
#define TUS_SWEEP_BATCH    "100"        /* expired uploads cleaned per sweep */
#define TUS_SWEEP_FIRST_MS 1000         /* the first sweep after start: what expired while the gateway was down */

/* the sweep's timer and state (loop thread only) */
static uv_timer_t tus_sweep_timer;
static bool tus_sweep_timer_open;
static bool tus_sweeping;

/* ---- database pieces (thread pool) ---- */

void tus_decide(tus_x *x, int status, const char *fmt, ...)
{
	va_list ap;
	x->status = status;
	va_start(ap, fmt);
	vsnprintf(x->detail, sizeof x->detail, fmt, ap);
	va_end(ap);
}

static void tus_copy(char *dst, size_t cap, const PGresult *res, int col)
{
	snprintf(dst, cap, "%s", PQgetisnull(res, 0, col) ? "" : PQgetvalue(res, 0, col));
}

int64_t tus_int(const PGresult *res, int col)
{
	return PQgetisnull(res, 0, col) ? 0 : strtoll(PQgetvalue(res, 0, col), NULL, 10);
}

void tus_row_read(tus_row *r, const PGresult *res)
{
	tus_copy(r->id, sizeof r->id, res, 0);
	tus_copy(r->owner, sizeof r->owner, res, 1);
	tus_copy(r->document_id, sizeof r->document_id, res, 2);
	tus_copy(r->job_id, sizeof r->job_id, res, 3);
	tus_copy(r->key, sizeof r->key, res, 4);
	tus_copy(r->filename, sizeof r->filename, res, 5);
	tus_copy(r->mime, sizeof r->mime, res, 6);
	r->length = tus_int(res, 7);
	r->offset = tus_int(res, 8);
	r->expires = tus_int(res, 9);
}

/* Upload row.id of row.owner by `sql` ($1, $2: ends in TUS_SQL_OWNED): one row in *res, or *res NULL and 404. */
ag_status tus_load(tus_x *x, PGconn *c, const char *sql, PGresult **res)
{
	const char *p[] = {x->row.id, x->row.owner};
	ag_status st = ag_db_exec(c, sql, 2, p, res, &x->err);
	if (st == AG_OK && PQntuples(*res) != 1) {
		PQclear(*res);
		*res = NULL;
		tus_decide(x, 404, "no such upload");
	}
	return st;
}

/* Take the lease of upload `id` of `owner` if it is free, receiving and not expired; AG_E_NOTFOUND otherwise. */
ag_status tus_lease_take(gateway *gw, PGconn *c, const char *id, const char *owner, const char *lease, tus_row *row,
                         ag_err *err)
{
	char ttl[TUS_NUM_MAX], life[TUS_NUM_MAX];
	PGresult *res = NULL;
	snprintf(ttl, sizeof ttl, "%lld", gw->cfg->tus_lock_ttl_s);
	snprintf(life, sizeof life, "%lld", gw->cfg->tus_expire_after_s);
	const char *p[] = {id, owner, lease, ttl, life};
	ag_status st =
	        ag_db_exec(c,
	                   "UPDATE uploads SET lease_holder = $3, lease_until = now() + make_interval(secs => $4), "
	                   "expires_at = now() + make_interval(secs => $5), updated_at = now() "
	                   "WHERE id = $1 AND owner_id = $2 AND state = 'receiving' AND expires_at > now() "
	                   "AND (lease_until IS NULL OR lease_until < now()) RETURNING " TUS_ROW_COLS,
	                   5, p, &res, err);
	if (st != AG_OK)
		return st;
	if (PQntuples(res) != 1)
		st = AG_E_NOTFOUND;
	else
		tus_row_read(row, res);
	PQclear(res);
	return st;
}

/*
 * Why an upload cannot be served right now: sets x->status (404, 410, 409, 423) or x->completed (it is finished
 * and the client asks at its end).
 */
ag_status tus_explain(tus_x *x, PGconn *c)
{
	PGresult *res = NULL;
	ag_status st =
	        tus_load(x, c,
	                 "SELECT state, \"offset\", length, " TUS_SQL_EXPIRED ", " TUS_SQL_LOCKED ", "
	                 "COALESCE(ceil(extract(epoch FROM lease_until - now()))::bigint, 1), job_id" TUS_SQL_OWNED,
	                 &res);
	if (st != AG_OK || !res)
		return st;
	const char *state = PQgetvalue(res, 0, 0);
	int64_t offset = tus_int(res, 1), length = tus_int(res, 2);
	if (strcmp(state, "completed") == 0) {
		if (x->creating || x->client_offset != length || x->announced > 0) {
			tus_decide(x, 409, "the upload is already complete (%lld bytes)", (long long)length);
		} else {
			x->completed = true;
			x->row.offset = x->row.length = length;
			tus_copy(x->row.job_id, sizeof x->row.job_id, res, 6);
		}
	} else if (PQgetvalue(res, 0, 3)[0] == 't') {
		tus_decide(x, 410, "the upload expired; start a new one");
	} else if (PQgetvalue(res, 0, 4)[0] == 't') {
		/* while another request writes, its offset is moving: the lock answers first */
		x->retry_after = tus_int(res, 5) < 1 ? 1 : tus_int(res, 5);
		tus_decide(x, 423, "another request is writing to this upload; try again later");
	} else if (x->client_offset != offset) {
		tus_decide(x, 409, "Upload-Offset %lld does not match the upload's offset %lld; ask with HEAD",
		           (long long)x->client_offset, (long long)offset);
	} else {
		x->retry_after = 1; /* the lease was let go between our two queries */
		tus_decide(x, 423, "another request is writing to this upload; try again later");
	}
	PQclear(res);
	return AG_OK;
}

/* Record the durable offset; with `keep` the lease is renewed, else released. AG_E_CONFLICT when it was lost. */
ag_status tus_record_offset(gateway *gw, PGconn *c, const tus_row *row, const char *lease, int64_t offset, bool keep,
                            int64_t *expires, ag_err *err)
{
	char off[TUS_NUM_MAX], ttl[TUS_NUM_MAX], life[TUS_NUM_MAX];
	PGresult *res = NULL;
	snprintf(off, sizeof off, "%lld", (long long)offset);
	snprintf(ttl, sizeof ttl, "%lld", keep ? gw->cfg->tus_lock_ttl_s : 0LL);
	snprintf(life, sizeof life, "%lld", gw->cfg->tus_expire_after_s);
	const char *p[] = {row->id, lease, off, ttl, life};
	ag_status st =
	        ag_db_exec(c,
	                   "UPDATE uploads SET \"offset\" = $3, updated_at = now(), "
	                   "expires_at = now() + make_interval(secs => $5), "
	                   "lease_until = CASE WHEN $4::int > 0 THEN now() + make_interval(secs => $4::int) END, "
	                   "lease_holder = CASE WHEN $4::int > 0 THEN lease_holder END "
	                   "WHERE id = $1 AND lease_holder = $2 RETURNING extract(epoch FROM expires_at)::bigint",
	                   5, p, &res, err);
	if (st != AG_OK)
		return st;
	if (PQntuples(res) != 1)
		st = ag_err_set(err, AG_E_CONFLICT, "the upload's lease was taken over");
	else if (expires)
		*expires = tus_int(res, 0);
	PQclear(res);
	return st;
}

/* SHA-256 of a stored object, hex. */
static ag_status tus_hash(ag_storage *s, const char *key, char hex[SUBMIT_SHA256_HEX_LEN + 1], uint64_t *size,
                          ag_err *err)
{
	ag_sha256 sha;
	ag_status st = AG_OK;
	uint64_t off = 0;
	size_t got = 0;
	char *buf = malloc(TUS_HASH_CHUNK);
	if (!buf)
		return ag_err_set(err, AG_E_NOMEM, "out of memory");
	if (ag_sha256_init(&sha) != AG_OK) {
		free(buf);
		return ag_err_set(err, AG_E_NOMEM, "out of memory");
	}
	do {
		st = ag_storage_read(s, key, off, buf, TUS_HASH_CHUNK, &got, err);
		if (st != AG_OK)
			break;
		ag_sha256_update(&sha, buf, got);
		off += got;
	} while (got > 0);
	free(buf);
	if (st != AG_OK) {
		ag_sha256_free(&sha);
		return st;
	}
	ag_sha256_final_hex(&sha, hex);
	*size = off;
	return AG_OK;
}

/*
 * Every byte is durable and the caller holds the lease: make the upload a document + job. Safe to redo after a
 * crash at any point (the ids were chosen at creation; the staging object may already have been renamed).
 */
ag_status tus_finish(gateway *gw, PGconn *c, const tus_row *row, const char *lease, const ag_trace *trace, ag_err *err)
{
	char doc_key[TUS_KEY_MAX], sha[SUBMIT_SHA256_HEX_LEN + 1];
	uint64_t size = 0;
	snprintf(doc_key, sizeof doc_key, TUS_DOC_PREFIX "%s", row->document_id);
	ag_status st = tus_hash(gw->storage, row->key, sha, &size, err);
	if (st == AG_OK)
		st = ag_storage_rename(gw->storage, row->key, doc_key, err);
	else if (st == AG_E_NOTFOUND) /* renamed before a crash */
		st = tus_hash(gw->storage, doc_key, sha, &size, err);
	if (st != AG_OK)
		return st;
	if (size != (uint64_t)row->length)
		return ag_err_set(err, AG_E_INTERNAL, "stored %llu bytes, want %lld", (unsigned long long)size,
		                  (long long)row->length);

	submit_doc d = {.document_id = row->document_id,
	                .job_id = row->job_id,
	                .owner = row->owner,
	                .filename = row->filename,
	                .mime = row->mime,
	                .sha256 = sha,
	                .key = doc_key,
	                .size = size,
	                .trace = trace};
	const char *p[] = {row->id, lease};
	PGresult *res = NULL;
	if ((st = ag_db_begin(c, err)) != AG_OK)
		return st;
	st = submit_record(c, &d, err);
	if (st == AG_OK)
		st = ag_db_exec(c,
		                "UPDATE uploads SET state = 'completed', lease_holder = NULL, lease_until = NULL, "
		                "updated_at = now() WHERE id = $1 AND lease_holder = $2 AND state = 'receiving'",
		                2, p, &res, err);
	if (st == AG_OK && strcmp(PQcmdTuples(res), "1") != 0)
		st = ag_err_set(err, AG_E_CONFLICT, "the upload's lease was taken over");
	PQclear(res);
	if (st == AG_OK)
		st = ag_db_commit(c, err);
	if (st != AG_OK) {
		ag_db_rollback(c);
		return st;
	}
	ag_log_info("tus upload %s complete (%llu bytes, sha256 %s); job %s queued", row->id, (unsigned long long)size,
	            sha, row->job_id);
	submit_publish(gw, &d);
	return AG_OK;
}

/* ---- the expiry sweep ---- */

typedef struct tus_sweep {
	uv_work_t work;
	gateway *gw;
} tus_sweep;

static void tus_sweep_work(uv_work_t *w)
{
	tus_sweep *s = w->data;
	PGconn *c = NULL;
	PGresult *res = NULL;
	ag_err err;
	const char *p[] = {TUS_SWEEP_BATCH};
	ag_err_clear(&err);
	ag_status st = ag_db_acquire(s->gw->db, &c, GATEWAY_DB_TIMEOUT_MS, &err);
	if (st == AG_OK) {
		st = ag_db_exec(c,
		                "UPDATE uploads SET state = 'expired', updated_at = now() WHERE id IN ("
		                "SELECT id FROM uploads WHERE state = 'receiving' AND expires_at <= now() "
		                "AND (lease_until IS NULL OR lease_until < now()) ORDER BY expires_at LIMIT $1::int "
		                "FOR UPDATE SKIP LOCKED) RETURNING id, storage_key",
		                1, p, &res, &err);
		ag_db_release(s->gw->db, c);
	}
	if (st != AG_OK) {
		ag_log_warn("tus expiry sweep: %s", err.msg[0] ? err.msg : ag_status_str(st));
		return;
	}
	for (int i = 0; i < PQntuples(res); i++) {
		ag_err_clear(&err);
		if (ag_storage_delete(s->gw->storage, PQgetvalue(res, i, 1), &err) != AG_OK)
			ag_log_warn("tus upload %s expired; its bytes stay: %s", PQgetvalue(res, i, 0), err.msg);
		else
			ag_log_info("tus upload %s expired; its bytes are removed", PQgetvalue(res, i, 0));
	}
	PQclear(res);
}

static void tus_sweep_done(uv_work_t *w, int status)
{
	tus_sweep *s = w->data;
	s->gw->busy--;
	tus_sweeping = false;
	free(s);
}

/* A sweep, unless the last one still runs. */
static void tus_sweep_tick(uv_timer_t *t)
{
	gateway *gw = t->data;
	if (tus_sweeping)
		return;
	tus_sweep *s = calloc(1, sizeof *s);
	if (!s)
		return;
	s->gw = gw;
	s->work.data = s;
	tus_sweeping = true;
	gw->busy++; /* the drain waits for it */
	if (uv_queue_work(gw->loop, &s->work, tus_sweep_work, tus_sweep_done) != 0) {
		gw->busy--;
		tus_sweeping = false;
		free(s);
	}
}

void tus_sweeper_start(gateway *gw)
{
	uint64_t ms = (uint64_t)gw->cfg->tus_sweep_interval_s * 1000;
	if (tus_sweep_timer_open)
		return;
	uv_timer_init(gw->loop, &tus_sweep_timer);
	tus_sweep_timer.data = gw;
	tus_sweep_timer_open = true;
	uv_timer_start(&tus_sweep_timer, tus_sweep_tick, TUS_SWEEP_FIRST_MS, ms);
	uv_unref((uv_handle_t *)&tus_sweep_timer); /* never keeps the loop alive on its own */
}

void tus_sweeper_stop(void)
{
	if (!tus_sweep_timer_open)
		return;
	tus_sweep_timer_open = false;
	uv_close((uv_handle_t *)&tus_sweep_timer, NULL);
}
