/*
 * Tests services/auth/accounts.c (with tokens.c, keys.c and policy.c)
 * against PostgreSQL: registration, login, the tokens a login hands out,
 * disabled accounts, hash upgrades, and a database that is down.
 */
#include "../../../../services/auth/accounts.c"
#include "../../../../services/auth/keys.c"
#include "../../../../services/auth/policy.c"
#include "../../../../services/auth/throttle.c"
#include "../../../../services/auth/tokens.c"

#include "authtest.h"
#include "test.h"

#define SECRET "correct-horse-battery-staple-0123"
#define ISS    "aegis"
#define AUD    "aegis-api"
#define PW     "a perfectly fine passphrase"

static ag_db_pool *pool;
static keys *ks;
static accounts *acc;

static accounts_cfg cfg_with(unsigned long long ops, unsigned long long kib)
{
	accounts_cfg c = {ops, kib, 2000, {ISS, AUD, 900, 2592000}, {5, 50, 1, 900}};
	return c;
}

static void register_and_duplicates(void)
{
	accounts_result r;
	accounts_register(acc, "  Ada@Example.ORG ", PW, &r);
	AG_CHECK_INT(r.status, 201);
	AG_CHECK(r.error == NULL);
	AG_CHECK_STR(r.email, "ada@example.org");
	AG_CHECK_STR(r.role, "user");
	AG_CHECK_INT(strlen(r.user_id), 36);
	char want[128], got[256];
	snprintf(want, sizeof want, "SELECT email FROM users WHERE id = '%s'", r.user_id);
	authtest_query1(want, got, sizeof got);
	AG_CHECK_STR(got, "ada@example.org");
	accounts_result_clear(&r);

	/* the stored hash is a self-describing argon2id string with the configured cost, not the password */
	authtest_query1("SELECT password_hash FROM users WHERE email = 'ada@example.org'", got, sizeof got);
	AG_CHECK(strncmp(got, "$argon2id$v=19$m=19456,t=2,p=1$", 31) == 0);
	AG_CHECK(strstr(got, PW) == NULL);

	/* the same address in another case or with spaces is the same account */
	accounts_register(acc, "ADA@example.org", "another fine passphrase", &r);
	AG_CHECK_INT(r.status, 409);
	AG_CHECK_STR(r.error, "an account with this email already exists");
	AG_CHECK_STR(r.user_id, "");
	accounts_result_clear(&r);
}

