/*
 * webhooks.c - registering, listing and deleting webhooks and listing their
 * deliveries (webhooks.h). The URL check resolves the host (blocking DNS),
 * so every route runs its work on the thread pool. Deliveries are enqueued
 * by a trigger on jobs (migrations/0006_webhooks.sql) and sent by the
 * orchestrator's webhook sender.
 */
#include "webhooks.h"

#include "aegis/cfg.h"
#include "aegis/log.h"
#include "aegis/str.h"
#include "aegis/webhook.h"
#include "authn.h"
#include "gateway.h"
#include "uuid.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WEBHOOKS_DELIVERIES_DEFAULT 50
#define WEBHOOKS_EVENTS_MAX         4 /* the distinct event names */
#define WEBHOOKS_EVENTS_TEXT        128
#define WEBHOOKS_PROBLEM_MAX        320

static const char *const webhooks_event_names[WEBHOOKS_EVENTS_MAX] = {"job.succeeded", "job.failed", "job.rejected",
                                                                      "job.cancelled"};

typedef enum { WH_CREATE, WH_LIST, WH_DELETE, WH_DELIVERIES } wh_kind;

typedef struct wh_call {
	gateway *gw;
	wh_kind kind;
	ag_trace trace;
	char owner[UUID_TEXT_LEN + 1];
	char id[UUID_TEXT_LEN + 1];
	char *url;                         /* create: malloc'd */
	char events[WEBHOOKS_EVENTS_TEXT]; /* create: PostgreSQL array literal */
	long long limit;
	ag_status st;
	ag_err err;
	int status;
	char problem[WEBHOOKS_PROBLEM_MAX];
	json_t *body;
} wh_call;

