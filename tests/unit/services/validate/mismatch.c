/* Tests services/validate/mismatch.c: claimed type and file-name extension against the sniffed type. */
#include "../../../../services/validate/mismatch.c"

#include "test.h"

static const struct {
	const char *filename, *claimed, *sniffed;
	bool mismatch;
} cases[] = {
        {"report.pdf", "application/pdf", "application/pdf", false},
        {"report.PDF", NULL, "application/pdf", false},
        {"notes.md", "text/markdown", "text/plain", false},           /* text is one family */
        {"data.csv", "text/csv; charset=utf-8", "text/plain", false}, /* parameters ignored */
        {"data.json", "application/json", "text/plain", false},
        {"photo.jpg", "image/jpg", "image/jpeg", false},
        {"blob", "application/octet-stream", "application/pdf", false}, /* no claim */
        {"thesis.docx", "application/zip", "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
         false},
        {"archive.unknownext", "", "application/pdf", false},
        {"mail.eml", "message/rfc822", "message/rfc822", false},
        {"mail.eml", NULL, "text/plain", false}, /* a message libmagic did not recognise is still text */
        {"mail.eml", NULL, "application/pdf", true},
        {"invoice.pdf", "application/pdf", "application/x-dosexec", true}, /* claimed PDF, is a program */
        {"invoice.pdf", NULL, "text/html", true},                          /* extension lies */
        {"photo.png", "image/png", "image/jpeg", true},
        {"notes.txt", NULL, "application/pdf", true},
        {"sheet.xlsx", NULL, "application/zip", true},
        {"page.html", "text/html", "image/png", true},
};

static void mismatch_table(void)
{
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char why[320] = "";
		bool got = mismatch_check(cases[i].filename, cases[i].claimed, cases[i].sniffed, why, sizeof why);
		if (got != cases[i].mismatch)
			fprintf(stderr, "  case %zu (%s, %s, %s): got %d, want %d (%s)\n", i, cases[i].filename,
			        cases[i].claimed ? cases[i].claimed : "-", cases[i].sniffed, got, cases[i].mismatch,
			        why);
		AG_CHECK(got == cases[i].mismatch);
		AG_CHECK(!got || strstr(why, cases[i].sniffed) != NULL); /* the sentence names the real type */
	}
}

static void mismatch_policies(void)
{
	mismatch_policy p;
	AG_CHECK(mismatch_policy_parse("allow", &p) && p == MISMATCH_ALLOW);
	AG_CHECK(mismatch_policy_parse("reject", &p) && p == MISMATCH_REJECT);
	AG_CHECK(!mismatch_policy_parse("warn", &p));
	AG_CHECK(!mismatch_policy_parse("", &p));
}

int main(void)
{
	AG_TEST_RUN(mismatch_table);
	AG_TEST_RUN(mismatch_policies);
	return ag_test_summary();
}
