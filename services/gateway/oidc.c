/*
 * oidc.c - external issuers' tokens (oidc.h): JWKS loading with libcurl,
 * JWK -> EVP_PKEY with OpenSSL 3, RS256 / ES256 signature checks, claims.
 */
#include "oidc.h"

#include "aegis/curlbuf.h"
#include "aegis/jwt.h"
#include "aegis/limits.h"
#include "aegis/log.h"

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define OIDC_B64      sodium_base64_VARIANT_URLSAFE_NO_PADDING
#define OIDC_PART_MAX 8192 /* decoded header or payload */
#define OIDC_RSA_MIN  2048

typedef enum { OIDC_RS256, OIDC_ES256 } oidc_alg;

typedef struct oidc_key {
	char kid[AG_JWT_KID_MAX];
	oidc_alg alg;
	EVP_PKEY *pkey;
} oidc_key;

typedef struct oidc_issuer {
	char *iss, *aud, *url;
	pthread_mutex_t mu;       /* keys, loaded_at, tried_at */
	pthread_mutex_t fetch_mu; /* single-flight fetch */
	oidc_key keys[OIDC_MAX_KEYS];
	size_t nkeys;
	int64_t loaded_at, tried_at; /* monotonic seconds; 0 = never */
} oidc_issuer;

struct oidc {
	oidc_issuer iss[OIDC_MAX_ISSUERS];
	size_t n;
	int64_t ttl_s;
	int timeout_ms;
};

static int64_t oidc_mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec;
}

/* ---- configuration ---- */

/* The i-th comma-separated item of `list`, trimmed, malloc'd; NULL when absent. */
static char *oidc_item(const char *list, size_t i)
{
	const char *p = list;
	for (size_t k = 0; k < i && p; k++) {
		p = strchr(p, ',');
		if (p)
			p++;
	}
	if (!p)
		return NULL;
	const char *end = strchr(p, ',');
	if (!end)
		end = p + strlen(p);
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	return end > p ? strndup(p, (size_t)(end - p)) : NULL;
}

static size_t oidc_count(const char *list)
{
	size_t n = 0;
	if (!list || !*list)
		return 0;
	for (const char *p = list; p; p = strchr(p, ','), p = p ? p + 1 : NULL)
		n++;
	return n;
}

ag_status oidc_new(oidc **out, const char *issuers, const char *audiences, const char *jwks_urls, int64_t ttl_s,
                   int timeout_ms, char *why, size_t whylen)
{
	*out = NULL;
	size_t n = oidc_count(issuers), na = oidc_count(audiences), nu = oidc_count(jwks_urls);
	if (n == 0)
		return AG_OK;
	if (n > OIDC_MAX_ISSUERS || nu != n || (na != n && na != 1)) {
		snprintf(why, whylen,
		         "OIDC_ISSUER lists %zu issuer(s) (at most %d): OIDC_JWKS_URL must list as many and "
		         "OIDC_AUDIENCE "
		         "as many or exactly one",
		         n, OIDC_MAX_ISSUERS);
		return AG_E_INVAL;
	}
	oidc *o = calloc(1, sizeof *o);
	if (!o)
		return AG_E_NOMEM;
	o->ttl_s = ttl_s;
	o->timeout_ms = timeout_ms;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		free(o);
		snprintf(why, whylen, "libcurl could not be initialised");
		return AG_E_INTERNAL;
	}
	for (size_t i = 0; i < n; i++) {
		oidc_issuer *is = &o->iss[i];
		is->iss = oidc_item(issuers, i);
		is->aud = oidc_item(audiences, na == 1 ? 0 : i);
		is->url = oidc_item(jwks_urls, i);
		pthread_mutex_init(&is->mu, NULL);
		pthread_mutex_init(&is->fetch_mu, NULL);
		o->n++;
		if (!is->iss || !is->aud || !is->url || strlen(is->iss) > OIDC_ISS_MAX ||
		    (strncmp(is->url, "https://", 8) != 0 && strncmp(is->url, "http://", 7) != 0)) {
			snprintf(why, whylen,
			         "OIDC issuer %zu: issuer (1..%d bytes), audience and an http(s) JWKS URL are all "
			         "required",
			         i + 1, OIDC_ISS_MAX);
			oidc_free(o);
			return AG_E_INVAL;
		}
	}
	*out = o;
	return AG_OK;
}

