/*
 * embedq.h - the embedding of a search query from an OpenAI-compatible server
 * (POST {AI_BASE_URL}/v1/embeddings {"model": AI_EMBED_MODEL, "input": q}),
 * for semantic and hybrid search when the ai-worker embeds chunks with
 * AI_PROVIDER=openai: a query must be embedded by the model that embedded the
 * chunks (chunks.embedding_model). Unset AI_EMBED_MODEL on the gateway = the
 * builtin hashed embedding (aegis/embed.h), no request.
 *
 * Blocking (one libcurl easy handle per call, total timeout AI_TIMEOUT_MS, no
 * retries: a search caller retries): call it on the thread pool only. Answers
 * over EMBEDQ_MAX_RESPONSE bytes are refused. The API key goes only into the
 * Authorization header, never into a log or an error.
 */
#ifndef GATEWAY_EMBEDQ_H
#define GATEWAY_EMBEDQ_H

#include "gateway.h"

#include <stddef.h>

#define EMBEDQ_MAX_RESPONSE (8 * 1024 * 1024)
#define EMBEDQ_DIMS_MAX     8192 /* the ai-worker's AI_EMBED_DIMS_MAX */
#define EMBEDQ_ERR_PREFIX   "query embedding: "

/* true when the gateway is configured to embed queries remotely (AI_EMBED_MODEL and AI_BASE_URL set). */
bool embedq_enabled(const gateway_cfg *cfg);

/*
 * The embedding of text[0..len): *out malloc'd (caller free()s) with *dims floats. AG_E_UNAVAILABLE or
 * AG_E_TIMEOUT (transient) when the server is down, slow or answers 429/5xx; AG_E_PROTO for an answer without
 * data[0].embedding; messages start with EMBEDQ_ERR_PREFIX.
 */
ag_status embedq_remote(const gateway_cfg *cfg, const char *text, size_t len, float **out, size_t *dims, ag_err *err);

#endif
