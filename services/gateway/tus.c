/*
 * tus.c - resumable uploads (tus 1.0.0) on top of the uploads table and a
 * resumable storage writer (see tus.h): POST and PATCH, the requests that
 * stream a body, and the answers every tus request shares. The uploads row
 * and the stored bytes are in tus_store.c; OPTIONS, HEAD and DELETE in
 * tus_calls.c; what the three share in tus_priv.h.
 *
 * One `tus_x` per POST or PATCH, owned by the loop thread, shaped like
 * upload.c's state: `busy` while deferred work owns it, at most one chunk in
 * flight (the body is paused while it is written on the thread pool).
 *
 *   authed:  header checks, then on the pool: create the row (POST) or take
 *            the lease (PATCH), open the staging object at the offset
 *   on_body: write the chunk; every third of the lease, fsync + record the
 *            offset + renew the lease (a lost lease stops the request)
 *   end, error or client gone: fsync, record the offset, let the lease go;
 *            at Upload-Length finish: hash, rename, document + job, publish
 *
 * `leased` is true while this request holds the upload's lease; whoever
 * ends the request saves first, so a lease is never left behind by a live
 * process (a dead one's runs out after TUS_LOCK_TTL_S).
 */
#include "tus.h"

#include "tus_meta.h"
#include "tus_priv.h"

#include "aegis/log.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TUS_CONTENT_TYPE  "application/offset+octet-stream"
#define TUS_KEY_PREFIX    "uploads/"
#define TUS_BUF_MAX       (4 * 1024 * 1024) /* refuse a server read larger than this (never expected) */
#define TUS_RENEW_DIVISOR 3                 /* renew (and checkpoint) after a third of the lease */

/* ---- small helpers, and the answers every tus request shares ---- */

static int64_t tus_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void tus_count(gateway *gw, const char *outcome)
{
	char labels[64];
	snprintf(labels, sizeof labels, "outcome=\"%s\"", outcome);
	ag_counter_inc(ag_metrics_counter(gw->metrics, "aegis_tus_requests_total",
	                                  "Resumable upload POST/PATCH requests by outcome", labels));
}

void tus_header_num(ag_http_req *req, const char *name, int64_t v)
{
	char num[TUS_NUM_MAX];
	snprintf(num, sizeof num, "%lld", (long long)v);
	ag_http_resp_header(req, name, num);
}

void tus_header_expires(ag_http_req *req, int64_t expires)
{
	char date[TUS_HTTP_DATE_LEN + 1];
	tus_http_date((time_t)expires, date);
	ag_http_resp_header(req, "Upload-Expires", date);
}

void tus_header_job(ag_http_req *req, const char *job_id)
{
	char location[sizeof "/v1/jobs/" + UUID_TEXT_LEN];
	snprintf(location, sizeof location, "/v1/jobs/%s", job_id);
	ag_http_resp_header(req, "Upload-Job-Id", job_id);
	ag_http_resp_header(req, "Location", location);
}

void tus_problem(ag_http_req *req, int status, const char *detail)
{
	ag_http_resp_header(req, "Tus-Resumable", TUS_VERSION);
	if (status == 412)
		ag_http_resp_header(req, "Tus-Version", TUS_VERSION);
	if (status == 503)
		ag_http_resp_header(req, "Retry-After", GATEWAY_RETRY_AFTER_S);
	ag_http_respond_problem(req, status, "%s", detail);
}

/* The request states the protocol version we speak. false when it answered 412. */
bool tus_version_ok(ag_http_req *req)
{
	const char *v = ag_http_req_header(req, "Tus-Resumable");
	if (v && strcmp(v, TUS_VERSION) == 0)
		return true;
	tus_problem(req, 412, "this server speaks tus " TUS_VERSION "; send Tus-Resumable: " TUS_VERSION);
	return false;
}

