/* Tests services/extract-content/chunk.c: chunk sizes, overlap, boundaries and coverage of the whole text. */
#include "../../../../services/extract-content/chunk.c"

#include "test.h"

#include <stdlib.h>

#define MAX_SPANS 65536

typedef struct spans {
	const char *base;
	size_t n;
	size_t off[MAX_SPANS], len[MAX_SPANS];
	size_t stop_at; /* return an error at this seq (0 = never) */
} spans;

static ag_status collect(void *ud, size_t seq, const char *text, size_t len)
{
	spans *s = ud;
	if (s->stop_at && seq == s->stop_at)
		return AG_E_UNAVAILABLE;
	if (seq != s->n || s->n == MAX_SPANS)
		return AG_E_INTERNAL;
	s->off[s->n] = (size_t)(text - s->base);
	s->len[s->n] = len;
	s->n++;
	return AG_OK;
}

static size_t chars_of(const char *s, size_t n)
{
	size_t c = 0;
	for (size_t i = 0; i < n; i++)
		c += ((unsigned char)s[i] & 0xC0) != 0x80;
	return c;
}

static bool boundary(const char *t, size_t len, size_t pos)
{
	return pos == 0 || pos == len || ((unsigned char)t[pos] & 0xC0) != 0x80;
}

/* The properties every split has; returns the number of failed checks. */
static void check_split(const char *t, size_t len, size_t max, size_t overlap, spans *s)
{
	memset(s, 0, sizeof *s);
	s->base = t;
	AG_CHECK_INT(chunk_split(t, len, max, overlap, collect, s), AG_OK);
	if (len == 0) {
		AG_CHECK_INT(s->n, 0);
		return;
	}
	AG_CHECK(s->n > 0);
	AG_CHECK_INT(s->off[0], 0);                             /* starts at the start */
	AG_CHECK_INT(s->off[s->n - 1] + s->len[s->n - 1], len); /* ends at the end */
	for (size_t i = 0; i < s->n; i++) {
		size_t end = s->off[i] + s->len[i];
		AG_CHECK(s->len[i] > 0);
		AG_CHECK(chars_of(t + s->off[i], s->len[i]) <= max); /* within the limit */
		AG_CHECK(boundary(t, len, s->off[i]));               /* never inside a UTF-8 sequence */
		AG_CHECK(boundary(t, len, end));
		if (i + 1 < s->n) {
			size_t next = s->off[i + 1];
			AG_CHECK(next > s->off[i]); /* progress */
			AG_CHECK(next <= end);      /* no gap: the whole text is covered */
			if (overlap > 0)
				AG_CHECK(chars_of(t + next, end - next) <= overlap);
		}
	}
}

/* Paragraphs of sentences with some multi-byte characters. */
static char *make_text(size_t paragraphs, size_t *len)
{
	static const char *const sentences[] = {
	        "The quick brown fox jumps over the lazy dog. ",
	        "Caf\xc3\xa9 cr\xc3\xa8me br\xc3\xbbl\xc3\xa9\x65 costs 5 \xe2\x82\xac today! ",
	        "Is this the real life, or is it just fantasy? ",
	        "Gr\xc3\xbc\xc3\x9f Gott, sagte der M\xc3\xbcller zum B\xc3\xa4\x63ker. ",
	        "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae\xe6\x96\x87\xe3\x80\x82",
	};
	size_t cap = paragraphs * 9 * 80 + 1, n = 0;
	char *t = malloc(cap);
	for (size_t p = 0; p < paragraphs; p++) {
		for (size_t k = 0; k < 6 + p % 4; k++) {
			const char *s = sentences[(p + k) % 5];
			memcpy(t + n, s, strlen(s));
			n += strlen(s);
		}
		memcpy(t + n, "\n\n", 2);
		n += 2;
	}
	t[n] = '\0';
	*len = n;
	return t;
}

static void chunk_properties_hold(void)
{
	size_t len = 0;
	char *t = make_text(120, &len);
	static const size_t opts[][2] = {{1500, 200}, {1000, 0}, {300, 100}, {80, 39}, {7, 3}, {1, 0}, {2, 0}};
	for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
		spans *s = malloc(sizeof *s);
		check_split(t, len, opts[i][0], opts[i][1], s);
		if (opts[i][1] > 0) {
			size_t with_overlap = 0;
			for (size_t k = 0; k + 1 < s->n; k++)
				with_overlap += s->off[k + 1] < s->off[k] + s->len[k];
			AG_CHECK_INT(with_overlap, s->n - 1); /* every neighbour pair shares text */
		}
		free(s);
	}
	free(t);
}

