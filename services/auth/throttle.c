/*
 * throttle.c - failed-login counters in PostgreSQL (see throttle.h). Each
 * failure is one upsert per key that computes the new count and the block
 * in SQL, so concurrent replicas never lose a count.
 */
#include "throttle.h"

#include "aegis/db.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define THROTTLE_IP_MAX 45

static const char throttle_sql_check[] =
        "SELECT coalesce(ceil(extract(epoch FROM max(blocked_until) - now())), 0)::bigint"
        " FROM login_throttle WHERE key IN ($1, $2) AND blocked_until > now()";

/* n = the new failure count: 1 when the last failure is older than the lockout, else one more. */
#define THROTTLE_N \
	"(CASE WHEN t.last_failure < now() - $4::bigint * interval '1 second' THEN 1 ELSE t.failures + 1 END)"
static const char throttle_sql_fail[] =
        "INSERT INTO login_throttle AS t (key, failures, last_failure, blocked_until)"
        " VALUES ($1, 1, now(), CASE WHEN 1 > $2::int THEN now() + least($3::bigint, $4::bigint) * interval '1 second'"
        " END)"
        " ON CONFLICT (key) DO UPDATE SET failures = " THROTTLE_N ", last_failure = now(),"
        " blocked_until = CASE WHEN " THROTTLE_N " > $2::int THEN now() + least($3::bigint * power(2, least(" THROTTLE_N
        " - $2::int - 1, 30)), $4::bigint) * interval '1 second' END";

void throttle_keys_for(const char *account, const char *ip, throttle_keys *k)
{
	unsigned char h[crypto_hash_sha256_BYTES];
	char hex[2 * crypto_hash_sha256_BYTES + 1];
	crypto_hash_sha256_state st;
	size_t iplen = ip ? strnlen(ip, THROTTLE_IP_MAX + 1) : 0;
	const char *addr = iplen > 0 && iplen <= THROTTLE_IP_MAX ? ip : "unknown";

	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const unsigned char *)account, strlen(account) + 1); /* NUL separates */
	crypto_hash_sha256_update(&st, (const unsigned char *)addr, strlen(addr));
	crypto_hash_sha256_final(&st, h);
	sodium_bin2hex(hex, sizeof hex, h, sizeof h);
	snprintf(k->pair, sizeof k->pair, "pair:%s", hex);
	snprintf(k->ip, sizeof k->ip, "ip:%s", addr);
}

ag_status throttle_check(PGconn *c, const throttle_keys *k, uint32_t *retry_after, ag_err *err)
{
	PGresult *r = NULL;
	const char *params[2] = {k->pair, k->ip};
	*retry_after = 0;
	ag_status st = ag_db_exec(c, throttle_sql_check, 2, params, &r, err);
	if (st == AG_OK && PQntuples(r) == 1) {
		long long v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
		*retry_after = v > 0 ? (uint32_t)(v > UINT32_MAX ? UINT32_MAX : v) : 0;
	}
	PQclear(r);
	return st;
}

static ag_status throttle_fail_one(PGconn *c, const char *key, int64_t free_failures, const throttle_cfg *cfg,
                                   ag_err *err)
{
	char fr[24], base[24], lock[24];
	snprintf(fr, sizeof fr, "%lld", (long long)free_failures);
	snprintf(base, sizeof base, "%lld", (long long)cfg->base_s);
	snprintf(lock, sizeof lock, "%lld", (long long)cfg->lockout_s);
	const char *params[4] = {key, fr, base, lock};
	return ag_db_exec(c, throttle_sql_fail, 4, params, NULL, err);
}

ag_status throttle_fail(PGconn *c, const throttle_cfg *cfg, const throttle_keys *k, ag_err *err)
{
	ag_status st = throttle_fail_one(c, k->pair, cfg->free_failures, cfg, err);
	if (st == AG_OK)
		st = throttle_fail_one(c, k->ip, cfg->ip_free_failures, cfg, err);
	return st;
}

ag_status throttle_ok(PGconn *c, const throttle_keys *k, ag_err *err)
{
	const char *params[1] = {k->pair};
	return ag_db_exec(c, "DELETE FROM login_throttle WHERE key = $1", 1, params, NULL, err);
}
