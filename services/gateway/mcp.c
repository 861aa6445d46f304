/*
 * mcp.c - the MCP endpoint (see mcp.h). The loop thread checks headers and
 * parses the JSON-RPC envelope; tools run on the thread pool with one pooled
 * connection; the loop thread answers.
 */
#include "mcp.h"

#include "embedq.h"
#include "filename.h"
#include "gateway.h"
#include "search.h"
#include "submit.h"
#include "uuid.h"

#include "aegis/log.h"
#include "aegis/str.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MCP_ERR_PARSE    -32700
#define MCP_ERR_REQUEST  -32600
#define MCP_ERR_METHOD   -32601
#define MCP_ERR_PARAMS   -32602
#define MCP_ERR_INTERNAL -32603
#define MCP_HOST_MAX     256

#define MCP_UPLOAD_KEY_PREFIX   "documents/" /* the same storage keys as POST /v1/files */
#define MCP_UPLOAD_DEFAULT_NAME "upload.txt"

static const char *const mcp_versions[] = {"2025-03-26", "2025-06-18", "2025-11-25"};

typedef struct mcp_call {
	gateway *gw;
	ag_trace trace;
	char owner[64];
	json_t *id; /* the request id (owned) */
	char method[32];
	json_t *params; /* owned; may be NULL */
	json_t *answer; /* a full JSON-RPC response, built by the worker */
	int http;       /* status to answer with */
} mcp_call;

static bool mcp_version_ok(const char *v)
{
	for (size_t i = 0; i < sizeof mcp_versions / sizeof *mcp_versions; i++)
		if (strcmp(v, mcp_versions[i]) == 0)
			return true;
	return false;
}

static json_t *mcp_result(json_t *id, json_t *result)
{
	return json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id ? id : json_null(), "result", result);
}

static json_t *mcp_error(json_t *id, int code, const char *msg)
{
	return json_pack("{s:s, s:O, s:{s:i, s:s}}", "jsonrpc", "2.0", "id", id ? id : json_null(), "error", "code",
	                 code, "message", msg);
}

/* A tool result: the structured value, also as text (older clients read only content). */
static json_t *mcp_tool_result(json_t *value, bool is_error)
{
	char *text = json_dumps(value, JSON_COMPACT);
	json_t *r = json_pack("{s:[{s:s, s:s}], s:o, s:b}", "content", "type", "text", "text", text ? text : "{}",
	                      "structuredContent", value, "isError", is_error);
	free(text);
	return r;
}

static json_t *mcp_tool_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static json_t *mcp_tool_error(const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return mcp_tool_result(json_pack("{s:s}", "error", msg), true);
}

static json_t *mcp_schema(const char *required, json_t *props)
{
	return json_pack("{s:s, s:o, s:[s], s:b}", "type", "object", "properties", props, "required", required,
	                 "additionalProperties", 0);
}

static json_t *mcp_tools(void)
{
	return json_pack(
	        "{s:[o, o, o, o, o]}", "tools",
	        json_pack("{s:s, s:s, s:s, s:o}", "name", "search_documents", "title", "Search documents",
	                  "description",
	                  "Search the caller's documents: full-text (keyword), lexical-vector (semantic) or both fused "
	                  "(hybrid, default). Returns ranked chunks with document_id, filename, chunk, snippet, score.",
	                  "inputSchema",
	                  mcp_schema("query",
	                             json_pack("{s:{s:s, s:i}, s:{s:s, s:[s, s, s]}, s:{s:s, s:i, s:i}}", "query",
	                                       "type", "string", "maxLength", SEARCH_Q_MAX_BYTES, "mode", "type",
	                                       "string", "enum", "hybrid", "semantic", "keyword", "limit", "type",
	                                       "integer", "minimum", 1, "maximum", SEARCH_LIMIT_MAX))),
	        json_pack("{s:s, s:s, s:s, s:o}", "name", "get_document", "title", "Get a document", "description",
	                  "A document's metadata and AI results: summary, keywords, language, category, PII counts.",
	                  "inputSchema",
	                  mcp_schema("document_id",
	                             json_pack("{s:{s:s, s:s}}", "document_id", "type", "string", "format", "uuid"))),
	        json_pack("{s:s, s:s, s:s, s:o}", "name", "get_document_content", "title", "Get a document's text",
	                  "description", "The extracted text of a document, cut at max_chars characters.",
	                  "inputSchema",
	                  mcp_schema("document_id", json_pack("{s:{s:s, s:s}, s:{s:s, s:i, s:i}}", "document_id",
	                                                      "type", "string", "format", "uuid", "max_chars", "type",
	                                                      "integer", "minimum", 1, "maximum", MCP_CONTENT_MAX))),
	        json_pack(
	                "{s:s, s:s, s:s, s:o}", "name", "get_job", "title", "Get a job", "description",
	                "A processing job's state (queued, running, succeeded, failed, rejected, cancelled) and error.",
	                "inputSchema",
	                mcp_schema("job_id",
	                           json_pack("{s:{s:s, s:s}}", "job_id", "type", "string", "format", "uuid"))),
	        json_pack(
	                "{s:s, s:s, s:s, s:o}", "name", "upload_text", "title", "Upload text", "description",
	                "Store text as a new document (text/plain) and queue its processing job, like POST /v1/files. "
	                "Returns document_id and job_id; follow the job with get_job.",
	                "inputSchema",
	                mcp_schema("text",
	                           json_pack("{s:{s:s, s:i}, s:{s:s, s:i}}", "text", "type", "string", "minLength", 1,
	                                     "filename", "type", "string", "maxLength", AG_FILENAME_MAX_BYTES))));
}

