/*
 * upload.c - the streaming upload of POST /v1/files (see upload.h).
 *
 * One `upload` per request, owned by the loop thread. Its life:
 *
 *   on_request: pause the body, authenticate (maybe on the thread pool)
 *   authed:     check size/type/name; with an Idempotency-Key reserve it on
 *               the pool (409 while another request holds it; when it made
 *               a job already, only hash the body to compare); resume
 *   on_body:    copy the chunk's file bytes (through the multipart parser if
 *               any) into buf; when no write is in flight, hand buf to one
 *               on the thread pool; else read on, pausing at 1 MiB (or when
 *               all uploads hold UPLOAD_BUFFER_MB); write done writes what
 *               was read meanwhile and resumes
 *   on_body_end / last write done: commit the object, INSERT document + job
 *               in one transaction, publish JobSubmitted, answer 202
 *
 * `busy` is true while deferred work (authentication, a write, the finish)
 * owns the upload; the state is freed by whoever sees it idle and finished
 * (answered, or the client gone). At most one chunk write is ever in flight.
 * An error answer waits until the reservation is let go (upload_end), so a
 * client retrying at once after it is not told 409 by its own first try.
 */
#include "upload.h"

#include "disposition.h"
#include "filename.h"
#include "gateway.h"
#include "hparams.h"
#include "multipart.h"
#include "submit.h"
#include "submitq.h"
#include "uuid.h"

#include "aegis/log.h"
#include "aegis/sha256.h"

#include <malloc.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define UPLOAD_BUF_INITIAL      (AG_HTTP_READ_CHUNK + MULTIPART_DELIM_MAX) /* one read, plus a held-back delimiter */
#define UPLOAD_BUF_MAX          (4 * 1024 * 1024)  /* refuse a server read larger than this (never expected) */
#define UPLOAD_AHEAD_BYTES      (1024 * 1024)      /* read ahead while a chunk is written; pause beyond this */
#define UPLOAD_MULTIPART_SLACK  (1024 * 1024)      /* form overhead and ignored fields allowed beyond the file */
#define UPLOAD_TRIM_AFTER_BYTES (16 * 1024 * 1024) /* upload buffers peaked this high: trim the heap once all end */
#define UPLOAD_KEY_PREFIX       "documents/"
#define UPLOAD_KEY_MAX          (sizeof UPLOAD_KEY_PREFIX + UUID_TEXT_LEN)
#define UPLOAD_DETAIL_MAX       256

typedef struct upload {
	gateway *gw;
	ag_http_req *req;
	ag_trace trace;
	char owner[UUID_TEXT_LEN + 1];
	char document_id[UUID_TEXT_LEN + 1];
	char job_id[UUID_TEXT_LEN + 1];
	char key[UPLOAD_KEY_MAX];
	char filename[AG_FILENAME_MAX_BYTES + 1];
	char mime[HPARAMS_MEDIA_TYPE_MAX + 1]; /* claimed type, "" when none */
	char idem[SUBMIT_IDEM_KEY_LIMIT + 1];  /* Idempotency-Key, "" when none */

	bool is_multipart;
	bool in_file;   /* the parser is inside the (first) `file` part */
	bool file_seen; /* a `file` part was found */
	bool too_large;
	multipart mp;

	/* Two buffers: the body is read into buf while the chunk in wbuf is written on the thread pool (`writing`);
	 * reading pauses when buf holds UPLOAD_AHEAD_BYTES. `writer`, `sha` and wbuf belong to the write in flight. */
	ag_sha256 sha;
	ag_storage_writer *writer;
	char *buf, *wbuf;
	size_t len, cap, wlen, wcap;
	bool writing;        /* a chunk write is in flight (busy is set too) */
	bool paused;         /* buf is full: the body waits for the write */
	uint64_t size;       /* file bytes accepted so far */
	uint64_t body_bytes; /* request body bytes seen */

	bool busy;     /* deferred work owns the upload */
	bool ended;    /* on_body_end ran */
	bool aborted;  /* the client went away */
	bool answered; /* a response was sent */
	const char *outcome;
	int fail_status; /* an error answer waits for the reservation to go (upload_end); 0 when none */
	char fail_detail[UPLOAD_DETAIL_MAX];

	/* the Idempotency-Key reservation (submit.h); its holder is job_id */
	bool reserved;   /* this request holds it and has neither linked nor released it */
	bool check_only; /* the key made a job already (`prior`): hash the body to compare, store nothing */
	submit_prior prior;
	long long retry_after; /* with a 409: seconds left on the other request's lease */
	int64_t renew_at_ms;

	/* results of the deferred work */
	ag_status st;
	ag_err err;
	const char *failed_at; /* "storage" or "the database" */
	char sha_hex[AG_SHA256_HEX_LEN + 1];
	bool replayed;   /* the Idempotency-Key was used before: answer with that job */
	bool idem_clash; /* ... but for another file: 422 */
	bool idem_lost;  /* ... or another request holds it now: 409 */
} upload;

