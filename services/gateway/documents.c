/*
 * documents.c - reading the caller's documents (see documents.h). Queries
 * and JSON building run on the thread pool; the loop thread only answers.
 */
#include "documents.h"

#include "cursor.h"
#include "gateway.h"
#include "uuid.h"

#include "aegis/log.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DOCUMENTS_TS_MAX 40 /* "YYYY-MM-DDTHH:MM:SS.uuuuuuZ" */

typedef struct documents_call {
	gateway *gw;
	ag_trace trace;
	char owner[UUID_TEXT_LEN + 1];
	char id[UUID_TEXT_LEN + 1];
	const char *admin; /* "t" when the caller is an admin: reads any owner's document by id */
	/* list */
	long long limit;
	bool has_cursor;
	char cursor_ts[DOCUMENTS_TS_MAX];
	char cursor_id[UUID_TEXT_LEN + 1];
	/* results */
	ag_status st;
	ag_err err;
	json_t *body;      /* get, list; NULL with AG_OK = not found */
	PGresult *content; /* content: one row (has_text, text), cleared in done */
} documents_call;

typedef void (*documents_query_fn)(documents_call *c, PGconn *conn);
typedef void (*documents_done_fn)(ag_http_req *req, void *ud);

/* Acquire a connection, run fn, release; errors land in c->st / c->err. */
static void documents_run(documents_call *c, documents_query_fn fn)
{
	PGconn *conn = NULL;
	ag_trace_set_current(&c->trace);
	ag_err_clear(&c->err);
	c->st = ag_db_acquire(c->gw->db, &conn, GATEWAY_DB_TIMEOUT_MS, &c->err);
	if (c->st == AG_OK) {
		fn(c, conn);
		ag_db_release(c->gw->db, conn);
	}
	ag_trace_set_current(NULL);
}

/* Parse a jsonb column; `fallback` (stolen) when NULL or unparsable. */
static json_t *documents_jsonb(const PGresult *res, int col, json_t *fallback)
{
	json_error_t jerr;
	json_t *v;
	if (PQgetisnull(res, 0, col))
		return fallback;
	v = json_loadb(PQgetvalue(res, 0, col), (size_t)PQgetlength(res, 0, col), JSON_DECODE_ANY, &jerr);
	if (!v) {
		ag_log_warn("unparsable jsonb from PostgreSQL: %s", jerr.text);
		return fallback;
	}
	json_decref(fallback);
	return v;
}

/* ---- GET /v1/documents/{id} ---- */

static void documents_get_query(documents_call *c, PGconn *conn)
{
	PGresult *r = NULL;
	const char *params[] = {c->id, c->owner, c->admin};
	c->st = ag_db_exec(
	        conn,
	        "SELECT d.id, d.filename, d.size, d.sha256, coalesce(d.sniffed_mime, d.claimed_mime), " GATEWAY_SQL_TS(
	                "d.created_at") ", m.metadata, a.summary, a.keywords, a.language, a.category, a.pii "
	                                "FROM documents d "
	                                "LEFT JOIN document_metadata m ON m.document_id = d.id "
	                                "LEFT JOIN ai_results a ON a.document_id = d.id "
	                                "WHERE d.id = $1 AND (d.owner_id = $2 OR $3::boolean)",
	        3, params, &r, &c->err);
	if (c->st != AG_OK || PQntuples(r) == 0)
		goto out;
	json_t *ai = json_pack("{s:o, s:o, s:o, s:o, s:o}", "summary", gateway_json_text(r, 0, 7), "keywords",
	                       documents_jsonb(r, 8, json_array()), "language", gateway_json_text(r, 0, 9), "category",
	                       gateway_json_text(r, 0, 10), "pii", documents_jsonb(r, 11, json_null()));
	c->body = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "id", gateway_json_text(r, 0, 0), "filename",
	                    gateway_json_text(r, 0, 1), "size", gateway_json_int(r, 0, 2), "sha256",
	                    gateway_json_text(r, 0, 3), "mime", gateway_json_text(r, 0, 4), "created_at",
	                    gateway_json_text(r, 0, 5), "metadata", documents_jsonb(r, 6, json_object()), "ai", ai);
	if (!c->body)
		c->st = ag_err_set(&c->err, AG_E_NOMEM, "could not build the document JSON");
out:
	PQclear(r);
}

static void documents_get_work(void *ud)
{
	documents_run(ud, documents_get_query);
}

