/*
 * search.c - GET /v1/search (see search.h). The query, its embedding and the
 * JSON run on the thread pool; the loop thread only parses and answers.
 * Every SQL statement is scoped by owner_id and bounded: keyword by the page,
 * semantic by SEARCH_CANDIDATES chunks, hybrid by SEARCH_CANDIDATES per ranking.
 */
#include "search.h"

#include "embedq.h"

#include "aegis/log.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEARCH_HEADLINE                                                                     \
	"'StartSel=**, StopSel=**, MaxWords=35, MinWords=12, ShortWord=2, MaxFragments=2, " \
	"FragmentDelimiter=\" … \"'"

/* The page: document, filename, chunk, snippet, score, source; ranked rows come from CTE `page`. */
#define SEARCH_PAGE_SELECT                                                                                       \
	"SELECT p.document_id, d.filename, p.seq, ts_headline('simple', c.text, websearch_to_tsquery('simple', " \
	"$2), " SEARCH_HEADLINE "), p.score, p.src FROM page p "                                                 \
	"JOIN chunks c ON c.document_id = p.document_id AND c.seq = p.seq "                                      \
	"JOIN documents d ON d.id = p.document_id ORDER BY p.score DESC, p.document_id, p.seq"

/* $1 owner, $2 q, $3 limit+1, $4 offset */
static const char search_sql_keyword[] =
        "WITH page AS (SELECT c.document_id, c.seq, ts_rank(c.tsv, websearch_to_tsquery('simple', $2))::float8 AS "
        "score, 'keyword' AS src FROM chunks c JOIN documents d ON d.id = c.document_id "
        "WHERE d.owner_id = $1 AND c.tsv @@ websearch_to_tsquery('simple', $2) "
        "ORDER BY score DESC, c.document_id, c.seq LIMIT $3::int OFFSET $4::int) " SEARCH_PAGE_SELECT;

/* The caller's most recent $7 chunks with a vector of model $6 sharing a word stem with q ($9, a prefix
 * tsquery, so the GIN index picks them), scored against $5. */
#define SEARCH_SEMANTIC_CTE                                                                                          \
	"cand AS (SELECT c.document_id, c.seq, c.embedding FROM chunks c JOIN documents d ON d.id = c.document_id "  \
	"WHERE d.owner_id = $1 AND c.embedding_model = $6 AND c.embedding IS NOT NULL "                              \
	"AND ($9 = '' OR c.tsv @@ to_tsquery('simple', $9)) "                                                        \
	"ORDER BY d.created_at DESC, c.document_id, c.seq LIMIT $7::int), "                                          \
	"sem AS (SELECT document_id, seq, score FROM (SELECT document_id, seq, aegis_cosine(embedding, $5::real[]) " \
	"AS score FROM cand) x WHERE score >= $8::float8), "

/* $1 owner, $2 q, $3 limit+1, $4 offset, $5 vector, $6 model, $7 candidates, $8 min score, $9 stems */
static const char search_sql_semantic[] =
        "WITH " SEARCH_SEMANTIC_CTE "page AS (SELECT document_id, seq, score, 'semantic' AS src FROM sem "
        "ORDER BY score DESC, document_id, seq LIMIT $3::int OFFSET $4::int) " SEARCH_PAGE_SELECT;

/* … and $10 the RRF constant */
static const char search_sql_hybrid[] =
        "WITH " SEARCH_SEMANTIC_CTE
        "semr AS (SELECT document_id, seq, row_number() OVER (ORDER BY score DESC, document_id, seq) AS r FROM sem "
        "ORDER BY r LIMIT $7::int), "
        "kw AS (SELECT c.document_id, c.seq, row_number() OVER (ORDER BY ts_rank(c.tsv, websearch_to_tsquery("
        "'simple', $2)) DESC, c.document_id, c.seq) AS r FROM chunks c JOIN documents d ON d.id = c.document_id "
        "WHERE d.owner_id = $1 AND c.tsv @@ websearch_to_tsquery('simple', $2) ORDER BY r LIMIT $7::int), "
        "fused AS (SELECT document_id, seq, sum(1.0::float8 / ($10::int + r)) AS score, "
        "string_agg(src, '+' ORDER BY src) AS src FROM (SELECT document_id, seq, r, 'keyword' AS src FROM kw "
        "UNION ALL SELECT document_id, seq, r, 'semantic' FROM semr) u GROUP BY document_id, seq), "
        "page AS (SELECT * FROM fused ORDER BY score DESC, document_id, seq LIMIT $3::int OFFSET "
        "$4::int) " SEARCH_PAGE_SELECT;