/* ---- tools (thread pool) ---- */

static json_t *mcp_db_failed(ag_status st, const ag_err *err)
{
	ag_log_warn("mcp tool: %s: %s", ag_status_name(st), err->msg);
	return mcp_tool_error("%s",
	                      ag_status_transient(st) ? "the database is unavailable; try again" : "the query failed");
}

static json_t *mcp_search(mcp_call *c, PGconn *conn, json_t *args, int *rpc_err, const char **why)
{
	search_query sq = {.limit = SEARCH_LIMIT_DEFAULT};
	json_t *q = json_object_get(args, "query"), *mode = json_object_get(args, "mode"),
	       *limit = json_object_get(args, "limit"), *out = NULL;
	ag_err err = {0};
	const char *bad = json_is_string(q) ? search_q_check(json_string_value(q), sq.q) : "query must be a string";
	if (!bad && mode && (!json_is_string(mode) || !search_mode_parse(json_string_value(mode), &sq.mode)))
		bad = "mode must be hybrid, semantic or keyword";
	if (!bad && limit) {
		if (!json_is_integer(limit) || json_integer_value(limit) < 1 ||
		    json_integer_value(limit) > SEARCH_LIMIT_MAX)
			bad = "limit must be an integer from 1 to 50";
		else
			sq.limit = json_integer_value(limit);
	}
	if (bad) {
		*rpc_err = MCP_ERR_PARAMS;
		*why = bad;
		return NULL;
	}
	snprintf(sq.owner, sizeof sq.owner, "%s", c->owner);
	ag_status st = search_run(c->gw, conn, &sq, &out, &err);
	if (st != AG_OK && strncmp(err.msg, EMBEDQ_ERR_PREFIX, strlen(EMBEDQ_ERR_PREFIX)) == 0) {
		ag_log_warn("mcp search_documents: %s", err.msg);
		return mcp_tool_error("%s",
		                      ag_status_transient(st)
		                              ? "the embedding server is unavailable; try again or use mode keyword"
		                              : "the query could not be embedded");
	}
	if (st != AG_OK)
		return mcp_db_failed(st, &err);
	return mcp_tool_result(out, false);
}

