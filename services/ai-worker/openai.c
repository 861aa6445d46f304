/*
 * openai.c - the OpenAI-compatible provider (see openai.h). Blocking libcurl
 * easy handles: the step runner calls providers on its worker threads, never
 * on an event loop, so a blocking request with a hard timeout is the simple
 * and bounded choice. One handle per request keeps calls thread-safe.
 */
#include "openai.h"

#include "builtin.h"
#include "category.h"

#include "aegis/curlbuf.h"
#include "aegis/log.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct openai {
	ai_opts opts;
	char chat_url[OPENAI_URL_MAX];
	char embed_url[OPENAI_URL_MAX];
	char auth[OPENAI_URL_MAX]; /* "Authorization: Bearer …" or "" */
	ai_provider lang;          /* builtin, for language() */
	_Atomic unsigned long long tokens;
} openai;

/* Usage of the requests made by this thread since openai_usage_take: the step runner runs one job per thread
 * at a time, so this is the job's usage without passing a context through the provider vtable. */
static _Thread_local ai_usage openai_thread_usage;

typedef struct openai_buf {
	ag_curlbuf body;
	long retry_after_ms; /* -1 = none */
} openai_buf;

static size_t openai_header(char *data, size_t size, size_t nmemb, void *ud)
{
	openai_buf *b = ud;
	size_t n = size * nmemb;
	static const char name[] = "retry-after:";
	if (n > sizeof name - 1 && strncasecmp(data, name, sizeof name - 1) == 0) {
		long long secs = 0;
		size_t i = sizeof name - 1;
		while (i < n && (data[i] == ' ' || data[i] == '\t'))
			i++;
		bool digits = false;
		while (i < n && data[i] >= '0' && data[i] <= '9' && secs < 1000000) {
			secs = secs * 10 + (data[i++] - '0');
			digits = true;
		}
		if (digits) /* an HTTP-date Retry-After falls back to our own backoff */
			b->retry_after_ms = secs * 1000 > OPENAI_RETRY_AFTER_MAX_MS ? OPENAI_RETRY_AFTER_MAX_MS
			                                                            : (long)(secs * 1000);
	}
	return n;
}

static void openai_sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* One request; *status is the HTTP status (0 for a transport error). */
static CURLcode openai_once(const openai *o, const char *url, const char *body, openai_buf *b, long *status)
{
	struct curl_slist *h = NULL;
	CURLcode rc = CURLE_OUT_OF_MEMORY;
	CURL *c = curl_easy_init();
	*status = 0;
	if (!c)
		return rc;
	struct curl_slist *t = curl_slist_append(NULL, "Content-Type: application/json");
	if (!t)
		goto out;
	h = t;
	if (o->auth[0]) {
		if (!(t = curl_slist_append(h, o->auth)))
			goto out;
		h = t;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, o->opts.timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, o->opts.timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, ag_curlbuf_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b->body);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, openai_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, b);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)o->opts.max_response_bytes);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
out:
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return rc;
}

