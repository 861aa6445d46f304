/*
 * ai_builtin - figures for the builtin AI provider (make bench; prints,
 * asserts nothing): the time of the ai-worker's per-document work without
 * the database - language, keywords, summary, category, PII scan and one
 * hashed embedding per 2 KB chunk - for a 1 KB letter, a 20 KB report and a
 * 1 MB text, and the hashed embedding alone.
 */
#include "../../services/ai-worker/ai_provider.c"
#include "../../services/ai-worker/builtin.c"
#include "../../services/ai-worker/category.c"
#include "../../services/ai-worker/openai.c"
#include "../../services/ai-worker/pii.c"
#include "../../services/ai-worker/stopwords.c"
#include "../../services/ai-worker/terms.c"
#include "../../services/ai-worker/tokens.c"

#include <time.h>

#define BENCH_CHUNK 2048

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static const char para[] =
        "The analysis shows that the water temperature rose in most lakes, and that algae growth increased where "
        "the temperature was highest. Contact lab@example.org or +44 20 7946 0958 for the data. Nitrate levels "
        "remained stable, but phosphate concentrations were higher near farms and villages.\n\n";

static void one(const ai_provider *p, const char *text, size_t len)
{
	char lang[AI_LANG_MAX], cat[AI_CATEGORY_MAX], *sum = NULL;
	ai_keywords kw;
	pii_report r;
	p->vt->language(p->self, text, len, lang, NULL);
	p->vt->keywords(p->self, text, len, &kw, NULL);
	p->vt->summarize(p->self, text, len, &sum, NULL);
	p->vt->category(p->self, text, len, cat, NULL);
	pii_scan(text, len, &r);
	for (size_t o = 0; o < len; o += BENCH_CHUNK) {
		float *v = NULL;
		size_t dims;
		p->vt->embed(p->self, text + o, len - o < BENCH_CHUNK ? len - o : BENCH_CHUNK, &v, &dims, NULL);
		free(v);
	}
	free(sum);
}

int main(void)
{
	ai_provider p;
	ag_err err = {0};
	if (ai_provider_open(&p, "builtin", &(ai_opts){.summary_sentences = 3, .keywords = 8}, &err) != AG_OK) {
		fprintf(stderr, "builtin: %s\n", err.msg);
		return 1;
	}
	static const size_t sizes[] = {1024, 20 * 1024, 1024 * 1024};
	for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
		size_t len = sizes[s];
		char *text = malloc(len + 1);
		if (!text)
			return 1;
		for (size_t o = 0; o < len; o++)
			text[o] = para[o % (sizeof para - 1)];
		text[len] = '\0';
		int reps = len > 100000 ? 5 : 200;
		double t0 = now_ms();
		for (int i = 0; i < reps; i++)
			one(&p, text, len);
		printf("ai builtin: %7zu bytes per document: %8.2f ms per document\n", len, (now_ms() - t0) / reps);
		free(text);
	}
	float v[AG_EMBED_DIMS_DEFAULT];
	double t0 = now_ms();
	for (int i = 0; i < 20000; i++)
		ag_embed_hashed(para, sizeof para - 1, v, AG_EMBED_DIMS_DEFAULT);
	printf("ai builtin: hashed embedding of %zu bytes into %d dims: %.1f us\n", sizeof para - 1,
	       AG_EMBED_DIMS_DEFAULT, (now_ms() - t0) * 1000 / 20000);
	ai_provider_close(&p);
	return 0;
}
