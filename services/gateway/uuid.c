/*
 * uuid.c - UUID generation (v4), validation and conversion for the gateway.
 */
#include "uuid.h"
#include "aegis/str.h"

#include <sodium.h>
#include <string.h>

bool uuid_parse(const char *s, unsigned char out[UUID_BYTES])
{
	size_t j = 0;
	if (!s || strlen(s) != UUID_TEXT_LEN)
		return false;
	for (size_t i = 0; i < UUID_TEXT_LEN;) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
			i++;
			continue;
		}
		int hi = ag_str_hexval(s[i]), lo = ag_str_hexval(s[i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		out[j++] = (unsigned char)(hi << 4 | lo);
		i += 2;
	}
	return j == UUID_BYTES;
}

bool uuid_valid(const char *s)
{
	unsigned char b[UUID_BYTES];
	return uuid_parse(s, b);
}

void uuid_format(const unsigned char in[UUID_BYTES], char out[UUID_TEXT_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	for (size_t i = 0; i < UUID_BYTES; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[in[i] >> 4];
		out[o++] = hex[in[i] & 0x0f];
	}
	out[o] = '\0';
}

void uuid_v4(char out[UUID_TEXT_LEN + 1])
{
	unsigned char b[UUID_BYTES];
	randombytes_buf(b, sizeof b);
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 9562 variant */
	uuid_format(b, out);
}