/* POST body to url with retries; *out the parsed JSON answer (caller json_decref()s). `what` names the call. */
static ag_status openai_post(openai *o, const char *url, const char *what, json_t *req, json_t **out, ag_err *err)
{
	ag_status st = AG_E_NOMEM;
	char *body = json_dumps(req, JSON_COMPACT);
	openai_buf b = {0};
	long delay = o->opts.backoff_ms;
	*out = NULL;
	if (!body)
		return ag_err_set(err, AG_E_NOMEM, "%s: out of memory building the request", what);
	for (int attempt = 0;; attempt++) {
		long status = 0;
		free(b.body.p);
		b = (openai_buf){.body = {.max = (size_t)o->opts.max_response_bytes}, .retry_after_ms = -1};
		CURLcode rc = openai_once(o, url, body, &b, &status);
		bool retry;
		if (rc == CURLE_OK && status >= 200 && status < 300) {
			break;
		} else if (b.body.toobig || rc == CURLE_FILESIZE_EXCEEDED) {
			st = ag_err_set(err, AG_E_TOOBIG,
			                "%s: the answer is larger than %ld bytes (AI_MAX_RESPONSE_BYTES)", what,
			                o->opts.max_response_bytes);
			goto out;
		} else if (rc == CURLE_OPERATION_TIMEDOUT) {
			st = ag_err_set(err, AG_E_TIMEOUT, "%s: no answer within %ld ms (AI_TIMEOUT_MS)", what,
			                o->opts.timeout_ms);
			retry = true;
		} else if (rc != CURLE_OK) {
			st = ag_err_set(err, rc == CURLE_OUT_OF_MEMORY ? AG_E_NOMEM : AG_E_UNAVAILABLE, "%s: %s", what,
			                curl_easy_strerror(rc));
			retry = rc != CURLE_OUT_OF_MEMORY && rc != CURLE_URL_MALFORMAT &&
			        rc != CURLE_UNSUPPORTED_PROTOCOL;
		} else if (status == 429 || status >= 500) {
			st = ag_err_set(err, AG_E_UNAVAILABLE, "%s: the server answered HTTP %ld", what, status);
			retry = true;
		} else {
			st = ag_err_set(err, status == 401 || status == 403 ? AG_E_AUTH : AG_E_INVAL,
			                "%s: the server refused the request with HTTP %ld%s", what, status,
			                status == 401 || status == 403 ? " (check AI_API_KEY)"
			                : status == 404                ? " (check AI_BASE_URL and the model name)"
			                                               : "");
			goto out;
		}
		if (!retry || attempt >= o->opts.retries)
			goto out;
		long wait = b.retry_after_ms >= 0 ? b.retry_after_ms : delay;
		ag_log_info("%s: attempt %d failed (%s); retrying in %ld ms", what, attempt + 1, err ? err->msg : "",
		            wait);
		openai_sleep_ms(wait);
		delay = delay * 2 > OPENAI_RETRY_AFTER_MAX_MS ? OPENAI_RETRY_AFTER_MAX_MS : delay * 2;
	}
	json_error_t jerr;
	*out = b.body.p ? json_loadb(b.body.p, b.body.n, 0, &jerr) : NULL;
	if (!*out || !json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		st = ag_err_set(err, AG_E_PROTO,
		                "%s: the answer is not a JSON object (is AI_BASE_URL an OpenAI-compatible API?)", what);
		goto out;
	}
	json_t *usage = json_object_get(*out, "usage");
	json_t *total = usage ? json_object_get(usage, "total_tokens") : NULL;
	json_t *prompt = usage ? json_object_get(usage, "prompt_tokens") : NULL;
	json_t *completion = usage ? json_object_get(usage, "completion_tokens") : NULL;
	if (json_is_integer(total) && json_integer_value(total) > 0)
		atomic_fetch_add(&o->tokens, (unsigned long long)json_integer_value(total));
	if (json_is_integer(prompt) && json_integer_value(prompt) > 0)
		openai_thread_usage.prompt_tokens += (unsigned long long)json_integer_value(prompt);
	if (json_is_integer(completion) && json_integer_value(completion) > 0)
		openai_thread_usage.completion_tokens += (unsigned long long)json_integer_value(completion);
	openai_thread_usage.requests++;
	ag_err_clear(err);
	st = AG_OK;
out:
	free(b.body.p);
	free(body);
	return st;
}

/* Cut to at most max bytes on a character boundary. */
static size_t openai_clip(const char *text, size_t len, size_t max)
{
	if (len <= max)
		return len;
	len = max;
	while (len > 0 && ((unsigned char)text[len] & 0xC0) == 0x80)
		len--;
	return len;
}

/*
 * Ask the chat model; *answer is the JSON object the model wrote (caller json_decref()s). Content that is
 * not a JSON object is AG_E_RETRY: a model may answer differently next time.
 */