/* A dependency failed: 503 when it may come back, 500 otherwise (logged once). */
void tus_respond_dep(ag_http_req *req, const char *id, ag_status st, const ag_err *err)
{
	const char *msg = err->msg[0] ? err->msg : ag_status_str(st);
	if (ag_status_transient(st) && st != AG_E_INTERNAL && st != AG_E_NOMEM) {
		ag_log_warn("tus upload %s: %s", id, msg);
		tus_problem(req, 503, "storage or the database is temporarily unavailable; try again");
		return;
	}
	ag_log_error("tus upload %s: %s", id, msg);
	tus_problem(req, 500, "internal error");
}

/* ---- POST and PATCH: the streaming request ---- */

static void tus_save(tus_x *x);

static void tus_free(tus_x *x)
{
	gateway *gw = x->gw;
	ag_http_req *req = x->req;
	tus_count(gw, x->outcome ? x->outcome : "aborted");
	ag_http_req_set_data(req, NULL);
	if (!x->aborted)
		ag_http_req_resume(req); /* the server may still read past the rest of the body */
	ag_http_req_release(req);
	gw->busy--;
	free(x->buf);
	free(x);
}

/* The request is over for us: save progress if we hold the upload, then free. Precondition: !x->busy. */
static void tus_end(tus_x *x)
{
	if (x->leased)
		tus_save(x);
	else
		tus_free(x);
}

static void tus_fail(tus_x *x, int status, const char *outcome, const char *detail)
{
	if (!x->answered) {
		x->answered = true;
		x->outcome = outcome;
		if (status == 423 || (status == 409 && x->retry_after > 0))
			tus_header_num(x->req, "Retry-After", x->retry_after);
		tus_problem(x->req, status, detail);
	}
	if (!x->busy)
		tus_end(x);
}

static void tus_fail_dep(tus_x *x)
{
	if (!x->answered) {
		x->answered = true;
		x->outcome = "unavailable";
		tus_respond_dep(x->req, x->row.id, x->st, &x->err);
	}
	if (!x->busy)
		tus_end(x);
}

static bool tus_defer(tus_x *x, void (*work)(void *), void (*done)(ag_http_req *, void *))
{
	x->busy = true;
	if (ag_http_req_defer(x->req, work, done, x) == AG_OK)
		return true;
	x->busy = false;
	return false;
}

/* The success answer of POST (201) or PATCH (204). */
static void tus_answer(tus_x *x)
{
	ag_http_req *req = x->req;
	x->answered = true;
	x->outcome = x->replayed ? "replayed" : x->completed ? "completed" : "accepted";
	ag_http_resp_header(req, "Tus-Resumable", TUS_VERSION);
	tus_header_num(req, "Upload-Offset", x->row.offset);
	if (x->replayed)
		ag_http_resp_header(req, "Idempotent-Replayed", "true");
	if (x->completed) {
		tus_header_job(req, x->row.job_id);
	} else if (x->row.expires > 0) {
		tus_header_expires(req, x->row.expires);
	}
	if (x->creating) {
		char location[sizeof "/v1/uploads/" + UUID_TEXT_LEN];
		snprintf(location, sizeof location, "/v1/uploads/%s", x->row.id);
		/* Location names the upload; on completion the job stays in Upload-Job-Id */
		ag_http_resp_header(req, "Location", location);
		ag_http_respond_json(req, 201,
		                     json_pack("{s:s, s:I, s:I, s:s?}", "upload_id", x->row.id, "offset",
		                               (json_int_t)x->row.offset, "length", (json_int_t)x->row.length, "job_id",
		                               x->completed ? x->row.job_id : NULL));
		return;
	}
	ag_http_respond(req, 204, NULL, NULL, 0);
}

