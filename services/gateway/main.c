/*
 * main.c - the gateway: the public HTTP API of Aegis (port 8000).
 *
 * Users register and log in (proxied to the auth service over NATS), then
 * with a bearer token upload files (streamed to storage, recorded as a
 * document + job in PostgreSQL, announced on aegis.jobs.submitted) and read
 * back their jobs and documents. Readiness is NATS + PostgreSQL + storage;
 * the auth service may start later (its keys are fetched on demand).
 */
#include "admin_routes.h"
#include "apikey_routes.h"
#include "auth_routes.h"
#include "authn.h"
#include "documents.h"
#include "gateway.h"
#include "job_actions.h"
#include "webhooks.h"
#include "jobs.h"
#include "job_list.h"
#include "job_stream.h"
#include "ratelimit.h"
#include "webpage.h"
#include "mcp.h"
#include "search.h"
#include "oidc.h"
#include "openapi.h"
#include "submit.h"
#include "submitq.h"
#include "tus.h"
#include "upload.h"

#include "aegis/log.h"
#include "aegis/service.h"

#include <sodium.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

static gateway_cfg cfg;

static const ag_cfg_item cfg_items[] = {
        AG_CFG_COMMON_ITEMS(gateway_cfg, "8000"),
        {"MAX_UPLOAD_BYTES", AG_CFG_INT, offsetof(gateway_cfg, max_upload_bytes), "104857600", false, 1,
         1099511627776LL, false, "largest accepted upload in bytes; larger ones are refused with 413"},
        {"UPLOAD_BUFFER_MB", AG_CFG_INT, offsetof(gateway_cfg, upload_buffer_mb), "64", false, 1, 65536, false,
         "memory for reading upload bodies ahead of the disk (up to 1 MiB each), all POST /v1/files uploads "
         "together; past it each upload reads one 64 KiB chunk at a time"},
        {"UPLOAD_COMMIT_BATCH", AG_CFG_INT, offsetof(gateway_cfg, upload_commit_batch), "64", false, 1, 256, false,
         "most POST /v1/files uploads (without Idempotency-Key) that finish together and are recorded in PostgreSQL "
         "by one statement (group commit); 1 records each alone"},
        {"JWT_ISSUER", AG_CFG_STR, offsetof(gateway_cfg, jwt_issuer), "aegis", false, 0, 0, false,
         "issuer (iss) that bearer tokens must carry"},
        {"JWT_AUDIENCE", AG_CFG_STR, offsetof(gateway_cfg, jwt_audience), "aegis-api", false, 0, 0, false,
         "audience (aud) that bearer tokens must include"},
        {"GATEWAY_AUTH_TIMEOUT_MS", AG_CFG_INT, offsetof(gateway_cfg, auth_timeout_ms), "5000", false, 100, 60000,
         false, "how long to wait for the auth service (register, login, signing keys) over NATS"},
        {"GATEWAY_AUTH_CACHE_S", AG_CFG_INT, offsetof(gateway_cfg, auth_cache_s), "30", false, 0, 3600, false,
         "seconds an API key or an external identity, once verified, is trusted without asking the auth service "
         "(a revoked key or disabled user is refused within this time; 0 = ask every time)"},
        {"OIDC_ISSUER", AG_CFG_STR, offsetof(gateway_cfg, oidc_issuer), "", false, 0, 0, false,
         "external OIDC issuers whose tokens are accepted, comma-separated, each exactly as in their tokens' iss "
         "(empty: none)"},
        {"OIDC_AUDIENCE", AG_CFG_STR, offsetof(gateway_cfg, oidc_audience), "", false, 0, 0, false,
         "audience (aud) each OIDC issuer's tokens must include: one per issuer, or one for all"},
        {"OIDC_JWKS_URL", AG_CFG_STR, offsetof(gateway_cfg, oidc_jwks_url), "", false, 0, 0, false,
         "JWKS URL of each OIDC issuer, in the order of OIDC_ISSUER (may be an in-cluster address)"},
        {"OIDC_JWKS_TTL_S", AG_CFG_INT, offsetof(gateway_cfg, oidc_jwks_ttl_s), "600", false, 1, 86400, false,
         "seconds an OIDC issuer's keys are cached before they are fetched again (unknown kids refetch sooner)"},
        {"WEBHOOK_ALLOW_PRIVATE", AG_CFG_BOOL, offsetof(gateway_cfg, webhook_allow_private), "false", false, 0, 0,
         false, "accept webhook URLs whose host is a loopback or private address (tests, trusted networks only)"},
        SEARCH_CFG_ITEMS(gateway_cfg),
        {"IDEMPOTENCY_KEY_MAX_BYTES", AG_CFG_INT, offsetof(gateway_cfg, idem_key_max_bytes), "255", false, 1,
         SUBMIT_IDEM_KEY_LIMIT, false, "longest Idempotency-Key accepted on uploads; longer ones are refused with 400"},
        {"IDEMPOTENCY_LEASE_S", AG_CFG_INT, offsetof(gateway_cfg, idem_lease_s), "30", false, 2, 3600, false,
         "seconds an upload to POST /v1/files holds its Idempotency-Key against other requests (409) without "
         "progress (renewed while bytes flow); also how long a key stays held after its gateway died mid-upload"},
        {"TUS_EXPIRE_AFTER_S", AG_CFG_INT, offsetof(gateway_cfg, tus_expire_after_s), "86400", false, 1, 2592000, false,
         "seconds an unfinished resumable (tus) upload is kept after its last PATCH; then it expires (410)"},
        {"TUS_LOCK_TTL_S", AG_CFG_INT, offsetof(gateway_cfg, tus_lock_ttl_s), "30", false, 2, 3600, false,
         "seconds a tus PATCH holds its upload against other replicas without progress (renewed while bytes flow); "
         "also how long an upload stays locked after its gateway died mid-PATCH"},
        {"TUS_SWEEP_INTERVAL_S", AG_CFG_INT, offsetof(gateway_cfg, tus_sweep_interval_s), "60", false, 1, 86400, false,
         "every this many seconds each gateway sweeps for expired tus uploads and removes their stored bytes"},
        {"SSE_HEARTBEAT_S", AG_CFG_INT, offsetof(gateway_cfg, sse_heartbeat_s), "15", false, 1, 3600, false,
         "seconds between heartbeat comments on a job's event stream (each also re-reads missed events from "
         "PostgreSQL)"},
        {"SSE_MAX_STREAMS", AG_CFG_INT, offsetof(gateway_cfg, sse_max_streams), "256", false, 1, 100000, false,
         "job event streams (GET /v1/jobs/{id}/events) open at once per gateway; beyond, 503 + Retry-After"},
        {"JOBS_LIST_MAX_LIMIT", AG_CFG_INT, offsetof(gateway_cfg, jobs_list_max_limit), "100", false, 1,
         JOB_LIST_LIMIT_CEILING, false, "largest limit= accepted by GET /v1/jobs (larger: 400)"},
        {"RATE_LIMIT_PER_MINUTE", AG_CFG_INT, offsetof(gateway_cfg, rate_limit[0]), "60", false, 0, 1000000000, false,
         "requests per user (or per client IP without a token) per minute, shared by all replicas; 0 = off"},
        {"RATE_LIMIT_PER_HOUR", AG_CFG_INT, offsetof(gateway_cfg, rate_limit[1]), "1000", false, 0, 1000000000, false,
         "requests per user (or per client IP without a token) per hour; 0 = off"},
        {"RATE_LIMIT_PER_DAY", AG_CFG_INT, offsetof(gateway_cfg, rate_limit[2]), "10000", false, 0, 1000000000, false,
         "requests per user (or per client IP without a token) per day; 0 = off"},
        {"RATE_LIMIT_LOGIN_PER_MINUTE", AG_CFG_INT, offsetof(gateway_cfg, rate_limit_login[0]), "10", false, 0,
         1000000000, false, "login and register requests per client IP per minute; 0 = off"},
        {"RATE_LIMIT_LOGIN_PER_HOUR", AG_CFG_INT, offsetof(gateway_cfg, rate_limit_login[1]), "100", false, 0,
         1000000000, false, "login and register requests per client IP per hour; 0 = off"},
        {"RATE_LIMIT_LOGIN_PER_DAY", AG_CFG_INT, offsetof(gateway_cfg, rate_limit_login[2]), "500", false, 0,
         1000000000, false, "login and register requests per client IP per day; 0 = off"},
        {"RATE_LIMIT_CLEANUP_S", AG_CFG_INT, offsetof(gateway_cfg, rate_limit_cleanup_s), "300", false, 1, 86400, false,
         "seconds between deletions of ended rate-limit windows from PostgreSQL"},
};