static ag_status openai_chat(openai *o, const char *what, const char *system, const char *text, size_t len,
                             json_t **answer, ag_err *err)
{
	json_t *resp = NULL;
	*answer = NULL;
	len = openai_clip(text, len, (size_t)o->opts.max_input_chars);
	json_t *req =
	        json_pack("{s:s, s:[{s:s, s:s}, {s:s, s:s%}], s:f, s:i, s:{s:s}}", "model", o->opts.model, "messages",
	                  "role", "system", "content", system, "role", "user", "content", text, len, "temperature", 0.0,
	                  "max_tokens", OPENAI_TOKENS_ANSWER, "response_format", "type", "json_object");
	if (!req)
		return ag_err_set(err, AG_E_NOMEM, "%s: could not build the request (is the text UTF-8?)", what);
	ag_status st = openai_post(o, o->chat_url, what, req, &resp, err);
	json_decref(req);
	if (st != AG_OK)
		return st;
	json_t *choices = json_object_get(resp, "choices");
	json_t *msg = json_object_get(json_array_get(choices, 0), "message");
	json_t *content = json_object_get(msg, "content");
	if (!json_is_string(content)) {
		st = ag_err_set(err, AG_E_PROTO, "%s: the answer has no choices[0].message.content", what);
		goto out;
	}
	json_error_t jerr;
	const char *s = json_string_value(content);
	size_t n = json_string_length(content);
	/* some models wrap JSON in a Markdown fence despite response_format */
	const char *open = memchr(s, '{', n), *close = NULL;
	for (size_t i = n; i-- > 0;)
		if (s[i] == '}') {
			close = s + i;
			break;
		}
	*answer = open && close && close > open ? json_loadb(open, (size_t)(close - open) + 1, 0, &jerr) : NULL;
	if (!json_is_object(*answer)) {
		json_decref(*answer);
		*answer = NULL;
		st = ag_err_set(err, AG_E_RETRY, "%s: the model did not answer with a JSON object", what);
	}
out:
	json_decref(resp);
	return st;
}

/* One summary request with the given instruction; *out malloc'd (caller free()s). */
static ag_status openai_summary_once(openai *o, const char *what, const char *instruction, const char *text, size_t len,
                                     char **out, ag_err *err)
{
	json_t *a = NULL;
	char system[768];
	*out = NULL;
	snprintf(system, sizeof system,
	         "%s Answer with only a JSON object {\"summary\": \"...\"}: at most %d sentences, in the document's "
	         "language.",
	         instruction, o->opts.summary_sentences);
	ag_status st = openai_chat(o, what, system, text, len, &a, err);
	if (st != AG_OK)
		return st;
	json_t *s = json_object_get(a, "summary");
	if (!json_is_string(s)) {
		st = ag_err_set(err, AG_E_RETRY, "%s: the model's JSON has no string \"summary\"", what);
		goto out;
	}
	size_t n = openai_clip(json_string_value(s), json_string_length(s), AI_SUMMARY_MAX_BYTES - 1);
	*out = malloc(n + 1);
	if (!*out) {
		st = ag_err_set(err, AG_E_NOMEM, "out of memory");
		goto out;
	}
	memcpy(*out, json_string_value(s), n);
	(*out)[n] = '\0';
out:
	json_decref(a);
	return st;
}

/*
 * The length of the next part of text[0..len) of at most max bytes: cut at a paragraph break, else a line
 * break, else a sentence end in the second half of the window, else on a character boundary. Never 0 when
 * len > 0 (a character longer than max is taken whole).
 */
static size_t openai_part(const char *text, size_t len, size_t max)
{
	size_t n = openai_clip(text, len, max);
	if (n == len)
		return n;
	if (n == 0) {
		n = 1;
		while (n < len && ((unsigned char)text[n] & 0xC0) == 0x80)
			n++;
		return n;
	}
	static const char *const breaks[] = {"\n\n", "\n", ". ", "? ", "! "};
	for (size_t b = 0; b < sizeof breaks / sizeof *breaks; b++) {
		size_t bl = strlen(breaks[b]);
		for (size_t i = n; i >= n / 2 + bl; i--)
			if (memcmp(text + i - bl, breaks[b], bl) == 0)
				return i;
	}
	return n;
}