/* fsync, record the offset, let the lease go; finish at Upload-Length (thread pool). */
static void tus_save_work(void *ud)
{
	tus_x *x = ud;
	PGconn *c = NULL;
	ag_status st;
	int64_t offset = x->row.offset + x->written;
	bool full = offset == x->row.length;
	ag_trace_set_current(&x->trace);
	ag_err_clear(&x->err);
	st = x->writer ? ag_storage_commit(x->writer, &x->err) : AG_OK;
	x->writer = NULL; /* freed by commit whatever the outcome */
	if (st != AG_OK)
		offset = x->row.offset; /* nothing new is known to be durable */
	ag_err e2;
	ag_err_clear(&e2);
	ag_status dst = ag_db_acquire(x->gw->db, &c, GATEWAY_DB_TIMEOUT_MS, &e2);
	if (dst == AG_OK) {
		dst = tus_record_offset(x->gw, c, &x->row, x->lease, offset, st == AG_OK && full, &x->row.expires, &e2);
		if (dst == AG_OK) {
			x->row.offset = offset;
			x->written = 0;
		}
		if (dst == AG_OK && st == AG_OK && full) {
			dst = tus_finish(x->gw, c, &x->row, x->lease, &x->trace, &e2);
			x->completed = dst == AG_OK;
		}
		ag_db_release(x->gw->db, c);
	}
	if (st == AG_OK && dst != AG_OK) {
		st = dst;
		x->err = e2;
	}
	x->st = st;
	ag_trace_set_current(NULL);
}

static void tus_save_done(ag_http_req *req, void *ud)
{
	tus_x *x = ud;
	x->busy = false;
	x->leased = false; /* released, or left to run out when the database could not be told */
	if (!x->answered && !x->aborted) {
		if (x->st == AG_E_CONFLICT) {
			x->retry_after = 1;
			tus_fail(x, 423, "locked", "another request took this upload over; ask with HEAD and resume");
			return;
		}
		if (x->st != AG_OK) {
			tus_fail_dep(x);
			return;
		}
		tus_answer(x);
	} else if (x->st != AG_OK) {
		ag_log_warn("tus upload %s: progress not saved: %s", x->row.id,
		            x->err.msg[0] ? x->err.msg : ag_status_str(x->st));
	}
	tus_free(x);
}

static void tus_save(tus_x *x)
{
	if (!tus_defer(x, tus_save_work, tus_save_done)) {
		/* the pool refused: the lease runs out on its own and the unsynced bytes are cut off on resume */
		ag_storage_abort(x->writer);
		x->writer = NULL;
		x->leased = false;
		if (!x->answered) {
			x->answered = true;
			x->outcome = "unavailable";
			tus_problem(x->req, 503, "the server is busy; try again");
		}
		tus_free(x);
	}
}

/* Write the buffered chunk (thread pool); checkpoint and renew the lease when a third of it has passed. */
static void tus_write_work(void *ud)
{
	tus_x *x = ud;
	PGconn *c = NULL;
	ag_trace_set_current(&x->trace);
	ag_err_clear(&x->err);
	x->st = AG_OK;
	if (tus_now_ms() >= x->renew_at_ms) {
		int64_t offset = x->row.offset + x->written;
		x->st = ag_storage_sync(x->writer, &x->err);
		if (x->st == AG_OK)
			x->st = ag_db_acquire(x->gw->db, &c, GATEWAY_DB_TIMEOUT_MS, &x->err);
		if (x->st == AG_OK) {
			x->st = tus_record_offset(x->gw, c, &x->row, x->lease, offset, true, &x->row.expires, &x->err);
			ag_db_release(x->gw->db, c);
		}
		if (x->st == AG_OK) {
			x->row.offset = offset;
			x->written = 0;
			x->renew_at_ms = tus_now_ms() + x->gw->cfg->tus_lock_ttl_s * 1000 / TUS_RENEW_DIVISOR;
		}
	}
	if (x->st == AG_OK)
		x->st = ag_storage_write(x->writer, x->buf, x->len, &x->err);
	if (x->st == AG_OK)
		x->written += (int64_t)x->len;
	ag_trace_set_current(NULL);
}

static void tus_write_done(ag_http_req *req, void *ud)
{
	tus_x *x = ud;
	size_t n = x->len;
	x->busy = false;
	x->len = 0;
	if (x->aborted || x->answered) {
		tus_end(x);
		return;
	}
	if (x->st == AG_E_CONFLICT) {
		x->leased = false; /* someone else holds it now: record nothing */
		ag_storage_abort(x->writer);
		x->writer = NULL;
		x->retry_after = 1;
		tus_fail(x, 423, "locked", "another request took this upload over; ask with HEAD and resume");
		return;
	}
	if (x->st != AG_OK) {
		tus_fail_dep(x);
		return;
	}
	ag_counter_add(ag_metrics_counter(x->gw->metrics, "aegis_upload_bytes_total",
	                                  "File bytes written to storage by uploads", NULL),
	               (double)n);
	if (x->ended) {
		tus_save(x);
		return;
	}
	ag_http_req_resume(req);
}

