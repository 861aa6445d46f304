/*
 * Tests services/gateway/authn.c: bearer header parsing, verification
 * against the key cache, the refetch cooldown, and loading keys from a
 * (fake) auth service over NATS - which keys are kept and how often it is
 * asked.
 *
 * NATS: AEGIS_TEST_NATS_URL, else a nats-server of its own on 127.0.0.1:14263.
 */
#include "../../../../services/gateway/authn.c"
#include "../../../../services/gateway/oidc.c"
#include "../../../../services/gateway/uuid.c"

#include "test.h"

#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

#define TEST_NATS_PORT 14263
#define TEST_ISS       "aegis"
#define TEST_AUD       "aegis-api"
#define TEST_SUB       "0f8fad5b-d9cb-469f-a165-70867728950e"

static unsigned char pk1[AG_JWT_ED25519_PK], sk1[AG_JWT_ED25519_SK];
static unsigned char pk2[AG_JWT_ED25519_PK], sk2[AG_JWT_ED25519_SK];

static char *sign(const char *kid, const unsigned char *sk, const char *sub, const char *iss, int64_t exp_in)
{
	ag_jwt_claims c;
	char *tok = NULL;
	int64_t now = (int64_t)time(NULL);
	memset(&c, 0, sizeof c);
	snprintf(c.sub, sizeof c.sub, "%s", sub);
	snprintf(c.role, sizeof c.role, "user");
	snprintf(c.iss, sizeof c.iss, "%s", iss);
	snprintf(c.aud, sizeof c.aud, "%s", TEST_AUD);
	snprintf(c.jti, sizeof c.jti, "jti-1");
	c.iat = c.nbf = now;
	c.exp = now + exp_in;
	AG_CHECK_INT(ag_jwt_sign(&c, kid, sk, &tok, NULL), AG_OK);
	return tok;
}

static void bearer_header_parsing(void)
{
	const char *t;
	size_t n;
	AG_CHECK(authn_bearer("Bearer abc.def-_~+/ghi==", &t, &n));
	AG_CHECK_INT(n, 17);
	AG_CHECK(strncmp(t, "abc.def-_~+/ghi==", n) == 0);
	AG_CHECK(authn_bearer("  bearer   tok  ", &t, &n));
	AG_CHECK_INT(n, 3);
	AG_CHECK(strncmp(t, "tok", 3) == 0);
	AG_CHECK(!authn_bearer(NULL, &t, &n));
	AG_CHECK(!authn_bearer("", &t, &n));
	AG_CHECK(!authn_bearer("Bearer", &t, &n));
	AG_CHECK(!authn_bearer("Bearer ", &t, &n));
	AG_CHECK(!authn_bearer("Basic YTpi", &t, &n));
	AG_CHECK(!authn_bearer("BearerX tok", &t, &n));
	AG_CHECK(!authn_bearer("Bearer tok en", &t, &n));
	AG_CHECK(!authn_bearer("Bearer tok=x", &t, &n));
	AG_CHECK(!authn_bearer("Bearer t\"ok", &t, &n));
}

