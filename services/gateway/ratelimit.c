/*
 * ratelimit.c - the gateway's shared rate limits (ratelimit.h): the HTTP
 * filter that picks the key and limits of a request, the one upsert that
 * counts it (thread pool), the RateLimit headers and the 429, and the timer
 * that deletes ended windows.
 */
#include "ratelimit.h"

#include "gateway.h"

#include "aegis/log.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const int rl_window_s[RATELIMIT_WINDOWS] = {60, 3600, 86400};
static const char *const rl_window_name[RATELIMIT_WINDOWS] = {"minute", "hour", "day"};

struct ratelimit {
	gateway *gw;
	uv_timer_t cleanup;
	bool timer_open, cleaning;
	uint64_t warned_ms; /* loop thread */
};

typedef struct rl_call {
	ratelimit *rl;
	ag_trace trace;
	char key[RATELIMIT_KEY_MAX];
	const long long *limits; /* RATELIMIT_WINDOWS, from the config */
	ag_status st;
	ag_err err;
	long long count[RATELIMIT_WINDOWS];
	long long reset[RATELIMIT_WINDOWS]; /* seconds until the window ends */
	bool counted[RATELIMIT_WINDOWS];
} rl_call;

/* Routes anyone may call: counted per client IP even when a token comes along (it is not theirs to check). */
static const char *const rl_public[] = {
        "/v1/auth/refresh", "/v1/auth/logout", "/v1/auth/jwks", "/.well-known/jwks.json", "/", "/openapi.json"};
static const char *const rl_login[] = {"/v1/auth/login", "/v1/auth/register"};
static const char *const rl_exempt[] = {"/healthz", "/readyz", "/metrics"};

static bool rl_in(const char *route, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(route, list[i]) == 0)
			return true;
	return false;
}
#define RL_IN(route, list) rl_in(route, list, sizeof list / sizeof list[0])

static bool rl_any(const long long *limits)
{
	for (int i = 0; i < RATELIMIT_WINDOWS; i++)
		if (limits[i] > 0)
			return true;
	return false;
}

/* ---- counting (thread pool) ---- */

static void rl_count_work(void *ud)
{
	rl_call *c = ud;
	gateway *gw = c->rl->gw;
	PGconn *conn = NULL;
	PGresult *res = NULL;
	char windows[64] = "{";
	size_t wl = 1;
	for (int i = 0; i < RATELIMIT_WINDOWS; i++) {
		if (c->limits[i] <= 0)
			continue;
		int n = snprintf(windows + wl, sizeof windows - wl, "%s%d", wl > 1 ? "," : "", rl_window_s[i]);
		wl += n > 0 ? (size_t)n : 0;
	}
	snprintf(windows + wl, sizeof windows - wl, "}");
	const char *p[] = {c->key, windows};
	ag_trace_set_current(&c->trace);
	ag_err_clear(&c->err);
	c->st = ag_db_acquire(gw->db, &conn, GATEWAY_DB_TIMEOUT_MS, &c->err);
	if (c->st != AG_OK)
		goto out;
	/* one statement: bump (or start) every window of the key and read the counts back */
	c->st = ag_db_exec(conn,
	                   "WITH t AS (SELECT extract(epoch FROM now())::bigint AS now) "
	                   "INSERT INTO rate_limit_counters AS c (key, window_s, window_start, count) "
	                   "SELECT $1, w.s, (t.now / w.s) * w.s, 1 FROM unnest($2::int[]) AS w(s), t "
	                   "ON CONFLICT (key, window_s, window_start) DO UPDATE SET count = c.count + 1 "
	                   "RETURNING window_s, count, window_start + window_s - extract(epoch FROM now())::bigint",
	                   2, p, &res, &c->err);
	if (c->st != AG_OK)
		goto out;
	for (int r = 0; r < PQntuples(res); r++) {
		long long ws = 0, count = 0, reset = 0;
		if (!ag_cfg_parse_ll(PQgetvalue(res, r, 0), 1, INT_MAX, &ws) ||
		    !ag_cfg_parse_ll(PQgetvalue(res, r, 1), 0, LLONG_MAX, &count) ||
		    !ag_cfg_parse_ll(PQgetvalue(res, r, 2), LLONG_MIN, LLONG_MAX, &reset))
			continue;
		for (int i = 0; i < RATELIMIT_WINDOWS; i++) {
			if (rl_window_s[i] == ws) {
				c->counted[i] = true;
				c->count[i] = count;
				c->reset[i] = reset > 0 ? reset : 1;
			}
		}
	}
out:
	PQclear(res);
	if (conn)
		ag_db_release(gw->db, conn);
	ag_trace_set_current(NULL);
}

