/* Tests services/validate/allow.c: parsing VALIDATE_ALLOWED_TYPES and matching sniffed types against it. */
#include "../../../../services/validate/allow.c"

#include "test.h"

#define DEFAULT_TYPES                                                                                            \
	"text/plain,text/markdown,text/x-markdown,text/csv,text/html,application/json,application/xml,text/xml," \
	"application/pdf"

static void allow_matches_table(void)
{
	static const struct {
		const char *list;
		const char *mime;
		bool want;
	} cases[] = {
	        {DEFAULT_TYPES, "text/plain", true},
	        {DEFAULT_TYPES, "application/pdf", true},
	        {DEFAULT_TYPES, "application/json", true},
	        {DEFAULT_TYPES, "text/xml", true},
	        {DEFAULT_TYPES, "TEXT/Plain", true},                /* case-insensitive */
	        {DEFAULT_TYPES, "text/plain; charset=utf-8", true}, /* parameters ignored */
	        {DEFAULT_TYPES, "application/x-dosexec", false},
	        {DEFAULT_TYPES, "application/zip", false},
	        {DEFAULT_TYPES, "image/png", false},
	        {DEFAULT_TYPES, "text/x-c", false}, /* exact entries are not prefixes */
	        {DEFAULT_TYPES, "text/plainx", false},
	        {DEFAULT_TYPES, "text", false},
	        {DEFAULT_TYPES, "", false},
	        {"image/*, application/pdf", "image/png", true}, /* a family */
	        {"image/*, application/pdf", "image/svg+xml", true},
	        {"image/*, application/pdf", "IMAGE/JPEG", true},
	        {"image/*, application/pdf", "imagex/png", false}, /* the family is the whole top-level type */
	        {"image/*, application/pdf", "ima/png", false},
	        {"image/*, application/pdf", "image", false},
	        {"image/*, application/pdf", "image/", false},
	        {"image/*, application/pdf", "text/plain", false},
	        {"  text/csv  ,\tapplication/vnd.ms-excel ", "application/vnd.ms-excel", true},
	        {"*/*", "application/octet-stream", true},
	        {"*/*", "junk", false}, /* still has to look like a type */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		allow_list l;
		ag_err err = {0};
		AG_CHECK_INT(allow_parse(&l, cases[i].list, &err), AG_OK);
		if (allow_match(&l, cases[i].mime) != cases[i].want) {
			fprintf(stderr, "  case %zu: \"%s\" against \"%s\": want %s\n", i, cases[i].mime, cases[i].list,
			        cases[i].want ? "allowed" : "refused");
			ag_test_failed_checks++;
		}
	}
}

static void allow_parse_normalises(void)
{
	allow_list l;
	AG_CHECK_INT(allow_parse(&l, " Text/Plain , IMAGE/*,,application/pdf ", NULL), AG_OK);
	AG_CHECK_INT(l.n, 3);
	AG_CHECK_STR(l.types[0], "text/plain");
	AG_CHECK_STR(l.types[1], "image/*");
	AG_CHECK_STR(l.types[2], "application/pdf");
}

static void allow_parse_refuses_junk(void)
{
	static const char *const bad[] = {
	        "",        " , ,",    "text",         "/plain",     "text/",   "text/pl ain",
	        "text/*x", "*/plain", "text/plain/x", "te*t/plain", "text/**", "text/plain,html",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		allow_list l;
		ag_err err = {0};
		if (allow_parse(&l, bad[i], &err) != AG_E_INVAL) {
			fprintf(stderr, "  \"%s\" was accepted\n", bad[i]);
			ag_test_failed_checks++;
		}
		AG_CHECK(err.msg[0] != '\0');
	}
	allow_list l;
	ag_err err = {0};
	AG_CHECK_INT(allow_parse(&l, "text/plain,html", &err), AG_E_INVAL);
	AG_CHECK(strstr(err.msg, "\"html\"") != NULL); /* the operator sees which entry is wrong */
	AG_CHECK_INT(allow_parse(&l, NULL, NULL), AG_E_INVAL);
}

static void allow_parse_caps_entries(void)
{
	char spec[ALLOW_MAX_ENTRIES * 16 + 32];
	size_t off = 0;
	for (int i = 0; i <= ALLOW_MAX_ENTRIES; i++)
		off += (size_t)snprintf(spec + off, sizeof spec - off, "%sa/t%d", i ? "," : "", i);
	allow_list l;
	AG_CHECK_INT(allow_parse(&l, spec, NULL), AG_E_INVAL); /* one too many */
	char *last = strrchr(spec, ',');
	*last = '\0';
	AG_CHECK_INT(allow_parse(&l, spec, NULL), AG_OK); /* exactly the maximum */
	AG_CHECK_INT(l.n, ALLOW_MAX_ENTRIES);
	AG_CHECK(allow_match(&l, "a/t63"));

	char longtype[ALLOW_MAX_TYPE_BYTES + 8];
	memset(longtype, 'x', sizeof longtype - 1);
	longtype[sizeof longtype - 1] = '\0';
	longtype[3] = '/';
	AG_CHECK_INT(allow_parse(&l, longtype, NULL), AG_E_INVAL);
	AG_CHECK_INT(allow_parse(&l, "text/plain", NULL), AG_OK);
	AG_CHECK(!allow_match(&l, longtype)); /* an over-long sniffed type never matches */
}

int main(void)
{
	AG_TEST_RUN(allow_matches_table);
	AG_TEST_RUN(allow_parse_normalises);
	AG_TEST_RUN(allow_parse_refuses_junk);
	AG_TEST_RUN(allow_parse_caps_entries);
	return ag_test_summary();
}
