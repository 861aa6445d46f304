/*
 * authn.c - bearer verification with a JWKS cache fed by the auth service
 * (see authn.h for the rules). The fast path - a token signed with a cached
 * key - verifies on the loop thread (an Ed25519 check, no I/O); only a
 * cache miss goes through the thread pool to fetch keys.
 */
#include "authn.h"

#include "oidc.h"
#include "uuid.h"

#include "aegis/limits.h"
#include "aegis/log.h"
#include "aegis/v1/auth.pb-c.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define AUTHN_SUBJECT_JWKS  AG_SUBJ_AUTH_PREFIX "jwks"
#define AUTHN_ALG           "EdDSA"
#define AUTHN_RETRY_AFTER_S "2" /* seconds, on 503 while the keys cannot be loaded */

typedef struct authn_cached {
	unsigned char key[crypto_hash_sha256_BYTES];
	uint64_t until_ms; /* 0 = empty */
	ag_jwt_claims claims;
} authn_cached;

/*
 * A JWT verified lately, so that the same token is not verified again on every request (a client sends the
 * same token for many requests, and the rate-limit filter and the route both authenticate each request). Keyed
 * by the token's BLAKE2b digest; valid while the signing keys are those it was verified with (`gen`), the
 * token has not expired, and for at most AUTHN_VERIFIED_TTL_MS.
 */
typedef struct authn_verified {
	unsigned char digest[crypto_generichash_BYTES];
	uint64_t gen, at_ms; /* at_ms 0: empty */
	ag_jwt_claims claims;
} authn_verified;

struct authn {
	uv_loop_t *loop;
	ag_bus *bus;
	char *iss, *aud;
	int timeout_ms;

	/* the cache, shared by the loop and the thread pool */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	ag_jwk keys[AG_JWKS_MAX_KEYS];
	size_t nkeys;
	bool loaded;         /* a fetch succeeded at least once */
	bool fetching;       /* single flight */
	uint64_t gen;        /* bumped by every successful fetch */
	uint64_t fetched_ms; /* monotonic time of the last successful fetch */
	uint64_t attempt_ms; /* monotonic time of the last attempt, 0 = never */

	/* API keys and external identities already resolved, under mu (direct-mapped by hash) */
	int64_t cache_ms;
	authn_cached cache[AUTHN_CACHE_SLOTS];
	oidc *oidc; /* borrowed; NULL without external issuers */

	ag_bus_service *watch; /* aegis.auth.keys.changed subscription, or NULL */

	/* JWTs verified lately (loop thread only; authn_verified_*) */
	authn_verified verified[AUTHN_VERIFIED_SLOTS];

	/* background refresh (loop thread only) */
	bool bg_running;
	uint64_t bg_gen;
	uv_work_t bg;
};

/* A verification waiting on the thread pool: a key fetch (JWT), an API key or an external token. */
typedef enum { AUTHN_JWT, AUTHN_APIKEY, AUTHN_OIDC } authn_kind;

typedef struct authn_job {
	authn *a;
	authn_kind kind;
	authn_next next;
	void *ud;
	uint64_t gen;
	ag_status st;
	bool loaded;
	ag_jwt_claims claims;
	char token[AG_JWT_MAX_BYTES + 1];
} authn_job;

typedef struct authn_snapshot {
	ag_jwk keys[AG_JWKS_MAX_KEYS];
	size_t nkeys;
	bool loaded, stale;
	uint64_t gen;
} authn_snapshot;

static uint64_t authn_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

ag_status authn_new(authn **out, uv_loop_t *loop, ag_bus *bus, const char *issuer, const char *audience, int timeout_ms)
{
	authn *a = calloc(1, sizeof *a);
	pthread_condattr_t ca;
	bool ca_ok = false;
	ag_status st = AG_E_NOMEM;

	*out = NULL;
	if (!a)
		goto out;
	a->loop = loop;
	a->bus = bus;
	a->timeout_ms = timeout_ms;
	a->iss = strdup(issuer);
	a->aud = strdup(audience);
	if (!a->iss || !a->aud)
		goto out;
	st = AG_E_INTERNAL;
	if (pthread_condattr_init(&ca) != 0)
		goto out;
	ca_ok = true;
	if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 || pthread_mutex_init(&a->mu, NULL) != 0)
		goto out;
	if (pthread_cond_init(&a->cv, &ca) != 0) {
		pthread_mutex_destroy(&a->mu);
		goto out;
	}
	*out = a;
	a = NULL;
	st = AG_OK;
