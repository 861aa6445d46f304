/*
 * rpc_more.c - the request/reply handlers beyond register, login and jwks
 * (rpc.h): sessions, password change, API keys, admin actions and external
 * identities. Same contract as rpc.c: strict protobuf decoding (400
 * "malformed request"), one AuthReply per request, counted and timed.
 * Secrets are wiped from the decoded requests before they are freed.
 */
#include "admin.h"
#include "apikeys.h"
#include "rpc.h"

#include "aegis/log.h"
#include "aegis/v1/auth.pb-c.h"

#include <stdlib.h>
#include <string.h>

#define RPC_MSG_MALFORMED "malformed request"

typedef void (*rpc_list_row_fn)(const PGresult *rows, int i, void *item);

static void rpc_malformed(accounts_result *r)
{
	memset(r, 0, sizeof *r);
	r->status = 400;
	r->error = RPC_MSG_MALFORMED;
}

static void rpc_finish(const rpc_ctx *ctx, const char *verb, accounts_result *r, double t0, void **reply,
                       size_t *reply_len)
{
	Aegis__V1__AuthReply rep = AEGIS__V1__AUTH_REPLY__INIT;
	rpc_fill(&rep, r);
	rpc_send(ctx, verb, &rep, t0, reply, reply_len);
	accounts_result_clear(r);
}

/* ---- sessions ---- */

static void rpc_session(const void *data, size_t len, void **reply, size_t *reply_len, void *ud, bool logout)
{
	const rpc_ctx *ctx = ud;
	double t0 = rpc_now();
	accounts_result r;
	memset(&r, 0, sizeof r);
	Aegis__V1__RefreshRequest *req = aegis__v1__refresh_request__unpack(NULL, len, data);
	if (!req) {
		rpc_malformed(&r);
	} else {
		if (logout)
			sessions_logout(&ctx->sessions, req->refresh_token, &r);
		else
			sessions_refresh(&ctx->sessions, req->refresh_token, &r);
		if (!logout && r.status == 401)
			ag_log_info("refresh refused from %s", rpc_ip(req->client_ip));
		rpc_wipe(req->refresh_token);
		aegis__v1__refresh_request__free_unpacked(req, NULL);
	}
	rpc_finish(ctx, logout ? "logout" : "refresh", &r, t0, reply, reply_len);
}

void rpc_refresh(const void *data, size_t len, void **reply, size_t *reply_len, void *ud)
{
	rpc_session(data, len, reply, reply_len, ud, false);
}

void rpc_logout(const void *data, size_t len, void **reply, size_t *reply_len, void *ud)
{
	rpc_session(data, len, reply, reply_len, ud, true);
}

void rpc_password(const void *data, size_t len, void **reply, size_t *reply_len, void *ud)
{
	const rpc_ctx *ctx = ud;
	double t0 = rpc_now();
	accounts_result r;
	memset(&r, 0, sizeof r);
	Aegis__V1__PasswordRequest *req = aegis__v1__password_request__unpack(NULL, len, data);
	if (!req) {
		rpc_malformed(&r);
	} else {
		accounts_change_password(ctx->accounts, req->user_id, req->current_password, req->new_password,
		                         req->client_ip, &r);
		if (r.status == 403 || r.status == 429)
			ag_log_info("password change of user %s refused (%u) from %s", req->user_id, r.status,
			            rpc_ip(req->client_ip));
		rpc_wipe(req->current_password);
		rpc_wipe(req->new_password);
		aegis__v1__password_request__free_unpacked(req, NULL);
	}
	rpc_finish(ctx, "password", &r, t0, reply, reply_len);
}

/* ---- API keys ---- */

typedef enum { RPC_KEY_CREATE, RPC_KEY_LIST, RPC_KEY_REVOKE, RPC_KEY_VERIFY } rpc_key_verb;

