/*
 * ai-worker - enriches a document's extracted text: a summary, keywords, the
 * language and a category from the provider chosen by AI_PROVIDER
 * (ai_provider.h), PII counts from pii.h (always local), stored in ai_results
 * (upserted, so a redelivered task writes the same row again); and an
 * embedding for each of the document's chunks (chunks.embedding and
 * chunks.embedding_model), which semantic search compares.
 *
 * The orchestrator runs this step only after extract-content succeeded, so
 * a document without a document_content row is a permanent failure
 * ("no_content"), not something to wait for.
 */
#include "ai_provider.h"
#include "openai.h"
#include "pii.h"

#include "aegis/cfg.h"
#include "aegis/embed.h"
#include "aegis/limits.h"
#include "aegis/log.h"
#include "aegis/service.h"
#include "aegis/step.h"

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AI_READ_MAX_CHARS "2000000" /* characters of document_content.text handed to the provider */
#define AI_TOKENS_HELP    "Tokens the OpenAI-compatible server reported (usage), by kind: prompt or completion"

typedef struct ai_cfg {
	ag_common_cfg common;
	ag_step_cfg step;
	char *provider;
	long long summary_sentences;
	long long keywords;
	long long embed_dims;
	long long embed_chunks_max;
	char *base_url;
	char *api_key;
	char *model;
	char *embed_model;
	long long timeout_ms;
	long long retries;
	long long backoff_ms;
	long long max_response_bytes;
	long long max_input_chars;
	long long summary_map_calls;
} ai_cfg;

static const ag_cfg_item ai_items[] = {
        AG_CFG_COMMON_ITEMS(ai_cfg, "9004"),
        AG_STEP_CFG_ITEMS(ai_cfg, "documents enriched"),
        {"AI_PROVIDER", AG_CFG_STR, offsetof(ai_cfg, provider), "builtin", false, 0, 0, false,
         "AI backend: builtin (offline, extractive, lexical embeddings) or openai (any OpenAI-compatible API: "
         "OpenAI, Ollama, vLLM)"},
        {"AI_SUMMARY_SENTENCES", AG_CFG_INT, offsetof(ai_cfg, summary_sentences), "3", false, 1,
         AI_SUMMARY_SENTENCES_MAX, false, "sentences in a summary"},
        {"AI_KEYWORDS", AG_CFG_INT, offsetof(ai_cfg, keywords), "8", false, 1, AI_KEYWORDS_MAX, false,
         "keywords kept per document"},
        {"AI_EMBED_DIMS", AG_CFG_INT, offsetof(ai_cfg, embed_dims), "512", false, AG_EMBED_DIMS_MIN, AG_EMBED_DIMS_MAX,
         false, "dimensions of the builtin hashed (lexical) chunk embeddings; the gateway must use the same value"},
        {"AI_EMBED_CHUNKS_MAX", AG_CFG_INT, offsetof(ai_cfg, embed_chunks_max), "2000", false, 0, 1000000, false,
         "chunks embedded per document (later chunks are found by keyword search only; 0 = no embeddings)"},
        {"AI_BASE_URL", AG_CFG_STR, offsetof(ai_cfg, base_url), "", false, 0, 0, false,
         "openai provider: server base URL, e.g. http://127.0.0.1:11434 (Ollama), http://vllm:8000 or "
         "https://api.openai.com (/v1/... is appended)"},
        {"AI_API_KEY", AG_CFG_STR, offsetof(ai_cfg, api_key), "", false, 0, 0, true,
         "openai provider: bearer API key (empty: none, as for a local Ollama)"},
        {"AI_MODEL", AG_CFG_STR, offsetof(ai_cfg, model), "", false, 0, 0, false,
         "openai provider: chat model for summary, keywords and category (e.g. llama3.1, gpt-4o-mini)"},
        {"AI_EMBED_MODEL", AG_CFG_STR, offsetof(ai_cfg, embed_model), "", false, 0, 0, false,
         "openai provider: embedding model for chunk vectors (e.g. nomic-embed-text, text-embedding-3-small)"},
        {"AI_TIMEOUT_MS", AG_CFG_INT, offsetof(ai_cfg, timeout_ms), "60000", false, 100, 600000, false,
         "openai provider: limit on each HTTP request, connect included"},
        {"AI_RETRIES", AG_CFG_INT, offsetof(ai_cfg, retries), "3", false, 0, OPENAI_RETRIES_MAX, false,
         "openai provider: retries of a request after 429, 5xx, timeout or a transport error"},
        {"AI_BACKOFF_MS", AG_CFG_INT, offsetof(ai_cfg, backoff_ms), "500", false, 0, OPENAI_RETRY_AFTER_MAX_MS, false,
         "openai provider: first retry delay, doubled each retry (a Retry-After header wins)"},
        {"AI_MAX_RESPONSE_BYTES", AG_CFG_INT, offsetof(ai_cfg, max_response_bytes), "8388608", false, 1024, 268435456,
         false, "openai provider: larger answers are refused (permanent error)"},
        {"AI_MAX_INPUT_CHARS", AG_CFG_INT, offsetof(ai_cfg, max_input_chars), "24000", false, 1, 10000000, false,
         "openai provider: bytes of text sent to the chat model or per chunk to the embedding model"},
        {"AI_SUMMARY_MAP_CALLS", AG_CFG_INT, offsetof(ai_cfg, summary_map_calls), "8", false, 1, OPENAI_MAP_CALLS_MAX,
         false,
         "openai provider: a text longer than AI_MAX_INPUT_CHARS is summarised in parts (map-reduce), at most this "
         "many parts (the rest is left out), then once more over the parts' summaries"},
};