out:
	if (ca_ok)
		pthread_condattr_destroy(&ca);
	if (a) {
		free(a->iss);
		free(a->aud);
		free(a);
	}
	return st;
}

/* The auth service announced new signing keys (cnats thread): the next unknown kid refetches at once, whatever
 * the cooldown, so a token of the new key is not refused while the cooldown of an earlier fetch runs. */
static void authn_keys_changed(const void *data, size_t len, void **reply, size_t *reply_len, void *ud)
{
	authn *a = ud;
	pthread_mutex_lock(&a->mu);
	a->attempt_ms = 0;
	pthread_mutex_unlock(&a->mu);
	ag_log_debug("the auth service announced new signing keys");
}

ag_status authn_watch(authn *a, ag_err *err)
{
	return ag_bus_serve(&a->watch, a->bus, AG_SUBJ_AUTH_KEYS_CHANGED, NULL, authn_keys_changed, a, err);
}

void authn_unwatch(authn *a)
{
	if (!a)
		return;
	ag_bus_service_free(a->watch);
	a->watch = NULL;
}

void authn_free(authn *a)
{
	if (!a)
		return;
	pthread_cond_destroy(&a->cv);
	pthread_mutex_destroy(&a->mu);
	free(a->iss);
	free(a->aud);
	free(a);
}

bool authn_busy(const authn *a)
{
	return a && a->bg_running;
}

bool authn_bearer(const char *header, const char **token, size_t *len)
{
	const char *p = header, *start, *end;
	if (!p)
		return false;
	while (*p == ' ' || *p == '\t')
		p++;
	if (strncasecmp(p, "Bearer", 6) != 0 || (p[6] != ' ' && p[6] != '\t'))
		return false;
	p += 6;
	while (*p == ' ' || *p == '\t')
		p++;
	start = p;
	/* RFC 6750 b64token: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=" */
	while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
	       (*p != '\0' && strchr("-._~+/", *p)))
		p++;
	if (p == start)
		return false;
	while (*p == '=')
		p++;
	end = p;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p != '\0')
		return false;
	*token = start;
	*len = (size_t)(end - start);
	return true;
}

static void authn_snap(authn *a, authn_snapshot *s)
{
	pthread_mutex_lock(&a->mu);
	memcpy(s->keys, a->keys, a->nkeys * sizeof a->keys[0]);
	s->nkeys = a->nkeys;
	s->loaded = a->loaded;
	s->gen = a->gen;
	s->stale = a->loaded && authn_now_ms() - a->fetched_ms > AUTHN_KEYS_TTL_MS;
	pthread_mutex_unlock(&a->mu);
}

/* The slot for `digest` and whether it holds that token's claims, still good for keys `gen` (loop thread). */
static authn_verified *authn_verified_slot(authn *a, const unsigned char *digest, uint64_t gen, bool *hit)
{
	authn_verified *v = &a->verified[digest[0] % AUTHN_VERIFIED_SLOTS];
	uint64_t now = authn_now_ms();
	*hit = v->at_ms != 0 && v->gen == gen && now - v->at_ms < AUTHN_VERIFIED_TTL_MS &&
	       v->claims.exp > (int64_t)time(NULL) - AUTHN_SKEW_S &&
	       sodium_memcmp(v->digest, digest, sizeof v->digest) == 0;
	return v;
}

/* Verify against a snapshot. Aegis users are UUIDs, and every query is scoped by owner = sub. */
static ag_status authn_verify(const authn *a, const char *token, const authn_snapshot *s, ag_jwt_claims *claims)
{
	ag_err err;
	ag_err_clear(&err);
	ag_status st = ag_jwt_verify(token, s->keys, s->nkeys, a->iss, a->aud, (int64_t)time(NULL), AUTHN_SKEW_S,
	                             claims, &err);
	if (st == AG_OK && !uuid_valid(claims->sub))
		st = AG_E_AUTH;
	if (st != AG_OK && st != AG_E_NOTFOUND)
		ag_log_debug("bearer token rejected: %s", err.msg[0] ? err.msg : ag_status_str(st));
	return st == AG_OK || st == AG_E_NOTFOUND ? st : AG_E_AUTH;
}

