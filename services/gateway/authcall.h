/*
 * authcall.h - one request/reply to the auth service from an HTTP route:
 * the packed protobuf request goes out from the thread pool
 * (aegis.auth.<verb>), the AuthReply comes back to the loop thread, and a
 * failure becomes problem+json with the status and sentence the auth
 * service chose (429 with its Retry-After; 503 with Retry-After when the
 * auth service is unreachable or slow; 502 for a malformed reply). Only a
 * 2xx reply reaches the route's `ok` callback.
 *
 * The request buffer may hold secrets: it is wiped before it is freed, and
 * so is the reply (tokens, keys).
 */
#ifndef GATEWAY_AUTHCALL_H
#define GATEWAY_AUTHCALL_H

#include "gateway.h"

#include "aegis/v1/auth.pb-c.h"

/* Called on the loop thread with a 2xx reply; must answer. */
typedef void (*authcall_ok)(ag_http_req *req, const Aegis__V1__AuthReply *r);

/* Send `msg` (malloc'd; taken over, wiped and freed in every case) to `subject` and answer through `ok`. */
void authcall_start(ag_http_req *req, gateway *gw, const char *subject, uint8_t *msg, size_t len, authcall_ok ok);

/* Pack a protobuf message (&m.base) into a malloc'd buffer; NULL when out of memory. */
uint8_t *authcall_pack(const ProtobufCMessage *m, size_t *len);

/* The request body as a JSON object, or answer 400 (`shape` names the expected object) and return NULL. */
json_t *authcall_json_body(ag_http_req *req, const char *shape);
/* A string member, or NULL when absent or not a string. */
const char *authcall_json_str(json_t *o, const char *key);

#endif
