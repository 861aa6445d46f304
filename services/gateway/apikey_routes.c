/*
 * apikey_routes.c - create, list and revoke API keys (apikey_routes.h).
 * The new key passes through this process once, in the reply buffer, which
 * authcall wipes.
 */
#include "apikey_routes.h"

#include "authcall.h"

#include <string.h>

#define APIKEY_ROUTES_NAME_MAX 100

static json_t *apikey_routes_item(const Aegis__V1__ApiKeyInfo *k)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:o}", "id", k->id, "name", k->name, "prefix", k->prefix, "created_at",
	                 k->created_at, "last_used_at",
	                 k->last_used_at[0] ? json_string(k->last_used_at) : json_null());
}

static void apikey_routes_created(ag_http_req *req, const Aegis__V1__AuthReply *r)
{
	if (r->n_api_keys != 1 || !r->api_key[0]) {
		ag_http_respond_problem(req, 502, "the authentication service sent an unexpected reply");
		return;
	}
	json_t *o = apikey_routes_item(r->api_keys[0]);
	json_object_del(o, "last_used_at");
	json_object_set_new(o, "key", json_string(r->api_key));
	ag_http_resp_header(req, "Cache-Control", "no-store");
	ag_http_respond_json(req, 201, o);
}

static void apikey_routes_listed(ag_http_req *req, const Aegis__V1__AuthReply *r)
{
	json_t *items = json_array();
	for (size_t i = 0; i < r->n_api_keys; i++)
		json_array_append_new(items, apikey_routes_item(r->api_keys[i]));
	ag_http_resp_header(req, "Cache-Control", "no-store");
	ag_http_respond_json(req, 200, json_pack("{s:o}", "items", items));
}

static void apikey_routes_revoked(ag_http_req *req, const Aegis__V1__AuthReply *r)
{
	ag_http_respond(req, 204, NULL, NULL, 0);
}

static void apikey_routes_create_authed(ag_http_req *req, const ag_jwt_claims *claims, void *gw)
{
	if (!claims)
		return;
	json_t *root = authcall_json_body(req, "{\"name\": …}");
	if (!root)
		return;
	const char *name = authcall_json_str(root, "name");
	if (!name || !*name || strlen(name) > APIKEY_ROUTES_NAME_MAX) {
		ag_http_respond_problem(req, 400, "\"name\" must be a string of 1 to %d bytes", APIKEY_ROUTES_NAME_MAX);
		json_decref(root);
		return;
	}
	Aegis__V1__ApiKeyRequest m = AEGIS__V1__API_KEY_REQUEST__INIT;
	m.user_id = (char *)claims->sub;
	m.name = (char *)name;
	size_t len = 0;
	uint8_t *msg = authcall_pack(&m.base, &len);
	json_decref(root);
	authcall_start(req, gw, AG_SUBJ_AUTH_PREFIX "apikey.create", msg, len, apikey_routes_created);
}

static void apikey_routes_list_authed(ag_http_req *req, const ag_jwt_claims *claims, void *gw)
{
	if (!claims)
		return;
	Aegis__V1__ApiKeyRequest m = AEGIS__V1__API_KEY_REQUEST__INIT;
	m.user_id = (char *)claims->sub;
	size_t len = 0;
	uint8_t *msg = authcall_pack(&m.base, &len);
	authcall_start(req, gw, AG_SUBJ_AUTH_PREFIX "apikey.list", msg, len, apikey_routes_listed);
}

static void apikey_routes_revoke_authed(ag_http_req *req, const ag_jwt_claims *claims, void *gw)
{
	if (!claims)
		return;
	const char *id = ag_http_req_param(req, 0);
	Aegis__V1__ApiKeyRequest m = AEGIS__V1__API_KEY_REQUEST__INIT;
	m.user_id = (char *)claims->sub;
	m.key_id = (char *)(id ? id : "");
	size_t len = 0;
	uint8_t *msg = authcall_pack(&m.base, &len);
	authcall_start(req, gw, AG_SUBJ_AUTH_PREFIX "apikey.revoke", msg, len, apikey_routes_revoked);
}

void apikey_routes_create(ag_http_req *req, void *gw)
{
	authn_require(((gateway *)gw)->authn, req, apikey_routes_create_authed, gw);
}

void apikey_routes_list(ag_http_req *req, void *gw)
{
	authn_require(((gateway *)gw)->authn, req, apikey_routes_list_authed, gw);
}

void apikey_routes_revoke(ag_http_req *req, void *gw)
{
	authn_require(((gateway *)gw)->authn, req, apikey_routes_revoke_authed, gw);
}
