/*
 * category.c - the builtin category rules (see category.h).
 */
#include "category.h"

#include "tokens.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

static const char *const category_names[CATEGORY_COUNT] = {
        "invoice", "contract", "resume", "report",      "letter", "manual",
        "article", "email",    "code",   "spreadsheet", "other",
};

/* Cue words and two-word phrases, lower case. */
static const char *const cues_invoice[] = {
        "invoice",       "invoices",
        "bill",          "billing",
        "amount due",    "total due",
        "subtotal",      "vat",
        "tax",           "qty",
        "quantity",      "unit price",
        "due date",      "payment",
        "iban",          "bic",
        "rechnung",      "rechnungsnummer",
        "mwst",          "betrag",
        "zahlbar",       "facture",
        "montant",       "tva",
        "échéance",      "invoice number",
        "payment terms", "net",
        "remittance",    "total",
        "gesamtbetrag",  "ust",
        "paid",          "balance due",
};
static const char *const cues_contract[] = {
        "agreement", "contract",        "party",          "parties",    "hereby",        "shall",     "whereas",
        "clause",    "terms",           "termination",    "liability",  "governing law", "indemnify", "obligations",
        "vertrag",   "vertragspartner", "kündigung",      "paragraph",  "contrat",       "partie",    "résiliation",
        "signed",    "signature",       "effective date", "in witness", "confidential",  "breach",    "jurisdiction",
};
static const char *const cues_resume[] = {
        "resume",          "curriculum",     "curriculum vitae", "cv",         "experience",
        "work experience", "education",      "skills",           "languages",  "references",
        "employment",      "university",     "bachelor",         "master",     "lebenslauf",
        "berufserfahrung", "ausbildung",     "kenntnisse",       "expérience", "formation",
        "compétences",     "certifications", "internship",       "proficient", "linkedin",
};
static const char *const cues_report[] = {
        "report",      "findings",          "analysis", "results",   "conclusion",    "conclusions", "recommendations",
        "methodology", "executive summary", "quarter",  "quarterly", "annual report", "figure",      "table",
        "bericht",     "ergebnisse",        "analyse",  "rapport",   "résultats",     "kpi",         "revenue",
        "growth",      "objectives",        "survey",   "data",      "trend",
};
static const char *const cues_letter[] = {
        "dear",
        "sincerely",
        "yours sincerely",
        "best regards",
        "kind regards",
        "regards",
        "yours faithfully",
        "sehr geehrte",
        "sehr geehrter",
        "freundlichen grüßen",
        "grüßen",
        "madame",
        "monsieur",
        "cordialement",
        "salutations",
        "chère",
        "cher",
        "to whom",
        "enclosed",
};
static const char *const cues_manual[] = {
        "install",
        "installation",
        "click",
        "press",
        "configure",
        "configuration",
        "troubleshooting",
        "step",
        "steps",
        "user guide",
        "manual",
        "warning",
        "caution",
        "instructions",
        "chapter",
        "settings",
        "menu",
        "select",
        "bedienungsanleitung",
        "anleitung",
        "utilisation",
        "notice",
        "setup",
        "device",
};
static const char *const cues_article[] = {
        "according to", "said",    "says",   "reported", "published", "journalist",  "news",
        "interview",    "readers", "editor", "column",   "study",     "researchers", "experts",
};
static const char *const cues_email[] = {
        "subject", "forwarded", "original message", "reply", "wrote", "unsubscribe", "cc",
};
static const char *const cues_code[] = {
        "function", "return", "include", "import", "class",   "def",  "const", "static", "void", "int",
        "struct",   "var",    "let",     "public", "private", "null", "true",  "false",  "self", "printf",
};