/* After the row is made (POST) or the lease taken (PATCH) and the staging object opened. */
static void tus_started_done(ag_http_req *req, void *ud)
{
	tus_x *x = ud;
	x->busy = false;
	if (x->aborted) {
		tus_end(x);
		return;
	}
	if (x->st != AG_OK) {
		tus_fail_dep(x);
		return;
	}
	if (x->status) {
		tus_fail(x, x->status,
		         x->status == 423                         ? "locked"
		         : x->retry_after > 0 && x->status == 409 ? "idempotency_in_flight"
		                                                  : "refused",
		         x->detail);
		return;
	}
	if (x->replayed || x->completed || !x->writer) {
		tus_answer(x);
		tus_end(x);
		return;
	}
	x->renew_at_ms = tus_now_ms() + x->gw->cfg->tus_lock_ttl_s * 1000 / TUS_RENEW_DIVISOR;
	if (x->ended) {
		tus_save(x);
		return;
	}
	ag_http_req_resume(req);
}

/* Open the staging object at the durable offset; on failure let the lease go. */
static void tus_open(tus_x *x, PGconn *c)
{
	x->st = ag_storage_writer_resume(x->gw->storage, x->row.key, (uint64_t)x->row.offset, &x->writer, &x->err);
	if (x->st == AG_OK)
		return;
	ag_err e2;
	ag_err_clear(&e2);
	if (tus_record_offset(x->gw, c, &x->row, x->lease, x->row.offset, false, NULL, &e2) == AG_OK)
		x->leased = false;
}

static void tus_create_work(void *ud)
{
	tus_x *x = ud;
	PGconn *c = NULL;
	PGresult *res = NULL;
	char len[TUS_NUM_MAX], ttl[TUS_NUM_MAX], life[TUS_NUM_MAX];
	ag_trace_set_current(&x->trace);
	ag_err_clear(&x->err);
	snprintf(len, sizeof len, "%lld", (long long)x->row.length);
	snprintf(ttl, sizeof ttl, "%lld", x->with_body ? x->gw->cfg->tus_lock_ttl_s : 0LL);
	snprintf(life, sizeof life, "%lld", x->gw->cfg->tus_expire_after_s);
	const char *p[] = {x->row.id,
	                   x->row.owner,
	                   len,
	                   x->metadata,
	                   x->row.filename,
	                   x->row.mime[0] ? x->row.mime : NULL,
	                   x->row.key,
	                   x->row.document_id,
	                   x->row.job_id,
	                   x->idem[0] ? x->idem : NULL,
	                   x->fingerprint,
	                   x->with_body ? x->lease : NULL,
	                   ttl,
	                   life};
	x->st = ag_db_acquire(x->gw->db, &c, GATEWAY_DB_TIMEOUT_MS, &x->err);
	if (x->st != AG_OK)
		goto out;
	x->st = ag_db_exec(
	        c,
	        "INSERT INTO uploads (id, owner_id, length, metadata, filename, claimed_mime, storage_key, "
	        "document_id, job_id, idempotency_key, request_sha256, lease_holder, lease_until, expires_at) "
	        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, "
	        "CASE WHEN $13::int > 0 THEN now() + make_interval(secs => $13::int) END, "
	        "now() + make_interval(secs => $14)) RETURNING extract(epoch FROM expires_at)::bigint",
	        14, p, &res, &x->err);
	if (x->st == AG_OK) {
		x->row.expires = tus_int(res, 0);
		x->leased = x->with_body;
		PQclear(res);
		if (x->with_body)
			tus_open(x, c);
	} else if (x->st == AG_E_EXISTS && x->idem[0]) {
		const char *q[] = {x->row.owner, x->idem};
		ag_err_clear(&x->err);
		/* the creating request's lease is the upload's id (PATCHes take random ones): still in flight */
		x->st = ag_db_exec(c,
		                   "SELECT " TUS_ROW_COLS ", request_sha256, state, "
		                   "COALESCE(lease_holder = id AND lease_until > now(), false), "
		                   "COALESCE(ceil(extract(epoch FROM lease_until - now()))::bigint, 1) FROM uploads "
		                   "WHERE owner_id = $1 AND idempotency_key = $2",
		                   2, q, &res, &x->err);
		if (x->st == AG_OK && PQntuples(res) != 1)
			x->st = ag_err_set(&x->err, AG_E_INTERNAL, "idempotency key taken, upload not found");
		if (x->st == AG_OK && strcmp(PQgetvalue(res, 0, 10), x->fingerprint) != 0) {
			tus_decide(x, 422,
			           "this Idempotency-Key was already used for another upload (other Upload-Length or "
			           "Upload-Metadata); use a new key");
		} else if (x->st == AG_OK && PQgetvalue(res, 0, 12)[0] == 't') {
			x->retry_after = tus_int(res, 13) < 1 ? 1 : tus_int(res, 13);
			tus_decide(
			        x, 409,
			        "the creation request with this Idempotency-Key is still sending its body; try again "
			        "after Retry-After seconds");
		} else if (x->st == AG_OK) {
			tus_row_read(&x->row, res);
			x->replayed = true;
			x->completed = strcmp(PQgetvalue(res, 0, 11), "completed") == 0;
		}
		PQclear(res);
	} else if (x->st == AG_E_INVAL) {
		/* a foreign key: the token's user no longer exists */
		x->st = AG_OK;
		tus_decide(x, 401, "the account of this token no longer exists");
	}
	ag_db_release(x->gw->db, c);
out:
	ag_trace_set_current(NULL);
}

