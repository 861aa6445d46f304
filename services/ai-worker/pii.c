/*
 * pii.c - the PII scanner (see pii.h). A forward scan: at each position that
 * starts a token, try the kinds from the most specific (email, IBAN) to the
 * least (phone); a find skips the scanner past its span.
 */
#include "pii.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define PII_IBAN_MIN        15
#define PII_IBAN_MAX        34
#define PII_CARD_MIN        13
#define PII_CARD_MAX        19
#define PII_PHONE_MAX_BYTES 24 /* "+49 (0) 30 1234 5678 90" and the like */

static const char *const pii_names[PII_KINDS] = {"email", "phone", "iban", "card", "national_id"};

const char *pii_kind_name(pii_kind k)
{
	return (unsigned)k < PII_KINDS ? pii_names[k] : "?";
}

static bool pii_digit(char c)
{
	return c >= '0' && c <= '9';
}
static bool pii_upper(char c)
{
	return c >= 'A' && c <= 'Z';
}
static bool pii_alnum(char c)
{
	return pii_digit(c) || pii_upper(c) || (c >= 'a' && c <= 'z');
}
static bool pii_local(char c)
{
	return pii_alnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-';
}

int pii_luhn_valid(const char *d, size_t n)
{
	int sum = 0;
	bool dbl = false, same = true;
	if (n < PII_CARD_MIN || n > PII_CARD_MAX)
		return 0;
	for (size_t i = n; i-- > 0;) {
		int v = d[i] - '0';
		if (v < 0 || v > 9)
			return 0;
		if (d[i] != d[0])
			same = false;
		if (dbl && (v *= 2) > 9)
			v -= 9;
		sum += v;
		dbl = !dbl;
	}
	return !same && sum % 10 == 0;
}

int pii_iban_valid(const char *s, size_t n)
{
	unsigned rem = 0;
	if (n < PII_IBAN_MIN || n > PII_IBAN_MAX || !pii_upper(s[0]) || !pii_upper(s[1]) || !pii_digit(s[2]) ||
	    !pii_digit(s[3]))
		return 0;
	/* the first four characters move to the end; letters count as 10..35 */
	for (size_t k = 0; k < n; k++) {
		char c = s[(k + 4) % n];
		if (pii_digit(c))
			rem = (rem * 10 + (unsigned)(c - '0')) % 97;
		else if (pii_upper(c))
			rem = (rem * 100 + (unsigned)(c - 'A' + 10)) % 97;
		else
			return 0;
	}
	return rem == 1;
}

/* An email starting at i (a local-part character after a non-local one); its end, or 0. */
static size_t pii_email(const char *t, size_t len, size_t i)
{
	size_t j = i;
	while (j < len && pii_local(t[j]) && j - i < 64)
		j++;
	if (j == i || j >= len || t[j] != '@')
		return 0;
	size_t d = ++j, lastdot = 0;
	while (j < len && (pii_alnum(t[j]) || t[j] == '-' || t[j] == '.') && j - d < 255) {
		if (t[j] == '.')
			lastdot = j;
		j++;
	}
	while (j > d && (t[j - 1] == '.' || t[j - 1] == '-')) /* "mail me at a@b.com." */
		j--;
	if (lastdot <= d || lastdot >= j)
		return 0;
	size_t tld = 0;
	for (size_t k = lastdot + 1; k < j; k++) {
		if (pii_digit(t[k]) || t[k] == '-')
			return 0;
		tld++;
	}
	return tld >= 2 ? j : 0;
}

/* An IBAN at i; its end, or 0. Groups may be separated by single spaces. *shape is the end of an IBAN-shaped
 * run that failed its check (0 when none), which the scanner then skips whole: its digits are not a phone. */
static size_t pii_iban(const char *t, size_t len, size_t i, size_t *shape)
{
	*shape = 0;
	char s[PII_IBAN_MAX];
	size_t ends[PII_IBAN_MAX + 1], n = 0, j = i;
	if (i + 4 > len || !pii_upper(t[i]) || !pii_upper(t[i + 1]) || !pii_digit(t[i + 2]) || !pii_digit(t[i + 3]))
		return 0;
	while (j < len && n < PII_IBAN_MAX) {
		if (pii_digit(t[j]) || pii_upper(t[j])) {
			s[n++] = t[j++];
			ends[n] = j;
		} else if (t[j] == ' ' && j + 1 < len && (pii_digit(t[j + 1]) || pii_upper(t[j + 1])) && n % 4 == 0) {
			j++;
		} else {
			break;
		}
	}
	/* the longest prefix that ends a token and passes the check */
	for (size_t m = n; m >= PII_IBAN_MIN; m--) {
		size_t e = ends[m];
		if (e < len && pii_alnum(t[e]))
			continue;
		if (pii_iban_valid(s, m))
			return e;
	}
	if (n >= PII_IBAN_MIN)
		*shape = ends[n];
	return 0;
}

/* Digits with single ' ' or '-' between them from i; the digits into d (at most dmax), *end after the last digit. */
static size_t pii_digits(const char *t, size_t len, size_t i, char *d, size_t dmax, size_t *end)
{
	size_t n = 0, j = i;
	*end = i;
	while (j < len && n < dmax + 1) {
		if (pii_digit(t[j])) {
			if (n < dmax)
				d[n] = t[j];
			n++;
			j++;
			*end = j;
		} else if ((t[j] == ' ' || t[j] == '-') && j + 1 < len && pii_digit(t[j + 1]) && n > 0) {
			j++;
		} else {
			break;
		}
	}
	return n;
}

