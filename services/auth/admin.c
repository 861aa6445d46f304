/*
 * admin.c - admin actions and external identities (admin.h). Every
 * statement is parameterised; ids are checked to be UUIDs before use.
 */
#include "admin.h"

#include "aegis/log.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char admin_sql_is_admin[] = "SELECT 1 FROM users WHERE id = $1::uuid AND role = 'admin' AND NOT disabled";
static const char admin_sql_list[] = "SELECT id::text, email, role, disabled, external,"
                                     " to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
                                     " FROM users ORDER BY created_at, id LIMIT $1::int OFFSET $2::int";
static const char admin_sql_disable[] =
        "WITH u AS (UPDATE users SET disabled = $2::boolean, disabled_at = CASE WHEN $2::boolean THEN now() END"
        " WHERE id = $1::uuid RETURNING id),"
        " rt AS (UPDATE refresh_tokens SET revoked_at = now() WHERE $2::boolean AND user_id = (SELECT id FROM u)"
        " AND revoked_at IS NULL)"
        " SELECT id FROM u";
static const char admin_sql_role[] = "UPDATE users SET role = $2 WHERE id = $1::uuid RETURNING id";
static const char admin_sql_find_identity[] =
        "SELECT u.id::text, u.role, u.disabled FROM user_identities i JOIN users u ON u.id = i.user_id"
        " WHERE i.issuer = $1 AND i.subject = $2";
static const char admin_sql_new_identity[] =
        "WITH u AS (INSERT INTO users (email, password_hash, external) VALUES (gen_random_uuid()::text ||"
        " '@external.invalid', '!external', true) RETURNING id)"
        " INSERT INTO user_identities (issuer, subject, user_id) SELECT $1, $2, id FROM u";

static void admin_set(accounts_result *r, unsigned status, const char *why)
{
	memset(r, 0, sizeof *r);
	r->status = status;
	r->error = why;
}

static bool admin_uuid(const char *s)
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

/* Acquire a connection and check that `actor` is an enabled admin; *c is NULL when r was filled. */
static void admin_begin(const sessions_ctx *s, const char *actor, PGconn **c, accounts_result *r)
{
	PGresult *res = NULL;
	ag_err e;
	ag_err_clear(&e);
	*c = NULL;
	if (!admin_uuid(actor)) {
		admin_set(r, 403, "this needs the admin role");
		return;
	}
	ag_status st = ag_db_acquire(s->pool, c, s->db_timeout_ms, &e);
	const char *params[1] = {actor};
	if (st == AG_OK)
		st = ag_db_exec(*c, admin_sql_is_admin, 1, params, &res, &e);
	if (st != AG_OK) {
		ag_log_warn("admin: %s", e.msg);
		accounts_fail(r, st);
	} else if (PQntuples(res) != 1) {
		ag_log_warn("security: user %s asked for an admin action without the admin role", actor);
		admin_set(r, 403, "this needs the admin role");
	}
	PQclear(res);
	if (r->status) {
		ag_db_release(s->pool, *c);
		*c = NULL;
	}
}

void admin_users(const sessions_ctx *s, const char *actor, unsigned limit, unsigned offset, PGresult **rows,
                 accounts_result *r)
{
	PGconn *c = NULL;
	char lim[16], off[16];
	ag_err e;
	ag_err_clear(&e);
	memset(r, 0, sizeof *r);
	*rows = NULL;
	admin_begin(s, actor, &c, r);
	if (!c)
		return;
	snprintf(lim, sizeof lim, "%u", limit == 0 || limit > ADMIN_LIST_MAX ? ADMIN_LIST_MAX : limit);
	snprintf(off, sizeof off, "%u", offset);
	const char *params[2] = {lim, off};
	ag_status st = ag_db_exec(c, admin_sql_list, 2, params, rows, &e);
	if (st != AG_OK) {
		ag_log_warn("admin users: %s", e.msg);
		accounts_fail(r, st);
	} else {
		admin_set(r, 200, NULL);
	}
	ag_db_release(s->pool, c);
}

