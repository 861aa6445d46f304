/*
 * Tests services/auth/{sessions,throttle,apikeys,admin}.c and the password
 * change of accounts.c against PostgreSQL: refresh rotation and reuse
 * detection, logout, brute-force backoff per (account, IP), password change
 * ending other sessions, API keys, admin actions and external identities.
 */
#include "../../../../services/auth/accounts.c"
#include "../../../../services/auth/admin.c"
#include "../../../../services/auth/apikeys.c"
#include "../../../../services/auth/keys.c"
#include "../../../../services/auth/policy.c"
#include "../../../../services/auth/sessions.c"
#include "../../../../services/auth/throttle.c"
#include "../../../../services/auth/tokens.c"

#include "authtest.h"
#include "test.h"

#define SECRET "correct-horse-battery-staple-0123"
#define PW     "a perfectly fine passphrase"

static ag_db_pool *pool;
static keys *ks;
static accounts *acc;
static accounts_cfg ac;
static sessions_ctx sc;

/* Register and log in; the caller clears *r. */
static void user(const char *email, accounts_result *r)
{
	accounts_result reg;
	accounts_register(acc, email, PW, &reg);
	accounts_result_clear(&reg);
	accounts_login_from(acc, email, PW, "10.0.0.1", r);
	AG_CHECK_INT(r->status, 200);
}

static void refresh_rotates_and_reuse_revokes_the_family(void)
{
	accounts_result a, b, c;
	user("rot@example.org", &a);
	sessions_refresh(&sc, a.tokens.refresh, &b);
	AG_CHECK_INT(b.status, 200);
	AG_CHECK(strcmp(a.tokens.refresh, b.tokens.refresh) != 0);
	AG_CHECK(b.tokens.access != NULL);
	AG_CHECK_STR(b.user_id, a.user_id);
	AG_CHECK_STR(b.role, "user");
	sessions_refresh(&sc, a.tokens.refresh, &c); /* replay */
	AG_CHECK_INT(c.status, 401);
	accounts_result_clear(&c);
	sessions_refresh(&sc, b.tokens.refresh, &c); /* the family is gone */
	AG_CHECK_INT(c.status, 401);
	accounts_result_clear(&c);
	char n[32], sql[200];
	snprintf(sql, sizeof sql, "SELECT count(*) FROM refresh_tokens WHERE user_id = '%s' AND revoked_at IS NULL",
	         a.user_id);
	authtest_query1(sql, n, sizeof n);
	AG_CHECK_STR(n, "0");
	sessions_refresh(&sc, "", &c);
	AG_CHECK_INT(c.status, 400);
	sessions_refresh(&sc, "x", &c);
	AG_CHECK_INT(c.status, 401);
	accounts_result_clear(&a);
	accounts_result_clear(&b);
}

static void logout_revokes_and_always_answers_204(void)
{
	accounts_result a, r;
	user("out@example.org", &a);
	sessions_logout(&sc, a.tokens.refresh, &r);
	AG_CHECK_INT(r.status, 204);
	sessions_refresh(&sc, a.tokens.refresh, &r);
	AG_CHECK_INT(r.status, 401);
	accounts_result_clear(&r);
	sessions_logout(&sc, "unknown", &r);
	AG_CHECK_INT(r.status, 204);
	accounts_result_clear(&a);
}

static void failures_back_off_per_account_and_address(void)
{
	accounts_result r, reg;
	accounts_register(acc, "brute@example.org", PW, &reg);
	accounts_result_clear(&reg);
	for (int i = 0; i < 3; i++) { /* free: 2; the third failure blocks */
		accounts_login_from(acc, "brute@example.org", "wrong wrong wrong", "10.9.9.9", &r);
		AG_CHECK_INT(r.status, 401);
	}
	accounts_login_from(acc, "brute@example.org", PW, "10.9.9.9", &r);
	AG_CHECK_INT(r.status, 429);
	AG_CHECK(r.retry_after >= 1 && r.retry_after <= 30);
	accounts_login_from(acc, "Brute@Example.org", PW, "10.1.1.1", &r); /* the owner, elsewhere */
	AG_CHECK_INT(r.status, 200);
	accounts_result_clear(&r);
	/* unknown accounts are counted the same way, and no address is stored */
	for (int i = 0; i < 4; i++)
		accounts_login_from(acc, "ghost@example.org", "wrong wrong wrong", "10.9.9.8", &r);
	AG_CHECK_INT(r.status, 429);
	char n[32];
	authtest_query1("SELECT count(*) FROM login_throttle WHERE key LIKE '%@%'", n, sizeof n);
	AG_CHECK_STR(n, "0");
	/* pure: the keys */
	throttle_keys k1, k2;
	throttle_keys_for("a@example.org", "10.0.0.1", &k1);
	throttle_keys_for("a@example.org", "10.0.0.2", &k2);
	AG_CHECK(strcmp(k1.pair, k2.pair) != 0);
	AG_CHECK_STR(k1.ip, "ip:10.0.0.1");
	throttle_keys_for("a@example.org", NULL, &k1);
	AG_CHECK_STR(k1.ip, "ip:unknown");
}

