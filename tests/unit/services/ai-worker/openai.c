/*
 * Tests services/ai-worker/openai.c against a fake OpenAI-compatible server
 * (fake_openai.py, real sockets on a free loopback port): normal answers,
 * 429 + Retry-After then OK, 503 then OK, 500, a slow server (timeout), a body
 * that is not JSON, model content that is not the JSON asked for, an unknown
 * category, an oversized answer, a wrong key.
 */
#include "../../../../services/ai-worker/ai_provider.c"
#include "../../../../services/ai-worker/builtin.c"
#include "../../../../services/ai-worker/category.c"
#include "../../../../services/ai-worker/openai.c"
#include "../../../../services/ai-worker/stopwords.c"
#include "../../../../services/ai-worker/terms.c"
#include "../../../../services/ai-worker/tokens.c"

#include "test.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static pid_t server;
static int server_out = -1; /* kept open while the server runs: it may still write to stdout */
static char base[64];

static bool start_server(void)
{
	int fd[2];
	if (pipe(fd) != 0)
		return false;
	server = fork();
	if (server == 0) {
		dup2(fd[1], 1);
		close(fd[0]);
		int devnull = open("/dev/null", O_WRONLY);
		if (devnull >= 0)
			dup2(devnull, 2); /* the server's tracebacks for aborted transfers are expected noise */
		execlp("python3", "python3", "tests/unit/services/ai-worker/fake_openai.py", (char *)NULL);
		_exit(127);
	}
	close(fd[1]);
	char port[16] = "";
	ssize_t n = read(fd[0], port, sizeof port - 1);
	server_out = fd[0];
	if (n <= 0)
		return false;
	port[n] = '\0';
	port[strcspn(port, "\n")] = '\0';
	snprintf(base, sizeof base, "http://127.0.0.1:%s/", port);
	return true;
}

