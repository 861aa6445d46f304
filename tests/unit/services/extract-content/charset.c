/* Tests services/extract-content/charset.c: charset detection and conversion to clean UTF-8, in any pieces. */
#include "../../../../services/extract-content/charset.c"

#include "test.h"

#include <stdlib.h>

#define BYTES(lit) (lit), sizeof(lit) - 1

static charset_id detect(const char *s, size_t n)
{
	charset_detect d;
	charset_detect_init(&d);
	charset_detect_feed(&d, s, n);
	return charset_detect_finish(&d);
}

static void charset_detects_table(void)
{
	static const struct {
		const char *s;
		size_t n;
		charset_id want;
	} cases[] = {
	        {BYTES("plain ascii\n"), CHARSET_UTF8},
	        {BYTES(""), CHARSET_UTF8},
	        {BYTES("gr\xc3\xbc\xc3\x9f Gott, \xe2\x82\xac 5, \xf0\x9f\x98\x80"), CHARSET_UTF8},
	        {BYTES("\xef\xbb\xbfwith a BOM"), CHARSET_UTF8},
	        {BYTES("caf\xe9"), CHARSET_WINDOWS_1252},                       /* latin-1 */
	        {BYTES("\x93quoted\x94 \x80 5"), CHARSET_WINDOWS_1252},         /* windows-1252 quotes and euro */
	        {BYTES("\xc3\xa9t\xc3\xa9 \xe9"), CHARSET_WINDOWS_1252},        /* 2 good, 1 bad: not mostly UTF-8 */
	        {BYTES("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9 \xff"), CHARSET_UTF8}, /* mostly UTF-8, one stray byte */
	        {BYTES("\xed\xa0\x80 surrogate"), CHARSET_WINDOWS_1252},        /* not valid UTF-8 */
	        {BYTES("\xc0\xaf overlong"), CHARSET_WINDOWS_1252},
	        {BYTES("trailing partial \xe2\x82"), CHARSET_WINDOWS_1252},
	        {BYTES("\xff\xfeh\0i\0"), CHARSET_UTF16LE},
	        {BYTES("\xfe\xff\0h\0i"), CHARSET_UTF16BE},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		charset_id got = detect(cases[i].s, cases[i].n);
		if (got != cases[i].want) {
			fprintf(stderr, "  case %zu: got %s, want %s\n", i, charset_name(got),
			        charset_name(cases[i].want));
			ag_test_failed_checks++;
		}
	}
	AG_CHECK_STR(charset_name(CHARSET_WINDOWS_1252), "windows-1252");
}

/* Decode `s` as `id` in pieces of `piece` bytes (0 = one piece); returns malloc'd text. */
static char *decode(charset_id id, const char *s, size_t n, size_t piece, size_t max, charset_decoder *out)
{
	charset_decoder d;
	AG_CHECK_INT(charset_decoder_init(&d, id, max, NULL), AG_OK);
	if (piece == 0)
		piece = n ? n : 1;
	for (size_t off = 0; off < n; off += piece)
		AG_CHECK_INT(charset_decoder_feed(&d, s + off, off + piece > n ? n - off : piece, NULL), AG_OK);
	AG_CHECK_INT(charset_decoder_finish(&d, NULL), AG_OK);
	size_t len = 0;
	char *text = charset_decoder_take(&d, &len);
	AG_CHECK_INT(strlen(text), len); /* no NUL inside */
	if (out)
		*out = d;
	charset_decoder_free(&d);
	return text;
}

static const struct {
	charset_id id;
	const char *in;
	size_t n;
	const char *want;
} conversions[] = {
        {CHARSET_UTF8, BYTES("hello\n"), "hello\n"},
        {CHARSET_WINDOWS_1252, BYTES("caf\xe9"), "caf\xc3\xa9"}, /* café */
        {CHARSET_WINDOWS_1252, BYTES("\x93quoted\x94 \x80 5 \x85"),
         "\xe2\x80\x9cquoted\xe2\x80\x9d \xe2\x82\xac 5 \xe2\x80\xa6"}, /* “quoted” € 5 … */
        {CHARSET_WINDOWS_1252,
         BYTES("a\x81"
               "b"),
         "ab"}, /* undefined in 1252 */
        {CHARSET_WINDOWS_1252, BYTES("line1\r\nline2\r\n"), "line1\nline2\n"},
        {CHARSET_UTF8,
         BYTES("\xef\xbb\xbf"
               "BOM\r\nCRLF\r\n"),
         "BOM\nCRLF\n"},
        {CHARSET_UTF8, BYTES("old\rmac\r\rlines"), "old\nmac\n\nlines"},
        {CHARSET_UTF8, BYTES("\r\n\r\n"), "\n\n"},
        {CHARSET_UTF8, BYTES("nul\0bytes\0"), "nulbytes"},
        {CHARSET_UTF8,
         BYTES("a\xff"
               "b\xc3"),
         "ab"},                                                                    /* invalid, truncated */
        {CHARSET_UTF8, BYTES("x\xed\xa0\x80y\xc0\xafz\xf4\x90\x80\x80!"), "xyz!"}, /* surrogate, overlong, >10FFFF */
        {CHARSET_UTF8, BYTES("\xc3(\xc3\xa9"), "(\xc3\xa9"},                       /* a bad lead does not eat '(' */
        {CHARSET_UTF8, BYTES("mid\xef\xbb\xbfword"), "mid\xef\xbb\xbfword"},       /* only a leading BOM goes */
        {CHARSET_UTF8, BYTES("\xf0\x9f\x98\x80 ok"), "\xf0\x9f\x98\x80 ok"},
        {CHARSET_UTF16LE, BYTES("\xff\xfeh\0i\0\r\0\n\0\xe9\0\xac\x20"), "hi\n\xc3\xa9\xe2\x82\xac"},
        {CHARSET_UTF16BE, BYTES("\xfe\xff\0h\0i\xd8\x3d\xde\x00"), "hi\xf0\x9f\x98\x80"}, /* surrogate pair */
        {CHARSET_UTF16LE,
         BYTES("\xff\xfe"
               "a\0\x00\xd8"
               "b\0"),
         "ab"}, /* lone surrogate dropped */
        {CHARSET_UTF16LE,
         BYTES("\xff\xfe"
               "a\0b"),
         "a"}, /* odd trailing byte */
};