/* Ask the auth service for its keys (blocking; thread pool). */
static ag_status authn_load(authn *a, ag_jwk *keys, size_t *nkeys, ag_err *err)
{
	Aegis__V1__JwksRequest req = AEGIS__V1__JWKS_REQUEST__INIT;
	uint8_t reqbuf[16];
	void *reply = NULL;
	size_t reply_len = 0;
	Aegis__V1__AuthReply *r = NULL;
	int64_t now_ms = (int64_t)time(NULL) * 1000;
	size_t reqlen = aegis__v1__jwks_request__get_packed_size(&req);
	ag_status st;

	*nkeys = 0;
	if (reqlen > sizeof reqbuf)
		return ag_err_set(err, AG_E_INTERNAL, "JwksRequest does not fit");
	aegis__v1__jwks_request__pack(&req, reqbuf);
	st = ag_bus_request(a->bus, AUTHN_SUBJECT_JWKS, reqbuf, reqlen, a->timeout_ms, &reply, &reply_len, err);
	if (st != AG_OK)
		goto out;
	r = aegis__v1__auth_reply__unpack(NULL, reply_len, reply);
	if (!r) {
		st = ag_err_set(err, AG_E_PROTO, "undecodable AuthReply from %s", AUTHN_SUBJECT_JWKS);
		goto out;
	}
	if (r->status != 0 && (r->status < 200 || r->status > 299)) {
		st = ag_err_set(err, AG_E_UNAVAILABLE, "auth service answered %u: %s", r->status, r->error);
		goto out;
	}
	for (size_t i = 0; i < r->n_keys && *nkeys < AG_JWKS_MAX_KEYS; i++) {
		const Aegis__V1__PublicKey *k = r->keys[i];
		size_t kidlen = strlen(k->kid);
		if (strcmp(k->alg, AUTHN_ALG) != 0 || k->key.len != AG_JWT_ED25519_PK || kidlen == 0 ||
		    kidlen >= AG_JWT_KID_MAX || (k->expires_at_ms > 0 && k->expires_at_ms <= now_ms))
			continue;
		memcpy(keys[*nkeys].kid, k->kid, kidlen + 1);
		memcpy(keys[*nkeys].pub, k->key.data, AG_JWT_ED25519_PK);
		(*nkeys)++;
	}
	if (*nkeys == 0)
		st = ag_err_set(err, AG_E_UNAVAILABLE, "the auth service published no usable EdDSA key");
out:
	if (r)
		aegis__v1__auth_reply__free_unpacked(r, NULL);
	free(reply);
	return st;
}

/*
 * Refresh the keys unless another thread already did since generation `gen_seen`, a fetch is in flight
 * (then wait for it), or the cooldown forbids (thread pool).
 */
static void authn_fetch(authn *a, uint64_t gen_seen)
{
	ag_jwk keys[AG_JWKS_MAX_KEYS];
	size_t nkeys = 0;
	ag_err err;
	struct timespec deadline;
	uint64_t now;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += a->timeout_ms / 1000 + 1;
	pthread_mutex_lock(&a->mu);
	while (a->fetching) {
		if (pthread_cond_timedwait(&a->cv, &a->mu, &deadline) != 0)
			break;
	}
	now = authn_now_ms();
	if (a->fetching || a->gen != gen_seen ||
	    (a->loaded && a->attempt_ms != 0 && now - a->attempt_ms < AUTHN_REFETCH_COOLDOWN_MS)) {
		pthread_mutex_unlock(&a->mu);
		return;
	}
	a->fetching = true;
	a->attempt_ms = now;
	pthread_mutex_unlock(&a->mu);

	ag_err_clear(&err);
	ag_status st = authn_load(a, keys, &nkeys, &err);
	if (st != AG_OK)
		ag_log_warn("could not load the auth service's signing keys: %s",
		            err.msg[0] ? err.msg : ag_status_str(st));

	pthread_mutex_lock(&a->mu);
	if (st == AG_OK) {
		bool first = !a->loaded;
		memcpy(a->keys, keys, nkeys * sizeof keys[0]);
		a->nkeys = nkeys;
		a->loaded = true;
		a->gen++;
		a->fetched_ms = authn_now_ms();
		if (first)
			ag_log_info("loaded %zu signing key(s) from the auth service", nkeys);
	}
	a->fetching = false;
	pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->mu);
}

