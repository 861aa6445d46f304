/*
 * category.h - the builtin document category: a small, documented rule model.
 *
 * Each category has cue words and phrases (English, German, French; a
 * phrase of two words counts CATEGORY_PHRASE_WEIGHT, a word 1; each distinct
 * cue counts once plus log2 of its repeats) in the first
 * CATEGORY_SAMPLE_WORDS words, and some categories have layout cues:
 *   code         lines ending in ; { } or starting with #include, def,
 *                import, function, class, return (share of non-blank lines)
 *   spreadsheet  lines with the same number (>= 2) of tab, ; or , separators
 *   email        From:/To:/Subject:/Date: header lines at the top
 *   letter       a salutation ("Dear", "Sehr geehrte", "Madame") and a
 *                closing ("Sincerely", "Mit freundlichen Grüßen", "Cordialement")
 * The best score wins if it reaches CATEGORY_MIN_SCORE, else "other".
 * Categories: invoice, contract, resume, report, letter, manual, article,
 * email, code, spreadsheet, other.
 */
#ifndef AI_CATEGORY_H
#define AI_CATEGORY_H

#include "terms.h"

#include "aegis/status.h"

#include <stddef.h>

#define CATEGORY_NAME_MAX      16   /* longest name with its NUL */
#define CATEGORY_SAMPLE_WORDS  5000 /* words looked at */
#define CATEGORY_SAMPLE_LINES  400  /* lines looked at for layout cues */
#define CATEGORY_MIN_SCORE     3.0
#define CATEGORY_PHRASE_WEIGHT 2.0
#define CATEGORY_ARTICLE_WORDS 150 /* prose this long with no stronger cue is an article */

typedef enum {
	CATEGORY_INVOICE,
	CATEGORY_CONTRACT,
	CATEGORY_RESUME,
	CATEGORY_REPORT,
	CATEGORY_LETTER,
	CATEGORY_MANUAL,
	CATEGORY_ARTICLE,
	CATEGORY_EMAIL,
	CATEGORY_CODE,
	CATEGORY_SPREADSHEET,
	CATEGORY_OTHER,
	CATEGORY_COUNT
} category_id;

const char *category_name(category_id c);
/* The id of a name, or -1 (for validating what a remote model answers). */
int category_find(const char *name);

/* The cue table (word or "word word" -> category mask). */
ag_status category_load(terms *cues);

/* The category of text[0..len); `cues` from category_load. scores (optional) receives each category's score. */
category_id category_classify(const terms *cues, const char *text, size_t len, double scores[CATEGORY_COUNT]);

#endif