/* AI_PROVIDER must name a provider compiled in; openai needs its URL and models. */
static int ai_check(const void *cfg, FILE *report)
{
	const ai_cfg *c = cfg;
	ag_err err = {0};
	if (ai_provider_find(c->provider, &err) != AG_OK) {
		fprintf(report, "config: AI_PROVIDER: %s\n", err.msg);
		return 1;
	}
	int problems = 0;
	if (strcmp(c->provider, "openai") == 0) {
		if (!*c->base_url && ++problems)
			fprintf(report, "config: AI_BASE_URL is required with AI_PROVIDER=openai\n");
		if (!*c->model && ++problems)
			fprintf(report, "config: AI_MODEL is required with AI_PROVIDER=openai\n");
		if (!*c->embed_model && ++problems)
			fprintf(report, "config: AI_EMBED_MODEL is required with AI_PROVIDER=openai\n");
		if (*c->base_url && strncmp(c->base_url, "http://", 7) != 0 &&
		    strncmp(c->base_url, "https://", 8) != 0 && ++problems)
			fprintf(report, "config: AI_BASE_URL must start with http:// or https://\n");
	}
	return problems;
}

typedef struct ai_app {
	const ai_cfg *cfg;
	ai_provider provider;
} ai_app;

static ag_status ai_broken(ag_step_ctx *ctx, ag_status st, const ag_err *err, const char *what)
{
	return ag_step_fail(ctx, st, ag_status_name(st), "%s: %s", what, err->msg);
}

/* The keywords as a JSON array of strings; malloc'd, NULL on OOM. */
static char *ai_keywords_json(const ai_keywords *k)
{
	char *out = NULL;
	json_t *a = json_array();
	if (!a)
		return NULL;
	for (size_t i = 0; i < k->n; i++)
		if (json_array_append_new(a, json_string(k->word[i])) != 0)
			goto out;
	out = json_dumps(a, JSON_COMPACT);
out:
	json_decref(a);
	return out;
}

