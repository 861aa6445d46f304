/*
 * apikeys.h - personal API keys for scripts: "agk_" followed by 43
 * base64url characters (32 random bytes). A key is shown once, at
 * creation; only its SHA-256 is stored (a key has 256 bits of entropy, so a
 * fast hash is enough), with a short prefix to recognise it in listings.
 * A key acts as its user with the user's role; it stops working when
 * revoked or when the user is disabled. At most APIKEYS_MAX_PER_USER live
 * keys per user.
 *
 * Outcomes: create 201 | 400 bad name | 409 too many; list 200; revoke 204 |
 * 404 (unknown, revoked or another user's); verify 200 | 401 | 403
 * disabled; 503/500 for dependencies.
 */
#ifndef AUTH_APIKEYS_H
#define AUTH_APIKEYS_H

#include "accounts.h"
#include "sessions.h"

#define APIKEYS_PREFIX       "agk_"
#define APIKEYS_BUF          48 /* "agk_" + 43 + NUL */
#define APIKEYS_SHOWN        12 /* characters of the key kept as its prefix: "agk_" + 8 */
#define APIKEYS_NAME_MAX     100
#define APIKEYS_MAX_PER_USER 100

typedef struct apikeys_created {
	char key[APIKEYS_BUF];
	char id[ACCOUNTS_UUID_BUF];
	char prefix[APIKEYS_SHOWN + 1];
	char created_at[40];
} apikeys_created;

void apikeys_create(const sessions_ctx *s, const char *user_id, const char *name, apikeys_created *out,
                    accounts_result *r);
/* 200 with *rows (id, name, prefix, created_at, last_used_at; newest first), PQclear'd by the caller. */
void apikeys_list(const sessions_ctx *s, const char *user_id, PGresult **rows, accounts_result *r);
void apikeys_revoke(const sessions_ctx *s, const char *user_id, const char *key_id, accounts_result *r);
/* 200 with r->user_id, email, role. */
void apikeys_verify(const sessions_ctx *s, const char *key, accounts_result *r);

/* "agk_" + 43 base64url characters. Pure. */
bool apikeys_well_formed(const char *key);

#endif