static void verify_against_the_cache(void)
{
	authn *a = NULL;
	authn_snapshot s;
	ag_jwt_claims c;
	AG_CHECK_INT(authn_new(&a, NULL, NULL, TEST_ISS, TEST_AUD, 1000), AG_OK);
	if (!a)
		return;
	memset(&s, 0, sizeof s);
	snprintf(s.keys[0].kid, sizeof s.keys[0].kid, "k1");
	memcpy(s.keys[0].pub, pk1, sizeof pk1);
	s.nkeys = 1;
	s.loaded = true;

	char *good = sign("k1", sk1, TEST_SUB, TEST_ISS, 900);
	char *other_kid = sign("k2", sk2, TEST_SUB, TEST_ISS, 900);
	char *forged = sign("k1", sk2, TEST_SUB, TEST_ISS, 900); /* right kid, wrong key */
	char *not_uuid = sign("k1", sk1, "alice", TEST_ISS, 900);
	char *wrong_iss = sign("k1", sk1, TEST_SUB, "someone-else", 900);
	char *expired = sign("k1", sk1, TEST_SUB, TEST_ISS, -(AUTHN_SKEW_S + 30));
	char *in_skew = sign("k1", sk1, TEST_SUB, TEST_ISS, -(AUTHN_SKEW_S / 2));

	AG_CHECK_INT(authn_verify(a, good, &s, &c), AG_OK);
	AG_CHECK_STR(c.sub, TEST_SUB);
	AG_CHECK_INT(authn_verify(a, other_kid, &s, &c), AG_E_NOTFOUND);
	AG_CHECK_INT(authn_verify(a, forged, &s, &c), AG_E_AUTH);
	AG_CHECK_INT(authn_verify(a, not_uuid, &s, &c), AG_E_AUTH);
	AG_CHECK_INT(authn_verify(a, wrong_iss, &s, &c), AG_E_AUTH);
	AG_CHECK_INT(authn_verify(a, expired, &s, &c), AG_E_AUTH);
	AG_CHECK_INT(authn_verify(a, in_skew, &s, &c), AG_OK);
	AG_CHECK_INT(authn_verify(a, "not.a.token", &s, &c), AG_E_AUTH);
	AG_CHECK_INT(authn_verify(a, "", &s, &c), AG_E_AUTH);

	free(good);
	free(other_kid);
	free(forged);
	free(not_uuid);
	free(wrong_iss);
	free(expired);
	free(in_skew);
	authn_free(a);
}

/* The memory of verified JWTs: a hit only for the same token, the same keys, before exp and within the TTL. */
static void verified_tokens_are_remembered_within_limits(void)
{
	authn *a = NULL;
	unsigned char d1[crypto_generichash_BYTES], d2[crypto_generichash_BYTES];
	bool hit = true;
	AG_CHECK_INT(authn_new(&a, NULL, NULL, TEST_ISS, TEST_AUD, 1000), AG_OK);
	if (!a)
		return;
	crypto_generichash(d1, sizeof d1, (const unsigned char *)"token-one", 9, NULL, 0);
	memcpy(d2, d1, sizeof d2);
	d2[sizeof d2 - 1] ^= 1; /* another token in the same slot */
	authn_verified *v = authn_verified_slot(a, d1, 3, &hit);
	AG_CHECK(!hit); /* empty */
	*v = (authn_verified){.gen = 3, .at_ms = authn_now_ms()};
	memcpy(v->digest, d1, sizeof d1);
	snprintf(v->claims.sub, sizeof v->claims.sub, "%s", TEST_SUB);
	v->claims.exp = (int64_t)time(NULL) + 600;
	AG_CHECK(authn_verified_slot(a, d1, 3, &hit) == v && hit);
	AG_CHECK(authn_verified_slot(a, d2, 3, &hit) == v && !hit); /* same slot, other token */
	AG_CHECK(authn_verified_slot(a, d1, 4, &hit) == v && !hit); /* the keys changed since */
	v->claims.exp = (int64_t)time(NULL) - AUTHN_SKEW_S;         /* expired, skew included */
	authn_verified_slot(a, d1, 3, &hit);
	AG_CHECK(!hit);
	v->claims.exp = (int64_t)time(NULL) + 600;
	v->at_ms = authn_now_ms() - AUTHN_VERIFIED_TTL_MS; /* remembered too long */
	authn_verified_slot(a, d1, 3, &hit);
	AG_CHECK(!hit);
	authn_free(a);
}

static void cooldown_and_generation_skip_the_fetch(void)
{
	authn *a = NULL;
	AG_CHECK_INT(authn_new(&a, NULL, NULL, TEST_ISS, TEST_AUD, 1000), AG_OK);
	if (!a)
		return;
	/* a fetch a moment ago: within the cooldown nothing is attempted (the NULL bus is never touched) */
	a->loaded = true;
	a->attempt_ms = authn_now_ms();
	uint64_t before = a->attempt_ms;
	authn_fetch(a, a->gen);
	AG_CHECK(a->attempt_ms == before);
	/* someone loaded newer keys since this caller looked: no fetch either */
	a->attempt_ms = 0;
	a->gen = 5;
	authn_fetch(a, 4);
	AG_CHECK(a->attempt_ms == 0);
	/* an unloaded cache tries again at once, even right after a failed attempt */
	a->loaded = false;
	a->attempt_ms = authn_now_ms() - 5;
	before = a->attempt_ms;
	authn_fetch(a, 5); /* attempts (and fails: no bus) */
	AG_CHECK(a->attempt_ms > before);
	AG_CHECK(!a->loaded);
	AG_CHECK(!a->fetching);
	authn_free(a);
}

