/*
 * webhook.c - tests of libcommon/src/webhook.c: the URL rule, which
 * addresses count as private, the secret's shape and the signature (checked
 * against Python's hmac, as a receiver would compute it).
 */
#include "aegis/webhook.h"
#include "test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sodium.h>

static bool v4_private(const char *ip)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	inet_pton(AF_INET, ip, &a.sin_addr);
	return ag_webhook_addr_private((const struct sockaddr *)&a);
}

static bool v6_private(const char *ip)
{
	struct sockaddr_in6 a = {.sin6_family = AF_INET6};
	inet_pton(AF_INET6, ip, &a.sin6_addr);
	return ag_webhook_addr_private((const struct sockaddr *)&a);
}

static void private_addresses_are_recognised(void)
{
	static const char *const priv4[] = {"127.0.0.1",      "10.1.2.3",    "172.16.0.1",
	                                    "172.31.255.255", "192.168.1.1", "169.254.169.254",
	                                    "0.0.0.0",        "100.64.0.1",  "224.0.0.1"};
	for (size_t i = 0; i < sizeof priv4 / sizeof priv4[0]; i++)
		if (!v4_private(priv4[i])) {
			fprintf(stderr, "  %s should be private\n", priv4[i]);
			AG_CHECK(false);
		}
	AG_CHECK(!v4_private("8.8.8.8"));
	AG_CHECK(!v4_private("172.32.0.1"));
	AG_CHECK(!v4_private("93.184.216.34"));
	AG_CHECK(v6_private("::1"));
	AG_CHECK(v6_private("::"));
	AG_CHECK(v6_private("fe80::1"));
	AG_CHECK(v6_private("fd00::1"));
	AG_CHECK(v6_private("::ffff:127.0.0.1"));
	AG_CHECK(v6_private("::ffff:10.0.0.1"));
	AG_CHECK(!v6_private("2606:4700::1111"));
	AG_CHECK(!v6_private("::ffff:8.8.8.8"));
}

static void urls_are_checked(void)
{
	ag_err e;
	static const char *const bad[] = {
	        "ftp://example.com/x", "file:///etc/passwd", "http://user:pw@example.com/", "not a url", "", "http://",
	        "gopher://127.0.0.1/"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		ag_err_clear(&e);
		if (ag_webhook_url_check(bad[i], true, &e) != AG_E_INVAL) {
			fprintf(stderr, "  \"%s\" should be refused\n", bad[i]);
			AG_CHECK(false);
		}
	}
	ag_err_clear(&e);
	AG_CHECK_INT(ag_webhook_url_check("http://127.0.0.1:9/hook", true, &e), AG_OK);
	ag_err_clear(&e);
	AG_CHECK_INT(ag_webhook_url_check("https://[::1]/hook", true, &e), AG_OK);
	/* without the allowance, loopback and private literals are refused (no DNS involved) */
	ag_err_clear(&e);
	AG_CHECK_INT(ag_webhook_url_check("http://127.0.0.1:9/hook", false, &e), AG_E_INVAL);
	AG_CHECK(strstr(e.msg, "private") != NULL);
	ag_err_clear(&e);
	AG_CHECK_INT(ag_webhook_url_check("http://[::1]/hook", false, &e), AG_E_INVAL);
	ag_err_clear(&e);
	AG_CHECK_INT(ag_webhook_url_check("http://169.254.169.254/latest/meta-data", false, &e), AG_E_INVAL);
	ag_err_clear(&e);
	AG_CHECK_INT(ag_webhook_url_check("http://8.8.8.8/hook", false, &e), AG_OK);
}

static void secrets_are_random_hex(void)
{
	char a[AG_WEBHOOK_SECRET_LEN + 1], b[AG_WEBHOOK_SECRET_LEN + 1];
	ag_webhook_secret_new(a);
	ag_webhook_secret_new(b);
	AG_CHECK_INT(strlen(a), AG_WEBHOOK_SECRET_LEN);
	AG_CHECK_INT(strspn(a, "0123456789abcdef"), AG_WEBHOOK_SECRET_LEN);
	AG_CHECK(strcmp(a, b) != 0);
}

static void signature_matches_a_receivers_hmac(void)
{
	char sig[AG_WEBHOOK_SIGNATURE_MAX];
	static const char body[] = "{\"event\":\"job.succeeded\"}";
	ag_webhook_sign("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", 1700000000, body,
	                sizeof body - 1, sig);
	/* python3: hmac.new(secret, b"1700000000." + body, hashlib.sha256).hexdigest() */
	AG_CHECK_STR(sig, "t=1700000000,v1=6e5c7ae4ebfa36f7447e6cb7a8b73a56b121812914cd9ea4c92ab844880eafcd");
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	AG_TEST_RUN(private_addresses_are_recognised);
	AG_TEST_RUN(urls_are_checked);
	AG_TEST_RUN(secrets_are_random_hex);
	AG_TEST_RUN(signature_matches_a_receivers_hmac);
	return ag_test_summary();
}