#define OPENAI_REDUCE_INSTRUCTION                                                                                    \
	"You combine the summaries of consecutive parts of one document, sent by the user, into one summary of the " \
	"whole document."
#define OPENAI_REDUCE_LEVELS 8 /* intermediate reduce levels before the last call; each at least halves the text */

/* Append s (n bytes) and a blank line to the growing buffer *b (*len used, *cap allocated). */
static bool openai_join(char **b, size_t *len, size_t *cap, const char *s, size_t n)
{
	if (*len + n + 3 > *cap) {
		size_t want = (*len + n + 3) * 2;
		char *p = realloc(*b, want);
		if (!p)
			return false;
		*b = p;
		*cap = want;
	}
	memcpy(*b + *len, s, n);
	memcpy(*b + *len + n, "\n\n", 3);
	*len += n + 2;
	return true;
}

/* One intermediate reduce level: the joined summaries, longer than max, become fewer summaries of their parts. */
static ag_status openai_reduce_level(openai *o, char **joined, size_t *jlen, size_t max, ag_err *err)
{
	char *next = NULL;
	size_t nlen = 0, cap = 0, pos = 0;
	ag_status st = AG_OK;
	while (pos < *jlen && st == AG_OK) {
		size_t n = openai_part(*joined + pos, *jlen - pos, max);
		char *sum = NULL;
		st = openai_summary_once(o, "summary (reduce)", OPENAI_REDUCE_INSTRUCTION, *joined + pos, n, &sum, err);
		if (st == AG_OK && !openai_join(&next, &nlen, &cap, sum, strlen(sum)))
			st = ag_err_set(err, AG_E_NOMEM, "out of memory");
		free(sum);
		pos += n;
	}
	if (st != AG_OK) {
		free(next);
		return st;
	}
	free(*joined);
	*joined = next;
	*jlen = nlen;
	return AG_OK;
}

/*
 * A text longer than AI_MAX_INPUT_CHARS is summarised map-reduce: each part (openai_part) on its own, at most
 * opts.summary_map_calls parts (the rest is left out, logged), then the summaries are combined. When they are
 * together longer than one call takes, they are combined part by part first, level by level, so that no summary
 * is cut away; the last call makes one summary of what is left.
 */
static ag_status openai_summarize(void *self, const char *text, size_t len, char **out, ag_err *err)
{
	openai *o = self;
	size_t max = (size_t)o->opts.max_input_chars, pos = 0, jlen = 0, cap = 0;
	int calls = 0, map_max = o->opts.summary_map_calls > 0 ? o->opts.summary_map_calls : 1;
	*out = NULL;
	if (len <= max)
		return openai_summary_once(o, "summary", "You summarise documents.", text, len, out, err);
	char *joined = NULL;
	ag_status st = AG_OK;
	while (pos < len && calls < map_max) {
		size_t n = openai_part(text + pos, len - pos, max);
		char *part = NULL;
		st = openai_summary_once(o, "summary (map)",
		                         "You summarise one part of a longer document; the user sends that part.",
		                         text + pos, n, &part, err);
		if (st == AG_OK && !openai_join(&joined, &jlen, &cap, part, strlen(part)))
			st = ag_err_set(err, AG_E_NOMEM, "out of memory");
		free(part);
		if (st != AG_OK)
			goto out;
		pos += n;
		calls++;
	}
	if (pos < len)
		ag_log_info(
		        "summary: %zu of %zu bytes summarised in %d parts (AI_SUMMARY_MAP_CALLS); the rest is left out",
		        pos, len, calls);
	for (int level = 0; jlen > max && level < OPENAI_REDUCE_LEVELS; level++) {
		size_t before = jlen;
		st = openai_reduce_level(o, &joined, &jlen, max, err);
		if (st != AG_OK)
			goto out;
		if (jlen >= before) /* summaries as long as the window: another level would not help */
			break;
	}
	st = openai_summary_once(o, "summary (reduce)", OPENAI_REDUCE_INSTRUCTION, joined, jlen, out, err);
out:
	free(joined);
	return st;
}