/* ---- against NATS, with a fake auth service ---- */

static atomic_int jwks_calls;
static atomic_int jwks_status;

static void fake_jwks(const void *data, size_t len, void **reply, size_t *reply_len, void *ud)
{
	Aegis__V1__AuthReply r = AEGIS__V1__AUTH_REPLY__INIT;
	Aegis__V1__PublicKey k[5] = {AEGIS__V1__PUBLIC_KEY__INIT, AEGIS__V1__PUBLIC_KEY__INIT,
	                             AEGIS__V1__PUBLIC_KEY__INIT, AEGIS__V1__PUBLIC_KEY__INIT,
	                             AEGIS__V1__PUBLIC_KEY__INIT};
	Aegis__V1__PublicKey *kp[5] = {&k[0], &k[1], &k[2], &k[3], &k[4]};
	int64_t now_ms = (int64_t)time(NULL) * 1000;
	atomic_fetch_add(&jwks_calls, 1);
	r.status = (uint32_t)atomic_load(&jwks_status);
	k[0].kid = "k1"; /* good */
	k[0].alg = "EdDSA";
	k[0].key.data = pk1;
	k[0].key.len = sizeof pk1;
	k[0].expires_at_ms = now_ms + 3600000;
	k[1].kid = "rsa"; /* wrong algorithm */
	k[1].alg = "RS256";
	k[1].key.data = pk2;
	k[1].key.len = sizeof pk2;
	k[2].kid = "short"; /* wrong key size */
	k[2].alg = "EdDSA";
	k[2].key.data = pk2;
	k[2].key.len = 16;
	k[3].kid = "old"; /* expired */
	k[3].alg = "EdDSA";
	k[3].key.data = pk2;
	k[3].key.len = sizeof pk2;
	k[3].expires_at_ms = now_ms - 1000;
	k[4].kid = ""; /* no kid */
	k[4].alg = "EdDSA";
	k[4].key.data = pk2;
	k[4].key.len = sizeof pk2;
	r.n_keys = 5;
	r.keys = kp;
	*reply_len = aegis__v1__auth_reply__get_packed_size(&r);
	*reply = malloc(*reply_len);
	if (*reply)
		aegis__v1__auth_reply__pack(&r, *reply);
	else
		*reply_len = 0;
}

static ag_bus *g_bus;