static void wh_problem(wh_call *c, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void wh_problem(wh_call *c, int status, const char *fmt, ...)
{
	va_list ap;
	c->status = status;
	va_start(ap, fmt);
	vsnprintf(c->problem, sizeof c->problem, fmt, ap);
	va_end(ap);
}

static json_t *wh_events_json(const PGresult *r, int row, int col);

static ag_status wh_create(wh_call *c, PGconn *conn)
{
	static const char sql_count[] = "SELECT count(*) FROM webhooks WHERE owner_id = $1";
	static const char sql_insert[] =
	        "INSERT INTO webhooks (id, owner_id, url, secret, events) VALUES ($1, $2, $3, $4, $5::text[]) "
	        "RETURNING " GATEWAY_SQL_TS("created_at") ", events";
	char secret[AG_WEBHOOK_SECRET_LEN + 1];
	PGresult *r = NULL;
	ag_err uerr;
	ag_err_clear(&uerr);
	ag_status st = ag_webhook_url_check(c->url, c->gw->cfg->webhook_allow_private, &uerr);
	if (st == AG_E_INVAL) {
		wh_problem(c, 422, "%s", uerr.msg);
		return AG_OK;
	}
	if (st != AG_OK) {
		c->err = uerr;
		return st;
	}
	/* The count and the insert race only with the caller's own concurrent registrations; the lock on the
	 * user row makes them one at a time. */
	const char *po[] = {c->owner};
	st = ag_db_exec(conn, "SELECT 1 FROM users WHERE id = $1 FOR UPDATE", 1, po, NULL, &c->err);
	if (st == AG_OK)
		st = ag_db_exec(conn, sql_count, 1, po, &r, &c->err);
	if (st != AG_OK)
		goto out;
	if (ag_str_to_i64(PQgetvalue(r, 0, 0), 0) >= WEBHOOKS_PER_USER_MAX) {
		wh_problem(c, 409, "at most %d webhooks per user; delete one first", WEBHOOKS_PER_USER_MAX);
		goto out;
	}
	PQclear(r);
	r = NULL;
	uuid_v4(c->id);
	ag_webhook_secret_new(secret);
	const char *p[] = {c->id, c->owner, c->url, secret, c->events};
	st = ag_db_exec(conn, sql_insert, 5, p, &r, &c->err);
	if (st != AG_OK)
		goto out;
	c->status = 201;
	c->body = json_pack("{s:s, s:s, s:o, s:s, s:o}", "id", c->id, "url", c->url, "events", wh_events_json(r, 0, 1),
	                    "secret", secret, "created_at", gateway_json_text(r, 0, 0));
	ag_log_info("webhook %s registered", c->id);
out:
	sodium_memzero(secret, sizeof secret);
	PQclear(r);
	return st;
}

static json_t *wh_events_json(const PGresult *r, int row, int col)
{
	/* text[] comes back as "{a,b}"; the names contain no commas, quotes or braces */
	json_t *a = json_array();
	const char *e = PQgetvalue(r, row, col);
	if (*e == '{')
		e++;
	while (*e && *e != '}') {
		size_t n = strcspn(e, ",}");
		json_array_append_new(a, json_stringn(e, n));
		e += n + (e[n] == ',');
	}
	return a;
}

static ag_status wh_list(wh_call *c, PGconn *conn)
{
	static const char sql[] = "SELECT id, url, events, " GATEWAY_SQL_TS(
	        "created_at") " FROM webhooks "
	                      "WHERE owner_id = $1 ORDER BY created_at DESC, id DESC";
	PGresult *r = NULL;
	const char *p[] = {c->owner};
	ag_status st = ag_db_exec(conn, sql, 1, p, &r, &c->err);
	if (st != AG_OK)
		goto out;
	json_t *items = json_array();
	for (int i = 0; i < PQntuples(r); i++)
		json_array_append_new(items, json_pack("{s:o, s:o, s:o, s:o}", "id", gateway_json_text(r, i, 0), "url",
		                                       gateway_json_text(r, i, 1), "events", wh_events_json(r, i, 2),
		                                       "created_at", gateway_json_text(r, i, 3)));
	c->status = 200;
	c->body = json_pack("{s:o}", "items", items);
out:
	PQclear(r);
	return st;
}

static ag_status wh_delete(wh_call *c, PGconn *conn)
{
	PGresult *r = NULL;
	const char *p[] = {c->id, c->owner};
	ag_status st = ag_db_exec(conn, "DELETE FROM webhooks WHERE id = $1 AND owner_id = $2 RETURNING id", 2, p, &r,
	                          &c->err);
	if (st == AG_OK) {
		if (PQntuples(r) == 0) {
			wh_problem(c, 404, "webhook not found");
		} else {
			c->status = 204;
			ag_log_info("webhook %s deleted by its owner", c->id);
		}
	}
	PQclear(r);
	return st;
}

static ag_status wh_deliveries(wh_call *c, PGconn *conn)
{
	static const char sql[] =
	        "SELECT d.id, d.job_id, d.event, d.status, d.attempts, d.last_status_code, "
	        "d.last_error, " GATEWAY_SQL_TS("d.next_at") ", " GATEWAY_SQL_TS("d.created_at") ", " GATEWAY_SQL_TS(
	                "d.delivered_at") " FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id "
	                                  "WHERE w.id = $1 AND w.owner_id = $2 ORDER BY d.id DESC LIMIT $3";
	PGresult *r = NULL;
	char limit[24];
	snprintf(limit, sizeof limit, "%lld", c->limit);
	const char *p[] = {c->id, c->owner, limit};
	ag_status st = ag_db_exec(conn, "SELECT 1 FROM webhooks WHERE id = $1 AND owner_id = $2", 2, p, &r, &c->err);
	if (st != AG_OK)
		goto out;
	if (PQntuples(r) == 0) {
		wh_problem(c, 404, "webhook not found");
		goto out;
	}
	PQclear(r);
	r = NULL;
	st = ag_db_exec(conn, sql, 3, p, &r, &c->err);
	if (st != AG_OK)
		goto out;
	json_t *items = json_array();
	for (int i = 0; i < PQntuples(r); i++)
		json_array_append_new(
		        items,
		        json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "id", gateway_json_int(r, i, 0),
		                  "job_id", gateway_json_text(r, i, 1), "event", gateway_json_text(r, i, 2), "status",
		                  gateway_json_text(r, i, 3), "attempts", gateway_json_int(r, i, 4), "last_status_code",
		                  gateway_json_int(r, i, 5), "last_error", gateway_json_text(r, i, 6), "next_at",
		                  gateway_json_text(r, i, 7), "created_at", gateway_json_text(r, i, 8), "delivered_at",
		                  gateway_json_text(r, i, 9)));
	c->status = 200;
	c->body = json_pack("{s:o}", "items", items);
out:
	PQclear(r);
	return st;
}

