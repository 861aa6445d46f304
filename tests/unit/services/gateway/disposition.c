/* Tests services/gateway/disposition.c (and the hparams.c tokenizer under it): Content-Disposition values. */
#include "../../../../services/gateway/disposition.c"
#include "../../../../services/gateway/hparams.c"

#include "test.h"

static void form_data_with_name_and_filename(void)
{
	disposition d;
	AG_CHECK_INT(disposition_parse("form-data; name=\"file\"; filename=\"report.pdf\"", &d), AG_OK);
	AG_CHECK_STR(d.type, "form-data");
	AG_CHECK(d.has_name);
	AG_CHECK_STR(d.name, "file");
	AG_CHECK(d.has_filename);
	AG_CHECK_STR(d.filename, "report.pdf");

	AG_CHECK_INT(disposition_parse("Form-Data;NAME=note", &d), AG_OK);
	AG_CHECK_STR(d.type, "form-data");
	AG_CHECK_STR(d.name, "note");
	AG_CHECK(!d.has_filename);
	AG_CHECK_STR(d.filename, "");
}

static void quoting_rules(void)
{
	disposition d;
	/* escaped quote and backslash; a lone backslash (Windows path from a browser) stays literal */
	AG_CHECK_INT(disposition_parse("attachment; filename=\"a\\\"b\\\\c\"", &d), AG_OK);
	AG_CHECK_STR(d.filename, "a\"b\\c");
	AG_CHECK_INT(disposition_parse("form-data; name=file; filename=\"C:\\Users\\me\\cv.doc\"", &d), AG_OK);
	AG_CHECK_STR(d.filename, "C:\\Users\\me\\cv.doc");
	/* ';' inside quotes is data; unquoted names with spaces are tolerated */
	AG_CHECK_INT(disposition_parse("attachment; filename=\"a;b.txt\"; name=x", &d), AG_OK);
	AG_CHECK_STR(d.filename, "a;b.txt");
	AG_CHECK_STR(d.name, "x");
	AG_CHECK_INT(disposition_parse("attachment; filename=my file.txt  ", &d), AG_OK);
	AG_CHECK_STR(d.filename, "my file.txt");
	/* raw UTF-8 inside quotes, as browsers send it */
	AG_CHECK_INT(disposition_parse("form-data; name=file; filename=\"r\xc3\xa9sum\xc3\xa9.pdf\"", &d), AG_OK);
	AG_CHECK_STR(d.filename, "r\xc3\xa9sum\xc3\xa9.pdf");
	/* empty quoted filename is present but empty */
	AG_CHECK_INT(disposition_parse("form-data; name=file; filename=\"\"", &d), AG_OK);
	AG_CHECK(d.has_filename);
	AG_CHECK_STR(d.filename, "");
	/* a trailing ';' and extra parameters are fine */
	AG_CHECK_INT(disposition_parse("inline; size=12; filename=a.txt;", &d), AG_OK);
	AG_CHECK_STR(d.filename, "a.txt");
}

static void extended_filename_wins(void)
{
	disposition d;
	AG_CHECK_INT(disposition_parse(
	                     "attachment; filename=\"EURO rates.txt\"; filename*=UTF-8''%e2%82%ac%20rates.txt", &d),
	             AG_OK);
	AG_CHECK_STR(d.filename, "\xe2\x82\xac rates.txt");
	AG_CHECK_INT(disposition_parse("attachment; filename*=iso-8859-1'en'%A3%20rates.txt", &d), AG_OK);
	AG_CHECK_STR(d.filename, "\xc2\xa3 rates.txt");
	/* an unknown charset falls back to filename */
	AG_CHECK_INT(disposition_parse("attachment; filename*=koi8-r''%C1; filename=plain.txt", &d), AG_OK);
	AG_CHECK_STR(d.filename, "plain.txt");
	/* malformed ext-values are errors, not silently ignored */
	AG_CHECK_INT(disposition_parse("attachment; filename*=UTF-8''%zz", &d), AG_E_PROTO);
	AG_CHECK_INT(disposition_parse("attachment; filename*=UTF-8%41", &d), AG_E_PROTO);
}

static void malformed_values(void)
{
	disposition d;
	AG_CHECK_INT(disposition_parse("", &d), AG_E_PROTO);
	AG_CHECK_INT(disposition_parse(NULL, &d), AG_E_PROTO);
	AG_CHECK_INT(disposition_parse("; name=x", &d), AG_E_PROTO);
	AG_CHECK_INT(disposition_parse("form-data name=x", &d), AG_E_PROTO);
	AG_CHECK_INT(disposition_parse("form-data; name", &d), AG_E_PROTO);
	AG_CHECK_INT(disposition_parse("form-data; =x", &d), AG_E_PROTO);
	AG_CHECK_INT(disposition_parse("form-data; name=\"unterminated", &d), AG_E_PROTO);
	AG_CHECK_INT(disposition_parse("form-data; name=\"a\"junk", &d), AG_E_PROTO);
	AG_CHECK_INT(disposition_parse("form-data; filename=a; filename=b", &d), AG_E_PROTO);
	AG_CHECK_INT(disposition_parse("form-data; filename=\"a\x01\"", &d), AG_E_PROTO);
	AG_CHECK_INT(disposition_parse("text/plain", &d), AG_E_PROTO);
}

static void long_filenames_are_bounded(void)
{
	disposition d;
	char v[DISPOSITION_VALUE_MAX + 64];
	int n = snprintf(v, sizeof v, "attachment; filename=\"");
	memset(v + n, 'x', DISPOSITION_VALUE_MAX);
	memcpy(v + n + DISPOSITION_VALUE_MAX, "\"", 2);
	AG_CHECK_INT(disposition_parse(v, &d), AG_OK);
	AG_CHECK_INT(strlen(d.filename), DISPOSITION_VALUE_MAX);
	v[n + DISPOSITION_VALUE_MAX] = 'x';
	memcpy(v + n + DISPOSITION_VALUE_MAX + 1, "\"", 2);
	AG_CHECK_INT(disposition_parse(v, &d), AG_E_TOOBIG);
}

static void media_types(void)
{
	char mt[HPARAMS_MEDIA_TYPE_MAX + 1];
	AG_CHECK(hparams_media_type("Text/Markdown; charset=UTF-8", mt, sizeof mt));
	AG_CHECK_STR(mt, "text/markdown");
	AG_CHECK(hparams_media_type("application/octet-stream", mt, sizeof mt));
	AG_CHECK_STR(mt, "application/octet-stream");
	AG_CHECK(!hparams_media_type("text", mt, sizeof mt));
	AG_CHECK(!hparams_media_type("text/", mt, sizeof mt));
	AG_CHECK(!hparams_media_type("/plain", mt, sizeof mt));
	AG_CHECK(!hparams_media_type("a/b/c", mt, sizeof mt));
	AG_CHECK(!hparams_media_type("text/plain junk", mt, sizeof mt));
	AG_CHECK(!hparams_media_type("", mt, sizeof mt));
	AG_CHECK(!hparams_media_type(NULL, mt, sizeof mt));
	char small[4];
	AG_CHECK(!hparams_media_type("text/plain", small, sizeof small));
}

int main(void)
{
	AG_TEST_RUN(form_data_with_name_and_filename);
	AG_TEST_RUN(quoting_rules);
	AG_TEST_RUN(extended_filename_wins);
	AG_TEST_RUN(malformed_values);
	AG_TEST_RUN(long_filenames_are_bounded);
	AG_TEST_RUN(media_types);
	return ag_test_summary();
}
