/*
 * admin_routes.h - account administration, for callers whose role is
 * admin (checked here from the token, and again by the auth service
 * against the database):
 *
 *   GET  /v1/admin/users?limit=&offset=   -> 200 {items: [{id, email, role,
 *        disabled, external, created_at}]} (limit 1..1000, default 100)
 *   POST /v1/admin/users/{id}/disable     -> 204 (refresh tokens revoked, API
 *        keys refused; access tokens run out within ACCESS_TOKEN_TTL_S)
 *   POST /v1/admin/users/{id}/enable      -> 204
 *   PUT  /v1/admin/users/{id}/role {role} -> 204 ("user" | "admin")
 *   POST /v1/admin/signing-keys/rotate    -> 204 (a new key signs at once)
 *
 * 403 for a caller without the admin role; 404 for an unknown user; 400
 * for disabling or demoting oneself. Route user data: the `gateway *`.
 */
#ifndef GATEWAY_ADMIN_ROUTES_H
#define GATEWAY_ADMIN_ROUTES_H

#include "aegis/http.h"

#define ADMIN_ROUTES_DEFAULT_LIMIT 100

void admin_routes_users(ag_http_req *req, void *gw);
void admin_routes_disable(ag_http_req *req, void *gw);
void admin_routes_enable(ag_http_req *req, void *gw);
void admin_routes_role(ag_http_req *req, void *gw);
void admin_routes_rotate(ag_http_req *req, void *gw);

#endif