static const char *mcp_uuid_arg(json_t *args, const char *name)
{
	json_t *v = json_object_get(args, name);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

static json_t *mcp_get_document(mcp_call *c, PGconn *conn, json_t *args, int *rpc_err, const char **why)
{
	const char *id = mcp_uuid_arg(args, "document_id");
	PGresult *r = NULL;
	ag_err err = {0};
	json_t *out;
	if (!id) {
		*rpc_err = MCP_ERR_PARAMS;
		*why = "document_id must be a string";
		return NULL;
	}
	if (!uuid_valid(id))
		return mcp_tool_error("document %s not found", id);
	const char *params[] = {id, c->owner};
	ag_status st =
	        ag_db_exec(conn,
	                   "SELECT d.id, d.filename, d.size, coalesce(d.sniffed_mime, d.claimed_mime), " GATEWAY_SQL_TS(
	                           "d.created_at") ", a.summary, a.keywords::text, a.language, "
	                                           "a.category, a.pii::text, (SELECT count(*) FROM chunks k WHERE "
	                                           "k.document_id = d.id) "
	                                           "FROM documents d LEFT JOIN ai_results a ON a.document_id = d.id "
	                                           "WHERE d.id = $1 AND d.owner_id = $2",
	                   2, params, &r, &err);
	if (st != AG_OK) {
		PQclear(r);
		return mcp_db_failed(st, &err);
	}
	if (PQntuples(r) == 0) {
		PQclear(r);
		return mcp_tool_error("document %s not found", id);
	}
	json_t *kw = PQgetisnull(r, 0, 6) ? json_array() : json_loads(PQgetvalue(r, 0, 6), 0, NULL);
	json_t *pii = PQgetisnull(r, 0, 9) ? json_null() : json_loads(PQgetvalue(r, 0, 9), 0, NULL);
	out = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:{s:o, s:o*, s:o, s:o, s:o*}}", "id",
	                gateway_json_text(r, 0, 0), "filename", gateway_json_text(r, 0, 1), "size",
	                gateway_json_int(r, 0, 2), "mime", gateway_json_text(r, 0, 3), "created_at",
	                gateway_json_text(r, 0, 4), "chunks", gateway_json_int(r, 0, 10), "ai", "summary",
	                gateway_json_text(r, 0, 5), "keywords", kw, "language", gateway_json_text(r, 0, 7), "category",
	                gateway_json_text(r, 0, 8), "pii", pii);
	PQclear(r);
	return out ? mcp_tool_result(out, false) : NULL;
}

static json_t *mcp_get_content(mcp_call *c, PGconn *conn, json_t *args, int *rpc_err, const char **why)
{
	const char *id = mcp_uuid_arg(args, "document_id");
	json_t *mx = json_object_get(args, "max_chars");
	long long max = MCP_CONTENT_MAX_DEFAULT;
	PGresult *r = NULL;
	ag_err err = {0};
	char maxs[24];
	if (!id ||
	    (mx && (!json_is_integer(mx) || json_integer_value(mx) < 1 || json_integer_value(mx) > MCP_CONTENT_MAX))) {
		*rpc_err = MCP_ERR_PARAMS;
		*why = "document_id must be a string and max_chars an integer from 1 to 200000";
		return NULL;
	}
	if (mx)
		max = json_integer_value(mx);
	if (!uuid_valid(id))
		return mcp_tool_error("document %s not found", id);
	snprintf(maxs, sizeof maxs, "%lld", max);
	const char *params[] = {id, c->owner, maxs};
	ag_status st =
	        ag_db_exec(conn,
	                   "SELECT c.document_id IS NOT NULL, left(c.text, $3::int), length(c.text) FROM documents d "
	                   "LEFT JOIN document_content c ON c.document_id = d.id "
	                   "WHERE d.id = $1 AND d.owner_id = $2",
	                   3, params, &r, &err);
	json_t *out = NULL;
	if (st != AG_OK)
		out = mcp_db_failed(st, &err);
	else if (PQntuples(r) == 0)
		out = mcp_tool_error("document %s not found", id);
	else if (strcmp(PQgetvalue(r, 0, 0), "t") != 0)
		out = mcp_tool_error("the content of document %s is not extracted yet", id);
	else
		out = mcp_tool_result(json_pack("{s:s, s:o, s:o, s:b}", "document_id", id, "text",
		                                gateway_json_text(r, 0, 1), "length", gateway_json_int(r, 0, 2),
		                                "truncated", ag_str_to_i64(PQgetvalue(r, 0, 2), 0) > max),
		                      false);
	PQclear(r);
	return out;
}