/* Run an UPDATE … RETURNING id on the target: 204, or 404 when it matched nothing. */
static void admin_update(const sessions_ctx *s, const char *actor, const char *target, const char *sql,
                         const char *value, const char *what, accounts_result *r)
{
	PGconn *c = NULL;
	PGresult *res = NULL;
	ag_err e;
	ag_err_clear(&e);
	memset(r, 0, sizeof *r);
	admin_begin(s, actor, &c, r);
	if (!c)
		return;
	if (!admin_uuid(target)) {
		admin_set(r, 404, "user not found");
		goto out;
	}
	const char *params[2] = {target, value};
	ag_status st = ag_db_exec(c, sql, 2, params, &res, &e);
	if (st != AG_OK) {
		ag_log_warn("admin %s: %s", what, e.msg);
		accounts_fail(r, st);
	} else if (PQntuples(res) != 1) {
		admin_set(r, 404, "user not found");
	} else {
		admin_set(r, 204, NULL);
		ag_log_info("security: admin %s set %s=%s on user %s", actor, what, value, target);
	}
out:
	PQclear(res);
	ag_db_release(s->pool, c);
}

void admin_set_disabled(const sessions_ctx *s, const char *actor, const char *target, bool disabled, accounts_result *r)
{
	if (disabled && actor && target && strcasecmp(actor, target) == 0) {
		admin_set(r, 400, "an admin cannot disable their own account");
		return;
	}
	admin_update(s, actor, target, admin_sql_disable, disabled ? "true" : "false", "disabled", r);
}

void admin_set_role(const sessions_ctx *s, const char *actor, const char *target, const char *role, accounts_result *r)
{
	if (!role || (strcmp(role, "user") != 0 && strcmp(role, "admin") != 0)) {
		admin_set(r, 400, "role must be \"user\" or \"admin\"");
		return;
	}
	if (strcmp(role, "admin") != 0 && actor && target && strcasecmp(actor, target) == 0) {
		admin_set(r, 400, "an admin cannot demote themselves");
		return;
	}
	admin_update(s, actor, target, admin_sql_role, role, "role", r);
}

void admin_rotate_keys(const sessions_ctx *s, const char *actor, accounts_result *r)
{
	PGconn *c = NULL;
	ag_err e;
	ag_err_clear(&e);
	memset(r, 0, sizeof *r);
	admin_begin(s, actor, &c, r);
	if (!c)
		return;
	ag_status st = keys_rotate(s->keys, c, &e);
	if (st != AG_OK) {
		ag_log_error("key rotation: %s", e.msg);
		accounts_fail(r, st);
	} else {
		admin_set(r, 204, NULL);
		ag_log_info("security: admin %s rotated the signing keys", actor);
	}
	ag_db_release(s->pool, c);
}

void admin_external(const sessions_ctx *s, const char *issuer, const char *subject, accounts_result *r)
{
	PGconn *c = NULL;
	PGresult *res = NULL;
	ag_err e;
	ag_err_clear(&e);
	memset(r, 0, sizeof *r);
	if (!issuer || !*issuer || !subject || !*subject || strlen(subject) > ADMIN_SUBJECT_MAX ||
	    strlen(issuer) > ADMIN_SUBJECT_MAX) {
		admin_set(r, 400, "issuer and subject must be 1 to 255 bytes");
		return;
	}
	const char *params[2] = {issuer, subject};
	ag_status st = ag_db_acquire(s->pool, &c, s->db_timeout_ms, &e);
	/* Two tries: a concurrent first sight may win the insert (unique key), then the second find sees it. */
	for (int attempt = 0; st == AG_OK && attempt < 2; attempt++) {
		PQclear(res);
		res = NULL;
		if ((st = ag_db_exec(c, admin_sql_find_identity, 2, params, &res, &e)) != AG_OK || PQntuples(res) == 1)
			break;
		st = ag_db_exec(c, admin_sql_new_identity, 2, params, NULL, &e);
		if (st == AG_OK)
			ag_log_info("external identity seen for the first time; local user created");
		if (st == AG_E_EXISTS)
			st = AG_OK;
	}
	if (st != AG_OK) {
		ag_log_warn("external identity: %s", e.msg);
		accounts_fail(r, st);
	} else if (!res || PQntuples(res) != 1) {
		accounts_fail(r, AG_E_INTERNAL);
	} else if (strcmp(PQgetvalue(res, 0, 2), "t") == 0) {
		admin_set(r, 403, "this account is disabled");
	} else {
		admin_set(r, 200, NULL);
		snprintf(r->user_id, sizeof r->user_id, "%s", PQgetvalue(res, 0, 0));
		snprintf(r->role, sizeof r->role, "%s", PQgetvalue(res, 0, 1));
	}
	PQclear(res);
	ag_db_release(s->pool, c);
}