/* The public API. A route has a buffered handler, or streaming ops. */
typedef struct gateway_route {
	ag_http_method method;
	const char *pattern;
	ag_http_handler handler;
	const ag_http_route_ops *streaming;
} gateway_route;

static const gateway_route routes[] = {
        {AG_HTTP_GET, "/v1/search", search_route, NULL},
        {AG_HTTP_POST, "/v1/mcp", mcp_route, NULL},
        {AG_HTTP_POST, "/api/v1/mcp", mcp_route, NULL},
        {AG_HTTP_GET, "/openapi.json", openapi_get, NULL},
        {AG_HTTP_POST, "/v1/auth/register", auth_routes_register, NULL},
        {AG_HTTP_POST, "/v1/auth/login", auth_routes_login, NULL},
        {AG_HTTP_POST, "/v1/auth/refresh", auth_routes_refresh, NULL},
        {AG_HTTP_POST, "/v1/auth/logout", auth_routes_logout, NULL},
        {AG_HTTP_POST, "/v1/auth/password", auth_routes_password, NULL},
        {AG_HTTP_GET, "/v1/auth/me", auth_routes_me, NULL},
        {AG_HTTP_GET, "/v1/auth/jwks", auth_routes_jwks, NULL},
        {AG_HTTP_GET, "/.well-known/jwks.json", auth_routes_jwks, NULL},
        {AG_HTTP_POST, "/v1/auth/api-keys", apikey_routes_create, NULL},
        {AG_HTTP_GET, "/v1/auth/api-keys", apikey_routes_list, NULL},
        {AG_HTTP_DELETE, "/v1/auth/api-keys/{}", apikey_routes_revoke, NULL},
        {AG_HTTP_GET, "/v1/admin/users", admin_routes_users, NULL},
        {AG_HTTP_POST, "/v1/admin/users/{}/disable", admin_routes_disable, NULL},
        {AG_HTTP_POST, "/v1/admin/users/{}/enable", admin_routes_enable, NULL},
        {AG_HTTP_PUT, "/v1/admin/users/{}/role", admin_routes_role, NULL},
        {AG_HTTP_POST, "/v1/admin/signing-keys/rotate", admin_routes_rotate, NULL},
        {AG_HTTP_POST, "/v1/files", NULL, &upload_route},
        {AG_HTTP_OPTIONS, "/v1/uploads", tus_options, NULL},
        {AG_HTTP_POST, "/v1/uploads", NULL, &tus_create_route},
        {AG_HTTP_HEAD, "/v1/uploads/{}", tus_head, NULL},
        {AG_HTTP_PATCH, "/v1/uploads/{}", NULL, &tus_patch_route},
        {AG_HTTP_DELETE, "/v1/uploads/{}", tus_delete, NULL},
        {AG_HTTP_OPTIONS, "/v1/uploads/{}", tus_options, NULL},
        {AG_HTTP_GET, "/v1/jobs/{}", jobs_get, NULL},
        {AG_HTTP_DELETE, "/v1/jobs/{}", job_actions_cancel, NULL},
        {AG_HTTP_POST, "/v1/jobs/{}/cancel", job_actions_cancel, NULL},
        {AG_HTTP_POST, "/v1/jobs/{}/retry", job_actions_retry, NULL},
        {AG_HTTP_POST, "/v1/documents/{}/reprocess", job_actions_reprocess, NULL},
        {AG_HTTP_GET, "/v1/admin/dead-letters", job_actions_dead_letters, NULL},
        {AG_HTTP_POST, "/v1/webhooks", webhooks_create, NULL},
        {AG_HTTP_GET, "/v1/webhooks", webhooks_list, NULL},
        {AG_HTTP_DELETE, "/v1/webhooks/{}", webhooks_delete, NULL},
        {AG_HTTP_GET, "/v1/webhooks/{}/deliveries", webhooks_deliveries, NULL},
        {AG_HTTP_GET, "/v1/documents", documents_list, NULL},
        {AG_HTTP_GET, "/v1/documents/{}", documents_get, NULL},
        {AG_HTTP_GET, "/v1/documents/{}/content", documents_content, NULL},
        {AG_HTTP_GET, "/v1/jobs", job_list_get, NULL},
        {AG_HTTP_GET, "/v1/jobs/{}/events", job_stream_get, NULL},
        {AG_HTTP_GET, "/", webpage_get, NULL},
};

