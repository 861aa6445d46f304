/*
 * auth_routes.h - the account and session endpoints, proxied to the auth
 * service (authcall.h):
 *
 *   POST /v1/auth/register {email,password} -> 201 {email}: the same answer
 *        whether or not the address already had an account (no account
 *        enumeration; see README "Accounts")
 *   POST /v1/auth/login    {email,password} -> 200 {access_token, token_type,
 *        expires_in, refresh_token} | 401 | 403 disabled | 429 + Retry-After
 *   POST /v1/auth/refresh  {refresh_token}  -> 200 (as login; the old token is
 *        spent) | 401 (reuse revokes the whole family) | 403 disabled
 *   POST /v1/auth/logout   {refresh_token}  -> 204 (always)
 *   POST /v1/auth/password {current_password,new_password} (bearer) -> 200
 *        (as login: a new session; every other refresh token is revoked) |
 *        400 policy | 403 wrong current password | 429
 *   GET  /v1/auth/me (bearer) -> 200 {id, role, via: "jwt"|"api_key"|"oidc"}
 *   GET  /v1/auth/jwks and /.well-known/jwks.json -> 200 JWK Set (authn.h)
 *
 * Route user data: the `gateway *`.
 */
#ifndef GATEWAY_AUTH_ROUTES_H
#define GATEWAY_AUTH_ROUTES_H

#include "aegis/http.h"

void auth_routes_register(ag_http_req *req, void *gw);
void auth_routes_login(ag_http_req *req, void *gw);
void auth_routes_refresh(ag_http_req *req, void *gw);
void auth_routes_logout(ag_http_req *req, void *gw);
void auth_routes_password(ag_http_req *req, void *gw);
void auth_routes_me(ag_http_req *req, void *gw);
void auth_routes_jwks(ag_http_req *req, void *gw);

#endif