/* Headers for the tightest window; returns the Retry-After seconds when over a limit, else 0. */
static long long rl_headers(ag_http_req *req, const rl_call *c)
{
	int tight = -1;
	long long tight_left = LLONG_MAX, retry = 0;
	char policy[192] = "", now[192] = "";
	size_t pl = 0, nl = 0;
	for (int i = 0; i < RATELIMIT_WINDOWS; i++) {
		if (!c->counted[i] || c->limits[i] <= 0)
			continue;
		long long left = c->limits[i] - c->count[i];
		if (left < 0)
			left = 0;
		if (c->count[i] > c->limits[i] && c->reset[i] > retry)
			retry = c->reset[i];
		if (left < tight_left) {
			tight_left = left;
			tight = i;
		}
		int n = snprintf(policy + pl, sizeof policy - pl, "%s\"%s\";q=%lld;w=%d", pl ? ", " : "",
		                 rl_window_name[i], c->limits[i], rl_window_s[i]);
		pl += n > 0 && (size_t)n < sizeof policy - pl ? (size_t)n : 0;
		n = snprintf(now + nl, sizeof now - nl, "%s\"%s\";r=%lld;t=%lld", nl ? ", " : "", rl_window_name[i],
		             left, c->reset[i]);
		nl += n > 0 && (size_t)n < sizeof now - nl ? (size_t)n : 0;
	}
	if (tight < 0)
		return 0;
	char v[32];
	snprintf(v, sizeof v, "%lld", c->limits[tight]);
	ag_http_resp_header(req, "RateLimit-Limit", v);
	snprintf(v, sizeof v, "%lld", tight_left);
	ag_http_resp_header(req, "RateLimit-Remaining", v);
	snprintf(v, sizeof v, "%lld", retry > 0 ? retry : c->reset[tight]);
	ag_http_resp_header(req, "RateLimit-Reset", v);
	ag_http_resp_header(req, "RateLimit-Policy", policy);
	ag_http_resp_header(req, "RateLimit", now);
	return retry;
}

static void rl_count_done(ag_http_req *req, void *ud)
{
	rl_call *c = ud;
	ratelimit *rl = c->rl;
	if (c->st != AG_OK) {
		uint64_t now = uv_now(rl->gw->loop);
		if (!rl->warned_ms || now - rl->warned_ms >= RATELIMIT_WARN_MS) {
			rl->warned_ms = now;
			ag_log_warn("rate limits: cannot count requests (%s); letting them through",
			            c->err.msg[0] ? c->err.msg : ag_status_str(c->st));
		}
		free(c);
		ag_http_req_next(req);
		return;
	}
	long long retry = rl_headers(req, c);
	if (retry > 0) {
		char v[32];
		snprintf(v, sizeof v, "%lld", retry);
		ag_http_resp_header(req, "Retry-After", v);
		ag_http_respond_problem(req, 429, "too many requests; try again in %lld seconds", retry);
		free(c);
		return;
	}
	free(c);
	ag_http_req_next(req);
}

static void rl_count(ratelimit *rl, ag_http_req *req, const char *key, const long long *limits)
{
	rl_call *c = calloc(1, sizeof *c);
	if (!c) {
		ag_http_respond_problem(req, 500, "out of memory");
		return;
	}
	c->rl = rl;
	c->trace = *ag_http_req_trace(req);
	c->limits = limits;
	snprintf(c->key, sizeof c->key, "%s", key);
	if (ag_http_req_defer(req, rl_count_work, rl_count_done, c) != AG_OK) {
		free(c);
		gateway_respond_unavailable(req, "the server is busy; try again");
	}
}

/* ---- the filter (loop thread) ---- */

static void rl_user_authed(ag_http_req *req, const ag_jwt_claims *claims, void *ud)
{
	ratelimit *rl = ud;
	if (!claims)
		return; /* authn answered (401/503): the handler never runs, nothing counts */
	char key[RATELIMIT_KEY_MAX];
	snprintf(key, sizeof key, "u:%s", claims->sub);
	rl_count(rl, req, key, rl->gw->cfg->rate_limit);
}

