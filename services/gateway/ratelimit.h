/*
 * ratelimit.h - request rate limits of the gateway, shared by its replicas.
 *
 * Every routed request except the probes (/healthz, /readyz, /metrics)
 * counts against fixed windows of one minute, one hour and one day:
 *   - login and register, per client IP, with their own (stricter) limits
 *     RATE_LIMIT_LOGIN_PER_MINUTE/_HOUR/_DAY;
 *   - any other request with a bearer token, per user (the token is
 *     verified first; a bad token is answered 401 and never counts);
 *   - any other request without one, and the public routes (refresh, keys,
 *     the web page, OPTIONS), per client IP;
 * both with RATE_LIMIT_PER_MINUTE/_HOUR/_DAY. A limit of 0 turns that
 * window off; all three 0 skips the database entirely. The counters live in
 * PostgreSQL (rate_limit_counters, migration 0004): one upsert per request
 * bumps every window of the key and returns the counts, so all replicas
 * spend one budget. Over a limit the answer is 429 problem+json with
 * Retry-After (seconds until every exceeded window has reset). Every
 * limited response carries RateLimit-Limit / RateLimit-Remaining /
 * RateLimit-Reset for the tightest window (draft-ietf-httpapi-ratelimit-
 * headers ≤ -06) and RateLimit-Policy / RateLimit (the current draft). When
 * PostgreSQL cannot be asked the request passes (logged), since the routes
 * behind depend on it anyway. Ended windows are deleted every
 * RATE_LIMIT_CLEANUP_S.
 */
#ifndef GATEWAY_RATELIMIT_H
#define GATEWAY_RATELIMIT_H

#include "aegis/http.h"
#include "aegis/status.h"

#define RATELIMIT_WINDOWS 3
#define RATELIMIT_KEY_MAX 96    /* "u:<uuid>:<class>" or "ip:<ipv6>:<class>" */
#define RATELIMIT_WARN_MS 10000 /* at most one "cannot count" warning per interval */
#define RATELIMIT_GRACE_S 60    /* rows are deleted this long after their window ended */

struct gateway;
typedef struct ratelimit ratelimit;

ag_status ratelimit_new(ratelimit **out, struct gateway *gw);
/* The HTTP server filter (ag_http_server_set_filter); `ud` is the ratelimit. */
void ratelimit_filter(ag_http_req *req, void *ud);
/* Stop the clean-up timer (loop thread; idempotent): at drain start and before the loop ends. */
void ratelimit_stop(ratelimit *rl);
/* After the loop ran dry. NULL ok. */
void ratelimit_free(ratelimit *rl);

#endif