static void wh_work(void *ud)
{
	wh_call *c = ud;
	PGconn *conn = NULL;
	ag_trace_set_current(&c->trace);
	ag_err_clear(&c->err);
	c->st = ag_db_acquire(c->gw->db, &conn, GATEWAY_DB_TIMEOUT_MS, &c->err);
	if (c->st != AG_OK)
		goto out;
	if (c->kind == WH_CREATE) {
		c->st = ag_db_begin(conn, &c->err);
		if (c->st == AG_OK)
			c->st = wh_create(c, conn);
		if (c->st == AG_OK && c->status < 400)
			c->st = ag_db_commit(conn, &c->err);
		else
			ag_db_rollback(conn);
	} else if (c->kind == WH_LIST) {
		c->st = wh_list(c, conn);
	} else if (c->kind == WH_DELETE) {
		c->st = wh_delete(c, conn);
	} else {
		c->st = wh_deliveries(c, conn);
	}
out:
	if (conn)
		ag_db_release(c->gw->db, conn);
	if (c->st != AG_OK || c->status >= 400) {
		json_decref(c->body);
		c->body = NULL;
	}
	ag_trace_set_current(NULL);
}

static void wh_done(ag_http_req *req, void *ud)
{
	wh_call *c = ud;
	if (c->st != AG_OK)
		gateway_respond_error(req, c->st, &c->err,
		                      c->kind == WH_CREATE ? "the webhook URL check" : "the database");
	else if (c->status >= 400)
		ag_http_respond_problem(req, c->status, "%s", c->problem);
	else if (c->status == 204)
		ag_http_respond(req, 204, NULL, "", 0);
	else if (!c->body)
		ag_http_respond_problem(req, 500, "could not build the answer");
	else {
		if (c->kind == WH_CREATE) {
			char location[64];
			snprintf(location, sizeof location, "/v1/webhooks/%s", c->id);
			ag_http_resp_header(req, "Location", location);
		}
		ag_http_respond_json(req, c->status, c->body);
		c->body = NULL;
	}
	free(c->url);
	free(c);
}