static void password_change_ends_other_sessions(void)
{
	accounts_result a, b, r;
	user("pw@example.org", &a);
	accounts_login_from(acc, "pw@example.org", PW, "10.0.0.1", &b);
	accounts_change_password(acc, a.user_id, "not the password", "a new fine passphrase", "10.0.0.1", &r);
	AG_CHECK_INT(r.status, 403);
	accounts_change_password(acc, a.user_id, PW, "short", "10.0.0.1", &r);
	AG_CHECK_INT(r.status, 400);
	accounts_change_password(acc, a.user_id, PW, "a new fine passphrase", "10.0.0.1", &r);
	AG_CHECK_INT(r.status, 200);
	AG_CHECK(r.tokens.access != NULL);
	accounts_result x;
	sessions_refresh(&sc, b.tokens.refresh, &x);
	AG_CHECK_INT(x.status, 401);
	accounts_result_clear(&x);
	sessions_refresh(&sc, r.tokens.refresh, &x);
	AG_CHECK_INT(x.status, 200);
	accounts_result_clear(&x);
	accounts_login_from(acc, "pw@example.org", PW, "10.0.0.3", &x);
	AG_CHECK_INT(x.status, 401);
	accounts_login_from(acc, "pw@example.org", "a new fine passphrase", "10.0.0.3", &x);
	AG_CHECK_INT(x.status, 200);
	accounts_result_clear(&x);
	accounts_result_clear(&a);
	accounts_result_clear(&b);
	accounts_result_clear(&r);
}

