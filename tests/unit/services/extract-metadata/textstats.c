/* Tests services/extract-metadata/textstats.c: line, word and character counts, however the text is split. */
#include "../../../../services/extract-metadata/textstats.c"

#include "test.h"

#include <string.h>

static const struct {
	const char *text;
	bool single_byte;
	uint64_t lines, words, chars;
} cases[] = {
        {"", false, 0, 0, 0},
        {"hello", false, 1, 1, 5},
        {"hello\n", false, 1, 1, 6},
        {"one two  three\nfour\n\nfive", false, 4, 5, 25},
        {"  leading and trailing  \n", false, 1, 3, 25},
        {"tab\tseparated\r\nwindows lines\r\n", false, 2, 4, 30},
        {"caf\xc3\xa9 na\xc3\xafve \xe2\x82\xac 5", false, 1, 4, 14}, /* é, ï, € are one char each */
        {"\xf0\x9f\x98\x80 emoji", false, 1, 2, 7},                   /* a 4-byte code point */
        {"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", false, 1, 1, 3},     /* CJK without spaces: one word */
        {"caf\xe9 cr\xe8me", true, 1, 2, 10},                         /* latin-1: a byte is a char */
        {"\n\n\n", false, 3, 0, 3},
};

static void textstats_counts_table(void)
{
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		textstats t;
		textstats_init(&t, cases[i].single_byte);
		textstats_feed(&t, cases[i].text, strlen(cases[i].text));
		textstats_finish(&t);
		if (t.lines != cases[i].lines || t.words != cases[i].words || t.chars != cases[i].chars) {
			fprintf(stderr, "  case %zu: got %llu lines %llu words %llu chars, want %llu %llu %llu\n", i,
			        (unsigned long long)t.lines, (unsigned long long)t.words, (unsigned long long)t.chars,
			        (unsigned long long)cases[i].lines, (unsigned long long)cases[i].words,
			        (unsigned long long)cases[i].chars);
			ag_test_failed_checks++;
		}
	}
}

/* Pieces of every size give the same counts: a word or a UTF-8 sequence may straddle two pieces. */
static void textstats_pieces_do_not_matter(void)
{
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t len = strlen(cases[i].text);
		for (size_t piece = 1; piece <= len; piece++) {
			textstats t;
			textstats_init(&t, cases[i].single_byte);
			for (size_t off = 0; off < len; off += piece)
				textstats_feed(&t, cases[i].text + off, off + piece > len ? len - off : piece);
			textstats_finish(&t);
			AG_CHECK_INT(t.lines, cases[i].lines);
			AG_CHECK_INT(t.words, cases[i].words);
			AG_CHECK_INT(t.chars, cases[i].chars);
		}
	}
}

int main(void)
{
	AG_TEST_RUN(textstats_counts_table);
	AG_TEST_RUN(textstats_pieces_do_not_matter);
	return ag_test_summary();
}
