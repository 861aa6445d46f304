/*
 * keys.h - the Ed25519 keys that sign access tokens, kept in the
 * signing_keys table and shared by every auth replica.
 *
 * One key signs at a time: the newest whose retire_at is in the future.
 * When none exists, one replica creates it (under a transaction-scoped
 * advisory lock, so concurrent replicas never create two); the others load
 * it. A key signs until retire_at (JWT_KEY_ROTATE_S after creation) and is
 * published in the JWKS until expires_at = retire_at + ACCESS_TOKEN_TTL_S,
 * so every token it signed can be checked until it expires; a token is
 * never given an exp past its key's expires_at.
 *
 * The private half is stored sealed: nonce || crypto_secretbox(sk), under a
 * key derived from JWT_KEY_SECRET with BLAKE2b and a fixed context. Opening
 * checks the MAC and that the key pair matches the stored public key, so a
 * wrong secret is a clear error, never a crash or a bad signature.
 *
 * Thread-safety: every function may be called from any thread; the current
 * key is guarded by a mutex. The secret key never leaves this module.
 */
#ifndef AUTH_KEYS_H
#define AUTH_KEYS_H

#include "aegis/jwt.h"
#include "aegis/limits.h"
#include "aegis/status.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#define KEYS_ALG          "EdDSA"
#define KEYS_SECRET_MIN   16  /* bytes of JWT_KEY_SECRET */
#define KEYS_RECHECK_S    60  /* a retired key triggers at most one database check a minute */
#define KEYS_BOX_KEY      32  /* crypto_secretbox_KEYBYTES */
#define KEYS_SEALED_BYTES 104 /* crypto_secretbox_NONCEBYTES (24) + MACBYTES (16) + AG_JWT_ED25519_SK (64) */
#define KEYS_LOCK_ID      7414516541236870913LL /* pg_advisory_xact_lock key of key creation ("auth-key") */

typedef struct keys keys;

typedef struct keys_cfg {
	const char *secret;   /* JWT_KEY_SECRET; only a derived key is kept */
	int64_t rotate_s;     /* how long a key signs */
	int64_t access_ttl_s; /* how long it stays published after that */
	/* Called, without the lock, after this replica started signing with another key (so verifiers can refetch
	 * the published keys at once); may be NULL. */
	void (*changed)(void *ud);
	void *changed_ud;
} keys_cfg;

/* A published verification key (JWKS entry). */
typedef struct keys_public {
	ag_jwk jwk;
	int64_t expires_at_ms;
} keys_public;

/* Allocate; no database work. *out is freed with keys_free. */
ag_status keys_new(keys **out, const keys_cfg *cfg, ag_err *err);
void keys_free(keys *k); /* NULL ok; wipes key material */

/* Start-up: load the current signing key, creating one when there is none. AG_E_INVAL (with a sentence in
 * err) when JWT_KEY_SECRET does not open the stored key. */
ag_status keys_load(keys *k, PGconn *c, ag_err *err);
bool keys_loaded(keys *k);

/*
 * Sign `claims` with the current key at time `now` (seconds). When that key has retired, first load or
 * create its successor through `c` (at most once per KEYS_RECHECK_S). claims->exp is lowered to the key's
 * expires_at when it would outlive the key's publication. *token is malloc'd; the caller free()s it.
 * AG_E_UNAVAILABLE when no key may sign.
 */
ag_status keys_sign(keys *k, PGconn *c, ag_jwt_claims *claims, int64_t now, char **token, ag_err *err);

/*
 * Rotate now (admin command): the current key stops signing at once and stays published for one access token
 * lifetime plus KEYS_RECHECK_S (other replicas notice the new key within KEYS_RECHECK_S); a new key signs.
 */
ag_status keys_rotate(keys *k, PGconn *c, ag_err *err);

/* Every key still published (expires_at in the future), newest first, at most AG_JWKS_MAX_KEYS. */
ag_status keys_published(PGconn *c, keys_public out[AG_JWKS_MAX_KEYS], size_t *n, ag_err *err);

/* --- building blocks, exposed for tests --- */

/* kid = base64url (no padding) of the first 12 bytes of SHA-256(pub): 16 characters. */
void keys_kid(const unsigned char pub[AG_JWT_ED25519_PK], char kid[AG_JWT_KID_MAX]);
/* The secretbox key for a JWT_KEY_SECRET. */
void keys_box_key(const char *secret, unsigned char box[KEYS_BOX_KEY]);
/* Seal sk under `box` with a random nonce. */
void keys_seal(const unsigned char box[KEYS_BOX_KEY], const unsigned char sk[AG_JWT_ED25519_SK],
               unsigned char sealed[KEYS_SEALED_BYTES]);
/* Open a sealed key and check it belongs to `pub`; false when the secret is wrong or the data damaged. */
bool keys_open(const unsigned char box[KEYS_BOX_KEY], const unsigned char *sealed, size_t len,
               const unsigned char pub[AG_JWT_ED25519_PK], unsigned char sk[AG_JWT_ED25519_SK]);

#endif
