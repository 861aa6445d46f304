/*
 * authn.h - bearer-token authentication for the gateway's /v1 routes.
 *
 * Tokens are verified locally (ag_jwt_verify: EdDSA only, iss, aud, exp/nbf
 * with 60 s skew) against the auth service's public keys, fetched over NATS
 * (aegis.auth.jwks) and cached:
 *   - a token whose kid is not cached triggers one refetch, at most once per
 *     AUTHN_REFETCH_COOLDOWN_MS (bogus kids cannot hammer the auth service),
 *     except right after the auth service announced new keys
 *     (aegis.auth.keys.changed), so a rotation never locks out fresh tokens;
 *     concurrent refetches are single-flight;
 *   - until keys were loaded once, every request that needs them tries a
 *     (single-flight) fetch, so the first request after the auth service
 *     came up succeeds; while none can be had the answer is 503 (the token
 *     may be fine);
 *   - keys older than AUTHN_KEYS_TTL_MS are refreshed in the background, so
 *     a key the auth service stopped publishing stops being accepted.
 * A JWT once verified is remembered on the loop thread (AUTHN_VERIFIED_SLOTS tokens, each for at most
 * AUTHN_VERIFIED_TTL_MS, never past its exp or a change of the keys), so a client's many requests with one
 * token, and the rate-limit filter before each route, cost one signature check.
 * A bearer that starts with "agk_" is a personal API key: the auth service
 * verifies it (aegis.auth.apikey.verify) and the answer is cached. A token
 * whose iss is a configured external OIDC issuer is verified by oidc.h and
 * its subject mapped to a local user (aegis.auth.external).
 * Fetches block, so they run on the thread pool, never on the loop thread;
 * the cache is shared by threads under a mutex that is never held across
 * I/O.
 */
#ifndef GATEWAY_AUTHN_H
#define GATEWAY_AUTHN_H

#include "aegis/bus.h"
#include "aegis/http.h"
#include "aegis/jwt.h"
#include "aegis/status.h"

#include <stdbool.h>
#include <uv.h>

#define AUTHN_REFETCH_COOLDOWN_MS 10000
#define AUTHN_KEYS_TTL_MS         (10 * 60 * 1000)
#define AUTHN_SKEW_S              60
#define AUTHN_CACHE_SLOTS         256
#define AUTHN_VERIFIED_SLOTS      64    /* JWTs whose verification is remembered (authn.c) */
#define AUTHN_VERIFIED_TTL_MS     30000 /* ... for at most this long (and never past exp or a key change) */
#define AUTHN_APIKEY_PREFIX       "agk_"
#define AUTHN_JTI_APIKEY          "api-key" /* claims.jti of a caller authenticated by an API key */
#define AUTHN_JTI_OIDC            "oidc"    /* ... by a token of an external issuer (claims.iss names it) */

struct oidc;

typedef struct authn authn;

/* `bus`, `issuer` and `audience` must outlive the authn. `loop` is the loop the routes run on. */
ag_status authn_new(authn **out, uv_loop_t *loop, ag_bus *bus, const char *issuer, const char *audience,
                    int timeout_ms);
/*
 * API keys ("agk_…", verified by the auth service) and the local users of external identities are cached
 * for `seconds` (0: ask every time); a revoked key or a disabled user is refused within that time. `o`
 * (borrowed, may be NULL) verifies tokens of external OIDC issuers. Before the loop runs.
 */
void authn_set_cache(authn *a, int seconds, struct oidc *o);
/* "jwt" | "api_key" | "oidc": how the caller with these claims authenticated. */
const char *authn_via(const ag_jwt_claims *c);

/* Listen for the auth service's "signing keys changed" notification, which lifts the refetch cooldown. */
ag_status authn_watch(authn *a, ag_err *err);
/* Stop listening; before the bus is freed. NULL ok. */
void authn_unwatch(authn *a);
/* After authn_busy() turned false and authn_unwatch. NULL ok. */
void authn_free(authn *a);
/* Start loading the keys in the background (loop thread); failures are retried on demand. */
void authn_prefetch(authn *a);
/* A background fetch is running (loop thread). */
bool authn_busy(const authn *a);

/*
 * Called with the verified claims, or with NULL after authn_require has
 * already answered (401 + WWW-Authenticate, or 503) or the client went
 * away; either way exactly once, on the loop thread, possibly before
 * authn_require returns.
 */
typedef void (*authn_next)(ag_http_req *req, const ag_jwt_claims *claims, void *ud);

/* Authenticate `req` by its Authorization: Bearer header (loop thread). */
void authn_require(authn *a, ag_http_req *req, authn_next next, void *ud);

/* Answer GET /v1/auth/jwks and /.well-known/jwks.json: the cached keys as a JWK Set (kty OKP, crv Ed25519,
 * x, kid, alg EdDSA, use sig), loading them first when needed (loop thread). */
void authn_serve_jwks(authn *a, ag_http_req *req);

/* "Bearer <token>" -> token (pointer into header, *len bytes); false when absent or malformed. Pure. */
bool authn_bearer(const char *header, const char **token, size_t *len);

#endif