static void api_keys_create_verify_revoke(void)
{
	accounts_result a, other, r;
	apikeys_created k;
	PGresult *rows = NULL;
	user("keys@example.org", &a);
	user("keys2@example.org", &other);
	apikeys_create(&sc, a.user_id, "ci", &k, &r);
	AG_CHECK_INT(r.status, 201);
	AG_CHECK(apikeys_well_formed(k.key));
	AG_CHECK(strncmp(k.prefix, k.key, APIKEYS_SHOWN) == 0);
	apikeys_verify(&sc, k.key, &r);
	AG_CHECK_INT(r.status, 200);
	AG_CHECK_STR(r.user_id, a.user_id);
	apikeys_list(&sc, a.user_id, &rows, &r);
	AG_CHECK_INT(r.status, 200);
	AG_CHECK_INT(rows ? PQntuples(rows) : -1, 1);
	PQclear(rows);
	apikeys_revoke(&sc, other.user_id, k.id, &r);
	AG_CHECK_INT(r.status, 404);
	apikeys_revoke(&sc, a.user_id, k.id, &r);
	AG_CHECK_INT(r.status, 204);
	apikeys_verify(&sc, k.key, &r);
	AG_CHECK_INT(r.status, 401);
	apikeys_create(&sc, a.user_id, "", &k, &r);
	AG_CHECK_INT(r.status, 400);
	apikeys_create(&sc, a.user_id, "tab\there", &k, &r);
	AG_CHECK_INT(r.status, 400);
	AG_CHECK(!apikeys_well_formed("agk_short"));
	AG_CHECK(!apikeys_well_formed("xyz_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
	AG_CHECK(!apikeys_well_formed("agk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'"));
	AG_CHECK(apikeys_well_formed("agk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
	accounts_result_clear(&a);
	accounts_result_clear(&other);
}

static void admin_actions_need_the_role(void)
{
	accounts_result adm, u, r;
	PGresult *rows = NULL;
	user("boss@example.org", &adm);
	user("worker@example.org", &u);
	admin_users(&sc, u.user_id, 10, 0, &rows, &r);
	AG_CHECK_INT(r.status, 403);
	AG_CHECK(rows == NULL);
	char sql[200];
	snprintf(sql, sizeof sql, "UPDATE users SET role = 'admin' WHERE id = '%s'", adm.user_id);
	AG_CHECK(authtest_exec(sql));
	admin_users(&sc, adm.user_id, 1000, 0, &rows, &r);
	AG_CHECK_INT(r.status, 200);
	AG_CHECK(rows && PQntuples(rows) >= 2);
	PQclear(rows);
	admin_set_disabled(&sc, adm.user_id, adm.user_id, true, &r);
	AG_CHECK_INT(r.status, 400);
	admin_set_disabled(&sc, adm.user_id, u.user_id, true, &r);
	AG_CHECK_INT(r.status, 204);
	accounts_result x;
	sessions_refresh(&sc, u.tokens.refresh, &x);
	AG_CHECK_INT(x.status, 401); /* revoked with the account */
	accounts_login_from(acc, "worker@example.org", PW, "10.0.0.1", &x);
	AG_CHECK_INT(x.status, 403);
	admin_set_disabled(&sc, adm.user_id, u.user_id, false, &r);
	AG_CHECK_INT(r.status, 204);
	accounts_login_from(acc, "worker@example.org", PW, "10.0.0.1", &x);
	AG_CHECK_INT(x.status, 200);
	accounts_result_clear(&x);
	admin_set_role(&sc, adm.user_id, u.user_id, "root", &r);
	AG_CHECK_INT(r.status, 400);
	admin_set_role(&sc, adm.user_id, "00000000-0000-4000-8000-000000000000", "admin", &r);
	AG_CHECK_INT(r.status, 404);
	admin_set_role(&sc, adm.user_id, "' OR 1=1 --", "admin", &r);
	AG_CHECK_INT(r.status, 404);
	admin_rotate_keys(&sc, u.user_id, &r);
	AG_CHECK_INT(r.status, 403);
	admin_rotate_keys(&sc, adm.user_id, &r);
	AG_CHECK_INT(r.status, 204);
	accounts_result_clear(&adm);
	accounts_result_clear(&u);
}

static void external_identities_map_to_one_local_user(void)
{
	accounts_result r1, r2, r3;
	admin_external(&sc, "https://idp.example/realms/a", "sub-1", &r1);
	AG_CHECK_INT(r1.status, 200);
	AG_CHECK_STR(r1.role, "user");
	admin_external(&sc, "https://idp.example/realms/a", "sub-1", &r2);
	AG_CHECK_STR(r2.user_id, r1.user_id);
	admin_external(&sc, "https://idp.example/realms/b", "sub-1", &r3); /* another issuer: another user */
	AG_CHECK_INT(r3.status, 200);
	AG_CHECK(strcmp(r3.user_id, r1.user_id) != 0);
	accounts_result x;
	accounts_change_password(acc, r1.user_id, "anything at all", "a new fine passphrase", "10.0.0.1", &x);
	AG_CHECK_INT(x.status, 403);
	admin_external(&sc, "", "sub", &x);
	AG_CHECK_INT(x.status, 400);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	const char *url = authtest_db_create("sessions");
	ag_err e;
	ag_err_clear(&e);
	keys_cfg kc = {.secret = SECRET, .rotate_s = 86400, .access_ttl_s = 900};
	ac = (accounts_cfg){2, 19456, 2000, {"aegis", "aegis-api", 900, 2592000}, {2, 1000, 30, 120}};
	PGconn *c = NULL;
	bool ready = url && ag_db_pool_new(&pool, url, 4, &e) == AG_OK && keys_new(&ks, &kc, &e) == AG_OK &&
	             ag_db_acquire(pool, &c, 5000, &e) == AG_OK && keys_load(ks, c, &e) == AG_OK &&
	             accounts_new(&acc, &ac, pool, ks, &e) == AG_OK;
	ag_db_release(pool, c);
	sc = (sessions_ctx){&ac.tokens, ks, pool, 2000};
	if (!ready) {
		if (e.msg[0])
			fprintf(stderr, "  set-up: %s\n", e.msg);
		AG_TEST_RUN(needs_a_database);
	} else {
		AG_TEST_RUN(refresh_rotates_and_reuse_revokes_the_family);
		AG_TEST_RUN(logout_revokes_and_always_answers_204);
		AG_TEST_RUN(failures_back_off_per_account_and_address);
		AG_TEST_RUN(password_change_ends_other_sessions);
		AG_TEST_RUN(api_keys_create_verify_revoke);
		AG_TEST_RUN(admin_actions_need_the_role);
		AG_TEST_RUN(external_identities_map_to_one_local_user);
	}
	accounts_free(acc);
	keys_free(ks);
	ag_db_pool_free(pool);
	authtest_db_drop();
	return ag_test_summary();
}
