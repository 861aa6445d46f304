/*
 * tokens.h - what a successful login hands out: a short-lived access token
 * (an EdDSA JWT) and a long-lived opaque refresh token.
 *
 * Access token claims: iss, aud, sub (user id), role, email, iat = nbf =
 * now, exp = now + ACCESS_TOKEN_TTL_S (never past its key's publication),
 * jti (random). The refresh token is 32 random bytes in base64url; only its
 * SHA-256 is stored (refresh_tokens.token_hash), with a new family_id per
 * login so a later rotation can revoke a whole family on replay.
 */
#ifndef AUTH_TOKENS_H
#define AUTH_TOKENS_H

#include "keys.h"

#include "aegis/status.h"

#include <libpq-fe.h>
#include <stdint.h>

#define TOKENS_REFRESH_RAW 32
#define TOKENS_REFRESH_BUF 44 /* base64url of 32 bytes (43) + NUL */
#define TOKENS_HASH_BYTES  32 /* SHA-256 */
#define TOKENS_JTI_RAW     16

typedef struct tokens_cfg {
	const char *issuer;
	const char *audience;
	int64_t access_ttl_s;
	int64_t refresh_ttl_s;
} tokens_cfg;

typedef struct tokens_pair {
	char *access;        /* malloc'd JWT */
	uint32_t expires_in; /* seconds until the access token expires */
	char refresh[TOKENS_REFRESH_BUF];
} tokens_pair;

/* Sign an access token and store a new refresh token family for `user_id` through `c`. On success the
 * caller owns *out and releases it with tokens_pair_clear; on failure *out is empty. */
ag_status tokens_issue(const tokens_cfg *cfg, keys *k, PGconn *c, const char *user_id, const char *email,
                       const char *role, int64_t now, tokens_pair *out, ag_err *err);
/* The same, continuing refresh token family `family_id` (a rotation); NULL starts a new family. */
ag_status tokens_issue_in(const tokens_cfg *cfg, keys *k, PGconn *c, const char *user_id, const char *email,
                          const char *role, const char *family_id, int64_t now, tokens_pair *out, ag_err *err);
/* Free and wipe; safe on a zeroed or already cleared pair. */
void tokens_pair_clear(tokens_pair *p);

/* A new refresh token and the hash to store for it. */
void tokens_refresh_new(char token[TOKENS_REFRESH_BUF], unsigned char hash[TOKENS_HASH_BYTES]);
/* The stored form of a presented refresh token: SHA-256 of its text. */
void tokens_refresh_hash(const char *token, unsigned char hash[TOKENS_HASH_BYTES]);

#endif
