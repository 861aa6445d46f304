/*
 * jwt.c - compact JWS tokens signed with Ed25519 ("EdDSA"), issued and
 * checked as jwt.h describes.
 *
 * Verification is a fixed sequence, each step bounded and fail-closed:
 * size cap -> exactly three non-empty base64url parts (canonical, no
 * padding) -> header is a JSON object whose alg is in the allow-list, typ
 * (if any) is JWT, no crit, kid present -> key by kid -> signature ->
 * payload is a JSON object -> claims. The token's alg never chooses the
 * verification method: there is only one, and a header naming anything
 * else is refused before any key is looked at. Signature checks are
 * libsodium's (constant-time); nothing else compared here is secret.
 */
#include "aegis/jwt.h"

#include "aegis/limits.h"

#include <jansson.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define JWT_ALG        "EdDSA"
#define JWT_TYP        "JWT"
#define JWT_B64        sodium_base64_VARIANT_URLSAFE_NO_PADDING
#define JWT_MAX_SKEW_S 300 /* the leeway a caller may ask for; RFC 7519 says "a few minutes" at most */
/* `now` must leave room for +-skew arithmetic without overflow. */
#define JWT_MAX_NOW (INT64_MAX / 2)

/* Algorithms accepted in a header. Only EdDSA is implemented; keep the list and the verifier in step. */
static const char *const jwt_algs[] = {JWT_ALG};

typedef struct jwt_parts {
	const char *header, *payload, *sig; /* pointers into the token */
	size_t header_len, payload_len, sig_len;
} jwt_parts;

static ag_status jwt_init(ag_err *err)
{
	if (sodium_init() < 0)
		return ag_err_set(err, AG_E_INTERNAL, "libsodium failed to initialise");
	return AG_OK;
}

static bool jwt_b64_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/*
 * Split into exactly three non-empty dot-separated parts of base64url characters, within AG_JWT_MAX_BYTES.
 * The alphabet is checked here because libsodium 1.0.18's decoder maps some bytes >= 0x80 onto valid
 * digits (0xff decodes like '_'), which would make distinct tokens verify alike.
 */
static ag_status jwt_split(const char *token, jwt_parts *pt, ag_err *err)
{
	if (!token)
		return ag_err_set(err, AG_E_AUTH, "no token");
	size_t len = strnlen(token, AG_JWT_MAX_BYTES + 1);
	if (len > AG_JWT_MAX_BYTES)
		return ag_err_set(err, AG_E_AUTH, "token is longer than %d bytes", AG_JWT_MAX_BYTES);
	for (size_t i = 0; i < len; i++)
		if (token[i] != '.' && !jwt_b64_char((unsigned char)token[i]))
			return ag_err_set(err, AG_E_AUTH, "token has a character outside base64url");
	const char *d1 = memchr(token, '.', len);
	const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token)) : NULL;
	if (!d1 || !d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - token)))
		return ag_err_set(err, AG_E_AUTH, "token must have exactly three parts");
	pt->header = token;
	pt->header_len = (size_t)(d1 - token);
	pt->payload = d1 + 1;
	pt->payload_len = (size_t)(d2 - pt->payload);
	pt->sig = d2 + 1;
	pt->sig_len = len - (size_t)(pt->sig - token);
	if (!pt->header_len || !pt->payload_len || !pt->sig_len)
		return ag_err_set(err, AG_E_AUTH, "token has an empty part");
	return AG_OK;
}

/* Decode canonical unpadded base64url into buf (cap bytes); the whole input must be consumed. */
static bool jwt_b64_decode(const char *b64, size_t len, unsigned char *buf, size_t cap, size_t *out_len)
{
	const char *end = NULL;
	if (sodium_base642bin(buf, cap, b64, len, NULL, out_len, &end, JWT_B64) != 0)
		return false;
	return end == b64 + len;
}

/* Decode a base64url part holding a JSON object; *out is the caller's (json_decref). */
static ag_status jwt_json_part(const char *b64, size_t len, const char *what, json_t **out, ag_err *err)
{
	ag_status st = AG_E_AUTH;
	size_t cap = len / 4 * 3 + 3, n = 0;
	unsigned char *buf = malloc(cap);
	json_t *j = NULL;
	*out = NULL;
	if (!buf) {
		st = ag_err_set(err, AG_E_NOMEM, "out of memory decoding the token %s", what);
		goto out;
	}
	if (!jwt_b64_decode(b64, len, buf, cap, &n)) {
		ag_err_set(err, AG_E_AUTH, "token %s is not base64url", what);
		goto out;
	}
	json_error_t jerr;
	j = json_loadb((const char *)buf, n, JSON_REJECT_DUPLICATES, &jerr);
	if (!j || !json_is_object(j)) {
		ag_err_set(err, AG_E_AUTH, "token %s is not a JSON object", what);
		goto out;
	}
	*out = j;
	j = NULL;
	st = AG_OK;
out:
	json_decref(j);
	free(buf);
	return st;
}

