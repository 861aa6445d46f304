/*
 * stopwords.c - stop-word lists, lower-case UTF-8. Each list holds the
 * function words that make up a large share of running text in its language;
 * words shared between languages are fine (they count for each), but every
 * list has enough words of its own to tell the languages apart.
 */
#include "stopwords.h"

#include <string.h>

static const char *const stopwords_en[] = {
        "the",   "a",       "an",       "and",    "or",      "but",    "if",         "of",      "to",      "in",
        "on",    "at",      "by",       "for",    "with",    "from",   "as",         "is",      "are",     "was",
        "were",  "be",      "been",     "being",  "have",    "has",    "had",        "do",      "does",    "did",
        "will",  "would",   "shall",    "should", "can",     "could",  "may",        "might",   "must",    "not",
        "no",    "it",      "its",      "this",   "that",    "these",  "those",      "there",   "here",    "they",
        "them",  "their",   "we",       "our",    "you",     "your",   "he",         "him",     "his",     "she",
        "her",   "i",       "me",       "my",     "what",    "which",  "who",        "whom",    "whose",   "when",
        "where", "why",     "how",      "all",    "any",     "both",   "each",       "few",     "more",    "most",
        "other", "some",    "such",     "only",   "own",     "same",   "so",         "than",    "too",     "very",
        "just",  "also",    "into",     "about",  "over",    "after",  "before",     "between", "through", "during",
        "under", "again",   "then",     "once",   "up",      "down",   "out",        "off",     "because", "while",
        "until", "against", "above",    "below",  "nor",     "itself", "themselves", "upon",    "within",  "without",
        "us",    "am",      "many",     "much",   "every",   "even",   "yet",        "still",   "ever",    "never",
        "often", "however", "although", "though", "whether", "onto",
};

static const char *const stopwords_de[] = {
        "der",    "die",    "das",   "und",    "ist",    "nicht", "ein",     "eine",   "einen",    "einem",   "einer",
        "eines",  "zu",     "den",   "dem",    "des",    "mit",   "sich",    "auf",    "für",      "im",      "in",
        "von",    "sie",    "es",    "er",     "wir",    "ihr",   "ich",     "du",     "auch",     "als",     "an",
        "aus",    "bei",    "nach",  "wie",    "oder",   "aber",  "wenn",    "dass",   "daß",      "noch",    "nur",
        "so",     "über",   "vor",   "zum",    "zur",    "war",   "sind",    "wird",   "werden",   "wurde",   "wurden",
        "hat",    "haben",  "hatte", "kann",   "können", "man",   "mehr",    "durch",  "diese",    "dieser",  "dieses",
        "diesem", "diesen", "sein",  "seine",  "seiner", "ihre",  "ihren",   "ihrer",  "schon",    "sehr",    "hier",
        "bis",    "um",     "unter", "ohne",   "gegen",  "doch",  "immer",   "wieder", "keine",    "kein",    "was",
        "wo",     "alle",   "denn",  "dann",   "jetzt",  "uns",   "unser",   "unsere", "mich",     "mir",     "dich",
        "dir",    "ihm",    "ihn",   "ihnen",  "vom",    "beim",  "ins",     "am",     "zwischen", "während", "weil",
        "ob",     "da",     "nun",   "einige", "viele",  "sowie", "bereits", "etwa",   "jedoch",   "sondern", "also",
        "gibt",
};

static const char *const stopwords_fr[] = {
        "le",    "la",      "les",   "de",    "des",   "du",    "un",     "une",    "et",    "est",   "en",    "que",
        "qui",   "dans",    "pour",  "pas",   "sur",   "au",    "aux",    "avec",   "ce",    "cette", "ces",   "cet",
        "il",    "elle",    "ils",   "elles", "ne",    "se",    "sa",     "son",    "ses",   "par",   "plus",  "ou",
        "mais",  "nous",    "vous",  "leur",  "leurs", "je",    "tu",     "on",     "y",     "à",     "été",   "être",
        "sont",  "avoir",   "ont",   "fait",  "comme", "tout",  "tous",   "toutes", "toute", "aussi", "très",  "sans",
        "entre", "même",    "lui",   "mon",   "ma",    "mes",   "ton",    "ta",     "tes",   "notre", "nos",   "votre",
        "vos",   "dont",    "où",    "si",    "bien",  "peut",  "cela",   "ça",     "était", "après", "avant", "encore",
        "quand", "chez",    "sous",  "l",     "d",     "c",     "qu",     "n",      "s",     "j",     "m",     "t",
        "avait", "sera",    "ainsi", "donc",  "alors", "car",   "depuis", "contre", "vers",  "selon", "peu",   "autres",
        "autre", "aujourd", "hui",   "ceux",  "celle", "celui", "moins",
};

