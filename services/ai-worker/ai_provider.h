/*
 * ai_provider.h - what the ai-worker asks of an AI backend, behind a small
 * const vtable so that providers are chosen by configuration (AI_PROVIDER):
 * "builtin" (offline, extractive, always available) and "openai" (any
 * OpenAI-compatible HTTP server: OpenAI, Ollama, vLLM; openai.h).
 *
 * Every call takes UTF-8 text and is safe to make from several threads at
 * once on one provider.
 */
#ifndef AI_PROVIDER_H
#define AI_PROVIDER_H

#include "aegis/status.h"

#include <stddef.h>

#define AI_LANG_MAX              8    /* "und", "en", … with the NUL */
#define AI_KEYWORDS_MAX          50   /* highest AI_KEYWORDS */
#define AI_KEYWORD_MAX_BYTES     64   /* longest keyword, with its NUL; longer words are not keywords */
#define AI_SUMMARY_SENTENCES_MAX 20   /* highest AI_SUMMARY_SENTENCES */
#define AI_SUMMARY_MAX_BYTES     4096 /* longest summary */
#define AI_CATEGORY_MAX          16   /* longest category name with its NUL ("spreadsheet") */
#define AI_EMBED_MODEL_MAX       128  /* longest embedding model name with its NUL */
#define AI_EMBED_DIMS_MAX        8192 /* longest vector any provider may return */

typedef struct ai_opts {
	int summary_sentences; /* 1..AI_SUMMARY_SENTENCES_MAX */
	int keywords;          /* 1..AI_KEYWORDS_MAX */
	int embed_dims;        /* builtin: AG_EMBED_DIMS_MIN..AG_EMBED_DIMS_MAX (0 = AG_EMBED_DIMS_DEFAULT) */
	/* openai (openai.h); borrowed, must outlive the provider */
	const char *base_url; /* e.g. "http://127.0.0.1:11434" (the provider appends /v1/...) */
	const char *api_key;  /* "" = no Authorization header; never logged */
	const char *model;
	const char *embed_model;
	long timeout_ms;         /* per HTTP request, connect included */
	int retries;             /* extra attempts after a 429, 5xx or transport error */
	long backoff_ms;         /* first retry delay, doubled each time (Retry-After wins when sent) */
	long max_response_bytes; /* larger answers are refused */
	long max_input_chars;    /* text sent to the chat model is cut here */
	int summary_map_calls;   /* longer texts: summaries of at most this many parts, then one of those (0 = 1) */
} ai_opts;

typedef struct ai_keywords {
	size_t n;
	char word[AI_KEYWORDS_MAX][AI_KEYWORD_MAX_BYTES]; /* most relevant first */
} ai_keywords;

typedef struct ai_provider_vt {
	const char *name;
	/* A summary of at most AI_SUMMARY_MAX_BYTES; *out malloc'd (caller free()s), "" when there is nothing to
	 * summarise. */
	ag_status (*summarize)(void *self, const char *text, size_t len, char **out, ag_err *err);
	ag_status (*keywords)(void *self, const char *text, size_t len, ai_keywords *out, ag_err *err);
	/* An ISO 639-1 code, or "und" when the language cannot be told. */
	ag_status (*language)(void *self, const char *text, size_t len, char out[AI_LANG_MAX], ag_err *err);
	/* One of the names of category.h ("invoice", …, "other"). */
	ag_status (*category)(void *self, const char *text, size_t len, char out[AI_CATEGORY_MAX], ag_err *err);
	/* The embedding of one chunk: *out malloc'd (caller free()s) with *dims floats (1..AI_EMBED_DIMS_MAX). */
	ag_status (*embed)(void *self, const char *text, size_t len, float **out, size_t *dims, ag_err *err);
	void (*free)(void *self);
} ai_provider_vt;

typedef struct ai_provider {
	const ai_provider_vt *vt;
	void *self;
	const char *model;       /* for ai_results.model; NULL when the provider has none (builtin) */
	const char *embed_model; /* for chunks.embedding_model ("hashed-v1-256"); owned by the provider */
} ai_provider;

/* AG_OK when a provider called `name` is compiled in; AG_E_INVAL with the supported names in err otherwise. */
ag_status ai_provider_find(const char *name, ag_err *err);
/* Open the provider called `name`. AG_E_INVAL for an unknown name, with the supported ones in err. */
ag_status ai_provider_open(ai_provider *out, const char *name, const ai_opts *opts, ag_err *err);
void ai_provider_close(ai_provider *p); /* zeroed ok */

/* Comma-separated names of the providers compiled in ("builtin,openai"). */
const char *ai_provider_names(void);

#endif
