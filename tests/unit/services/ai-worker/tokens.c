/* Tests services/ai-worker/tokens.c and terms.c: words, sentences and the word table. */
#include "../../../../services/ai-worker/terms.c"
#include "../../../../services/ai-worker/tokens.c"

#include "test.h"

/* All words of `text` joined by '|', "#" marking numbers. */
static const char *words_of(const char *text)
{
	static char out[512];
	size_t pos = 0, o = 0;
	tokens_word t;
	out[0] = '\0';
	while (tokens_next(text, strlen(text), &pos, &t))
		o += (size_t)snprintf(out + o, sizeof out - o, "%s%s%s", o ? "|" : "", t.digit ? "#" : "",
		                      t.too_long ? "(long)" : t.word);
	return out;
}

static void tokens_words_table(void)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
	        {"Hello, World!", "hello|world"},
	        {"l'homme d\xe2\x80\x99un \xc2\xabpays\xc2\xbb", "l|homme|d|un|pays"}, /* apostrophes, guillemets */
	        {"\xc3\x84rger \xc3\x9c\x62\x65r STRA\xc3\x9f\x45", "\xc3\xa4rger|\xc3\xbc\x62\x65r|stra\xc3\x9f\x65"},
	        {"COVID-19 in 2020", "covid|#19|in|#2020"},
	        {"caf\xc3\xa9\xe2\x80\x94"
	         "bar \xe2\x82\xac 5",
	         "caf\xc3\xa9|bar|#5"}, /* em dash, euro sign */
	        {"\xce\x91\xce\x98\xce\x97\xce\x9d\xce\x91 \xd0\x9c\xd0\x9e\xd0\xa1\xd0\x9a\xd0\x92\xd0\x90",
	         "\xce\xb1\xce\xb8\xce\xb7\xce\xbd\xce\xb1|\xd0\xbc\xd0\xbe\xd1\x81\xd0\xba\xd0\xb2\xd0\xb0"}, /* ΑΘΗΝΑ
	                                                                                                          МОСКВА
	                                                                                                        */
	        {"\xc5\x81\xc3\xb3\x64\xc5\xba \xc5\xa0KODA",
	         "\xc5\x82\xc3\xb3\x64\xc5\xba|\xc5\xa1koda"}, /* Łódź ŠKODA */
	        {"bad\xff"
	         "byte",
	         "bad|byte"},
	        {"   ", ""},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *got = words_of(cases[i].in);
		if (strcmp(got, cases[i].want) != 0) {
			fprintf(stderr, "  case %zu: got \"%s\", want \"%s\"\n", i, got, cases[i].want);
			ag_test_failed_checks++;
		}
	}
	char longword[200];
	memset(longword, 'x', sizeof longword - 1);
	longword[sizeof longword - 1] = '\0';
	AG_CHECK_STR(words_of(longword), "(long)");
}

static const char *sentences_of(const char *text)
{
	static char out[1024];
	size_t pos = 0, o = 0, s, e;
	out[0] = '\0';
	while (tokens_sentence(text, strlen(text), &pos, &s, &e))
		o += (size_t)snprintf(out + o, sizeof out - o, "%s%.*s", o ? "|" : "", (int)(e - s), text + s);
	return out;
}

static void tokens_sentences_table(void)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
	        {"One. Two! Three? Four", "One.|Two!|Three?|Four"},
	        {"Dr. Smith met J. Doe, e.g. at noon. Then he left.",
	         "Dr. Smith met J. Doe, e.g. at noon.|Then he left."},
	        {"Pi is 3.14 today. Yes.", "Pi is 3.14 today.|Yes."},
	        {"He said \"stop.\" She went (quickly.) Done", "He said \"stop.\"|She went (quickly.)|Done"},
	        {"Wait... what?! Really\xe2\x80\xa6 ok", "Wait...|what?!|Really\xe2\x80\xa6|ok"},
	        {"Heading\n\nFirst line\ncontinues here. Next.", "Heading|First line\ncontinues here.|Next."},
	        {"\xe6\x97\xa5\xe6\x9c\xac\xe3\x80\x82\xe6\x96\x87\xe3\x80\x82",
	         "\xe6\x97\xa5\xe6\x9c\xac\xe3\x80\x82|\xe6\x96\x87\xe3\x80\x82"},
	        {"  \n\n  ", ""},
	        {"Trailing blanks.   \n", "Trailing blanks."},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *got = sentences_of(cases[i].in);
		if (strcmp(got, cases[i].want) != 0) {
			fprintf(stderr, "  case %zu: got \"%s\", want \"%s\"\n", i, got, cases[i].want);
			ag_test_failed_checks++;
		}
	}
}

static void tokens_long_sentences_are_cut(void)
{
	char text[3 * TOKENS_SENTENCE_HARD_MAX];
	for (size_t i = 0; i < sizeof text; i++)
		text[i] = i % 5 == 4 ? (i % 400 == 399 ? '\n' : ' ') : 'w';
	size_t pos = 0, s, e, n = 0, longest = 0;
	while (tokens_sentence(text, sizeof text, &pos, &s, &e)) {
		n++;
		longest = e - s > longest ? e - s : longest;
	}
	AG_CHECK(n >= 3);
	AG_CHECK(longest <= TOKENS_SENTENCE_SOFT_MAX + 400);
}

static void terms_count_and_grow(void)
{
	terms t;
	AG_CHECK_INT(terms_init(&t, 5000), AG_OK);
	char w[16];
	for (int round = 0; round < 3; round++)
		for (int i = 0; i < 6000; i++) {
			int n = snprintf(w, sizeof w, "w%d", i);
			terms_entry *e = terms_add(&t, w, (size_t)n);
			if (i < 5000)
				AG_CHECK(e != NULL && (e->count++, true));
			else
				AG_CHECK(e == NULL); /* the table is full: new words are refused */
		}
	AG_CHECK_INT(t.n, 5000);
	const terms_entry *e = terms_find(&t, "w4321", 5);
	AG_CHECK(e != NULL);
	AG_CHECK_INT(e ? e->count : 0, 3);
	AG_CHECK(e && memcmp(terms_key(&t, e), "w4321", 5) == 0);
	AG_CHECK(terms_find(&t, "w5001", 5) == NULL);
	AG_CHECK(terms_add(&t, "", 0) == NULL);
	terms_free(&t);
	terms_free(&t); /* idempotent */
}

int main(void)
{
	AG_TEST_RUN(tokens_words_table);
	AG_TEST_RUN(tokens_sentences_table);
	AG_TEST_RUN(tokens_long_sentences_are_cut);
	AG_TEST_RUN(terms_count_and_grow);
	return ag_test_summary();
}
