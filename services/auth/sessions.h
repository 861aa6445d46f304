/*
 * sessions.h - refresh-token rotation and logout.
 *
 * Refresh: the presented token is spent atomically (one UPDATE that only
 * matches an unspent, unrevoked, unexpired token), and a new refresh token
 * in the same family plus a new access token are issued. Presenting a token
 * that was already spent is a replay: the whole family is revoked (every
 * member then answers 401) and a "security:" warning is logged with the
 * user and family ids. There is no grace window: two concurrent refreshes
 * with one token end the session (the client logs in again), which is the
 * safe side. A disabled account's refresh fails at once (403) and its
 * family is revoked.
 *
 * Logout revokes the family of the presented token and always answers 204
 * (an unknown token reveals nothing). Access tokens already issued stay
 * valid until they expire (ACCESS_TOKEN_TTL_S).
 *
 * Outcomes: refresh 200 | 400 missing | 401 invalid, expired, revoked or
 * replayed | 403 disabled | 503 | 500.
 */
#ifndef AUTH_SESSIONS_H
#define AUTH_SESSIONS_H

#include "accounts.h"

typedef struct sessions_ctx {
	const tokens_cfg *tokens;
	keys *keys;
	ag_db_pool *pool;
	int db_timeout_ms;
} sessions_ctx;

void sessions_refresh(const sessions_ctx *s, const char *refresh_token, accounts_result *r);
void sessions_logout(const sessions_ctx *s, const char *refresh_token, accounts_result *r);

#endif
