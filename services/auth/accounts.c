/*
 * accounts.c - register and log in (accounts.h). Each function is one
 * request: policy checks, the expensive hash outside any database
 * connection, then one short use of a pooled connection. Nothing here logs
 * a password, a hash, a token or an email address.
 */
#include "accounts.h"

#include "aegis/log.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

_Static_assert(ACCOUNTS_HASH_BUF == crypto_pwhash_STRBYTES, "argon2 string buffer");

struct accounts {
	accounts_cfg cfg;
	ag_db_pool *pool;
	keys *keys;
	char dummy[ACCOUNTS_HASH_BUF]; /* verified when the account does not exist, so timing does not tell */
};

static const char accounts_sql_insert[] =
        "INSERT INTO users (email, password_hash) VALUES ($1, $2) RETURNING id::text, role";
#define ACCOUNTS_SQL_FIND "SELECT id::text, password_hash, role, disabled, email, external FROM users WHERE "
static const char accounts_sql_find[] = ACCOUNTS_SQL_FIND "email = $1";
static const char accounts_sql_find_id[] = ACCOUNTS_SQL_FIND "id = $1::uuid";
static const char accounts_sql_set_password[] =
        "UPDATE users SET password_hash = $2 WHERE id = $1::uuid AND password_hash = $3 RETURNING id";
static const char accounts_sql_revoke_user[] =
        "UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = $1::uuid AND revoked_at IS NULL";
/* Only replace the hash that was verified, so a concurrent password change is never overwritten. */
static const char accounts_sql_rehash[] =
        "UPDATE users SET password_hash = $2 WHERE id = $1::uuid AND password_hash = $3";

void accounts_fail(accounts_result *r, ag_status st)
{
	bool transient = ag_status_transient(st);
	r->status = transient ? 503 : 500;
	r->error = transient ? ACCOUNTS_MSG_UNAVAILABLE : ACCOUNTS_MSG_INTERNAL;
	r->user_id[0] = r->email[0] = r->role[0] = '\0';
	tokens_pair_clear(&r->tokens);
}

static void accounts_refuse(accounts_result *r, unsigned status, const char *why)
{
	r->status = status;
	r->error = why;
	r->user_id[0] = r->email[0] = r->role[0] = '\0';
	tokens_pair_clear(&r->tokens);
}

void accounts_result_clear(accounts_result *r)
{
	if (!r)
		return;
	tokens_pair_clear(&r->tokens);
	sodium_memzero(r, sizeof *r);
}

static ag_status accounts_hash(const accounts *a, const char *password, size_t len, char out[ACCOUNTS_HASH_BUF])
{
	if (crypto_pwhash_str_alg(out, password, len, a->cfg.argon2_ops, (size_t)a->cfg.argon2_kib * 1024,
	                          crypto_pwhash_ALG_ARGON2ID13) != 0)
		return AG_E_NOMEM; /* argon2 could not get its memory */
	return AG_OK;
}

static bool accounts_copy(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);
	if (n >= cap)
		return false;
	memcpy(dst, src, n + 1);
	return true;
}