static json_t *mcp_get_job(mcp_call *c, PGconn *conn, json_t *args, int *rpc_err, const char **why)
{
	const char *id = mcp_uuid_arg(args, "job_id");
	PGresult *r = NULL;
	ag_err err = {0};
	if (!id) {
		*rpc_err = MCP_ERR_PARAMS;
		*why = "job_id must be a string";
		return NULL;
	}
	if (!uuid_valid(id))
		return mcp_tool_error("job %s not found", id);
	const char *params[] = {id, c->owner};
	ag_status st =
	        ag_db_exec(conn,
	                   "SELECT id, document_id, state, error_code, error, " GATEWAY_SQL_TS(
	                           "created_at") ", " GATEWAY_SQL_TS("finished_at") " FROM jobs "
	                                                                            "WHERE id = $1 AND owner_id = $2",
	                   2, params, &r, &err);
	json_t *out = NULL;
	if (st != AG_OK)
		out = mcp_db_failed(st, &err);
	else if (PQntuples(r) == 0)
		out = mcp_tool_error("job %s not found", id);
	else
		out = mcp_tool_result(json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "id", gateway_json_text(r, 0, 0),
		                                "document_id", gateway_json_text(r, 0, 1), "state",
		                                gateway_json_text(r, 0, 2), "error_code", gateway_json_text(r, 0, 3),
		                                "error", gateway_json_text(r, 0, 4), "created_at",
		                                gateway_json_text(r, 0, 5), "finished_at", gateway_json_text(r, 0, 6)),
		                      false);
	PQclear(r);
	return out;
}

/* Store the text and record + announce its job, the same rows and message as POST /v1/files (submit.h). */
static json_t *mcp_upload_text(mcp_call *c, PGconn *conn, json_t *args, int *rpc_err, const char **why)
{
	json_t *text = json_object_get(args, "text"), *fname = json_object_get(args, "filename");
	char doc_id[UUID_TEXT_LEN + 1], job_id[UUID_TEXT_LEN + 1], key[sizeof MCP_UPLOAD_KEY_PREFIX + UUID_TEXT_LEN];
	char filename[AG_FILENAME_MAX_BYTES + 1], sha_hex[2 * crypto_hash_sha256_BYTES + 1];
	unsigned char digest[crypto_hash_sha256_BYTES];
	ag_storage_writer *w = NULL;
	ag_err err = {0};
	ag_status st;
	if (!json_is_string(text) || (fname && !json_is_string(fname))) {
		*rpc_err = MCP_ERR_PARAMS;
		*why = "text must be a string (and filename a string)";
		return NULL;
	}
	size_t len = json_string_length(text);
	if (len == 0)
		return mcp_tool_error("text is empty");
	if ((long long)len > c->gw->cfg->max_upload_bytes)
		return mcp_tool_error("text is %zu bytes; the limit is %lld (MAX_UPLOAD_BYTES)", len,
		                      c->gw->cfg->max_upload_bytes);
	const char *fn = fname ? json_string_value(fname) : "";
	filename_sanitize(fn, strlen(fn), filename);
	if (!filename[0])
		snprintf(filename, sizeof filename, "%s", MCP_UPLOAD_DEFAULT_NAME);
	uuid_v4(doc_id);
	uuid_v4(job_id);
	snprintf(key, sizeof key, MCP_UPLOAD_KEY_PREFIX "%s", doc_id);
	crypto_hash_sha256(digest, (const unsigned char *)json_string_value(text), len);
	sodium_bin2hex(sha_hex, sizeof sha_hex, digest, sizeof digest);

	st = ag_storage_writer_new(c->gw->storage, key, &w, &err);
	if (st == AG_OK)
		st = ag_storage_write(w, json_string_value(text), len, &err);
	if (st == AG_OK) {
		st = ag_storage_commit(w, &err);
		w = NULL; /* freed by commit whatever the outcome */
	}
	if (st != AG_OK) {
		ag_storage_abort(w);
		ag_log_warn("mcp upload_text: storage: %s: %s", ag_status_name(st), err.msg);
		return mcp_tool_error("%s", ag_status_transient(st) ? "storage is unavailable; try again"
		                                                    : "the text could not be stored");
	}
	submit_doc d = {.document_id = doc_id,
	                .job_id = job_id,
	                .owner = c->owner,
	                .filename = filename,
	                .mime = "text/plain",
	                .sha256 = sha_hex,
	                .key = key,
	                .size = len,
	                .trace = &c->trace};
	st = ag_db_begin(conn, &err);
	if (st == AG_OK) {
		st = submit_record(conn, &d, &err);
		if (st == AG_OK)
			st = ag_db_commit(conn, &err);
		if (st != AG_OK)
			ag_db_rollback(conn);
	}
	if (st != AG_OK) {
		ag_err derr = {0};
		if (ag_storage_delete(c->gw->storage, key, &derr) != AG_OK)
			ag_log_error("mcp upload_text %s: could not remove the stored object %s: %s", doc_id, key,
			             derr.msg);
		return mcp_db_failed(st, &err);
	}
	ag_log_info("mcp upload_text %s stored (%zu bytes); job %s queued", doc_id, len, job_id);
	submit_publish(c->gw, &d);
	return mcp_tool_result(json_pack("{s:s, s:s, s:s, s:I, s:s, s:s}", "document_id", doc_id, "job_id", job_id,
	                                 "filename", filename, "size", (json_int_t)len, "sha256", sha_hex, "state",
	                                 "queued"),
	                       false);
}

