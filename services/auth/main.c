/*
 * main.c - the auth service: users, passwords (argon2id), JWT issuing and
 * signing-key rotation, refresh-token rotation, API keys, admin actions and
 * external identities, answering aegis.auth.* (the table below) over core
 * NATS request/reply in queue group "auth" (any number of replicas).
 *
 * config -> start (PostgreSQL + NATS + /healthz /readyz /metrics on 9005)
 * -> load or create the signing key -> serve every subject -> ready
 * when the key is loaded and every subject is served -> run until SIGTERM
 * -> stop serving (in-flight requests finish) -> free.
 */
#include "accounts.h"
#include "keys.h"
#include "rpc.h"

#include "aegis/bus.h"
#include "aegis/log.h"
#include "aegis/service.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define AUTH_QUEUE               "auth"
#define AUTH_CLAIM_MAX           127 /* iss and aud fit ag_jwt_claims */
#define AUTH_START_DB_TIMEOUT_MS 30000
#define AUTH_START_TRIES         30

typedef struct auth_cfg {
	ag_common_cfg common;
	char *jwt_issuer;
	char *jwt_audience;
	char *jwt_key_secret;
	long long jwt_key_rotate_s;
	long long access_token_ttl_s;
	long long refresh_token_ttl_s;
	long long argon2_iterations;
	long long argon2_memory_kib;
	long long db_timeout_ms;
	long long login_free_failures;
	long long login_ip_free_failures;
	long long login_backoff_base_s;
	long long login_lockout_s;
} auth_cfg;

static const ag_cfg_item auth_items[] = {
        AG_CFG_COMMON_ITEMS(auth_cfg, "9005"),
        {"JWT_ISSUER", AG_CFG_STR, offsetof(auth_cfg, jwt_issuer), "aegis", false, 0, 0, false,
         "iss of issued access tokens; the gateway accepts only this issuer"},
        {"JWT_AUDIENCE", AG_CFG_STR, offsetof(auth_cfg, jwt_audience), "aegis-api", false, 0, 0, false,
         "aud of issued access tokens; the gateway accepts only this audience"},
        {"JWT_KEY_SECRET", AG_CFG_STR, offsetof(auth_cfg, jwt_key_secret), NULL, true, 0, 0, true,
         "seals the signing keys stored in PostgreSQL: random, >= 16 characters, the same on every auth replica"},
        {"JWT_KEY_ROTATE_S", AG_CFG_INT, offsetof(auth_cfg, jwt_key_rotate_s), "2592000", false, 60, 31536000, false,
         "seconds a signing key signs before a new one replaces it (>= ACCESS_TOKEN_TTL_S)"},
        {"ACCESS_TOKEN_TTL_S", AG_CFG_INT, offsetof(auth_cfg, access_token_ttl_s), "900", false, 60, 86400, false,
         "access token lifetime in seconds"},
        {"REFRESH_TOKEN_TTL_S", AG_CFG_INT, offsetof(auth_cfg, refresh_token_ttl_s), "2592000", false, 300, 31536000,
         false, "refresh token lifetime in seconds"},
        {"AUTH_ARGON2_ITERATIONS", AG_CFG_INT, offsetof(auth_cfg, argon2_iterations), "2", false, 1, 16, false,
         "argon2id passes (t) for new password hashes"},
        {"AUTH_ARGON2_MEMORY_KIB", AG_CFG_INT, offsetof(auth_cfg, argon2_memory_kib), "19456", false, 7168, 1048576,
         false, "argon2id memory (m) in KiB for new password hashes; older hashes are upgraded at login"},
        {"AUTH_DB_TIMEOUT_MS", AG_CFG_INT, offsetof(auth_cfg, db_timeout_ms), "2000", false, 100, 60000, false,
         "wait for a pooled PostgreSQL connection before answering 503"},
        {"LOGIN_FREE_FAILURES", AG_CFG_INT, offsetof(auth_cfg, login_free_failures), "5", false, 1, 1000, false,
         "failed password checks per (account, client IP) before backoff starts"},
        {"LOGIN_IP_FREE_FAILURES", AG_CFG_INT, offsetof(auth_cfg, login_ip_free_failures), "50", false, 1, 100000,
         false, "failed password checks per client IP (any account) before backoff starts"},
        {"LOGIN_BACKOFF_BASE_S", AG_CFG_INT, offsetof(auth_cfg, login_backoff_base_s), "1", false, 1, 3600, false,
         "first backoff after the free failures, in seconds; doubles with each further failure"},
        {"LOGIN_LOCKOUT_S", AG_CFG_INT, offsetof(auth_cfg, login_lockout_s), "900", false, 1, 86400, false,
         "longest block (429 + Retry-After); counters reset this long after the last failure"},
};

