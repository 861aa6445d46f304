/*
 * search.h - GET /v1/search: ranked chunks of the caller's documents.
 *
 *   GET /v1/search?q=&mode=hybrid|semantic|keyword&limit=&cursor=
 *   -> {mode, items:[{document_id, filename, chunk, snippet, score, mode}], next_cursor}
 *
 *   keyword   chunks.tsv @@ websearch_to_tsquery('simple', q), ranked by ts_rank
 *   semantic  q embedded with the same hashed embedding as the builtin ai-worker
 *             (aegis/embed.h, AI_EMBED_DIMS) and compared by cosine similarity
 *             (aegis_cosine, migration 0008) with the vectors of the caller's
 *             SEARCH_CANDIDATES most recent chunks of that model that share a
 *             word stem with q (ag_embed_prefix_query, through the GIN index:
 *             the cosine in SQL costs ~0.6 ms per 512-dim vector); hits below
 *             SEARCH_SEMANTIC_MIN_SCORE are dropped
 *   hybrid    reciprocal rank fusion of both: score = sum 1/(SEARCH_RRF_K + rank),
 *             over the best SEARCH_CANDIDATES of each (the default mode)
 *
 * With AI_EMBED_MODEL set (the ai-worker runs AI_PROVIDER=openai), q is
 * embedded by that model at AI_BASE_URL (embedq.h) and compared with the
 * chunks that model embedded, the SEARCH_CANDIDATES most recent (no word-stem
 * filter: the vectors are semantic). When that request fails, semantic
 * answers 503 and hybrid answers keyword results with mode "keyword" and a
 * "notice" saying why.
 *
 * Snippets come from ts_headline with the query words between ** (Markdown
 * bold, never HTML). An item's `mode` says which ranking found it
 * ("keyword", "semantic" or "keyword+semantic"). Pages: limit 1..SEARCH_LIMIT_MAX
 * (default SEARCH_LIMIT_DEFAULT); next_cursor (opaque) until SEARCH_OFFSET_MAX
 * results. 400 problem+json for a missing, empty or longer than
 * SEARCH_Q_MAX_BYTES q, invalid UTF-8, an unknown mode, a bad limit or cursor.
 * Route user data: `gateway *`.
 */
#ifndef GATEWAY_SEARCH_H
#define GATEWAY_SEARCH_H

#include "gateway.h"

#include "aegis/embed.h"
#include "aegis/http.h"

#include <jansson.h>

#define SEARCH_Q_MAX_BYTES        512
#define SEARCH_LIMIT_DEFAULT      10
#define SEARCH_LIMIT_MAX          50
#define SEARCH_OFFSET_MAX         1000 /* no cursor past this many results */
#define SEARCH_RRF_K              60   /* the usual reciprocal rank fusion constant */
#define SEARCH_SEMANTIC_MIN_SCORE 0.05 /* cosine similarity below this is noise for hashed vectors */
#define SEARCH_CURSOR_MAX         64

/* Settings of the gateway's config table: put SEARCH_CFG_ITEMS(gateway_cfg) in it. */
// clang-format off
#define SEARCH_CFG_ITEMS(T)                                                                                    \
	{"AI_EMBED_DIMS", AG_CFG_INT, offsetof(T, embed_dims), "512", false, AG_EMBED_DIMS_MIN, AG_EMBED_DIMS_MAX, \
	 false, "dimensions of the hashed query embedding for semantic search (the ai-worker's AI_EMBED_DIMS)"},  \
	{"SEARCH_CANDIDATES", AG_CFG_INT, offsetof(T, search_candidates), "2000", false, 10, 1000000, false,       \
	 "chunks compared per semantic search (the caller's most recent), and hits taken from each ranking for "  \
	 "hybrid fusion"},                                                                                         \
	{"AI_BASE_URL", AG_CFG_STR, offsetof(T, ai_base_url), "", false, 0, 0, false,                              \
	 "search with AI_PROVIDER=openai on the ai-worker: the OpenAI-compatible server that embeds queries (the " \
	 "ai-worker's AI_BASE_URL)"},                                                                              \
	{"AI_API_KEY", AG_CFG_STR, offsetof(T, ai_api_key), "", false, 0, 0, true,                                 \
	 "search with AI_PROVIDER=openai: bearer key for AI_BASE_URL (empty: none)"},                              \
	{"AI_EMBED_MODEL", AG_CFG_STR, offsetof(T, ai_embed_model), "", false, 0, 0, false,                        \
	 "search with AI_PROVIDER=openai: the ai-worker's AI_EMBED_MODEL, used to embed queries (empty: the "      \
	 "builtin hashed embedding)"},                                                                             \
	{"AI_TIMEOUT_MS", AG_CFG_INT, offsetof(T, ai_timeout_ms), "5000", false, 100, 600000, false,               \
	 "search with AI_PROVIDER=openai: limit on the query-embedding request (hybrid falls back to keyword)"}
// clang-format on

typedef enum { SEARCH_HYBRID, SEARCH_SEMANTIC, SEARCH_KEYWORD } search_mode;

typedef struct search_query {
	char owner[64];
	char q[SEARCH_Q_MAX_BYTES + 1];
	search_mode mode;
	long long limit;
	long long offset;
} search_query;

/* "hybrid" | "semantic" | "keyword" -> mode; false for anything else. */
bool search_mode_parse(const char *s, search_mode *out);
const char *search_mode_name(search_mode m);

/* Check q (non-empty after trimming, at most SEARCH_Q_MAX_BYTES, UTF-8) into out; NULL or the problem. */
const char *search_q_check(const char *q, char out[SEARCH_Q_MAX_BYTES + 1]);

/* Offset <-> opaque cursor text. */
void search_cursor_encode(long long offset, char out[SEARCH_CURSOR_MAX]);
bool search_cursor_decode(const char *s, long long *offset);

/*
 * Run a search on `conn` (thread pool, never the loop): *out is
 * {mode, items:[…], next_cursor} (caller json_decref()s).
 */
ag_status search_run(const gateway *gw, PGconn *conn, const search_query *sq, json_t **out, ag_err *err);

void search_route(ag_http_req *req, void *gw);

#endif
