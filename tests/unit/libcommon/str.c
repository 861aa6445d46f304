/* Tests libcommon/src/str.c: bounded copy, hex digits, int64 parsing. */
#include "aegis/str.h"
#include "test.h"

static void copy_truncates_and_terminates(void)
{
	char buf[6];
	AG_CHECK_STR(ag_str_copy(buf, sizeof buf, "abc"), "abc");
	AG_CHECK_STR(ag_str_copy(buf, sizeof buf, "abcdefgh"), "abcde");
	AG_CHECK_STR(ag_str_copy(buf, sizeof buf, NULL), "");
	AG_CHECK_STR(ag_str_copy(buf, 1, "x"), "");
}

static void hexval_accepts_both_cases_only(void)
{
	static const struct {
		char c;
		int want;
	} cases[] = {{'0', 0}, {'9', 9}, {'a', 10}, {'F', 15}, {'g', -1}, {'G', -1}, {' ', -1}, {'\0', -1}};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		AG_CHECK_INT(ag_str_hexval(cases[i].c), cases[i].want);
}

static void to_i64_falls_back_on_junk(void)
{
	AG_CHECK_INT(ag_str_to_i64("1795371641000", -1), 1795371641000LL);
	AG_CHECK_INT(ag_str_to_i64("-7", 0), -7);
	AG_CHECK_INT(ag_str_to_i64("12x", -1), -1);
	AG_CHECK_INT(ag_str_to_i64("", -1), -1);
	AG_CHECK_INT(ag_str_to_i64(NULL, 42), 42);
	AG_CHECK_INT(ag_str_to_i64("99999999999999999999", -1), -1);
}

static void utf8_len_accepts_only_well_formed_sequences(void)
{
	const unsigned char *u = (const unsigned char *)"a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";
	AG_CHECK_INT((long long)ag_utf8_len(u, 1), 1);                                         /* a */
	AG_CHECK_INT((long long)ag_utf8_len(u + 1, 2), 2);                                     /* é */
	AG_CHECK_INT((long long)ag_utf8_len(u + 3, 3), 3);                                     /* € */
	AG_CHECK_INT((long long)ag_utf8_len(u + 6, 4), 4);                                     /* U+1F600 */
	AG_CHECK_INT((long long)ag_utf8_len(u + 6, 3), 0);                                     /* cut short */
	AG_CHECK_INT((long long)ag_utf8_len((const unsigned char *)"\xc0\xaf", 2), 0);         /* overlong */
	AG_CHECK_INT((long long)ag_utf8_len((const unsigned char *)"\xed\xa0\x80", 3), 0);     /* surrogate */
	AG_CHECK_INT((long long)ag_utf8_len((const unsigned char *)"\xf4\x90\x80\x80", 4), 0); /* > U+10FFFF */
	AG_CHECK_INT((long long)ag_utf8_len((const unsigned char *)"\xc3\x28", 2), 0);         /* bad continuation */
	AG_CHECK_INT((long long)ag_utf8_len((const unsigned char *)"\x80", 1), 0);             /* lone continuation */
}

int main(void)
{
	AG_TEST_RUN(copy_truncates_and_terminates);
	AG_TEST_RUN(hexval_accepts_both_cases_only);
	AG_TEST_RUN(to_i64_falls_back_on_junk);
	AG_TEST_RUN(utf8_len_accepts_only_well_formed_sequences);
	return ag_test_summary();
}