static bool jwt_alg_allowed(const char *alg)
{
	for (size_t i = 0; i < sizeof jwt_algs / sizeof jwt_algs[0]; i++)
		if (strcmp(alg, jwt_algs[i]) == 0)
			return true;
	return false;
}

/* Check the header and return its kid. Everything here happens before any key is consulted. */
static ag_status jwt_header(const jwt_parts *pt, char kid[AG_JWT_KID_MAX], ag_err *err)
{
	json_t *h = NULL;
	ag_status st = jwt_json_part(pt->header, pt->header_len, "header", &h, err);
	if (st != AG_OK)
		return st;
	st = AG_E_AUTH;
	const char *alg = json_string_value(json_object_get(h, "alg"));
	if (!alg) {
		ag_err_set(err, st, "token header has no alg");
		goto out;
	}
	if (!jwt_alg_allowed(alg)) {
		ag_err_set(err, st, "token algorithm is not allowed");
		goto out;
	}
	json_t *typ = json_object_get(h, "typ");
	if (typ && (!json_is_string(typ) || strcasecmp(json_string_value(typ), JWT_TYP) != 0)) {
		ag_err_set(err, st, "token typ is not JWT");
		goto out;
	}
	/* RFC 7515 4.1.11: extensions we do not understand must make the token invalid. */
	if (json_object_get(h, "crit")) {
		ag_err_set(err, st, "token header has critical extensions");
		goto out;
	}
	json_t *k = json_object_get(h, "kid");
	if (!json_is_string(k) || json_string_length(k) == 0 || json_string_length(k) >= AG_JWT_KID_MAX) {
		ag_err_set(err, st, "token header needs a kid of 1 to %d bytes", AG_JWT_KID_MAX - 1);
		goto out;
	}
	memcpy(kid, json_string_value(k), json_string_length(k) + 1);
	st = AG_OK;
out:
	json_decref(h);
	return st;
}

/* Optional string claim copied into buf; absent leaves "" (or fails when required). */
static ag_status jwt_claim_str(json_t *c, const char *name, bool required, char *buf, size_t bufsz, ag_err *err)
{
	json_t *v = json_object_get(c, name);
	buf[0] = '\0';
	if (!v) {
		if (required)
			return ag_err_set(err, AG_E_AUTH, "token has no %s claim", name);
		return AG_OK;
	}
	if (!json_is_string(v) || json_string_length(v) >= bufsz || (required && json_string_length(v) == 0))
		return ag_err_set(err, AG_E_AUTH, "token %s claim must be a string of 1 to %zu bytes", name, bufsz - 1);
	memcpy(buf, json_string_value(v), json_string_length(v) + 1);
	return AG_OK;
}

/* NumericDate claim: a non-negative integer number of seconds. */
static ag_status jwt_claim_time(json_t *c, const char *name, bool required, int64_t *out, bool *present, ag_err *err)
{
	json_t *v = json_object_get(c, name);
	*present = v != NULL;
	*out = 0;
	if (!v)
		return required ? ag_err_set(err, AG_E_AUTH, "token has no %s claim", name) : AG_OK;
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return ag_err_set(err, AG_E_AUTH, "token %s claim must be a non-negative whole number", name);
	*out = (int64_t)json_integer_value(v);
	return AG_OK;
}

static bool jwt_aud_matches(json_t *v, const char *aud)
{
	if (json_is_string(v))
		return strcmp(json_string_value(v), aud) == 0;
	if (!json_is_array(v))
		return false;
	bool found = false;
	size_t i;
	json_t *e;
	json_array_foreach(v, i, e)
	{
		if (!json_is_string(e))
			return false; /* a malformed audience list is not "contains ours" */
		if (strcmp(json_string_value(e), aud) == 0)
			found = true;
	}
	return found;
}