/* Parse {url, events?} into c; false (and the 400/422 answered) when it is not acceptable. */
static bool wh_parse_create(ag_http_req *req, wh_call *c)
{
	size_t len = 0;
	const char *body = ag_http_req_body(req, &len);
	json_error_t je;
	json_t *j = body ? json_loadb(body, len, 0, &je) : NULL;
	bool ok = false;
	if (!json_is_object(j)) {
		ag_http_respond_problem(req, 400, "the body must be a JSON object {\"url\": ..., \"events\": [...]}");
		goto out;
	}
	const char *key;
	json_t *v;
	json_object_foreach(j, key, v)
	{
		if (strcmp(key, "url") != 0 && strcmp(key, "events") != 0) {
			ag_http_respond_problem(req, 400, "unknown member \"%.64s\"; expected url and events", key);
			goto out;
		}
	}
	json_t *url = json_object_get(j, "url"), *events = json_object_get(j, "events");
	if (!json_is_string(url) || json_string_length(url) == 0 || json_string_length(url) > AG_WEBHOOK_URL_MAX) {
		ag_http_respond_problem(req, 422, "url must be a string of 1 to %d characters", AG_WEBHOOK_URL_MAX);
		goto out;
	}
	if (events && !json_is_array(events) && !json_is_null(events)) {
		ag_http_respond_problem(req, 422, "events must be an array of event names");
		goto out;
	}
	bool want[WEBHOOKS_EVENTS_MAX] = {false};
	size_t i;
	json_t *e;
	json_array_foreach(events, i, e)
	{
		size_t k = 0;
		while (k < WEBHOOKS_EVENTS_MAX &&
		       !(json_is_string(e) && strcmp(json_string_value(e), webhooks_event_names[k]) == 0))
			k++;
		if (k == WEBHOOKS_EVENTS_MAX) {
			ag_http_respond_problem(
			        req, 422,
			        "unknown event in events; known: job.succeeded, job.failed, job.rejected, "
			        "job.cancelled");
			goto out;
		}
		want[k] = true;
	}
	/* no events (or an empty list) = all of them */
	bool any = false;
	for (size_t k = 0; k < WEBHOOKS_EVENTS_MAX; k++)
		any = any || want[k];
	ag_str_copy(c->events, sizeof c->events, "{");
	for (size_t k = 0; k < WEBHOOKS_EVENTS_MAX; k++) {
		if (any && !want[k])
			continue;
		size_t n = strlen(c->events);
		snprintf(c->events + n, sizeof c->events - n, "%s%s", n > 1 ? "," : "", webhooks_event_names[k]);
	}
	size_t n = strlen(c->events);
	snprintf(c->events + n, sizeof c->events - n, "}");
	c->url = strdup(json_string_value(url));
	if (!c->url) {
		ag_http_respond_problem(req, 500, "out of memory");
		goto out;
	}
	ok = true;
out:
	json_decref(j);
	return ok;
}

static void wh_start(ag_http_req *req, const ag_jwt_claims *claims, void *ud, wh_kind kind)
{
	if (!claims)
		return;
	const char *id = kind == WH_DELETE || kind == WH_DELIVERIES ? ag_http_req_param(req, 0) : NULL;
	if ((kind == WH_DELETE || kind == WH_DELIVERIES) && (!id || !uuid_valid(id))) {
		ag_http_respond_problem(req, 404, "webhook not found");
		return;
	}
	wh_call *c = calloc(1, sizeof *c);
	if (!c) {
		ag_http_respond_problem(req, 500, "out of memory");
		return;
	}
	c->gw = ud;
	c->kind = kind;
	c->trace = *ag_http_req_trace(req);
	c->limit = WEBHOOKS_DELIVERIES_DEFAULT;
	memcpy(c->owner, claims->sub, UUID_TEXT_LEN);
	if (id)
		memcpy(c->id, id, UUID_TEXT_LEN);
	if (kind == WH_DELIVERIES) {
		const char *l = ag_http_req_query(req, "limit");
		if (l && !ag_cfg_parse_ll(l, 1, WEBHOOKS_DELIVERIES_MAX, &c->limit)) {
			free(c);
			ag_http_respond_problem(req, 400, "limit must be an integer from 1 to %d",
			                        WEBHOOKS_DELIVERIES_MAX);
			return;
		}
	}
	if (kind == WH_CREATE && !wh_parse_create(req, c)) {
		free(c);
		return;
	}
	if (ag_http_req_defer(req, wh_work, wh_done, c) != AG_OK) {
		gateway_respond_unavailable(req, "the server is busy; try again");
		free(c->url);
		free(c);
	}
}

GATEWAY_AUTHED_ACTION(webhooks_create, wh_start, WH_CREATE)
GATEWAY_AUTHED_ACTION(webhooks_list, wh_start, WH_LIST)
GATEWAY_AUTHED_ACTION(webhooks_delete, wh_start, WH_DELETE)
GATEWAY_AUTHED_ACTION(webhooks_deliveries, wh_start, WH_DELIVERIES)
