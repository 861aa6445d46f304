/*
 * tus_meta.c - Upload-Metadata, Upload-Length/Offset and date formatting for
 * the tus routes (see tus_meta.h). No I/O, so it is unit-tested directly.
 */
#include "tus_meta.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

static bool tus_meta_key_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f && c != ',';
}

ag_status tus_meta_parse(const char *header, tus_meta *out, char *why, size_t whysz)
{
	char keys[TUS_META_MAX_PAIRS][TUS_META_KEY_MAX + 1];
	unsigned char value[TUS_META_VALUE_MAX + 1];
	int npairs = 0;
	memset(out, 0, sizeof *out);
	if (!header || !*header)
		return AG_OK;
	const char *p = header;
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		const char *k = p;
		while (*p && tus_meta_key_char((unsigned char)*p))
			p++;
		size_t klen = (size_t)(p - k);
		if (klen == 0 || klen > TUS_META_KEY_MAX || (*p && *p != ' ' && *p != ',')) {
			snprintf(why, whysz,
			         "Upload-Metadata: each pair is a key of 1 to %d visible ASCII characters, a "
			         "space and a base64 value",
			         TUS_META_KEY_MAX);
			return AG_E_INVAL;
		}
		if (npairs == TUS_META_MAX_PAIRS) {
			snprintf(why, whysz, "Upload-Metadata: more than %d pairs", TUS_META_MAX_PAIRS);
			return AG_E_INVAL;
		}
		memcpy(keys[npairs], k, klen);
		keys[npairs][klen] = '\0';
		for (int i = 0; i < npairs; i++) {
			if (strcmp(keys[i], keys[npairs]) == 0) {
				snprintf(why, whysz, "Upload-Metadata: the key \"%s\" appears twice", keys[i]);
				return AG_E_INVAL;
			}
		}
		npairs++;
		const char *v = p, *vend = p;
		if (*p == ' ') {
			v = ++p;
			while (*p && *p != ',')
				p++;
			vend = p;
			while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t'))
				vend--;
		}
		size_t vlen = 0;
		if (vend > v && sodium_base642bin(value, TUS_META_VALUE_MAX, v, (size_t)(vend - v), NULL, &vlen, NULL,
		                                  sodium_base64_VARIANT_ORIGINAL) != 0) {
			snprintf(why, whysz,
			         "Upload-Metadata: the value of \"%s\" is not standard base64 of at most %d bytes",
			         keys[npairs - 1], TUS_META_VALUE_MAX);
			return AG_E_INVAL;
		}
		if (memchr(value, '\0', vlen)) {
			snprintf(why, whysz, "Upload-Metadata: the value of \"%s\" holds a NUL byte", keys[npairs - 1]);
			return AG_E_INVAL;
		}
		value[vlen] = '\0';
		if (strcmp(keys[npairs - 1], "filename") == 0) {
			out->has_filename = true;
			out->filename_len = vlen;
			memcpy(out->filename, value, vlen + 1);
		} else if (strcmp(keys[npairs - 1], "filetype") == 0) {
			out->has_filetype = true;
			memcpy(out->filetype, value, vlen + 1);
		}
		if (*p == '\0')
			return AG_OK;
		p++; /* the comma */
	}
}

bool tus_parse_uint(const char *s, int64_t *out)
{
	int64_t v = 0;
	size_t n = 0;
	if (!s)
		return false;
	for (; s[n]; n++) {
		if (s[n] < '0' || s[n] > '9' || n == 18)
			return false;
		v = v * 10 + (s[n] - '0');
	}
	if (n == 0)
		return false;
	*out = v;
	return true;
}

void tus_http_date(time_t t, char out[TUS_HTTP_DATE_LEN + 1])
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, TUS_HTTP_DATE_LEN + 1, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}