void ratelimit_filter(ag_http_req *req, void *ud)
{
	ratelimit *rl = ud;
	const gateway_cfg *cfg = rl->gw->cfg;
	const char *route = ag_http_req_route(req);
	char key[RATELIMIT_KEY_MAX];
	if (!route || RL_IN(route, rl_exempt)) {
		ag_http_req_next(req);
		return;
	}
	if (RL_IN(route, rl_login)) {
		if (!rl_any(cfg->rate_limit_login)) {
			ag_http_req_next(req);
			return;
		}
		snprintf(key, sizeof key, "ip:%s:login", ag_http_req_peer(req));
		rl_count(rl, req, key, cfg->rate_limit_login);
		return;
	}
	if (!rl_any(cfg->rate_limit)) {
		ag_http_req_next(req);
		return;
	}
	if (ag_http_req_header(req, "Authorization") && ag_http_req_method(req) != AG_HTTP_OPTIONS &&
	    !RL_IN(route, rl_public)) {
		authn_require(rl->gw->authn, req, rl_user_authed, rl);
		return;
	}
	snprintf(key, sizeof key, "ip:%s", ag_http_req_peer(req));
	rl_count(rl, req, key, cfg->rate_limit);
}

/* ---- clean-up of ended windows ---- */

typedef struct rl_cleanup {
	uv_work_t work;
	ratelimit *rl;
	long long deleted;
	ag_status st;
	ag_err err;
} rl_cleanup;

static void rl_cleanup_work(uv_work_t *w)
{
	rl_cleanup *c = w->data;
	gateway *gw = c->rl->gw;
	PGconn *conn = NULL;
	PGresult *res = NULL;
	char grace[16];
	snprintf(grace, sizeof grace, "%d", RATELIMIT_GRACE_S);
	const char *p[] = {grace};
	ag_err_clear(&c->err);
	c->st = ag_db_acquire(gw->db, &conn, GATEWAY_DB_TIMEOUT_MS, &c->err);
	if (c->st == AG_OK) {
		c->st = ag_db_exec(conn,
		                   "DELETE FROM rate_limit_counters WHERE window_start + window_s < "
		                   "extract(epoch FROM now())::bigint - $1::int",
		                   1, p, &res, &c->err);
		if (c->st == AG_OK)
			c->deleted = ag_cfg_parse_ll(PQcmdTuples(res), 0, LLONG_MAX, &c->deleted) ? c->deleted : 0;
		PQclear(res);
		ag_db_release(gw->db, conn);
	}
}

static void rl_cleanup_after(uv_work_t *w, int status)
{
	rl_cleanup *c = w->data;
	(void)status;
	c->rl->cleaning = false;
	c->rl->gw->busy--;
	if (c->st != AG_OK)
		ag_log_warn("rate limits: deleting ended windows failed: %s (tried again later)",
		            c->err.msg[0] ? c->err.msg : ag_status_str(c->st));
	else if (c->deleted > 0)
		ag_log_debug("rate limits: deleted %lld ended counter rows", c->deleted);
	free(c);
}

static void rl_cleanup_tick(uv_timer_t *t)
{
	ratelimit *rl = t->data;
	if (rl->cleaning)
		return;
	rl_cleanup *c = calloc(1, sizeof *c);
	if (!c)
		return;
	c->rl = rl;
	c->work.data = c;
	if (uv_queue_work(rl->gw->loop, &c->work, rl_cleanup_work, rl_cleanup_after) != 0) {
		free(c);
		return;
	}
	rl->cleaning = true;
	rl->gw->busy++; /* the drain waits for it */
}

ag_status ratelimit_new(ratelimit **out, gateway *gw)
{
	*out = NULL;
	ratelimit *rl = calloc(1, sizeof *rl);
	if (!rl)
		return AG_E_NOMEM;
	rl->gw = gw;
	uv_timer_init(gw->loop, &rl->cleanup);
	rl->cleanup.data = rl;
	rl->timer_open = true;
	uint64_t ms = (uint64_t)gw->cfg->rate_limit_cleanup_s * 1000;
	uv_timer_start(&rl->cleanup, rl_cleanup_tick, ms, ms);
	uv_unref((uv_handle_t *)&rl->cleanup); /* never keeps the loop alive on its own */
	*out = rl;
	return AG_OK;
}

void ratelimit_stop(ratelimit *rl)
{
	if (!rl || !rl->timer_open)
		return;
	rl->timer_open = false;
	uv_close((uv_handle_t *)&rl->cleanup, NULL);
}

void ratelimit_free(ratelimit *rl)
{
	free(rl);
}
