/*
 * rpc.c - decode, dispatch, encode and count the auth requests (rpc.h).
 * Passwords are wiped from the decoded request as soon as the work is done;
 * logs carry user ids and client addresses, never emails or secrets.
 */
#include "rpc.h"

#include "keys.h"

#include "aegis/log.h"
#include "aegis/v1/auth.pb-c.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RPC_LABELS_MAX    64
#define RPC_IP_MAX        45 /* longest textual IPv6 address */
#define RPC_MSG_MALFORMED "malformed request"

double rpc_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The client address for logs, or "unknown" when it does not look like an IP address. */
const char *rpc_ip(const char *ip)
{
	size_t n = ip ? strnlen(ip, RPC_IP_MAX + 1) : 0;
	if (n == 0 || n > RPC_IP_MAX)
		return "unknown";
	for (size_t i = 0; i < n; i++)
		if (!strchr("0123456789abcdefABCDEF.:", ip[i]))
			return "unknown";
	return ip;
}

void rpc_wipe(char *s)
{
	if (s && *s)
		sodium_memzero(s, strlen(s));
}

char *rpc_str(const char *s)
{
	return (char *)(s ? s : "");
}

/* Copy an outcome into the reply; identity and tokens only on success. Pointers borrow from r. */
void rpc_fill(Aegis__V1__AuthReply *rep, const accounts_result *r)
{
	bool ok = r->status >= 200 && r->status < 300;
	rep->status = r->status;
	rep->error = rpc_str(ok ? NULL : r->error);
	rep->user_id = rpc_str(ok ? r->user_id : NULL);
	rep->email = rpc_str(ok ? r->email : NULL);
	rep->role = rpc_str(ok ? r->role : NULL);
	rep->access_token = rpc_str(ok ? r->tokens.access : NULL);
	rep->refresh_token = rpc_str(ok ? r->tokens.refresh : NULL);
	rep->expires_in = ok ? r->tokens.expires_in : 0;
	rep->retry_after = r->status == 429 ? r->retry_after : 0;
}

/* Pack into a malloc'd buffer for the bus and count the answer. */
void rpc_send(const rpc_ctx *ctx, const char *verb, const Aegis__V1__AuthReply *rep, double t0, void **reply,
              size_t *reply_len)
{
	char labels[RPC_LABELS_MAX];
	snprintf(labels, sizeof labels, "verb=\"%s\",status=\"%u\"", verb, rep->status);
	ag_counter_inc(ag_metrics_counter(ctx->metrics, "aegis_auth_requests_total",
	                                  "Auth requests answered, by verb and the HTTP status returned", labels));
	snprintf(labels, sizeof labels, "verb=\"%s\"", verb);
	ag_histogram_observe(ag_metrics_histogram(ctx->metrics, "aegis_auth_request_duration_seconds",
	                                          "Time to answer an auth request", labels, ag_metrics_seconds_buckets,
	                                          ag_metrics_seconds_buckets_len),
	                     rpc_now() - t0);

	size_t n = aegis__v1__auth_reply__get_packed_size(rep);
	unsigned char *buf = malloc(n ? n : 1);
	if (!buf) {
		ag_log_error("%s: out of memory for a %zu-byte reply", verb, n);
		return;
	}
	*reply_len = aegis__v1__auth_reply__pack(rep, buf);
	*reply = buf;
}