static const char *const search_modes[] = {"hybrid", "semantic", "keyword"};

bool search_mode_parse(const char *s, search_mode *out)
{
	for (int i = 0; s && i < 3; i++)
		if (strcmp(s, search_modes[i]) == 0) {
			*out = (search_mode)i;
			return true;
		}
	return false;
}

const char *search_mode_name(search_mode m)
{
	return (unsigned)m < 3 ? search_modes[m] : "hybrid";
}

static bool search_utf8(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		unsigned c = s[i];
		size_t k = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
		if (k == 0 || i + k > n || c == 0 || (k == 2 && c < 0xC2))
			return false;
		for (size_t j = 1; j < k; j++)
			if ((s[i + j] & 0xC0) != 0x80)
				return false;
		i += k;
	}
	return true;
}

const char *search_q_check(const char *q, char out[SEARCH_Q_MAX_BYTES + 1])
{
	if (!q)
		return "q is required";
	while (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r')
		q++;
	size_t n = strlen(q);
	while (n > 0 && (q[n - 1] == ' ' || q[n - 1] == '\t' || q[n - 1] == '\n' || q[n - 1] == '\r'))
		n--;
	if (n == 0)
		return "q must not be empty";
	if (n > SEARCH_Q_MAX_BYTES)
		return "q is longer than 512 bytes (SEARCH_Q_MAX_BYTES)";
	if (!search_utf8((const unsigned char *)q, n))
		return "q is not valid UTF-8";
	memcpy(out, q, n);
	out[n] = '\0';
	return NULL;
}

void search_cursor_encode(long long offset, char out[SEARCH_CURSOR_MAX])
{
	char raw[32];
	int n = snprintf(raw, sizeof raw, "s1:%lld", offset);
	sodium_bin2base64(out, SEARCH_CURSOR_MAX, (const unsigned char *)raw, (size_t)n,
	                  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

bool search_cursor_decode(const char *s, long long *offset)
{
	unsigned char raw[32];
	size_t n = 0;
	if (!s || strlen(s) >= SEARCH_CURSOR_MAX ||
	    sodium_base642bin(raw, sizeof raw - 1, s, strlen(s), NULL, &n, NULL,
	                      sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
		return false;
	raw[n] = '\0';
	if (n < 4 || memcmp(raw, "s1:", 3) != 0)
		return false;
	return ag_cfg_parse_ll((const char *)raw + 3, 0, SEARCH_OFFSET_MAX, offset);
}

/* The hashed query vector as a real[] literal; malloc'd, NULL on OOM. "" when the query has no word. */
static char *search_vector(const char *q, size_t dims)
{
	float *v = malloc(dims * sizeof *v);
	char *s = NULL;
	if (!v)
		return NULL;
	if (!ag_embed_hashed(q, strlen(q), v, dims))
		s = calloc(1, 1);
	else
		s = ag_embed_pg_array(v, dims);
	free(v);
	return s;
}

/* The query vector from the configured OpenAI-compatible model (embedq.h); NULL with err on failure. */
static char *search_vector_remote(const gateway *gw, const char *q, ag_err *err)
{
	float *v = NULL;
	size_t dims = 0;
	if (embedq_remote(gw->cfg, q, strlen(q), &v, &dims, err) != AG_OK)
		return NULL;
	char *s = ag_embed_pg_array(v, dims);
	free(v);
	if (!s)
		ag_err_set(err, AG_E_NOMEM, "out of memory formatting the query vector");
	return s;
}

ag_status search_run(const gateway *gw, PGconn *conn, const search_query *sq, json_t **out, ag_err *err)
{
	PGresult *r = NULL;
	char *vec = NULL;
	char lim[24], off[24], cand[24], hashed[AG_EMBED_MODEL_MAX], minscore[32], rrf[16];
	char stems[SEARCH_Q_MAX_BYTES * 4];
	json_t *items = NULL;
	ag_status st = AG_OK;
	*out = NULL;
	snprintf(lim, sizeof lim, "%lld", sq->limit + 1);
	snprintf(off, sizeof off, "%lld", sq->offset);
	snprintf(cand, sizeof cand, "%lld", gw->cfg->search_candidates);
	snprintf(minscore, sizeof minscore, "%.6f", SEARCH_SEMANTIC_MIN_SCORE);
	snprintf(rrf, sizeof rrf, "%d", SEARCH_RRF_K);
	ag_embed_model((size_t)gw->cfg->embed_dims, hashed);
	const bool remote = embedq_enabled(gw->cfg);
	const char *model = remote ? gw->cfg->ai_embed_model : hashed, *notice = NULL;
	search_mode mode = sq->mode;
	if (mode != SEARCH_KEYWORD && remote) {
		ag_err eerr = {0};
		vec = search_vector_remote(gw, sq->q, &eerr);
		if (!vec && (mode == SEARCH_SEMANTIC || eerr.code == AG_E_NOMEM)) {
			if (err)
				*err = eerr;
			return eerr.code != AG_OK ? eerr.code : AG_E_NOMEM;
		}
		if (!vec) { /* hybrid still answers, from the full-text ranking, and says so */
			ag_log_warn("search: %s; hybrid falls back to keyword", eerr.msg);
			mode = SEARCH_KEYWORD;
			notice = "the query could not be embedded (the embedding server is unavailable): keyword "
			         "results "
			         "only";
		}
	} else if (mode != SEARCH_KEYWORD) {
		vec = search_vector(sq->q, (size_t)gw->cfg->embed_dims);
		if (!vec)
			return ag_err_set(err, AG_E_NOMEM, "out of memory embedding the query");
	}
	if (remote)
		stems[0] = '\0'; /* semantic vectors: compare the most recent chunks, not only those sharing a word */
	else
		ag_embed_prefix_query(sq->q, strlen(sq->q), stems, sizeof stems);
	const char *params[] = {sq->owner, sq->q, lim, off, vec, model, cand, minscore, stems, rrf};
	if (mode == SEARCH_KEYWORD)
		st = ag_db_exec(conn, search_sql_keyword, 4, params, &r, err);
	else if (!vec[0] && mode == SEARCH_SEMANTIC)
		st = AG_OK; /* nothing to embed: no semantic hit */
	else if (!vec[0])
		st = ag_db_exec(conn, search_sql_keyword, 4, params, &r, err);
	else if (mode == SEARCH_SEMANTIC)
		st = ag_db_exec(conn, search_sql_semantic, 9, params, &r, err);
	else
		st = ag_db_exec(conn, search_sql_hybrid, 10, params, &r, err);
	if (st != AG_OK)
		goto out;
	items = json_array();
	int n = r ? PQntuples(r) : 0;
	int shown = n > sq->limit ? (int)sq->limit : n;
	for (int i = 0; items && i < shown; i++)
		json_array_append_new(
		        items, json_pack("{s:o, s:o, s:o, s:o, s:f, s:o}", "document_id", gateway_json_text(r, i, 0),
		                         "filename", gateway_json_text(r, i, 1), "chunk", gateway_json_int(r, i, 2),
		                         "snippet", gateway_json_text(r, i, 3), "score",
		                         strtod(PQgetvalue(r, i, 4), NULL), "mode", gateway_json_text(r, i, 5)));
	json_t *next = json_null();
	if (n > shown && sq->offset + sq->limit < SEARCH_OFFSET_MAX) {
		char cur[SEARCH_CURSOR_MAX];
		search_cursor_encode(sq->offset + sq->limit, cur);
		json_decref(next);
		next = json_string(cur);
	}
	*out = json_pack("{s:s, s:o, s:o}", "mode", search_mode_name(mode), "items", items, "next_cursor", next);
	if (*out && notice)
		json_object_set_new(*out, "notice", json_string(notice));
	items = NULL;
	if (!*out)
		st = ag_err_set(err, AG_E_NOMEM, "could not build the search JSON");
out:
	json_decref(items);
	PQclear(r);
	free(vec);
	return st;
}

/* ---- the route ---- */

typedef struct search_call {
	gateway *gw;
	ag_trace trace;
	search_query sq;
	ag_status st;
	ag_err err;
	json_t *body;
} search_call;

static void search_work(void *ud)
{
	search_call *c = ud;
	PGconn *conn = NULL;
	ag_trace_set_current(&c->trace);
	ag_err_clear(&c->err);
	c->st = ag_db_acquire(c->gw->db, &conn, GATEWAY_DB_TIMEOUT_MS, &c->err);
	if (c->st == AG_OK) {
		c->st = search_run(c->gw, conn, &c->sq, &c->body, &c->err);
		ag_db_release(c->gw->db, conn);
	}
	ag_trace_set_current(NULL);
}

static void search_done(ag_http_req *req, void *ud)
{
	search_call *c = ud;
	if (c->st != AG_OK)
		gateway_respond_error(req, c->st, &c->err,
		                      strncmp(c->err.msg, EMBEDQ_ERR_PREFIX, strlen(EMBEDQ_ERR_PREFIX)) == 0
		                              ? "the embedding server"
		                              : "the database");
	else
		ag_http_respond_json(req, 200, c->body);
	free(c);
}

static void search_authed(ag_http_req *req, const ag_jwt_claims *claims, void *gw)
{
	const char *mode = ag_http_req_query(req, "mode");
	const char *limit = ag_http_req_query(req, "limit");
	const char *cursor = ag_http_req_query(req, "cursor");
	const char *why;
	search_call *c;
	if (!claims)
		return;
	c = calloc(1, sizeof *c);
	if (!c) {
		ag_http_respond_problem(req, 500, "out of memory");
		return;
	}
	c->sq.limit = SEARCH_LIMIT_DEFAULT;
	if ((why = search_q_check(ag_http_req_query(req, "q"), c->sq.q)) != NULL) {
		ag_http_respond_problem(req, 400, "%s", why);
		goto fail;
	}
	if (mode && !search_mode_parse(mode, &c->sq.mode)) {
		ag_http_respond_problem(req, 400, "mode must be hybrid, semantic or keyword");
		goto fail;
	}
	if (limit && !ag_cfg_parse_ll(limit, 1, SEARCH_LIMIT_MAX, &c->sq.limit)) {
		ag_http_respond_problem(req, 400, "limit must be a whole number from 1 to %d", SEARCH_LIMIT_MAX);
		goto fail;
	}
	if (cursor && !search_cursor_decode(cursor, &c->sq.offset)) {
		ag_http_respond_problem(req, 400, "the cursor is not valid");
		goto fail;
	}
	c->gw = gw;
	c->trace = *ag_http_req_trace(req);
	snprintf(c->sq.owner, sizeof c->sq.owner, "%s", claims->sub);
	if (ag_http_req_defer(req, search_work, search_done, c) != AG_OK) {
		gateway_respond_unavailable(req, "the server is busy; try again");
		goto fail;
	}
	return;
fail:
	free(c);
}

void search_route(ag_http_req *req, void *gw)
{
	authn_require(((gateway *)gw)->authn, req, search_authed, gw);
}