/* Rules beyond each item's own bounds. */
static int gateway_check(const void *c, FILE *report)
{
	const gateway_cfg *g = c;
	int problems = 0;
	if (!g->jwt_issuer || !*g->jwt_issuer || strlen(g->jwt_issuer) >= sizeof((ag_jwt_claims *)0)->iss) {
		fprintf(report, "config: JWT_ISSUER must be 1 to %zu characters\n",
		        sizeof((ag_jwt_claims *)0)->iss - 1);
		problems++;
	}
	if (!g->jwt_audience || !*g->jwt_audience || strlen(g->jwt_audience) >= sizeof((ag_jwt_claims *)0)->aud) {
		fprintf(report, "config: JWT_AUDIENCE must be 1 to %zu characters\n",
		        sizeof((ag_jwt_claims *)0)->aud - 1);
		problems++;
	}
	oidc *o = NULL;
	char why[256] = "";
	if (oidc_new(&o, g->oidc_issuer, g->oidc_audience, g->oidc_jwks_url, g->oidc_jwks_ttl_s, 1000, why,
	             sizeof why) != AG_OK) {
		fprintf(report, "config: %s\n", why[0] ? why : "the OIDC settings are not usable");
		problems++;
	}
	oidc_free(o);
	return problems;
}

static bool gateway_drained(void *ud)
{
	gateway *gw = ud;
	return gw->busy == 0 && !authn_busy(gw->authn);
}

