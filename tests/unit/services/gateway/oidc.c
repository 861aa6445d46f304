/*
 * Tests services/gateway/oidc.c without a network: configuration rules,
 * which tokens are routed to an external issuer, and that malformed or
 * disallowed tokens are refused before any key is fetched (the JWKS URL
 * points at a closed port, so a fetch would answer AG_E_UNAVAILABLE).
 * Verification against a served JWKS is covered by tests/integration/auth.sh.
 */
#include "../../../../services/gateway/oidc.c"

#include "test.h"

#define ISS "https://idp.example/realms/a"

static char *b64(const char *s)
{
	static char out[4][512];
	static int i;
	char *o = out[i++ % 4];
	sodium_bin2base64(o, 512, (const unsigned char *)s, strlen(s), OIDC_B64);
	return o;
}

static void token(char *out, size_t cap, const char *header, const char *payload)
{
	snprintf(out, cap, "%s.%s.%s", b64(header), b64(payload), b64("signature-bytes"));
}

static void configuration_rules(void)
{
	oidc *o = NULL;
	char why[256];
	AG_CHECK_INT(oidc_new(&o, "", "", "", 600, 1000, why, sizeof why), AG_OK);
	AG_CHECK(o == NULL);
	AG_CHECK_INT(oidc_new(&o, "a,b", "aud", "http://x/1", 600, 1000, why, sizeof why), AG_E_INVAL);
	AG_CHECK(strstr(why, "OIDC_JWKS_URL") != NULL);
	AG_CHECK_INT(oidc_new(&o, "a,b", "x,y,z", "http://x/1,http://x/2", 600, 1000, why, sizeof why), AG_E_INVAL);
	AG_CHECK_INT(oidc_new(&o, "a", "aud", "file:///etc/passwd", 600, 1000, why, sizeof why), AG_E_INVAL);
	AG_CHECK(strstr(why, "http(s)") != NULL);
	AG_CHECK_INT(oidc_new(&o, "a, b", "aud", "http://x/1 , https://y/2", 600, 1000, why, sizeof why), AG_OK);
	AG_CHECK(o && o->n == 2 && strcmp(o->iss[1].iss, "b") == 0 && strcmp(o->iss[1].url, "https://y/2") == 0 &&
	         strcmp(o->iss[1].aud, "aud") == 0);
	oidc_free(o);
}

static void routing_and_early_refusals(void)
{
	oidc *o = NULL;
	char why[256], t[2048];
	oidc_identity id;
	AG_CHECK_INT(oidc_new(&o, ISS, "aegis-api", "http://127.0.0.1:1/jwks", 600, 500, why, sizeof why), AG_OK);
	if (!o)
		return;
	token(t, sizeof t, "{\"alg\":\"RS256\",\"kid\":\"k\"}", "{\"iss\":\"" ISS "\",\"sub\":\"u\"}");
	AG_CHECK(oidc_claims_external(o, t));
	token(t, sizeof t, "{\"alg\":\"RS256\",\"kid\":\"k\"}", "{\"iss\":\"aegis\",\"sub\":\"u\"}");
	AG_CHECK(!oidc_claims_external(o, t));
	AG_CHECK(!oidc_claims_external(o, "not-a-token"));
	AG_CHECK(!oidc_claims_external(o, "a.b.c.d"));
	/* refused by the header alone: no fetch is tried, so the answer is AG_E_AUTH, not AG_E_UNAVAILABLE */
	static const char *const headers[] = {
	        "{\"alg\":\"none\",\"kid\":\"k\"}",
	        "{\"alg\":\"HS256\",\"kid\":\"k\"}",
	        "{\"alg\":\"EdDSA\",\"kid\":\"k\"}",
	        "{\"alg\":\"RS256\"}",
	        "{\"alg\":\"RS256\",\"kid\":\"k\",\"crit\":[\"x\"]}",
	        "{\"alg\":\"RS256\",\"kid\":\"k\",\"typ\":\"JWE\"}",
	        "[1,2]",
	};
	for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
		token(t, sizeof t, headers[i],
		      "{\"iss\":\"" ISS "\",\"sub\":\"u\",\"aud\":\"aegis-api\",\"exp\":9999999999}");
		AG_CHECK_INT(oidc_verify(o, t, (int64_t)time(NULL), &id), AG_E_AUTH);
	}
	/* an acceptable header: the keys must be fetched, and the issuer is down */
	token(t, sizeof t, "{\"alg\":\"RS256\",\"kid\":\"k\"}",
	      "{\"iss\":\"" ISS "\",\"sub\":\"u\",\"aud\":\"aegis-api\",\"exp\":9999999999}");
	AG_CHECK_INT(oidc_verify(o, t, (int64_t)time(NULL), &id), AG_E_UNAVAILABLE);
	oidc_free(o);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	AG_TEST_RUN(configuration_rules);
	AG_TEST_RUN(routing_and_early_refusals);
	return ag_test_summary();
}