static const char *const stopwords_es[] = {
        "el",     "la",      "los",      "las",      "a",       "de",       "del",    "que",     "y",       "en",
        "un",     "una",     "unos",     "unas",     "es",      "por",      "con",    "para",    "como",    "más",
        "pero",   "sus",     "su",       "le",       "les",     "lo",       "al",     "se",      "ya",      "o",
        "este",   "esta",    "estos",    "estas",    "sí",      "porque",   "entre",  "cuando",  "muy",     "sin",
        "sobre",  "también", "me",       "hasta",    "hay",     "donde",    "quien",  "quienes", "desde",   "todo",
        "todos",  "todas",   "nos",      "durante",  "uno",     "ni",       "contra", "otros",   "otras",   "otro",
        "otra",   "ese",     "esa",      "eso",      "esto",    "ante",     "ellos",  "ellas",   "él",      "ella",
        "e",      "mí",      "antes",    "algunos",  "algunas", "algo",     "qué",    "yo",      "tanto",   "mucho",
        "muchos", "nada",    "cual",     "poco",     "estar",   "nosotros", "mi",     "mis",     "tú",      "te",
        "ti",     "tu",      "tus",      "vosotros", "os",      "son",      "está",   "están",   "fue",     "ser",
        "ha",     "han",     "hace",     "puede",    "pueden",  "había",    "era",    "según",   "tiene",   "tienen",
        "cada",   "aunque",  "mientras", "después",  "así",     "bien",     "aquí",   "usted",   "ustedes", "hacia",
        "tras",
};

static const char *const stopwords_it[] = {
        "il",      "lo",     "la",     "i",     "gli",     "le",     "a",       "di",     "del",    "dello",  "della",
        "dei",     "degli",  "delle",  "che",   "e",       "è",      "un",      "una",    "uno",    "per",    "con",
        "non",     "da",     "dal",    "dalla", "dai",     "in",     "nel",     "nella",  "nei",    "nelle",  "si",
        "come",    "ma",     "più",    "anche", "questo",  "questa", "questi",  "queste", "quello", "quella", "sono",
        "ha",      "hanno",  "era",    "erano", "essere",  "stato",  "stata",   "al",     "alla",   "ai",     "agli",
        "alle",    "sul",    "sulla",  "tra",   "fra",     "se",     "o",       "ed",     "mi",     "ti",     "ci",
        "vi",      "ne",     "suo",    "sua",   "suoi",    "sue",    "loro",    "io",     "tu",     "lui",    "lei",
        "noi",     "voi",    "quando", "molto", "dove",    "perché", "ancora",  "già",    "tutto",  "tutti",  "tutte",
        "sempre",  "poi",    "cui",    "chi",   "solo",    "l",      "dell",    "all",    "nell",   "sull",   "c",
        "d",       "po",     "cosa",   "ogni",  "però",    "quindi", "mentre",  "dopo",   "senza",  "fino",   "verso",
        "secondo", "stesso", "qui",    "oggi",  "abbiamo", "viene",  "vengono", "dunque", "mio",    "mia",    "nostro",
        "nostra",
};

