/*
 * jobs.c - GET /v1/jobs/{id} (see jobs.h): the job, its steps with their
 * attempts history (step_attempts) and its dead letters. The job row and its steps are
 * read on the thread pool and turned into JSON there; the loop thread only
 * sends the answer.
 */
#include "jobs.h"

#include "gateway.h"
#include "uuid.h"

#include "aegis/log.h"

#include <stdlib.h>
#include <string.h>

static const char *const jobs_steps[] = {"validate", "metadata", "content", "ai"}; /* pipeline order */
#define JOBS_NSTEPS (sizeof jobs_steps / sizeof jobs_steps[0])

typedef struct jobs_call {
	gateway *gw;
	ag_trace trace;
	char owner[UUID_TEXT_LEN + 1];
	char id[UUID_TEXT_LEN + 1];
	const char *admin; /* "t" when the caller is an admin: reads any owner's job by id */
	ag_status st;
	ag_err err;
	json_t *body; /* NULL with st == AG_OK: not found */
} jobs_call;

/* The attempts history of step `name`: rows of step_attempts (step, attempt, delivery, outcome, error_code,
 * error, started_at, finished_at, worker), oldest first. */
static json_t *jobs_history_json(const PGresult *hist, const char *name)
{
	json_t *a = json_array();
	for (int r = 0; hist && r < PQntuples(hist); r++) {
		if (strcmp(PQgetvalue(hist, r, 0), name) != 0)
			continue;
		json_array_append_new(
		        a,
		        json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "attempt", gateway_json_int(hist, r, 1),
		                  "delivery", gateway_json_int(hist, r, 2), "outcome", gateway_json_text(hist, r, 3),
		                  "error_code", gateway_json_text(hist, r, 4), "error", gateway_json_text(hist, r, 5),
		                  "started_at", gateway_json_text(hist, r, 6), "finished_at",
		                  gateway_json_text(hist, r, 7), "worker", gateway_json_text(hist, r, 8)));
	}
	return a;
}

static json_t *jobs_steps_json(const PGresult *res, const PGresult *hist)
{
	json_t *steps = json_array();
	for (size_t i = 0; i < JOBS_NSTEPS; i++) {
		json_t *s = NULL;
		for (int r = 0; r < PQntuples(res); r++) {
			if (strcmp(PQgetvalue(res, r, 0), jobs_steps[i]) == 0) {
				s = json_pack("{s:s, s:o, s:o, s:o, s:o, s:o}", "name", jobs_steps[i], "state",
				              gateway_json_text(res, r, 1), "attempts", gateway_json_int(res, r, 2),
				              "error", gateway_json_text(res, r, 3), "error_code",
				              gateway_json_text(res, r, 4), "history",
				              jobs_history_json(hist, jobs_steps[i]));
				break;
			}
		}
		if (!s)
			s = json_pack("{s:s, s:s, s:i, s:n, s:n, s:[]}", "name", jobs_steps[i], "state", "pending",
			              "attempts", 0, "error", "error_code", "history");
		json_array_append_new(steps, s);
	}
	return steps;
}