static ag_status jwt_claims(json_t *c, const char *iss, const char *aud, int64_t now, int64_t skew, ag_jwt_claims *out,
                            ag_err *err)
{
	ag_status st;
	bool has;
	if ((st = jwt_claim_str(c, "iss", true, out->iss, sizeof out->iss, err)) != AG_OK)
		return st;
	if (strcmp(out->iss, iss) != 0)
		return ag_err_set(err, AG_E_AUTH, "token issuer is not accepted here");
	if (!jwt_aud_matches(json_object_get(c, "aud"), aud))
		return ag_err_set(err, AG_E_AUTH, "token audience does not include this API");
	if (strlen(aud) >= sizeof out->aud)
		return ag_err_set(err, AG_E_AUTH, "configured audience is too long");
	memcpy(out->aud, aud, strlen(aud) + 1);
	if ((st = jwt_claim_time(c, "exp", true, &out->exp, &has, err)) != AG_OK)
		return st;
	if (out->exp <= now - skew)
		return ag_err_set(err, AG_E_AUTH, "token has expired");
	if ((st = jwt_claim_time(c, "nbf", false, &out->nbf, &has, err)) != AG_OK)
		return st;
	if (has && out->nbf > now + skew)
		return ag_err_set(err, AG_E_AUTH, "token is not valid yet");
	if ((st = jwt_claim_time(c, "iat", false, &out->iat, &has, err)) != AG_OK)
		return st;
	if (has && out->iat > now + skew)
		return ag_err_set(err, AG_E_AUTH, "token was issued in the future");
	if ((st = jwt_claim_str(c, "sub", true, out->sub, sizeof out->sub, err)) != AG_OK)
		return st;
	if ((st = jwt_claim_str(c, "role", false, out->role, sizeof out->role, err)) != AG_OK)
		return st;
	if ((st = jwt_claim_str(c, "email", false, out->email, sizeof out->email, err)) != AG_OK)
		return st;
	return jwt_claim_str(c, "jti", false, out->jti, sizeof out->jti, err);
}

ag_status ag_jwt_peek_kid(const char *token, char kid[AG_JWT_KID_MAX], ag_err *err)
{
	jwt_parts pt;
	ag_status st = jwt_split(token, &pt, err);
	if (st != AG_OK)
		return st;
	return jwt_header(&pt, kid, err);
}

ag_status ag_jwt_verify(const char *token, const ag_jwk *keys, size_t nkeys, const char *iss, const char *aud,
                        int64_t now, int skew_s, ag_jwt_claims *out, ag_err *err)
{
	ag_status st;
	json_t *payload = NULL;
	jwt_parts pt;
	char kid[AG_JWT_KID_MAX];
	unsigned char sig[crypto_sign_BYTES + 1];
	size_t sig_len = 0;
	const ag_jwk *key = NULL;

	if (out)
		memset(out, 0, sizeof *out);
	if (!out || !iss || !*iss || !aud || !*aud || (nkeys && !keys) || now < 0 || now > JWT_MAX_NOW)
		return ag_err_set(err, AG_E_INVAL, "ag_jwt_verify: bad arguments");
	int64_t skew = skew_s < 0 ? 0 : skew_s > JWT_MAX_SKEW_S ? JWT_MAX_SKEW_S : skew_s;
	if ((st = jwt_init(err)) != AG_OK)
		return st;
	if ((st = jwt_split(token, &pt, err)) != AG_OK)
		return st;
	if ((st = jwt_header(&pt, kid, err)) != AG_OK)
		return st;
	for (size_t i = 0; i < nkeys && !key; i++)
		if (strncmp(keys[i].kid, kid, AG_JWT_KID_MAX) == 0)
			key = &keys[i];
	if (!key)
		return ag_err_set(err, AG_E_NOTFOUND, "token signing key is not known");
	if (!jwt_b64_decode(pt.sig, pt.sig_len, sig, sizeof sig, &sig_len) || sig_len != crypto_sign_BYTES)
		return ag_err_set(err, AG_E_AUTH, "token signature is malformed");
	size_t signed_len = pt.header_len + 1 + pt.payload_len;
	if (crypto_sign_verify_detached(sig, (const unsigned char *)token, signed_len, key->pub) != 0)
		return ag_err_set(err, AG_E_AUTH, "token signature is not valid");
	/* Only a payload we signed (or a trusted issuer signed) is parsed. */
	if ((st = jwt_json_part(pt.payload, pt.payload_len, "payload", &payload, err)) != AG_OK)
		return st;
	st = jwt_claims(payload, iss, aud, now, skew, out, err);
	json_decref(payload);
	if (st != AG_OK)
		memset(out, 0, sizeof *out);
	return st;
}

