/*
 * apikey_routes.h - personal API keys, for the authenticated caller
 * (bearer token or API key), proxied to the auth service:
 *
 *   POST   /v1/auth/api-keys {name}  -> 201 {id, name, prefix, created_at, key}
 *          (the key is shown this once; Cache-Control: no-store) | 400 | 409
 *   GET    /v1/auth/api-keys         -> 200 {items: [{id, name, prefix,
 *          created_at, last_used_at}]}
 *   DELETE /v1/auth/api-keys/{id}    -> 204 | 404 (unknown or another user's)
 *
 * Use a key as `Authorization: Bearer agk_…`; it acts as its user.
 * Route user data: the `gateway *`.
 */
#ifndef GATEWAY_APIKEY_ROUTES_H
#define GATEWAY_APIKEY_ROUTES_H

#include "aegis/http.h"

void apikey_routes_create(ag_http_req *req, void *gw);
void apikey_routes_list(ag_http_req *req, void *gw);
void apikey_routes_revoke(ag_http_req *req, void *gw);

#endif
