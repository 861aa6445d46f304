/*
 * openai.h - the "openai" provider: any server that speaks the OpenAI HTTP
 * API (OpenAI, Ollama, vLLM, LiteLLM, …), over libcurl.
 *
 *   summary, keywords, category  POST {base}/v1/chat/completions, temperature 0,
 *                                response_format json_object, a system prompt
 *                                that asks for exactly {"summary": "…"},
 *                                {"keywords": ["…"]} or {"category": "<name>"};
 *                                the answer is validated (types, sizes, a known
 *                                category name)
 *   embed                        POST {base}/v1/embeddings {"model", "input"}
 *   language                     the builtin identifier (local, no request)
 *
 * Text sent to the chat model is cut at opts.max_input_chars (on a character
 * boundary). A longer document is summarised map-reduce: each part of at most
 * max_input_chars (cut at a paragraph, line or sentence end) is summarised on
 * its own, at most opts.summary_map_calls parts (AI_SUMMARY_MAP_CALLS; the
 * rest of the text is left out and that is logged), then one request
 * summarises the parts' summaries. Each request has a total timeout (opts.timeout_ms); a 429, a
 * 5xx, a timeout or a transport error is retried up to opts.retries times,
 * waiting opts.backoff_ms doubled each time, or the server's Retry-After
 * (seconds, capped at OPENAI_RETRY_AFTER_MAX_MS) when it sends one.
 * Answers larger than opts.max_response_bytes are refused.
 *
 * Status mapping (ag_status: transient ones make the step retry later):
 *   retries exhausted on 429/5xx    AG_E_UNAVAILABLE (transient)
 *   timeout                         AG_E_TIMEOUT (transient)
 *   connection refused, DNS, …      AG_E_UNAVAILABLE (transient)
 *   model content not the JSON asked for  AG_E_RETRY (transient: models vary)
 *   401/403                         AG_E_AUTH (permanent: fix AI_API_KEY)
 *   other 4xx                       AG_E_INVAL (permanent: model name, request)
 *   a body that is not an OpenAI answer   AG_E_PROTO (permanent: wrong AI_BASE_URL)
 *   answer too large                AG_E_TOOBIG (permanent)
 * The API key goes only into the Authorization header; it is never logged
 * or put into an error message.
 */
#ifndef AI_OPENAI_H
#define AI_OPENAI_H

#include "ai_provider.h"

#define OPENAI_URL_MAX            2048
#define OPENAI_RETRY_AFTER_MAX_MS 30000 /* a longer Retry-After is cut to this */
#define OPENAI_RETRIES_MAX        10
#define OPENAI_TOKENS_ANSWER      1024 /* max_tokens asked for a chat answer */
#define OPENAI_MAP_CALLS_MAX      256  /* highest AI_SUMMARY_MAP_CALLS */

extern const ai_provider_vt openai_vt;

ag_status openai_open(ai_provider *out, const ai_opts *opts, ag_err *err);

/* Token usage the server reported (its "usage" object) for the requests of the calling thread. */
typedef struct ai_usage {
	unsigned long long prompt_tokens;     /* usage.prompt_tokens, chat and embeddings */
	unsigned long long completion_tokens; /* usage.completion_tokens */
	unsigned long long requests;          /* answered requests */
} ai_usage;

/* The calling thread's usage since its previous call (into *out when not NULL), and start counting again from 0.
 * The ai-worker calls it before and after each job: the job's usage. */
void openai_usage_take(ai_usage *out);

/* Tokens reported by the server (usage.total_tokens) over the provider's lifetime. */
unsigned long long openai_tokens_used(const ai_provider *p);

#endif