static const char *const stopwords_pt[] = {
        "o",      "a",      "os",    "as",    "de",    "do",    "da",    "dos",    "das",   "que",    "e",
        "em",     "no",     "na",    "nos",   "nas",   "um",    "uma",   "uns",    "umas",  "para",   "com",
        "não",    "por",    "mais",  "como",  "mas",   "ao",    "aos",   "à",      "às",    "ele",    "ela",
        "eles",   "elas",   "seu",   "sua",   "seus",  "suas",  "ou",    "quando", "muito", "muitos", "já",
        "eu",     "também", "só",    "pelo",  "pela",  "pelos", "pelas", "até",    "isso",  "isto",   "aquilo",
        "entre",  "depois", "sem",   "mesmo", "quem",  "me",    "esse",  "essa",   "esses", "essas",  "este",
        "esta",   "estes",  "estas", "você",  "vocês", "num",   "numa",  "nem",    "meu",   "minha",  "meus",
        "minhas", "qual",   "nós",   "lhe",   "lhes",  "dele",  "dela",  "deles",  "delas", "tu",     "te",
        "teu",    "tua",    "nosso", "nossa", "é",     "são",   "foi",   "foram",  "ser",   "tem",    "têm",
        "está",   "estão",  "há",    "pode",  "podem", "era",   "seja",  "sobre",  "onde",  "porque", "ainda",
        "então",  "cada",   "assim", "aqui",  "hoje",  "todos", "todas", "tudo",   "outro", "outra",  "outros",
        "outras",
};

static const char *const stopwords_nl[] = {
        "de",    "het",    "een",    "en",      "van",    "is",     "dat",    "die",  "niet",   "in",     "op",
        "te",    "met",    "voor",   "zijn",    "er",     "aan",    "om",     "ook",  "als",    "bij",    "of",
        "maar",  "naar",   "dan",    "nog",     "door",   "over",   "ze",     "zich", "uit",    "worden", "wordt",
        "werd",  "werden", "kan",    "kunnen",  "wel",    "geen",   "hij",    "zij",  "wij",    "we",     "ik",
        "je",    "jij",    "u",      "hun",     "haar",   "zo",     "tot",    "deze", "dit",    "was",    "waren",
        "heeft", "hebben", "had",    "al",      "nu",     "meer",   "veel",   "moet", "moeten", "onder",  "tegen",
        "na",    "omdat",  "toen",   "wat",     "waar",   "hoe",    "wie",    "iets", "niets",  "alleen", "ons",
        "onze",  "mijn",   "hem",    "men",     "daar",   "hier",   "zonder", "zal",  "zullen", "zou",    "zouden",
        "ben",   "bent",   "tussen", "tijdens", "sinds",  "echter", "want",   "dus",  "toch",   "altijd", "weer",
        "elk",   "elke",   "ieder",  "iedere",  "jullie", "uw",     "mij",    "jou",
};

static const struct {
	const char *code;
	const char *const *words;
	size_t n;
} stopwords_langs[STOPWORDS_COUNT] = {
        [STOPWORDS_EN] = {"en", stopwords_en, sizeof stopwords_en / sizeof stopwords_en[0]},
        [STOPWORDS_DE] = {"de", stopwords_de, sizeof stopwords_de / sizeof stopwords_de[0]},
        [STOPWORDS_FR] = {"fr", stopwords_fr, sizeof stopwords_fr / sizeof stopwords_fr[0]},
        [STOPWORDS_ES] = {"es", stopwords_es, sizeof stopwords_es / sizeof stopwords_es[0]},
        [STOPWORDS_IT] = {"it", stopwords_it, sizeof stopwords_it / sizeof stopwords_it[0]},
        [STOPWORDS_PT] = {"pt", stopwords_pt, sizeof stopwords_pt / sizeof stopwords_pt[0]},
        [STOPWORDS_NL] = {"nl", stopwords_nl, sizeof stopwords_nl / sizeof stopwords_nl[0]},
};

const char *stopwords_code(stopwords_lang l)
{
	return l < STOPWORDS_COUNT ? stopwords_langs[l].code : "und";
}

ag_status stopwords_load(terms *t)
{
	ag_status st = terms_init(t, TERMS_MAX);
	if (st != AG_OK)
		return st;
	for (int l = 0; l < STOPWORDS_COUNT; l++) {
		for (size_t i = 0; i < stopwords_langs[l].n; i++) {
			const char *w = stopwords_langs[l].words[i];
			terms_entry *e = terms_add(t, w, strlen(w));
			if (!e) {
				terms_free(t);
				return AG_E_NOMEM;
			}
			e->mask |= 1u << l;
		}
	}
	return AG_OK;
}