void rpc_register(const void *data, size_t len, void **reply, size_t *reply_len, void *ud)
{
	const rpc_ctx *ctx = ud;
	double t0 = rpc_now();
	Aegis__V1__AuthReply rep = AEGIS__V1__AUTH_REPLY__INIT;
	accounts_result r;
	memset(&r, 0, sizeof r);

	Aegis__V1__RegisterRequest *req = aegis__v1__register_request__unpack(NULL, len, data);
	if (!req) {
		r.status = 400;
		r.error = RPC_MSG_MALFORMED;
	} else {
		accounts_register(ctx->accounts, req->email, req->password, &r);
		rpc_wipe(req->password);
		if (r.status == 409) {
			/* No account enumeration: an address in use gets the answer of a new one (the hash was
			 * computed either way, so the timing matches too). Only the address, normalised, goes back. */
			char email[POLICY_EMAIL_BUF];
			policy_email_normalize(req->email, email);
			memcpy(r.email, email, sizeof email);
			r.status = 201;
			r.error = NULL;
			ag_log_info("register: address already in use; answered like a new account");
		}
		aegis__v1__register_request__free_unpacked(req, NULL);
	}
	rpc_fill(&rep, &r);
	rpc_send(ctx, "register", &rep, t0, reply, reply_len);
	accounts_result_clear(&r);
}

void rpc_login(const void *data, size_t len, void **reply, size_t *reply_len, void *ud)
{
	const rpc_ctx *ctx = ud;
	double t0 = rpc_now();
	Aegis__V1__AuthReply rep = AEGIS__V1__AUTH_REPLY__INIT;
	accounts_result r;
	memset(&r, 0, sizeof r);

	Aegis__V1__LoginRequest *req = aegis__v1__login_request__unpack(NULL, len, data);
	if (!req) {
		r.status = 400;
		r.error = RPC_MSG_MALFORMED;
	} else {
		accounts_login_from(ctx->accounts, req->email, req->password, req->client_ip, &r);
		rpc_wipe(req->password);
		if (r.status == 200)
			ag_log_info("login of user %s from %s", r.user_id, rpc_ip(req->client_ip));
		else if (r.status == 401 || r.status == 403 || r.status == 429)
			ag_log_info("login refused (%u) from %s", r.status, rpc_ip(req->client_ip));
		aegis__v1__login_request__free_unpacked(req, NULL);
	}
	rpc_fill(&rep, &r);
	rpc_send(ctx, "login", &rep, t0, reply, reply_len);
	accounts_result_clear(&r);
}

void rpc_jwks(const void *data, size_t len, void **reply, size_t *reply_len, void *ud)
{
	const rpc_ctx *ctx = ud;
	double t0 = rpc_now();
	Aegis__V1__AuthReply rep = AEGIS__V1__AUTH_REPLY__INIT;
	keys_public pubs[AG_JWKS_MAX_KEYS];
	Aegis__V1__PublicKey pk[AG_JWKS_MAX_KEYS], *pkp[AG_JWKS_MAX_KEYS];
	size_t n = 0;
	PGconn *c = NULL;
	ag_err e;
	ag_err_clear(&e);
	accounts_result r;
	memset(&r, 0, sizeof r);

	Aegis__V1__JwksRequest *req = aegis__v1__jwks_request__unpack(NULL, len, data);
	if (!req) {
		r.status = 400;
		r.error = RPC_MSG_MALFORMED;
		goto send;
	}
	aegis__v1__jwks_request__free_unpacked(req, NULL);
	ag_status st = ag_db_acquire(ctx->pool, &c, ctx->db_timeout_ms, &e);
	if (st == AG_OK)
		st = keys_published(c, pubs, &n, &e);
	ag_db_release(ctx->pool, c);
	if (st != AG_OK) {
		ag_log_warn("jwks: %s", e.msg);
		accounts_fail(&r, st);
		goto send;
	}
	for (size_t i = 0; i < n; i++) {
		aegis__v1__public_key__init(&pk[i]);
		pk[i].kid = pubs[i].jwk.kid;
		pk[i].alg = (char *)KEYS_ALG;
		pk[i].key.data = pubs[i].jwk.pub;
		pk[i].key.len = sizeof pubs[i].jwk.pub;
		pk[i].expires_at_ms = pubs[i].expires_at_ms;
		pkp[i] = &pk[i];
	}
	rep.n_keys = n;
	rep.keys = n ? pkp : NULL;
	r.status = 200;
send:
	rpc_fill(&rep, &r);
	rpc_send(ctx, "jwks", &rep, t0, reply, reply_len);
}
