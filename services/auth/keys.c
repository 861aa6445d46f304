/*
 * keys.c - load, create, rotate and publish the token signing keys (see
 * keys.h for the life of a key). All timestamps that decide a key's life
 * come from PostgreSQL's clock, so replicas agree on them.
 */
#include "keys.h"

#include "aegis/cfg.h"
#include "aegis/db.h"
#include "aegis/log.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define KEYS_BOX_CONTEXT    "aegis.auth.signing-key-seal.v1" /* BLAKE2b key: 16..64 bytes */
#define KEYS_HEX_PK         (2 * AG_JWT_ED25519_PK)
#define KEYS_HEX_SEALED     (2 * KEYS_SEALED_BYTES)
#define KEYS_KID_HASH_BYTES 12

_Static_assert(KEYS_BOX_KEY == crypto_secretbox_KEYBYTES, "box key size");
_Static_assert(KEYS_SEALED_BYTES == crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + AG_JWT_ED25519_SK,
               "sealed key size");
_Static_assert(AG_JWT_ED25519_SK == crypto_sign_SECRETKEYBYTES && AG_JWT_ED25519_PK == crypto_sign_PUBLICKEYBYTES,
               "Ed25519 sizes");
_Static_assert(sizeof KEYS_BOX_CONTEXT - 1 >= crypto_generichash_KEYBYTES_MIN &&
                       sizeof KEYS_BOX_CONTEXT - 1 <= crypto_generichash_KEYBYTES_MAX,
               "BLAKE2b key length");

struct keys {
	pthread_mutex_t mu;
	unsigned char box[KEYS_BOX_KEY];
	int64_t rotate_s, access_ttl_s;
	void (*changed)(void *ud); /* keys_cfg.changed */
	void *changed_ud;
	/* the current signing key, under mu */
	bool loaded;
	char kid[AG_JWT_KID_MAX];
	unsigned char sk[AG_JWT_ED25519_SK];
	int64_t retire_at, expires_at; /* seconds since the epoch */
	int64_t last_check;            /* last time the current key was looked up (seconds) */
	int64_t last_fail; /* last time that failed; a retired key is not retried more often than KEYS_RECHECK_S */
	bool kid_changed;  /* the signing key changed; reported by keys_unlock */
};

typedef struct keys_row {
	char kid[AG_JWT_KID_MAX];
	unsigned char pub[AG_JWT_ED25519_PK];
	unsigned char sealed[KEYS_SEALED_BYTES];
	size_t sealed_len;
	int64_t retire_at, expires_at;
} keys_row;

static const char keys_sql_current[] =
        "SELECT kid, encode(public_key, 'hex'), encode(private_key_enc, 'hex'),"
        " floor(extract(epoch FROM retire_at))::bigint, floor(extract(epoch FROM expires_at))::bigint"
        " FROM signing_keys WHERE alg = '" KEYS_ALG "' AND retire_at > now()"
        " ORDER BY retire_at DESC, kid LIMIT 1";

static const char keys_sql_insert[] =
        "INSERT INTO signing_keys (kid, alg, public_key, private_key_enc, retire_at, expires_at)"
        " VALUES ($1, '" KEYS_ALG "', $2, $3, now() + $4::bigint * interval '1 second',"
        " now() + ($4::bigint + $5::bigint) * interval '1 second')"
        " RETURNING floor(extract(epoch FROM retire_at))::bigint, floor(extract(epoch FROM expires_at))::bigint";

static const char keys_sql_published[] =
        "SELECT kid, encode(public_key, 'hex'), floor(extract(epoch FROM expires_at) * 1000)::bigint"
        " FROM signing_keys WHERE alg = '" KEYS_ALG "' AND expires_at > now()"
        " ORDER BY created_at DESC, kid LIMIT $1::int";