static void oidc_keys_clear(oidc_key *keys, size_t n)
{
	for (size_t i = 0; i < n; i++)
		EVP_PKEY_free(keys[i].pkey);
}

void oidc_free(oidc *o)
{
	if (!o)
		return;
	for (size_t i = 0; i < o->n; i++) {
		oidc_issuer *is = &o->iss[i];
		oidc_keys_clear(is->keys, is->nkeys);
		pthread_mutex_destroy(&is->mu);
		pthread_mutex_destroy(&is->fetch_mu);
		free(is->iss);
		free(is->aud);
		free(is->url);
	}
	free(o);
	curl_global_cleanup();
}

/* ---- base64url and JSON parts ---- */

static bool oidc_b64(const char *in, size_t len, unsigned char *out, size_t cap, size_t *outlen)
{
	const char *end = NULL;
	for (size_t i = 0; i < len; i++) {
		char c = in[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
		      c == '_'))
			return false;
	}
	return sodium_base642bin(out, cap, in, len, NULL, outlen, &end, OIDC_B64) == 0 && end == in + len;
}

static json_t *oidc_json_part(const char *in, size_t len)
{
	unsigned char buf[OIDC_PART_MAX];
	size_t n = 0;
	json_error_t jerr;
	if (!oidc_b64(in, len, buf, sizeof buf, &n))
		return NULL;
	json_t *j = json_loadb((const char *)buf, n, JSON_REJECT_DUPLICATES, &jerr);
	if (j && !json_is_object(j)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

typedef struct oidc_parts {
	const char *h, *p, *s;
	size_t hl, pl, sl;
} oidc_parts;

static bool oidc_split(const char *token, oidc_parts *pt)
{
	size_t len = strnlen(token, AG_JWT_MAX_BYTES + 1);
	const char *d1 = memchr(token, '.', len);
	const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token)) : NULL;
	if (len > AG_JWT_MAX_BYTES || !d1 || !d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - token)))
		return false;
	pt->h = token;
	pt->hl = (size_t)(d1 - token);
	pt->p = d1 + 1;
	pt->pl = (size_t)(d2 - pt->p);
	pt->s = d2 + 1;
	pt->sl = len - (size_t)(pt->s - token);
	return pt->hl && pt->pl && pt->sl;
}

static oidc_issuer *oidc_find(oidc *o, const char *iss)
{
	for (size_t i = 0; iss && i < o->n; i++)
		if (strcmp(o->iss[i].iss, iss) == 0)
			return &o->iss[i];
	return NULL;
}

bool oidc_claims_external(oidc *o, const char *token)
{
	oidc_parts pt;
	if (!o || !oidc_split(token, &pt))
		return false;
	json_t *p = oidc_json_part(pt.p, pt.pl);
	bool ours = p && oidc_find(o, json_string_value(json_object_get(p, "iss")));
	json_decref(p);
	return ours;
}

/* ---- JWKS ---- */

static BIGNUM *oidc_bn(json_t *jwk, const char *name, size_t want)
{
	unsigned char buf[1024];
	size_t n = 0;
	const char *s = json_string_value(json_object_get(jwk, name));
	if (!s || !oidc_b64(s, strlen(s), buf, sizeof buf, &n) || n == 0 || (want && n != want))
		return NULL;
	return BN_bin2bn(buf, (int)n, NULL);
}

static EVP_PKEY *oidc_pkey_from(const char *type, OSSL_PARAM_BLD *bld)
{
	EVP_PKEY *pkey = NULL;
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		pkey = NULL;
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	return pkey;
}

