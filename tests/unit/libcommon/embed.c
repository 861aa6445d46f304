/* Tests libcommon/src/embed.c: the hashed lexical embedding shared by the ai-worker and the gateway. */
#include "aegis/embed.h"

#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DIMS 256 /* pinned below; the default may change */

static const char invoice[] =
        "INVOICE Invoice number: INV-2026-0042. Container storage, March 3 x 120.00. Subtotal: 610.00 EUR. "
        "VAT 20%: 122.00 EUR. Total due: 732.00 EUR. Payment terms: 30 days. Please pay the amount due by bank "
        "transfer. Questions about this invoice: billing.";
static const char letter[] =
        "Dear Ms Fischer, thank you for your kind invitation to the opening of the new library in the old town. I "
        "am very sorry that I cannot attend on the evening of the twelfth, because I will be travelling abroad.";
static const char report[] =
        "This report presents the findings of our survey of twenty mountain lakes during the summer season. The "
        "analysis shows that the water temperature rose in most lakes, and that algae growth increased.";
static const char bread[] =
        "Das Brot wird am Abend vorbereitet, damit der Teig über Nacht langsam gehen kann. Man mischt das Mehl "
        "mit Wasser, Salz und etwas Hefe und knetet den Teig, bis er glatt ist.";

static double sim(const char *a, const char *b)
{
	float va[DIMS], vb[DIMS];
	ag_embed_hashed(a, strlen(a), va, DIMS);
	ag_embed_hashed(b, strlen(b), vb, DIMS);
	return ag_embed_cosine(va, vb, DIMS);
}

static void test_unit_length_and_determinism(void)
{
	float a[DIMS], b[DIMS];
	AG_CHECK(ag_embed_hashed(report, strlen(report), a, DIMS));
	AG_CHECK(ag_embed_hashed(report, strlen(report), b, DIMS));
	double n = 0;
	for (int i = 0; i < DIMS; i++)
		n += (double)a[i] * a[i];
	AG_CHECK(fabs(n - 1.0) < 1e-5);
	AG_CHECK(memcmp(a, b, sizeof a) == 0);
	/* a fixed hash: this value must never change, or stored vectors stop matching queries */
	float w[DIMS];
	ag_embed_hashed("invoice", 7, w, DIMS);
	int nonzero = 0;
	for (int i = 0; i < DIMS; i++)
		nonzero += w[i] != 0;
	AG_CHECK(nonzero >= 3 && nonzero <= 10); /* the word, its stem and its trigrams */
	/* pinned: the word feature of "invoice" lands in dimension 68 with weight 0.758 after normalisation */
	AG_CHECK(fabs(w[68]) > 0.75 && fabs(w[68]) < 0.77);
}

static void test_no_words(void)
{
	float v[DIMS];
	AG_CHECK(!ag_embed_hashed("  ... !!! ", 10, v, DIMS));
	AG_CHECK(!ag_embed_hashed("the and of", 10, v, DIMS)); /* only function words */
	AG_CHECK_INT(v[0] == 0 && v[DIMS - 1] == 0, 1);
	AG_CHECK(!ag_embed_hashed("x", 1, v, 3)); /* dims out of range */
	AG_CHECK(ag_embed_cosine(v, v, DIMS) == 0);
}

static void test_case_and_accents_fold(void)
{
	AG_CHECK(sim("ÜBER DEN TEIG", "über den teig") > 0.999);
	AG_CHECK(sim("Invoice Payment", "invoice payment") > 0.999);
}

static void test_related_text_ranks_above_unrelated(void)
{
	const char *q1 = "temperatures of lakes and algae in summer";
	AG_CHECK(sim(q1, report) > sim(q1, bread));
	AG_CHECK(sim(q1, report) > sim(q1, letter));
	AG_CHECK(sim(q1, report) > sim(q1, invoice));
	const char *q2 = "invoices payment";
	AG_CHECK(sim(q2, invoice) > sim(q2, letter));
	AG_CHECK(sim(q2, invoice) > sim(q2, report));
	AG_CHECK(sim(q2, invoice) > sim(q2, bread));
	/* a word's inflection still matches through the trigrams */
	AG_CHECK(sim("invoices", "invoice") > 0.3);
	AG_CHECK(sim("invoices", "library") < 0.2);
}

static void test_prefix_query(void)
{
	char out[128];
	AG_CHECK(ag_embed_prefix_query("Invoices and the payment", 24, out, sizeof out));
	AG_CHECK_STR(out, "invoi:* | payme:*"); /* stop words left out, long words cut to their stem */
	AG_CHECK(ag_embed_prefix_query("Überweisung 'x' OR (a|b)", 26, out, sizeof out));
	AG_CHECK_STR(out, "\xc3\xbc"
	                  "ber:*"); /* whole UTF-8 characters; no tsquery syntax passes through */
	AG_CHECK(!ag_embed_prefix_query("a | b & !c", 10, out, sizeof out));
	AG_CHECK_STR(out, "");
	AG_CHECK(ag_embed_prefix_query("lakes algae summer", 18, out, 12)); /* what does not fit is left out */
	AG_CHECK_STR(out, "lakes:*");
}

static void test_model_name(void)
{
	char m[AG_EMBED_MODEL_MAX];
	ag_embed_model(256, m);
	AG_CHECK_STR(m, "hashed-v1-256");
}

static void test_pg_array_literal(void)
{
	const float v[] = {0.5f, -0.25f, 1e-8f};
	char *s = ag_embed_pg_array(v, 3);
	AG_CHECK(s != NULL);
	if (s)
		AG_CHECK_STR(s, "{0.5,-0.25,1e-08}");
	free(s);
	s = ag_embed_pg_array(v, 0);
	AG_CHECK(s != NULL);
	if (s)
		AG_CHECK_STR(s, "{}");
	free(s);
}

int main(void)
{
	AG_TEST_RUN(test_unit_length_and_determinism);
	AG_TEST_RUN(test_no_words);
	AG_TEST_RUN(test_pg_array_literal);
	AG_TEST_RUN(test_case_and_accents_fold);
	AG_TEST_RUN(test_related_text_ranks_above_unrelated);
	AG_TEST_RUN(test_prefix_query);
	AG_TEST_RUN(test_model_name);
	return ag_test_summary();
}