void keys_kid(const unsigned char pub[AG_JWT_ED25519_PK], char kid[AG_JWT_KID_MAX])
{
	unsigned char h[crypto_hash_sha256_BYTES];
	crypto_hash_sha256(h, pub, AG_JWT_ED25519_PK);
	sodium_bin2base64(kid, AG_JWT_KID_MAX, h, KEYS_KID_HASH_BYTES, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

void keys_box_key(const char *secret, unsigned char box[KEYS_BOX_KEY])
{
	crypto_generichash(box, KEYS_BOX_KEY, (const unsigned char *)secret, strlen(secret),
	                   (const unsigned char *)KEYS_BOX_CONTEXT, sizeof KEYS_BOX_CONTEXT - 1);
}

void keys_seal(const unsigned char box[KEYS_BOX_KEY], const unsigned char sk[AG_JWT_ED25519_SK],
               unsigned char sealed[KEYS_SEALED_BYTES])
{
	randombytes_buf(sealed, crypto_secretbox_NONCEBYTES);
	crypto_secretbox_easy(sealed + crypto_secretbox_NONCEBYTES, sk, AG_JWT_ED25519_SK, sealed, box);
}

bool keys_open(const unsigned char box[KEYS_BOX_KEY], const unsigned char *sealed, size_t len,
               const unsigned char pub[AG_JWT_ED25519_PK], unsigned char sk[AG_JWT_ED25519_SK])
{
	unsigned char derived[AG_JWT_ED25519_PK];
	if (len != KEYS_SEALED_BYTES)
		return false;
	if (crypto_secretbox_open_easy(sk, sealed + crypto_secretbox_NONCEBYTES, len - crypto_secretbox_NONCEBYTES,
	                               sealed, box) != 0)
		return false;
	crypto_sign_ed25519_sk_to_pk(derived, sk);
	if (sodium_memcmp(derived, pub, AG_JWT_ED25519_PK) != 0) {
		sodium_memzero(sk, AG_JWT_ED25519_SK);
		return false;
	}
	return true;
}

static bool keys_hex(const char *hex, unsigned char *out, size_t want)
{
	size_t n = 0;
	const char *end = NULL;
	if (strlen(hex) != 2 * want)
		return false;
	return sodium_hex2bin(out, want, hex, 2 * want, NULL, &n, &end) == 0 && n == want && *end == '\0';
}

static bool keys_int(const char *s, int64_t *out)
{
	long long v;
	if (!ag_cfg_parse_ll(s, 0, INT64_MAX, &v))
		return false;
	*out = v;
	return true;
}

/* The current key, when there is one; *found says whether there was. */
static ag_status keys_select_current(PGconn *c, keys_row *row, bool *found, ag_err *err)
{
	PGresult *r = NULL;
	*found = false;
	ag_status st = ag_db_exec(c, keys_sql_current, 0, NULL, &r, err);
	if (st != AG_OK)
		goto out;
	if (PQntuples(r) == 0)
		goto out;
	const char *kid = PQgetvalue(r, 0, 0);
	if (strlen(kid) == 0 || strlen(kid) >= sizeof row->kid ||
	    !keys_hex(PQgetvalue(r, 0, 1), row->pub, AG_JWT_ED25519_PK) ||
	    !keys_hex(PQgetvalue(r, 0, 2), row->sealed, KEYS_SEALED_BYTES) ||
	    !keys_int(PQgetvalue(r, 0, 3), &row->retire_at) || !keys_int(PQgetvalue(r, 0, 4), &row->expires_at)) {
		st = ag_err_set(err, AG_E_INTERNAL, "signing key row is malformed (kid, key sizes or times)");
		goto out;
	}
	memcpy(row->kid, kid, strlen(kid) + 1);
	row->sealed_len = KEYS_SEALED_BYTES;
	*found = true;
out:
	PQclear(r);
	return st;
}

/* Make a key pair and insert it; the caller holds the advisory lock inside a transaction. */
static ag_status keys_insert_new(keys *k, PGconn *c, keys_row *row, ag_err *err)
{
	unsigned char sk[AG_JWT_ED25519_SK];
	char rotate[24], ttl[24];
	PGresult *r = NULL;

	crypto_sign_keypair(row->pub, sk);
	keys_kid(row->pub, row->kid);
	keys_seal(k->box, sk, row->sealed);
	row->sealed_len = KEYS_SEALED_BYTES;
	sodium_memzero(sk, sizeof sk);
	snprintf(rotate, sizeof rotate, "%lld", (long long)k->rotate_s);
	snprintf(ttl, sizeof ttl, "%lld", (long long)k->access_ttl_s);

	const char *params[5] = {row->kid, (const char *)row->pub, (const char *)row->sealed, rotate, ttl};
	const int lengths[5] = {0, AG_JWT_ED25519_PK, KEYS_SEALED_BYTES, 0, 0};
	const int formats[5] = {0, 1, 1, 0, 0};
	ag_status st = ag_db_execb(c, keys_sql_insert, 5, params, lengths, formats, &r, err);
	if (st != AG_OK)
		goto out;
	if (PQntuples(r) != 1 || !keys_int(PQgetvalue(r, 0, 0), &row->retire_at) ||
	    !keys_int(PQgetvalue(r, 0, 1), &row->expires_at)) {
		st = ag_err_set(err, AG_E_INTERNAL, "inserting a signing key returned no times");
		goto out;
	}
	ag_log_info("created signing key %s (signs for %lld s)", row->kid, (long long)k->rotate_s);
out:
	PQclear(r);
	return st;
}

/* Find or create the current key in the database and make it ours. Caller holds k->mu. */
static ag_status keys_refresh_locked(keys *k, PGconn *c, ag_err *err)
{
	keys_row row;
	bool found = false, in_tx = false;
	unsigned char sk[AG_JWT_ED25519_SK];
	ag_status st = keys_select_current(c, &row, &found, err);
	if (st != AG_OK)
		goto out;
	if (!found) {
		char lock_id[24];
		snprintf(lock_id, sizeof lock_id, "%lld", KEYS_LOCK_ID);
		const char *params[1] = {lock_id};
		if ((st = ag_db_begin(c, err)) != AG_OK)
			goto out;
		in_tx = true;
		/* Replicas starting together queue here; the first creates the key, the others then find it. */
		if ((st = ag_db_exec(c, "SELECT pg_advisory_xact_lock($1::bigint)", 1, params, NULL, err)) != AG_OK)
			goto out;
		if ((st = keys_select_current(c, &row, &found, err)) != AG_OK)
			goto out;
		if (!found && (st = keys_insert_new(k, c, &row, err)) != AG_OK)
			goto out;
		if ((st = ag_db_commit(c, err)) != AG_OK)
			goto out;
		in_tx = false;
	}
	if (!keys_open(k->box, row.sealed, row.sealed_len, row.pub, sk)) {
		st = ag_err_set(err, AG_E_INVAL,
		                "JWT_KEY_SECRET does not open signing key %s: it differs from the secret the key was "
		                "sealed with (every auth replica needs the same JWT_KEY_SECRET)",
		                row.kid);
		goto out;
	}
	if (!k->loaded || strcmp(k->kid, row.kid) != 0) {
		ag_log_info("signing with key %s until %lld", row.kid, (long long)row.retire_at);
		k->kid_changed = true;
	}
	memcpy(k->kid, row.kid, sizeof k->kid);
	memcpy(k->sk, sk, sizeof k->sk);
	k->retire_at = row.retire_at;
	k->expires_at = row.expires_at;
	k->loaded = true;
	st = AG_OK;
out:
	if (in_tx)
		ag_db_rollback(c);
	sodium_memzero(sk, sizeof sk);
	return st;
}

ag_status keys_new(keys **out, const keys_cfg *cfg, ag_err *err)
{
	*out = NULL;
	if (sodium_init() < 0)
		return ag_err_set(err, AG_E_INTERNAL, "libsodium failed to initialise");
	if (!cfg->secret || strlen(cfg->secret) < KEYS_SECRET_MIN)
		return ag_err_set(err, AG_E_INVAL, "JWT_KEY_SECRET must be at least %d characters", KEYS_SECRET_MIN);
	if (cfg->rotate_s <= 0 || cfg->access_ttl_s <= 0)
		return ag_err_set(err, AG_E_INVAL, "key rotation and token lifetimes must be positive");
	keys *k = calloc(1, sizeof *k);
	if (!k)
		return ag_err_set(err, AG_E_NOMEM, "out of memory");
	if (pthread_mutex_init(&k->mu, NULL) != 0) {
		free(k);
		return ag_err_set(err, AG_E_INTERNAL, "mutex init failed");
	}
	keys_box_key(cfg->secret, k->box);
	k->rotate_s = cfg->rotate_s;
	k->access_ttl_s = cfg->access_ttl_s;
	k->changed = cfg->changed;
	k->changed_ud = cfg->changed_ud;
	*out = k;
	return AG_OK;
}

void keys_free(keys *k)
{
	if (!k)
		return;
	pthread_mutex_destroy(&k->mu);
	sodium_memzero(k, sizeof *k);
	free(k);
}

/* Release k->mu, then tell the hook when the signing key changed meanwhile. */
static void keys_unlock(keys *k)
{
	bool changed = k->kid_changed;
	k->kid_changed = false;
	pthread_mutex_unlock(&k->mu);
	if (changed && k->changed)
		k->changed(k->changed_ud);
}

ag_status keys_load(keys *k, PGconn *c, ag_err *err)
{
	pthread_mutex_lock(&k->mu);
	ag_status st = keys_refresh_locked(k, c, err);
	keys_unlock(k);
	return st;
}

bool keys_loaded(keys *k)
{
	pthread_mutex_lock(&k->mu);
	bool loaded = k->loaded;
	pthread_mutex_unlock(&k->mu);
	return loaded;
}

ag_status keys_sign(keys *k, PGconn *c, ag_jwt_claims *claims, int64_t now, char **token, ag_err *err)
{
	ag_status st;
	*token = NULL;
	pthread_mutex_lock(&k->mu);
	/* A retired key is replaced before it signs again (after a failure, at most once per KEYS_RECHECK_S, signing
	 * meanwhile with the retired key while it is still published); a key that has not retired is re-checked
	 * once in a while too, because another replica may have rotated on command. */
	if (now - k->last_check >= KEYS_RECHECK_S || (now >= k->retire_at && now - k->last_fail >= KEYS_RECHECK_S)) {
		ag_err e;
		ag_err_clear(&e);
		k->last_check = now;
		if (keys_refresh_locked(k, c, &e) != AG_OK) {
			k->last_fail = now;
			ag_log_error("signing key rotation failed (next try in %d s): %s", KEYS_RECHECK_S, e.msg);
		}
	}
	if (!k->loaded || now >= k->expires_at) {
		st = ag_err_set(err, AG_E_UNAVAILABLE, "no signing key may sign now");
		goto out;
	}
	/* A token must never outlive the publication of the key that signed it. */
	if (claims->exp > k->expires_at)
		claims->exp = k->expires_at;
	st = ag_jwt_sign(claims, k->kid, k->sk, token, err);
out:
	keys_unlock(k);
	return st;
}

static const char keys_sql_retire_now[] =
        "UPDATE signing_keys SET retire_at = now(),"
        " expires_at = least(expires_at, now() + ($1::bigint + $2::bigint) * interval '1 second')"
        " WHERE alg = '" KEYS_ALG "' AND retire_at > now()";

ag_status keys_rotate(keys *k, PGconn *c, ag_err *err)
{
	char lock_id[24], ttl[24], recheck[24];
	keys_row row;
	bool in_tx = false;
	snprintf(lock_id, sizeof lock_id, "%lld", KEYS_LOCK_ID);
	snprintf(ttl, sizeof ttl, "%lld", (long long)k->access_ttl_s);
	snprintf(recheck, sizeof recheck, "%d", KEYS_RECHECK_S);
	const char *lp[1] = {lock_id};
	const char *rp[2] = {ttl, recheck};
	pthread_mutex_lock(&k->mu);
	ag_status st = ag_db_begin(c, err);
	if (st != AG_OK)
		goto out;
	in_tx = true;
	if ((st = ag_db_exec(c, "SELECT pg_advisory_xact_lock($1::bigint)", 1, lp, NULL, err)) != AG_OK ||
	    (st = ag_db_exec(c, keys_sql_retire_now, 2, rp, NULL, err)) != AG_OK ||
	    (st = keys_insert_new(k, c, &row, err)) != AG_OK || (st = ag_db_commit(c, err)) != AG_OK)
		goto out;
	in_tx = false;
	ag_log_info("security: signing keys rotated on command; new key %s", row.kid);
	st = keys_refresh_locked(k, c, err);
out:
	if (in_tx)
		ag_db_rollback(c);
	keys_unlock(k);
	return st;
}

ag_status keys_published(PGconn *c, keys_public out[AG_JWKS_MAX_KEYS], size_t *n, ag_err *err)
{
	char limit[16];
	PGresult *r = NULL;
	*n = 0;
	snprintf(limit, sizeof limit, "%d", AG_JWKS_MAX_KEYS);
	const char *params[1] = {limit};
	ag_status st = ag_db_exec(c, keys_sql_published, 1, params, &r, err);
	if (st != AG_OK)
		goto out;
	for (int i = 0; i < PQntuples(r) && *n < AG_JWKS_MAX_KEYS; i++) {
		keys_public *p = &out[*n];
		const char *kid = PQgetvalue(r, i, 0);
		if (strlen(kid) == 0 || strlen(kid) >= sizeof p->jwk.kid ||
		    !keys_hex(PQgetvalue(r, i, 1), p->jwk.pub, AG_JWT_ED25519_PK) ||
		    !keys_int(PQgetvalue(r, i, 2), &p->expires_at_ms)) {
			ag_log_warn("signing key row %d is malformed; not published", i);
			continue;
		}
		memcpy(p->jwk.kid, kid, strlen(kid) + 1);
		(*n)++;
	}
out:
	PQclear(r);
	return st;
}