/* Embed the document's first AI_EMBED_CHUNKS_MAX chunks into chunks.embedding. */
static ag_status ai_embed_chunks(ag_step_ctx *ctx, const ai_app *app, PGconn *conn, const char *doc_id, size_t *done,
                                 ag_err *err)
{
	const ai_provider *p = &app->provider;
	PGresult *res = NULL;
	char max[24];
	*done = 0;
	if (app->cfg->embed_chunks_max == 0)
		return AG_OK;
	snprintf(max, sizeof max, "%lld", app->cfg->embed_chunks_max);
	const char *q[] = {doc_id, max};
	ag_status st =
	        ag_db_exec(conn, "SELECT seq, text FROM chunks WHERE document_id = $1 ORDER BY seq LIMIT $2::int", 2, q,
	                   &res, err);
	for (int i = 0; st == AG_OK && i < PQntuples(res); i++) {
		float *v = NULL;
		size_t dims = 0;
		st = p->vt->embed(p->self, PQgetvalue(res, i, 1), (size_t)PQgetlength(res, i, 1), &v, &dims, err);
		if (st != AG_OK)
			break;
		char *lit = ag_embed_pg_array(v, dims);
		free(v);
		if (!lit) {
			st = ag_err_set(err, AG_E_NOMEM, "out of memory formatting a vector");
			break;
		}
		const char *u[] = {doc_id, PQgetvalue(res, i, 0), lit, p->embed_model};
		st = ag_db_exec(conn,
		                "UPDATE chunks SET embedding = $3::real[], embedding_model = $4 "
		                "WHERE document_id = $1 AND seq = $2::int",
		                4, u, NULL, err);
		free(lit);
		(*done)++;
		ag_step_heartbeat(ctx);
	}
	PQclear(res);
	return st;
}

static ag_status ai_step(ag_step_ctx *ctx, void *ud)
{
	const ai_app *app = ud;
	const ai_provider *p = &app->provider;
	const Aegis__V1__DocumentRef *doc = ag_step_doc(ctx);
	ag_err err = {0};
	PGconn *conn = NULL;
	PGresult *res = NULL;
	char *summary = NULL, *keywords_json = NULL;
	char *pii = NULL;
	ai_keywords keywords;
	char lang[AI_LANG_MAX], category[AI_CATEGORY_MAX];
	pii_report found;
	ai_usage usage = {0};
	char prompt_tokens[24], completion_tokens[24];

	openai_usage_take(NULL); /* this job's usage counts from here */
	ag_status st = ag_step_tx(ctx, &conn, &err);
	if (st != AG_OK)
		return ai_broken(ctx, st, &err, "database");
	const char *q[] = {doc->document_id, AI_READ_MAX_CHARS};
	st = ag_db_exec(conn, "SELECT left(text, $2::int) FROM document_content WHERE document_id = $1", 2, q, &res,
	                &err);
	if (st != AG_OK) {
		st = ai_broken(ctx, st, &err, "reading the text");
		goto out;
	}
	if (PQntuples(res) != 1) {
		st = ag_step_fail(ctx, AG_E_NOTFOUND, "no_content", "document %s has no extracted text",
		                  doc->document_id);
		goto out;
	}
	const char *text = PQgetvalue(res, 0, 0);
	size_t len = (size_t)PQgetlength(res, 0, 0);

	st = p->vt->language(p->self, text, len, lang, &err);
	ag_step_heartbeat(ctx);
	if (st == AG_OK)
		st = p->vt->keywords(p->self, text, len, &keywords, &err);
	ag_step_heartbeat(ctx);
	if (st == AG_OK)
		st = p->vt->summarize(p->self, text, len, &summary, &err);
	ag_step_heartbeat(ctx);
	if (st == AG_OK)
		st = p->vt->category(p->self, text, len, category, &err);
	ag_step_heartbeat(ctx);
	if (st != AG_OK) {
		st = ai_broken(ctx, st, &err, p->vt->name);
		goto out;
	}
	pii_scan(text, len, &found);
	keywords_json = ai_keywords_json(&keywords);
	pii = pii_json(&found);
	if (!keywords_json || !pii) {
		st = ag_step_fail(ctx, AG_E_NOMEM, ag_status_name(AG_E_NOMEM), "out of memory building the keywords");
		goto out;
	}

	size_t embedded = 0;
	st = ai_embed_chunks(ctx, app, conn, doc->document_id, &embedded, &err);
	if (st != AG_OK) {
		st = ai_broken(ctx, st, &err, "embedding the chunks");
		goto out;
	}
	/* the chunks are embedded first so that the stored usage includes the embedding requests */
	openai_usage_take(&usage);
	snprintf(prompt_tokens, sizeof prompt_tokens, "%llu", usage.prompt_tokens);
	snprintf(completion_tokens, sizeof completion_tokens, "%llu", usage.completion_tokens);
	const bool remote = p->model != NULL; /* the builtin provider makes no requests: no usage */
	const char *params[] = {doc->document_id,
	                        summary,
	                        keywords_json,
	                        lang,
	                        p->vt->name,
	                        p->model,
	                        category,
	                        pii,
	                        remote ? prompt_tokens : NULL,
	                        remote ? completion_tokens : NULL};
	st = ag_db_exec(conn,
	                "INSERT INTO ai_results (document_id, summary, keywords, language, provider, model, category, "
	                "pii, prompt_tokens, completion_tokens) "
	                "VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7, $8::jsonb, $9::bigint, $10::bigint) "
	                "ON CONFLICT (document_id) DO UPDATE SET summary = EXCLUDED.summary, keywords = "
	                "EXCLUDED.keywords, language = EXCLUDED.language, category = EXCLUDED.category, pii = "
	                "EXCLUDED.pii, provider = EXCLUDED.provider, model = EXCLUDED.model, prompt_tokens = "
	                "EXCLUDED.prompt_tokens, completion_tokens = EXCLUDED.completion_tokens, updated_at = now()",
	                10, params, NULL, &err);
	if (st != AG_OK) {
		st = ai_broken(ctx, st, &err, "storing the results");
		goto out;
	}
	/* counts only: PII values never reach the logs */
	ag_log_debug("%s %s text of %zu bytes: %zu keywords, summary of %zu bytes, pii email=%zu phone=%zu iban=%zu "
	             "card=%zu national_id=%zu, %zu chunks embedded",
	             lang, category, len, keywords.n, strlen(summary), found.count[PII_EMAIL], found.count[PII_PHONE],
	             found.count[PII_IBAN], found.count[PII_CARD], found.count[PII_NATIONAL_ID], embedded);
out:
	if (p->model) { /* tokens spent count in the metrics whatever the outcome (a failed attempt paid for them) */
		ai_usage rest;
		openai_usage_take(&rest);
		usage.prompt_tokens += rest.prompt_tokens;
		usage.completion_tokens += rest.completion_tokens;
		ag_metrics *m = ag_step_metrics(ctx);
		ag_counter_add(ag_metrics_counter(m, "aegis_ai_tokens_total", AI_TOKENS_HELP, "kind=\"prompt\""),
		               (double)usage.prompt_tokens);
		ag_counter_add(ag_metrics_counter(m, "aegis_ai_tokens_total", AI_TOKENS_HELP, "kind=\"completion\""),
		               (double)usage.completion_tokens);
	}
	free(pii);
	free(keywords_json);
	free(summary);
	PQclear(res);
	return st;
}

