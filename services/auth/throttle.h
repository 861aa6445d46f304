/*
 * throttle.h - brute-force protection for password checks, shared by every
 * auth replica through the login_throttle table.
 *
 * Failures are counted under two keys: the pair (account, client IP) and
 * the client IP alone. The first `free_failures` (pair) or
 * `ip_free_failures` (IP) failures cost nothing; each further failure blocks
 * the key for base_s * 2^(n - free - 1) seconds, capped at lockout_s (the
 * "lockout"). A counter whose last failure is older than lockout_s starts
 * again, so no key stays blocked for longer than lockout_s after its last
 * failure. While a key is blocked, attempts are answered 429 with
 * Retry-After before any password is looked at and are not counted.
 *
 * An attacker therefore slows down only the account *from his own
 * addresses*: the owner, from another address, is never locked out (no
 * lockout DoS), and one address spraying many accounts is stopped by the IP
 * key. A success clears the pair key.
 *
 * The account part of the pair key is a SHA-256 of the normalised email, so
 * the table never holds an address, and unknown emails are counted exactly
 * like known ones (no enumeration through throttling).
 */
#ifndef AUTH_THROTTLE_H
#define AUTH_THROTTLE_H

#include "aegis/status.h"

#include <libpq-fe.h>
#include <stdint.h>

#define THROTTLE_KEY_BUF 96 /* "pair:" + 64 hex, or "ip:" + address */

typedef struct throttle_cfg {
	int64_t free_failures;    /* LOGIN_FREE_FAILURES */
	int64_t ip_free_failures; /* LOGIN_IP_FREE_FAILURES */
	int64_t base_s;           /* LOGIN_BACKOFF_BASE_S */
	int64_t lockout_s;        /* LOGIN_LOCKOUT_S */
} throttle_cfg;

typedef struct throttle_keys {
	char pair[THROTTLE_KEY_BUF];
	char ip[THROTTLE_KEY_BUF];
} throttle_keys;

/* The keys for an account name (normalised email or user id) and a client address. Pure. */
void throttle_keys_for(const char *account, const char *ip, throttle_keys *k);
/* Seconds until neither key is blocked (0: go ahead). */
ag_status throttle_check(PGconn *c, const throttle_keys *k, uint32_t *retry_after, ag_err *err);
/* Count a failure under both keys. */
ag_status throttle_fail(PGconn *c, const throttle_cfg *cfg, const throttle_keys *k, ag_err *err);
/* Forget the pair's failures after a success. */
ag_status throttle_ok(PGconn *c, const throttle_keys *k, ag_err *err);

#endif
