/*
 * authcall.c - the request/reply plumbing shared by the routes that ask the
 * auth service (authcall.h).
 */
#include "authcall.h"

#include "aegis/log.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

typedef struct authcall {
	gateway *gw;
	const char *subject;
	authcall_ok ok;
	ag_trace trace;
	uint8_t *msg;
	size_t msg_len;
	void *reply;
	size_t reply_len;
	ag_status st;
	ag_err err;
} authcall;

uint8_t *authcall_pack(const ProtobufCMessage *m, size_t *len)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = malloc(n ? n : 1);
	*len = 0;
	if (buf)
		*len = protobuf_c_message_pack(m, buf);
	return buf;
}

json_t *authcall_json_body(ag_http_req *req, const char *shape)
{
	size_t len = 0;
	const char *body = ag_http_req_body(req, &len);
	json_error_t jerr;
	json_t *root = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root || !json_is_object(root)) {
		if (root)
			json_decref(root);
		ag_http_respond_problem(req, 400, "the body must be a JSON object %s", shape);
		return NULL;
	}
	return root;
}

const char *authcall_json_str(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

static void authcall_free(authcall *c)
{
	if (c->reply)
		sodium_memzero(c->reply, c->reply_len);
	free(c->reply);
	if (c->msg)
		sodium_memzero(c->msg, c->msg_len);
	free(c->msg);
	free(c);
}

static void authcall_work(void *ud)
{
	authcall *c = ud;
	ag_trace_set_current(&c->trace);
	c->st = ag_bus_request(c->gw->bus, c->subject, c->msg, c->msg_len, (int)c->gw->cfg->auth_timeout_ms, &c->reply,
	                       &c->reply_len, &c->err);
	ag_trace_set_current(NULL);
}

static void authcall_done(ag_http_req *req, void *ud)
{
	authcall *c = ud;
	Aegis__V1__AuthReply *r = NULL;
	char retry[16];

	if (c->st == AG_E_UNAVAILABLE || c->st == AG_E_TIMEOUT) {
		ag_log_warn("%s: %s", c->subject, c->err.msg[0] ? c->err.msg : ag_status_str(c->st));
		gateway_respond_unavailable(req, "the authentication service is unavailable; try again");
		goto out;
	}
	if (c->st != AG_OK) {
		gateway_respond_error(req, c->st, &c->err, c->subject);
		goto out;
	}
	r = aegis__v1__auth_reply__unpack(NULL, c->reply_len, c->reply);
	if (!r) {
		ag_log_error("%s: undecodable AuthReply (%zu bytes)", c->subject, c->reply_len);
		ag_http_respond_problem(req, 502, "the authentication service sent a malformed reply");
		goto out;
	}
	if (r->status == 0 || (r->status >= 200 && r->status <= 299)) {
		c->ok(req, r);
	} else if (r->status >= 400 && r->status <= 599) {
		if (r->status == 429) {
			snprintf(retry, sizeof retry, "%u", r->retry_after ? r->retry_after : 1);
			ag_http_resp_header(req, "Retry-After", retry);
		} else if (r->status == 503) {
			ag_http_resp_header(req, "Retry-After", GATEWAY_RETRY_AFTER_S);
		} else if (r->status == 401) {
			ag_http_resp_header(req, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
		}
		ag_http_respond_problem(req, (int)r->status, "%s",
		                        r->error[0] ? r->error : ag_http_reason((int)r->status));
	} else {
		ag_log_error("%s: AuthReply with status %u", c->subject, r->status);
		ag_http_respond_problem(req, 502, "the authentication service sent an unexpected reply");
	}
out:
	if (r)
		aegis__v1__auth_reply__free_unpacked(r, NULL);
	authcall_free(c);
}

void authcall_start(ag_http_req *req, gateway *gw, const char *subject, uint8_t *msg, size_t len, authcall_ok ok)
{
	authcall *c = NULL;
	if (!msg || !(c = calloc(1, sizeof *c))) {
		if (msg)
			sodium_memzero(msg, len);
		free(msg);
		ag_http_respond_problem(req, 500, "out of memory");
		return;
	}
	c->gw = gw;
	c->subject = subject;
	c->ok = ok;
	c->trace = *ag_http_req_trace(req);
	c->msg = msg;
	c->msg_len = len;
	if (ag_http_req_defer(req, authcall_work, authcall_done, c) != AG_OK) {
		gateway_respond_unavailable(req, "the server is busy; try again");
		authcall_free(c);
	}
}