static void documents_json_done(ag_http_req *req, void *ud)
{
	documents_call *c = ud;
	if (c->st == AG_E_INVAL && c->has_cursor) /* a cursor PostgreSQL refused: treat as a bad cursor */
		ag_http_respond_problem(req, 400, "the cursor is not valid");
	else if (c->st != AG_OK)
		gateway_respond_error(req, c->st, &c->err, "the database");
	else if (!c->body)
		ag_http_respond_problem(req, 404, "document not found");
	else
		ag_http_respond_json(req, 200, c->body);
	free(c);
}

/* ---- GET /v1/documents/{id}/content ---- */

static void documents_content_query(documents_call *c, PGconn *conn)
{
	const char *params[] = {c->id, c->owner, c->admin};
	c->st = ag_db_exec(conn,
	                   "SELECT c.document_id IS NOT NULL, c.text FROM documents d "
	                   "LEFT JOIN document_content c ON c.document_id = d.id "
	                   "WHERE d.id = $1 AND (d.owner_id = $2 OR $3::boolean)",
	                   3, params, &c->content, &c->err);
}

static void documents_content_work(void *ud)
{
	documents_run(ud, documents_content_query);
}

static void documents_content_done(ag_http_req *req, void *ud)
{
	documents_call *c = ud;
	const PGresult *r = c->content;
	if (c->st != AG_OK)
		gateway_respond_error(req, c->st, &c->err, "the database");
	else if (PQntuples(r) == 0)
		ag_http_respond_problem(req, 404, "document not found");
	else if (strcmp(PQgetvalue(r, 0, 0), "t") != 0)
		ag_http_respond_problem(req, 404, "content not extracted yet");
	else
		ag_http_respond(req, 200, "text/plain; charset=utf-8", PQgetvalue(r, 0, 1),
		                (size_t)PQgetlength(r, 0, 1));
	PQclear(c->content);
	free(c);
}

/* ---- GET /v1/documents ---- */

/* Microseconds since the epoch -> RFC 3339 UTC text PostgreSQL parses exactly (no float on the way). */
static bool documents_us_to_ts(int64_t us, char *out, size_t outsz)
{
	int64_t secs = us / 1000000, frac = us % 1000000;
	struct tm tm;
	if (frac < 0) {
		frac += 1000000;
		secs--;
	}
	time_t t = (time_t)secs;
	if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 < 1 || tm.tm_year + 1900 > 9999)
		return false;
	int n = snprintf(out, outsz, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900, tm.tm_mon + 1,
	                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)frac);
	return n > 0 && (size_t)n < outsz;
}

static void documents_list_query(documents_call *c, PGconn *conn)
{
	PGresult *r = NULL;
	char limit[24];
	json_t *items = NULL;
	snprintf(limit, sizeof limit, "%lld", c->limit + 1); /* one more tells whether a next page exists */
	const char *params[] = {c->owner, limit, c->cursor_ts, c->cursor_id};

#define DOCUMENTS_LIST_COLS                                                                 \
	"SELECT id, filename, size, coalesce(sniffed_mime, claimed_mime), " GATEWAY_SQL_TS( \
	        "created_at") ", "                                                          \
	                      "(extract(epoch FROM created_at) * 1000000)::bigint FROM documents WHERE owner_id = $1 "
	if (c->has_cursor)
		c->st = ag_db_exec(conn,
		                   DOCUMENTS_LIST_COLS "AND (created_at, id) < ($3::timestamptz, $4::uuid) "
		                                       "ORDER BY created_at DESC, id DESC LIMIT $2",
		                   4, params, &r, &c->err);
	else
		c->st = ag_db_exec(conn, DOCUMENTS_LIST_COLS "ORDER BY created_at DESC, id DESC LIMIT $2", 2, params,
		                   &r, &c->err);
#undef DOCUMENTS_LIST_COLS
	if (c->st != AG_OK)
		goto out;
	int n = PQntuples(r);
	int shown = n > c->limit ? (int)c->limit : n;
	items = json_array();
	for (int i = 0; i < shown; i++)
		json_array_append_new(items, json_pack("{s:o, s:o, s:o, s:o, s:o}", "id", gateway_json_text(r, i, 0),
		                                       "filename", gateway_json_text(r, i, 1), "size",
		                                       gateway_json_int(r, i, 2), "mime", gateway_json_text(r, i, 3),
		                                       "created_at", gateway_json_text(r, i, 4)));
	json_t *cursor = cursor_next_json(r, shown, 5);
	if (!cursor) {
		c->st = ag_err_set(&c->err, AG_E_INTERNAL, "could not encode the next cursor");
		json_decref(items);
		goto out;
	}
	c->body = json_pack("{s:o, s:o}", "items", items, "next_cursor", cursor);
	if (!c->body)
		c->st = ag_err_set(&c->err, AG_E_NOMEM, "could not build the list JSON");
out:
	PQclear(r);
}

