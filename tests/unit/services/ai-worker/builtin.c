/* Tests services/ai-worker/builtin.c (through ai_provider.c): language, keywords and extractive summary. */
#include "../../../../services/ai-worker/ai_provider.c"
#include "../../../../services/ai-worker/builtin.c"
#include "../../../../services/ai-worker/category.c"
#include "../../../../services/ai-worker/openai.c"
#include "../../../../services/ai-worker/stopwords.c"
#include "../../../../services/ai-worker/terms.c"
#include "../../../../services/ai-worker/tokens.c"

#include "test.h"

static ai_provider p;

static const char *lang_of(const char *text)
{
	static char out[AI_LANG_MAX];
	AG_CHECK_INT(p.vt->language(p.self, text, strlen(text), out, NULL), AG_OK);
	return out;
}

static const struct {
	const char *lang;
	const char *text;
} paragraphs[] = {
        {"en", "The city council met on Tuesday evening to discuss the new plan for the old harbour. Many residents "
               "were worried about the noise and the traffic, but the mayor said that the project would bring jobs and "
               "money to the region within a few years."},
        {"de", "Der Stadtrat hat sich am Dienstagabend getroffen, um über den neuen Plan für den alten Hafen zu "
               "sprechen. Viele Bewohner sind wegen des Lärms und des Verkehrs besorgt, aber der Bürgermeister sagte, "
               "dass das Projekt in wenigen Jahren Arbeit und Geld in die Region bringen wird."},
        {"fr",
         "Le conseil municipal s'est réuni mardi soir pour discuter du nouveau projet pour le vieux port. Beaucoup "
         "d'habitants sont inquiets à cause du bruit et de la circulation, mais le maire a dit que le projet "
         "apportera des emplois et de l'argent dans la région en quelques années."},
        {"es",
         "El ayuntamiento se reunió el martes por la noche para hablar del nuevo plan para el puerto viejo. "
         "Muchos vecinos están preocupados por el ruido y el tráfico, pero el alcalde dijo que el proyecto traerá "
         "empleo y dinero a la región en pocos años."},
        {"it",
         "Il consiglio comunale si è riunito martedì sera per discutere il nuovo piano per il vecchio porto. Molti "
         "abitanti sono preoccupati per il rumore e il traffico, ma il sindaco ha detto che il progetto porterà "
         "lavoro e denaro nella regione in pochi anni."},
        {"pt",
         "A câmara municipal reuniu-se na terça-feira à noite para discutir o novo plano para o porto velho. "
         "Muitos moradores estão preocupados com o barulho e o trânsito, mas o presidente disse que o projeto vai "
         "trazer empregos e dinheiro para a região em poucos anos."},
        {"nl", "De gemeenteraad kwam dinsdagavond bijeen om het nieuwe plan voor de oude haven te bespreken. Veel "
               "bewoners maken zich zorgen over het lawaai en het verkeer, maar de burgemeester zei dat het project "
               "binnen een paar jaar banen en geld naar de regio zal brengen."},
        {"en",
         "Last summer we spent two weeks at the seaside with our children. The weather was warm and sunny almost "
         "every day, so we swam in the sea, built castles in the sand and ate ice cream in the small village near "
         "the beach."},
        {"de",
         "Letzten Sommer haben wir mit unseren Kindern zwei Wochen am Meer verbracht. Das Wetter war fast jeden "
         "Tag warm und sonnig, also sind wir im Meer geschwommen, haben Burgen im Sand gebaut und im kleinen Dorf "
         "am Strand Eis gegessen."},
        {"fr",
         "L'été dernier, nous avons passé deux semaines au bord de la mer avec nos enfants. Il faisait chaud et "
         "beau presque tous les jours, alors nous avons nagé dans la mer, construit des châteaux de sable et mangé "
         "des glaces dans le petit village près de la plage."},
        {"es", "El verano pasado pasamos dos semanas en la playa con nuestros hijos. Hizo calor y sol casi todos los "
               "días, así que nadamos en el mar, construimos castillos de arena y comimos helados en el pequeño pueblo "
               "cerca de la playa."},
        {"it",
         "L'estate scorsa abbiamo passato due settimane al mare con i nostri figli. Il tempo era caldo e "
         "soleggiato quasi ogni giorno, così abbiamo nuotato nel mare, costruito castelli di sabbia e mangiato il "
         "gelato nel piccolo paese vicino alla spiaggia."},
        {"pt", "No verão passado passámos duas semanas na praia com os nossos filhos. O tempo esteve quente e "
               "ensolarado quase todos os dias, por isso nadámos no mar, construímos castelos de areia e comemos "
               "gelados na pequena aldeia perto da praia."},
        {"nl", "Vorige zomer hebben we met onze kinderen twee weken aan zee doorgebracht. Het weer was bijna elke dag "
               "warm en zonnig, dus we hebben in de zee gezwommen, zandkastelen gebouwd en ijs gegeten in het kleine "
               "dorp bij het strand."},
};

