/*
 * embedq.c - a search query's embedding from an OpenAI-compatible server (see embedq.h).
 */
#include "embedq.h"

#include "aegis/curlbuf.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EMBEDQ_URL_MAX 2048

static pthread_once_t embedq_once = PTHREAD_ONCE_INIT;
static CURLcode embedq_init_rc = CURLE_FAILED_INIT;

static void embedq_init(void)
{
	embedq_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

bool embedq_enabled(const gateway_cfg *cfg)
{
	return cfg->ai_embed_model && cfg->ai_embed_model[0] && cfg->ai_base_url && cfg->ai_base_url[0];
}

/* base + "/v1/embeddings", a trailing "/" or "/v1" of base dropped (both spellings work, as in the ai-worker). */
static bool embedq_url(char out[EMBEDQ_URL_MAX], const char *base)
{
	size_t n = strlen(base);
	while (n > 0 && base[n - 1] == '/')
		n--;
	if (n >= 3 && memcmp(base + n - 3, "/v1", 3) == 0)
		n -= 3;
	int w = snprintf(out, EMBEDQ_URL_MAX, "%.*s/v1/embeddings", (int)n, base);
	return w > 0 && w < EMBEDQ_URL_MAX;
}

ag_status embedq_remote(const gateway_cfg *cfg, const char *text, size_t len, float **out, size_t *dims, ag_err *err)
{
	char url[EMBEDQ_URL_MAX], auth[EMBEDQ_URL_MAX] = "";
	struct curl_slist *h = NULL, *t;
	ag_curlbuf b = {.max = EMBEDQ_MAX_RESPONSE};
	json_t *req = NULL, *resp = NULL;
	char *body = NULL;
	CURL *c = NULL;
	long status = 0;
	ag_status st = AG_E_NOMEM;
	*out = NULL;
	*dims = 0;
	pthread_once(&embedq_once, embedq_init);
	if (embedq_init_rc != CURLE_OK)
		return ag_err_set(err, AG_E_INTERNAL, EMBEDQ_ERR_PREFIX "curl_global_init failed");
	if (!embedq_url(url, cfg->ai_base_url))
		return ag_err_set(err, AG_E_INVAL, EMBEDQ_ERR_PREFIX "AI_BASE_URL is too long");
	if (cfg->ai_api_key && cfg->ai_api_key[0]) {
		int w = snprintf(auth, sizeof auth, "Authorization: Bearer %s", cfg->ai_api_key);
		if (w < 0 || (size_t)w >= sizeof auth || strpbrk(cfg->ai_api_key, "\r\n"))
			return ag_err_set(err, AG_E_INVAL,
			                  EMBEDQ_ERR_PREFIX "AI_API_KEY is too long or has a line break");
	}
	req = json_pack("{s:s, s:s%}", "model", cfg->ai_embed_model, "input", text, len);
	body = req ? json_dumps(req, JSON_COMPACT) : NULL;
	c = body ? curl_easy_init() : NULL;
	if (!c || !(h = curl_slist_append(NULL, "Content-Type: application/json"))) {
		st = ag_err_set(err, AG_E_NOMEM, EMBEDQ_ERR_PREFIX "out of memory");
		goto out;
	}
	if (auth[0]) {
		if (!(t = curl_slist_append(h, auth))) {
			st = ag_err_set(err, AG_E_NOMEM, EMBEDQ_ERR_PREFIX "out of memory");
			goto out;
		}
		h = t;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)cfg->ai_timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)cfg->ai_timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, ag_curlbuf_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	CURLcode rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (b.toobig) {
		st = ag_err_set(err, AG_E_TOOBIG, EMBEDQ_ERR_PREFIX "the answer is larger than %d bytes",
		                EMBEDQ_MAX_RESPONSE);
		goto out;
	}
	if (rc != CURLE_OK) {
		st = ag_err_set(err, rc == CURLE_OPERATION_TIMEDOUT ? AG_E_TIMEOUT : AG_E_UNAVAILABLE,
		                EMBEDQ_ERR_PREFIX "%s", curl_easy_strerror(rc));
		goto out;
	}
	if (status < 200 || status >= 300) {
		st = ag_err_set(err, status == 429 || status >= 500 ? AG_E_UNAVAILABLE : AG_E_INVAL,
		                EMBEDQ_ERR_PREFIX "the server answered HTTP %ld", status);
		goto out;
	}
	json_error_t jerr;
	resp = b.p ? json_loadb(b.p, b.n, 0, &jerr) : NULL;
	json_t *vec = json_object_get(json_array_get(json_object_get(resp, "data"), 0), "embedding"), *v;
	size_t n = json_array_size(vec), i;
	if (!json_is_array(vec) || n == 0 || n > EMBEDQ_DIMS_MAX) {
		st = ag_err_set(err, AG_E_PROTO,
		                EMBEDQ_ERR_PREFIX "the answer has no data[0].embedding of 1..%d numbers",
		                EMBEDQ_DIMS_MAX);
		goto out;
	}
	float *f = malloc(n * sizeof *f);
	if (!f) {
		st = ag_err_set(err, AG_E_NOMEM, EMBEDQ_ERR_PREFIX "out of memory");
		goto out;
	}
	json_array_foreach(vec, i, v)
	{
		if (!json_is_number(v)) {
			free(f);
			st = ag_err_set(err, AG_E_PROTO, EMBEDQ_ERR_PREFIX "element %zu of the vector is not a number",
			                i);
			goto out;
		}
		f[i] = (float)json_number_value(v);
	}
	*out = f;
	*dims = n;
	st = AG_OK;
out:
	json_decref(resp);
	json_decref(req);
	free(body);
	free(b.p);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return st;
}
