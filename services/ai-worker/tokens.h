/*
 * tokens.h - words and sentences of UTF-8 text, for the builtin provider.
 *
 * A word is a run of letters and digits (Latin, Greek, Cyrillic and other
 * scripts above U+00BF, minus punctuation and symbol blocks), lower-cased;
 * apostrophes, hyphens and everything else separate words. A sentence ends
 * after . ! ? or an ellipsis followed by whitespace (closing quotes and
 * brackets may come between), after an ideographic full stop, at a blank
 * line, or when it grows past TOKENS_SENTENCE_SOFT_MAX bytes at a line end
 * (TOKENS_SENTENCE_HARD_MAX at any whitespace). A period after a single
 * letter or a common abbreviation ("Dr.", "z.B.") does not end a sentence.
 */
#ifndef AI_TOKENS_H
#define AI_TOKENS_H

#include <stdbool.h>
#include <stddef.h>

#define TOKENS_WORD_MAX_BYTES    64   /* longest word kept, with its NUL; longer runs are `too_long` */
#define TOKENS_SENTENCE_SOFT_MAX 1000 /* a sentence this long ends at the next line end */
#define TOKENS_SENTENCE_HARD_MAX 2000 /* … and at the next whitespace from here on */

typedef struct tokens_word {
	char word[TOKENS_WORD_MAX_BYTES]; /* lower-case UTF-8, NUL-terminated ("" when too_long) */
	size_t len;                       /* bytes of word */
	size_t chars;                     /* code points of word */
	bool digit;                       /* has a digit: a number, not a word */
	bool too_long;
	size_t start, end; /* byte span in the text */
} tokens_word;

/* The next word at or after *pos; false at the end. */
bool tokens_next(const char *text, size_t len, size_t *pos, tokens_word *t);

/* The next sentence at or after *pos as the byte span [*s, *e), without surrounding whitespace; false at the
 * end. */
bool tokens_sentence(const char *text, size_t len, size_t *pos, size_t *s, size_t *e);

/* Decode one code point at text[*pos] (advancing *pos); an invalid byte decodes as U+FFFD. */
unsigned tokens_decode(const char *text, size_t len, size_t *pos);
/* Simple lower-case mapping for Latin-1, Latin Extended-A, Greek and Cyrillic capitals. */
unsigned tokens_lower(unsigned cp);

#endif