static ai_opts opts_for(const char *model)
{
	return (ai_opts){.summary_sentences = 3,
	                 .keywords = 8,
	                 .base_url = base,
	                 .api_key = "sk-test",
	                 .model = model,
	                 .embed_model = model,
	                 .timeout_ms = 1000,
	                 .retries = 2,
	                 .backoff_ms = 50,
	                 .max_response_bytes = 1 << 20,
	                 .max_input_chars = 1000};
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char doc[] = "Invoice 17. Total due: 24.00 EUR. Payment within 14 days.";

static void openai_normal_answers(void)
{
	ai_provider p;
	ag_err err = {0};
	ai_opts o = opts_for("ok");
	AG_CHECK_INT(ai_provider_open(&p, "openai", &o, &err), AG_OK);
	AG_CHECK_STR(p.model, "ok");
	char *sum = NULL;
	AG_CHECK_INT(p.vt->summarize(p.self, doc, sizeof doc - 1, &sum, &err), AG_OK);
	AG_CHECK_STR(sum, "A short summary.");
	free(sum);
	ai_keywords k;
	AG_CHECK_INT(p.vt->keywords(p.self, doc, sizeof doc - 1, &k, &err), AG_OK); /* inside a Markdown fence */
	AG_CHECK_INT(k.n, 2);
	AG_CHECK_STR(k.word[0], "alpha");
	char cat[AI_CATEGORY_MAX];
	AG_CHECK_INT(p.vt->category(p.self, doc, sizeof doc - 1, cat, &err), AG_OK);
	AG_CHECK_STR(cat, "invoice");
	float *v = NULL;
	size_t dims = 0;
	AG_CHECK_INT(p.vt->embed(p.self, doc, sizeof doc - 1, &v, &dims, &err), AG_OK);
	AG_CHECK_INT(dims, 3);
	AG_CHECK(v && v[0] > 0.59f && v[1] > 0.79f);
	free(v);
	char lang[AI_LANG_MAX];
	AG_CHECK_INT(p.vt->language(p.self, doc, sizeof doc - 1, lang, &err), AG_OK); /* local, builtin */
	AG_CHECK_INT(openai_tokens_used(&p), 3 * 10 + 3);
	ai_provider_close(&p);
}

/* The usage of this thread's requests: prompt and completion tokens of 3 chat requests and 1 embedding. */
static void openai_usage_per_thread(void)
{
	ai_provider p;
	ag_err err = {0};
	ai_opts o = opts_for("ok");
	ai_usage u;
	AG_CHECK_INT(ai_provider_open(&p, "openai", &o, &err), AG_OK);
	openai_usage_take(NULL);
	char cat[AI_CATEGORY_MAX], *sum = NULL;
	ai_keywords k;
	float *v = NULL;
	size_t dims = 0;
	AG_CHECK_INT(p.vt->category(p.self, doc, sizeof doc - 1, cat, &err), AG_OK);
	AG_CHECK_INT(p.vt->summarize(p.self, doc, sizeof doc - 1, &sum, &err), AG_OK);
	AG_CHECK_INT(p.vt->keywords(p.self, doc, sizeof doc - 1, &k, &err), AG_OK);
	AG_CHECK_INT(p.vt->embed(p.self, doc, sizeof doc - 1, &v, &dims, &err), AG_OK);
	openai_usage_take(&u);
	AG_CHECK_INT(u.prompt_tokens, 3 * 7 + 3);
	AG_CHECK_INT(u.completion_tokens, 3 * 3);
	AG_CHECK_INT(u.requests, 4);
	openai_usage_take(&u); /* taking resets */
	AG_CHECK_INT(u.prompt_tokens + u.completion_tokens + u.requests, 0);
	free(sum);
	free(v);
	ai_provider_close(&p);
}

/* A text longer than max_input_chars: one summary per part (cut at sentence ends), at most summary_map_calls
 * of them, then one summary of the summaries (of groups of them first when they are too long together). */
static void openai_long_text_map_reduce(void)
{
	ai_provider p;
	ag_err err = {0};
	ai_opts o = opts_for("ok");
	ai_usage u;
	char text[4000] = "";
	size_t off = 0;
	for (int i = 0; i < 40; i++) /* 40 sentences of about 60 bytes */
		off += (size_t)snprintf(text + off, sizeof text - off,
		                        "Sentence number %02d talks about the harbour and its ships. ", i);
	o.max_input_chars = 500; /* about 5 parts for 2400 bytes */
	o.summary_map_calls = 8;
	AG_CHECK_INT(ai_provider_open(&p, "openai", &o, &err), AG_OK);
	char *sum = NULL;
	openai_usage_take(NULL);
	AG_CHECK_INT(p.vt->summarize(p.self, text, off, &sum, &err), AG_OK);
	AG_CHECK_STR(sum, "A summary of 5 parts.");
	openai_usage_take(&u);
	AG_CHECK_INT(u.requests, 5 + 1);
	free(sum);
	ai_provider_close(&p);
	/* bounded: 2 map calls, the rest left out */
	o.summary_map_calls = 2;
	AG_CHECK_INT(ai_provider_open(&p, "openai", &o, &err), AG_OK);
	AG_CHECK_INT(p.vt->summarize(p.self, text, off, &sum, &err), AG_OK);
	AG_CHECK_STR(sum, "A summary of 2 parts.");
	openai_usage_take(&u);
	AG_CHECK_INT(u.requests, 2 + 1);
	free(sum);
	ai_provider_close(&p);
	/* summaries too long together for one call are combined level by level; none is cut away */
	o.max_input_chars = 60; /* one sentence a part: 40 parts, whose 40 summaries take 600 bytes */
	o.summary_map_calls = 40;
	AG_CHECK_INT(ai_provider_open(&p, "openai", &o, &err), AG_OK);
	AG_CHECK_INT(p.vt->summarize(p.self, text, off, &sum, &err), AG_OK);
	AG_CHECK_STR(sum, "A summary of 40 parts.");
	openai_usage_take(&u);
	AG_CHECK_INT(u.requests, 40 + 10 + 5 + 3 + 2 + 1); /* map, then 4 per call, 2, 2, 2, and the last */
	free(sum);
	ai_provider_close(&p);
	/* parts end at a sentence end */
	size_t n = openai_part(text, off, 500);
	AG_CHECK(n <= 500 && n > 250);
	AG_CHECK(text[n - 2] == '.' && text[n - 1] == ' ');
	AG_CHECK_INT(openai_part(text, 10, 500), 10);
	AG_CHECK_INT(openai_part("\xc3\xa9t\xc3\xa9", 5, 1), 2); /* a character longer than max is taken whole */
}

static void openai_retries_429_honouring_retry_after(void)
{
	ai_provider p;
	ag_err err = {0};
	ai_opts o = opts_for("ratelimit");
	o.api_key = "";
	AG_CHECK_INT(ai_provider_open(&p, "openai", &o, &err), AG_OK);
	char cat[AI_CATEGORY_MAX];
	double t0 = now_s();
	AG_CHECK_INT(p.vt->category(p.self, doc, sizeof doc - 1, cat, &err), AG_OK);
	AG_CHECK_STR(cat, "invoice");
	AG_CHECK(now_s() - t0 >= 0.9); /* waited the server's Retry-After: 1, not the 50 ms backoff */
	ai_provider_close(&p);
	/* 503 without Retry-After: retried after the backoff */
	o = opts_for("flaky");
	o.api_key = "";
	AG_CHECK_INT(ai_provider_open(&p, "openai", &o, &err), AG_OK);
	AG_CHECK_INT(p.vt->category(p.self, doc, sizeof doc - 1, cat, &err), AG_OK);
	ai_provider_close(&p);
}

/* Each failure maps to the status that decides retry (transient) or failure (permanent), with a reason. */
static void openai_failures_map_to_statuses(void)
{
	static const struct {
		const char *model;
		ag_status want;
		bool transient;
		const char *reason;
	} cases[] = {
	        {"err500", AG_E_UNAVAILABLE, true, "HTTP 500"},
	        {"slow", AG_E_TIMEOUT, true, "AI_TIMEOUT_MS"},
	        {"malformed", AG_E_PROTO, false, "not a JSON object"},
	        {"badcontent", AG_E_RETRY, true, "did not answer with a JSON object"},
	        {"badcategory", AG_E_RETRY, true, "one of: invoice"},
	        {"huge", AG_E_TOOBIG, false, "AI_MAX_RESPONSE_BYTES"},
	        {"ok", AG_E_AUTH, false, "AI_API_KEY"}, /* with the wrong key below */
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		ai_provider p;
		ag_err err = {0};
		ai_opts o = opts_for(cases[i].model);
		o.retries = 1;
		o.timeout_ms = 300;
		if (strcmp(cases[i].model, "ok") == 0)
			o.api_key = "sk-wrong";
		AG_CHECK_INT(ai_provider_open(&p, "openai", &o, &err), AG_OK);
		char cat[AI_CATEGORY_MAX];
		double t0 = now_s();
		ag_status st = p.vt->category(p.self, doc, sizeof doc - 1, cat, &err);
		double took = now_s() - t0;
		if (st != cases[i].want || ag_status_transient(st) != cases[i].transient ||
		    !strstr(err.msg, cases[i].reason)) {
			fprintf(stderr, "  %s: got %s \"%s\", want %s with \"%s\"\n", cases[i].model,
			        ag_status_name(st), err.msg, ag_status_name(cases[i].want), cases[i].reason);
			ag_test_failed_checks++;
		}
		AG_CHECK(took < 2.5); /* bounded: (retries + 1) * timeout + backoff, never the server's 3 s */
		AG_CHECK(!strstr(err.msg, "sk-")); /* the key is never in a message */
		ai_provider_close(&p);
	}
}

static void openai_config_errors(void)
{
	ai_provider p;
	ag_err err = {0};
	ai_opts o = opts_for("ok");
	o.base_url = "ftp://example.com";
	AG_CHECK_INT(ai_provider_open(&p, "openai", &o, &err), AG_E_INVAL);
	o = opts_for("ok");
	o.api_key = "sk-a\r\nX-Evil: 1";
	AG_CHECK_INT(ai_provider_open(&p, "openai", &o, &err), AG_E_INVAL);
	AG_CHECK(!strstr(err.msg, "sk-a"));
	char url[OPENAI_URL_MAX];
	AG_CHECK(openai_url(url, "http://h:1/v1/", "/v1/embeddings"));
	AG_CHECK_STR(url, "http://h:1/v1/embeddings");
	/* nothing listens here: a transport error, transient */
	o = opts_for("ok");
	o.base_url = "http://127.0.0.1:1";
	o.retries = 0;
	AG_CHECK_INT(ai_provider_open(&p, "openai", &o, &err), AG_OK);
	float *v = NULL;
	size_t dims;
	ag_status st = p.vt->embed(p.self, "x", 1, &v, &dims, &err);
	AG_CHECK_INT(st, AG_E_UNAVAILABLE);
	AG_CHECK(ag_status_transient(st));
	ai_provider_close(&p);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	if (!start_server()) {
		printf("not ok - fake OpenAI server started (python3 tests/unit/services/ai-worker/fake_openai.py)\n");
		return 1;
	}
	AG_TEST_RUN(openai_normal_answers);
	AG_TEST_RUN(openai_usage_per_thread);
	AG_TEST_RUN(openai_long_text_map_reduce);
	AG_TEST_RUN(openai_retries_429_honouring_retry_after);
	AG_TEST_RUN(openai_failures_map_to_statuses);
	AG_TEST_RUN(openai_config_errors);
	kill(server, SIGTERM);
	waitpid(server, NULL, 0);
	close(server_out);
	curl_global_cleanup();
	return ag_test_summary();
}