/* One JWK as a key we can use, or false (skipped: other types, private keys are never used). */
static bool oidc_jwk(json_t *jwk, oidc_key *k)
{
	const char *kty = json_string_value(json_object_get(jwk, "kty"));
	const char *kid = json_string_value(json_object_get(jwk, "kid"));
	const char *use = json_string_value(json_object_get(jwk, "use"));
	const char *alg = json_string_value(json_object_get(jwk, "alg"));
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	BIGNUM *n = NULL, *e = NULL;
	bool ok = false;
	memset(k, 0, sizeof *k);
	if (!bld || !kty || !kid || strlen(kid) == 0 || strlen(kid) >= sizeof k->kid ||
	    (use && strcmp(use, "sig") != 0))
		goto out;
	memcpy(k->kid, kid, strlen(kid) + 1);
	if (strcmp(kty, "RSA") == 0 && (!alg || strcmp(alg, "RS256") == 0)) {
		k->alg = OIDC_RS256;
		n = oidc_bn(jwk, "n", 0);
		e = oidc_bn(jwk, "e", 0);
		if (!n || !e || BN_num_bits(n) < OIDC_RSA_MIN ||
		    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
		    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
			goto out;
		k->pkey = oidc_pkey_from("RSA", bld);
	} else if (strcmp(kty, "EC") == 0 && (!alg || strcmp(alg, "ES256") == 0)) {
		const char *crv = json_string_value(json_object_get(jwk, "crv"));
		const char *xs = json_string_value(json_object_get(jwk, "x"));
		const char *ys = json_string_value(json_object_get(jwk, "y"));
		unsigned char pub[65];
		size_t xl = 0, yl = 0;
		k->alg = OIDC_ES256;
		if (!crv || strcmp(crv, "P-256") != 0 || !xs || !ys || !oidc_b64(xs, strlen(xs), pub + 1, 32, &xl) ||
		    xl != 32 || !oidc_b64(ys, strlen(ys), pub + 33, 32, &yl) || yl != 32)
			goto out;
		pub[0] = 0x04;
		if (!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
		    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof pub))
			goto out;
		k->pkey = oidc_pkey_from("EC", bld);
	}
	ok = k->pkey != NULL;
out:
	BN_free(n);
	BN_free(e);
	OSSL_PARAM_BLD_free(bld);
	return ok;
}

/* Fetch and parse the issuer's JWKS into keys[] (blocking). */
static ag_status oidc_fetch(const oidc *o, const oidc_issuer *is, oidc_key keys[OIDC_MAX_KEYS], size_t *nkeys)
{
	ag_curlbuf b = {.max = OIDC_JWKS_MAX_BYTES};
	long code = 0;
	json_error_t jerr;
	json_t *root = NULL;
	ag_status st = AG_E_UNAVAILABLE;
	*nkeys = 0;
	CURL *h = curl_easy_init();
	if (!h)
		return AG_E_NOMEM;
	curl_easy_setopt(h, CURLOPT_URL, is->url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)o->timeout_ms);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, ag_curlbuf_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	CURLcode rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	if (rc != CURLE_OK || code != 200) {
		ag_log_warn("JWKS of %s from %s: %s", is->iss, is->url,
		            b.toobig         ? "larger than 1 MiB"
		            : rc != CURLE_OK ? curl_easy_strerror(rc)
		                             : "HTTP status not 200");
		goto out;
	}
	root = json_loadb(b.p ? b.p : "", b.n, 0, &jerr);
	json_t *arr = json_object_get(root, "keys");
	if (!json_is_array(arr)) {
		ag_log_warn("JWKS of %s: not a JSON object with a \"keys\" array", is->iss);
		goto out;
	}
	size_t i;
	json_t *jwk;
	json_array_foreach(arr, i, jwk)
	{
		if (*nkeys < OIDC_MAX_KEYS && oidc_jwk(jwk, &keys[*nkeys]))
			(*nkeys)++;
	}
	st = AG_OK;
