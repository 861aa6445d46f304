/*
 * tus_calls.c - the tus requests without a body (see tus.h): OPTIONS (what
 * the server speaks; no token needed), HEAD (where an upload stands, and
 * finishing one whose finishing request died) and DELETE (termination).
 * HEAD and DELETE are one short call each on the thread pool; the answers
 * and the uploads row are shared with the other tus files (tus_priv.h).
 */
#include "tus.h"

#include "tus_priv.h"

#include "aegis/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TUS_EXTENSIONS "creation,creation-with-upload,termination,expiration"

void tus_options(ag_http_req *req, void *ud)
{
	gateway *gw = ud;
	char max[TUS_NUM_MAX];
	snprintf(max, sizeof max, "%lld", gw->cfg->max_upload_bytes);
	ag_http_resp_header(req, "Tus-Resumable", TUS_VERSION);
	ag_http_resp_header(req, "Tus-Version", TUS_VERSION);
	ag_http_resp_header(req, "Tus-Extension", TUS_EXTENSIONS);
	ag_http_resp_header(req, "Tus-Max-Size", max);
	ag_http_respond(req, 204, NULL, NULL, 0);
}

/* HEAD and DELETE: a short call on the pool. */
typedef struct tus_call {
	tus_x x; /* row.id, row.owner, client_offset; status/detail/st/err as results */
	bool deleting;
	char metadata[AG_HTTP_MAX_HEADER_BYTES];
	bool has_metadata;
} tus_call;

/* HEAD: read the row; finish an upload whose finishing request died. */
static ag_status tus_head_step(tus_call *k, PGconn *c)
{
	tus_x *x = &k->x;
	PGresult *res = NULL;
	ag_status st = tus_load(
	        x, c, "SELECT " TUS_ROW_COLS ", state, " TUS_SQL_EXPIRED ", metadata, " TUS_SQL_LOCKED TUS_SQL_OWNED,
	        &res);
	if (st != AG_OK || !res)
		return st;
	tus_row_read(&x->row, res);
	x->completed = strcmp(PQgetvalue(res, 0, 10), "completed") == 0;
	bool expired = !x->completed && PQgetvalue(res, 0, 11)[0] == 't';
	bool locked = PQgetvalue(res, 0, 13)[0] == 't';
	k->has_metadata = !PQgetisnull(res, 0, 12);
	snprintf(k->metadata, sizeof k->metadata, "%s", PQgetvalue(res, 0, 12));
	PQclear(res);
	if (expired) {
		tus_decide(x, 410, "the upload expired; start a new one");
		return AG_OK;
	}
	/* every byte durable but no job yet: the finishing request died; finish now */
	if (!x->completed && x->row.offset == x->row.length && !locked) {
		ag_err e2;
		ag_err_clear(&e2);
		uuid_v4(x->lease);
		tus_row r;
		if (tus_lease_take(x->gw, c, x->row.id, x->row.owner, x->lease, &r, &e2) == AG_OK &&
		    r.offset == r.length) {
			if (tus_finish(x->gw, c, &r, x->lease, &x->trace, &e2) == AG_OK)
				x->completed = true;
			else
				ag_log_warn("tus upload %s: finishing failed: %s", x->row.id, e2.msg);
		}
	}
	return AG_OK;
}

/* DELETE: remove the row unless leased, then its bytes; else say why not. */
static ag_status tus_delete_step(tus_call *k, PGconn *c)
{
	tus_x *x = &k->x;
	PGresult *res = NULL;
	const char *p[] = {x->row.id, x->row.owner};
	ag_status st = ag_db_exec(c,
	                          "DELETE FROM uploads WHERE id = $1 AND owner_id = $2 "
	                          "AND (lease_until IS NULL OR lease_until < now()) RETURNING storage_key, state",
	                          2, p, &res, &x->err);
	if (st == AG_OK && PQntuples(res) == 1) {
		ag_err e2;
		ag_err_clear(&e2);
		/* a completed upload's bytes are the document's now (another key); this removes nothing then */
		if (ag_storage_delete(x->gw->storage, PQgetvalue(res, 0, 0), &e2) != AG_OK)
			ag_log_warn("tus upload %s terminated; its bytes stay: %s", x->row.id, e2.msg);
	} else if (st == AG_OK) {
		x->client_offset = -1;
		x->creating = true; /* tus_explain: a completed upload is not "at its end" here */
		st = tus_explain(x, c);
		if (x->status == 409 || x->status == 410) /* not locked after all: it went meanwhile */
			tus_decide(x, 404, "no such upload");
	}
	PQclear(res);
	return st;
}

