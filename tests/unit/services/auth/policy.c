/* Tests services/auth/policy.c: email normalisation and the password policy, as a user meets them. */
#include "../../../../services/auth/policy.c"

#include "test.h"

#include <stdlib.h>

static void email_is_trimmed_and_lower_cased(void)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
	        {"ada@example.org", "ada@example.org"},
	        {"  Ada.Lovelace@Example.ORG \t\r\n", "ada.lovelace@example.org"},
	        {"\tX+tag@Sub.Example.co.uk", "x+tag@sub.example.co.uk"},
	        {"o'brien@example.ie", "o'brien@example.ie"},
	        {"JÖRG@Example.de", "jÖrg@example.de"}, /* only ASCII letters change case */
	        {"a@b.c", "a@b.c"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char out[POLICY_EMAIL_BUF];
		const char *why = policy_email_normalize(cases[i].in, out);
		if (why)
			fprintf(stderr, "  \"%s\": %s\n", cases[i].in, why);
		AG_CHECK(why == NULL);
		AG_CHECK_STR(out, cases[i].want);
	}
}

static void bad_emails_get_a_clear_sentence(void)
{
	static const struct {
		const char *in, *why;
	} cases[] = {
	        {"", "email is required"},
	        {"   \t ", "email is required"},
	        {"ada.example.org", "email must contain exactly one @"},
	        {"ada@@example.org", "email must contain exactly one @"},
	        {"ada@home@example.org", "email must contain exactly one @"},
	        {"@example.org", "email needs a name before the @"},
	        {"ada@", "email needs a domain with a dot after the @, like example.org"},
	        {"ada@localhost", "email needs a domain with a dot after the @, like example.org"},
	        {"ada@.example.org", "email needs a domain with a dot after the @, like example.org"},
	        {"ada@example.org.", "email needs a domain with a dot after the @, like example.org"},
	        {"ada@example..org", "email needs a domain with a dot after the @, like example.org"},
	        {"ada lovelace@example.org", "email must not contain spaces or control characters"},
	        {"ada@exa\tmple.org", "email must not contain spaces or control characters"},
	        {"ada\x01@example.org", "email must not contain spaces or control characters"},
	        {"ada\x7f@example.org", "email must not contain spaces or control characters"},
	        {"ada\xc2\xa0@example.org", "email must not contain spaces or control characters"},     /* NBSP */
	        {"ada\xe2\x80\x8b@example.org", "email must not contain spaces or control characters"}, /* ZWSP */
	        {"ada\xff@example.org", "email must be valid UTF-8 text"},
	        {"ada\xc0\xaf@example.org", "email must be valid UTF-8 text"},     /* overlong */
	        {"ada\xed\xa0\x80@example.org", "email must be valid UTF-8 text"}, /* surrogate */
	        {"ada\xe2\x80@example.org", "email must be valid UTF-8 text"},     /* truncated */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char out[POLICY_EMAIL_BUF];
		const char *why = policy_email_normalize(cases[i].in, out);
		AG_CHECK_STR(why, cases[i].why);
		AG_CHECK_STR(out, "");
	}
	char out[POLICY_EMAIL_BUF];
	AG_CHECK_STR(policy_email_normalize(NULL, out), "email is required");
}