typedef json_t *(*mcp_tool_fn)(mcp_call *c, PGconn *conn, json_t *args, int *rpc_err, const char **why);

static const struct {
	const char *name;
	mcp_tool_fn fn;
} mcp_tool_table[] = {
        {"search_documents", mcp_search}, {"get_document", mcp_get_document}, {"get_document_content", mcp_get_content},
        {"get_job", mcp_get_job},         {"upload_text", mcp_upload_text},
};

static void mcp_call_tool(mcp_call *c)
{
	json_t *name = json_object_get(c->params, "name"), *args = json_object_get(c->params, "arguments");
	mcp_tool_fn fn = NULL;
	for (size_t i = 0; json_is_string(name) && i < sizeof mcp_tool_table / sizeof *mcp_tool_table; i++)
		if (strcmp(json_string_value(name), mcp_tool_table[i].name) == 0)
			fn = mcp_tool_table[i].fn;
	if (!fn) {
		c->answer = mcp_error(c->id, MCP_ERR_PARAMS, "unknown tool");
		return;
	}
	if (args && !json_is_object(args)) {
		c->answer = mcp_error(c->id, MCP_ERR_PARAMS, "arguments must be an object");
		return;
	}
	json_t *empty = args ? NULL : json_object();
	PGconn *conn = NULL;
	ag_err err = {0};
	ag_status st = ag_db_acquire(c->gw->db, &conn, GATEWAY_DB_TIMEOUT_MS, &err);
	if (st != AG_OK) {
		c->answer = mcp_result(c->id, mcp_db_failed(st, &err));
	} else {
		int rpc = 0;
		const char *why = NULL;
		json_t *res = fn(c, conn, args ? args : empty, &rpc, &why);
		ag_db_release(c->gw->db, conn);
		if (rpc) /* bad arguments are the tool's error, for the model to read and correct (isError) */
			c->answer = mcp_result(c->id, mcp_tool_error("%s", why));
		else if (res)
			c->answer = mcp_result(c->id, res);
		else
			c->answer = mcp_error(c->id, MCP_ERR_INTERNAL, "out of memory");
	}
	json_decref(empty);
}

static void mcp_work(void *ud)
{
	mcp_call *c = ud;
	ag_trace_set_current(&c->trace);
	mcp_call_tool(c);
	ag_trace_set_current(NULL);
}

static void mcp_free(mcp_call *c)
{
	json_decref(c->id);
	json_decref(c->params);
	json_decref(c->answer);
	free(c);
}

static void mcp_answer(ag_http_req *req, int status, json_t *body)
{
	if (!body) {
		ag_http_respond_problem(req, 500, "out of memory");
		return;
	}
	ag_http_respond_json(req, status, body);
}

static void mcp_done(ag_http_req *req, void *ud)
{
	mcp_call *c = ud;
	json_t *a = c->answer;
	c->answer = NULL;
	mcp_answer(req, 200, a);
	mcp_free(c);
}

/* ---- the envelope (loop thread) ---- */

/* The host[:port] of an Origin ("https://app.example:8443" -> "app.example:8443"); false when unparsable. */
static bool mcp_origin_host(const char *origin, char *out, size_t outsz)
{
	const char *p = strstr(origin, "://");
	if (!p)
		return false;
	p += 3;
	size_t n = strcspn(p, "/");
	if (n == 0 || n >= outsz)
		return false;
	memcpy(out, p, n);
	out[n] = '\0';
	return true;
}