static ag_status gateway_bind_routes(ag_http_server *http, gateway *gw)
{
	for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
		const gateway_route *r = &routes[i];
		ag_status st = r->streaming ? ag_http_route(http, r->method, r->pattern, r->streaming, gw)
		                            : ag_http_route_simple(http, r->method, r->pattern, r->handler, gw);
		if (st != AG_OK) {
			ag_log_error("cannot register route %s: %s", r->pattern, ag_status_str(st));
			return st;
		}
	}
	return AG_OK;
}

/* Job event streams, the tus expiry sweep and shared rate limits; a part that cannot start is logged and left
 * out. */
static void gateway_live_start(gateway *gw, ag_http_server *http)
{
	ag_err err;
	ag_err_clear(&err);
	if (job_stream_hub_new(&gw->streams, gw, &err) != AG_OK)
		ag_log_error("job event streams are off: %s", err.msg);
	tus_sweeper_start(gw);
	if (ratelimit_new(&gw->ratelimit, gw) == AG_OK)
		ag_http_server_set_filter(http, ratelimit_filter, gw->ratelimit);
	else
		ag_log_error("rate limits are off: out of memory");
}

/* Drain start (and before the loop's end): event streams end now, the rate-limit clean-up and tus sweep timers
 * stop. */
static void gateway_live_stop(void *ud)
{
	gateway *gw = ud;
	job_stream_hub_stop(gw->streams);
	ratelimit_stop(gw->ratelimit);
	tus_sweeper_stop();
}