out:
	json_decref(root);
	free(b.p);
	curl_easy_cleanup(h);
	return st;
}

/* Refresh the issuer's keys when stale or asked for an unknown kid, unless an attempt was made within the
 * cooldown (single flight: later callers wait for the fetch in progress, then see it). Thread pool. */
static void oidc_refresh(const oidc *o, oidc_issuer *is, bool unknown_kid)
{
	oidc_key keys[OIDC_MAX_KEYS];
	size_t n = 0;
	pthread_mutex_lock(&is->fetch_mu);
	pthread_mutex_lock(&is->mu);
	int64_t now = oidc_mono_s();
	bool stale = is->loaded_at == 0 || now - is->loaded_at >= o->ttl_s;
	/* a short TTL shortens the cooldown too: it never delays a refresh the TTL asks for */
	int64_t cool = o->ttl_s < OIDC_REFETCH_COOLDOWN_S ? o->ttl_s : OIDC_REFETCH_COOLDOWN_S;
	bool cooling = is->tried_at != 0 && now - is->tried_at < cool;
	bool go = (stale || unknown_kid) && !cooling;
	if (go)
		is->tried_at = now;
	pthread_mutex_unlock(&is->mu);
	if (go && oidc_fetch(o, is, keys, &n) == AG_OK) {
		pthread_mutex_lock(&is->mu);
		oidc_keys_clear(is->keys, is->nkeys);
		memcpy(is->keys, keys, n * sizeof keys[0]);
		is->nkeys = n;
		is->loaded_at = oidc_mono_s();
		pthread_mutex_unlock(&is->mu);
		ag_log_info("loaded %zu key(s) of OIDC issuer %s", n, is->iss);
	}
	pthread_mutex_unlock(&is->fetch_mu);
}

/* ---- verification ---- */

static bool oidc_sig_ok(EVP_PKEY *pkey, oidc_alg alg, const char *signed_part, size_t signed_len,
                        const unsigned char *sig, size_t sig_len)
{
	unsigned char der[80];
	const unsigned char *s = sig;
	size_t slen = sig_len;
	bool ok = false;
	if (alg == OIDC_ES256) { /* JWS carries r || s; OpenSSL wants DER */
		if (sig_len != 64)
			return false;
		ECDSA_SIG *es = ECDSA_SIG_new();
		BIGNUM *r = BN_bin2bn(sig, 32, NULL), *ss = BN_bin2bn(sig + 32, 32, NULL);
		if (!es || !r || !ss || !ECDSA_SIG_set0(es, r, ss)) {
			BN_free(r);
			BN_free(ss);
			ECDSA_SIG_free(es);
			return false;
		}
		unsigned char *p = der;
		int n = i2d_ECDSA_SIG(es, NULL);
		if (n > 0 && (size_t)n <= sizeof der)
			n = i2d_ECDSA_SIG(es, &p);
		ECDSA_SIG_free(es);
		if (n <= 0 || (size_t)n > sizeof der)
			return false;
		s = der;
		slen = (size_t)n;
	}
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	if (md && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pkey) == 1 &&
	    EVP_DigestVerify(md, s, slen, (const unsigned char *)signed_part, signed_len) == 1)
		ok = true;
	EVP_MD_CTX_free(md);
	return ok;
}

/* Find the key and check the signature; AG_E_NOTFOUND when the kid is not cached. */
static ag_status oidc_check_sig(oidc_issuer *is, const char *kid, oidc_alg alg, const oidc_parts *pt,
                                const unsigned char *sig, size_t sig_len)
{
	ag_status st = AG_E_NOTFOUND;
	pthread_mutex_lock(&is->mu);
	for (size_t i = 0; i < is->nkeys; i++) {
		if (strcmp(is->keys[i].kid, kid) != 0)
			continue;
		st = is->keys[i].alg == alg &&
		                     oidc_sig_ok(is->keys[i].pkey, alg, pt->h, pt->hl + 1 + pt->pl, sig, sig_len)
		             ? AG_OK
		             : AG_E_AUTH;
		break;
	}
	pthread_mutex_unlock(&is->mu);
	return st;
}