/* ---- background refresh ---- */

static void authn_bg_work(uv_work_t *w)
{
	authn *a = w->data;
	authn_fetch(a, a->bg_gen);
}

static void authn_bg_done(uv_work_t *w, int status)
{
	authn *a = w->data;
	a->bg_running = false;
}

static void authn_refresh_bg(authn *a, uint64_t gen)
{
	if (a->bg_running)
		return;
	a->bg_running = true;
	a->bg_gen = gen;
	a->bg.data = a;
	if (uv_queue_work(a->loop, &a->bg, authn_bg_work, authn_bg_done) != 0)
		a->bg_running = false;
}

void authn_prefetch(authn *a)
{
	authn_snapshot s;
	authn_snap(a, &s);
	authn_refresh_bg(a, s.gen);
}

/* ---- API keys and external identities ---- */

void authn_set_cache(authn *a, int seconds, oidc *o)
{
	a->cache_ms = (int64_t)seconds * 1000;
	a->oidc = o;
}

const char *authn_via(const ag_jwt_claims *c)
{
	if (strcmp(c->jti, AUTHN_JTI_APIKEY) == 0)
		return "api_key";
	if (strcmp(c->jti, AUTHN_JTI_OIDC) == 0)
		return "oidc";
	return "jwt";
}

/* The cache key: SHA-256 of the kind and the API key, or of the issuer and subject. */
static void authn_cache_key(authn_kind kind, const char *a1, const char *a2,
                            unsigned char key[crypto_hash_sha256_BYTES])
{
	crypto_hash_sha256_state st;
	unsigned char k = (unsigned char)kind;
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, &k, 1);
	crypto_hash_sha256_update(&st, (const unsigned char *)a1, strlen(a1) + 1);
	if (a2)
		crypto_hash_sha256_update(&st, (const unsigned char *)a2, strlen(a2));
	crypto_hash_sha256_final(&st, key);
}

static bool authn_cache_lookup(authn *a, const unsigned char key[crypto_hash_sha256_BYTES], ag_jwt_claims *out)
{
	bool hit = false;
	if (a->cache_ms <= 0)
		return false;
	authn_cached *e = &a->cache[key[0] % AUTHN_CACHE_SLOTS];
	pthread_mutex_lock(&a->mu);
	if (e->until_ms > authn_now_ms() && sodium_memcmp(e->key, key, sizeof e->key) == 0) {
		*out = e->claims;
		hit = true;
	}
	pthread_mutex_unlock(&a->mu);
	return hit;
}

static void authn_cache_put(authn *a, const unsigned char key[crypto_hash_sha256_BYTES], const ag_jwt_claims *c)
{
	if (a->cache_ms <= 0)
		return;
	authn_cached *e = &a->cache[key[0] % AUTHN_CACHE_SLOTS];
	pthread_mutex_lock(&a->mu);
	memcpy(e->key, key, sizeof e->key);
	e->claims = *c;
	e->until_ms = authn_now_ms() + (uint64_t)a->cache_ms;
	pthread_mutex_unlock(&a->mu);
}

/* Loop thread: an API key is looked up by its hash; an external token is verified, then its mapping looked up. */
static bool authn_cache_get(authn *a, authn_kind kind, const char *token, ag_jwt_claims *out)
{
	unsigned char key[crypto_hash_sha256_BYTES];
	if (kind != AUTHN_APIKEY)
		return false; /* external tokens are verified on the thread pool (RSA, JWKS) */
	authn_cache_key(kind, token, NULL, key);
	return authn_cache_lookup(a, key, out);
}