static void tus_patch_work(void *ud)
{
	tus_x *x = ud;
	PGconn *c = NULL;
	ag_trace_set_current(&x->trace);
	ag_err_clear(&x->err);
	x->st = ag_db_acquire(x->gw->db, &c, GATEWAY_DB_TIMEOUT_MS, &x->err);
	if (x->st != AG_OK)
		goto out;
	x->st = tus_lease_take(x->gw, c, x->row.id, x->row.owner, x->lease, &x->row, &x->err);
	if (x->st == AG_E_NOTFOUND) {
		ag_err_clear(&x->err);
		x->st = tus_explain(x, c);
		goto release;
	}
	if (x->st != AG_OK)
		goto release;
	x->leased = true;
	if (x->client_offset != x->row.offset)
		tus_decide(x, 409, "Upload-Offset %lld does not match the upload's offset %lld; ask with HEAD",
		           (long long)x->client_offset, (long long)x->row.offset);
	else if (x->announced >= 0 && x->row.offset + x->announced > x->row.length)
		tus_decide(x, 413, "the body runs past Upload-Length (%lld bytes)", (long long)x->row.length);
	if (x->status) {
		ag_err e2;
		ag_err_clear(&e2);
		if (tus_record_offset(x->gw, c, &x->row, x->lease, x->row.offset, false, NULL, &e2) == AG_OK)
			x->leased = false;
		goto release;
	}
	tus_open(x, c);
release:
	ag_db_release(x->gw->db, c);
out:
	ag_trace_set_current(NULL);
}