static bool oidc_aud_ok(json_t *aud, const char *want)
{
	if (json_is_string(aud))
		return strcmp(json_string_value(aud), want) == 0;
	size_t i;
	json_t *v;
	json_array_foreach(aud, i, v)
	{
		if (json_is_string(v) && strcmp(json_string_value(v), want) == 0)
			return true;
	}
	return false;
}

static bool oidc_time(json_t *p, const char *name, bool required, int64_t *out)
{
	json_t *v = json_object_get(p, name);
	if (!v)
		return !required;
	if (!json_is_integer(v) && !json_is_real(v))
		return false;
	*out = json_is_integer(v) ? (int64_t)json_integer_value(v) : (int64_t)json_real_value(v);
	return true;
}

ag_status oidc_verify(oidc *o, const char *token, int64_t now, oidc_identity *id)
{
	oidc_parts pt;
	unsigned char sig[512];
	size_t sig_len = 0;
	json_t *h = NULL, *p = NULL;
	ag_status st = AG_E_AUTH;
	memset(id, 0, sizeof *id);
	if (!oidc_split(token, &pt) || !(h = oidc_json_part(pt.h, pt.hl)) || !(p = oidc_json_part(pt.p, pt.pl)) ||
	    !oidc_b64(pt.s, pt.sl, sig, sizeof sig, &sig_len))
		goto out;
	/* header: the allow-list decides before any key is looked at */
	const char *alg = json_string_value(json_object_get(h, "alg"));
	const char *kid = json_string_value(json_object_get(h, "kid"));
	json_t *typ = json_object_get(h, "typ");
	oidc_alg a;
	if (alg && strcmp(alg, "RS256") == 0)
		a = OIDC_RS256;
	else if (alg && strcmp(alg, "ES256") == 0)
		a = OIDC_ES256;
	else
		goto out;
	if (!kid || json_object_get(h, "crit") ||
	    (typ && (!json_is_string(typ) || (strcasecmp(json_string_value(typ), "JWT") != 0 &&
	                                      strcasecmp(json_string_value(typ), "at+jwt") != 0))))
		goto out;
	oidc_issuer *is = oidc_find(o, json_string_value(json_object_get(p, "iss")));
	if (!is)
		goto out;
	oidc_refresh(o, is, false); /* first use or stale */
	st = oidc_check_sig(is, kid, a, &pt, sig, sig_len);
	if (st == AG_E_NOTFOUND) {
		oidc_refresh(o, is, true);
		st = oidc_check_sig(is, kid, a, &pt, sig, sig_len);
		if (st == AG_E_NOTFOUND) {
			pthread_mutex_lock(&is->mu);
			st = is->loaded_at == 0 ? AG_E_UNAVAILABLE : AG_E_AUTH;
			pthread_mutex_unlock(&is->mu);
		}
	}
	if (st != AG_OK)
		goto out;
	/* claims */
	st = AG_E_AUTH;
	int64_t exp = 0, nbf = 0, iat = 0;
	const char *sub = json_string_value(json_object_get(p, "sub"));
	if (!oidc_aud_ok(json_object_get(p, "aud"), is->aud) || !oidc_time(p, "exp", true, &exp) ||
	    !oidc_time(p, "nbf", false, &nbf) || !oidc_time(p, "iat", false, &iat) || exp <= now - OIDC_SKEW_S ||
	    nbf > now + OIDC_SKEW_S || iat > now + OIDC_SKEW_S || !sub || !*sub || strlen(sub) > OIDC_SUB_MAX)
		goto out;
	memcpy(id->iss, is->iss, strlen(is->iss) + 1);
	memcpy(id->sub, sub, strlen(sub) + 1);
	id->exp = exp;
	st = AG_OK;
out:
	if (st == AG_E_AUTH)
		ag_log_debug("external token rejected");
	json_decref(h);
	json_decref(p);
	return st;
}
