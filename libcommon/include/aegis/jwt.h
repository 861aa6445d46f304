/*
 * jwt.h - JSON Web Tokens as Aegis issues and accepts them.
 *
 * Issued: EdDSA (Ed25519) compact JWS with `kid`. Accepted: the algorithms in
 * a fixed allow-list only (EdDSA today); `none`, HMAC and anything else are
 * refused before any key is looked at, so algorithm confusion is impossible.
 * Claims checked: iss, aud, exp, nbf, iat (with a bounded clock skew), sub.
 */
#ifndef AEGIS_JWT_H
#define AEGIS_JWT_H

#include "aegis/status.h"

#include <stddef.h>
#include <stdint.h>

#define AG_JWT_KID_MAX    64
#define AG_JWT_ED25519_PK 32
#define AG_JWT_ED25519_SK 64

typedef struct ag_jwt_claims {
	char sub[64];  /* user id */
	char role[16]; /* "user" | "admin" */
	char email[256];
	char iss[128];
	char aud[128];
	char jti[40];
	int64_t iat, nbf, exp; /* seconds since the epoch */
} ag_jwt_claims;

typedef struct ag_jwk {
	char kid[AG_JWT_KID_MAX];
	unsigned char pub[AG_JWT_ED25519_PK];
} ag_jwk;

/* Sign `claims` (iat/nbf/exp as given). *out is malloc'd, caller free()s. */
ag_status ag_jwt_sign(const ag_jwt_claims *claims, const char *kid, const unsigned char sk[AG_JWT_ED25519_SK],
                      char **out, ag_err *err);

/*
 * Verify `token` against `keys`. Checks signature, alg allow-list, iss == iss,
 * aud == aud (or contains it, for an array), nbf/iat <= now + skew,
 * exp > now - skew. Returns AG_E_NOTFOUND when the kid is not among `keys`
 * (the caller may refetch keys once), AG_E_AUTH for every other rejection.
 */
ag_status ag_jwt_verify(const char *token, const ag_jwk *keys, size_t nkeys, const char *iss, const char *aud,
                        int64_t now, int skew_s, ag_jwt_claims *out, ag_err *err);

/* The kid in a token's header without verifying anything (for cache refresh decisions). */
ag_status ag_jwt_peek_kid(const char *token, char kid[AG_JWT_KID_MAX], ag_err *err);

#endif