static const struct {
	const char *const *cue;
	size_t n;
} category_cues[CATEGORY_COUNT] = {
        [CATEGORY_INVOICE] = {cues_invoice, sizeof cues_invoice / sizeof *cues_invoice},
        [CATEGORY_CONTRACT] = {cues_contract, sizeof cues_contract / sizeof *cues_contract},
        [CATEGORY_RESUME] = {cues_resume, sizeof cues_resume / sizeof *cues_resume},
        [CATEGORY_REPORT] = {cues_report, sizeof cues_report / sizeof *cues_report},
        [CATEGORY_LETTER] = {cues_letter, sizeof cues_letter / sizeof *cues_letter},
        [CATEGORY_MANUAL] = {cues_manual, sizeof cues_manual / sizeof *cues_manual},
        [CATEGORY_ARTICLE] = {cues_article, sizeof cues_article / sizeof *cues_article},
        [CATEGORY_EMAIL] = {cues_email, sizeof cues_email / sizeof *cues_email},
        [CATEGORY_CODE] = {cues_code, sizeof cues_code / sizeof *cues_code},
};

const char *category_name(category_id c)
{
	return (unsigned)c < CATEGORY_COUNT ? category_names[c] : "other";
}

int category_find(const char *name)
{
	for (int i = 0; name && i < CATEGORY_COUNT; i++)
		if (strcmp(name, category_names[i]) == 0)
			return i;
	return -1;
}

ag_status category_load(terms *cues)
{
	ag_status st = terms_init(cues, 1024);
	if (st != AG_OK)
		return st;
	for (int c = 0; c < CATEGORY_COUNT; c++)
		for (size_t i = 0; i < category_cues[c].n; i++) {
			const char *w = category_cues[c].cue[i];
			terms_entry *e = terms_add(cues, w, strlen(w));
			if (!e) {
				terms_free(cues);
				return AG_E_NOMEM;
			}
			e->mask |= 1u << c;
		}
	return AG_OK;
}

static void category_hit(const terms_entry *e, double w, double *score)
{
	for (int c = 0; c < CATEGORY_COUNT; c++)
		if (e->mask & (1u << c))
			score[c] += w;
}

/* Layout cues over the first CATEGORY_SAMPLE_LINES lines. */
static void category_layout(const char *t, size_t len, double *score)
{
	size_t lines = 0, codeish = 0, headers = 0, sep_same = 0, pos = 0;
	int last_seps = -1;
	bool salutation = false, closing = false;
	while (pos < len && lines < CATEGORY_SAMPLE_LINES) {
		const char *nl = memchr(t + pos, '\n', len - pos);
		size_t e = nl ? (size_t)(nl - t) : len, s = pos;
		pos = e + 1;
		while (s < e && (t[s] == ' ' || t[s] == '\t'))
			s++;
		size_t end = e;
		while (end > s && (t[end - 1] == ' ' || t[end - 1] == '\t' || t[end - 1] == '\r'))
			end--;
		if (end == s)
			continue;
		lines++;
		const char *l = t + s;
		size_t n = end - s;
		char last = t[end - 1];
		static const char *const starts[] = {"#include", "def ", "import ",  "function ", "class ", "return ",
		                                     "public ",  "fn ",  "package ", "//",        "const ", "#!/"};
		bool code = last == ';' || last == '{' || last == '}' || (last == ')' && n > 1 && memchr(l, '(', n));
		for (size_t i = 0; !code && i < sizeof starts / sizeof *starts; i++)
			code = n >= strlen(starts[i]) && memcmp(l, starts[i], strlen(starts[i])) == 0;
		codeish += code;
		if (lines <= 8) {
			static const char *const hdr[] = {"From:", "To:",      "Subject:", "Date:", "Cc:",    "Von:",
			                                  "An:",   "Betreff:", "De :",     "À :",   "Objet :"};
			for (size_t i = 0; i < sizeof hdr / sizeof *hdr; i++)
				if (n > strlen(hdr[i]) && memcmp(l, hdr[i], strlen(hdr[i])) == 0)
					headers++;
		}
		int seps = 0;
		for (size_t i = 0; i < n; i++)
			seps += l[i] == '\t' || l[i] == ';' || l[i] == ',';
		if (seps >= 2 && seps == last_seps)
			sep_same++;
		last_seps = seps;
		static const char *const greet[] = {"Dear ",  "Sehr geehrte", "Madame", "Monsieur",
		                                    "Liebe ", "Lieber ",      "Hello ", "Hi "};
		static const char *const close[] = {"Sincerely",    "Yours sincerely", "Yours faithfully",
		                                    "Best regards", "Kind regards",    "Mit freundlichen",
		                                    "Cordialement", "Bien à vous",     "Veuillez agréer"};
		for (size_t i = 0; i < sizeof greet / sizeof *greet; i++)
			if (n >= strlen(greet[i]) && memcmp(l, greet[i], strlen(greet[i])) == 0)
				salutation = true;
		for (size_t i = 0; i < sizeof close / sizeof *close; i++)
			if (n >= strlen(close[i]) && memcmp(l, close[i], strlen(close[i])) == 0)
				closing = true;
	}
	if (lines == 0)
		return;
	double share = (double)codeish / (double)lines;
	if (lines >= 3 && share >= 0.3)
		score[CATEGORY_CODE] += 10.0 * share;
	if (lines >= 3 && (double)sep_same / (double)lines >= 0.5)
		score[CATEGORY_SPREADSHEET] += 8.0;
	if (headers >= 2)
		score[CATEGORY_EMAIL] += 4.0 * (double)headers;
	if (salutation)
		score[CATEGORY_LETTER] += 3.0;
	if (closing)
		score[CATEGORY_LETTER] += 3.0;
}

