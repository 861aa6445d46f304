/*
 * sessions.c - refresh and logout (sessions.h). Only SHA-256 hashes of
 * refresh tokens reach SQL; logs carry user and family ids, never tokens.
 */
#include "sessions.h"

#include "aegis/log.h"

#include <sodium.h>
#include <string.h>
#include <time.h>

#define SESSIONS_MSG_INVALID "the refresh token is invalid, expired or revoked; log in again"

/* Spend the token: matches only a live one. */
static const char sessions_sql_spend[] =
        "UPDATE refresh_tokens SET used_at = now() WHERE token_hash = $1 AND used_at IS NULL AND revoked_at IS NULL"
        " AND expires_at > now() RETURNING user_id::text, family_id::text";
/* Why a token could not be spent: replayed (spent before) or just dead. */
static const char sessions_sql_why[] =
        "SELECT user_id::text, family_id::text, used_at IS NOT NULL AND revoked_at IS NULL"
        " FROM refresh_tokens WHERE token_hash = $1";
static const char sessions_sql_revoke_family[] =
        "UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1::uuid AND revoked_at IS NULL";
static const char sessions_sql_user[] = "SELECT email, role, disabled FROM users WHERE id = $1::uuid";
static const char sessions_sql_logout[] =
        "UPDATE refresh_tokens SET revoked_at = now() WHERE revoked_at IS NULL AND family_id ="
        " (SELECT family_id FROM refresh_tokens WHERE token_hash = $1)";

static void sessions_refuse(accounts_result *r, unsigned status, const char *why)
{
	tokens_pair_clear(&r->tokens);
	memset(r, 0, sizeof *r);
	r->status = status;
	r->error = why;
}

static bool sessions_copy(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);
	if (n >= cap)
		return false;
	memcpy(dst, src, n + 1);
	return true;
}

/* The token could not be spent: revoke its family when it was a replay. */
static ag_status sessions_not_spent(PGconn *c, const char *const hash_param[1], const int lens[1], const int fmts[1],
                                    accounts_result *r, ag_err *err)
{
	PGresult *res = NULL;
	ag_status st = ag_db_execb(c, sessions_sql_why, 1, hash_param, lens, fmts, &res, err);
	if (st != AG_OK)
		goto out;
	if (PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 2), "t") == 0) {
		const char *fam[1] = {PQgetvalue(res, 0, 1)};
		if ((st = ag_db_exec(c, sessions_sql_revoke_family, 1, fam, NULL, err)) != AG_OK)
			goto out;
		ag_log_warn("security: refresh token reuse for user %s; token family %s revoked", PQgetvalue(res, 0, 0),
		            fam[0]);
	}
	sessions_refuse(r, 401, SESSIONS_MSG_INVALID);
out:
	PQclear(res);
	return st;
}

void sessions_refresh(const sessions_ctx *s, const char *refresh_token, accounts_result *r)
{
	unsigned char hash[TOKENS_HASH_BYTES];
	char family[ACCOUNTS_UUID_BUF] = "";
	PGconn *c = NULL;
	PGresult *res = NULL, *user = NULL;
	ag_err e;
	ag_err_clear(&e);
	memset(r, 0, sizeof *r);

	if (!refresh_token || !*refresh_token) {
		sessions_refuse(r, 400, "refresh_token is required");
		return;
	}
	if (strnlen(refresh_token, TOKENS_REFRESH_BUF) >= TOKENS_REFRESH_BUF) {
		sessions_refuse(r, 401, SESSIONS_MSG_INVALID);
		return;
	}
	tokens_refresh_hash(refresh_token, hash);
	const char *hp[1] = {(const char *)hash};
	const int lens[1] = {TOKENS_HASH_BYTES}, fmts[1] = {1};
	ag_status st = ag_db_acquire(s->pool, &c, s->db_timeout_ms, &e);
	if (st != AG_OK)
		goto fail;
	if ((st = ag_db_execb(c, sessions_sql_spend, 1, hp, lens, fmts, &res, &e)) != AG_OK)
		goto fail;
	if (PQntuples(res) != 1) {
		if ((st = sessions_not_spent(c, hp, lens, fmts, r, &e)) != AG_OK)
			goto fail;
		goto out;
	}
	if (!sessions_copy(r->user_id, sizeof r->user_id, PQgetvalue(res, 0, 0)) ||
	    !sessions_copy(family, sizeof family, PQgetvalue(res, 0, 1))) {
		st = ag_err_set(&e, AG_E_INTERNAL, "refresh token row is malformed");
		goto fail;
	}
	const char *uid[1] = {r->user_id};
	if ((st = ag_db_exec(c, sessions_sql_user, 1, uid, &user, &e)) != AG_OK)
		goto fail;
	if (PQntuples(user) != 1 || strcmp(PQgetvalue(user, 0, 2), "t") == 0) {
		const char *fam[1] = {family};
		if ((st = ag_db_exec(c, sessions_sql_revoke_family, 1, fam, NULL, &e)) != AG_OK)
			goto fail;
		ag_log_info("refresh refused: user %s is disabled or gone; token family %s revoked", r->user_id,
		            family);
		sessions_refuse(r, 403, "this account is disabled");
		goto out;
	}
	if (!sessions_copy(r->email, sizeof r->email, PQgetvalue(user, 0, 0)) ||
	    !sessions_copy(r->role, sizeof r->role, PQgetvalue(user, 0, 1))) {
		st = ag_err_set(&e, AG_E_INTERNAL, "user row is malformed");
		goto fail;
	}
	st = tokens_issue_in(s->tokens, s->keys, c, r->user_id, r->email, r->role, family, (int64_t)time(NULL),
	                     &r->tokens, &e);
	if (st != AG_OK)
		goto fail;
	r->status = 200;
	goto out;
fail:
	ag_log_warn("refresh: %s", e.msg[0] ? e.msg : ag_status_str(st));
	accounts_fail(r, st);
out:
	PQclear(res);
	PQclear(user);
	ag_db_release(s->pool, c);
	sodium_memzero(hash, sizeof hash);
}

void sessions_logout(const sessions_ctx *s, const char *refresh_token, accounts_result *r)
{
	unsigned char hash[TOKENS_HASH_BYTES];
	PGconn *c = NULL;
	ag_err e;
	ag_err_clear(&e);
	memset(r, 0, sizeof *r);
	if (!refresh_token || !*refresh_token) {
		sessions_refuse(r, 400, "refresh_token is required");
		return;
	}
	if (strnlen(refresh_token, TOKENS_REFRESH_BUF) >= TOKENS_REFRESH_BUF) {
		r->status = 204; /* cannot be one of ours; nothing to revoke */
		return;
	}
	tokens_refresh_hash(refresh_token, hash);
	const char *hp[1] = {(const char *)hash};
	const int lens[1] = {TOKENS_HASH_BYTES}, fmts[1] = {1};
	ag_status st = ag_db_acquire(s->pool, &c, s->db_timeout_ms, &e);
	if (st == AG_OK)
		st = ag_db_execb(c, sessions_sql_logout, 1, hp, lens, fmts, NULL, &e);
	if (st != AG_OK) {
		ag_log_warn("logout: %s", e.msg);
		accounts_fail(r, st);
	} else {
		r->status = 204;
	}
	ag_db_release(s->pool, c);
	sodium_memzero(hash, sizeof hash);
}
