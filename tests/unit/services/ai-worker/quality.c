/*
 * Quality checks of the builtin provider (services/ai-worker/builtin.c) on the labelled sets of tests/quality/
 * (written for Aegis): language identification accuracy on passages of >= 20 words (target
 * QUALITY_LANG_TARGET) and document category accuracy (target QUALITY_CATEGORY_TARGET). Each prints its figure
 * ("# language accuracy 0.97 (68/70)") and the misses, and fails below its target. The sets are read from
 * $AEGIS_QUALITY_DIR, default tests/quality (make test runs from the project root).
 */
#include "../../../../services/ai-worker/ai_provider.c"
#include "../../../../services/ai-worker/builtin.c"
#include "../../../../services/ai-worker/category.c"
#include "../../../../services/ai-worker/openai.c"
#include "../../../../services/ai-worker/stopwords.c"
#include "../../../../services/ai-worker/terms.c"
#include "../../../../services/ai-worker/tokens.c"

#include "test.h"

#define QUALITY_LANG_TARGET     0.95
#define QUALITY_CATEGORY_TARGET 0.80
#define QUALITY_LANG_MIN_WORDS  20
#define QUALITY_FILE_MAX        (1024 * 1024)

static ai_provider p;

/* The whole file `name` of the quality directory, NUL-terminated (free()), or NULL. */
static char *quality_read(const char *name)
{
	const char *dir = getenv("AEGIS_QUALITY_DIR");
	char path[512];
	snprintf(path, sizeof path, "%s/%s", dir && dir[0] ? dir : "tests/quality", name);
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "  cannot open %s\n", path);
		return NULL;
	}
	char *buf = malloc(QUALITY_FILE_MAX + 1);
	size_t n = buf ? fread(buf, 1, QUALITY_FILE_MAX, f) : 0;
	fclose(f);
	if (buf)
		buf[n] = '\0';
	return buf;
}

static size_t quality_words(const char *s, size_t len)
{
	size_t n = 0, pos = 0;
	tokens_word t;
	while (tokens_next(s, len, &pos, &t))
		n++;
	return n;
}

static void quality_language_accuracy(void)
{
	char *buf = quality_read("language.tsv");
	AG_CHECK(buf != NULL);
	if (!buf)
		return;
	size_t total = 0, right = 0, per_lang = 0;
	char last[AI_LANG_MAX] = "";
	for (char *line = buf, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		char *tab = strchr(line, '\t');
		if (line[0] == '#' || !tab)
			continue;
		*tab = '\0';
		const char *want = line, *text = tab + 1;
		size_t len = strlen(text);
		if (quality_words(text, len) < QUALITY_LANG_MIN_WORDS) {
			fprintf(stderr, "  passage too short for the set (%s): %.40s…\n", want, text);
			ag_test_failed_checks++;
			continue;
		}
		if (strcmp(last, want) != 0) {
			snprintf(last, sizeof last, "%s", want);
			per_lang++;
		}
		char got[AI_LANG_MAX];
		AG_CHECK_INT(p.vt->language(p.self, text, len, got, NULL), AG_OK);
		total++;
		if (strcmp(got, want) == 0)
			right++;
		else
			printf("# language miss: want %s, got %s: %.60s…\n", want, got, text);
	}
	free(buf);
	double acc = total ? (double)right / (double)total : 0;
	printf("# language accuracy %.2f (%zu/%zu, %zu languages)\n", acc, right, total, per_lang);
	AG_CHECK(per_lang >= 7);
	AG_CHECK(total >= 70);
	AG_CHECK(acc >= QUALITY_LANG_TARGET);
}

static void quality_category_accuracy(void)
{
	char *buf = quality_read("category.txt");
	AG_CHECK(buf != NULL);
	if (!buf)
		return;
	size_t total = 0, right = 0;
	char *doc = strncmp(buf, "=== ", 4) == 0 ? buf : strstr(buf, "\n=== "); /* records start a line */
	if (doc && doc != buf)
		doc++;
	while (doc) {
		char *eol = strchr(doc, '\n');
		if (!eol)
			break;
		*eol = '\0';
		const char *want = doc + 4;
		char *text = eol + 1, *end = strstr(text, "\n=== ");
		size_t len = end ? (size_t)(end - text) + 1 : strlen(text);
		char got[AI_CATEGORY_MAX];
		AG_CHECK_INT(p.vt->category(p.self, text, len, got, NULL), AG_OK);
		total++;
		if (strcmp(got, want) == 0)
			right++;
		else
			printf("# category miss: want %s, got %s: %.50s…\n", want, got, text);
		doc = end ? end + 1 : NULL;
	}
	free(buf);
	double acc = total ? (double)right / (double)total : 0;
	printf("# category accuracy %.2f (%zu/%zu)\n", acc, right, total);
	AG_CHECK(total >= 30);
	AG_CHECK(acc >= QUALITY_CATEGORY_TARGET);
}

int main(void)
{
	ag_err err = {0};
	if (ai_provider_open(&p, "builtin", &(ai_opts){.summary_sentences = 3, .keywords = 8}, &err) != AG_OK) {
		printf("not ok - builtin provider: %s\n", err.msg);
		return 1;
	}
	AG_TEST_RUN(quality_language_accuracy);
	AG_TEST_RUN(quality_category_accuracy);
	ai_provider_close(&p);
	return ag_test_summary();
}