static void jobs_get_work(void *ud)
{
	jobs_call *c = ud;
	PGconn *conn = NULL;
	PGresult *job = NULL, *steps = NULL, *hist = NULL, *dead = NULL;
	const char *params[] = {c->id, c->owner, c->admin};

	ag_trace_set_current(&c->trace);
	ag_err_clear(&c->err);
	c->st = ag_db_acquire(c->gw->db, &conn, GATEWAY_DB_TIMEOUT_MS, &c->err);
	if (c->st != AG_OK)
		goto out;
	c->st = ag_db_exec(
	        conn,
	        "SELECT id, document_id, state, " GATEWAY_SQL_TS("created_at") ", " GATEWAY_SQL_TS(
	                "finished_at") ", error, error_code FROM jobs WHERE id = $1 AND (owner_id = $2 OR $3::boolean)",
	        3, params, &job, &c->err);
	if (c->st != AG_OK || PQntuples(job) == 0)
		goto out;
	c->st = ag_db_exec(conn, "SELECT name, state, attempt, error, error_code FROM job_steps WHERE job_id = $1", 1,
	                   params, &steps, &c->err);
	if (c->st == AG_OK)
		c->st = ag_db_exec(conn,
		                   "SELECT step, attempt, delivery, outcome, error_code, error, " GATEWAY_SQL_TS(
		                           "started_at") ", " GATEWAY_SQL_TS("finished_at") ", worker "
		                                                                            "FROM step_attempts WHERE "
		                                                                            "job_id = $1 ORDER BY id",
		                   1, params, &hist, &c->err);
	if (c->st == AG_OK)
		c->st = ag_db_exec(conn,
		                   "SELECT step, attempt, deliveries, error, " GATEWAY_SQL_TS(
		                           "created_at") " FROM dead_letters WHERE job_id = $1 ORDER BY id",
		                   1, params, &dead, &c->err);
	if (c->st != AG_OK)
		goto out;
	json_t *dl = json_array();
	for (int r = 0; r < PQntuples(dead); r++)
		json_array_append_new(
		        dl, json_pack("{s:o, s:o, s:o, s:o, s:o}", "step", gateway_json_text(dead, r, 0), "attempt",
		                      gateway_json_int(dead, r, 1), "deliveries", gateway_json_int(dead, r, 2), "error",
		                      gateway_json_text(dead, r, 3), "created_at", gateway_json_text(dead, r, 4)));
	c->body = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "id", gateway_json_text(job, 0, 0),
	                    "document_id", gateway_json_text(job, 0, 1), "state", gateway_json_text(job, 0, 2), "steps",
	                    jobs_steps_json(steps, hist), "created_at", gateway_json_text(job, 0, 3), "finished_at",
	                    gateway_json_text(job, 0, 4), "error", gateway_json_text(job, 0, 5), "error_code",
	                    gateway_json_text(job, 0, 6), "dead_letters", dl);
	if (!c->body)
		c->st = ag_err_set(&c->err, AG_E_NOMEM, "could not build the job JSON");
out:
	if (conn)
		ag_db_release(c->gw->db, conn);
	PQclear(job);
	PQclear(steps);
	PQclear(hist);
	PQclear(dead);
	ag_trace_set_current(NULL);
}

static void jobs_get_done(ag_http_req *req, void *ud)
{
	jobs_call *c = ud;
	if (c->st != AG_OK)
		gateway_respond_error(req, c->st, &c->err, "the database");
	else if (!c->body)
		ag_http_respond_problem(req, 404, "job not found");
	else
		ag_http_respond_json(req, 200, c->body);
	free(c);
}

static void jobs_get_authed(ag_http_req *req, const ag_jwt_claims *claims, void *ud)
{
	const char *id = ag_http_req_param(req, 0);
	jobs_call *c;
	if (!claims)
		return;
	if (!uuid_valid(id)) {
		ag_http_respond_problem(req, 404, "job not found");
		return;
	}
	c = calloc(1, sizeof *c);
	if (!c) {
		ag_http_respond_problem(req, 500, "out of memory");
		return;
	}
	c->gw = ud;
	c->trace = *ag_http_req_trace(req);
	memcpy(c->owner, claims->sub, UUID_TEXT_LEN);
	memcpy(c->id, id, UUID_TEXT_LEN);
	c->admin = strcmp(claims->role, "admin") == 0 ? "t" : "f";
	if (ag_http_req_defer(req, jobs_get_work, jobs_get_done, c) != AG_OK) {
		gateway_respond_unavailable(req, "the server is busy; try again");
		free(c);
	}
}

void jobs_get(ag_http_req *req, void *gw)
{
	gateway *g = gw;
	authn_require(g->authn, req, jobs_get_authed, gw);
}