static void documents_list_work(void *ud)
{
	documents_run(ud, documents_list_query);
}

/* ---- requests ---- */

static void documents_defer(ag_http_req *req, documents_call *c, void (*work)(void *), documents_done_fn done)
{
	if (ag_http_req_defer(req, work, done, c) != AG_OK) {
		gateway_respond_unavailable(req, "the server is busy; try again");
		free(c);
	}
}

/* A call for an authenticated request on /v1/documents/{id}…; NULL when it already answered. */
static documents_call *documents_call_for_id(ag_http_req *req, const ag_jwt_claims *claims, gateway *gw)
{
	const char *id = ag_http_req_param(req, 0);
	documents_call *c;
	if (!claims)
		return NULL;
	if (!uuid_valid(id)) {
		ag_http_respond_problem(req, 404, "document not found");
		return NULL;
	}
	c = calloc(1, sizeof *c);
	if (!c) {
		ag_http_respond_problem(req, 500, "out of memory");
		return NULL;
	}
	c->gw = gw;
	c->trace = *ag_http_req_trace(req);
	memcpy(c->owner, claims->sub, UUID_TEXT_LEN);
	memcpy(c->id, id, UUID_TEXT_LEN);
	c->admin = strcmp(claims->role, "admin") == 0 ? "t" : "f";
	return c;
}

static void documents_get_authed(ag_http_req *req, const ag_jwt_claims *claims, void *ud)
{
	documents_call *c = documents_call_for_id(req, claims, ud);
	if (c)
		documents_defer(req, c, documents_get_work, documents_json_done);
}

static void documents_content_authed(ag_http_req *req, const ag_jwt_claims *claims, void *ud)
{
	documents_call *c = documents_call_for_id(req, claims, ud);
	if (c)
		documents_defer(req, c, documents_content_work, documents_content_done);
}

static void documents_list_authed(ag_http_req *req, const ag_jwt_claims *claims, void *ud)
{
	const char *limit = ag_http_req_query(req, "limit");
	const char *cursor = ag_http_req_query(req, "cursor");
	long long lim = DOCUMENTS_LIMIT_DEFAULT;
	int64_t us = 0;
	char cid[UUID_TEXT_LEN + 1];
	documents_call *c;

	if (!claims)
		return;
	if (limit && !ag_cfg_parse_ll(limit, 1, DOCUMENTS_LIMIT_MAX, &lim)) {
		ag_http_respond_problem(req, 400, "limit must be a whole number from 1 to %d", DOCUMENTS_LIMIT_MAX);
		return;
	}
	c = calloc(1, sizeof *c);
	if (!c) {
		ag_http_respond_problem(req, 500, "out of memory");
		return;
	}
	if (cursor) {
		if (cursor_decode(cursor, &us, cid) != AG_OK ||
		    !documents_us_to_ts(us, c->cursor_ts, sizeof c->cursor_ts)) {
			free(c);
			ag_http_respond_problem(req, 400, "the cursor is not valid");
			return;
		}
		c->has_cursor = true;
		memcpy(c->cursor_id, cid, sizeof cid);
	}
	c->gw = ud;
	c->trace = *ag_http_req_trace(req);
	c->limit = lim;
	memcpy(c->owner, claims->sub, UUID_TEXT_LEN);
	documents_defer(req, c, documents_list_work, documents_json_done);
}

void documents_get(ag_http_req *req, void *gw)
{
	gateway *g = gw;
	authn_require(g->authn, req, documents_get_authed, gw);
}

void documents_content(ag_http_req *req, void *gw)
{
	gateway *g = gw;
	authn_require(g->authn, req, documents_content_authed, gw);
}

void documents_list(ag_http_req *req, void *gw)
{
	gateway *g = gw;
	authn_require(g->authn, req, documents_list_authed, gw);
}