static void builtin_language_of_paragraphs(void)
{
	for (size_t i = 0; i < sizeof paragraphs / sizeof paragraphs[0]; i++) {
		const char *got = lang_of(paragraphs[i].text);
		if (strcmp(got, paragraphs[i].lang) != 0) {
			fprintf(stderr, "  paragraph %zu: got %s, want %s\n", i, got, paragraphs[i].lang);
			ag_test_failed_checks++;
		}
	}
}

/* Forms and invoices are mostly nouns and numbers: few stop words, but all of one language. */
static void builtin_language_of_a_form(void)
{
	static const char invoice[] =
	        "INVOICE\n\nInvoice number: INV-2026-0042\nInvoice date: 2026-03-01\nDue date: 2026-03-31\n\n"
	        "Bill to: Harbour Logistics Ltd, 12 Quay Street, Bristol\n\n"
	        "Description                     Qty   Unit price    Total\n"
	        "Container storage, March          3       120.00   360.00\n"
	        "Crane handling                    1       250.00   250.00\n\n"
	        "Subtotal: 610.00 EUR\nVAT 20%: 122.00 EUR\nTotal due: 732.00 EUR\n\n"
	        "Payment terms: 30 days. Please pay the amount due by bank transfer to\n"
	        "IBAN DE89 3704 0044 0532 0130 00, BIC COBADEFFXXX.\n"
	        "Questions about this invoice: billing@harbour-logistics.example.com\n"
	        "Reference card on file (expired, do not charge): 4111 1111 1111 1112\n";
	AG_CHECK_STR(lang_of(invoice), "en");
	static const char rechnung[] = "RECHNUNG\n\nRechnungsnummer: RE-2026-0042\nRechnungsdatum: 01.03.2026\n\n"
	                               "Empfänger: Hafen Logistik GmbH, Kaistraße 12, Hamburg\n\n"
	                               "Beschreibung              Menge   Einzelpreis   Gesamt\n"
	                               "Containerlager, März          3        120,00   360,00\n"
	                               "Kranarbeiten                  1        250,00   250,00\n\n"
	                               "Zwischensumme: 610,00 EUR\nMwSt. 19%: 115,90 EUR\nGesamtbetrag: 725,90 EUR\n\n"
	                               "Zahlbar innerhalb von 30 Tagen. Bitte überweisen Sie den Betrag auf das Konto\n"
	                               "IBAN DE89 3704 0044 0532 0130 00 und geben Sie die Rechnungsnummer an.\n"
	                               "Fragen zu dieser Rechnung: buchhaltung@hafen-logistik.example.com\n";
	AG_CHECK_STR(lang_of(rechnung), "de");
}

static void builtin_language_undetermined(void)
{
	AG_CHECK_STR(lang_of("12345"), "und");
	AG_CHECK_STR(lang_of(""), "und");
	AG_CHECK_STR(lang_of("hello world"), "und");                                          /* too short */
	AG_CHECK_STR(lang_of("Kubernetes Helm Terraform Ansible Grafana Prometheus"), "und"); /* no function words */
	AG_CHECK_STR(lang_of("3.14 2.71 1.41 42 1000 7 99 12 8"), "und");
}