/* Ask the auth service (thread pool). *out is the caller's to free. AG_E_UNAVAILABLE when it cannot answer. */
static ag_status authn_ask(authn *a, const char *subject, const ProtobufCMessage *m, Aegis__V1__AuthReply **out)
{
	uint8_t buf[1024];
	void *reply = NULL;
	size_t reply_len = 0;
	ag_err err;
	ag_err_clear(&err);
	*out = NULL;
	size_t n = protobuf_c_message_get_packed_size(m);
	if (n > sizeof buf)
		return AG_E_AUTH; /* no valid credential is that long */
	protobuf_c_message_pack(m, buf);
	ag_status st = ag_bus_request(a->bus, subject, buf, n, a->timeout_ms, &reply, &reply_len, &err);
	sodium_memzero(buf, sizeof buf);
	if (st != AG_OK) {
		ag_log_warn("%s: %s", subject, err.msg[0] ? err.msg : ag_status_str(st));
		return AG_E_UNAVAILABLE;
	}
	*out = aegis__v1__auth_reply__unpack(NULL, reply_len, reply);
	sodium_memzero(reply, reply_len);
	free(reply);
	if (!*out) {
		ag_log_error("%s: undecodable AuthReply", subject);
		return AG_E_UNAVAILABLE;
	}
	if ((*out)->status == 401 || (*out)->status == 403 || (*out)->status == 400)
		return AG_E_AUTH;
	if ((*out)->status != 200)
		return AG_E_UNAVAILABLE;
	return AG_OK;
}

/* The identity in a 200 reply as claims; AG_E_AUTH when it is not a well-formed user. */
static ag_status authn_identity(const Aegis__V1__AuthReply *r, const char *iss, const char *jti, int64_t exp,
                                ag_jwt_claims *c)
{
	memset(c, 0, sizeof *c);
	if (!uuid_valid(r->user_id) || strlen(r->role) >= sizeof c->role)
		return AG_E_AUTH;
	snprintf(c->sub, sizeof c->sub, "%s", r->user_id);
	snprintf(c->role, sizeof c->role, "%s", r->role);
	snprintf(c->email, sizeof c->email, "%s", r->email);
	snprintf(c->iss, sizeof c->iss, "%s", iss);
	snprintf(c->jti, sizeof c->jti, "%s", jti);
	c->iat = c->nbf = (int64_t)time(NULL);
	c->exp = exp;
	return AG_OK;
}

static ag_status authn_apikey_resolve(authn *a, const char *token, ag_jwt_claims *claims)
{
	unsigned char key[crypto_hash_sha256_BYTES];
	Aegis__V1__ApiKeyRequest m = AEGIS__V1__API_KEY_REQUEST__INIT;
	Aegis__V1__AuthReply *r = NULL;
	m.api_key = (char *)token;
	ag_status st = authn_ask(a, AG_SUBJ_AUTH_PREFIX "apikey.verify", &m.base, &r);
	if (st == AG_OK)
		st = authn_identity(r, "api-key", AUTHN_JTI_APIKEY, 0, claims);
	if (st == AG_OK) {
		authn_cache_key(AUTHN_APIKEY, token, NULL, key);
		authn_cache_put(a, key, claims);
	}
	if (r)
		aegis__v1__auth_reply__free_unpacked(r, NULL);
	return st;
}

static ag_status authn_oidc_resolve(authn *a, const char *token, ag_jwt_claims *claims)
{
	unsigned char key[crypto_hash_sha256_BYTES];
	oidc_identity id;
	Aegis__V1__AuthReply *r = NULL;
	ag_status st = oidc_verify(a->oidc, token, (int64_t)time(NULL), &id);
	if (st != AG_OK)
		return st; /* AG_E_AUTH, or AG_E_UNAVAILABLE when the issuer's keys cannot be had */
	authn_cache_key(AUTHN_OIDC, id.iss, id.sub, key);
	if (authn_cache_lookup(a, key, claims)) {
		claims->exp = id.exp;
		return AG_OK;
	}
	Aegis__V1__ExternalRequest m = AEGIS__V1__EXTERNAL_REQUEST__INIT;
	m.issuer = id.iss;
	m.subject = id.sub;
	st = authn_ask(a, AG_SUBJ_AUTH_PREFIX "external", &m.base, &r);
	if (st == AG_OK)
		st = authn_identity(r, id.iss, AUTHN_JTI_OIDC, id.exp, claims);
	if (st == AG_OK)
		authn_cache_put(a, key, claims);
	if (r)
		aegis__v1__auth_reply__free_unpacked(r, NULL);
	return st;
}

