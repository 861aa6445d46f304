/*
 * stopwords.h - the most frequent function words of the seven languages the
 * builtin provider recognises. They are what language identification counts
 * and what keywords and summaries leave out.
 */
#ifndef AI_STOPWORDS_H
#define AI_STOPWORDS_H

#include "terms.h"

#include "aegis/status.h"

typedef enum {
	STOPWORDS_EN,
	STOPWORDS_DE,
	STOPWORDS_FR,
	STOPWORDS_ES,
	STOPWORDS_IT,
	STOPWORDS_PT,
	STOPWORDS_NL,
	STOPWORDS_COUNT
} stopwords_lang;

/* ISO 639-1 code of a language ("en"). */
const char *stopwords_code(stopwords_lang l);

/* Build a table of every stop word with mask bit (1 << lang) set for each language listing it. */
ag_status stopwords_load(terms *t);

#endif