static void builtin_keywords_leave_out_stop_words(void)
{
	static const char text[] = "Solar panels turn sunlight into electricity. In 2023 the solar panels on the roof "
	                           "made electricity for "
	                           "the whole house, and the solar electricity was cheap. It is solar power at its "
	                           "best: solar electricity "
	                           "and panels. An ox is an ox.";
	ai_keywords k;
	AG_CHECK_INT(p.vt->keywords(p.self, text, sizeof text - 1, &k, NULL), AG_OK);
	AG_CHECK_INT(k.n, 8);
	AG_CHECK_STR(k.word[0], "solar");       /* 5 times */
	AG_CHECK_STR(k.word[1], "electricity"); /* 4 times */
	AG_CHECK_STR(k.word[2], "panels");      /* 3 times */
	for (size_t i = 0; i < k.n; i++) {
		static const char *const never[] = {"the", "and",  "into", "its", "for",
		                                    "was", "2023", "ox",   "is",  "an"};
		for (size_t j = 0; j < sizeof never / sizeof never[0]; j++)
			if (strcmp(k.word[i], never[j]) == 0) {
				fprintf(stderr, "  \"%s\" is not a keyword\n", never[j]);
				ag_test_failed_checks++;
			}
		AG_CHECK(strlen(k.word[i]) >= 3);
	}

	/* German stop words go too, and keywords are lower-cased */
	static const char de[] =
	        "Die Energiewende ist für die Industrie wichtig. Die Energiewende braucht Strom, und "
	        "der Strom kommt aus Wind. Der Wind weht nicht immer, aber die Energiewende geht weiter.";
	AG_CHECK_INT(p.vt->keywords(p.self, de, sizeof de - 1, &k, NULL), AG_OK);
	AG_CHECK_STR(k.word[0], "energiewende");
	AG_CHECK_STR(k.word[1], "strom");
	AG_CHECK_STR(k.word[2], "wind");
	for (size_t i = 0; i < k.n; i++)
		AG_CHECK(strcmp(k.word[i], "die") != 0 && strcmp(k.word[i], "und") != 0 &&
		         strcmp(k.word[i], "nicht") != 0 && strcmp(k.word[i], "aber") != 0);

	AG_CHECK_INT(p.vt->keywords(p.self, "12345 678", 9, &k, NULL), AG_OK);
	AG_CHECK_INT(k.n, 0); /* numbers are not keywords */
}

#define S1 "Solar panels turn sunlight into electricity."
#define S2 "My neighbour has a red bicycle."
#define S3 "Modern solar panels produce more electricity every year while solar panels get cheaper."
#define S4 "The bakery opens at seven on weekdays."
#define S5 "Cheap solar electricity from panels lowers energy bills."
#define S6 "Yesterday it rained in the afternoon."
#define S7 "Grid operators work through the night."
#define S8 "The museum shows paintings from the old masters."

static void builtin_summary_picks_the_central_sentences(void)
{
	static const char text[] = "Solar power\n\n" S1 " " S2 "\n" S3 "  " S4 " " S5 "\n\n" S6 " " S7 " " S8;
	char *sum = NULL;
	AG_CHECK_INT(p.vt->summarize(p.self, text, sizeof text - 1, &sum, NULL), AG_OK);
	AG_CHECK_STR(sum, S1 " " S3 " " S5); /* the three about solar electricity, in their order; not the heading */
	free(sum);

	ai_provider one;
	AG_CHECK_INT(ai_provider_open(&one, "builtin", &(ai_opts){.summary_sentences = 1, .keywords = 3}, NULL), AG_OK);
	AG_CHECK_INT(one.vt->summarize(one.self, text, sizeof text - 1, &sum, NULL), AG_OK);
	AG_CHECK_STR(sum, S3);
	free(sum);
	ai_provider_close(&one);
}

static void builtin_summary_edges(void)
{
	char *sum = NULL;
	AG_CHECK_INT(p.vt->summarize(p.self, "", 0, &sum, NULL), AG_OK);
	AG_CHECK_STR(sum, "");
	free(sum);
	/* fewer sentences than asked: all of them, whitespace folded */
	static const char two[] = "First   sentence\nhere. Second one!";
	AG_CHECK_INT(p.vt->summarize(p.self, two, sizeof two - 1, &sum, NULL), AG_OK);
	AG_CHECK_STR(sum, "First sentence here. Second one!");
	free(sum);
	/* endless text without sentence ends: sentences are cut at whitespace, the summary stays under its limit */
	size_t n = 3 * AI_SUMMARY_MAX_BYTES;
	char *big = malloc(n + 1);
	for (size_t i = 0; i + 3 <= n; i += 3)
		memcpy(big + i, i % 2 ? "\xc3\xa9 " : "ab ", 3);
	big[n] = '\0';
	AG_CHECK_INT(p.vt->summarize(p.self, big, n, &sum, NULL), AG_OK);
	AG_CHECK(strlen(sum) < AI_SUMMARY_MAX_BYTES);
	AG_CHECK(strlen(sum) >= TOKENS_SENTENCE_HARD_MAX);
	free(sum);
	/* one "sentence" longer than a summary may be: cut on a character boundary, with an ellipsis */
	for (size_t i = 0; i + 2 <= n; i += 2)
		memcpy(big + i, "\xc3\xa9", 2);
	AG_CHECK_INT(p.vt->summarize(p.self, big, n, &sum, NULL), AG_OK);
	AG_CHECK(strlen(sum) < AI_SUMMARY_MAX_BYTES);
	AG_CHECK(strlen(sum) > AI_SUMMARY_MAX_BYTES - 8);
	AG_CHECK(strcmp(sum + strlen(sum) - 3, "\xe2\x80\xa6") == 0);
	size_t bad = 0;
	for (size_t i = 0; i + 3 < strlen(sum); i += 2) /* é after é up to the ellipsis: no split character */
		bad += memcmp(sum + i, "\xc3\xa9", 2) != 0;
	AG_CHECK_INT(bad, 0);
	free(sum);
	free(big);
}