static ag_status openai_keywords(void *self, const char *text, size_t len, ai_keywords *out, ag_err *err)
{
	openai *o = self;
	json_t *a = NULL;
	char system[512];
	memset(out, 0, sizeof *out);
	snprintf(system, sizeof system,
	         "You extract keywords. Answer with only a JSON object {\"keywords\": [\"...\"]}: the %d most "
	         "relevant single-word or short keywords of the user's document, most relevant first, lower case.",
	         o->opts.keywords);
	ag_status st = openai_chat(o, "keywords", system, text, len, &a, err);
	if (st != AG_OK)
		return st;
	json_t *k = json_object_get(a, "keywords"), *v;
	size_t i;
	if (!json_is_array(k)) {
		st = ag_err_set(err, AG_E_RETRY, "keywords: the model's JSON has no array \"keywords\"");
		goto out;
	}
	json_array_foreach(k, i, v)
	{
		if (!json_is_string(v)) {
			st = ag_err_set(err, AG_E_RETRY, "keywords: keyword %zu is not a string", i);
			goto out;
		}
		size_t n = json_string_length(v);
		if (n == 0 || n >= AI_KEYWORD_MAX_BYTES || out->n >= (size_t)o->opts.keywords)
			continue; /* too long to be a keyword, or more than asked for */
		memcpy(out->word[out->n], json_string_value(v), n + 1);
		out->n++;
	}
out:
	json_decref(a);
	return st;
}

static ag_status openai_category(void *self, const char *text, size_t len, char out[AI_CATEGORY_MAX], ag_err *err)
{
	openai *o = self;
	json_t *a = NULL;
	char system[512], names[256] = "";
	size_t off = 0;
	for (int c = 0; c < CATEGORY_COUNT; c++) {
		int n = snprintf(names + off, sizeof names - off, "%s%s", c ? ", " : "", category_name((category_id)c));
		if (n > 0 && (size_t)n < sizeof names - off)
			off += (size_t)n;
	}
	snprintf(system, sizeof system,
	         "You classify documents. Answer with only a JSON object {\"category\": \"...\"} where the value is "
	         "exactly one of: %s.",
	         names);
	ag_status st = openai_chat(o, "category", system, text, len, &a, err);
	if (st != AG_OK)
		return st;
	json_t *c = json_object_get(a, "category");
	if (!json_is_string(c) || category_find(json_string_value(c)) < 0) {
		st = ag_err_set(err, AG_E_RETRY, "category: the model did not answer one of: %s", names);
		goto out;
	}
	snprintf(out, AI_CATEGORY_MAX, "%s", json_string_value(c));
out:
	json_decref(a);
	return st;
}

static ag_status openai_embed(void *self, const char *text, size_t len, float **out, size_t *dims, ag_err *err)
{
	openai *o = self;
	json_t *resp = NULL;
	*out = NULL;
	*dims = 0;
	len = openai_clip(text, len, (size_t)o->opts.max_input_chars);
	json_t *req = json_pack("{s:s, s:s%}", "model", o->opts.embed_model, "input", text, len);
	if (!req)
		return ag_err_set(err, AG_E_NOMEM, "embeddings: could not build the request (is the text UTF-8?)");
	ag_status st = openai_post(o, o->embed_url, "embeddings", req, &resp, err);
	json_decref(req);
	if (st != AG_OK)
		return st;
	json_t *vec = json_object_get(json_array_get(json_object_get(resp, "data"), 0), "embedding"), *v;
	size_t n = json_array_size(vec), i;
	if (!json_is_array(vec) || n == 0 || n > AI_EMBED_DIMS_MAX) {
		st = ag_err_set(err, AG_E_PROTO, "embeddings: the answer has no data[0].embedding of 1..%d numbers",
		                AI_EMBED_DIMS_MAX);
		goto out;
	}
	float *f = malloc(n * sizeof *f);
	if (!f) {
		st = ag_err_set(err, AG_E_NOMEM, "out of memory");
		goto out;
	}
	json_array_foreach(vec, i, v)
	{
		if (!json_is_number(v)) {
			free(f);
			st = ag_err_set(err, AG_E_PROTO, "embeddings: element %zu of the vector is not a number", i);
			goto out;
		}
		f[i] = (float)json_number_value(v);
	}
	*out = f;
	*dims = n;
out:
	json_decref(resp);
	return st;
}