static void keys_load_from_the_auth_service(void)
{
	ag_bus *bus = g_bus;
	authn *a = NULL;
	ag_bus_service *svc = NULL;
	ag_err e;
	AG_CHECK_INT(ag_bus_serve(&svc, bus, AUTHN_SUBJECT_JWKS, "auth", fake_jwks, NULL, &e), AG_OK);
	AG_CHECK_INT(authn_new(&a, NULL, bus, TEST_ISS, TEST_AUD, 2000), AG_OK);
	if (!a || !svc)
		goto out;

	/* the auth service answers 503: nothing is loaded */
	atomic_store(&jwks_status, 503);
	authn_fetch(a, 0);
	AG_CHECK(!a->loaded);
	AG_CHECK_INT(atomic_load(&jwks_calls), 1);

	/* right after, still unloaded, it is asked again, and only the usable key is kept */
	atomic_store(&jwks_status, 200);
	authn_fetch(a, 0);
	AG_CHECK(a->loaded);
	AG_CHECK_INT(a->gen, 1);
	AG_CHECK_INT(a->nkeys, 1);
	AG_CHECK_STR(a->keys[0].kid, "k1");
	AG_CHECK_INT(atomic_load(&jwks_calls), 2);

	/* a token with an unknown kid right after: the cooldown holds, the service is not asked again */
	authn_job j;
	memset(&j, 0, sizeof j);
	char *tok = sign("k9", sk2, TEST_SUB, TEST_ISS, 900);
	snprintf(j.token, sizeof j.token, "%s", tok);
	j.a = a;
	j.gen = a->gen;
	authn_job_work(&j);
	AG_CHECK_INT(j.st, AG_E_NOTFOUND);
	AG_CHECK(j.loaded);
	AG_CHECK_INT(atomic_load(&jwks_calls), 2);
	free(tok);

	/* a good token verifies through the same path once keys are there */
	tok = sign("k1", sk1, TEST_SUB, TEST_ISS, 900);
	snprintf(j.token, sizeof j.token, "%s", tok);
	authn_job_work(&j);
	AG_CHECK_INT(j.st, AG_OK);
	AG_CHECK_STR(j.claims.sub, TEST_SUB);
	free(tok);

	/* after the cooldown an unknown kid refetches once */
	a->attempt_ms -= AUTHN_REFETCH_COOLDOWN_MS + 1;
	tok = sign("k9", sk2, TEST_SUB, TEST_ISS, 900);
	snprintf(j.token, sizeof j.token, "%s", tok);
	j.gen = a->gen;
	authn_job_work(&j);
	AG_CHECK_INT(j.st, AG_E_NOTFOUND);
	AG_CHECK_INT(atomic_load(&jwks_calls), 3);
	AG_CHECK_INT(a->gen, 2);
	free(tok);
out:
	ag_bus_service_free(svc);
	authn_free(a);
}

static pid_t natsd_start(char *dir)
{
	pid_t pid = fork();
	if (pid == 0) {
		char port[16];
		snprintf(port, sizeof port, "%d", TEST_NATS_PORT);
		if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr))
			_exit(127);
		execlp("nats-server", "nats-server", "-p", port, "-a", "127.0.0.1", "-sd", dir, (char *)NULL);
		_exit(127);
	}
	return pid;
}

static bool wait_connected(ag_bus *b)
{
	for (int i = 0; i < 100; i++) {
		if (ag_bus_connected(b))
			return true;
		usleep(50 * 1000);
	}
	return false;
}

int main(void)
{
	char url[128], dir[] = "/tmp/aegis-gw-authn-XXXXXX";
	const char *env = getenv("AEGIS_TEST_NATS_URL");
	pid_t natsd = -1;
	ag_bus *bus = NULL;
	ag_err e;

	ag_log_init("gateway-authn-test", AG_LOG_ERROR);
	AG_CHECK(sodium_init() >= 0);
	crypto_sign_keypair(pk1, sk1);
	crypto_sign_keypair(pk2, sk2);

	AG_TEST_RUN(bearer_header_parsing);
	AG_TEST_RUN(verify_against_the_cache);
	AG_TEST_RUN(cooldown_and_generation_skip_the_fetch);
	AG_TEST_RUN(verified_tokens_are_remembered_within_limits);

	if (env && *env) {
		snprintf(url, sizeof url, "%s", env);
	} else if (mkdtemp(dir) && (natsd = natsd_start(dir)) > 0) {
		snprintf(url, sizeof url, "nats://127.0.0.1:%d", TEST_NATS_PORT);
	} else {
		url[0] = '\0';
	}
	if (url[0] && ag_bus_connect(&bus, url, "gateway-authn-test", NULL, &e) == AG_OK && wait_connected(bus)) {
		g_bus = bus;
		AG_TEST_RUN(keys_load_from_the_auth_service);
	} else {
		printf("not ok - keys_load_from_the_auth_service: needs AEGIS_TEST_NATS_URL or nats-server on PATH "
		       "(port %d)\n",
		       TEST_NATS_PORT);
		ag_test_failed++;
	}
	ag_bus_free(bus);
	ag_bus_shutdown_library();
	if (natsd > 0) {
		kill(natsd, SIGTERM);
		waitpid(natsd, NULL, 0);
		char cmd[96];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", dir);
	}
	return ag_test_summary();
}
