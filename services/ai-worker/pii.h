/*
 * pii.h - personal data found in a text, as counts and byte positions per
 * kind, never the values (nothing here logs or copies them). Deterministic,
 * offline, one pass; used whatever the AI provider, so no text leaves the
 * process for this.
 *
 *   email        local@domain.tld (a dot in the domain, a TLD of 2+ letters)
 *   phone        "+" and 8..15 digits, or a number starting with "0" or "("
 *                with 9..12 digits; separators: space . - / ( )
 *   iban         2 letters, 2 check digits, 11..30 letters/digits (groups of
 *                4 may be space-separated) whose ISO 7064 mod-97 check holds
 *   card         13..19 digits (single spaces or hyphens between groups)
 *                with the prefix and length of a major network (Visa,
 *                Mastercard, Amex, Discover, Diners, JCB) that pass the
 *                Luhn check and are not all one digit
 *   national_id  US social security numbers ddd-dd-dddd with a valid area,
 *                group and serial
 *
 * A span counted as one kind is not counted again as another.
 */
#ifndef AI_PII_H
#define AI_PII_H

#include <stddef.h>

#define PII_POSITIONS_MAX 32 /* positions kept per kind (counts go on) */

typedef enum { PII_EMAIL, PII_PHONE, PII_IBAN, PII_CARD, PII_NATIONAL_ID, PII_KINDS } pii_kind;

typedef struct pii_report {
	size_t count[PII_KINDS];
	size_t npos[PII_KINDS];
	size_t pos[PII_KINDS][PII_POSITIONS_MAX]; /* byte offsets of the first PII_POSITIONS_MAX finds */
} pii_report;

/* The JSON name of a kind ("email"). */
const char *pii_kind_name(pii_kind k);

/* Scan text[0..len) into *out (zeroed first). */
void pii_scan(const char *text, size_t len, pii_report *out);

/* {"email":{"count":N,"positions":[…]}, …, "total":N} as compact JSON; malloc'd (caller free()s), NULL on OOM. */
char *pii_json(const pii_report *r);

/* The checks, exposed for tests: s[0..n) with spaces already removed. */
int pii_iban_valid(const char *s, size_t n);
int pii_luhn_valid(const char *digits, size_t n);

#endif