ag_status accounts_new(accounts **out, const accounts_cfg *cfg, ag_db_pool *pool, keys *k, ag_err *err)
{
	unsigned char raw[32];
	char pw[64];
	*out = NULL;
	if (sodium_init() < 0)
		return ag_err_set(err, AG_E_INTERNAL, "libsodium failed to initialise");
	accounts *a = calloc(1, sizeof *a);
	if (!a)
		return ag_err_set(err, AG_E_NOMEM, "out of memory");
	a->cfg = *cfg;
	a->pool = pool;
	a->keys = k;
	randombytes_buf(raw, sizeof raw);
	sodium_bin2base64(pw, sizeof pw, raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	ag_status st = accounts_hash(a, pw, strlen(pw), a->dummy);
	sodium_memzero(pw, sizeof pw);
	if (st != AG_OK) {
		free(a);
		return ag_err_set(err, st, "argon2id with %llu KiB of memory failed: out of memory", cfg->argon2_kib);
	}
	*out = a;
	return AG_OK;
}

void accounts_free(accounts *a)
{
	if (!a)
		return;
	sodium_memzero(a, sizeof *a);
	free(a);
}

void accounts_register(accounts *a, const char *email, const char *password, accounts_result *r)
{
	char hash[ACCOUNTS_HASH_BUF] = "";
	PGconn *c = NULL;
	PGresult *res = NULL;
	ag_err e;
	ag_err_clear(&e);
	memset(r, 0, sizeof *r);

	const char *why = policy_email_normalize(email, r->email);
	if (!why)
		why = policy_password_check(password);
	if (why) {
		accounts_refuse(r, 400, why);
		return;
	}
	ag_status st = accounts_hash(a, password, strlen(password), hash);
	if (st != AG_OK) {
		ag_log_error("register: argon2id hashing failed (out of memory)");
		accounts_fail(r, st);
		goto out;
	}
	if ((st = ag_db_acquire(a->pool, &c, a->cfg.db_timeout_ms, &e)) != AG_OK) {
		ag_log_warn("register: %s", e.msg);
		accounts_fail(r, st);
		goto out;
	}
	const char *params[2] = {r->email, hash};
	st = ag_db_exec(c, accounts_sql_insert, 2, params, &res, &e);
	if (st == AG_E_EXISTS) {
		accounts_refuse(r, 409, "an account with this email already exists");
		goto out;
	}
	if (st == AG_OK &&
	    (PQntuples(res) != 1 || !accounts_copy(r->user_id, sizeof r->user_id, PQgetvalue(res, 0, 0)) ||
	     !accounts_copy(r->role, sizeof r->role, PQgetvalue(res, 0, 1))))
		st = ag_err_set(&e, AG_E_INTERNAL, "insert returned no id");
	if (st != AG_OK) {
		ag_log_error("register: %s", e.msg);
		accounts_fail(r, st);
		goto out;
	}
	r->status = 201;
	ag_log_info("account %s registered", r->user_id);
out:
	PQclear(res);
	ag_db_release(a->pool, c);
	sodium_memzero(hash, sizeof hash);
}

typedef struct accounts_user {
	bool exists, found, disabled, external; /* found: a usable password hash */
	char email[POLICY_EMAIL_BUF];
	char id[ACCOUNTS_UUID_BUF];
	char role[ACCOUNTS_ROLE_BUF];
	char hash[ACCOUNTS_HASH_BUF];
} accounts_user;

/* The user by normalised email through `c`; u->found stays false when there is none. */
static ag_status accounts_find(PGconn *c, const char *sql, const char *key, accounts_user *u, ag_err *err)
{
	PGresult *res = NULL;
	const char *params[1] = {key};
	ag_status st = ag_db_exec(c, sql, 1, params, &res, err);
	if (st != AG_OK || PQntuples(res) != 1)
		goto out;
	if (!accounts_copy(u->id, sizeof u->id, PQgetvalue(res, 0, 0)) ||
	    !accounts_copy(u->role, sizeof u->role, PQgetvalue(res, 0, 2)) ||
	    !accounts_copy(u->email, sizeof u->email, PQgetvalue(res, 0, 4))) {
		st = ag_err_set(err, AG_E_INTERNAL, "user row is malformed");
		goto out;
	}
	u->exists = true;
	u->external = strcmp(PQgetvalue(res, 0, 5), "t") == 0;
	/* A stored hash that does not fit cannot be ours; the dummy is verified instead and login fails. */
	u->found = !u->external && accounts_copy(u->hash, sizeof u->hash, PQgetvalue(res, 0, 1));
	if (!u->found && !u->external)
		ag_log_warn("login: user %s has an unusable password hash", u->id);
	u->disabled = strcmp(PQgetvalue(res, 0, 3), "t") == 0;
out:
	PQclear(res);
	return st;
}

/* Throttle check, then the user (when `key` is set): one short use of a pooled connection. */
static ag_status accounts_begin_check(accounts *a, const throttle_keys *tk, const char *sql, const char *key,
                                      accounts_user *u, uint32_t *retry_after, ag_err *err)
{
	PGconn *c = NULL;
	ag_status st = ag_db_acquire(a->pool, &c, a->cfg.db_timeout_ms, err);
	if (st == AG_OK)
		st = throttle_check(c, tk, retry_after, err);
	if (st == AG_OK && *retry_after == 0 && key)
		st = accounts_find(c, sql, key, u, err);
	ag_db_release(a->pool, c);
	return st;
}

/* Count a failed password check; a database problem here is logged, the answer stays the refusal. */
static void accounts_count_failure(accounts *a, const throttle_keys *tk, const char *what)
{
	PGconn *c = NULL;
	ag_err e;
	ag_err_clear(&e);
	if (ag_db_acquire(a->pool, &c, a->cfg.db_timeout_ms, &e) != AG_OK ||
	    throttle_fail(c, &a->cfg.throttle, tk, &e) != AG_OK)
		ag_log_warn("%s: could not count a failed attempt: %s", what, e.msg);
	ag_db_release(a->pool, c);
}

static void accounts_throttled(accounts_result *r, uint32_t retry_after)
{
	accounts_refuse(r, 429, "too many failed attempts; wait before trying again");
	r->retry_after = retry_after;
}

void accounts_login(accounts *a, const char *email, const char *password, accounts_result *r)
{
	accounts_login_from(a, email, password, NULL, r);
}

void accounts_login_from(accounts *a, const char *email, const char *password, const char *client_ip,
                         accounts_result *r)
{
	accounts_user u;
	throttle_keys tk;
	char rehash[ACCOUNTS_HASH_BUF] = "";
	PGconn *c = NULL;
	uint32_t wait_s = 0;
	ag_err e;
	ag_err_clear(&e);
	memset(r, 0, sizeof *r);
	memset(&u, 0, sizeof u);

	if (!email || !*email || !password || !*password) {
		accounts_refuse(r, 400, "email and password are required");
		return;
	}
	bool valid = policy_email_normalize(email, r->email) == NULL;
	throttle_keys_for(valid ? r->email : "(invalid)", client_ip, &tk);
	ag_status st = accounts_begin_check(a, &tk, accounts_sql_find, valid ? r->email : NULL, &u, &wait_s, &e);
	if (st != AG_OK) {
		ag_log_warn("login: %s", e.msg);
		accounts_fail(r, st);
		goto out;
	}
	if (wait_s > 0) {
		accounts_throttled(r, wait_s);
		goto out;
	}
	size_t pwlen = strnlen(password, AG_PASSWORD_MAX_BYTES + 1);
	/* No account has a longer password: it is refused (and counted) without hashing. */
	bool match = pwlen <= AG_PASSWORD_MAX_BYTES &&
	             crypto_pwhash_str_verify(u.found ? u.hash : a->dummy, password, pwlen) == 0;
	if (!u.found || !match) {
		accounts_count_failure(a, &tk, "login");
		accounts_refuse(r, 401, ACCOUNTS_MSG_BAD_LOGIN);
		goto out;
	}
	if (u.disabled) {
		accounts_refuse(r, 403, "this account is disabled");
		goto out;
	}
	size_t mem = (size_t)a->cfg.argon2_kib * 1024;
	if (crypto_pwhash_str_needs_rehash(u.hash, a->cfg.argon2_ops, mem) != 0 &&
	    accounts_hash(a, password, pwlen, rehash) != AG_OK)
		rehash[0] = '\0'; /* keep the old hash; try again next login */

	if ((st = ag_db_acquire(a->pool, &c, a->cfg.db_timeout_ms, &e)) != AG_OK) {
		ag_log_warn("login: %s", e.msg);
		accounts_fail(r, st);
		goto out;
	}
	if (throttle_ok(c, &tk, &e) != AG_OK)
		ag_log_warn("login: could not clear the failure counter: %s", e.msg);
	if (rehash[0]) {
		const char *params[3] = {u.id, rehash, u.hash};
		if (ag_db_exec(c, accounts_sql_rehash, 3, params, NULL, &e) == AG_OK)
			ag_log_info("login: password hash of user %s upgraded to the current argon2id parameters",
			            u.id);
		else
			ag_log_warn("login: password hash upgrade of user %s failed: %s", u.id, e.msg);
	}
	st = tokens_issue(&a->cfg.tokens, a->keys, c, u.id, r->email, u.role, (int64_t)time(NULL), &r->tokens, &e);
	if (st != AG_OK) {
		ag_log_error("login: issuing tokens for user %s failed: %s", u.id, e.msg);
		accounts_fail(r, st);
		goto out;
	}
	memcpy(r->user_id, u.id, sizeof r->user_id);
	memcpy(r->role, u.role, sizeof r->role);
	r->status = 200;
out:
	ag_db_release(a->pool, c);
	sodium_memzero(&u, sizeof u);
	sodium_memzero(rehash, sizeof rehash);
}

void accounts_change_password(accounts *a, const char *user_id, const char *current, const char *next,
                              const char *client_ip, accounts_result *r)
{
	accounts_user u;
	throttle_keys tk;
	char hash[ACCOUNTS_HASH_BUF] = "";
	PGconn *c = NULL;
	uint32_t wait_s = 0;
	bool in_tx = false;
	ag_err e;
	ag_err_clear(&e);
	memset(r, 0, sizeof *r);
	memset(&u, 0, sizeof u);

	if (!user_id || strlen(user_id) != ACCOUNTS_UUID_BUF - 1 || !current || !*current) {
		accounts_refuse(r, 400, "current_password and new_password are required");
		return;
	}
	const char *why = policy_password_check(next);
	if (why) {
		accounts_refuse(r, 400, why);
		return;
	}
	throttle_keys_for(user_id, client_ip, &tk);
	ag_status st = accounts_begin_check(a, &tk, accounts_sql_find_id, user_id, &u, &wait_s, &e);
	if (st != AG_OK) {
		ag_log_warn("password change: %s", e.msg);
		accounts_fail(r, st);
		goto out;
	}
	if (wait_s > 0) {
		accounts_throttled(r, wait_s);
		goto out;
	}
	if (!u.exists || u.disabled) {
		accounts_refuse(r, 404, "no such account");
		goto out;
	}
	if (u.external) {
		accounts_refuse(r, 403,
		                "this account signs in through an external identity provider and has no password");
		goto out;
	}
	size_t cur_len = strnlen(current, AG_PASSWORD_MAX_BYTES + 1);
	if (!u.found || cur_len > AG_PASSWORD_MAX_BYTES || crypto_pwhash_str_verify(u.hash, current, cur_len) != 0) {
		accounts_count_failure(a, &tk, "password change");
		accounts_refuse(r, 403, "the current password is wrong");
		goto out;
	}
	if ((st = accounts_hash(a, next, strlen(next), hash)) != AG_OK) {
		ag_log_error("password change: argon2id hashing failed (out of memory)");
		accounts_fail(r, st);
		goto out;
	}
	if ((st = ag_db_acquire(a->pool, &c, a->cfg.db_timeout_ms, &e)) != AG_OK || (st = ag_db_begin(c, &e)) != AG_OK)
		goto fail;
	in_tx = true;
	const char *params[3] = {u.id, hash, u.hash};
	PGresult *res = NULL;
	if ((st = ag_db_exec(c, accounts_sql_set_password, 3, params, &res, &e)) != AG_OK)
		goto fail;
	bool changed = PQntuples(res) == 1;
	PQclear(res);
	if (!changed) { /* a concurrent change won; this one proved an outdated password */
		accounts_refuse(r, 409, "the password was changed concurrently; log in again");
		goto out;
	}
	if ((st = ag_db_exec(c, accounts_sql_revoke_user, 1, params, NULL, &e)) != AG_OK ||
	    (st = throttle_ok(c, &tk, &e)) != AG_OK)
		goto fail;
	if ((st = ag_db_commit(c, &e)) != AG_OK)
		goto fail;
	in_tx = false;
	ag_log_info("security: user %s changed their password; every other session was revoked", u.id);
	st = tokens_issue(&a->cfg.tokens, a->keys, c, u.id, u.email, u.role, (int64_t)time(NULL), &r->tokens, &e);
	if (st != AG_OK)
		goto fail;
	memcpy(r->user_id, u.id, sizeof r->user_id);
	memcpy(r->email, u.email, sizeof r->email);
	memcpy(r->role, u.role, sizeof r->role);
	r->status = 200;
	goto out;
fail:
	ag_log_warn("password change of user %s: %s", u.id, e.msg);
	accounts_fail(r, st);
out:
	if (in_tx)
		ag_db_rollback(c);
	ag_db_release(a->pool, c);
	sodium_memzero(&u, sizeof u);
	sodium_memzero(hash, sizeof hash);
}