static void builtin_provider_table(void)
{
	ai_provider q;
	ag_err err = {0};
	AG_CHECK_INT(ai_provider_open(&q, "gpt", &(ai_opts){.summary_sentences = 3, .keywords = 8}, &err), AG_E_INVAL);
	AG_CHECK(strstr(err.msg, "gpt") != NULL);
	AG_CHECK(strstr(err.msg, "builtin,openai") != NULL); /* says what is supported */
	AG_CHECK(q.vt == NULL);
	ai_provider_close(&q);
	/* openai without its URL and models is refused, naming the settings */
	AG_CHECK_INT(ai_provider_open(&q, "openai", &(ai_opts){.summary_sentences = 3, .keywords = 8}, &err),
	             AG_E_INVAL);
	AG_CHECK(strstr(err.msg, "AI_BASE_URL") != NULL);
	AG_CHECK_INT(ai_provider_find("builtin", NULL), AG_OK);
	AG_CHECK_INT(ai_provider_find("Builtin", &err), AG_E_INVAL); /* names are exact */
	AG_CHECK_INT(ai_provider_find(NULL, &err), AG_E_INVAL);
	AG_CHECK_STR(ai_provider_names(), "builtin,openai");
	AG_CHECK_INT(ai_provider_open(&q, "builtin", &(ai_opts){.summary_sentences = 0, .keywords = 8}, &err),
	             AG_E_INVAL);
	AG_CHECK_INT(ai_provider_open(&q, "builtin",
	                              &(ai_opts){.summary_sentences = 3, .keywords = AI_KEYWORDS_MAX + 1}, &err),
	             AG_E_INVAL);
	AG_CHECK_STR(p.vt->name, "builtin");
	AG_CHECK(p.model == NULL);
	AG_CHECK_STR(p.embed_model, "hashed-v1-512");
}

/* Markdown headings, tables, code blocks and rules are never summary sentences. */
static void builtin_summary_skips_markdown(void)
{
	static const char md[] =
	        "# Release notes for the storage engine version\n\n"
	        "| Column one of the table | Column two of the table | Column three |\n"
	        "|---|---|---|\n"
	        "| storage engine storage engine | storage engine value | storage |\n\n"
	        "The storage engine now writes every page twice, so a crash never loses a page.\n\n"
	        "```c\n"
	        "int storage_engine_write(storage *engine, page *p); /* storage engine storage engine */\n"
	        "```\n\n"
	        "    storage_engine_flush(engine); storage engine storage engine storage\n\n"
	        "------\n\n"
	        "Old storage files are converted by the engine on the first start.\n";
	char *sum = NULL;
	ai_provider two;
	AG_CHECK_INT(ai_provider_open(&two, "builtin", &(ai_opts){.summary_sentences = 2, .keywords = 3}, NULL), AG_OK);
	AG_CHECK_INT(two.vt->summarize(two.self, md, sizeof md - 1, &sum, NULL), AG_OK);
	AG_CHECK_STR(sum, "The storage engine now writes every page twice, so a crash never loses a page. Old storage "
	                  "files are converted by the engine on the first start.");
	free(sum);
	/* a text that is only a table still gets a summary */
	static const char table[] = "| name | value | unit of the value |\n| storage engine pages | 42 | pages |\n";
	AG_CHECK_INT(two.vt->summarize(two.self, table, sizeof table - 1, &sum, NULL), AG_OK);
	AG_CHECK(sum && sum[0] != '\0');
	free(sum);
	ai_provider_close(&two);
}

static const char *category_of(const char *text)
{
	static char out[AI_CATEGORY_MAX];
	AG_CHECK_INT(p.vt->category(p.self, text, strlen(text), out, NULL), AG_OK);
	return out;
}