/* Header checks of POST /v1/uploads. false when it answered. */
static bool tus_create_prepare(tus_x *x)
{
	ag_http_req *req = x->req;
	const char *deferred = ag_http_req_header(req, "Upload-Defer-Length");
	const char *ct = ag_http_req_header(req, "Content-Type");
	const char *idem = ag_http_req_header(req, "Idempotency-Key");
	char why[TUS_DETAIL_MAX];
	tus_meta meta;
	long long max = x->gw->cfg->max_upload_bytes;

	if (deferred) {
		tus_fail(x, 400, "invalid", "Upload-Defer-Length is not supported; send Upload-Length");
		return false;
	}
	if (!tus_parse_uint(ag_http_req_header(req, "Upload-Length"), &x->row.length)) {
		tus_fail(x, 400, "invalid", "Upload-Length (a non-negative decimal integer) is required");
		return false;
	}
	if (x->row.length > max) {
		snprintf(why, sizeof why, "Upload-Length is larger than the limit of %lld bytes", max);
		tus_fail(x, 413, "too_large", why);
		return false;
	}
	if (x->row.length == 0) {
		tus_fail(x, 400, "empty", "the file is empty (Upload-Length: 0)");
		return false;
	}
	x->metadata = ag_http_req_header(req, "Upload-Metadata");
	if (tus_meta_parse(x->metadata, &meta, why, sizeof why) != AG_OK) {
		tus_fail(x, 400, "invalid", why);
		return false;
	}
	if (idem && !submit_idem_key_valid(idem, (size_t)x->gw->cfg->idem_key_max_bytes, why, sizeof why)) {
		tus_fail(x, 400, "invalid", why);
		return false;
	}
	snprintf(x->idem, sizeof x->idem, "%s", idem ? idem : "");
	filename_sanitize(meta.has_filename ? meta.filename : NULL, meta.has_filename ? meta.filename_len : 0,
	                  x->row.filename);
	if (!meta.has_filetype || !hparams_media_type(meta.filetype, x->row.mime, sizeof x->row.mime))
		x->row.mime[0] = '\0';
	if (ct) {
		char mt[HPARAMS_MEDIA_TYPE_MAX + 1];
		if (!hparams_media_type(ct, mt, sizeof mt) || strcmp(mt, TUS_CONTENT_TYPE) != 0) {
			tus_fail(x, 415, "invalid", "a body with the creation request must be " TUS_CONTENT_TYPE);
			return false;
		}
		x->with_body = x->announced != 0;
	}
	if (x->announced > x->row.length) {
		tus_fail(x, 413, "too_large", "the body is larger than Upload-Length");
		return false;
	}

	/* the request's identity for Idempotency-Key reuse: its length and metadata */
	crypto_hash_sha256_state sha;
	unsigned char digest[crypto_hash_sha256_BYTES];
	char num[TUS_NUM_MAX];
	int n = snprintf(num, sizeof num, "%lld\n", (long long)x->row.length);
	crypto_hash_sha256_init(&sha);
	crypto_hash_sha256_update(&sha, (const unsigned char *)num, (size_t)n);
	if (x->metadata)
		crypto_hash_sha256_update(&sha, (const unsigned char *)x->metadata, strlen(x->metadata));
	crypto_hash_sha256_final(&sha, digest);
	sodium_bin2hex(x->fingerprint, sizeof x->fingerprint, digest, sizeof digest);

	uuid_v4(x->row.id);
	uuid_v4(x->row.document_id);
	uuid_v4(x->row.job_id);
	snprintf(x->row.key, sizeof x->row.key, TUS_KEY_PREFIX "%s", x->row.id);
	return true;
}

/* Header checks of PATCH /v1/uploads/{id}. false when it answered. */
static bool tus_patch_prepare(tus_x *x)
{
	ag_http_req *req = x->req;
	const char *id = ag_http_req_param(req, 0);
	char mt[HPARAMS_MEDIA_TYPE_MAX + 1];
	if (!id || !uuid_valid(id)) {
		tus_fail(x, 404, "refused", "no such upload");
		return false;
	}
	snprintf(x->row.id, sizeof x->row.id, "%s", id);
	if (!hparams_media_type(ag_http_req_header(req, "Content-Type"), mt, sizeof mt) ||
	    strcmp(mt, TUS_CONTENT_TYPE) != 0) {
		tus_fail(x, 415, "invalid", "PATCH needs Content-Type: " TUS_CONTENT_TYPE);
		return false;
	}
	if (!tus_parse_uint(ag_http_req_header(req, "Upload-Offset"), &x->client_offset)) {
		tus_fail(x, 400, "invalid", "Upload-Offset (a non-negative decimal integer) is required");
		return false;
	}
	x->with_body = true;
	return true;
}