typedef struct upload_discard {
	uv_work_t work;
	gateway *gw;
	ag_storage_writer *writer;
} upload_discard;

/* ---- bookkeeping ---- */

static void upload_count(gateway *gw, const char *outcome)
{
	char labels[64];
	snprintf(labels, sizeof labels, "outcome=\"%s\"", outcome);
	ag_counter_inc(ag_metrics_counter(gw->metrics, "aegis_uploads_total", "Uploads by outcome", labels));
}

static void upload_discard_work(uv_work_t *w)
{
	upload_discard *d = w->data;
	ag_storage_abort(d->writer);
}

static void upload_discard_done(uv_work_t *w, int status)
{
	upload_discard *d = w->data;
	d->gw->busy--;
	free(d);
}

/* Remove a partial object off the loop thread (unlink is blocking I/O). */
static void upload_discard_writer(gateway *gw, ag_storage_writer *w)
{
	upload_discard *d = malloc(sizeof *d);
	if (d) {
		d->gw = gw;
		d->writer = w;
		d->work.data = d;
		gw->busy++;
		if (uv_queue_work(gw->loop, &d->work, upload_discard_work, upload_discard_done) == 0)
			return;
		gw->busy--;
		free(d);
	}
	ag_storage_abort(w); /* last resort: briefly block the loop rather than leak a partial file */
}

static void upload_buffers_grew(gateway *gw, size_t n)
{
	gw->upload_buffered += n;
	if (gw->upload_buffered > gw->upload_peak)
		gw->upload_peak = gw->upload_buffered;
}

static void upload_trim_work(uv_work_t *w)
{
	malloc_trim(0);
}

static void upload_trim_done(uv_work_t *w, int status)
{
	gateway *gw = w->data;
	gw->busy--;
	free(w);
}

/*
 * The last upload of a burst is gone: give the heap's free memory back to the system (thread pool). Without
 * this, glibc keeps what a burst of read-ahead buffers and connections used (a gateway that held 1,000 uploads
 * stayed at 160 MiB afterwards).
 */
static void upload_trim(gateway *gw)
{
	uv_work_t *w;
	if (gw->upload_buffered != 0 || gw->upload_peak < UPLOAD_TRIM_AFTER_BYTES || !(w = calloc(1, sizeof *w)))
		return;
	gw->upload_peak = 0;
	w->data = gw;
	gw->busy++;
	if (uv_queue_work(gw->loop, w, upload_trim_work, upload_trim_done) != 0) {
		gw->busy--;
		free(w);
	}
}

/* Precondition: !u->busy. Frees the upload and lets go of the request. */
static void upload_free(upload *u)
{
	gateway *gw = u->gw;
	ag_http_req *req = u->req;
	if (!u->outcome)
		ag_log_info("upload %s abandoned by the client after %llu bytes",
		            u->document_id[0] ? u->document_id : "(not started)", (unsigned long long)u->size);
	upload_count(gw, u->outcome ? u->outcome : "aborted");
	if (u->reserved)
		ag_log_warn(
		        "upload %s: Idempotency-Key reservation not released; it runs out after IDEMPOTENCY_LEASE_S",
		        u->job_id);
	if (u->writer)
		upload_discard_writer(gw, u->writer);
	ag_http_req_set_data(req, NULL);
	/* after an early answer the server may still need to read past (or linger over) the rest of the body */
	if (!u->aborted)
		ag_http_req_resume(req);
	ag_http_req_release(req);
	gw->busy--;
	ag_sha256_free(&u->sha);
	gw->upload_buffered -= u->cap + u->wcap;
	free(u->buf);
	free(u->wbuf);
	free(u);
	upload_trim(gw);
}

/* The request is over for us (answered, failed or abandoned) */
static bool upload_over(const upload *u)
{
	return u->answered || u->aborted || u->fail_status != 0;
}

