/*
 * auth_routes.c - the public account and session endpoints (see
 * auth_routes.h). Passwords and tokens pass through memory only: never
 * logged, and wiped from the request buffers the gateway made.
 */
#include "auth_routes.h"

#include "authcall.h"

#include "aegis/limits.h"

#include <string.h>

#define AUTH_ROUTES_TOKEN_MAX 256 /* longer refresh tokens cannot be ours */

/* ---- answers ---- */

static void auth_routes_tokens(ag_http_req *req, const Aegis__V1__AuthReply *r)
{
	ag_http_resp_header(req, "Cache-Control", "no-store");
	ag_http_respond_json(req, 200,
	                     json_pack("{s:s, s:s, s:I, s:s}", "access_token", r->access_token, "token_type", "Bearer",
	                               "expires_in", (json_int_t)r->expires_in, "refresh_token", r->refresh_token));
}

static void auth_routes_registered(ag_http_req *req, const Aegis__V1__AuthReply *r)
{
	ag_http_respond_json(req, 201, json_pack("{s:s}", "email", r->email));
}

static void auth_routes_no_content(ag_http_req *req, const Aegis__V1__AuthReply *r)
{
	ag_http_respond(req, 204, NULL, NULL, 0);
}

/* {email, password} strings within the limits, or answer 400 and return NULL. */
static json_t *auth_routes_credentials(ag_http_req *req, const char **email, const char **password)
{
	json_t *root = authcall_json_body(req, "{\"email\": …, \"password\": …}");
	if (!root)
		return NULL;
	*email = authcall_json_str(root, "email");
	*password = authcall_json_str(root, "password");
	if (!*email || !*password) {
		ag_http_respond_problem(req, 400, "\"email\" and \"password\" must be strings");
	} else if (strlen(*email) > AG_EMAIL_MAX_BYTES || strlen(*password) > AG_PASSWORD_MAX_BYTES) {
		ag_http_respond_problem(req, 400, "\"email\" may have at most %d bytes and \"password\" at most %d",
		                        AG_EMAIL_MAX_BYTES, AG_PASSWORD_MAX_BYTES);
	} else {
		return root;
	}
	json_decref(root);
	return NULL;
}

void auth_routes_register(ag_http_req *req, void *gw)
{
	const char *email, *password;
	json_t *root = auth_routes_credentials(req, &email, &password);
	if (!root)
		return;
	Aegis__V1__RegisterRequest m = AEGIS__V1__REGISTER_REQUEST__INIT;
	m.email = (char *)email;
	m.password = (char *)password;
	size_t len = 0;
	uint8_t *msg = authcall_pack(&m.base, &len);
	json_decref(root); /* the password string inside is jansson's; it does not offer a wipe */
	authcall_start(req, gw, AG_SUBJ_AUTH_PREFIX "register", msg, len, auth_routes_registered);
}

void auth_routes_login(ag_http_req *req, void *gw)
{
	const char *email, *password, *peer = ag_http_req_peer(req);
	json_t *root = auth_routes_credentials(req, &email, &password);
	if (!root)
		return;
	Aegis__V1__LoginRequest m = AEGIS__V1__LOGIN_REQUEST__INIT;
	m.email = (char *)email;
	m.password = (char *)password;
	m.client_ip = (char *)(peer ? peer : "");
	size_t len = 0;
	uint8_t *msg = authcall_pack(&m.base, &len);
	json_decref(root);
	authcall_start(req, gw, AG_SUBJ_AUTH_PREFIX "login", msg, len, auth_routes_tokens);
}

static void auth_routes_session(ag_http_req *req, gateway *gw, bool logout)
{
	const char *peer = ag_http_req_peer(req);
	json_t *root = authcall_json_body(req, "{\"refresh_token\": …}");
	if (!root)
		return;
	const char *token = authcall_json_str(root, "refresh_token");
	if (!token || !*token || strlen(token) > AUTH_ROUTES_TOKEN_MAX) {
		ag_http_respond_problem(req, 400, "\"refresh_token\" must be a string of 1 to %d bytes",
		                        AUTH_ROUTES_TOKEN_MAX);
		json_decref(root);
		return;
	}
	Aegis__V1__RefreshRequest m = AEGIS__V1__REFRESH_REQUEST__INIT;
	m.refresh_token = (char *)token;
	m.client_ip = (char *)(peer ? peer : "");
	size_t len = 0;
	uint8_t *msg = authcall_pack(&m.base, &len);
	json_decref(root);
	if (logout)
		authcall_start(req, gw, AG_SUBJ_AUTH_PREFIX "logout", msg, len, auth_routes_no_content);
	else
		authcall_start(req, gw, AG_SUBJ_AUTH_PREFIX "refresh", msg, len, auth_routes_tokens);
}

void auth_routes_refresh(ag_http_req *req, void *gw)
{
	auth_routes_session(req, gw, false);
}

void auth_routes_logout(ag_http_req *req, void *gw)
{
	auth_routes_session(req, gw, true);
}

static void auth_routes_password_authed(ag_http_req *req, const ag_jwt_claims *claims, void *gw)
{
	const char *peer = ag_http_req_peer(req);
	if (!claims)
		return;
	json_t *root = authcall_json_body(req, "{\"current_password\": …, \"new_password\": …}");
	if (!root)
		return;
	const char *cur = authcall_json_str(root, "current_password");
	const char *next = authcall_json_str(root, "new_password");
	if (!cur || !next) {
		ag_http_respond_problem(req, 400, "\"current_password\" and \"new_password\" must be strings");
	} else if (strlen(cur) > AG_PASSWORD_MAX_BYTES || strlen(next) > AG_PASSWORD_MAX_BYTES) {
		ag_http_respond_problem(req, 400, "a password may have at most %d bytes", AG_PASSWORD_MAX_BYTES);
	} else {
		Aegis__V1__PasswordRequest m = AEGIS__V1__PASSWORD_REQUEST__INIT;
		m.user_id = (char *)claims->sub;
		m.current_password = (char *)cur;
		m.new_password = (char *)next;
		m.client_ip = (char *)(peer ? peer : "");
		size_t len = 0;
		uint8_t *msg = authcall_pack(&m.base, &len);
		authcall_start(req, gw, AG_SUBJ_AUTH_PREFIX "password", msg, len, auth_routes_tokens);
	}
	json_decref(root);
}

void auth_routes_password(ag_http_req *req, void *gw)
{
	gateway *g = gw;
	authn_require(g->authn, req, auth_routes_password_authed, gw);
}

static void auth_routes_me_authed(ag_http_req *req, const ag_jwt_claims *claims, void *gw)
{
	if (!claims)
		return;
	ag_http_resp_header(req, "Cache-Control", "no-store");
	ag_http_respond_json(
	        req, 200,
	        json_pack("{s:s, s:s, s:s}", "id", claims->sub, "role", claims->role, "via", authn_via(claims)));
}

void auth_routes_me(ag_http_req *req, void *gw)
{
	gateway *g = gw;
	authn_require(g->authn, req, auth_routes_me_authed, gw);
}

void auth_routes_jwks(ag_http_req *req, void *gw)
{
	authn_serve_jwks(((gateway *)gw)->authn, req);
}