static void tus_authed(ag_http_req *req, const ag_jwt_claims *claims, void *ud)
{
	tus_x *x = ud;
	x->busy = false;
	if (x->aborted) {
		tus_free(x);
		return;
	}
	if (!claims) {
		x->answered = true; /* authn answered */
		x->outcome = "unauthorized";
		tus_free(x);
		return;
	}
	memcpy(x->row.owner, claims->sub, UUID_TEXT_LEN);
	x->row.owner[UUID_TEXT_LEN] = '\0';
	if (!tus_version_ok(req)) {
		x->answered = true;
		x->outcome = "refused";
		tus_free(x);
		return;
	}
	if (!(x->creating ? tus_create_prepare(x) : tus_patch_prepare(x)))
		return;
	x->buf = malloc(AG_HTTP_READ_CHUNK);
	if (!x->buf) {
		tus_fail(x, 500, "error", "out of memory");
		return;
	}
	x->cap = AG_HTTP_READ_CHUNK;
	if (x->creating) /* so that a repeated creation can tell that this one is still in flight */
		memcpy(x->lease, x->row.id, sizeof x->lease);
	else
		uuid_v4(x->lease);
	if (!tus_defer(x, x->creating ? tus_create_work : tus_patch_work, tus_started_done))
		tus_fail(x, 503, "unavailable", "the server is busy; try again");
}

static void tus_on_request(ag_http_req *req, void *ud, bool creating)
{
	gateway *gw = ud;
	tus_x *x = calloc(1, sizeof *x);
	if (!x) {
		ag_http_respond_problem(req, 500, "out of memory");
		return;
	}
	x->gw = gw;
	x->req = req;
	x->creating = creating;
	x->trace = *ag_http_req_trace(req);
	x->announced = ag_http_req_content_length(req);
	ag_http_req_retain(req);
	ag_http_req_set_data(req, x);
	gw->busy++;
	ag_http_req_pause(req); /* no body until the caller and the upload are known */
	x->busy = true;
	authn_require(gw->authn, req, tus_authed, x);
}

static void tus_create_on_request(ag_http_req *req, void *ud)
{
	tus_on_request(req, ud, true);
}

static void tus_patch_on_request(ag_http_req *req, void *ud)
{
	tus_on_request(req, ud, false);
}

static void tus_on_body(ag_http_req *req, const char *data, size_t len, void *ud)
{
	tus_x *x = ag_http_req_data(req);
	if (!x || x->answered || x->aborted || !x->writer)
		return;
	if (x->busy) {
		ag_log_error("tus upload %s: body data arrived while paused", x->row.id);
		tus_fail(x, 500, "error", "internal error");
		return;
	}
	if (x->row.offset + x->written + (int64_t)len > x->row.length) {
		tus_fail(x, 413, "too_large", "the body runs past Upload-Length");
		return;
	}
	if (len > x->cap) {
		char *nb = len <= TUS_BUF_MAX ? realloc(x->buf, len) : NULL;
		if (!nb) {
			tus_fail(x, 500, "error", "out of memory");
			return;
		}
		x->buf = nb;
		x->cap = len;
	}
	memcpy(x->buf, data, len);
	x->len = len;
	ag_http_req_pause(req);
	if (!tus_defer(x, tus_write_work, tus_write_done))
		tus_fail(x, 503, "unavailable", "the server is busy; try again");
}

static void tus_on_body_end(ag_http_req *req, void *ud)
{
	tus_x *x = ag_http_req_data(req);
	if (!x || x->answered || x->aborted)
		return;
	x->ended = true; /* may come before the upload is open (an empty body) */
	if (!x->busy && x->writer)
		tus_save(x);
}

static void tus_on_abort(ag_http_req *req, void *ud)
{
	tus_x *x = ag_http_req_data(req);
	if (!x)
		return;
	x->aborted = true;
	if (!x->busy)
		tus_end(x);
}

const ag_http_route_ops tus_create_route = {
        .on_request = tus_create_on_request,
        .on_body = tus_on_body,
        .on_body_end = tus_on_body_end,
        .on_abort = tus_on_abort,
};

const ag_http_route_ops tus_patch_route = {
        .on_request = tus_patch_on_request,
        .on_body = tus_on_body,
        .on_body_end = tus_on_body_end,
        .on_abort = tus_on_abort,
};
