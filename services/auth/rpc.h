/*
 * rpc.h - the three request/reply handlers of the auth service, one per
 * subject (aegis.auth.register | login | jwks). Each decodes its protobuf
 * request strictly (undecodable -> 400 "malformed request"), does the work,
 * and always answers with one AuthReply: `status` is the HTTP status the
 * gateway should return, `error` a safe sentence. Every answer is counted in
 * aegis_auth_requests_total{verb,status} and timed in
 * aegis_auth_request_duration_seconds{verb}.
 *
 * The handlers run on cnats threads (ag_bus_reply_fn) and may block on
 * PostgreSQL and on argon2id; `ud` is an rpc_ctx that outlives the services.
 */
#ifndef AUTH_RPC_H
#define AUTH_RPC_H

#include "accounts.h"
#include "sessions.h"

#include "aegis/db.h"
#include "aegis/metrics.h"

#include <stddef.h>

typedef struct rpc_ctx {
	accounts *accounts;  /* borrowed */
	ag_db_pool *pool;    /* borrowed */
	ag_metrics *metrics; /* borrowed; may be NULL */
	int db_timeout_ms;
	sessions_ctx sessions;
} rpc_ctx;

void rpc_register(const void *data, size_t len, void **reply, size_t *reply_len, void *ud);
void rpc_login(const void *data, size_t len, void **reply, size_t *reply_len, void *ud);
void rpc_jwks(const void *data, size_t len, void **reply, size_t *reply_len, void *ud);
/* rpc_more.c: aegis.auth.refresh | logout | password | apikey.{create,list,revoke,verify} |
 * admin.{users,disable,enable,role,rotate-keys} | external */
void rpc_refresh(const void *data, size_t len, void **reply, size_t *reply_len, void *ud);
void rpc_logout(const void *data, size_t len, void **reply, size_t *reply_len, void *ud);
void rpc_password(const void *data, size_t len, void **reply, size_t *reply_len, void *ud);
void rpc_apikey_create(const void *data, size_t len, void **reply, size_t *reply_len, void *ud);
void rpc_apikey_list(const void *data, size_t len, void **reply, size_t *reply_len, void *ud);
void rpc_apikey_revoke(const void *data, size_t len, void **reply, size_t *reply_len, void *ud);
void rpc_apikey_verify(const void *data, size_t len, void **reply, size_t *reply_len, void *ud);
void rpc_admin_users(const void *data, size_t len, void **reply, size_t *reply_len, void *ud);
void rpc_admin_disable(const void *data, size_t len, void **reply, size_t *reply_len, void *ud);
void rpc_admin_enable(const void *data, size_t len, void **reply, size_t *reply_len, void *ud);
void rpc_admin_role(const void *data, size_t len, void **reply, size_t *reply_len, void *ud);
void rpc_admin_rotate(const void *data, size_t len, void **reply, size_t *reply_len, void *ud);
void rpc_external(const void *data, size_t len, void **reply, size_t *reply_len, void *ud);

/* Shared by rpc.c and rpc_more.c. */
struct Aegis__V1__AuthReply;
double rpc_now(void);
const char *rpc_ip(const char *ip); /* the address for logs, or "unknown" */
void rpc_wipe(char *s);
char *rpc_str(const char *s); /* "" for NULL */
/* Copy an outcome into the reply; identity and tokens only on success. Pointers borrow from r. */
void rpc_fill(struct Aegis__V1__AuthReply *rep, const accounts_result *r);
/* Pack into a malloc'd buffer for the bus and count the answer. */
void rpc_send(const rpc_ctx *ctx, const char *verb, const struct Aegis__V1__AuthReply *rep, double t0, void **reply,
              size_t *reply_len);

#endif