static void upload_release_work(void *ud)
{
	upload *u = ud;
	PGconn *c = NULL;
	ag_trace_set_current(&u->trace);
	ag_err_clear(&u->err);
	u->st = ag_db_acquire(u->gw->db, &c, GATEWAY_DB_TIMEOUT_MS, &u->err);
	if (u->st == AG_OK) {
		u->st = submit_idem_release(c, u->owner, u->idem, u->job_id, &u->err);
		ag_db_release(u->gw->db, c);
	}
	ag_trace_set_current(NULL);
}

static void upload_end(upload *u);

static void upload_release_done(ag_http_req *req, void *ud)
{
	upload *u = ud;
	u->busy = false;
	if (u->st != AG_OK) /* it runs out after IDEMPOTENCY_LEASE_S */
		ag_log_warn("upload %s: could not release the Idempotency-Key: %s", u->job_id,
		            u->err.msg[0] ? u->err.msg : ag_status_str(u->st));
	u->reserved = false;
	upload_end(u);
}

/*
 * Precondition: !u->busy and the request is over. Lets the Idempotency-Key reservation go first (on the pool),
 * then sends the error answer decided (if any) and frees the upload.
 */
static void upload_end(upload *u)
{
	if (u->reserved) {
		u->busy = true;
		if (ag_http_req_defer(u->req, upload_release_work, upload_release_done, u) == AG_OK)
			return;
		u->busy = false; /* the reservation runs out on its own */
	}
	if (u->fail_status && !u->answered) {
		u->answered = true;
		if (u->fail_status == 503)
			ag_http_resp_header(u->req, "Retry-After", GATEWAY_RETRY_AFTER_S);
		if (u->fail_status == 409) {
			char ra[24];
			snprintf(ra, sizeof ra, "%lld", u->retry_after < 1 ? 1LL : u->retry_after);
			ag_http_resp_header(u->req, "Retry-After", ra);
		}
		ag_http_respond_problem(u->req, u->fail_status, "%s", u->fail_detail);
	}
	upload_free(u);
}