static void chunk_prefers_paragraphs(void)
{
	size_t len = 0;
	char *t = make_text(40, &len); /* paragraphs of ~300-500 bytes */
	spans *s = malloc(sizeof *s);
	check_split(t, len, 1500, 200, s);
	AG_CHECK(s->n > 3);
	for (size_t i = 0; i + 1 < s->n; i++) {
		size_t end = s->off[i] + s->len[i];
		AG_CHECK(end >= 2 && t[end - 1] == '\n' && t[end - 2] == '\n');
		AG_CHECK(chars_of(t + s->off[i], s->len[i]) >= 750); /* and are not tiny */
	}
	/* the overlap starts at a word */
	for (size_t i = 1; i < s->n; i++)
		AG_CHECK(t[s->off[i] - 1] == ' ' || t[s->off[i] - 1] == '\n');
	free(s);
	free(t);
}

static void chunk_then_sentences_then_words(void)
{
	/* one paragraph: cuts after a sentence end */
	static const char one[] = "Alpha beta gamma delta. Epsilon zeta eta theta iota. Kappa lambda mu nu xi omicron.";
	spans *s = malloc(sizeof *s);
	check_split(one, sizeof one - 1, 60, 10, s);
	AG_CHECK(s->n >= 2);
	AG_CHECK_INT(s->len[0], strlen("Alpha beta gamma delta. Epsilon zeta eta theta iota. "));
	/* no sentence end in the window: cuts after whitespace */
	static const char words[] = "alpha beta gamma delta epsilon zeta eta theta iota kappa";
	check_split(words, sizeof words - 1, 20, 0, s);
	AG_CHECK_INT(s->len[0], strlen("alpha beta gamma "));
	AG_CHECK_INT(s->off[1], strlen("alpha beta gamma "));
	free(s);
}

static void chunk_hard_cuts_keep_characters_whole(void)
{
	/* no whitespace at all, 2-byte and 3-byte characters */
	char t[3000];
	size_t n = 0;
	for (int i = 0; n + 5 < sizeof t; i++) {
		memcpy(t + n, i % 2 ? "\xc3\xa9" : "\xe2\x82\xac", i % 2 ? 2 : 3);
		n += i % 2 ? 2 : 3;
	}
	spans *s = malloc(sizeof *s);
	check_split(t, n, 100, 20, s);
	AG_CHECK_INT(chars_of(t + s->off[0], s->len[0]), 100); /* a hard cut uses the whole window */
	AG_CHECK_INT(chars_of(t + s->off[1], s->off[0] + s->len[0] - s->off[1]), 20);
	free(s);
}

static void chunk_small_and_empty(void)
{
	spans *s = malloc(sizeof *s);
	check_split("", 0, 1500, 200, s);
	AG_CHECK_INT(s->n, 0);
	check_split("short text", 10, 1500, 200, s);
	AG_CHECK_INT(s->n, 1);
	AG_CHECK_INT(s->len[0], 10);
	free(s);
}

static void chunk_rejects_bad_options_and_stops(void)
{
	spans *s = calloc(1, sizeof *s);
	s->base = "abc def";
	AG_CHECK_INT(chunk_split("abc def", 7, 0, 0, collect, s), AG_E_INVAL);
	AG_CHECK_INT(chunk_split("abc def", 7, 100, 50, collect, s), AG_E_INVAL); /* overlap must be < half */
	AG_CHECK_INT(chunk_split("abc def", 7, 100, 49, collect, s), AG_OK);
	size_t len = 0;
	char *t = make_text(20, &len);
	memset(s, 0, sizeof *s);
	s->base = t;
	s->stop_at = 2;
	AG_CHECK_INT(chunk_split(t, len, 200, 20, collect, s), AG_E_UNAVAILABLE); /* the callback's error wins */
	AG_CHECK_INT(s->n, 2);
	free(t);
	free(s);
}

int main(void)
{
	AG_TEST_RUN(chunk_properties_hold);
	AG_TEST_RUN(chunk_prefers_paragraphs);
	AG_TEST_RUN(chunk_then_sentences_then_words);
	AG_TEST_RUN(chunk_hard_cuts_keep_characters_whole);
	AG_TEST_RUN(chunk_small_and_empty);
	AG_TEST_RUN(chunk_rejects_bad_options_and_stops);
	return ag_test_summary();
}
