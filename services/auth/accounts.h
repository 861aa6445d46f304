/*
 * accounts.h - registering and logging in: the user-facing outcome of each,
 * as the HTTP status the gateway should answer and a safe sentence.
 *
 * Passwords are hashed with argon2id (libsodium, a self-describing
 * $argon2id$v=19$m=..,t=..,p=1$ string). Hashing happens without a database
 * connection held. Login costs the same whether or not the account exists
 * (a fixed dummy hash is verified instead), says only "invalid email or
 * password" for either mistake, and reports a disabled account only to
 * someone who knew its password. A stored hash with older parameters is
 * upgraded on the next successful login.
 *
 * Outcomes: register 201 | 400 policy | 409 exists | 503 unavailable;
 * login 200 | 400 missing fields | 401 | 403 disabled | 503 unavailable;
 * 500 for anything unexpected.
 *
 * Thread-safety: calls may run concurrently on any threads.
 */
#ifndef AUTH_ACCOUNTS_H
#define AUTH_ACCOUNTS_H

#include "policy.h"
#include "throttle.h"
#include "tokens.h"

#include "aegis/db.h"
#include "aegis/status.h"

#define ACCOUNTS_UUID_BUF 37
#define ACCOUNTS_ROLE_BUF 16
#define ACCOUNTS_HASH_BUF 128 /* crypto_pwhash_STRBYTES */

#define ACCOUNTS_MSG_UNAVAILABLE "service unavailable, retry later"
#define ACCOUNTS_MSG_INTERNAL    "internal error, retry later"
#define ACCOUNTS_MSG_BAD_LOGIN   "invalid email or password"

typedef struct accounts accounts;

typedef struct accounts_cfg {
	unsigned long long argon2_ops; /* AUTH_ARGON2_ITERATIONS */
	unsigned long long argon2_kib; /* AUTH_ARGON2_MEMORY_KIB */
	int db_timeout_ms;             /* wait for a pooled connection */
	tokens_cfg tokens;
	throttle_cfg throttle;
} accounts_cfg;

typedef struct accounts_result {
	unsigned status;   /* HTTP status for the gateway */
	const char *error; /* static safe sentence; NULL on success */
	char user_id[ACCOUNTS_UUID_BUF];
	char email[POLICY_EMAIL_BUF];
	char role[ACCOUNTS_ROLE_BUF];
	tokens_pair tokens;   /* login, refresh, password */
	uint32_t retry_after; /* with status 429 */
} accounts_result;

/* Computes the dummy hash (one argon2id run). `pool` and `k` are borrowed and must outlive *out; cfg's
 * strings too. */
ag_status accounts_new(accounts **out, const accounts_cfg *cfg, ag_db_pool *pool, keys *k, ag_err *err);
void accounts_free(accounts *a); /* NULL ok */

/* Fill *r (always; release with accounts_result_clear). Inputs are the raw request fields. */
void accounts_register(accounts *a, const char *email, const char *password, accounts_result *r);
void accounts_login(accounts *a, const char *email, const char *password, accounts_result *r);
/* Login throttled per (account, client_ip) and per client_ip (throttle.h): 429 + retry_after when blocked. */
void accounts_login_from(accounts *a, const char *email, const char *password, const char *client_ip,
                         accounts_result *r);
/*
 * Change the password of `user_id` (already authenticated by the gateway) after re-checking the current one
 * (throttled like a login, keyed by user id): 200 with a fresh token pair (a new session; every other refresh
 * token of the user is revoked) | 400 policy | 403 wrong current password or external account | 404 no such
 * user | 429.
 */
void accounts_change_password(accounts *a, const char *user_id, const char *current, const char *next,
                              const char *client_ip, accounts_result *r);
void accounts_result_clear(accounts_result *r);

/* The HTTP status and sentence for a failed dependency: transient -> 503, otherwise 500. */
void accounts_fail(accounts_result *r, ag_status st);

#endif