category_id category_classify(const terms *cues, const char *text, size_t len, double scores[CATEGORY_COUNT])
{
	double score[CATEGORY_COUNT] = {0};
	/* repeats of each cue, indexed by its slot in the cue table */
	size_t slots = cues->cap;
	uint32_t seen[2048];
	size_t pos = 0, words = 0, prevlen = 0;
	char prev[TOKENS_WORD_MAX_BYTES];
	tokens_word t;
	if (slots > sizeof seen / sizeof *seen)
		slots = sizeof seen / sizeof *seen;
	memset(seen, 0, sizeof seen);
	while (words < CATEGORY_SAMPLE_WORDS && tokens_next(text, len, &pos, &t)) {
		if (t.too_long)
			continue;
		words++;
		const terms_entry *e = terms_find(cues, t.word, t.len);
		if (e && (size_t)(e - cues->slots) < slots)
			seen[e - cues->slots]++;
		if (prevlen > 0 && prevlen + 1 + t.len < sizeof prev * 2) {
			char pair[2 * TOKENS_WORD_MAX_BYTES];
			memcpy(pair, prev, prevlen);
			pair[prevlen] = ' ';
			memcpy(pair + prevlen + 1, t.word, t.len);
			e = terms_find(cues, pair, prevlen + 1 + t.len);
			if (e && (size_t)(e - cues->slots) < slots)
				seen[e - cues->slots]++;
		}
		memcpy(prev, t.word, t.len);
		prevlen = t.len;
	}
	for (size_t i = 0; i < slots; i++) {
		if (!seen[i])
			continue;
		const terms_entry *e = &cues->slots[i];
		double w = memchr(terms_key(cues, e), ' ', e->len) ? CATEGORY_PHRASE_WEIGHT : 1.0;
		category_hit(e, w * (1.0 + log2((double)seen[i])), score);
	}
	category_layout(text, len, score);
	/* layout outranks vocabulary for code: identifiers like "total" are common in programs */
	if (score[CATEGORY_CODE] < 5.0)
		score[CATEGORY_CODE] = 0;
	if (words >= CATEGORY_ARTICLE_WORDS)
		score[CATEGORY_ARTICLE] += 2.0;
	int best = CATEGORY_OTHER;
	for (int c = 0; c < CATEGORY_OTHER; c++)
		if (score[c] >= CATEGORY_MIN_SCORE && (best == CATEGORY_OTHER || score[c] > score[best]))
			best = c;
	if (scores)
		memcpy(scores, score, sizeof score);
	return (category_id)best;
}
