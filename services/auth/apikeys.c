/*
 * apikeys.c - create, list, revoke and verify personal API keys
 * (apikeys.h). Keys never reach SQL or a log; only their hashes do.
 */
#include "apikeys.h"

#include "aegis/log.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#define APIKEYS_RAW 32

_Static_assert(APIKEYS_BUF == sizeof APIKEYS_PREFIX - 1 +
                                      sodium_base64_ENCODED_LEN(APIKEYS_RAW, sodium_base64_VARIANT_URLSAFE_NO_PADDING),
               "api key buffer");

static const char apikeys_sql_insert[] =
        "INSERT INTO api_keys (user_id, name, prefix, key_hash)"
        " SELECT $1::uuid, $2, $3, $4 WHERE (SELECT count(*) FROM api_keys WHERE user_id = $1::uuid"
        " AND revoked_at IS NULL) < $5::int"
        " RETURNING id::text, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')";
static const char apikeys_sql_list[] =
        "SELECT id::text, name, prefix, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"
        " coalesce(to_char(last_used_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), '')"
        " FROM api_keys WHERE user_id = $1::uuid AND revoked_at IS NULL ORDER BY created_at DESC, id";
static const char apikeys_sql_revoke[] = "UPDATE api_keys SET revoked_at = now() WHERE id = $2::uuid AND user_id ="
                                         " $1::uuid AND revoked_at IS NULL RETURNING id";
/* last_used_at is written at most once a minute per key, so verification stays a read in the common case. */
static const char apikeys_sql_verify[] =
        "WITH k AS (SELECT id, user_id FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL),"
        " touch AS (UPDATE api_keys SET last_used_at = now() WHERE id = (SELECT id FROM k)"
        " AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute'))"
        " SELECT u.id::text, u.email, u.role, u.disabled FROM k JOIN users u ON u.id = k.user_id";

static bool apikeys_b64(char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
	       ch == '_';
}

bool apikeys_well_formed(const char *key)
{
	size_t plen = sizeof APIKEYS_PREFIX - 1;
	if (!key || strnlen(key, APIKEYS_BUF) != APIKEYS_BUF - 1 || strncmp(key, APIKEYS_PREFIX, plen) != 0)
		return false;
	for (size_t i = plen; key[i]; i++)
		if (!apikeys_b64(key[i]))
			return false;
	return true;
}

static void apikeys_set(accounts_result *r, unsigned status, const char *why)
{
	memset(r, 0, sizeof *r);
	r->status = status;
	r->error = why;
}

static bool apikeys_uuid(const char *s)
{
	if (!s || strlen(s) != ACCOUNTS_UUID_BUF - 1)
		return false;
	for (int i = 0; i < ACCOUNTS_UUID_BUF - 1; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash ? s[i] != '-' : !strchr("0123456789abcdefABCDEF", s[i]))
			return false;
	}
	return true;
}

static ag_status apikeys_exec(const sessions_ctx *s, const char *sql, int n, const char *const *params, const int *lens,
                              const int *fmts, PGresult **res, ag_err *err)
{
	PGconn *c = NULL;
	ag_status st = ag_db_acquire(s->pool, &c, s->db_timeout_ms, err);
	if (st == AG_OK)
		st = lens ? ag_db_execb(c, sql, n, params, lens, fmts, res, err)
		          : ag_db_exec(c, sql, n, params, res, err);
	ag_db_release(s->pool, c);
	return st;
}

