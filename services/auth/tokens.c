/*
 * tokens.c - issue access and refresh tokens (tokens.h). The access token is
 * signed first, in memory; the refresh token row is the only write, so a
 * failure leaves nothing half-issued that a client could hold.
 */
#include "tokens.h"

#include "aegis/db.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(TOKENS_REFRESH_BUF ==
                       sodium_base64_ENCODED_LEN(TOKENS_REFRESH_RAW, sodium_base64_VARIANT_URLSAFE_NO_PADDING),
               "refresh token buffer");
_Static_assert(TOKENS_HASH_BYTES == crypto_hash_sha256_BYTES, "hash size");
_Static_assert(sodium_base64_ENCODED_LEN(TOKENS_JTI_RAW, sodium_base64_VARIANT_URLSAFE_NO_PADDING) <=
                       sizeof(((ag_jwt_claims *)0)->jti),
               "jti fits the claims");

/* $4 NULL starts a new family (login); a refresh continues the family of the token it spent. */
static const char tokens_sql_insert_refresh[] =
        "INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at)"
        " VALUES ($1::uuid, coalesce($4::uuid, gen_random_uuid()), $2, now() + $3::bigint * interval '1 second')";

void tokens_refresh_hash(const char *token, unsigned char hash[TOKENS_HASH_BYTES])
{
	crypto_hash_sha256(hash, (const unsigned char *)token, strlen(token));
}

void tokens_refresh_new(char token[TOKENS_REFRESH_BUF], unsigned char hash[TOKENS_HASH_BYTES])
{
	unsigned char raw[TOKENS_REFRESH_RAW];
	randombytes_buf(raw, sizeof raw);
	sodium_bin2base64(token, TOKENS_REFRESH_BUF, raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(raw, sizeof raw);
	tokens_refresh_hash(token, hash);
}

static bool tokens_copy(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);
	if (n >= cap)
		return false;
	memcpy(dst, src, n + 1);
	return true;
}

void tokens_pair_clear(tokens_pair *p)
{
	if (!p)
		return;
	if (p->access) {
		sodium_memzero(p->access, strlen(p->access));
		free(p->access);
	}
	sodium_memzero(p, sizeof *p);
}

ag_status tokens_issue(const tokens_cfg *cfg, keys *k, PGconn *c, const char *user_id, const char *email,
                       const char *role, int64_t now, tokens_pair *out, ag_err *err)
{
	return tokens_issue_in(cfg, k, c, user_id, email, role, NULL, now, out, err);
}

ag_status tokens_issue_in(const tokens_cfg *cfg, keys *k, PGconn *c, const char *user_id, const char *email,
                          const char *role, const char *family_id, int64_t now, tokens_pair *out, ag_err *err)
{
	ag_status st;
	ag_jwt_claims cl;
	unsigned char hash[TOKENS_HASH_BYTES], jti[TOKENS_JTI_RAW];
	char ttl[24];

	memset(out, 0, sizeof *out);
	memset(&cl, 0, sizeof cl);
	if (!tokens_copy(cl.sub, sizeof cl.sub, user_id) || !tokens_copy(cl.email, sizeof cl.email, email) ||
	    !tokens_copy(cl.role, sizeof cl.role, role) || !tokens_copy(cl.iss, sizeof cl.iss, cfg->issuer) ||
	    !tokens_copy(cl.aud, sizeof cl.aud, cfg->audience))
		return ag_err_set(err, AG_E_INVAL, "a claim does not fit its field");
	randombytes_buf(jti, sizeof jti);
	sodium_bin2base64(cl.jti, sizeof cl.jti, jti, sizeof jti, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	cl.iat = cl.nbf = now;
	cl.exp = now + cfg->access_ttl_s;
	if ((st = keys_sign(k, c, &cl, now, &out->access, err)) != AG_OK)
		goto out;
	out->expires_in = cl.exp > now ? (uint32_t)(cl.exp - now) : 0;

	tokens_refresh_new(out->refresh, hash);
	snprintf(ttl, sizeof ttl, "%lld", (long long)cfg->refresh_ttl_s);
	const char *params[4] = {user_id, (const char *)hash, ttl, family_id};
	const int lengths[4] = {0, TOKENS_HASH_BYTES, 0, 0};
	const int formats[4] = {0, 1, 0, 0};
	st = ag_db_execb(c, tokens_sql_insert_refresh, 4, params, lengths, formats, NULL, err);
out:
	sodium_memzero(hash, sizeof hash);
	if (st != AG_OK)
		tokens_pair_clear(out);
	return st;
}