/* base64url of data, appended at buf[*pos]; buf has room (checked by the caller's length sum). */
static void jwt_b64_append(char *buf, size_t cap, size_t *pos, const unsigned char *data, size_t len)
{
	sodium_bin2base64(buf + *pos, cap - *pos, data, len, JWT_B64);
	*pos += strlen(buf + *pos);
}

static int jwt_set_str(json_t *o, const char *name, const char *v, bool always)
{
	if (!always && (!v || !*v))
		return 0;
	return json_object_set_new(o, name, json_string(v));
}

ag_status ag_jwt_sign(const ag_jwt_claims *claims, const char *kid, const unsigned char sk[AG_JWT_ED25519_SK],
                      char **out, ag_err *err)
{
	ag_status st;
	json_t *h = NULL, *c = NULL;
	char *hs = NULL, *cs = NULL, *tok = NULL;
	unsigned char sig[crypto_sign_BYTES];

	if (out)
		*out = NULL;
	if (!claims || !kid || !*kid || strlen(kid) >= AG_JWT_KID_MAX || !sk || !out || !claims->sub[0] ||
	    !claims->iss[0] || !claims->aud[0])
		return ag_err_set(err, AG_E_INVAL, "ag_jwt_sign: kid, sub, iss and aud are required");
	if ((st = jwt_init(err)) != AG_OK)
		return st;
	st = AG_E_NOMEM;
	h = json_object();
	c = json_object();
	if (!h || !c)
		goto nomem;
	if (json_object_set_new(h, "alg", json_string(JWT_ALG)) ||
	    json_object_set_new(h, "typ", json_string(JWT_TYP)) || json_object_set_new(h, "kid", json_string(kid))) {
		st = ag_err_set(err, AG_E_INVAL, "ag_jwt_sign: kid must be UTF-8 text");
		goto out;
	}
	if (jwt_set_str(c, "iss", claims->iss, true) || jwt_set_str(c, "sub", claims->sub, true) ||
	    jwt_set_str(c, "aud", claims->aud, true) || jwt_set_str(c, "role", claims->role, false) ||
	    jwt_set_str(c, "email", claims->email, false) || jwt_set_str(c, "jti", claims->jti, false)) {
		st = ag_err_set(err, AG_E_INVAL, "ag_jwt_sign: claims must be UTF-8 text");
		goto out;
	}
	if (json_object_set_new(c, "iat", json_integer(claims->iat)) ||
	    json_object_set_new(c, "nbf", json_integer(claims->nbf)) ||
	    json_object_set_new(c, "exp", json_integer(claims->exp)))
		goto nomem;
	hs = json_dumps(h, JSON_COMPACT);
	cs = json_dumps(c, JSON_COMPACT);
	if (!hs || !cs)
		goto nomem;
	size_t hl = strlen(hs), cl = strlen(cs);
	/* Each *_ENCODED_LEN counts a NUL; two of those three bytes hold the dots. */
	size_t cap = sodium_base64_ENCODED_LEN(hl, JWT_B64) + sodium_base64_ENCODED_LEN(cl, JWT_B64) +
	             sodium_base64_ENCODED_LEN(sizeof sig, JWT_B64);
	if (cap - 1 > AG_JWT_MAX_BYTES) {
		st = ag_err_set(err, AG_E_TOOBIG, "token would exceed %d bytes", AG_JWT_MAX_BYTES);
		goto out;
	}
	tok = malloc(cap);
	if (!tok)
		goto nomem;
	size_t pos = 0;
	jwt_b64_append(tok, cap, &pos, (const unsigned char *)hs, hl);
	tok[pos++] = '.';
	jwt_b64_append(tok, cap, &pos, (const unsigned char *)cs, cl);
	crypto_sign_detached(sig, NULL, (const unsigned char *)tok, pos, sk);
	tok[pos++] = '.';
	jwt_b64_append(tok, cap, &pos, sig, sizeof sig);
	*out = tok;
	tok = NULL;
	st = AG_OK;
	goto out;
nomem:
	st = ag_err_set(err, AG_E_NOMEM, "out of memory signing a token");
out:
	free(tok);
	free(hs);
	free(cs);
	json_decref(h);
	json_decref(c);
	return st;
}
