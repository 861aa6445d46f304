/*
 * cursor.c - encode/decode the documents list cursor (see cursor.h).
 * Layout: version byte 1, created_at microseconds as big-endian int64,
 * the 16 bytes of the id; base64url without padding (libsodium, which
 * rejects stray characters and non-zero trailing bits).
 */
#include "cursor.h"

#include "aegis/cfg.h"

#include <limits.h>
#include <sodium.h>
#include <string.h>

#define CURSOR_VERSION 1
#define CURSOR_RAW_LEN (1 + 8 + UUID_BYTES)

ag_status cursor_encode(int64_t created_us, const char *id, char *out, size_t outsz)
{
	unsigned char raw[CURSOR_RAW_LEN];
	uint64_t v = (uint64_t)created_us;
	raw[0] = CURSOR_VERSION;
	for (int i = 0; i < 8; i++)
		raw[1 + i] = (unsigned char)(v >> (56 - 8 * i));
	if (!uuid_parse(id, raw + 9))
		return AG_E_INVAL;
	if (outsz < sodium_base64_ENCODED_LEN(CURSOR_RAW_LEN, sodium_base64_VARIANT_URLSAFE_NO_PADDING))
		return AG_E_INVAL;
	sodium_bin2base64(out, outsz, raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	return AG_OK;
}

ag_status cursor_decode(const char *text, int64_t *created_us, char id[UUID_TEXT_LEN + 1])
{
	unsigned char raw[CURSOR_RAW_LEN];
	size_t got = 0;
	const char *end = NULL;
	uint64_t v = 0;
	if (!text || strlen(text) >= CURSOR_TEXT_MAX)
		return AG_E_INVAL;
	if (sodium_base642bin(raw, sizeof raw, text, strlen(text), NULL, &got, &end,
	                      sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
	    got != CURSOR_RAW_LEN || *end != '\0' || raw[0] != CURSOR_VERSION)
		return AG_E_INVAL;
	for (int i = 0; i < 8; i++)
		v = v << 8 | raw[1 + i];
	*created_us = (int64_t)v;
	uuid_format(raw + 9, id);
	return AG_OK;
}

json_t *cursor_next_json(const PGresult *r, int shown, int us_col)
{
	char next[CURSOR_TEXT_MAX];
	long long us = 0;
	if (PQntuples(r) <= shown)
		return json_null();
	if (shown < 1 || !ag_cfg_parse_ll(PQgetvalue(r, shown - 1, us_col), LLONG_MIN, LLONG_MAX, &us) ||
	    cursor_encode(us, PQgetvalue(r, shown - 1, 0), next, sizeof next) != AG_OK)
		return NULL;
	return json_string(next);
}
