/*
 * admin_routes.c - the admin endpoints (admin_routes.h): role check, then
 * one AdminRequest to the auth service.
 */
#include "admin_routes.h"

#include "authcall.h"

#include "aegis/cfg.h"

#include <string.h>

typedef enum { ADMIN_USERS, ADMIN_DISABLE, ADMIN_ENABLE, ADMIN_ROLE, ADMIN_ROTATE } admin_verb;

static const char *const admin_subjects[] = {AG_SUBJ_AUTH_PREFIX "admin.users", AG_SUBJ_AUTH_PREFIX "admin.disable",
                                             AG_SUBJ_AUTH_PREFIX "admin.enable", AG_SUBJ_AUTH_PREFIX "admin.role",
                                             AG_SUBJ_AUTH_PREFIX "admin.rotate-keys"};

static void admin_routes_listed(ag_http_req *req, const Aegis__V1__AuthReply *r)
{
	json_t *items = json_array();
	for (size_t i = 0; i < r->n_users; i++) {
		const Aegis__V1__UserInfo *u = r->users[i];
		json_array_append_new(items, json_pack("{s:s, s:s, s:s, s:b, s:b, s:s}", "id", u->id, "email", u->email,
		                                       "role", u->role, "disabled", u->disabled, "external",
		                                       u->external, "created_at", u->created_at));
	}
	ag_http_resp_header(req, "Cache-Control", "no-store");
	ag_http_respond_json(req, 200, json_pack("{s:o}", "items", items));
}

static void admin_routes_no_content(ag_http_req *req, const Aegis__V1__AuthReply *r)
{
	ag_http_respond(req, 204, NULL, NULL, 0);
}

/* A query parameter as 0..max, `def` when absent; false (after answering 400) when malformed. */
static bool admin_routes_uint(ag_http_req *req, const char *name, long long max, long long def, uint32_t *out)
{
	const char *v = ag_http_req_query(req, name);
	long long n = def;
	if (v && !ag_cfg_parse_ll(v, 0, max, &n)) {
		ag_http_respond_problem(req, 400, "%s must be an integer from 0 to %lld", name, max);
		return false;
	}
	*out = (uint32_t)n;
	return true;
}

static void admin_routes_authed(ag_http_req *req, const ag_jwt_claims *claims, gateway *gw, admin_verb verb)
{
	Aegis__V1__AdminRequest m = AEGIS__V1__ADMIN_REQUEST__INIT;
	json_t *root = NULL;
	if (!claims)
		return;
	if (strcmp(claims->role, "admin") != 0) {
		ag_http_respond_problem(req, 403, "this needs the admin role");
		return;
	}
	m.actor_id = (char *)claims->sub;
	const char *target = ag_http_req_param(req, 0);
	m.target_id = (char *)(target ? target : "");
	if (verb == ADMIN_USERS) {
		if (!admin_routes_uint(req, "limit", 1000, ADMIN_ROUTES_DEFAULT_LIMIT, &m.limit) ||
		    !admin_routes_uint(req, "offset", 1000000000, 0, &m.offset))
			return;
		if (m.limit == 0)
			m.limit = ADMIN_ROUTES_DEFAULT_LIMIT;
	}
	if (verb == ADMIN_ROLE) {
		if (!(root = authcall_json_body(req, "{\"role\": \"user\" | \"admin\"}")))
			return;
		const char *role = authcall_json_str(root, "role");
		if (!role) {
			ag_http_respond_problem(req, 400, "\"role\" must be \"user\" or \"admin\"");
			json_decref(root);
			return;
		}
		m.role = (char *)role;
	}
	size_t len = 0;
	uint8_t *msg = authcall_pack(&m.base, &len);
	if (root)
		json_decref(root);
	authcall_start(req, gw, admin_subjects[verb], msg, len,
	               verb == ADMIN_USERS ? admin_routes_listed : admin_routes_no_content);
}

static void admin_routes_users_authed(ag_http_req *req, const ag_jwt_claims *claims, void *gw)
{
	admin_routes_authed(req, claims, gw, ADMIN_USERS);
}
static void admin_routes_disable_authed(ag_http_req *req, const ag_jwt_claims *claims, void *gw)
{
	admin_routes_authed(req, claims, gw, ADMIN_DISABLE);
}
static void admin_routes_enable_authed(ag_http_req *req, const ag_jwt_claims *claims, void *gw)
{
	admin_routes_authed(req, claims, gw, ADMIN_ENABLE);
}
static void admin_routes_role_authed(ag_http_req *req, const ag_jwt_claims *claims, void *gw)
{
	admin_routes_authed(req, claims, gw, ADMIN_ROLE);
}
static void admin_routes_rotate_authed(ag_http_req *req, const ag_jwt_claims *claims, void *gw)
{
	admin_routes_authed(req, claims, gw, ADMIN_ROTATE);
}

void admin_routes_users(ag_http_req *req, void *gw)
{
	authn_require(((gateway *)gw)->authn, req, admin_routes_users_authed, gw);
}
void admin_routes_disable(ag_http_req *req, void *gw)
{
	authn_require(((gateway *)gw)->authn, req, admin_routes_disable_authed, gw);
}
void admin_routes_enable(ag_http_req *req, void *gw)
{
	authn_require(((gateway *)gw)->authn, req, admin_routes_enable_authed, gw);
}
void admin_routes_role(ag_http_req *req, void *gw)
{
	authn_require(((gateway *)gw)->authn, req, admin_routes_role_authed, gw);
}
void admin_routes_rotate(ag_http_req *req, void *gw)
{
	authn_require(((gateway *)gw)->authn, req, admin_routes_rotate_authed, gw);
}
