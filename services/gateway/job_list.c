/*
 * job_list.c - GET /v1/jobs (job_list.h). The query and the JSON are built
 * on the thread pool; the loop thread only checks the parameters and
 * answers.
 */
#include "job_list.h"

#include "cursor.h"
#include "gateway.h"
#include "uuid.h"

#include "aegis/log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const job_list_states[] = {"queued", "running", "succeeded", "failed", "rejected", "cancelled"};

typedef struct job_list_call {
	gateway *gw;
	ag_trace trace;
	char owner[UUID_TEXT_LEN + 1];
	const char *state; /* one of job_list_states, or NULL for all */
	long long limit;
	bool has_cursor;
	char cursor_us[24];
	char cursor_id[UUID_TEXT_LEN + 1];
	ag_status st;
	ag_err err;
	json_t *body;
} job_list_call;

static void job_list_query(job_list_call *c, PGconn *conn)
{
	PGresult *r = NULL;
	char limit[24];
	snprintf(limit, sizeof limit, "%lld", c->limit + 1); /* one more tells whether a next page exists */
	const char *params[] = {c->owner, limit, c->state, c->has_cursor ? c->cursor_us : NULL,
	                        c->has_cursor ? c->cursor_id : NULL};
	/* the cursor's microseconds become a timestamptz exactly (no float on the way) */
	c->st = ag_db_exec(conn,
	                   "SELECT j.id, j.document_id, d.filename, j.state, " GATEWAY_SQL_TS(
	                           "j.created_at") ", " GATEWAY_SQL_TS("j.finished_at") ", j.error, j.error_code, "
	                                                                                "(extract(epoch FROM "
	                                                                                "j.created_at) * "
	                                                                                "1000000)::bigint "
	                                                                                "FROM jobs j JOIN documents d "
	                                                                                "ON d.id = j.document_id "
	                                                                                "WHERE j.owner_id = $1 "
	                                                                                "AND ($3::text IS NULL OR "
	                                                                                "j.state = $3) "
	                                                                                "AND ($4::bigint IS NULL OR "
	                                                                                "(j.created_at, j.id) < "
	                                                                                "('epoch'::timestamptz + "
	                                                                                "$4::bigint * interval '1 "
	                                                                                "microsecond', $5::uuid)) "
	                                                                                "ORDER BY j.created_at DESC, "
	                                                                                "j.id DESC LIMIT $2",
	                   5, params, &r, &c->err);
	if (c->st != AG_OK)
		goto out;
	int n = PQntuples(r);
	int shown = n > c->limit ? (int)c->limit : n;
	json_t *items = json_array();
	for (int i = 0; i < shown; i++)
		json_array_append_new(
		        items, json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "id", gateway_json_text(r, i, 0),
		                         "document_id", gateway_json_text(r, i, 1), "filename",
		                         gateway_json_text(r, i, 2), "state", gateway_json_text(r, i, 3), "created_at",
		                         gateway_json_text(r, i, 4), "finished_at", gateway_json_text(r, i, 5), "error",
		                         gateway_json_text(r, i, 6), "error_code", gateway_json_text(r, i, 7)));
	json_t *cursor = cursor_next_json(r, shown, 8);
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

static void job_list_work(void *ud)
{
	job_list_call *c = ud;
	PGconn *conn = NULL;
	ag_trace_set_current(&c->trace);
	ag_err_clear(&c->err);
	c->st = ag_db_acquire(c->gw->db, &conn, GATEWAY_DB_TIMEOUT_MS, &c->err);
	if (c->st == AG_OK) {
		job_list_query(c, conn);
		ag_db_release(c->gw->db, conn);
	}
	ag_trace_set_current(NULL);
}

static void job_list_done(ag_http_req *req, void *ud)
{
	job_list_call *c = ud;
	if (c->st == AG_E_INVAL && c->has_cursor) /* a cursor PostgreSQL refused: treat as a bad cursor */
		ag_http_respond_problem(req, 400, "the cursor is not valid");
	else if (c->st != AG_OK)
		gateway_respond_error(req, c->st, &c->err, "the database");
	else
		ag_http_respond_json(req, 200, c->body);
	free(c);
}

static void job_list_authed(ag_http_req *req, const ag_jwt_claims *claims, void *ud)
{
	gateway *gw = ud;
	const char *state = ag_http_req_query(req, "state");
	const char *limit = ag_http_req_query(req, "limit");
	const char *cursor = ag_http_req_query(req, "cursor");
	long long max = gw->cfg->jobs_list_max_limit;
	long long lim = JOB_LIST_LIMIT_DEFAULT < max ? JOB_LIST_LIMIT_DEFAULT : max;
	if (!claims)
		return;
	if (limit && !ag_cfg_parse_ll(limit, 1, max, &lim)) {
		ag_http_respond_problem(req, 400, "limit must be a whole number from 1 to %lld", max);
		return;
	}
	const char *known = NULL;
	if (state) {
		for (size_t i = 0; i < sizeof job_list_states / sizeof job_list_states[0]; i++)
			if (strcmp(state, job_list_states[i]) == 0)
				known = job_list_states[i];
		if (!known) {
			ag_http_respond_problem(req, 400,
			                        "state must be one of queued, running, succeeded, failed, rejected, "
			                        "cancelled");
			return;
		}
	}
	job_list_call *c = calloc(1, sizeof *c);
	if (!c) {
		ag_http_respond_problem(req, 500, "out of memory");
		return;
	}
	if (cursor) {
		int64_t us = 0;
		if (cursor_decode(cursor, &us, c->cursor_id) != AG_OK) {
			free(c);
			ag_http_respond_problem(req, 400, "the cursor is not valid");
			return;
		}
		snprintf(c->cursor_us, sizeof c->cursor_us, "%" PRId64, us);
		c->has_cursor = true;
	}
	c->gw = gw;
	c->trace = *ag_http_req_trace(req);
	c->limit = lim;
	c->state = known;
	memcpy(c->owner, claims->sub, UUID_TEXT_LEN);
	if (ag_http_req_defer(req, job_list_work, job_list_done, c) != AG_OK) {
		gateway_respond_unavailable(req, "the server is busy; try again");
		free(c);
	}
}

void job_list_get(ag_http_req *req, void *gw)
{
	authn_require(((gateway *)gw)->authn, req, job_list_authed, gw);
}