static void rpc_apikey(const void *data, size_t len, void **reply, size_t *reply_len, void *ud, rpc_key_verb verb)
{
	static const char *const verbs[] = {"apikey.create", "apikey.list", "apikey.revoke", "apikey.verify"};
	const rpc_ctx *ctx = ud;
	double t0 = rpc_now();
	accounts_result r;
	apikeys_created made;
	PGresult *rows = NULL;
	Aegis__V1__AuthReply rep = AEGIS__V1__AUTH_REPLY__INIT;
	Aegis__V1__ApiKeyInfo *infos = NULL, **ptrs = NULL;
	memset(&r, 0, sizeof r);
	memset(&made, 0, sizeof made);

	Aegis__V1__ApiKeyRequest *req = aegis__v1__api_key_request__unpack(NULL, len, data);
	if (!req) {
		rpc_malformed(&r);
		goto send;
	}
	switch (verb) {
	case RPC_KEY_CREATE:
		apikeys_create(&ctx->sessions, req->user_id, req->name, &made, &r);
		break;
	case RPC_KEY_LIST:
		apikeys_list(&ctx->sessions, req->user_id, &rows, &r);
		break;
	case RPC_KEY_REVOKE:
		apikeys_revoke(&ctx->sessions, req->user_id, req->key_id, &r);
		break;
	case RPC_KEY_VERIFY:
		apikeys_verify(&ctx->sessions, req->api_key, &r);
		rpc_wipe(req->api_key);
		break;
	}
	int n = rows ? PQntuples(rows) : 0;
	if (verb == RPC_KEY_CREATE && r.status == 201)
		n = 1;
	if (n > 0) {
		infos = calloc((size_t)n, sizeof *infos);
		ptrs = calloc((size_t)n, sizeof *ptrs);
		if (!infos || !ptrs) {
			accounts_fail(&r, AG_E_NOMEM);
			n = 0;
		}
	}
	for (int i = 0; i < n; i++) {
		aegis__v1__api_key_info__init(&infos[i]);
		if (rows) {
			infos[i].id = PQgetvalue(rows, i, 0);
			infos[i].name = PQgetvalue(rows, i, 1);
			infos[i].prefix = PQgetvalue(rows, i, 2);
			infos[i].created_at = PQgetvalue(rows, i, 3);
			infos[i].last_used_at = PQgetvalue(rows, i, 4);
		} else {
			infos[i].id = made.id;
			infos[i].name = req->name;
			infos[i].prefix = made.prefix;
			infos[i].created_at = made.created_at;
		}
		ptrs[i] = &infos[i];
	}
	rep.n_api_keys = (size_t)n;
	rep.api_keys = n ? ptrs : NULL;
	if (verb == RPC_KEY_CREATE && r.status == 201)
		rep.api_key = made.key;
send:
	rpc_fill(&rep, &r);
	rpc_send(ctx, verbs[verb], &rep, t0, reply, reply_len);
	if (req)
		aegis__v1__api_key_request__free_unpacked(req, NULL);
	free(infos);
	free(ptrs);
	PQclear(rows);
	rpc_wipe(made.key);
	accounts_result_clear(&r);
}

void rpc_apikey_create(const void *data, size_t len, void **reply, size_t *reply_len, void *ud)
{
	rpc_apikey(data, len, reply, reply_len, ud, RPC_KEY_CREATE);
}
void rpc_apikey_list(const void *data, size_t len, void **reply, size_t *reply_len, void *ud)
{
	rpc_apikey(data, len, reply, reply_len, ud, RPC_KEY_LIST);
}
void rpc_apikey_revoke(const void *data, size_t len, void **reply, size_t *reply_len, void *ud)
{
	rpc_apikey(data, len, reply, reply_len, ud, RPC_KEY_REVOKE);
}
void rpc_apikey_verify(const void *data, size_t len, void **reply, size_t *reply_len, void *ud)
{
	rpc_apikey(data, len, reply, reply_len, ud, RPC_KEY_VERIFY);
}

/* ---- admin ---- */

typedef enum { RPC_ADMIN_USERS, RPC_ADMIN_DISABLE, RPC_ADMIN_ENABLE, RPC_ADMIN_ROLE, RPC_ADMIN_ROTATE } rpc_admin_verb;