static void mcp_authed(ag_http_req *req, const ag_jwt_claims *claims, void *gw)
{
	size_t len = 0;
	const char *body;
	json_error_t jerr;
	json_t *msg = NULL, *id, *method;
	mcp_call *c = NULL;
	if (!claims)
		return;
	const char *origin = ag_http_req_header(req, "Origin"), *host = ag_http_req_header(req, "Host");
	char ohost[MCP_HOST_MAX];
	if (origin && (!host || !mcp_origin_host(origin, ohost, sizeof ohost) || strcasecmp(ohost, host) != 0)) {
		ag_http_respond_problem(req, 403, "Origin %s is not allowed", origin);
		return;
	}
	const char *ver = ag_http_req_header(req, "MCP-Protocol-Version");
	if (ver && !mcp_version_ok(ver)) {
		ag_http_respond_problem(req, 400, "unsupported MCP-Protocol-Version %s (supported: %s, %s, %s)", ver,
		                        mcp_versions[0], mcp_versions[1], mcp_versions[2]);
		return;
	}
	body = ag_http_req_body(req, &len);
	msg = body ? json_loadb(body, len, 0, &jerr) : NULL;
	if (!msg) {
		mcp_answer(req, 400, mcp_error(NULL, MCP_ERR_PARSE, "the body is not JSON"));
		return;
	}
	id = json_object_get(msg, "id");
	method = json_object_get(msg, "method");
	if (!json_is_object(msg) || !json_is_string(json_object_get(msg, "jsonrpc")) ||
	    strcmp(json_string_value(json_object_get(msg, "jsonrpc")), "2.0") != 0 ||
	    (id && !json_is_string(id) && !json_is_integer(id))) {
		mcp_answer(req, 400,
		           mcp_error(json_is_string(id) || json_is_integer(id) ? id : NULL, MCP_ERR_REQUEST,
		                     "not a JSON-RPC 2.0 message"));
		goto out;
	}
	if (!method || !id) { /* a notification, or a response to us: nothing to answer */
		if (method && !json_is_string(method)) {
			mcp_answer(req, 400, mcp_error(NULL, MCP_ERR_REQUEST, "method must be a string"));
			goto out;
		}
		ag_http_respond(req, 202, NULL, NULL, 0);
		goto out;
	}
	if (!json_is_string(method)) {
		mcp_answer(req, 400, mcp_error(id, MCP_ERR_REQUEST, "method must be a string"));
		goto out;
	}
	const char *m = json_string_value(method);
	json_t *params = json_object_get(msg, "params");
	if (params && !json_is_object(params)) {
		mcp_answer(req, 200, mcp_error(id, MCP_ERR_PARAMS, "params must be an object"));
		goto out;
	}
	if (strcmp(m, "initialize") == 0) {
		json_t *pv = json_object_get(params, "protocolVersion");
		const char *v = json_is_string(pv) && mcp_version_ok(json_string_value(pv)) ? json_string_value(pv)
		                                                                            : MCP_PROTOCOL_LATEST;
		mcp_answer(
		        req, 200,
		        mcp_result(id, json_pack("{s:s, s:{s:{s:b}}, s:{s:s, s:s}, s:s}", "protocolVersion", v,
		                                 "capabilities", "tools", "listChanged", 0, "serverInfo", "name",
		                                 "aegis", "version", "1.0", "instructions",
		                                 "Aegis holds the caller's uploaded documents. Use search_documents to "
		                                 "find passages, then get_document or get_document_content.")));
	} else if (strcmp(m, "ping") == 0) {
		mcp_answer(req, 200, mcp_result(id, json_object()));
	} else if (strcmp(m, "tools/list") == 0) {
		mcp_answer(req, 200, mcp_result(id, mcp_tools()));
	} else if (strcmp(m, "tools/call") == 0) {
		c = calloc(1, sizeof *c);
		if (!c) {
			ag_http_respond_problem(req, 500, "out of memory");
			goto out;
		}
		c->gw = gw;
		c->trace = *ag_http_req_trace(req);
		snprintf(c->owner, sizeof c->owner, "%s", claims->sub);
		c->id = json_incref(id);
		c->params = params ? json_incref(params) : json_object();
		if (ag_http_req_defer(req, mcp_work, mcp_done, c) != AG_OK) {
			gateway_respond_unavailable(req, "the server is busy; try again");
			mcp_free(c);
		}
	} else {
		mcp_answer(req, 200, mcp_error(id, MCP_ERR_METHOD, "method not found"));
	}
out:
	json_decref(msg);
}

void mcp_route(ag_http_req *req, void *gw)
{
	authn_require(((gateway *)gw)->authn, req, mcp_authed, gw);
}