static void email_length_limits(void)
{
	char in[2048], out[POLICY_EMAIL_BUF];
	/* exactly 254 bytes: 64-byte local part, domain of 189 bytes */
	memset(in, 'a', 64);
	in[64] = '@';
	memset(in + 65, 'b', 185);
	memcpy(in + 250, ".org", 5);
	AG_CHECK_INT(strlen(in), 254);
	AG_CHECK(policy_email_normalize(in, out) == NULL);
	AG_CHECK_INT(strlen(out), 254);
	/* surrounding whitespace does not count */
	char padded[2048];
	memcpy(padded, "   ", 3);
	memcpy(padded + 3, in, 254);
	memcpy(padded + 257, " \t ", 4);
	AG_CHECK(policy_email_normalize(padded, out) == NULL);
	/* 255 bytes */
	memset(in + 65, 'b', 186);
	memcpy(in + 251, ".org", 5);
	AG_CHECK_STR(policy_email_normalize(in, out), "email must be at most 254 bytes");
	/* a 65-byte local part */
	memset(in, 'a', 65);
	memcpy(in + 65, "@example.org", 13);
	AG_CHECK_STR(policy_email_normalize(in, out), "the part of the email before the @ must be at most 64 bytes");
	/* megabytes of input are refused without trouble */
	size_t big = 1 << 20;
	char *huge = malloc(big + 1);
	AG_CHECK(huge != NULL);
	if (huge) {
		memset(huge, 'a', big);
		huge[big] = '\0';
		AG_CHECK_STR(policy_email_normalize(huge, out), "email must be at most 254 bytes");
		memset(huge, ' ', big);
		AG_CHECK_STR(policy_email_normalize(huge, out), "email must be at most 254 bytes");
		free(huge);
	}
}

static void password_policy(void)
{
	static const struct {
		const char *pw, *why;
	} cases[] = {
	        {"correct horse battery staple", NULL},
	        {"0123456789", NULL}, /* exactly 10 */
	        {"ab", "password must be at least 10 characters"},
	        {"123456789", "password must be at least 10 characters"},
	        /* 9 code points but 18 bytes: characters count, not bytes */
	        {"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa1",
	         "password must be at least 10 characters"},
	        {"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa1\xc3\xa1", NULL},
	        {"aaaaaaaaaaaaaaaa", "password must not be a single character repeated"},
	        {"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9",
	         "password must not be a single character repeated"},
	        {"          ", "password must not be a single character repeated"},
	        {"  spaces are fine  ", NULL},
	        {"", "password is required"},
	        {"abcdefghij\xff", "password must be valid UTF-8 text"},
	        {"abcdefghij\xed\xb0\x80", "password must be valid UTF-8 text"},
	        {"abcdefghij\xf4\x90\x80\x80", "password must be valid UTF-8 text"}, /* > U+10FFFF */
	        {"abcdefghij\xf0\x9f\x94\x91", NULL},                                /* an emoji is a character */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *why = policy_password_check(cases[i].pw);
		if (cases[i].why)
			AG_CHECK_STR(why, cases[i].why);
		else if (why)
			AG_CHECK_STR(why, "(accepted)");
	}
	AG_CHECK_STR(policy_password_check(NULL), "password is required");
	char pw[AG_PASSWORD_MAX_BYTES + 2];
	for (size_t i = 0; i < sizeof pw - 1; i++)
		pw[i] = (char)('a' + i % 26);
	pw[AG_PASSWORD_MAX_BYTES] = '\0';
	AG_CHECK(policy_password_check(pw) == NULL);
	pw[AG_PASSWORD_MAX_BYTES] = 'x';
	pw[AG_PASSWORD_MAX_BYTES + 1] = '\0';
	AG_CHECK_STR(policy_password_check(pw), "password must be at most 1024 bytes");
}

static void utf8_counting(void)
{
	size_t n = 0;
	AG_CHECK(policy_utf8_count("", 0, &n));
	AG_CHECK_INT(n, 0);
	AG_CHECK(policy_utf8_count("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x94\x91", 15, &n));
	AG_CHECK_INT(n, 9);
	AG_CHECK(!policy_utf8_count("\xe2\x82", 2, &n));
	AG_CHECK(!policy_utf8_count("\x80", 1, &n));
	AG_CHECK(!policy_utf8_count("\xf8\x88\x80\x80\x80", 5, &n));
	AG_CHECK(!policy_utf8_count("\xe0\x80\xaf", 3, &n)); /* overlong '/' */
}

int main(void)
{
	AG_TEST_RUN(email_is_trimmed_and_lower_cased);
	AG_TEST_RUN(bad_emails_get_a_clear_sentence);
	AG_TEST_RUN(email_length_limits);
	AG_TEST_RUN(password_policy);
	AG_TEST_RUN(utf8_counting);
	return ag_test_summary();
}
