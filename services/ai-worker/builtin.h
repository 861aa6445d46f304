/*
 * builtin.h - the offline AI provider ("builtin"): no model, no network.
 *
 *   language: counts stop-word hits of en, de, fr, es, it, pt and nl in the
 *             first BUILTIN_LANG_SAMPLE words; "und" when the text has fewer
 *             than BUILTIN_LANG_MIN_WORDS words or no language wins clearly
 *             (a form or an invoice, with few stop words, needs a wider lead);
 *   keywords: the most frequent words (lower-case, at least 3 characters, no
 *             digits) that are not stop words of the text's language or of
 *             English (of any language when the language is "und");
 *   summary:  an extractive summary: sentences scored by the normalised
 *             frequency of their words (stop words left out), the best ones
 *             in their original order.
 *
 * Only the first BUILTIN_MAX_BYTES of a text are analysed.
 */
#ifndef AI_BUILTIN_H
#define AI_BUILTIN_H

#include "ai_provider.h"

#define BUILTIN_MAX_BYTES         (8 * 1024 * 1024)
#define BUILTIN_MAX_TERMS         (256 * 1024) /* distinct words counted */
#define BUILTIN_MAX_SENTENCES     100000       /* sentences considered for the summary */
#define BUILTIN_LANG_SAMPLE       20000        /* words looked at for the language */
#define BUILTIN_LANG_MIN_WORDS    5
#define BUILTIN_LANG_MIN_HITS     3
#define BUILTIN_LANG_MIN_SHARE    0.15 /* stop words of the winner among all words */
#define BUILTIN_LANG_MARGIN       1.25 /* the winner has this many times the hits of the runner-up */
#define BUILTIN_LANG_FORM_HITS    6    /* a text with fewer stop words (a form, an invoice) is told by at least */
#define BUILTIN_LANG_FORM_SHARE   0.05 /* this many hits, this share of its words */
#define BUILTIN_LANG_FORM_MARGIN  2.0  /* and this lead over the runner-up */
#define BUILTIN_SUMMARY_MIN_WORDS 4    /* shorter sentences (headings) are picked last */
#define BUILTIN_KEYWORD_MIN_CHARS 3

extern const ai_provider_vt builtin_vt;

ag_status builtin_open(ai_provider *out, const ai_opts *opts, ag_err *err);

#endif
