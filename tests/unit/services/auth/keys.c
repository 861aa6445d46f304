/*
 * Tests services/auth/keys.c: kid derivation, sealing of private keys, and,
 * against PostgreSQL, creation, sharing between replicas, a wrong secret,
 * rotation and the published key set.
 */
#include "../../../../services/auth/keys.c"

#include "authtest.h"
#include "test.h"

#include <pthread.h>
#include <time.h>

#define SECRET "correct-horse-battery-staple-0123"
#define ISS    "aegis"
#define AUD    "aegis-api"

static void kid_is_short_stable_base64url(void)
{
	unsigned char pk[32], sk[64], pk2[32];
	crypto_sign_keypair(pk, sk);
	crypto_sign_keypair(pk2, sk);
	char a[AG_JWT_KID_MAX], b[AG_JWT_KID_MAX], c[AG_JWT_KID_MAX];
	keys_kid(pk, a);
	keys_kid(pk, b);
	keys_kid(pk2, c);
	AG_CHECK_INT(strlen(a), 16);
	AG_CHECK_STR(a, b);
	AG_CHECK(strcmp(a, c) != 0);
	for (size_t i = 0; a[i]; i++)
		AG_CHECK(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", a[i]) != NULL);
	/* known answer: the first 12 bytes of SHA-256 of 32 zero bytes */
	unsigned char zero[32] = {0};
	keys_kid(zero, a);
	AG_CHECK_STR(a, "Zmh6rfhivXdsj8GL");
}

static void sealed_key_opens_only_with_its_secret(void)
{
	unsigned char pk[32], sk[64], other_pk[32], other_sk[64], box[KEYS_BOX_KEY], wrong[KEYS_BOX_KEY];
	unsigned char sealed[KEYS_SEALED_BYTES], sealed2[KEYS_SEALED_BYTES], back[64];
	crypto_sign_keypair(pk, sk);
	crypto_sign_keypair(other_pk, other_sk);
	keys_box_key(SECRET, box);
	keys_box_key(SECRET "x", wrong);
	keys_seal(box, sk, sealed);
	keys_seal(box, sk, sealed2);
	AG_CHECK(memcmp(sealed, sealed2, sizeof sealed) != 0);   /* fresh nonce each time */
	AG_CHECK(memmem(sealed, sizeof sealed, sk, 32) == NULL); /* the secret half is not in the clear */
	AG_CHECK(keys_open(box, sealed, sizeof sealed, pk, back));
	AG_CHECK(memcmp(back, sk, 64) == 0);
	AG_CHECK(!keys_open(wrong, sealed, sizeof sealed, pk, back));
	AG_CHECK(!keys_open(box, sealed, sizeof sealed - 1, pk, back));
	AG_CHECK(!keys_open(box, sealed, sizeof sealed, other_pk, back)); /* row with a swapped public key */
	sealed[40] ^= 1;
	AG_CHECK(!keys_open(box, sealed, sizeof sealed, pk, back));
	/* the derived box key depends on the whole secret, deterministically */
	unsigned char again[KEYS_BOX_KEY];
	keys_box_key(SECRET, again);
	AG_CHECK(memcmp(box, again, sizeof box) == 0);
	AG_CHECK(memcmp(box, wrong, sizeof box) != 0);
}

static void short_secret_is_refused(void)
{
	keys *k = NULL;
	ag_err e;
	keys_cfg cfg = {.secret = "too-short", .rotate_s = 86400, .access_ttl_s = 900};
	AG_CHECK_INT(keys_new(&k, &cfg, &e), AG_E_INVAL);
	AG_CHECK(strstr(e.msg, "JWT_KEY_SECRET") != NULL);
	AG_CHECK(k == NULL);
}

/* --- with PostgreSQL --- */

static ag_db_pool *pool;

static keys *new_keys(const char *secret, int64_t rotate_s)
{
	keys *k = NULL;
	keys_cfg cfg = {.secret = secret, .rotate_s = rotate_s, .access_ttl_s = 900};
	ag_err e;
	if (keys_new(&k, &cfg, &e) != AG_OK)
		fprintf(stderr, "  keys_new: %s\n", e.msg);
	return k;
}

static ag_status load(keys *k, ag_err *e)
{
	PGconn *c = NULL;
	ag_status st = ag_db_acquire(pool, &c, 5000, e);
	if (st == AG_OK)
		st = keys_load(k, c, e);
	ag_db_release(pool, c);
	return st;
}

static char *sign_now(keys *k, int64_t now, ag_jwt_claims *cl, ag_status *st)
{
	PGconn *c = NULL;
	char *tok = NULL;
	ag_err e;
	memset(cl, 0, sizeof *cl);
	snprintf(cl->sub, sizeof cl->sub, "user-1");
	snprintf(cl->iss, sizeof cl->iss, ISS);
	snprintf(cl->aud, sizeof cl->aud, AUD);
	cl->iat = cl->nbf = now;
	cl->exp = now + 900;
	*st = ag_db_acquire(pool, &c, 5000, &e);
	if (*st == AG_OK)
		*st = keys_sign(k, c, cl, now, &tok, &e);
	if (*st != AG_OK)
		fprintf(stderr, "  sign: %s\n", e.msg);
	ag_db_release(pool, c);
	return tok;
}

static size_t published(keys_public *out)
{
	PGconn *c = NULL;
	size_t n = 0;
	ag_err e;
	if (ag_db_acquire(pool, &c, 5000, &e) != AG_OK || keys_published(c, out, &n, &e) != AG_OK)
		fprintf(stderr, "  published: %s\n", e.msg);
	ag_db_release(pool, c);
	return n;
}

static ag_status verify_with_published(const char *tok, int64_t now)
{
	keys_public pubs[AG_JWKS_MAX_KEYS];
	ag_jwk jwks[AG_JWKS_MAX_KEYS];
	size_t n = published(pubs);
	for (size_t i = 0; i < n; i++)
		jwks[i] = pubs[i].jwk;
	ag_jwt_claims out;
	return ag_jwt_verify(tok, jwks, n, ISS, AUD, now, 60, &out, NULL);
}

static void first_start_creates_one_key_others_share_it(void)
{
	char count[32];
	keys *a = new_keys(SECRET, 86400), *b = new_keys(SECRET, 86400);
	ag_err e;
	AG_CHECK(!keys_loaded(a));
	AG_CHECK_INT(load(a, &e), AG_OK);
	AG_CHECK(keys_loaded(a));
	AG_CHECK_INT(load(b, &e), AG_OK);
	AG_CHECK_STR(a->kid, b->kid);
	AG_CHECK(memcmp(a->sk, b->sk, sizeof a->sk) == 0);
	authtest_query1("SELECT count(*) FROM signing_keys", count, sizeof count);
	AG_CHECK_STR(count, "1");
	/* retire_at = created + rotate, expires_at = retire_at + the token lifetime */
	authtest_query1("SELECT extract(epoch FROM retire_at - created_at)::bigint || ',' ||"
	                " extract(epoch FROM expires_at - retire_at)::bigint || ',' || alg ||"
	                " ',' || length(public_key) || ',' || length(private_key_enc) FROM signing_keys",
	                count, sizeof count);
	AG_CHECK_STR(count, "86400,900,EdDSA,32,104");

	ag_jwt_claims cl;
	ag_status st;
	int64_t now = (int64_t)time(NULL);
	char *tok = sign_now(b, now, &cl, &st);
	AG_CHECK_INT(st, AG_OK);
	AG_CHECK_INT(verify_with_published(tok, now), AG_OK);
	free(tok);
	keys_free(a);
	keys_free(b);
}

static void wrong_secret_is_a_clear_error(void)
{
	keys *k = new_keys("a-completely-different-secret", 86400);
	ag_err e;
	ag_err_clear(&e);
	AG_CHECK_INT(load(k, &e), AG_E_INVAL);
	AG_CHECK(strstr(e.msg, "JWT_KEY_SECRET does not open signing key") != NULL);
	AG_CHECK(!keys_loaded(k));
	/* and it cannot sign */
	ag_jwt_claims cl;
	ag_status st;
	char *tok = sign_now(k, (int64_t)time(NULL), &cl, &st);
	AG_CHECK_INT(st, AG_E_UNAVAILABLE);
	AG_CHECK(tok == NULL);
	keys_free(k);
}

typedef struct racer {
	keys *k;
	ag_status st;
} racer;

static void *race(void *arg)
{
	racer *r = arg;
	ag_err e;
	r->st = load(r->k, &e);
	return NULL;
}

static void concurrent_replicas_create_a_single_key(void)
{
	/* nothing current: every replica starts at once and must agree on one new key */
	AG_CHECK(authtest_exec("DELETE FROM signing_keys"));
	enum { N = 4 };
	racer r[N];
	pthread_t t[N];
	for (int i = 0; i < N; i++) {
		r[i].k = new_keys(SECRET, 86400);
		pthread_create(&t[i], NULL, race, &r[i]);
	}
	for (int i = 0; i < N; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < N; i++) {
		AG_CHECK_INT(r[i].st, AG_OK);
		AG_CHECK_STR(r[i].k->kid, r[0].k->kid);
	}
	char count[32];
	authtest_query1("SELECT count(*) FROM signing_keys", count, sizeof count);
	AG_CHECK_STR(count, "1");
	for (int i = 0; i < N; i++)
		keys_free(r[i].k);
}

static void retired_key_is_replaced_when_signing(void)
{
	keys *k = new_keys(SECRET, 86400);
	ag_err e;
	AG_CHECK_INT(load(k, &e), AG_OK);
	char old_kid[AG_JWT_KID_MAX];
	memcpy(old_kid, k->kid, sizeof old_kid);
	int64_t now = (int64_t)time(NULL);
	ag_jwt_claims cl;
	ag_status st;
	char *old_tok = sign_now(k, now, &cl, &st);
	AG_CHECK_INT(st, AG_OK);

	/* the key retired a minute ago and stays published for 600 s more */
	AG_CHECK(authtest_exec("UPDATE signing_keys SET retire_at = now() - interval '60 s',"
	                       " expires_at = now() + interval '600 s'"));
	k->retire_at = now - 60;
	k->expires_at = now + 600;
	char *tok = sign_now(k, now, &cl, &st);
	AG_CHECK_INT(st, AG_OK);
	AG_CHECK(strcmp(k->kid, old_kid) != 0);
	char kid[AG_JWT_KID_MAX];
	AG_CHECK_INT(ag_jwt_peek_kid(tok, kid, NULL), AG_OK);
	AG_CHECK_STR(kid, k->kid);
	/* both keys are published, and both tokens verify */
	keys_public pubs[AG_JWKS_MAX_KEYS];
	AG_CHECK_INT(published(pubs), 2);
	AG_CHECK_INT(verify_with_published(tok, now), AG_OK);
	AG_CHECK_INT(verify_with_published(old_tok, now), AG_OK);
	free(tok);
	free(old_tok);

	/* once the old key's tokens have all expired it disappears from the set */
	AG_CHECK(authtest_exec("UPDATE signing_keys SET expires_at = now() - interval '1 s' WHERE retire_at < now()"));
	AG_CHECK_INT(published(pubs), 1);
	AG_CHECK_STR(pubs[0].jwk.kid, k->kid);
	AG_CHECK(pubs[0].expires_at_ms > now * 1000);
	keys_free(k);
}

static void tokens_never_outlive_their_key(void)
{
	keys *k = new_keys(SECRET, 86400);
	ag_err e;
	AG_CHECK_INT(load(k, &e), AG_OK);
	int64_t now = (int64_t)time(NULL);
	/* pretend the database could not be reached for a rotation: the key has retired, with 100 s of
	 * publication left, and the last attempt to replace it failed just now */
	k->retire_at = now - 1;
	k->expires_at = now + 100;
	k->last_check = now;
	k->last_fail = now;
	ag_jwt_claims cl;
	ag_status st;
	char *tok = sign_now(k, now, &cl, &st);
	AG_CHECK_INT(st, AG_OK);
	AG_CHECK_INT(cl.exp, now + 100);
	free(tok);
	/* past its publication it must not sign at all */
	k->expires_at = now;
	tok = sign_now(k, now, &cl, &st);
	AG_CHECK_INT(st, AG_E_UNAVAILABLE);
	AG_CHECK(tok == NULL);
	keys_free(k);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	AG_TEST_RUN(kid_is_short_stable_base64url);
	AG_TEST_RUN(sealed_key_opens_only_with_its_secret);
	AG_TEST_RUN(short_secret_is_refused);

	const char *url = authtest_db_create("keys");
	ag_err e;
	if (!url || ag_db_pool_new(&pool, url, 4, &e) != AG_OK) {
		AG_TEST_RUN(needs_a_database);
	} else {
		AG_TEST_RUN(first_start_creates_one_key_others_share_it);
		AG_TEST_RUN(wrong_secret_is_a_clear_error);
		AG_TEST_RUN(concurrent_replicas_create_a_single_key);
		AG_TEST_RUN(retired_key_is_replaced_when_signing);
		AG_TEST_RUN(tokens_never_outlive_their_key);
	}
	ag_db_pool_free(pool);
	authtest_db_drop();
	return ag_test_summary();
}