static ag_status ai_init(void *ud, ag_err *err)
{
	ai_app *app = ud;
	const ai_cfg *c = app->cfg;
	const ai_opts opts = {.summary_sentences = (int)c->summary_sentences,
	                      .keywords = (int)c->keywords,
	                      .embed_dims = (int)c->embed_dims,
	                      .base_url = c->base_url,
	                      .api_key = c->api_key,
	                      .model = c->model,
	                      .embed_model = c->embed_model,
	                      .timeout_ms = (long)c->timeout_ms,
	                      .retries = (int)c->retries,
	                      .backoff_ms = (long)c->backoff_ms,
	                      .max_response_bytes = (long)c->max_response_bytes,
	                      .max_input_chars = (long)c->max_input_chars,
	                      .summary_map_calls = (int)c->summary_map_calls};
	return ai_provider_open(&app->provider, app->cfg->provider, &opts, err);
}

static void ai_fini(void *ud)
{
	ai_app *app = ud;
	ai_provider_close(&app->provider);
}

int main(int argc, char **argv)
{
	static ai_cfg cfg;
	static ai_app app = {.cfg = &cfg};
	const ag_step_app worker = {
	        .spec = {.name = "ai-worker",
	                 .items = ai_items,
	                 .nitems = sizeof ai_items / sizeof ai_items[0],
	                 .cfg = &cfg,
	                 .common = &cfg.common,
	                 .check = ai_check},
	        .step_cfg = &cfg.step,
	        .name = "ai",
	        .step = AEGIS__V1__STEP__STEP_AI,
	        .handler = ai_step,
	        .ud = &app,
	        .init = ai_init,
	        .fini = ai_fini,
	};
	return ag_step_main(&worker, argc, argv);
}