/* ---- JWKS (RFC 7517; Ed25519 keys as OKP, RFC 8037) ---- */

static json_t *authn_jwks_json(const authn_snapshot *s)
{
	json_t *keys = json_array();
	for (size_t i = 0; i < s->nkeys; i++) {
		char x[sodium_base64_ENCODED_LEN(AG_JWT_ED25519_PK, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
		sodium_bin2base64(x, sizeof x, s->keys[i].pub, AG_JWT_ED25519_PK,
		                  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
		json_array_append_new(keys, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "kty", "OKP", "crv", "Ed25519",
		                                      "x", x, "kid", s->keys[i].kid, "alg", AUTHN_ALG, "use", "sig"));
	}
	return json_pack("{s:o}", "keys", keys);
}

typedef struct authn_jwks_call {
	authn *a;
	authn_snapshot s;
} authn_jwks_call;

static void authn_jwks_work(void *ud)
{
	authn_jwks_call *c = ud;
	authn_fetch(c->a, c->s.gen);
	authn_snap(c->a, &c->s);
}

static void authn_jwks_answer(ag_http_req *req, const authn_snapshot *s)
{
	if (!s->loaded) {
		ag_http_resp_header(req, "Retry-After", AUTHN_RETRY_AFTER_S);
		ag_http_respond_problem(req, 503, "the signing keys cannot be loaded now; try again");
		return;
	}
	ag_http_resp_header(req, "Cache-Control", "public, max-age=300");
	ag_http_respond_json(req, 200, authn_jwks_json(s));
}

static void authn_jwks_done(ag_http_req *req, void *ud)
{
	authn_jwks_call *c = ud;
	authn_jwks_answer(req, &c->s);
	free(c);
}

void authn_serve_jwks(authn *a, ag_http_req *req)
{
	authn_jwks_call *c = malloc(sizeof *c);
	if (!c) {
		ag_http_respond_problem(req, 500, "out of memory");
		return;
	}
	c->a = a;
	authn_snap(a, &c->s);
	if (c->s.loaded) {
		if (c->s.stale)
			authn_refresh_bg(a, c->s.gen);
		authn_jwks_answer(req, &c->s);
		free(c);
		return;
	}
	if (ag_http_req_defer(req, authn_jwks_work, authn_jwks_done, c) != AG_OK) {
		free(c);
		ag_http_resp_header(req, "Retry-After", AUTHN_RETRY_AFTER_S);
		ag_http_respond_problem(req, 503, "the server is busy; try again");
	}
}

/* ---- per request ---- */

static void authn_unauthorized(ag_http_req *req, const char *detail, bool invalid)
{
	/* RFC 6750 §3: no error code when the request had no credentials at all */
	ag_http_resp_header(req, "WWW-Authenticate", invalid ? "Bearer error=\"invalid_token\"" : "Bearer");
	ag_http_respond_problem(req, 401, "%s", detail);
}

static void authn_job_work(void *ud)
{
	authn_job *j = ud;
	authn_snapshot s;
	if (j->kind == AUTHN_APIKEY) {
		j->st = authn_apikey_resolve(j->a, j->token, &j->claims);
		j->loaded = true;
		return;
	}
	if (j->kind == AUTHN_OIDC) {
		j->st = authn_oidc_resolve(j->a, j->token, &j->claims);
		j->loaded = true;
		return;
	}
	authn_fetch(j->a, j->gen);
	authn_snap(j->a, &s);
	j->loaded = s.loaded;
	j->st = authn_verify(j->a, j->token, &s, &j->claims);
}

static void authn_job_done(ag_http_req *req, void *ud)
{
	authn_job *j = ud;
	if (!ag_http_req_alive(req)) {
		j->next(req, NULL, j->ud); /* the client went away: no work on its behalf */
	} else if (j->st == AG_OK) {
		j->next(req, &j->claims, j->ud);
	} else {
		if ((j->st == AG_E_NOTFOUND && !j->loaded) || j->st == AG_E_UNAVAILABLE) {
			ag_http_resp_header(req, "Retry-After", AUTHN_RETRY_AFTER_S);
			ag_http_respond_problem(req, 503, "the authentication service is unavailable; try again");
		} else {
			authn_unauthorized(req, "the bearer token is invalid or expired", true);
		}
		j->next(req, NULL, j->ud);
	}
	sodium_memzero(j, sizeof *j); /* the token */
	free(j);
}

static void authn_defer(authn *a, ag_http_req *req, authn_kind kind, const char *token, size_t len, uint64_t gen,
                        authn_next next, void *ud)
{
	authn_job *j = malloc(sizeof *j);
	if (!j) {
		ag_http_respond_problem(req, 500, "out of memory");
		next(req, NULL, ud);
		return;
	}
	memcpy(j->token, token, len + 1);
	j->a = a;
	j->kind = kind;
	j->next = next;
	j->ud = ud;
	j->gen = gen;
	j->st = AG_E_INTERNAL;
	j->loaded = false;
	if (ag_http_req_defer(req, authn_job_work, authn_job_done, j) != AG_OK) {
		sodium_memzero(j, sizeof *j);
		free(j);
		ag_http_resp_header(req, "Retry-After", AUTHN_RETRY_AFTER_S);
		ag_http_respond_problem(req, 503, "the server is busy; try again");
		next(req, NULL, ud);
	}
}

void authn_require(authn *a, ag_http_req *req, authn_next next, void *ud)
{
	const char *header = ag_http_req_header(req, "Authorization");
	const char *tok = NULL;
	size_t len = 0;
	char token[AG_JWT_MAX_BYTES + 1];
	authn_snapshot s;
	ag_jwt_claims claims;
	ag_status st;

	if (!header || !authn_bearer(header, &tok, &len)) {
		authn_unauthorized(req,
		                   header ? "the Authorization header must be 'Bearer <token>'"
		                          : "this endpoint needs a bearer token",
		                   header != NULL);
		next(req, NULL, ud);
		return;
	}
	if (len > AG_JWT_MAX_BYTES) {
		authn_unauthorized(req, "the bearer token is too long", true);
		next(req, NULL, ud);
		return;
	}
	memcpy(token, tok, len);
	token[len] = '\0';

	authn_kind kind = AUTHN_JWT;
	if (strncmp(token, AUTHN_APIKEY_PREFIX, sizeof AUTHN_APIKEY_PREFIX - 1) == 0)
		kind = AUTHN_APIKEY;
	else if (a->oidc && oidc_claims_external(a->oidc, token))
		kind = AUTHN_OIDC;
	if (kind != AUTHN_JWT) {
		if (authn_cache_get(a, kind, token, &claims)) {
			next(req, &claims, ud);
			return;
		}
		authn_defer(a, req, kind, token, len, 0, next, ud);
		return;
	}

	unsigned char digest[crypto_generichash_BYTES];
	bool hit;
	crypto_generichash(digest, sizeof digest, (const unsigned char *)token, len, NULL, 0);
	pthread_mutex_lock(&a->mu);
	uint64_t gen = a->gen;
	pthread_mutex_unlock(&a->mu);
	authn_verified *v = authn_verified_slot(a, digest, gen, &hit);
	if (hit) {
		claims = v->claims;
		next(req, &claims, ud);
		return;
	}
	authn_snap(a, &s);
	st = authn_verify(a, token, &s, &claims);
	if (st == AG_OK) {
		if (s.stale)
			authn_refresh_bg(a, s.gen);
		*v = (authn_verified){.gen = s.gen, .at_ms = authn_now_ms(), .claims = claims};
		memcpy(v->digest, digest, sizeof digest);
		next(req, &claims, ud);
		return;
	}
	if (st != AG_E_NOTFOUND) {
		authn_unauthorized(req, "the bearer token is invalid or expired", true);
		next(req, NULL, ud);
		return;
	}
	/* unknown kid (or no keys yet): fetch on the thread pool, then verify again */
	authn_defer(a, req, AUTHN_JWT, token, len, s.gen, next, ud);
}