static void charset_converts_table(void)
{
	for (size_t i = 0; i < sizeof conversions / sizeof conversions[0]; i++) {
		char *got = decode(conversions[i].id, conversions[i].in, conversions[i].n, 0, 1024, NULL);
		if (strcmp(got, conversions[i].want) != 0) {
			fprintf(stderr, "  case %zu (%s): got \"%s\", want \"%s\"\n", i,
			        charset_name(conversions[i].id), got, conversions[i].want);
			ag_test_failed_checks++;
		}
		free(got);
	}
}

/* Pieces of every size give the same text: sequences, CRLF pairs and UTF-16 units straddle piece borders. */
static void charset_pieces_do_not_matter(void)
{
	for (size_t i = 0; i < sizeof conversions / sizeof conversions[0]; i++) {
		for (size_t piece = 1; piece < conversions[i].n; piece++) {
			char *got = decode(conversions[i].id, conversions[i].in, conversions[i].n, piece, 1024, NULL);
			if (strcmp(got, conversions[i].want) != 0) {
				fprintf(stderr, "  case %zu in pieces of %zu: got \"%s\"\n", i, piece, got);
				ag_test_failed_checks++;
			}
			free(got);
		}
	}
}

static void charset_counts_and_drops(void)
{
	charset_decoder d;
	char *got = decode(CHARSET_UTF8,
	                   BYTES("\xef\xbb\xbf"
	                         "caf\xc3\xa9\r\n\xff"),
	                   0, 1024, &d);
	AG_CHECK_STR(got, "caf\xc3\xa9\n");
	AG_CHECK_INT(d.chars, 5); /* c a f é \n */
	AG_CHECK_INT(d.dropped, 1);
	AG_CHECK(!d.truncated);
	free(got);
}

static void charset_cap_never_splits_a_character(void)
{
	charset_decoder d;
	/* "ab€cd": € is 3 bytes at offsets 2..4 */
	char *got = decode(CHARSET_UTF8,
	                   BYTES("ab\xe2\x82\xac"
	                         "cd"),
	                   0, 5, &d);
	AG_CHECK_STR(got, "ab\xe2\x82\xac");
	AG_CHECK(d.truncated);
	AG_CHECK_INT(d.chars, 3);
	free(got);
	got = decode(CHARSET_UTF8,
	             BYTES("ab\xe2\x82\xac"
	                   "cd"),
	             1, 4, &d);
	AG_CHECK_STR(got, "ab"); /* € does not fit in 4 bytes: left out whole */
	AG_CHECK(d.truncated);
	free(got);
	got = decode(CHARSET_WINDOWS_1252, BYTES("\xe9\xe9\xe9"), 0, 5, &d); /* é is 2 bytes in UTF-8 */
	AG_CHECK_STR(got, "\xc3\xa9\xc3\xa9");
	AG_CHECK(d.truncated);
	free(got);
	got = decode(CHARSET_UTF8, BYTES("exact"), 0, 5, &d);
	AG_CHECK_STR(got, "exact");
	AG_CHECK(!d.truncated);
	free(got);
}

static void charset_output_grows(void)
{
	size_t n = 3 * CHARSET_OUT_INITIAL + 17;
	char *in = malloc(n);
	for (size_t i = 0; i < n; i++)
		in[i] = (char)('a' + i % 26);
	charset_decoder d;
	char *got = decode(CHARSET_WINDOWS_1252, in, n, 4096, n, &d);
	AG_CHECK_INT(strlen(got), n);
	AG_CHECK(memcmp(got, in, n) == 0);
	AG_CHECK(!d.truncated);
	free(got);
	free(in);
}

int main(void)
{
	AG_TEST_RUN(charset_detects_table);
	AG_TEST_RUN(charset_converts_table);
	AG_TEST_RUN(charset_pieces_do_not_matter);
	AG_TEST_RUN(charset_counts_and_drops);
	AG_TEST_RUN(charset_cap_never_splits_a_character);
	AG_TEST_RUN(charset_output_grows);
	return ag_test_summary();
}
