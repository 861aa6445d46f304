/*
 * gateway.h - the gateway's configuration struct and the state its route
 * files share (dependencies from ag_service, the bearer-token verifier),
 * plus the few answers every route gives the same way (503 with
 * Retry-After, database errors, PostgreSQL values as JSON).
 *
 * Threading: `gateway` is filled in main() before the loop runs and is
 * read-only afterwards, except `busy`, which only the loop thread touches.
 */
#ifndef GATEWAY_GATEWAY_H
#define GATEWAY_GATEWAY_H

#include "authn.h"

#include "aegis/bus.h"
#include "aegis/cfg.h"
#include "aegis/db.h"
#include "aegis/http.h"
#include "aegis/metrics.h"
#include "aegis/status.h"
#include "aegis/storage.h"

#include <jansson.h>
#include <libpq-fe.h>
#include <uv.h>

#define GATEWAY_DB_TIMEOUT_MS 2000 /* wait for a pooled PostgreSQL connection before answering 503 */
#define GATEWAY_RETRY_AFTER_S "2"  /* Retry-After on 503: dependencies usually come back within seconds */

/* RFC 3339 UTC with milliseconds, as SQL: to_char(<col> AT TIME ZONE 'UTC', …) gives NULL for NULL. */
#define GATEWAY_SQL_TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

typedef struct gateway_cfg {
	ag_common_cfg common;
	long long max_upload_bytes;
	long long upload_buffer_mb;
	long long upload_commit_batch; /* submitq.h */
	char *jwt_issuer;
	char *jwt_audience;
	long long auth_timeout_ms;
	long long auth_cache_s; /* API keys and external identities */
	char *oidc_issuer;      /* comma-separated lists (oidc.h) */
	char *oidc_audience;
	char *oidc_jwks_url;
	long long oidc_jwks_ttl_s;
	bool webhook_allow_private; /* webhooks may call loopback/private addresses (tests, trusted networks) */
	long long sse_heartbeat_s;  /* job_stream.h */
	long long sse_max_streams;
	long long jobs_list_max_limit; /* job_list.h */
	long long rate_limit[3];       /* ratelimit.h: per minute, hour, day; 0 = off */
	long long rate_limit_login[3]; /* login and register, per client IP */
	long long rate_limit_cleanup_s;
	long long idem_key_max_bytes;   /* Idempotency-Key on POST /v1/files and POST /v1/uploads; longer -> 400 */
	long long idem_lease_s;         /* an Idempotency-Key reservation of POST /v1/files (submit.h), renewed */
	long long tus_expire_after_s;   /* an unfinished tus upload untouched this long expires */
	long long tus_lock_ttl_s;       /* lease a tus PATCH holds on its upload, renewed while bytes flow */
	long long tus_sweep_interval_s; /* at most one sweep for expired uploads per interval */
	long long embed_dims;           /* search.h: hashed query embedding, = the ai-worker's AI_EMBED_DIMS */
	long long search_candidates;    /* search.h */
	char *ai_base_url;              /* embedq.h: query embeddings from an OpenAI-compatible server */
	char *ai_api_key;
	char *ai_embed_model; /* "" = the builtin hashed embedding */
	long long ai_timeout_ms;
} gateway_cfg;

typedef struct gateway {
	const gateway_cfg *cfg;
	uv_loop_t *loop;
	ag_db_pool *db;
	ag_bus *bus;
	ag_storage *storage;
	ag_metrics *metrics;
	authn *authn;
	int busy;               /* uploads and background clean-ups in flight (loop thread only); drain waits for 0 */
	size_t upload_buffered; /* bytes allocated for upload bodies (upload.c, loop thread only); UPLOAD_BUFFER_MB */
	size_t upload_peak;     /* the most upload_buffered since memory was last given back (upload.c) */
	struct job_stream_hub *streams; /* job_stream.h */
	struct ratelimit *ratelimit;    /* ratelimit.h */
	struct submitq *submitq;        /* submitq.h: group commit of POST /v1/files */
} gateway;

/* 503 problem+json with Retry-After. */
void gateway_respond_unavailable(ag_http_req *req, const char *detail);
/* Answer for a failed dependency call: logs it once, then 503 (+Retry-After) when `st` is transient, else 500. */
void gateway_respond_error(ag_http_req *req, ag_status st, const ag_err *err, const char *what);

/* Cell (row, col) as a JSON string, or JSON null when SQL NULL. NULL only when out of memory (json_object_set_new
 * then fails cleanly, and so does the answer). */
json_t *gateway_json_text(const PGresult *res, int row, int col);
/* Cell as a JSON integer (bigint text), or null when SQL NULL or unparsable. */
json_t *gateway_json_int(const PGresult *res, int row, int col);

/*
 * Define the route handler `void name(ag_http_req *req, void *gw)` of a file whose routes differ only by an action
 * code: authenticate the caller (authn_require), then call start(req, claims, gw, action).
 */
#define GATEWAY_AUTHED_ACTION(name, start, action)                                          \
	static void name##_authed_(ag_http_req *req, const ag_jwt_claims *claims, void *gw) \
	{                                                                                   \
		start(req, claims, gw, action);                                             \
	}                                                                                   \
	void name(ag_http_req *req, void *gw)                                               \
	{                                                                                   \
		authn_require(((gateway *)gw)->authn, req, name##_authed_, gw);             \
	}

#endif
