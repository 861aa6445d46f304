/*
 * webhooks.h - the webhook routes of the public API, scoped to the caller:
 *   POST   /v1/webhooks                   {url, events?} -> 201, the signing secret shown once
 *   GET    /v1/webhooks                   the caller's webhooks (never their secrets)
 *   DELETE /v1/webhooks/{id}              204 (its deliveries go with it)
 *   GET    /v1/webhooks/{id}/deliveries   newest first, ?limit=
 * Another user's webhook is 404, exactly like one that does not exist.
 */
#ifndef GATEWAY_WEBHOOKS_H
#define GATEWAY_WEBHOOKS_H

#include "aegis/http.h"

#define WEBHOOKS_PER_USER_MAX   20  /* registered webhooks per user */
#define WEBHOOKS_DELIVERIES_MAX 500 /* largest ?limit= of the deliveries listing */

/* ud = gateway */
void webhooks_create(ag_http_req *req, void *gw);
void webhooks_list(ag_http_req *req, void *gw);
void webhooks_delete(ag_http_req *req, void *gw);
void webhooks_deliveries(ag_http_req *req, void *gw);

#endif