int main(int argc, char **argv)
{
	const ag_service_spec spec = {
	        .name = "gateway",
	        .items = cfg_items,
	        .nitems = sizeof cfg_items / sizeof cfg_items[0],
	        .cfg = &cfg,
	        .common = &cfg.common,
	        .needs = AG_NEEDS_DB | AG_NEEDS_BUS | AG_NEEDS_STORAGE,
	        .check = gateway_check,
	};
	ag_service *svc = NULL;
	int code = 1;

	if (sodium_init() < 0) {
		fprintf(stderr, "gateway: libsodium could not be initialised\n");
		return 1;
	}
	if (argc == 2 && strcmp(argv[1], "--routes") == 0) { /* the route table, for tests/integration/openapi.sh */
		for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
			openapi_print_route(stdout, routes[i].method, routes[i].pattern);
		return 0;
	}
	if (ag_service_start(&svc, &spec, argc, argv, &code) != AG_OK)
		return code;

	gateway gw = {
	        .cfg = &cfg,
	        .loop = ag_service_loop(svc),
	        .db = ag_service_db(svc),
	        .bus = ag_service_bus(svc),
	        .storage = ag_service_storage(svc),
	        .metrics = ag_service_metrics(svc),
	};
	oidc *ext = NULL;
	char why[256] = "";
	if (oidc_new(&ext, cfg.oidc_issuer, cfg.oidc_audience, cfg.oidc_jwks_url, cfg.oidc_jwks_ttl_s,
	             (int)cfg.auth_timeout_ms, why, sizeof why) != AG_OK ||
	    authn_new(&gw.authn, gw.loop, gw.bus, cfg.jwt_issuer, cfg.jwt_audience, (int)cfg.auth_timeout_ms) !=
	            AG_OK ||
	    submitq_new(&gw.submitq, gw.db, (int)cfg.upload_commit_batch, gw.metrics) != AG_OK ||
	    gateway_bind_routes(ag_service_http(svc), &gw) != AG_OK) {
		ag_log_error("gateway could not start%s%s", why[0] ? ": " : "", why);
		ag_service_free(svc);
		authn_free(gw.authn);
		submitq_free(gw.submitq);
		oidc_free(ext);
		return 1;
	}
	authn_set_cache(gw.authn, (int)cfg.auth_cache_s, ext);
	ag_err werr;
	ag_err_clear(&werr);
	if (authn_watch(gw.authn, &werr) != AG_OK)
		ag_log_warn("not listening for signing-key changes: %s (new keys are found after the refetch cooldown)",
		            werr.msg);
	ag_service_on_drain(svc, NULL, gateway_drained, &gw);
	gateway_live_start(&gw, ag_service_http(svc));
	ag_service_on_drain(svc, gateway_live_stop, NULL, &gw);
	authn_prefetch(gw.authn);

	code = ag_service_run(svc);
	gateway_live_stop(&gw);  /* before the bus goes (a no-op after the drain) */
	authn_unwatch(gw.authn); /* before the bus goes */
	ag_service_free(svc);    /* runs the loop dry first: late callbacks still see gw and authn */
	authn_free(gw.authn);
	oidc_free(ext);
	job_stream_hub_free(gw.streams);
	ratelimit_free(gw.ratelimit);
	submitq_free(gw.submitq);
	return code;
}
