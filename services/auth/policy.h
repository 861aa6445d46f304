/*
 * policy.h - what an acceptable account email and password are. Pure
 * functions, no I/O, so every rule is unit-tested on its own.
 *
 * Email: trimmed of ASCII whitespace, ASCII letters lower-cased; then at
 * most AG_EMAIL_MAX_BYTES, valid UTF-8 without spaces or control
 * characters, exactly one @, a local part of 1..64 bytes and a domain with
 * a dot and no empty labels.
 *
 * Password: at most AG_PASSWORD_MAX_BYTES, valid UTF-8, at least
 * AG_PASSWORD_MIN_CHARS code points, not one character repeated. Nothing is
 * trimmed or normalised: the bytes are the password.
 *
 * Each check returns NULL when the input is acceptable, or a static sentence
 * safe to show to the user (it never quotes the input).
 */
#ifndef AUTH_POLICY_H
#define AUTH_POLICY_H

#include "aegis/limits.h"

#include <stdbool.h>
#include <stddef.h>

#define POLICY_EMAIL_BUF       (AG_EMAIL_MAX_BYTES + 1)
#define POLICY_EMAIL_LOCAL_MAX 64 /* RFC 5321 4.5.3.1.1 */

/* Normalise `in` into `out` (always NUL-terminated; "" on failure). */
const char *policy_email_normalize(const char *in, char out[POLICY_EMAIL_BUF]);
const char *policy_password_check(const char *password);

/* Number of code points in s[0..len) when it is valid UTF-8 (shortest form, no surrogates, <= U+10FFFF). */
bool policy_utf8_count(const char *s, size_t len, size_t *count);

#endif