void apikeys_create(const sessions_ctx *s, const char *user_id, const char *name, apikeys_created *out,
                    accounts_result *r)
{
	unsigned char raw[APIKEYS_RAW], hash[crypto_hash_sha256_BYTES];
	char max[16];
	PGresult *res = NULL;
	ag_err e;
	ag_err_clear(&e);
	memset(out, 0, sizeof *out);
	size_t nlen = name ? strnlen(name, APIKEYS_NAME_MAX + 1) : 0;
	size_t cps = 0;
	if (!apikeys_uuid(user_id) || nlen == 0 || nlen > APIKEYS_NAME_MAX || !policy_utf8_count(name, nlen, &cps)) {
		apikeys_set(r, 400, "name must be 1 to 100 bytes of UTF-8 text");
		return;
	}
	for (size_t i = 0; i < nlen; i++) {
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f) {
			apikeys_set(r, 400, "name must not contain control characters");
			return;
		}
	}
	randombytes_buf(raw, sizeof raw);
	memcpy(out->key, APIKEYS_PREFIX, sizeof APIKEYS_PREFIX - 1);
	sodium_bin2base64(out->key + sizeof APIKEYS_PREFIX - 1, sizeof out->key - (sizeof APIKEYS_PREFIX - 1), raw,
	                  sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	crypto_hash_sha256(hash, (const unsigned char *)out->key, strlen(out->key));
	memcpy(out->prefix, out->key, APIKEYS_SHOWN);
	snprintf(max, sizeof max, "%d", APIKEYS_MAX_PER_USER);
	const char *params[5] = {user_id, name, out->prefix, (const char *)hash, max};
	const int lens[5] = {0, 0, 0, sizeof hash, 0}, fmts[5] = {0, 0, 0, 1, 0};
	ag_status st = apikeys_exec(s, apikeys_sql_insert, 5, params, lens, fmts, &res, &e);
	if (st != AG_OK) {
		ag_log_warn("api key create: %s", e.msg);
		accounts_fail(r, st);
	} else if (PQntuples(res) != 1) {
		apikeys_set(r, 409, "too many API keys: revoke one first (at most 100)");
	} else {
		snprintf(out->id, sizeof out->id, "%s", PQgetvalue(res, 0, 0));
		snprintf(out->created_at, sizeof out->created_at, "%s", PQgetvalue(res, 0, 1));
		apikeys_set(r, 201, NULL);
		ag_log_info("api key %s created for user %s", out->id, user_id);
	}
	if (r->status != 201)
		sodium_memzero(out, sizeof *out);
	PQclear(res);
	sodium_memzero(raw, sizeof raw);
}

void apikeys_list(const sessions_ctx *s, const char *user_id, PGresult **rows, accounts_result *r)
{
	ag_err e;
	ag_err_clear(&e);
	*rows = NULL;
	if (!apikeys_uuid(user_id)) {
		apikeys_set(r, 400, "malformed user id");
		return;
	}
	const char *params[1] = {user_id};
	ag_status st = apikeys_exec(s, apikeys_sql_list, 1, params, NULL, NULL, rows, &e);
	if (st != AG_OK) {
		ag_log_warn("api key list: %s", e.msg);
		accounts_fail(r, st);
		return;
	}
	apikeys_set(r, 200, NULL);
}

void apikeys_revoke(const sessions_ctx *s, const char *user_id, const char *key_id, accounts_result *r)
{
	PGresult *res = NULL;
	ag_err e;
	ag_err_clear(&e);
	if (!apikeys_uuid(user_id) || !apikeys_uuid(key_id)) {
		apikeys_set(r, 404, "API key not found");
		return;
	}
	const char *params[2] = {user_id, key_id};
	ag_status st = apikeys_exec(s, apikeys_sql_revoke, 2, params, NULL, NULL, &res, &e);
	if (st != AG_OK) {
		ag_log_warn("api key revoke: %s", e.msg);
		accounts_fail(r, st);
	} else if (PQntuples(res) != 1) {
		apikeys_set(r, 404, "API key not found");
	} else {
		apikeys_set(r, 204, NULL);
		ag_log_info("api key %s of user %s revoked", key_id, user_id);
	}
	PQclear(res);
}

void apikeys_verify(const sessions_ctx *s, const char *key, accounts_result *r)
{
	unsigned char hash[crypto_hash_sha256_BYTES];
	PGresult *res = NULL;
	ag_err e;
	ag_err_clear(&e);
	if (!apikeys_well_formed(key)) {
		apikeys_set(r, 401, "the API key is invalid or revoked");
		return;
	}
	crypto_hash_sha256(hash, (const unsigned char *)key, strlen(key));
	const char *params[1] = {(const char *)hash};
	const int lens[1] = {sizeof hash}, fmts[1] = {1};
	ag_status st = apikeys_exec(s, apikeys_sql_verify, 1, params, lens, fmts, &res, &e);
	if (st != AG_OK) {
		ag_log_warn("api key verify: %s", e.msg);
		accounts_fail(r, st);
	} else if (PQntuples(res) != 1) {
		apikeys_set(r, 401, "the API key is invalid or revoked");
	} else if (strcmp(PQgetvalue(res, 0, 3), "t") == 0) {
		apikeys_set(r, 403, "this account is disabled");
	} else {
		apikeys_set(r, 200, NULL);
		snprintf(r->user_id, sizeof r->user_id, "%s", PQgetvalue(res, 0, 0));
		snprintf(r->email, sizeof r->email, "%s", PQgetvalue(res, 0, 1));
		snprintf(r->role, sizeof r->role, "%s", PQgetvalue(res, 0, 2));
	}
	PQclear(res);
}
