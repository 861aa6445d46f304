/*
 * tus_priv.h - what the three files of the tus endpoint share and nothing
 * else: tus.c (POST and PATCH, the streaming requests, and the answers
 * every tus request gives the same way), tus_store.c (the uploads row,
 * leases, finishing an upload, the expiry sweep) and tus_calls.c (OPTIONS,
 * HEAD, DELETE). Not a public header: the routes are in tus.h.
 */
#ifndef GATEWAY_TUS_PRIV_H
#define GATEWAY_TUS_PRIV_H

#include "filename.h"
#include "gateway.h"
#include "hparams.h"
#include "submit.h"
#include "uuid.h"

#include "aegis/http.h"
#include "aegis/status.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TUS_VERSION    "1.0.0"
#define TUS_DOC_PREFIX "documents/"
#define TUS_KEY_MAX    (sizeof TUS_DOC_PREFIX + UUID_TEXT_LEN)
#define TUS_DETAIL_MAX 256
#define TUS_NUM_MAX    24

/* The columns tus_row_read reads, in its order. */
#define TUS_ROW_COLS                                                                                   \
	"id, owner_id, document_id, job_id, storage_key, filename, claimed_mime, length, \"offset\", " \
	"extract(epoch FROM expires_at)::bigint"

/* SQL pieces of the questions asked about one upload (tus_load) */
#define TUS_SQL_OWNED   " FROM uploads WHERE id = $1 AND owner_id = $2"
#define TUS_SQL_EXPIRED "(state = 'expired' OR expires_at <= now())"
#define TUS_SQL_LOCKED  "COALESCE(lease_until > now(), false)" /* another request holds the lease */

/* What the uploads row says, as far as finishing needs it. */
typedef struct tus_row {
	char id[UUID_TEXT_LEN + 1];
	char owner[UUID_TEXT_LEN + 1];
	char document_id[UUID_TEXT_LEN + 1];
	char job_id[UUID_TEXT_LEN + 1];
	char key[TUS_KEY_MAX];
	char filename[AG_FILENAME_MAX_BYTES + 1];
	char mime[HPARAMS_MEDIA_TYPE_MAX + 1];
	int64_t length;
	int64_t offset;  /* durable */
	int64_t expires; /* unix seconds */
} tus_row;

typedef struct tus_x {
	gateway *gw;
	ag_http_req *req;
	ag_trace trace;
	bool creating; /* POST, else PATCH */
	tus_row row;
	char lease[UUID_TEXT_LEN + 1];
	const char *metadata; /* Upload-Metadata as sent (request lifetime) */
	char idem[SUBMIT_IDEM_KEY_LIMIT + 1];
	char fingerprint[SUBMIT_SHA256_HEX_LEN + 1];
	int64_t client_offset;
	int64_t announced; /* Content-Length, -1 when chunked or absent */
	bool with_body;

	ag_storage_writer *writer;
	char *buf;
	size_t len, cap;
	int64_t written; /* bytes written by this request past row.offset */
	int64_t renew_at_ms;

	bool busy, ended, aborted, answered, leased;
	const char *outcome;

	/* results of deferred work */
	ag_status st;
	ag_err err;
	int status; /* the work decided an error answer */
	char detail[TUS_DETAIL_MAX];
	int64_t retry_after; /* with 423 */
	bool replayed, completed;
} tus_x;

/* ---- tus.c: answers (loop thread) ---- */

void tus_header_num(ag_http_req *req, const char *name, int64_t v);
void tus_header_expires(ag_http_req *req, int64_t expires);
void tus_header_job(ag_http_req *req, const char *job_id); /* Upload-Job-Id + Location of the job */
void tus_problem(ag_http_req *req, int status, const char *detail);
/* The request states the protocol version we speak. false when it answered 412. */
bool tus_version_ok(ag_http_req *req);
/* A dependency failed: 503 when it may come back, 500 otherwise (logged once). */
void tus_respond_dep(ag_http_req *req, const char *id, ag_status st, const ag_err *err);

/* ---- tus_store.c: the uploads row and the stored bytes (thread pool unless said) ---- */

/* The work decided an error answer: x->status and x->detail. */
void tus_decide(tus_x *x, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int64_t tus_int(const PGresult *res, int col);      /* row 0; 0 when NULL */
void tus_row_read(tus_row *r, const PGresult *res); /* row 0, columns TUS_ROW_COLS first */
/* Upload row.id of row.owner by `sql` ($1, $2: ends in TUS_SQL_OWNED): one row in *res, or *res NULL and 404. */
ag_status tus_load(tus_x *x, PGconn *c, const char *sql, PGresult **res);
/* Take the lease of upload `id` of `owner` if it is free, receiving and not expired; AG_E_NOTFOUND otherwise. */
ag_status tus_lease_take(gateway *gw, PGconn *c, const char *id, const char *owner, const char *lease, tus_row *row,
                         ag_err *err);
/*
 * Why an upload cannot be served right now: sets x->status (404, 410, 409, 423) or x->completed (it is finished
 * and the client asks at its end).
 */
ag_status tus_explain(tus_x *x, PGconn *c);
/* Record the durable offset; with `keep` the lease is renewed, else released. AG_E_CONFLICT when it was lost. */
ag_status tus_record_offset(gateway *gw, PGconn *c, const tus_row *row, const char *lease, int64_t offset, bool keep,
                            int64_t *expires, ag_err *err);
/* Every byte is durable and the caller holds the lease: make the upload a document + job (redoable). */
ag_status tus_finish(gateway *gw, PGconn *c, const tus_row *row, const char *lease, const ag_trace *trace, ag_err *err);

#endif