/* The issuer prefixes and lengths of the major card networks (Visa, Mastercard, Amex, Discover, Diners, JCB). */
static bool pii_card_network(const char *d, size_t n)
{
	int p2 = (d[0] - '0') * 10 + (d[1] - '0'), p3 = p2 * 10 + (d[2] - '0'), p4 = p3 * 10 + (d[3] - '0');
	if (d[0] == '4')
		return n == 13 || n == 16 || n == 19;
	if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720))
		return n == 16;
	if (p2 == 34 || p2 == 37)
		return n == 15;
	if (p4 == 6011 || p2 == 65 || (p3 >= 644 && p3 <= 649))
		return n >= 16 && n <= 19;
	if (p2 == 36 || p2 == 38 || (p3 >= 300 && p3 <= 305))
		return n >= 14 && n <= 16;
	if (p2 == 35)
		return n >= 16 && n <= 19;
	return false;
}

static size_t pii_card(const char *t, size_t len, size_t i)
{
	char d[PII_CARD_MAX];
	size_t end;
	size_t n = pii_digits(t, len, i, d, PII_CARD_MAX, &end);
	if (n > PII_CARD_MAX || (end < len && pii_alnum(t[end])))
		return 0;
	return n >= PII_CARD_MIN && pii_card_network(d, n) && pii_luhn_valid(d, n) ? end : 0;
}

static size_t pii_ssn(const char *t, size_t len, size_t i)
{
	if (i + 11 > len || t[i + 3] != '-' || t[i + 6] != '-' || (i + 11 < len && pii_alnum(t[i + 11])))
		return 0;
	for (size_t k = 0; k < 11; k++)
		if (k != 3 && k != 6 && !pii_digit(t[i + k]))
			return 0;
	int area = (t[i] - '0') * 100 + (t[i + 1] - '0') * 10 + (t[i + 2] - '0');
	bool group0 = t[i + 4] == '0' && t[i + 5] == '0';
	bool serial0 = memcmp(t + i + 7, "0000", 4) == 0;
	if (area == 0 || area == 666 || area >= 900 || group0 || serial0)
		return 0;
	return i + 11;
}

static size_t pii_phone(const char *t, size_t len, size_t i)
{
	size_t j = i, digits = 0, end = 0;
	bool plus = t[i] == '+';
	if (plus)
		j++;
	if (j >= len || !(pii_digit(t[j]) || t[j] == '('))
		return 0;
	if (!plus && t[j] != '0' && t[j] != '(')
		return 0;
	while (j < len && j - i < PII_PHONE_MAX_BYTES) {
		char c = t[j];
		if (pii_digit(c)) {
			digits++;
			end = j + 1;
		} else if (!(c == ' ' || c == '-' || c == '.' || c == '/' || c == '(' || c == ')')) {
			break;
		} else if (c == ' ' && j + 1 < len && !(pii_digit(t[j + 1]) || t[j + 1] == '(')) {
			break;
		}
		j++;
	}
	if (end == 0 || (end < len && pii_alnum(t[end])))
		return 0;
	if (!plus && end - i == 11 && t[i + 3] == '-' && t[i + 6] == '-')
		return 0; /* the shape of a US SSN (ddd-dd-dddd), not a phone number */
	if (plus ? (digits >= 8 && digits <= 15) : (digits >= 9 && digits <= 12))
		return end;
	return 0;
}

static void pii_add(pii_report *r, pii_kind k, size_t at)
{
	if (r->npos[k] < PII_POSITIONS_MAX)
		r->pos[k][r->npos[k]++] = at;
	r->count[k]++;
}

void pii_scan(const char *t, size_t len, pii_report *out)
{
	memset(out, 0, sizeof *out);
	size_t i = 0;
	while (i < len) {
		char prev = i > 0 ? t[i - 1] : ' ';
		size_t e = 0, shape = 0;
		if (pii_local(t[i]) && !pii_local(prev) && (e = pii_email(t, len, i)) > 0) {
			pii_add(out, PII_EMAIL, i);
		} else if (!pii_alnum(prev) && prev != '-' && prev != '@') {
			if ((e = pii_iban(t, len, i, &shape)) > 0)
				pii_add(out, PII_IBAN, i);
			else if (shape > i)
				e = shape;
			else if (pii_digit(t[i]) && (e = pii_card(t, len, i)) > 0)
				pii_add(out, PII_CARD, i);
			else if (pii_digit(t[i]) && (e = pii_ssn(t, len, i)) > 0)
				pii_add(out, PII_NATIONAL_ID, i);
			else if (prev != '+' && (e = pii_phone(t, len, i)) > 0)
				pii_add(out, PII_PHONE, i);
		}
		if (e > i) {
			i = e;
			continue;
		}
		/* skip the rest of a token that did not start anything, so its middle is never a start */
		if (pii_alnum(t[i])) {
			while (i < len && pii_alnum(t[i]))
				i++;
		} else {
			i++;
		}
	}
}

char *pii_json(const pii_report *r)
{
	char *out = NULL;
	size_t total = 0;
	json_t *o = json_object();
	if (!o)
		return NULL;
	for (int k = 0; k < PII_KINDS; k++) {
		json_t *pos = json_array();
		for (size_t i = 0; pos && i < r->npos[k]; i++)
			json_array_append_new(pos, json_integer((json_int_t)r->pos[k][i]));
		if (json_object_set_new(o, pii_names[k],
		                        json_pack("{s:I, s:o*}", "count", (json_int_t)r->count[k], "positions", pos)) !=
		    0)
			goto out;
		total += r->count[k];
	}
	if (json_object_set_new(o, "total", json_integer((json_int_t)total)) == 0)
		out = json_dumps(o, JSON_COMPACT);
out:
	json_decref(o);
	return out;
}
