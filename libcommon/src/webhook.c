/*
 * webhook.c - webhook URL and address rules and the signature
 * (aegis/webhook.h). URLs are parsed with libcurl's own parser, so the host
 * we check is the host libcurl will connect to.
 */
#include "aegis/webhook.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

static bool webhook_v4_private(uint32_t a) /* host byte order */
{
	static const struct {
		uint32_t net, mask;
	} nets[] = {
	        {0x00000000, 0xff000000}, /* 0.0.0.0/8 */
	        {0x0a000000, 0xff000000}, /* 10/8 */
	        {0x64400000, 0xffc00000}, /* 100.64/10 CGNAT */
	        {0x7f000000, 0xff000000}, /* loopback */
	        {0xa9fe0000, 0xffff0000}, /* link-local (cloud metadata) */
	        {0xac100000, 0xfff00000}, /* 172.16/12 */
	        {0xc0000000, 0xffffff00}, /* 192.0.0/24 */
	        {0xc0a80000, 0xffff0000}, /* 192.168/16 */
	        {0xc6120000, 0xfffe0000}, /* 198.18/15 benchmarking */
	        {0xe0000000, 0xe0000000}, /* multicast and reserved, 224/3 */
	};
	for (size_t i = 0; i < sizeof nets / sizeof nets[0]; i++)
		if ((a & nets[i].mask) == nets[i].net)
			return true;
	return false;
}

bool ag_webhook_addr_private(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return webhook_v4_private(ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr));
	if (sa->sa_family != AF_INET6)
		return true;
	const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	const uint8_t *b = a->s6_addr;
	if (IN6_IS_ADDR_V4MAPPED(a) || IN6_IS_ADDR_V4COMPAT(a)) {
		uint32_t v4 = (uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 | (uint32_t)b[14] << 8 | b[15];
		return webhook_v4_private(v4);
	}
	return IN6_IS_ADDR_UNSPECIFIED(a) || IN6_IS_ADDR_LOOPBACK(a) || IN6_IS_ADDR_LINKLOCAL(a) ||
	       IN6_IS_ADDR_SITELOCAL(a) || IN6_IS_ADDR_MULTICAST(a) || (b[0] & 0xfe) == 0xfc; /* fc00::/7 */
}

ag_status ag_webhook_url_check(const char *url, bool allow_private, ag_err *err)
{
	ag_status st = AG_E_INVAL;
	CURLU *u = NULL;
	char *scheme = NULL, *host = NULL, *user = NULL, *port = NULL;
	struct addrinfo *ai = NULL;

	if (!url || !*url || strlen(url) > AG_WEBHOOK_URL_MAX)
		return ag_err_set(err, AG_E_INVAL, "url must be 1 to %d characters", AG_WEBHOOK_URL_MAX);
	u = curl_url();
	if (!u)
		return ag_err_set(err, AG_E_NOMEM, "out of memory");
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !host[0]) {
		ag_err_set(err, AG_E_INVAL, "url is not an absolute URL with a host");
		goto out;
	}
	if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
		ag_err_set(err, AG_E_INVAL, "url must use http or https, not %s", scheme);
		goto out;
	}
	if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK) {
		ag_err_set(err, AG_E_INVAL, "url must not carry a user name or password");
		goto out;
	}
	curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT);
	if (!allow_private) {
		/* curl gives IPv6 literals in brackets; getaddrinfo wants them bare */
		char bare[256];
		size_t hl = strlen(host);
		if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']' && hl - 2 < sizeof bare) {
			memcpy(bare, host + 1, hl - 2);
			bare[hl - 2] = 0;
		} else if (hl < sizeof bare) {
			memcpy(bare, host, hl + 1);
		} else {
			ag_err_set(err, AG_E_INVAL, "url host is too long");
			goto out;
		}
		struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
		int rc = getaddrinfo(bare, port, &hints, &ai);
		if (rc != 0) {
			st = rc == EAI_AGAIN ? AG_E_UNAVAILABLE : AG_E_INVAL;
			ag_err_set(err, st, "url host %s does not resolve: %s", bare, gai_strerror(rc));
			goto out;
		}
		for (struct addrinfo *p = ai; p; p = p->ai_next) {
			if (ag_webhook_addr_private(p->ai_addr)) {
				ag_err_set(err, AG_E_INVAL,
				           "url host %s resolves to a loopback or private address, which webhooks may "
				           "not call",
				           bare);
				goto out;
			}
		}
	}
	st = AG_OK;
out:
	if (ai)
		freeaddrinfo(ai);
	curl_free(scheme);
	curl_free(host);
	curl_free(user);
	curl_free(port);
	curl_url_cleanup(u);
	return st;
}

void ag_webhook_secret_new(char out[AG_WEBHOOK_SECRET_LEN + 1])
{
	unsigned char key[AG_WEBHOOK_SECRET_LEN / 2];
	randombytes_buf(key, sizeof key);
	sodium_bin2hex(out, AG_WEBHOOK_SECRET_LEN + 1, key, sizeof key);
	sodium_memzero(key, sizeof key);
}

void ag_webhook_sign(const char *secret, int64_t t, const void *body, size_t len, char out[AG_WEBHOOK_SIGNATURE_MAX])
{
	unsigned char mac[crypto_auth_hmacsha256_BYTES];
	char ts[24], hex[2 * crypto_auth_hmacsha256_BYTES + 1];
	crypto_auth_hmacsha256_state s;
	snprintf(ts, sizeof ts, "%" PRId64, t);
	crypto_auth_hmacsha256_init(&s, (const unsigned char *)secret, strlen(secret));
	crypto_auth_hmacsha256_update(&s, (const unsigned char *)ts, strlen(ts));
	crypto_auth_hmacsha256_update(&s, (const unsigned char *)".", 1);
	crypto_auth_hmacsha256_update(&s, body, len);
	crypto_auth_hmacsha256_final(&s, mac);
	sodium_bin2hex(hex, sizeof hex, mac, sizeof mac);
	snprintf(out, AG_WEBHOOK_SIGNATURE_MAX, "t=%s,v1=%s", ts, hex);
}