static void register_policy_failures_are_400(void)
{
	static const struct {
		const char *email, *pw, *why;
	} cases[] = {
	        {"not-an-email", PW, "email must contain exactly one @"},
	        {"", PW, "email is required"},
	        {"bob@example.org", "short", "password must be at least 10 characters"},
	        {"bob@example.org", "xxxxxxxxxxxx", "password must not be a single character repeated"},
	        {"bob@example.org", "", "password is required"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		accounts_result r;
		accounts_register(acc, cases[i].email, cases[i].pw, &r);
		AG_CHECK_INT(r.status, 400);
		AG_CHECK_STR(r.error, cases[i].why);
		accounts_result_clear(&r);
	}
	char n[32];
	authtest_query1("SELECT count(*) FROM users WHERE email = 'bob@example.org'", n, sizeof n);
	AG_CHECK_STR(n, "0");
}

static void login_hands_out_verifiable_tokens(void)
{
	accounts_result reg, r;
	accounts_register(acc, "grace@example.org", PW, &reg);
	AG_CHECK_INT(reg.status, 201);
	int64_t before = (int64_t)time(NULL);
	accounts_login(acc, " Grace@Example.org", PW, &r);
	AG_CHECK_INT(r.status, 200);
	AG_CHECK(r.error == NULL);
	AG_CHECK_STR(r.user_id, reg.user_id);
	AG_CHECK_STR(r.email, "grace@example.org");
	AG_CHECK_STR(r.role, "user");
	AG_CHECK_INT(r.tokens.expires_in, 900);
	AG_CHECK(r.tokens.access != NULL);
	AG_CHECK_INT(strlen(r.tokens.refresh), 43);

	/* the access token verifies with the published keys and carries who and what */
	PGconn *c = NULL;
	keys_public pubs[AG_JWKS_MAX_KEYS];
	ag_jwk jwks[AG_JWKS_MAX_KEYS];
	size_t n = 0;
	ag_err e;
	AG_CHECK_INT(ag_db_acquire(pool, &c, 2000, &e), AG_OK);
	AG_CHECK_INT(keys_published(c, pubs, &n, &e), AG_OK);
	ag_db_release(pool, c);
	for (size_t i = 0; i < n; i++)
		jwks[i] = pubs[i].jwk;
	ag_jwt_claims cl;
	if (r.tokens.access) {
		AG_CHECK_INT(ag_jwt_verify(r.tokens.access, jwks, n, ISS, AUD, (int64_t)time(NULL), 60, &cl, &e),
		             AG_OK);
		AG_CHECK_STR(cl.sub, reg.user_id);
		AG_CHECK_STR(cl.role, "user");
		AG_CHECK_STR(cl.email, "grace@example.org");
		AG_CHECK(cl.iat >= before && cl.iat <= before + 5);
		AG_CHECK_INT(cl.nbf, cl.iat);
		AG_CHECK_INT(cl.exp - cl.iat, 900);
		AG_CHECK(strlen(cl.jti) >= 16);
	}

	/* only the SHA-256 of the refresh token is stored, in a new family, expiring in 30 days */
	unsigned char h[TOKENS_HASH_BYTES];
	char hex[2 * TOKENS_HASH_BYTES + 1], sql[512], got[128];
	tokens_refresh_hash(r.tokens.refresh, h);
	sodium_bin2hex(hex, sizeof hex, h, sizeof h);
	snprintf(sql, sizeof sql,
	         "SELECT user_id::text || ',' || (family_id IS NOT NULL) || ',' ||"
	         " (abs(extract(epoch FROM expires_at - now()) - 2592000) < 30) || ',' || (used_at IS NULL)"
	         " FROM refresh_tokens WHERE token_hash = '\\x%s'",
	         hex);
	authtest_query1(sql, got, sizeof got);
	char want[128];
	snprintf(want, sizeof want, "%s,true,true,true", reg.user_id);
	AG_CHECK_STR(got, want);

	/* a second login starts another family */
	accounts_result r2;
	accounts_login(acc, "grace@example.org", PW, &r2);
	AG_CHECK_INT(r2.status, 200);
	AG_CHECK(strcmp(r2.tokens.refresh, r.tokens.refresh) != 0);
	snprintf(sql, sizeof sql, "SELECT count(DISTINCT family_id) FROM refresh_tokens WHERE user_id = '%s'",
	         reg.user_id);
	authtest_query1(sql, got, sizeof got);
	AG_CHECK_STR(got, "2");
	accounts_result_clear(&r2);
	accounts_result_clear(&r);
	accounts_result_clear(&reg);
}

static void wrong_password_and_unknown_user_look_the_same(void)
{
	accounts_result r;
	accounts_login(acc, "ada@example.org", "not the passphrase", &r);
	AG_CHECK_INT(r.status, 401);
	AG_CHECK_STR(r.error, "invalid email or password");
	AG_CHECK(r.tokens.access == NULL);
	AG_CHECK_STR(r.user_id, "");
	accounts_result_clear(&r);
	accounts_login(acc, "nobody@example.org", "not the passphrase", &r);
	AG_CHECK_INT(r.status, 401);
	AG_CHECK_STR(r.error, "invalid email or password");
	accounts_result_clear(&r);
	accounts_login(acc, "not an email", "not the passphrase", &r);
	AG_CHECK_INT(r.status, 401);
	AG_CHECK_STR(r.error, "invalid email or password");
	accounts_result_clear(&r);
	accounts_login(acc, "", PW, &r);
	AG_CHECK_INT(r.status, 400);
	AG_CHECK_STR(r.error, "email and password are required");
	accounts_result_clear(&r);
	char big[AG_PASSWORD_MAX_BYTES + 2];
	memset(big, 'p', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	accounts_login(acc, "ada@example.org", big, &r);
	AG_CHECK_INT(r.status, 401);
	accounts_result_clear(&r);
}

static void disabled_account_is_403_only_with_the_right_password(void)
{
	accounts_result r;
	accounts_register(acc, "mallory@example.org", PW, &r);
	AG_CHECK_INT(r.status, 201);
	accounts_result_clear(&r);
	AG_CHECK(authtest_exec("UPDATE users SET disabled = true WHERE email = 'mallory@example.org'"));
	accounts_login(acc, "mallory@example.org", PW, &r);
	AG_CHECK_INT(r.status, 403);
	AG_CHECK_STR(r.error, "this account is disabled");
	AG_CHECK(r.tokens.access == NULL);
	accounts_result_clear(&r);
	accounts_login(acc, "mallory@example.org", "wrong passphrase!", &r);
	AG_CHECK_INT(r.status, 401);
	accounts_result_clear(&r);
}

static void admin_role_reaches_the_token(void)
{
	accounts_result r;
	accounts_register(acc, "root@example.org", PW, &r);
	accounts_result_clear(&r);
	AG_CHECK(authtest_exec("UPDATE users SET role = 'admin' WHERE email = 'root@example.org'"));
	accounts_login(acc, "root@example.org", PW, &r);
	AG_CHECK_INT(r.status, 200);
	AG_CHECK_STR(r.role, "admin");
	accounts_result_clear(&r);
}

static void older_hash_is_upgraded_at_login(void)
{
	accounts *weak = NULL;
	ag_err e;
	accounts_cfg wc = cfg_with(1, 8192);
	AG_CHECK_INT(accounts_new(&weak, &wc, pool, ks, &e), AG_OK);
	accounts_result r;
	accounts_register(weak, "old@example.org", PW, &r);
	AG_CHECK_INT(r.status, 201);
	accounts_result_clear(&r);
	char got[256];
	authtest_query1("SELECT password_hash FROM users WHERE email = 'old@example.org'", got, sizeof got);
	AG_CHECK(strncmp(got, "$argon2id$v=19$m=8192,t=1,p=1$", 30) == 0);
	/* logging in through the service with the current parameters upgrades it */
	accounts_login(acc, "old@example.org", PW, &r);
	AG_CHECK_INT(r.status, 200);
	accounts_result_clear(&r);
	authtest_query1("SELECT password_hash FROM users WHERE email = 'old@example.org'", got, sizeof got);
	AG_CHECK(strncmp(got, "$argon2id$v=19$m=19456,t=2,p=1$", 31) == 0);
	accounts_login(acc, "old@example.org", PW, &r);
	AG_CHECK_INT(r.status, 200);
	accounts_result_clear(&r);
	accounts_free(weak);
}

static void database_down_is_503(void)
{
	ag_db_pool *dead = NULL;
	accounts *a = NULL;
	ag_err e;
	/* nothing listens on port 1 */
	AG_CHECK_INT(ag_db_pool_new(&dead, "postgresql://aegis@127.0.0.1:1/aegis?connect_timeout=2", 1, &e), AG_OK);
	accounts_cfg c = cfg_with(2, 19456);
	AG_CHECK_INT(accounts_new(&a, &c, dead, ks, &e), AG_OK);
	accounts_result r;
	accounts_register(a, "down@example.org", PW, &r);
	AG_CHECK_INT(r.status, 503);
	AG_CHECK_STR(r.error, "service unavailable, retry later");
	accounts_result_clear(&r);
	accounts_login(a, "down@example.org", PW, &r);
	AG_CHECK_INT(r.status, 503);
	AG_CHECK_STR(r.error, "service unavailable, retry later");
	accounts_result_clear(&r);
	accounts_free(a);
	ag_db_pool_free(dead);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	const char *url = authtest_db_create("accounts");
	ag_err e;
	ag_err_clear(&e);
	keys_cfg kc = {.secret = SECRET, .rotate_s = 86400, .access_ttl_s = 900};
	accounts_cfg ac = cfg_with(2, 19456);
	PGconn *c = NULL;
	bool ready = url && ag_db_pool_new(&pool, url, 4, &e) == AG_OK && keys_new(&ks, &kc, &e) == AG_OK &&
	             ag_db_acquire(pool, &c, 5000, &e) == AG_OK && keys_load(ks, c, &e) == AG_OK &&
	             accounts_new(&acc, &ac, pool, ks, &e) == AG_OK;
	ag_db_release(pool, c);
	if (!ready) {
		if (e.msg[0])
			fprintf(stderr, "  set-up: %s\n", e.msg);
		AG_TEST_RUN(needs_a_database);
	} else {
		AG_TEST_RUN(register_and_duplicates);
		AG_TEST_RUN(register_policy_failures_are_400);
		AG_TEST_RUN(login_hands_out_verifiable_tokens);
		AG_TEST_RUN(wrong_password_and_unknown_user_look_the_same);
		AG_TEST_RUN(disabled_account_is_403_only_with_the_right_password);
		AG_TEST_RUN(admin_role_reaches_the_token);
		AG_TEST_RUN(older_hash_is_upgraded_at_login);
		AG_TEST_RUN(database_down_is_503);
	}
	accounts_free(acc);
	keys_free(ks);
	ag_db_pool_free(pool);
	authtest_db_drop();
	return ag_test_summary();
}