static ag_status openai_language(void *self, const char *text, size_t len, char out[AI_LANG_MAX], ag_err *err)
{
	openai *o = self;
	return o->lang.vt->language(o->lang.self, text, len, out, err);
}

static void openai_free(void *self)
{
	openai *o = self;
	if (!o)
		return;
	ai_provider_close(&o->lang);
	free(o);
}

const ai_provider_vt openai_vt = {
        .name = "openai",
        .summarize = openai_summarize,
        .keywords = openai_keywords,
        .language = openai_language,
        .category = openai_category,
        .embed = openai_embed,
        .free = openai_free,
};

void openai_usage_take(ai_usage *out)
{
	if (out)
		*out = openai_thread_usage;
	openai_thread_usage = (ai_usage){0};
}

unsigned long long openai_tokens_used(const ai_provider *p)
{
	return p && p->vt == &openai_vt ? atomic_load(&((openai *)p->self)->tokens) : 0;
}

/* base + path, with a trailing "/" or "/v1" of base dropped so both spellings work. */
static bool openai_url(char out[OPENAI_URL_MAX], const char *base, const char *path)
{
	size_t n = strlen(base);
	while (n > 0 && base[n - 1] == '/')
		n--;
	if (n >= 3 && memcmp(base + n - 3, "/v1", 3) == 0)
		n -= 3;
	int w = snprintf(out, OPENAI_URL_MAX, "%.*s%s", (int)n, base, path);
	return w > 0 && w < OPENAI_URL_MAX;
}

ag_status openai_open(ai_provider *out, const ai_opts *opts, ag_err *err)
{
	if (!opts->base_url || !*opts->base_url || !opts->model || !*opts->model || !opts->embed_model ||
	    !*opts->embed_model)
		return ag_err_set(err, AG_E_INVAL,
		                  "the openai provider needs AI_BASE_URL, AI_MODEL and AI_EMBED_MODEL");
	if (strncmp(opts->base_url, "http://", 7) != 0 && strncmp(opts->base_url, "https://", 8) != 0)
		return ag_err_set(err, AG_E_INVAL, "AI_BASE_URL must start with http:// or https://");
	if (opts->timeout_ms < 1 || opts->retries < 0 || opts->retries > OPENAI_RETRIES_MAX ||
	    opts->max_response_bytes < 1024 || opts->max_input_chars < 1 || opts->backoff_ms < 0)
		return ag_err_set(err, AG_E_INVAL, "openai provider limits out of range");
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return ag_err_set(err, AG_E_INTERNAL, "curl_global_init failed");
	openai *o = calloc(1, sizeof *o);
	if (!o)
		return ag_err_set(err, AG_E_NOMEM, "out of memory");
	o->opts = *opts;
	ag_status st = AG_E_INVAL;
	if (!openai_url(o->chat_url, opts->base_url, "/v1/chat/completions") ||
	    !openai_url(o->embed_url, opts->base_url, "/v1/embeddings")) {
		st = ag_err_set(err, AG_E_INVAL, "AI_BASE_URL is too long");
		goto fail;
	}
	if (opts->api_key && *opts->api_key) {
		int w = snprintf(o->auth, sizeof o->auth, "Authorization: Bearer %s", opts->api_key);
		if (w < 0 || (size_t)w >= sizeof o->auth || strpbrk(opts->api_key, "\r\n")) {
			st = ag_err_set(err, AG_E_INVAL, "AI_API_KEY is too long or has a line break");
			goto fail;
		}
	}
	st = builtin_open(&o->lang, opts, err);
	if (st != AG_OK)
		goto fail;
	*out = (ai_provider){.vt = &openai_vt, .self = o, .model = opts->model, .embed_model = opts->embed_model};
	return AG_OK;
fail:
	openai_free(o);
	return st;
}