/* A small labelled set: one clear example per category. */
static void builtin_category_of_labelled_texts(void)
{
	static const struct {
		const char *want, *text;
	} set[] = {
	        {"invoice", "INVOICE\nInvoice number: 17\nQty 2, unit price 10.00\nSubtotal 20.00\nVAT 4.00\nTotal due "
	                    "24.00 EUR\nPayment terms: 14 days, IBAN DE89 3704 0044 0532 0130 00"},
	        {"invoice", "Rechnung Nr. 2026-17\nRechnungsnummer 17, Betrag 120,00 EUR, MwSt 19 %, zahlbar bis "
	                    "31.03.2026. Gesamtbetrag 142,80 EUR."},
	        {"contract", "SERVICE AGREEMENT. This agreement is made between the parties. Whereas the supplier "
	                     "shall provide services, the parties hereby agree to the following terms. Termination: "
	                     "either party may terminate this agreement. Governing law: England."},
	        {"resume", "Curriculum vitae\nJane Doe\nWork experience: 2019-2024 software engineer\nEducation: "
	                   "Bachelor of Science, University of Leeds\nSkills: C, SQL\nLanguages: English, German"},
	        {"letter", "Dear Mr Smith,\n\nthank you for your visit last week. We enjoyed the afternoon.\n\nYours "
	                   "sincerely,\nAnna"},
	        {"letter", "Sehr geehrte Frau Weber,\n\nvielen Dank für Ihren Besuch.\n\nMit freundlichen Grüßen\nJan"},
	        {"report", "Quarterly report. Executive summary: revenue growth was 4%. Findings: the analysis of the "
	                   "survey data shows a trend. Conclusions and recommendations follow in the results section."},
	        {"manual",
	         "User guide. Installation: press the power button, then select Settings in the menu. Step 2: "
	         "configure the device. Warning: read the instructions. Troubleshooting: see chapter 5."},
	        {"email", "From: alice@example.com\nTo: bob@example.com\nSubject: lunch\nDate: Mon, 2 Mar 2026\n\nHi "
	                  "Bob, lunch at noon?"},
	        {"code",
	         "#include <stdio.h>\n\nint main(void)\n{\n\tint total = 0;\n\tprintf(\"%d\", total);\n\treturn "
	         "0;\n}\n"},
	        {"spreadsheet", "name;amount;date\nalpha;10;2026-01-01\nbeta;20;2026-01-02\ngamma;30;2026-01-03\n"},
	        {"other", "Blue sky."},
	};
	int right = 0, n = (int)(sizeof set / sizeof *set);
	for (int i = 0; i < n; i++) {
		const char *got = category_of(set[i].text);
		if (strcmp(got, set[i].want) == 0)
			right++;
		else
			fprintf(stderr, "  category of example %d: got %s, want %s\n", i, got, set[i].want);
	}
	AG_CHECK_INT(right, n);
}

static void builtin_embeddings_are_unit_vectors(void)
{
	float *v = NULL;
	size_t dims = 0;
	AG_CHECK_INT(p.vt->embed(p.self, "mountain lakes", 14, &v, &dims, NULL), AG_OK);
	AG_CHECK_INT(dims, AG_EMBED_DIMS_DEFAULT);
	double n = 0;
	for (size_t i = 0; v && i < dims; i++)
		n += (double)v[i] * v[i];
	AG_CHECK(n > 0.9999 && n < 1.0001);
	free(v);
	ai_provider q;
	ag_err err = {0};
	AG_CHECK_INT(ai_provider_open(&q, "builtin", &(ai_opts){.summary_sentences = 3, .keywords = 8, .embed_dims = 8},
	                              &err),
	             AG_E_INVAL);
}

int main(void)
{
	ag_err err = {0};
	if (ai_provider_open(&p, "builtin", &(ai_opts){.summary_sentences = 3, .keywords = 8}, &err) != AG_OK) {
		printf("not ok - builtin provider: %s\n", err.msg);
		return 1;
	}
	AG_TEST_RUN(builtin_language_of_paragraphs);
	AG_TEST_RUN(builtin_language_of_a_form);
	AG_TEST_RUN(builtin_language_undetermined);
	AG_TEST_RUN(builtin_keywords_leave_out_stop_words);
	AG_TEST_RUN(builtin_summary_picks_the_central_sentences);
	AG_TEST_RUN(builtin_summary_edges);
	AG_TEST_RUN(builtin_provider_table);
	AG_TEST_RUN(builtin_summary_skips_markdown);
	AG_TEST_RUN(builtin_category_of_labelled_texts);
	AG_TEST_RUN(builtin_embeddings_are_unit_vectors);
	ai_provider_close(&p);
	return ag_test_summary();
}