/* Rules that span items or go beyond a number's bounds; every problem is reported. */
static int auth_cfg_check(const void *cfgp, FILE *report)
{
	const auth_cfg *c = cfgp;
	int problems = 0;
	if (strlen(c->jwt_key_secret) < KEYS_SECRET_MIN) {
		fprintf(report, "config: JWT_KEY_SECRET must be at least %d characters (use a random value)\n",
		        KEYS_SECRET_MIN);
		problems++;
	}
	if (strlen(c->jwt_issuer) > AUTH_CLAIM_MAX || strlen(c->jwt_audience) > AUTH_CLAIM_MAX) {
		fprintf(report, "config: JWT_ISSUER and JWT_AUDIENCE must be at most %d bytes\n", AUTH_CLAIM_MAX);
		problems++;
	}
	/* Keys stay published for one token lifetime after retiring; this keeps the JWKS at two keys at most. */
	if (c->jwt_key_rotate_s < c->access_token_ttl_s) {
		fprintf(report, "config: JWT_KEY_ROTATE_S (%lld) must be at least ACCESS_TOKEN_TTL_S (%lld)\n",
		        c->jwt_key_rotate_s, c->access_token_ttl_s);
		problems++;
	}
	if (problems)
		fprintf(report, "config: %d problem%s found\n", problems, problems == 1 ? "" : "s");
	return problems;
}

static const struct {
	const char *subject;
	ag_bus_reply_fn fn;
} auth_subjects[] = {
        {AG_SUBJ_AUTH_PREFIX "register", rpc_register},
        {AG_SUBJ_AUTH_PREFIX "login", rpc_login},
        {AG_SUBJ_AUTH_PREFIX "jwks", rpc_jwks},
        {AG_SUBJ_AUTH_PREFIX "refresh", rpc_refresh},
        {AG_SUBJ_AUTH_PREFIX "logout", rpc_logout},
        {AG_SUBJ_AUTH_PREFIX "password", rpc_password},
        {AG_SUBJ_AUTH_PREFIX "apikey.create", rpc_apikey_create},
        {AG_SUBJ_AUTH_PREFIX "apikey.list", rpc_apikey_list},
        {AG_SUBJ_AUTH_PREFIX "apikey.revoke", rpc_apikey_revoke},
        {AG_SUBJ_AUTH_PREFIX "apikey.verify", rpc_apikey_verify},
        {AG_SUBJ_AUTH_PREFIX "admin.users", rpc_admin_users},
        {AG_SUBJ_AUTH_PREFIX "admin.disable", rpc_admin_disable},
        {AG_SUBJ_AUTH_PREFIX "admin.enable", rpc_admin_enable},
        {AG_SUBJ_AUTH_PREFIX "admin.role", rpc_admin_role},
        {AG_SUBJ_AUTH_PREFIX "admin.rotate-keys", rpc_admin_rotate},
        {AG_SUBJ_AUTH_PREFIX "external", rpc_external},
};
#define AUTH_NSUBJECTS (sizeof auth_subjects / sizeof auth_subjects[0])

typedef struct auth_app {
	keys *keys;
	accounts *accounts;
	tokens_cfg tokens;
	rpc_ctx rpc;
	ag_bus_service *served[AUTH_NSUBJECTS];
} auth_app;

static bool auth_ready(void *ud, char *why, size_t whylen)
{
	auth_app *app = ud;
	if (!keys_loaded(app->keys)) {
		snprintf(why, whylen, "no signing key loaded");
		return false;
	}
	for (size_t i = 0; i < AUTH_NSUBJECTS; i++) {
		if (!app->served[i]) {
			snprintf(why, whylen, "not serving %s", auth_subjects[i].subject);
			return false;
		}
	}
	return true;
}

/* The signing key changed (start, schedule or command): gateways refetch the published keys at once, so a token
 * signed with the new key is never refused for its unknown kid while their refetch cooldown runs. */