/* HEAD or DELETE (thread pool): the upload row.id of row.owner, on one pooled connection. */
static void tus_call_work(void *ud)
{
	tus_call *k = ud;
	tus_x *x = &k->x;
	PGconn *c = NULL;
	ag_trace_set_current(&x->trace);
	ag_err_clear(&x->err);
	x->st = ag_db_acquire(x->gw->db, &c, GATEWAY_DB_TIMEOUT_MS, &x->err);
	if (x->st == AG_OK) {
		x->st = k->deleting ? tus_delete_step(k, c) : tus_head_step(k, c);
		ag_db_release(x->gw->db, c);
	}
	ag_trace_set_current(NULL);
}

static void tus_call_done(ag_http_req *req, void *ud)
{
	tus_call *k = ud;
	tus_x *x = &k->x;
	if (x->st != AG_OK) {
		tus_respond_dep(req, x->row.id, x->st, &x->err);
	} else if (x->status) {
		if (x->status == 423)
			tus_header_num(req, "Retry-After", x->retry_after);
		tus_problem(req, x->status, x->detail);
	} else if (k->deleting) {
		ag_http_resp_header(req, "Tus-Resumable", TUS_VERSION);
		ag_http_respond(req, 204, NULL, NULL, 0);
	} else {
		ag_http_resp_header(req, "Tus-Resumable", TUS_VERSION);
		ag_http_resp_header(req, "Cache-Control", "no-store");
		tus_header_num(req, "Upload-Offset", x->row.offset);
		tus_header_num(req, "Upload-Length", x->row.length);
		if (k->has_metadata && k->metadata[0])
			ag_http_resp_header(req, "Upload-Metadata", k->metadata);
		if (x->completed)
			tus_header_job(req, x->row.job_id);
		else
			tus_header_expires(req, x->row.expires);
		ag_http_respond(req, 200, NULL, NULL, 0);
	}
	free(k);
}

static void tus_call_authed(ag_http_req *req, const ag_jwt_claims *claims, void *ud, bool deleting)
{
	gateway *gw = ud;
	const char *id = ag_http_req_param(req, 0);
	if (!claims)
		return;
	if (!tus_version_ok(req))
		return;
	if (!id || !uuid_valid(id)) {
		tus_problem(req, 404, "no such upload");
		return;
	}
	tus_call *k = calloc(1, sizeof *k);
	if (!k) {
		ag_http_respond_problem(req, 500, "out of memory");
		return;
	}
	k->deleting = deleting;
	k->x.gw = gw;
	k->x.trace = *ag_http_req_trace(req);
	snprintf(k->x.row.id, sizeof k->x.row.id, "%s", id);
	memcpy(k->x.row.owner, claims->sub, UUID_TEXT_LEN);
	if (ag_http_req_defer(req, tus_call_work, tus_call_done, k) != AG_OK) {
		free(k);
		gateway_respond_unavailable(req, "the server is busy; try again");
	}
}

static void tus_head_authed(ag_http_req *req, const ag_jwt_claims *claims, void *ud)
{
	tus_call_authed(req, claims, ud, false);
}

static void tus_delete_authed(ag_http_req *req, const ag_jwt_claims *claims, void *ud)
{
	tus_call_authed(req, claims, ud, true);
}

void tus_head(ag_http_req *req, void *ud)
{
	gateway *gw = ud;
	authn_require(gw->authn, req, tus_head_authed, gw);
}

void tus_delete(ag_http_req *req, void *ud)
{
	gateway *gw = ud;
	authn_require(gw->authn, req, tus_delete_authed, gw);
}
