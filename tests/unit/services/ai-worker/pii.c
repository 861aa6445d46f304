/* Tests services/ai-worker/pii.c: what counts as personal data, with the checksums that keep noise out. */
#include "../../../../services/ai-worker/pii.c"

#include "test.h"

static pii_report scan(const char *text)
{
	pii_report r;
	pii_scan(text, strlen(text), &r);
	return r;
}

static void pii_checksums(void)
{
	AG_CHECK(pii_iban_valid("DE89370400440532013000", 22));
	AG_CHECK(pii_iban_valid("GB82WEST12345698765432", 22));
	AG_CHECK(!pii_iban_valid("DE89370400440532013001", 22)); /* one digit off */
	AG_CHECK(!pii_iban_valid("de89370400440532013000", 22)); /* lower case is not an IBAN */
	AG_CHECK(pii_luhn_valid("4111111111111111", 16));
	AG_CHECK(pii_luhn_valid("378282246310005", 15));
	AG_CHECK(!pii_luhn_valid("4111111111111112", 16));
	AG_CHECK(!pii_luhn_valid("0000000000000000", 16)); /* passes Luhn, but all one digit */
	AG_CHECK(!pii_luhn_valid("411111111111", 12));     /* too short */
}

static const struct {
	const char *text;
	size_t email, phone, iban, card, national_id;
} cases[] = {
        {"Mail anna.berg+news@mail.example.org or call +49 30 1234 5678.", 1, 1, 0, 0, 0},
        {"Pay to IBAN DE89 3704 0044 0532 0130 00 today.", 0, 0, 1, 0, 0},
        {"Pay to IBAN DE89370400440532013000.", 0, 0, 1, 0, 0},
        {"Bad IBAN DE89 3704 0044 0532 0130 01 here.", 0, 0, 0, 0, 0},
        {"Card 4111 1111 1111 1111 exp 12/29", 0, 0, 0, 1, 0},
        {"Card 4111-1111-1111-1111.", 0, 0, 0, 1, 0},
        {"Not a card: 4111 1111 1111 1112", 0, 0, 0, 0, 0},
        {"SSN 123-45-6789, but not 000-12-3456 or 666-12-3456.", 0, 0, 0, 0, 1},
        {"Phone 030 1234567 or (030) 123 4567", 0, 2, 0, 0, 0},
        {"Order 2026-03-01 of 1,234.56 EUR, invoice INV-2026-0042, version 1.2.3", 0, 0, 0, 0, 0},
        {"user@localhost is not an address, nor is @handle or a@b.c", 0, 0, 0, 0, 0},
        {"", 0, 0, 0, 0, 0},
};

static void pii_table(void)
{
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		pii_report r = scan(cases[i].text);
		size_t want[PII_KINDS] = {cases[i].email, cases[i].phone, cases[i].iban, cases[i].card,
		                          cases[i].national_id};
		for (int k = 0; k < PII_KINDS; k++)
			if (r.count[k] != want[k]) {
				fprintf(stderr, "  case %zu \"%s\": %s count %zu, want %zu\n", i, cases[i].text,
				        pii_kind_name((pii_kind)k), r.count[k], want[k]);
				ag_test_failed_checks++;
			}
	}
}

static void pii_positions_and_json(void)
{
	const char *t = "a: x@example.com, b: DE89 3704 0044 0532 0130 00";
	pii_report r = scan(t);
	AG_CHECK_INT(r.npos[PII_EMAIL], 1);
	AG_CHECK_INT(r.pos[PII_EMAIL][0], 3);
	AG_CHECK_INT(r.pos[PII_IBAN][0], strstr(t, "DE89") - t);
	char *j = pii_json(&r);
	AG_CHECK_STR(j, "{\"email\":{\"count\":1,\"positions\":[3]},\"phone\":{\"count\":0,\"positions\":[]},"
	                "\"iban\":{\"count\":1,\"positions\":[21]},\"card\":{\"count\":0,\"positions\":[]},"
	                "\"national_id\":{\"count\":0,\"positions\":[]},\"total\":2}");
	/* the values themselves are never in the report */
	AG_CHECK(j && !strstr(j, "example") && !strstr(j, "DE89"));
	free(j);
}

static void pii_many_finds_are_counted_past_the_positions_kept(void)
{
	char buf[64 * 40];
	size_t o = 0;
	for (int i = 0; i < 40; i++)
		o += (size_t)snprintf(buf + o, sizeof buf - o, "u%d@example.com ", i);
	pii_report r = scan(buf);
	AG_CHECK_INT(r.count[PII_EMAIL], 40);
	AG_CHECK_INT(r.npos[PII_EMAIL], PII_POSITIONS_MAX);
}

int main(void)
{
	AG_TEST_RUN(pii_checksums);
	AG_TEST_RUN(pii_table);
	AG_TEST_RUN(pii_positions_and_json);
	AG_TEST_RUN(pii_many_finds_are_counted_past_the_positions_kept);
	return ag_test_summary();
}
