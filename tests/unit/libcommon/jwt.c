/*
 * Tests libcommon/src/jwt.c: EdDSA sign/verify round trip, every claim rule,
 * algorithm pinning (none, HS256, missing alg, typ, crit) before key lookup,
 * kid handling, tampering, and malformed input that must never crash.
 */
#include "aegis/jwt.h"
#include "aegis/limits.h"
#include "test.h"

#include <sodium.h>
#include <stdlib.h>

#define ISS  "aegis"
#define AUD  "aegis-api"
#define NOW  1800000000LL
#define SKEW 60

static unsigned char pk1[AG_JWT_ED25519_PK], sk1[AG_JWT_ED25519_SK];
static unsigned char pk2[AG_JWT_ED25519_PK], sk2[AG_JWT_ED25519_SK];
static ag_jwk keys[2];

static void setup(void)
{
	if (sodium_init() < 0)
		abort();
	crypto_sign_keypair(pk1, sk1);
	crypto_sign_keypair(pk2, sk2);
	snprintf(keys[0].kid, sizeof keys[0].kid, "key-one");
	memcpy(keys[0].pub, pk1, sizeof pk1);
	snprintf(keys[1].kid, sizeof keys[1].kid, "key-two");
	memcpy(keys[1].pub, pk2, sizeof pk2);
}

static ag_jwt_claims base_claims(void)
{
	ag_jwt_claims c;
	memset(&c, 0, sizeof c);
	snprintf(c.sub, sizeof c.sub, "0b6f2d3e-7c1a-4e4b-9d55-2f7d0c9e8a11");
	snprintf(c.role, sizeof c.role, "user");
	snprintf(c.email, sizeof c.email, "ada@example.org");
	snprintf(c.iss, sizeof c.iss, ISS);
	snprintf(c.aud, sizeof c.aud, AUD);
	snprintf(c.jti, sizeof c.jti, "jti-123");
	c.iat = c.nbf = NOW;
	c.exp = NOW + 900;
	return c;
}

static char *sign_claims(const ag_jwt_claims *c, const char *kid, const unsigned char *sk)
{
	char *tok = NULL;
	ag_err e;
	ag_status st = ag_jwt_sign(c, kid, sk, &tok, &e);
	if (st != AG_OK) {
		fprintf(stderr, "  sign failed: %s\n", e.msg);
		return NULL;
	}
	return tok;
}

static ag_status verify(const char *tok, ag_jwt_claims *out, ag_err *e)
{
	return ag_jwt_verify(tok, keys, 2, ISS, AUD, NOW, SKEW, out, e);
}