static void auth_keys_changed(void *ud)
{
	ag_err err;
	ag_err_clear(&err);
	if (ag_bus_notify(ud, AG_SUBJ_AUTH_KEYS_CHANGED, NULL, 0, &err) != AG_OK)
		ag_log_warn("could not announce the new signing key: %s (gateways find it on their next refetch)",
		            err.msg);
}

/* Load or create the signing key, riding out a database that is still coming up. */
static ag_status auth_load_key(auth_app *app, ag_db_pool *pool, ag_err *err)
{
	ag_status st;
	for (int attempt = 1;; attempt++) {
		PGconn *c = NULL;
		st = ag_db_acquire(pool, &c, AUTH_START_DB_TIMEOUT_MS / AUTH_START_TRIES, err);
		if (st == AG_OK)
			st = keys_load(app->keys, c, err);
		ag_db_release(pool, c);
		if (st == AG_OK || !ag_status_transient(st) || attempt == AUTH_START_TRIES)
			return st;
		ag_log_warn("signing key: %s; retrying", err->msg);
		sleep(1);
	}
}

int main(int argc, char **argv)
{
	static auth_cfg cfg;
	auth_app app;
	ag_service *svc = NULL;
	ag_err err;
	int code = 1;
	memset(&app, 0, sizeof app);
	ag_err_clear(&err);

	ag_service_spec spec = {
	        .name = "auth",
	        .items = auth_items,
	        .nitems = sizeof auth_items / sizeof auth_items[0],
	        .cfg = &cfg,
	        .common = &cfg.common,
	        .needs = AG_NEEDS_DB | AG_NEEDS_BUS,
	        .check = auth_cfg_check,
	};
	if (ag_service_start(&svc, &spec, argc, argv, &code) != AG_OK)
		return code;
	code = 1;
	ag_db_pool *pool = ag_service_db(svc);

	keys_cfg kc = {
	        .secret = cfg.jwt_key_secret,
	        .rotate_s = cfg.jwt_key_rotate_s,
	        .access_ttl_s = cfg.access_token_ttl_s,
	        .changed = auth_keys_changed,
	        .changed_ud = ag_service_bus(svc),
	};
	accounts_cfg ac = {
	        .argon2_ops = (unsigned long long)cfg.argon2_iterations,
	        .argon2_kib = (unsigned long long)cfg.argon2_memory_kib,
	        .db_timeout_ms = (int)cfg.db_timeout_ms,
	        .tokens = {cfg.jwt_issuer, cfg.jwt_audience, cfg.access_token_ttl_s, cfg.refresh_token_ttl_s},
	        .throttle = {cfg.login_free_failures, cfg.login_ip_free_failures, cfg.login_backoff_base_s,
	                     cfg.login_lockout_s},
	};
	if (keys_new(&app.keys, &kc, &err) != AG_OK || auth_load_key(&app, pool, &err) != AG_OK ||
	    accounts_new(&app.accounts, &ac, pool, app.keys, &err) != AG_OK) {
		ag_log_error("auth could not start: %s", err.msg);
		goto out;
	}
	app.tokens = ac.tokens;
	app.rpc = (rpc_ctx){app.accounts,
	                    pool,
	                    ag_service_metrics(svc),
	                    (int)cfg.db_timeout_ms,
	                    {&app.tokens, app.keys, pool, (int)cfg.db_timeout_ms}};

	ag_service_ready_check(svc, auth_ready, &app);
	for (size_t i = 0; i < AUTH_NSUBJECTS; i++) {
		if (ag_bus_serve(&app.served[i], ag_service_bus(svc), auth_subjects[i].subject, AUTH_QUEUE,
		                 auth_subjects[i].fn, &app.rpc, &err) != AG_OK) {
			ag_log_error("auth could not serve %s: %s", auth_subjects[i].subject, err.msg);
			goto out;
		}
	}
	ag_log_info("serving %zu subjects under %s in queue group %s", AUTH_NSUBJECTS, AG_SUBJ_AUTH_PREFIX, AUTH_QUEUE);
	code = ag_service_run(svc);
out:
	/* Unsubscribe first: each free waits for its handler in flight, which uses the pool, keys and accounts. */
	for (size_t i = 0; i < AUTH_NSUBJECTS; i++)
		ag_bus_service_free(app.served[i]);
	accounts_free(app.accounts);
	keys_free(app.keys);
	ag_service_free(svc);
	return code;
}
