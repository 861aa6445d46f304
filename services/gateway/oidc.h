/*
 * oidc.h - access tokens of external OpenID Connect issuers (Keycloak,
 * Auth0, Entra ID, …), verified locally against each issuer's JWKS.
 *
 * Configuration: OIDC_ISSUER, OIDC_AUDIENCE and OIDC_JWKS_URL, each a
 * comma-separated list; issuer i uses JWKS URL i and audience i (or the
 * only audience given, for all). The issuer string must equal the token's
 * `iss` exactly (Keycloak: https://<public host>/realms/<realm>); the JWKS
 * URL may be an in-cluster address.
 *
 * Verification: the header's alg must be RS256 or ES256 (the allow-list;
 * `none`, HMAC and everything else are refused before any key is looked
 * at), typ absent, "JWT" or "at+jwt", no crit, a kid naming a key of the
 * matching type (RSA >= 2048 bits for RS256, EC P-256 for ES256); then the
 * signature (OpenSSL), then iss, aud (string or array), exp (required),
 * nbf and iat with OIDC_SKEW_S leeway, and a sub of 1..255 bytes.
 *
 * JWKS: fetched with libcurl (http/https only, no redirects, at most
 * OIDC_JWKS_MAX_BYTES, the gateway's auth timeout), on first use and when
 * older than OIDC_JWKS_TTL_S; a kid that is not cached triggers one
 * refetch, at most once per OIDC_REFETCH_COOLDOWN_S per issuer, single
 * flight. A failed refetch keeps the keys already loaded; with none loaded
 * the answer is 503 (the token may be fine).
 *
 * Thread-safety: oidc_verify may run on any thread (it blocks on HTTP);
 * each issuer's keys are guarded by a mutex never held across I/O, except
 * the fetch lock that makes refetches single-flight.
 */
#ifndef GATEWAY_OIDC_H
#define GATEWAY_OIDC_H

#include "aegis/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OIDC_MAX_ISSUERS        8
#define OIDC_MAX_KEYS           16 /* per issuer */
#define OIDC_JWKS_MAX_BYTES     (1024 * 1024)
#define OIDC_REFETCH_COOLDOWN_S 10
#define OIDC_SKEW_S             60
#define OIDC_ISS_MAX            127 /* fits ag_jwt_claims.iss */
#define OIDC_SUB_MAX            255

typedef struct oidc oidc;

typedef struct oidc_identity {
	char iss[OIDC_ISS_MAX + 1];
	char sub[OIDC_SUB_MAX + 1];
	int64_t exp;
} oidc_identity;

/* NULL *out (and AG_OK) when `issuers` is empty. A configuration mistake is AG_E_INVAL with a sentence in why. */
ag_status oidc_new(oidc **out, const char *issuers, const char *audiences, const char *jwks_urls, int64_t ttl_s,
                   int timeout_ms, char *why, size_t whylen);
void oidc_free(oidc *o); /* NULL ok */

/* The token's (unverified) iss is one of ours: send it to oidc_verify. Cheap; no I/O. */
bool oidc_claims_external(oidc *o, const char *token);

/* AG_OK with *id; AG_E_AUTH when the token is not acceptable; AG_E_UNAVAILABLE when no keys could be loaded. */
ag_status oidc_verify(oidc *o, const char *token, int64_t now, oidc_identity *id);

#endif