static void b64(const void *data, size_t len, char *buf, size_t cap)
{
	sodium_bin2base64(buf, cap, data, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

/* A token with arbitrary header and payload JSON, Ed25519-signed with `sk` (or a junk signature when NULL). */
static void craft(char *out, size_t cap, const char *header, const char *payload, const unsigned char *sk)
{
	static char h[AG_JWT_MAX_BYTES * 2], p[2048];
	char s[128];
	b64(header, strlen(header), h, sizeof h);
	b64(payload, strlen(payload), p, sizeof p);
	size_t hl = strlen(h), pl = strlen(p);
	if (hl + pl + 2 + sizeof s > cap)
		abort();
	memcpy(out, h, hl);
	out[hl] = '.';
	memcpy(out + hl + 1, p, pl + 1);
	unsigned char sig[crypto_sign_BYTES];
	if (sk)
		crypto_sign_detached(sig, NULL, (const unsigned char *)out, hl + 1 + pl, sk);
	else
		memset(sig, 0x41, sizeof sig);
	b64(sig, sizeof sig, s, sizeof s);
	out[hl + 1 + pl] = '.';
	memcpy(out + hl + pl + 2, s, strlen(s) + 1);
}

#define GOOD_PAYLOAD                                                                                     \
	"{\"iss\":\"aegis\",\"aud\":\"aegis-api\",\"sub\":\"u1\",\"iat\":1800000000,\"nbf\":1800000000," \
	"\"exp\":1800000900}"

static void round_trip_keeps_every_claim(void)
{
	ag_jwt_claims c = base_claims(), got;
	char *tok = sign_claims(&c, "key-one", sk1);
	AG_CHECK(tok != NULL);
	if (!tok)
		return;
	AG_CHECK(strlen(tok) < 1024);
	ag_err e;
	AG_CHECK_INT(verify(tok, &got, &e), AG_OK);
	AG_CHECK_STR(got.sub, c.sub);
	AG_CHECK_STR(got.role, "user");
	AG_CHECK_STR(got.email, "ada@example.org");
	AG_CHECK_STR(got.iss, ISS);
	AG_CHECK_STR(got.aud, AUD);
	AG_CHECK_STR(got.jti, "jti-123");
	AG_CHECK_INT(got.iat, NOW);
	AG_CHECK_INT(got.nbf, NOW);
	AG_CHECK_INT(got.exp, NOW + 900);
	char kid[AG_JWT_KID_MAX];
	AG_CHECK_INT(ag_jwt_peek_kid(tok, kid, &e), AG_OK);
	AG_CHECK_STR(kid, "key-one");
	free(tok);
}

static void header_is_eddsa_jwt_with_kid(void)
{
	ag_jwt_claims c = base_claims();
	char *tok = sign_claims(&c, "key-two", sk2);
	AG_CHECK(tok != NULL);
	if (!tok)
		return;
	char *dot = strchr(tok, '.');
	unsigned char hdr[256];
	size_t n = 0;
	AG_CHECK(sodium_base642bin(hdr, sizeof hdr - 1, tok, (size_t)(dot - tok), NULL, &n, NULL,
	                           sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0);
	hdr[n] = '\0';
	AG_CHECK_STR((char *)hdr, "{\"alg\":\"EdDSA\",\"typ\":\"JWT\",\"kid\":\"key-two\"}");
	/* the second key of the set verifies it */
	ag_jwt_claims got;
	AG_CHECK_INT(verify(tok, &got, NULL), AG_OK);
	free(tok);
}

static void time_claims_respect_skew(void)
{
	static const struct {
		int64_t iat, nbf, exp;
		ag_status want;
		const char *why;
	} cases[] = {
	        {NOW, NOW, NOW + 900, AG_OK, "fresh"},
	        {NOW - 1000, NOW - 1000, NOW - 30, AG_OK, "expired within skew"},
	        {NOW - 1000, NOW - 1000, NOW - SKEW, AG_E_AUTH, "expired exactly at the skew edge"},
	        {NOW - 1000, NOW - 1000, NOW - 61, AG_E_AUTH, "expired beyond skew"},
	        {NOW, NOW + 30, NOW + 900, AG_OK, "nbf within skew"},
	        {NOW, NOW + 61, NOW + 900, AG_E_AUTH, "nbf in the future"},
	        {NOW + 61, NOW, NOW + 900, AG_E_AUTH, "iat in the future"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		ag_jwt_claims c = base_claims(), got;
		c.iat = cases[i].iat;
		c.nbf = cases[i].nbf;
		c.exp = cases[i].exp;
		char *tok = sign_claims(&c, "key-one", sk1);
		ag_err e;
		ag_status st = verify(tok, &got, &e);
		if (st != cases[i].want)
			fprintf(stderr, "  case %s: %s\n", cases[i].why, e.msg);
		AG_CHECK_INT(st, cases[i].want);
		free(tok);
	}
}

static void wrong_issuer_or_audience_is_rejected(void)
{
	ag_jwt_claims c = base_claims(), got;
	char *tok = sign_claims(&c, "key-one", sk1);
	ag_err e;
	AG_CHECK_INT(ag_jwt_verify(tok, keys, 2, "other", AUD, NOW, SKEW, &got, &e), AG_E_AUTH);
	AG_CHECK(strstr(e.msg, "issuer") != NULL);
	AG_CHECK_STR(got.sub, ""); /* nothing leaks out of a rejected token */
	AG_CHECK_INT(ag_jwt_verify(tok, keys, 2, ISS, "other-api", NOW, SKEW, &got, &e), AG_E_AUTH);
	AG_CHECK(strstr(e.msg, "audience") != NULL);
	/* prefixes are not equal */
	AG_CHECK_INT(ag_jwt_verify(tok, keys, 2, "aegi", AUD, NOW, SKEW, &got, &e), AG_E_AUTH);
	AG_CHECK_INT(ag_jwt_verify(tok, keys, 2, ISS, "aegis-api2", NOW, SKEW, &got, &e), AG_E_AUTH);
	free(tok);
}

static void audience_array_must_contain_ours(void)
{
	static const char *hdr = "{\"alg\":\"EdDSA\",\"typ\":\"JWT\",\"kid\":\"key-one\"}";
	static const struct {
		const char *aud;
		ag_status want;
	} cases[] = {
	        {"[\"other\",\"aegis-api\"]", AG_OK},
	        {"[\"aegis-api\"]", AG_OK},
	        {"[\"other\",\"another\"]", AG_E_AUTH},
	        {"[]", AG_E_AUTH},
	        {"[\"aegis-api\",5]", AG_E_AUTH},
	        {"5", AG_E_AUTH},
	        {"null", AG_E_AUTH},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char payload[512], tok[2048];
		snprintf(payload, sizeof payload, "{\"iss\":\"aegis\",\"aud\":%s,\"sub\":\"u1\",\"exp\":1800000900}",
		         cases[i].aud);
		craft(tok, sizeof tok, hdr, payload, sk1);
		ag_jwt_claims got;
		ag_status st = verify(tok, &got, NULL);
		if (st != cases[i].want)
			fprintf(stderr, "  aud %s\n", cases[i].aud);
		AG_CHECK_INT(st, cases[i].want);
		if (cases[i].want == AG_OK)
			AG_CHECK_STR(got.aud, AUD);
	}
}

static void required_claims_and_types(void)
{
	static const char *hdr = "{\"alg\":\"EdDSA\",\"kid\":\"key-one\"}";
	static const struct {
		const char *payload;
		ag_status want;
	} cases[] = {
	        {"{\"iss\":\"aegis\",\"aud\":\"aegis-api\",\"sub\":\"u1\",\"exp\":1800000900}", AG_OK},
	        {"{\"iss\":\"aegis\",\"aud\":\"aegis-api\",\"sub\":\"u1\"}", AG_E_AUTH},     /* no exp */
	        {"{\"iss\":\"aegis\",\"aud\":\"aegis-api\",\"exp\":1800000900}", AG_E_AUTH}, /* no sub */
	        {"{\"iss\":\"aegis\",\"aud\":\"aegis-api\",\"sub\":\"\",\"exp\":1800000900}",
	         AG_E_AUTH},                                                              /* empty sub */
	        {"{\"aud\":\"aegis-api\",\"sub\":\"u1\",\"exp\":1800000900}", AG_E_AUTH}, /* no iss */
	        {"{\"iss\":\"aegis\",\"sub\":\"u1\",\"exp\":1800000900}", AG_E_AUTH},     /* no aud */
	        {"{\"iss\":\"aegis\",\"aud\":\"aegis-api\",\"sub\":\"u1\",\"exp\":\"1800000900\"}", AG_E_AUTH},
	        {"{\"iss\":\"aegis\",\"aud\":\"aegis-api\",\"sub\":\"u1\",\"exp\":1.8e9}", AG_E_AUTH},
	        {"{\"iss\":\"aegis\",\"aud\":\"aegis-api\",\"sub\":\"u1\",\"exp\":1800000900,\"nbf\":\"x\"}",
	         AG_E_AUTH},
	        {"{\"iss\":\"aegis\",\"aud\":\"aegis-api\",\"sub\":7,\"exp\":1800000900}", AG_E_AUTH},
	        {"{\"iss\":[\"aegis\"],\"aud\":\"aegis-api\",\"sub\":\"u1\",\"exp\":1800000900}", AG_E_AUTH},
	        {"{\"iss\":\"aegis\",\"aud\":\"aegis-api\",\"sub\":\"u1\",\"exp\":1800000900,\"role\":"
	         "\"a-role-name-far-too-long\"}",
	         AG_E_AUTH},
	        {"{\"iss\":\"aegis\",\"iss\":\"aegis\",\"aud\":\"aegis-api\",\"sub\":\"u1\",\"exp\":1800000900}",
	         AG_E_AUTH}, /* duplicate member */
	        {"[1,2,3]", AG_E_AUTH},
	        {"\"just a string\"", AG_E_AUTH},
	        {"{\"iss\":\"aegis\"", AG_E_AUTH},
	        {"{\"iss\":\"aegis\",\"aud\":\"aegis-api\",\"sub\":\"u1\",\"exp\":1800000900} trailing", AG_E_AUTH},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char tok[2048];
		craft(tok, sizeof tok, hdr, cases[i].payload, sk1);
		ag_jwt_claims got;
		ag_status st = verify(tok, &got, NULL);
		if (st != cases[i].want)
			fprintf(stderr, "  payload %s\n", cases[i].payload);
		AG_CHECK_INT(st, cases[i].want);
	}
}

static void algorithms_are_pinned_before_key_lookup(void)
{
	/* Every header here names an unknown kid too: the answer must still be AUTH, never NOTFOUND, proving
	 * the header is judged before any key is consulted. */
	static const char *hdrs[] = {
	        "{\"alg\":\"none\",\"kid\":\"nope\"}",
	        "{\"alg\":\"None\",\"kid\":\"nope\"}",
	        "{\"alg\":\"HS256\",\"kid\":\"nope\"}",
	        "{\"alg\":\"RS256\",\"kid\":\"nope\"}",
	        "{\"alg\":\"eddsa\",\"kid\":\"nope\"}",
	        "{\"alg\":\"EdDSA \",\"kid\":\"nope\"}",
	        "{\"alg\":null,\"kid\":\"nope\"}",
	        "{\"alg\":[\"EdDSA\"],\"kid\":\"nope\"}",
	        "{\"kid\":\"nope\"}",
	        "{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\",\"kid\":\"nope\"}",
	        "{\"alg\":\"EdDSA\",\"typ\":7,\"kid\":\"nope\"}",
	        "{\"alg\":\"EdDSA\",\"crit\":[\"exp\"],\"kid\":\"nope\"}",
	        "{\"alg\":\"EdDSA\",\"alg\":\"none\",\"kid\":\"nope\"}",
	};
	for (size_t i = 0; i < sizeof hdrs / sizeof hdrs[0]; i++) {
		char tok[2048];
		craft(tok, sizeof tok, hdrs[i], GOOD_PAYLOAD, sk1);
		ag_jwt_claims got;
		ag_status st = verify(tok, &got, NULL);
		if (st != AG_E_AUTH)
			fprintf(stderr, "  header %s\n", hdrs[i]);
		AG_CHECK_INT(st, AG_E_AUTH);
		char kid[AG_JWT_KID_MAX];
		AG_CHECK_INT(ag_jwt_peek_kid(tok, kid, NULL), AG_E_AUTH);
	}
	/* the classic "alg none" token: empty signature part */
	char h[256], p[512], tok[1024];
	const char *none = "{\"alg\":\"none\",\"kid\":\"key-one\"}";
	b64(none, strlen(none), h, sizeof h);
	b64(GOOD_PAYLOAD, strlen(GOOD_PAYLOAD), p, sizeof p);
	snprintf(tok, sizeof tok, "%s.%s.", h, p);
	AG_CHECK_INT(verify(tok, NULL, NULL), AG_E_INVAL);
	ag_jwt_claims got;
	AG_CHECK_INT(verify(tok, &got, NULL), AG_E_AUTH);

	/* HS256 "signed" with the public key as the HMAC secret (algorithm confusion) */
	const char *hs = "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"key-one\"}";
	b64(hs, strlen(hs), h, sizeof h);
	snprintf(tok, sizeof tok, "%s.%s", h, p);
	unsigned char mac[crypto_auth_hmacsha256_BYTES];
	crypto_auth_hmacsha256_state st;
	crypto_auth_hmacsha256_init(&st, pk1, sizeof pk1);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)tok, strlen(tok));
	crypto_auth_hmacsha256_final(&st, mac);
	char m[64];
	b64(mac, sizeof mac, m, sizeof m);
	size_t n = strlen(tok);
	snprintf(tok + n, sizeof tok - n, ".%s", m);
	ag_err e;
	AG_CHECK_INT(verify(tok, &got, &e), AG_E_AUTH);
	AG_CHECK(strstr(e.msg, "algorithm") != NULL);

	/* typ JWT in any case and no typ at all are fine */
	craft(tok, sizeof tok, "{\"alg\":\"EdDSA\",\"typ\":\"jwt\",\"kid\":\"key-one\"}", GOOD_PAYLOAD, sk1);
	AG_CHECK_INT(verify(tok, &got, NULL), AG_OK);
	craft(tok, sizeof tok, "{\"alg\":\"EdDSA\",\"kid\":\"key-one\"}", GOOD_PAYLOAD, sk1);
	AG_CHECK_INT(verify(tok, &got, NULL), AG_OK);
}

static void kid_is_required_and_must_be_known(void)
{
	char tok[2048];
	ag_jwt_claims got;
	craft(tok, sizeof tok, "{\"alg\":\"EdDSA\",\"typ\":\"JWT\"}", GOOD_PAYLOAD, sk1);
	AG_CHECK_INT(verify(tok, &got, NULL), AG_E_AUTH);
	craft(tok, sizeof tok, "{\"alg\":\"EdDSA\",\"kid\":\"\"}", GOOD_PAYLOAD, sk1);
	AG_CHECK_INT(verify(tok, &got, NULL), AG_E_AUTH);
	craft(tok, sizeof tok, "{\"alg\":\"EdDSA\",\"kid\":42}", GOOD_PAYLOAD, sk1);
	AG_CHECK_INT(verify(tok, &got, NULL), AG_E_AUTH);
	char longkid[256];
	memset(longkid, 'k', AG_JWT_KID_MAX);
	longkid[AG_JWT_KID_MAX] = '\0';
	char hdr[512];
	snprintf(hdr, sizeof hdr, "{\"alg\":\"EdDSA\",\"kid\":\"%s\"}", longkid);
	craft(tok, sizeof tok, hdr, GOOD_PAYLOAD, sk1);
	AG_CHECK_INT(verify(tok, &got, NULL), AG_E_AUTH);

	/* a well-formed token from a key we do not have: NOTFOUND, so the caller may refetch keys once */
	unsigned char pk3[32], sk3[64];
	crypto_sign_keypair(pk3, sk3);
	ag_jwt_claims c = base_claims();
	char *t = sign_claims(&c, "key-three", sk3);
	ag_err e;
	AG_CHECK_INT(verify(t, &got, &e), AG_E_NOTFOUND);
	AG_CHECK_INT(ag_jwt_verify(t, keys, 0, ISS, AUD, NOW, SKEW, &got, NULL), AG_E_NOTFOUND);
	free(t);
	/* a known kid signed by another key: AUTH */
	t = sign_claims(&c, "key-one", sk3);
	AG_CHECK_INT(verify(t, &got, NULL), AG_E_AUTH);
	free(t);
	/* key-two's token under key-one's kid */
	t = sign_claims(&c, "key-one", sk2);
	AG_CHECK_INT(verify(t, &got, NULL), AG_E_AUTH);
	free(t);
}

static void tampering_is_detected(void)
{
	ag_jwt_claims c = base_claims(), got;
	char *tok = sign_claims(&c, "key-one", sk1);
	if (!tok) {
		AG_CHECK(tok != NULL);
		return;
	}
	/* swap in a payload claiming admin, keep the signature */
	ag_jwt_claims admin = base_claims();
	snprintf(admin.role, sizeof admin.role, "admin");
	char *other = sign_claims(&admin, "key-one", sk1);
	char *d1 = strchr(tok, '.'), *d2 = strrchr(tok, '.');
	char *o1 = strchr(other, '.'), *o2 = strrchr(other, '.');
	char forged[4096];
	snprintf(forged, sizeof forged, "%.*s%.*s%s", (int)(d1 - tok), tok, (int)(o2 - o1), o1, d2);
	AG_CHECK_INT(verify(forged, &got, NULL), AG_E_AUTH);
	/* one changed character in the signature */
	snprintf(forged, sizeof forged, "%s", tok);
	size_t mid = (size_t)(d2 - tok) + 10;
	forged[mid] = forged[mid] == 'A' ? 'B' : 'A';
	AG_CHECK_INT(verify(forged, &got, NULL), AG_E_AUTH);
	/* truncated signature */
	snprintf(forged, sizeof forged, "%.*s", (int)strlen(tok) - 4, tok);
	AG_CHECK_INT(verify(forged, &got, NULL), AG_E_AUTH);
	/* every single-byte mutation anywhere is rejected and never crashes */
	unsigned mutations = 0, accepted = 0;
	size_t len = strlen(tok);
	for (size_t i = 0; i < len; i++) {
		static const char repl[] = {'A', 'z', '0', '-', '_', '.', '=', '+', '/', ' ', '\x01', '\xff'};
		for (size_t r = 0; r < sizeof repl; r++) {
			if (tok[i] == repl[r])
				continue;
			snprintf(forged, sizeof forged, "%s", tok);
			forged[i] = repl[r];
			mutations++;
			if (verify(forged, &got, NULL) == AG_OK)
				accepted++;
		}
	}
	AG_CHECK(mutations > 1000);
	AG_CHECK_INT(accepted, 0);
	free(tok);
	free(other);
}

static void malformed_input_never_crashes(void)
{
	static const struct {
		const char *tok;
		bool header_ok; /* peek_kid reads the header only */
	} bad[] = {
	        {"", false},
	        {".", false},
	        {"..", false},
	        {"abc", false},
	        {"a.b", false},
	        {"a.b.c.d", false},
	        {"a..c", false},
	        {".b.c", false},
	        {"a.b.", false},
	        {"@@@@.e30.AAAA", false},
	        {"e30=.e30.AAAA", false},   /* padding is not base64url-without-padding */
	        {"e30.e30.AAAA", false},    /* {} header: no alg */
	        {"W10.e30.AAAA", false},    /* [] header */
	        {"MTIz.e30.AAAA", false},   /* 123 header */
	        {"bnVsbA.e30.AAAA", false}, /* null header */
	        {"eyJhbGciOiJFZERTQSIsImtpZCI6ImtleS1vbmUifQ\n.e30.AAAA", false},
	        {"eyJhbGciOiJFZERTQSIsImtpZCI6ImtleS1vbmUifQ\xff.e30.AAAA", false},
	        {"eyJhbGciOiJFZERTQSIsImtpZCI6ImtleS1vbmUifQ.e30.AAAA", true}, /* short signature */
	        {"eyJhbGciOiJFZERTQSIsImtpZCI6ImtleS1vbmUifQ.e30.A", true},    /* impossible base64 length */
	        {"eyJhbGciOiJFZERTQSIsImtpZCI6ImtleS1vbmUifQ.e30.AB", true},   /* non-canonical trailing bits */
	        {"eyJhbGciOiJFZERTQSIsImtpZCI6ImtleS1vbmUifQ.e30.AA\xff",
	         false}, /* alphabet is checked for the whole token */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		ag_jwt_claims got;
		ag_err e;
		ag_status st = verify(bad[i].tok, &got, &e);
		if (st != AG_E_AUTH)
			fprintf(stderr, "  input %zu: %s\n", i, ag_status_name(st));
		AG_CHECK_INT(st, AG_E_AUTH);
		char kid[AG_JWT_KID_MAX];
		AG_CHECK_INT(ag_jwt_peek_kid(bad[i].tok, kid, NULL), bad[i].header_ok ? AG_OK : AG_E_AUTH);
	}
	ag_jwt_claims got;
	AG_CHECK_INT(verify(NULL, &got, NULL), AG_E_AUTH);

	/* a huge token is refused on size alone */
	size_t n = (size_t)AG_JWT_MAX_BYTES * 4;
	char *huge = malloc(n + 1);
	AG_CHECK(huge != NULL);
	if (!huge)
		return;
	memset(huge, 'A', n);
	huge[100] = '.';
	huge[200] = '.';
	huge[n] = '\0';
	ag_err e;
	AG_CHECK_INT(verify(huge, &got, &e), AG_E_AUTH);
	AG_CHECK(strstr(e.msg, "longer") != NULL);
	/* exactly at the limit is parsed (and fails for its content, not its size) */
	huge[AG_JWT_MAX_BYTES] = '\0';
	AG_CHECK_INT(verify(huge, &got, &e), AG_E_AUTH);
	AG_CHECK(strstr(e.msg, "longer") == NULL);
	free(huge);

	/* a big but valid-looking header (deep nesting) is bounded by the size cap and never crashes */
	char deep[AG_JWT_MAX_BYTES];
	size_t depth = 2000;
	for (size_t i = 0; i < depth; i++)
		deep[i] = '[';
	for (size_t i = 0; i < depth; i++)
		deep[depth + i] = ']';
	deep[2 * depth] = '\0';
	char tok[AG_JWT_MAX_BYTES * 2];
	craft(tok, sizeof tok, deep, GOOD_PAYLOAD, sk1);
	AG_CHECK_INT(verify(tok, &got, NULL), AG_E_AUTH);
}

static void bad_arguments_are_rejected(void)
{
	ag_jwt_claims c = base_claims(), got;
	char *tok = NULL;
	AG_CHECK_INT(ag_jwt_sign(&c, "", sk1, &tok, NULL), AG_E_INVAL);
	AG_CHECK(tok == NULL);
	ag_jwt_claims nosub = c;
	nosub.sub[0] = '\0';
	AG_CHECK_INT(ag_jwt_sign(&nosub, "key-one", sk1, &tok, NULL), AG_E_INVAL);
	ag_jwt_claims bad_utf8 = c;
	snprintf(bad_utf8.email, sizeof bad_utf8.email, "a\xff@example.org");
	AG_CHECK_INT(ag_jwt_sign(&bad_utf8, "key-one", sk1, &tok, NULL), AG_E_INVAL);
	AG_CHECK(tok == NULL);
	tok = sign_claims(&c, "key-one", sk1);
	AG_CHECK_INT(ag_jwt_verify(tok, keys, 2, "", AUD, NOW, SKEW, &got, NULL), AG_E_INVAL);
	AG_CHECK_INT(ag_jwt_verify(tok, keys, 2, ISS, NULL, NOW, SKEW, &got, NULL), AG_E_INVAL);
	AG_CHECK_INT(ag_jwt_verify(tok, NULL, 2, ISS, AUD, NOW, SKEW, &got, NULL), AG_E_INVAL);
	/* a silly skew is clamped, not honoured: a token expired an hour ago stays expired */
	ag_jwt_claims old = c;
	old.exp = NOW - 3600;
	char *t2 = sign_claims(&old, "key-one", sk1);
	AG_CHECK_INT(ag_jwt_verify(t2, keys, 2, ISS, AUD, NOW, 1000000, &got, NULL), AG_E_AUTH);
	AG_CHECK_INT(ag_jwt_verify(t2, keys, 2, ISS, AUD, NOW, -5, &got, NULL), AG_E_AUTH);
	free(t2);
	free(tok);
}

int main(void)
{
	setup();
	AG_TEST_RUN(round_trip_keeps_every_claim);
	AG_TEST_RUN(header_is_eddsa_jwt_with_kid);
	AG_TEST_RUN(time_claims_respect_skew);
	AG_TEST_RUN(wrong_issuer_or_audience_is_rejected);
	AG_TEST_RUN(audience_array_must_contain_ours);
	AG_TEST_RUN(required_claims_and_types);
	AG_TEST_RUN(algorithms_are_pinned_before_key_lookup);
	AG_TEST_RUN(kid_is_required_and_must_be_known);
	AG_TEST_RUN(tampering_is_detected);
	AG_TEST_RUN(malformed_input_never_crashes);
	AG_TEST_RUN(bad_arguments_are_rejected);
	return ag_test_summary();
}