static void rpc_admin(const void *data, size_t len, void **reply, size_t *reply_len, void *ud, rpc_admin_verb verb)
{
	static const char *const verbs[] = {"admin.users", "admin.disable", "admin.enable", "admin.role",
	                                    "admin.rotate-keys"};
	const rpc_ctx *ctx = ud;
	double t0 = rpc_now();
	accounts_result r;
	PGresult *rows = NULL;
	Aegis__V1__AuthReply rep = AEGIS__V1__AUTH_REPLY__INIT;
	Aegis__V1__UserInfo *infos = NULL, **ptrs = NULL;
	memset(&r, 0, sizeof r);

	Aegis__V1__AdminRequest *req = aegis__v1__admin_request__unpack(NULL, len, data);
	if (!req) {
		rpc_malformed(&r);
		goto send;
	}
	switch (verb) {
	case RPC_ADMIN_USERS:
		admin_users(&ctx->sessions, req->actor_id, req->limit, req->offset, &rows, &r);
		break;
	case RPC_ADMIN_DISABLE:
	case RPC_ADMIN_ENABLE:
		admin_set_disabled(&ctx->sessions, req->actor_id, req->target_id, verb == RPC_ADMIN_DISABLE, &r);
		break;
	case RPC_ADMIN_ROLE:
		admin_set_role(&ctx->sessions, req->actor_id, req->target_id, req->role, &r);
		break;
	case RPC_ADMIN_ROTATE:
		admin_rotate_keys(&ctx->sessions, req->actor_id, &r);
		break;
	}
	int n = rows ? PQntuples(rows) : 0;
	if (n > 0) {
		infos = calloc((size_t)n, sizeof *infos);
		ptrs = calloc((size_t)n, sizeof *ptrs);
		if (!infos || !ptrs) {
			accounts_fail(&r, AG_E_NOMEM);
			n = 0;
		}
	}
	for (int i = 0; i < n; i++) {
		aegis__v1__user_info__init(&infos[i]);
		infos[i].id = PQgetvalue(rows, i, 0);
		infos[i].email = PQgetvalue(rows, i, 1);
		infos[i].role = PQgetvalue(rows, i, 2);
		infos[i].disabled = strcmp(PQgetvalue(rows, i, 3), "t") == 0;
		infos[i].external = strcmp(PQgetvalue(rows, i, 4), "t") == 0;
		infos[i].created_at = PQgetvalue(rows, i, 5);
		ptrs[i] = &infos[i];
	}
	rep.n_users = (size_t)n;
	rep.users = n ? ptrs : NULL;
send:
	rpc_fill(&rep, &r);
	rpc_send(ctx, verbs[verb], &rep, t0, reply, reply_len);
	if (req)
		aegis__v1__admin_request__free_unpacked(req, NULL);
	free(infos);
	free(ptrs);
	PQclear(rows);
	accounts_result_clear(&r);
}

void rpc_admin_users(const void *data, size_t len, void **reply, size_t *reply_len, void *ud)
{
	rpc_admin(data, len, reply, reply_len, ud, RPC_ADMIN_USERS);
}
void rpc_admin_disable(const void *data, size_t len, void **reply, size_t *reply_len, void *ud)
{
	rpc_admin(data, len, reply, reply_len, ud, RPC_ADMIN_DISABLE);
}
void rpc_admin_enable(const void *data, size_t len, void **reply, size_t *reply_len, void *ud)
{
	rpc_admin(data, len, reply, reply_len, ud, RPC_ADMIN_ENABLE);
}
void rpc_admin_role(const void *data, size_t len, void **reply, size_t *reply_len, void *ud)
{
	rpc_admin(data, len, reply, reply_len, ud, RPC_ADMIN_ROLE);
}

void rpc_admin_rotate(const void *data, size_t len, void **reply, size_t *reply_len, void *ud)
{
	rpc_admin(data, len, reply, reply_len, ud, RPC_ADMIN_ROTATE);
}

void rpc_external(const void *data, size_t len, void **reply, size_t *reply_len, void *ud)
{
	const rpc_ctx *ctx = ud;
	double t0 = rpc_now();
	accounts_result r;
	memset(&r, 0, sizeof r);
	Aegis__V1__ExternalRequest *req = aegis__v1__external_request__unpack(NULL, len, data);
	if (!req) {
		rpc_malformed(&r);
	} else {
		admin_external(&ctx->sessions, req->issuer, req->subject, &r);
		aegis__v1__external_request__free_unpacked(req, NULL);
	}
	rpc_finish(ctx, "external", &r, t0, reply, reply_len);
}