/* Decide an error answer once; it is sent when no work is in flight and the reservation is let go. */
static void upload_fail(upload *u, int status, const char *outcome, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
static void upload_fail(upload *u, int status, const char *outcome, const char *fmt, ...)
{
	va_list ap;
	if (!upload_over(u)) {
		va_start(ap, fmt);
		vsnprintf(u->fail_detail, sizeof u->fail_detail, fmt, ap);
		va_end(ap);
		u->fail_status = status;
		u->outcome = outcome;
	}
	if (!u->busy)
		upload_end(u);
}

/* A dependency failed: 503 when it may come back, 500 otherwise. Logs once (the HTTP layer has set the trace). */
static void upload_fail_dep(upload *u, ag_status st, const ag_err *err, const char *what)
{
	const char *msg = err->msg[0] ? err->msg : ag_status_str(st);
	if (ag_status_transient(st) && st != AG_E_INTERNAL && st != AG_E_NOMEM) {
		ag_log_warn("upload %s: %s failed: %s", u->document_id, what, msg);
		upload_fail(u, 503, "unavailable", "%s is temporarily unavailable; try again", what);
		return;
	}
	ag_log_error("upload %s: %s failed: %s", u->document_id, what, msg);
	upload_fail(u, 500, "error", "internal error");
}

static void upload_too_large(upload *u)
{
	upload_fail(u, 413, "too_large", "the file is larger than the limit of %lld bytes",
	            u->gw->cfg->max_upload_bytes);
}

/* Accept file bytes into the chunk buffer. */
static ag_status upload_take(upload *u, const char *data, size_t len)
{
	if (u->size + len > (uint64_t)u->gw->cfg->max_upload_bytes) {
		u->too_large = true;
		return AG_E_TOOBIG;
	}
	if (u->len + len > u->cap) {
		size_t cap = u->cap * 2 > u->len + len ? u->cap * 2 : u->len + len;
		char *nb = cap <= UPLOAD_BUF_MAX ? realloc(u->buf, cap) : NULL;
		if (!nb)
			return AG_E_NOMEM;
		upload_buffers_grew(u->gw, cap - u->cap);
		u->buf = nb;
		u->cap = cap;
	}
	memcpy(u->buf + u->len, data, len);
	u->len += len;
	u->size += len;
	return AG_OK;
}

/* ---- multipart callbacks ---- */

static ag_status upload_mp_part(void *ud, const multipart_part *p)
{
	upload *u = ud;
	u->in_file = false;
	if (u->file_seen || !p->cd.has_name || strcmp(p->cd.name, "file") != 0)
		return AG_OK;
	u->file_seen = true;
	u->in_file = true;
	if (p->cd.has_filename)
		filename_sanitize(p->cd.filename, strlen(p->cd.filename), u->filename);
	if (!hparams_media_type(p->content_type, u->mime, sizeof u->mime))
		u->mime[0] = '\0';
	return AG_OK;
}

static ag_status upload_mp_data(void *ud, const char *data, size_t len)
{
	upload *u = ud;
	return u->in_file ? upload_take(u, data, len) : AG_OK;
}

static ag_status upload_mp_end(void *ud)
{
	upload *u = ud;
	u->in_file = false;
	return AG_OK;
}

static const multipart_callbacks upload_mp_cb = {upload_mp_part, upload_mp_data, upload_mp_end};

/* ---- writing a chunk (thread pool) ---- */

static int64_t upload_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Extend the Idempotency-Key reservation once a third of its lease has passed (thread pool). */
static void upload_renew(upload *u)
{
	PGconn *c = NULL;
	ag_err err;
	ag_status st;
	if (!u->reserved || upload_now_ms() < u->renew_at_ms)
		return;
	ag_err_clear(&err);
	st = ag_db_acquire(u->gw->db, &c, GATEWAY_DB_TIMEOUT_MS, &err);
	if (st == AG_OK) {
		st = submit_idem_renew(c, u->owner, u->idem, u->job_id, u->gw->cfg->idem_lease_s, &err);
		ag_db_release(u->gw->db, c);
	}
	if (st == AG_E_CONFLICT) {
		u->st = st;
		u->err = err;
		return;
	}
	if (st != AG_OK) /* a database blip: go on; recording the job checks the reservation again */
		ag_log_warn("upload %s: could not renew the Idempotency-Key: %s", u->job_id,
		            err.msg[0] ? err.msg : ag_status_str(st));
	u->renew_at_ms = upload_now_ms() + u->gw->cfg->idem_lease_s * 1000 / 3;
}

static void upload_write_work(void *ud)
{
	upload *u = ud;
	ag_trace_set_current(&u->trace);
	ag_err_clear(&u->err);
	u->st = AG_OK;
	upload_renew(u);
	if (u->st == AG_OK && !u->writer && !u->check_only)
		u->st = ag_storage_writer_new(u->gw->storage, u->key, &u->writer, &u->err);
	if (u->st == AG_OK && !u->check_only)
		u->st = ag_storage_write(u->writer, u->wbuf, u->wlen, &u->err);
	if (u->st == AG_OK)
		ag_sha256_update(&u->sha, u->wbuf, u->wlen);
	ag_trace_set_current(NULL);
}

static void upload_complete(upload *u);
static void upload_write(upload *u);

/* Upload buffers take more than UPLOAD_BUFFER_MB: no upload reads ahead until some is given back. */
static bool upload_over_budget(const gateway *gw)
{
	return gw->upload_buffered > (size_t)gw->cfg->upload_buffer_mb * 1024 * 1024;
}

static void upload_write_done(ag_http_req *req, void *ud)
{
	upload *u = ud;
	u->busy = false;
	u->writing = false;
	if (upload_over(u)) {
		upload_end(u);
		return;
	}
	if (u->st == AG_E_CONFLICT) {
		u->reserved = false;
		u->retry_after = 1;
		upload_fail(u, 409, "idempotency_in_flight",
		            "another request took over this Idempotency-Key (this one made no progress for "
		            "IDEMPOTENCY_LEASE_S); try again later");
		return;
	}
	if (u->st != AG_OK) {
		upload_fail_dep(u, u->st, &u->err, "storage");
		return;
	}
	if (!u->check_only)
		ag_counter_add(ag_metrics_counter(u->gw->metrics, "aegis_upload_bytes_total",
		                                  "File bytes written to storage by uploads", NULL),
		               (double)u->wlen);
	u->wlen = 0;
	if (upload_over_budget(u->gw) && u->wcap > UPLOAD_BUF_INITIAL) { /* give back what read-ahead grew */
		u->gw->upload_buffered -= u->wcap;
		free(u->wbuf);
		u->wbuf = NULL;
		u->wcap = 0;
	}
	if (u->len > 0) { /* what was read meanwhile */
		upload_write(u);
		if (upload_over(u))
			return;
	} else if (u->ended) {
		upload_complete(u);
		return;
	}
	if (u->paused) {
		u->paused = false;
		ag_http_req_resume(req); /* may deliver the next chunk right away */
	}
}

/* Hand the buffered bytes to the thread pool (they move to wbuf); the body keeps being read meanwhile. */
static void upload_write(upload *u)
{
	char *b = u->wbuf;
	size_t c = u->wcap;
	u->wbuf = u->buf;
	u->wcap = u->cap;
	u->wlen = u->len;
	u->buf = b;
	u->cap = c;
	u->len = 0;
	u->busy = true;
	u->writing = true;
	if (ag_http_req_defer(u->req, upload_write_work, upload_write_done, u) != AG_OK) {
		u->busy = false;
		u->writing = false;
		upload_fail(u, 503, "unavailable", "the server is busy; try again");
	}
}

/* ---- finishing (thread pool): commit, record, publish ---- */

static void upload_doc(const upload *u, submit_doc *d)
{
	*d = (submit_doc){.document_id = u->document_id,
	                  .job_id = u->job_id,
	                  .owner = u->owner,
	                  .filename = u->filename,
	                  .mime = u->mime,
	                  .sha256 = u->sha_hex,
	                  .key = u->key,
	                  .idempotency_key = u->idem,
	                  .size = u->size,
	                  .trace = &u->trace};
}

static ag_status upload_record(upload *u, PGconn *c, ag_err *err)
{
	submit_doc d;
	ag_status st;
	upload_doc(u, &d);
	if ((st = ag_db_begin(c, err)) != AG_OK)
		return st;
	st = submit_record(c, &d, err);
	if (st == AG_OK && u->reserved)
		st = submit_idem_link(c, u->owner, u->idem, u->job_id, err);
	if (st == AG_OK)
		st = ag_db_commit(c, err);
	if (st == AG_OK)
		u->reserved = false; /* linked: the key is the job's now */
	if (st != AG_OK)
		ag_db_rollback(c);
	return st;
}

/*
 * "The same request" for an Idempotency-Key: the same file bytes (sha256 + size) under the same (sanitised)
 * filename. Then answer with the job it made (replayed), else refuse (422).
 */
static void upload_compare(upload *u, const submit_prior *prior)
{
	u->replayed = true;
	u->idem_clash = prior->size != u->size || strcmp(prior->sha256, u->sha_hex) != 0 ||
	                strcmp(prior->filename, u->filename) != 0;
	if (!u->idem_clash) {
		memcpy(u->job_id, prior->job_id, sizeof u->job_id);
		memcpy(u->document_id, prior->document_id, sizeof u->document_id);
	}
}

/*
 * Recording failed on the key: a job of this key exists (made before reservations, or by a request that took our
 * reservation over after it ran out), or our reservation was lost to a request still in flight (409). Our own
 * stored copy is removed by the caller.
 */
static ag_status upload_replay(upload *u, PGconn *c, ag_err *err)
{
	submit_prior prior;
	ag_status st = submit_prior_find(c, u->owner, u->idem, &prior, err);
	if (st == AG_E_NOTFOUND) {
		ag_err_clear(err);
		u->reserved = false;
		u->idem_lost = true;
		return AG_OK;
	}
	if (st != AG_OK)
		return st;
	upload_compare(u, &prior);
	return AG_OK;
}

static void upload_finish_work(void *ud)
{
	upload *u = ud;
	PGconn *c = NULL;
	ag_err derr;

	ag_trace_set_current(&u->trace);
	ag_err_clear(&u->err);
	ag_sha256_final_hex(&u->sha, u->sha_hex);

	u->failed_at = "storage";
	u->st = ag_storage_commit(u->writer, &u->err);
	u->writer = NULL; /* freed by commit whatever the outcome */
	if (u->st != AG_OK)
		goto out;

	u->failed_at = "the database";
	if (!u->idem[0]) { /* recorded together with the other uploads finishing now (submitq.h) */
		submit_doc d;
		upload_doc(u, &d);
		u->st = submitq_record(u->gw->submitq, &d, &u->err);
	} else if ((u->st = ag_db_acquire(u->gw->db, &c, GATEWAY_DB_TIMEOUT_MS, &u->err)) == AG_OK) {
		u->st = upload_record(u, c, &u->err);
		if (u->st == AG_E_EXISTS || u->st == AG_E_CONFLICT) {
			ag_err_clear(&u->err);
			u->st = upload_replay(u, c, &u->err);
		}
		if (u->reserved) { /* not linked: let the key go now, before the answer */
			ag_err_clear(&derr);
			if (submit_idem_release(c, u->owner, u->idem, u->job_id, &derr) == AG_OK)
				u->reserved = false;
		}
		ag_db_release(u->gw->db, c);
	}
	if (u->st != AG_OK || u->replayed || u->idem_lost) {
		ag_err_clear(&derr);
		if (ag_storage_delete(u->gw->storage, u->key, &derr) != AG_OK)
			ag_log_error("upload %s: could not remove the stored object %s: %s", u->document_id, u->key,
			             derr.msg);
		if (u->st != AG_OK)
			goto out;
	}
	u->failed_at = NULL;
	if (u->idem_lost) {
		ag_log_info("upload with an Idempotency-Key another request took over: refused");
		goto out;
	}
	if (u->replayed) {
		ag_log_info("upload with a used Idempotency-Key: %s",
		            u->idem_clash ? "another file, refused" : "replayed");
		goto out;
	}
	ag_log_info("upload %s stored (%llu bytes, sha256 %s); job %s queued", u->document_id,
	            (unsigned long long)u->size, u->sha_hex, u->job_id);
	submit_doc d;
	upload_doc(u, &d);
	submit_publish(u->gw, &d);
out:
	ag_trace_set_current(NULL);
}

static void upload_clash(upload *u)
{
	upload_fail(u, 422, "idempotency_clash",
	            "this Idempotency-Key was already used for another request (another file or filename); use a new "
	            "key for a new upload");
}

/* 202 with the job (made now, or replayed); then free. */
static void upload_accept(upload *u)
{
	char location[sizeof "/v1/jobs/" + UUID_TEXT_LEN];
	if (u->replayed)
		ag_http_resp_header(u->req, "Idempotent-Replayed", "true");
	u->outcome = u->replayed ? "replayed" : "accepted";
	u->answered = true;
	snprintf(location, sizeof location, "/v1/jobs/%s", u->job_id);
	ag_http_resp_header(u->req, "Location", location);
	ag_http_respond_json(u->req, 202, json_pack("{s:s, s:s}", "job_id", u->job_id, "document_id", u->document_id));
	upload_end(u);
}

static void upload_finish_done(ag_http_req *req, void *ud)
{
	upload *u = ud;
	u->busy = false;
	if (u->st != AG_OK) {
		if (u->st == AG_E_INVAL && u->failed_at && strcmp(u->failed_at, "the database") == 0) {
			/* a foreign key: the token's user no longer exists */
			ag_http_resp_header(req, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
			upload_fail(u, 401, "unauthorized", "the account of this token no longer exists");
			return;
		}
		upload_fail_dep(u, u->st, &u->err, u->failed_at ? u->failed_at : "storage");
		return;
	}
	if (u->idem_lost) {
		u->retry_after = 1;
		upload_fail(u, 409, "idempotency_in_flight",
		            "another request with this Idempotency-Key is in progress; try again later");
		return;
	}
	if (u->idem_clash) {
		upload_clash(u);
		return;
	}
	upload_accept(u);
}

/* The body is complete and every chunk written. */
static void upload_complete(upload *u)
{
	if (u->is_multipart && !multipart_complete(&u->mp)) {
		upload_fail(u, 400, "invalid", "the multipart body ended before its closing boundary");
		return;
	}
	if (u->is_multipart && !u->file_seen) {
		upload_fail(u, 400, "invalid", "the form has no \"file\" field");
		return;
	}
	if (u->size == 0) {
		upload_fail(u, 400, "empty", "the file is empty");
		return;
	}
	if (u->check_only) { /* the key's job exists: nothing was stored, compare and answer */
		ag_sha256_final_hex(&u->sha, u->sha_hex);
		upload_compare(u, &u->prior);
		if (u->idem_clash) {
			upload_clash(u);
			return;
		}
		upload_accept(u);
		return;
	}
	u->busy = true;
	if (ag_http_req_defer(u->req, upload_finish_work, upload_finish_done, u) != AG_OK) {
		u->busy = false;
		upload_fail(u, 503, "unavailable", "the server is busy; try again");
	}
}

/* ---- the request ---- */

/* After authentication: size, type and name checks. false when it answered (and freed u). */
static bool upload_prepare(upload *u)
{
	ag_http_req *req = u->req;
	long long max = u->gw->cfg->max_upload_bytes;
	const char *ct = ag_http_req_header(req, "Content-Type");
	const char *qname = ag_http_req_query(req, "filename");
	int64_t cl = ag_http_req_content_length(req);
	char boundary[AG_MULTIPART_BOUNDARY_MAX + 1];
	ag_status st = ct ? multipart_boundary(ct, boundary) : AG_E_UNSUPPORTED;

	if (st == AG_E_PROTO) {
		upload_fail(u, 400, "invalid", "multipart/form-data needs a boundary parameter of 1 to 70 characters");
		return false;
	}
	u->is_multipart = st == AG_OK;
	if (cl > (u->is_multipart ? max + UPLOAD_MULTIPART_SLACK : max)) {
		upload_too_large(u);
		return false;
	}
	if (!u->is_multipart && cl == 0) {
		upload_fail(u, 400, "empty", "the file is empty");
		return false;
	}

	filename_sanitize(qname, qname ? strlen(qname) : 0, u->filename);
	if (!qname && !u->is_multipart) {
		const char *cdv = ag_http_req_header(req, "Content-Disposition");
		disposition cd;
		if (cdv) {
			if (disposition_parse(cdv, &cd) != AG_OK) {
				upload_fail(u, 400, "invalid", "malformed Content-Disposition header");
				return false;
			}
			if (cd.has_filename)
				filename_sanitize(cd.filename, strlen(cd.filename), u->filename);
		}
	}
	if (u->is_multipart || !hparams_media_type(ct, u->mime, sizeof u->mime))
		u->mime[0] = '\0';
	const char *idem = ag_http_req_header(req, "Idempotency-Key");
	if (idem) {
		char why[96];
		if (!submit_idem_key_valid(idem, (size_t)u->gw->cfg->idem_key_max_bytes, why, sizeof why)) {
			upload_fail(u, 400, "invalid", "%s", why);
			return false;
		}
		snprintf(u->idem, sizeof u->idem, "%s", idem);
	}

	u->buf = malloc(UPLOAD_BUF_INITIAL);
	if (!u->buf) {
		upload_fail(u, 500, "error", "out of memory");
		return false;
	}
	u->cap = UPLOAD_BUF_INITIAL;
	upload_buffers_grew(u->gw, u->cap);
	uuid_v4(u->document_id);
	uuid_v4(u->job_id);
	snprintf(u->key, sizeof u->key, UPLOAD_KEY_PREFIX "%s", u->document_id);
	if (ag_sha256_init(&u->sha) != AG_OK) {
		upload_fail(u, 500, "error", "out of memory");
		return false;
	}
	if (u->is_multipart)
		multipart_init(&u->mp, boundary, &upload_mp_cb, u);
	return true;
}

/* Reserve the Idempotency-Key before any of the body is read (thread pool). */
static void upload_reserve_work(void *ud)
{
	upload *u = ud;
	PGconn *c = NULL;
	submit_idem r;
	ag_trace_set_current(&u->trace);
	ag_err_clear(&u->err);
	u->st = ag_db_acquire(u->gw->db, &c, GATEWAY_DB_TIMEOUT_MS, &u->err);
	if (u->st == AG_OK) {
		u->st = submit_idem_reserve(c, u->owner, u->idem, u->job_id, u->gw->cfg->idem_lease_s, &r, &u->err);
		ag_db_release(u->gw->db, c);
	}
	if (u->st == AG_OK) {
		u->reserved = r.state == SUBMIT_IDEM_HELD;
		u->check_only = r.state == SUBMIT_IDEM_DONE;
		u->idem_lost = r.state == SUBMIT_IDEM_IN_USE;
		u->retry_after = r.retry_after;
		u->prior = r.prior;
		u->renew_at_ms = upload_now_ms() + u->gw->cfg->idem_lease_s * 1000 / 3;
	}
	ag_trace_set_current(NULL);
}

static void upload_reserve_done(ag_http_req *req, void *ud)
{
	upload *u = ud;
	u->busy = false;
	if (upload_over(u)) {
		upload_end(u);
		return;
	}
	if (u->st == AG_E_INVAL) {
		/* a foreign key: the token's user no longer exists */
		ag_http_resp_header(req, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
		upload_fail(u, 401, "unauthorized", "the account of this token no longer exists");
		return;
	}
	if (u->st != AG_OK) {
		upload_fail_dep(u, u->st, &u->err, "the database");
		return;
	}
	if (u->idem_lost) {
		upload_fail(u, 409, "idempotency_in_flight",
		            "another request with this Idempotency-Key is in progress; try again after Retry-After "
		            "seconds");
		return;
	}
	ag_http_req_resume(req);
}

static void upload_authed(ag_http_req *req, const ag_jwt_claims *claims, void *ud)
{
	upload *u = ud;
	u->busy = false;
	if (u->aborted) {
		upload_end(u);
		return;
	}
	if (!claims) {
		u->answered = true; /* authn answered */
		u->outcome = "unauthorized";
		upload_free(u);
		return;
	}
	memcpy(u->owner, claims->sub, UUID_TEXT_LEN);
	u->owner[UUID_TEXT_LEN] = '\0';
	if (!upload_prepare(u))
		return;
	if (u->idem[0]) {
		u->busy = true;
		if (ag_http_req_defer(req, upload_reserve_work, upload_reserve_done, u) != AG_OK) {
			u->busy = false;
			upload_fail(u, 503, "unavailable", "the server is busy; try again");
		}
		return;
	}
	ag_http_req_resume(req);
}

static void upload_on_request(ag_http_req *req, void *ud)
{
	gateway *gw = ud;
	upload *u = calloc(1, sizeof *u);
	if (!u) {
		ag_http_respond_problem(req, 500, "out of memory");
		return;
	}
	u->gw = gw;
	u->req = req;
	u->trace = *ag_http_req_trace(req);
	ag_http_req_retain(req);
	ag_http_req_set_data(req, u);
	gw->busy++;
	ag_http_req_pause(req); /* no body until the caller is known */
	u->busy = true;
	authn_require(gw->authn, req, upload_authed, u);
}

static void upload_on_body(ag_http_req *req, const char *data, size_t len, void *ud)
{
	upload *u = ag_http_req_data(req);
	ag_status st;
	if (!u || upload_over(u))
		return;
	if ((u->busy && !u->writing) || u->paused) {
		/* the server delivered data while paused: losing it silently would corrupt the file */
		ag_log_error("upload %s: body data arrived while paused", u->document_id);
		upload_fail(u, 500, "error", "internal error");
		return;
	}
	u->body_bytes += len;
	if (u->is_multipart) {
		if (u->body_bytes > (uint64_t)u->gw->cfg->max_upload_bytes + UPLOAD_MULTIPART_SLACK) {
			upload_too_large(u);
			return;
		}
		st = multipart_feed(&u->mp, data, len);
		if (st != AG_OK && u->too_large) {
			upload_too_large(u);
			return;
		}
		if (st == AG_E_NOMEM) {
			upload_fail(u, 500, "error", "out of memory");
			return;
		}
		if (st != AG_OK) {
			upload_fail(u, 400, "invalid", "malformed multipart body: %s", multipart_error(&u->mp));
			return;
		}
	} else {
		st = upload_take(u, data, len);
		if (st == AG_E_TOOBIG) {
			upload_too_large(u);
			return;
		}
		if (st != AG_OK) {
			upload_fail(u, 500, "error", "out of memory");
			return;
		}
	}
	if (u->len > 0 && !u->writing)
		upload_write(u);
	else if ((u->len >= UPLOAD_AHEAD_BYTES || upload_over_budget(u->gw)) && !u->paused) {
		u->paused = true;
		ag_http_req_pause(req);
	}
}

static void upload_on_body_end(ag_http_req *req, void *ud)
{
	upload *u = ag_http_req_data(req);
	if (!u || upload_over(u))
		return;
	u->ended = true;
	if (!u->busy) /* else the write in flight finishes the upload (writing what was read meanwhile first) */
		upload_complete(u);
}

static void upload_on_abort(ag_http_req *req, void *ud)
{
	upload *u = ag_http_req_data(req);
	if (!u)
		return;
	u->aborted = true;
	if (!u->busy)
		upload_end(u);
}

const ag_http_route_ops upload_route = {
        .on_request = upload_on_request,
        .on_body = upload_on_body,
        .on_body_end = upload_on_body_end,
        .on_abort = upload_on_abort,
};
