/*
 * Tests services/gateway/tus_meta.c: the Upload-Metadata header of tus
 * (pairs, base64, duplicates, limits), Upload-Length/Offset numbers and the
 * Upload-Expires date.
 */
#include "../../../../services/gateway/tus_meta.c"

#include "test.h"

#include <sodium.h>

static ag_status parse(const char *h, tus_meta *m)
{
	char why[256] = "";
	ag_status st = tus_meta_parse(h, m, why, sizeof why);
	if (st != AG_OK)
		AG_CHECK(why[0] != '\0'); /* every refusal says why */
	return st;
}

static void reads_filename_and_filetype(void)
{
	tus_meta m;
	/* "report.pdf", "application/pdf" */
	AG_CHECK_INT(parse("filename cmVwb3J0LnBkZg==,filetype YXBwbGljYXRpb24vcGRm", &m), AG_OK);
	AG_CHECK(m.has_filename && m.has_filetype);
	AG_CHECK_STR(m.filename, "report.pdf");
	AG_CHECK_INT(m.filename_len, 10);
	AG_CHECK_STR(m.filetype, "application/pdf");
}

static void accepts_empty_values_other_keys_and_spaces(void)
{
	tus_meta m;
	AG_CHECK_INT(parse("is_confidential,filename cmVwb3J0LnBkZg==", &m), AG_OK);
	AG_CHECK_STR(m.filename, "report.pdf");
	AG_CHECK(!m.has_filetype);
	AG_CHECK_INT(parse("filename cmVwb3J0LnBkZg== , relativePath bnVsbA==", &m), AG_OK);
	AG_CHECK_STR(m.filename, "report.pdf");
	AG_CHECK_INT(parse("filename", &m), AG_OK);
	AG_CHECK(m.has_filename);
	AG_CHECK_STR(m.filename, "");
	AG_CHECK_INT(parse(NULL, &m), AG_OK);
	AG_CHECK(!m.has_filename);
	AG_CHECK_INT(parse("", &m), AG_OK);
}

static void decodes_utf8(void)
{
	tus_meta m;
	/* "résumé.txt" */
	AG_CHECK_INT(parse("filename csOpc3Vtw6kudHh0", &m), AG_OK);
	AG_CHECK_STR(m.filename, "r\xc3\xa9sum\xc3\xa9.txt");
}

static void refuses_malformed(void)
{
	tus_meta m;
	static const char *const bad[] = {
	        "filename !!notbase64",        /* bad base64 */
	        "filename cmVwb3J0LnBkZg",     /* missing padding */
	        "filename cmVw,filename cmVw", /* duplicate key */
	        ",filename cmVw",              /* empty key */
	        "filename cmVw,",              /* empty pair at the end */
	        "file\xc3\xa9name cmVw",       /* non-ASCII key */
	        "filename AA==",               /* a NUL byte in the value */
	        "filename cmVw cmVw",          /* two values */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (parse(bad[i], &m) != AG_E_INVAL) {
			printf("# accepted: %s\n", bad[i]);
			AG_CHECK(false);
		}
	}
}

static void enforces_limits(void)
{
	tus_meta m;
	char h[8192];
	size_t n = 0;
	/* a key of TUS_META_KEY_MAX + 1 characters */
	memset(h, 'k', TUS_META_KEY_MAX + 1);
	h[TUS_META_KEY_MAX + 1] = '\0';
	AG_CHECK_INT(parse(h, &m), AG_E_INVAL);
	h[TUS_META_KEY_MAX] = '\0';
	AG_CHECK_INT(parse(h, &m), AG_OK);
	/* TUS_META_MAX_PAIRS + 1 pairs */
	for (int i = 0; i <= TUS_META_MAX_PAIRS; i++)
		n += (size_t)snprintf(h + n, sizeof h - n, "%sk%d", i ? "," : "", i);
	AG_CHECK_INT(parse(h, &m), AG_E_INVAL);
	/* a value over TUS_META_VALUE_MAX decoded bytes */
	unsigned char raw[TUS_META_VALUE_MAX + 3];
	memset(raw, 'a', sizeof raw);
	memcpy(h, "filename ", 9);
	sodium_bin2base64(h + 9, sizeof h - 9, raw, TUS_META_VALUE_MAX + 1, sodium_base64_VARIANT_ORIGINAL);
	AG_CHECK_INT(parse(h, &m), AG_E_INVAL);
	sodium_bin2base64(h + 9, sizeof h - 9, raw, TUS_META_VALUE_MAX, sodium_base64_VARIANT_ORIGINAL);
	AG_CHECK_INT(parse(h, &m), AG_OK);
	AG_CHECK_INT(m.filename_len, TUS_META_VALUE_MAX);
}

static void parses_lengths_and_offsets(void)
{
	int64_t v = -1;
	AG_CHECK(tus_parse_uint("0", &v) && v == 0);
	AG_CHECK(tus_parse_uint("104857600", &v) && v == 104857600);
	AG_CHECK(tus_parse_uint("999999999999999999", &v) && v == 999999999999999999LL);
	AG_CHECK(!tus_parse_uint("1000000000000000000", &v)); /* 19 digits */
	AG_CHECK(!tus_parse_uint("", &v));
	AG_CHECK(!tus_parse_uint(NULL, &v));
	AG_CHECK(!tus_parse_uint("-1", &v));
	AG_CHECK(!tus_parse_uint("+1", &v));
	AG_CHECK(!tus_parse_uint(" 1", &v));
	AG_CHECK(!tus_parse_uint("1 ", &v));
	AG_CHECK(!tus_parse_uint("0x10", &v));
}

static void formats_http_dates(void)
{
	char d[TUS_HTTP_DATE_LEN + 1];
	tus_http_date(784111777, d);
	AG_CHECK_STR(d, "Sun, 06 Nov 1994 08:49:37 GMT");
	AG_CHECK_INT(strlen(d), TUS_HTTP_DATE_LEN);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	AG_TEST_RUN(reads_filename_and_filetype);
	AG_TEST_RUN(accepts_empty_values_other_keys_and_spaces);
	AG_TEST_RUN(decodes_utf8);
	AG_TEST_RUN(refuses_malformed);
	AG_TEST_RUN(enforces_limits);
	AG_TEST_RUN(parses_lengths_and_offsets);
	AG_TEST_RUN(formats_http_dates);
	return ag_test_summary();
}
