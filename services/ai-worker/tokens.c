/*
 * tokens.c - a small Unicode-aware word and sentence splitter. It knows just
 * enough of Unicode for the European languages the builtin provider
 * recognises; other scripts still split into words at spaces and punctuation.
 */
#include "tokens.h"

#include <string.h>

unsigned tokens_decode(const char *text, size_t len, size_t *pos)
{
	const unsigned char *p = (const unsigned char *)text + *pos;
	size_t left = len - *pos;
	unsigned c = p[0];
	size_t n = c < 0x80                 ? 1
	           : c >= 0xC2 && c <= 0xDF ? 2
	           : c >= 0xE0 && c <= 0xEF ? 3
	           : c >= 0xF0 && c <= 0xF4 ? 4
	                                    : 0;
	if (n == 0 || n > left) {
		(*pos)++;
		return c < 0x80 ? c : 0xFFFD;
	}
	unsigned cp = n == 1 ? c : c & (0xFF >> (n + 1));
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xC0) != 0x80) {
			(*pos)++;
			return 0xFFFD;
		}
		cp = (cp << 6) | (p[i] & 0x3F);
	}
	*pos += n;
	return cp;
}

unsigned tokens_lower(unsigned cp)
{
	if (cp >= 'A' && cp <= 'Z')
		return cp + 32;
	if (cp < 0xC0)
		return cp;
	if (cp <= 0xDE && cp != 0xD7)
		return cp + 32; /* À..Þ */
	if (cp >= 0x100 && cp <= 0x17F && cp != 0x130 && cp != 0x138 && cp != 0x149 && cp != 0x17F) {
		/* Latin Extended-A pairs: even/odd from U+0100 to U+0137 and U+014A to U+0177, odd/even elsewhere */
		if ((cp <= 0x137 || (cp >= 0x14A && cp <= 0x177)) && cp % 2 == 0)
			return cp + 1;
		if (((cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E)) && cp % 2 == 1)
			return cp + 1;
		if (cp == 0x178)
			return 0xFF; /* Ÿ */
		return cp;
	}
	if (cp >= 0x391 && cp <= 0x3AB && cp != 0x3A2)
		return cp + 32; /* Greek capitals */
	if (cp >= 0x410 && cp <= 0x42F)
		return cp + 32; /* Cyrillic А..Я */
	if (cp >= 0x400 && cp <= 0x40F)
		return cp + 80; /* Cyrillic Ѐ..Џ */
	return cp;
}

static bool tokens_digit(unsigned cp)
{
	return cp >= '0' && cp <= '9';
}

static bool tokens_wordchar(unsigned cp)
{
	if (cp < 0x80)
		return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || tokens_digit(cp);
	if (cp < 0xC0 || cp == 0xD7 || cp == 0xF7 || cp == 0xFFFD || cp == 0xFEFF)
		return false;
	if ((cp >= 0x2000 && cp <= 0x2BFF) || (cp >= 0x3000 && cp <= 0x303F) || (cp >= 0xE000 && cp <= 0xF8FF) ||
	    (cp >= 0xFE30 && cp <= 0xFE4F) || (cp >= 0xFF00 && cp <= 0xFF20) || (cp >= 0x1F000 && cp <= 0x1FAFF))
		return false; /* punctuation, symbols, private use, CJK punctuation, full-width ASCII symbols, emoji */
	return true;
}

static size_t tokens_encode(unsigned cp, char *out)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xC0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xE0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (char)(0xF0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	out[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

bool tokens_next(const char *text, size_t len, size_t *pos, tokens_word *t)
{
	size_t p = *pos, before;
	unsigned cp = 0;
	/* find the first word character */
	for (;;) {
		if (p >= len) {
			*pos = p;
			return false;
		}
		before = p;
		cp = tokens_decode(text, len, &p);
		if (tokens_wordchar(cp))
			break;
	}
	memset(t, 0, sizeof *t);
	t->start = before;
	for (;;) {
		char enc[4];
		size_t n = tokens_encode(tokens_lower(cp), enc);
		if (t->len + n < sizeof t->word) {
			memcpy(t->word + t->len, enc, n);
			t->len += n;
		} else {
			t->too_long = true;
		}
		t->chars++;
		t->digit |= tokens_digit(cp);
		t->end = p;
		if (p >= len)
			break;
		size_t next = p;
		cp = tokens_decode(text, len, &next);
		if (!tokens_wordchar(cp))
			break;
		p = next;
	}
	if (t->too_long) {
		t->len = 0;
		t->word[0] = '\0';
	}
	t->word[t->len] = '\0';
	*pos = t->end;
	return true;
}

static bool tokens_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Is the '.' at text[dot] the end of an abbreviation or an initial rather than of a sentence? */
static bool tokens_abbreviation(const char *text, size_t from, size_t dot)
{
	static const char *const abbr[] = {"mr",  "mrs",  "ms",  "dr",   "prof", "st", "vs",  "inc",  "ltd",
	                                   "jr",  "sr",   "fig", "ca",   "bzw",  "nr", "usw", "vgl",  "sra",
	                                   "sig", "dott", "mme", "mlle", "vol",  "ex", "dhr", "mevr", "resp"};
	size_t b = dot;
	while (b > from && ((text[b - 1] >= 'a' && text[b - 1] <= 'z') || (text[b - 1] >= 'A' && text[b - 1] <= 'Z')))
		b--;
	size_t n = dot - b;
	if (n == 1)
		return true; /* "J. Smith", "e.g.", "z.B." */
	if (n == 0 || n > 4)
		return false;
	char w[5];
	for (size_t i = 0; i < n; i++)
		w[i] = (char)tokens_lower((unsigned char)text[b + i]);
	w[n] = '\0';
	for (size_t i = 0; i < sizeof abbr / sizeof abbr[0]; i++)
		if (strcmp(w, abbr[i]) == 0)
			return true;
	return false;
}

/* Length of a closing quote or bracket at text[i], 0 if none. */
static size_t tokens_closer(const char *text, size_t len, size_t i)
{
	if (strchr("\"')]", text[i]) && text[i] != '\0')
		return 1;
	if (i + 3 <= len && (memcmp(text + i, "\xE2\x80\x9D", 3) == 0 || memcmp(text + i, "\xE2\x80\x99", 3) == 0))
		return 3; /* ” ’ */
	if (i + 2 <= len && memcmp(text + i, "\xC2\xBB", 2) == 0)
		return 2; /* » */
	return 0;
}

bool tokens_sentence(const char *text, size_t len, size_t *pos, size_t *s, size_t *e)
{
	size_t i = *pos;
	while (i < len && tokens_space(text[i]))
		i++;
	if (i >= len) {
		*pos = len;
		return false;
	}
	*s = i;
	size_t end = len, next = len;
	while (i < len) {
		char c = text[i];
		size_t stop = 0; /* bytes of sentence-ending punctuation at i */
		if (c == '.' || c == '!' || c == '?')
			stop = 1;
		else if (i + 3 <= len && memcmp(text + i, "\xE2\x80\xA6", 3) == 0)
			stop = 3; /* … */
		if (stop) {
			size_t j = i + stop;
			while (j < len && (text[j] == '.' || text[j] == '!' || text[j] == '?'))
				j++;
			size_t k;
			while (j < len && (k = tokens_closer(text, len, j)) > 0)
				j += k;
			if ((j >= len || tokens_space(text[j])) &&
			    !(c == '.' && j == i + 1 && tokens_abbreviation(text, *s, i))) {
				end = next = j;
				break;
			}
			i = j;
			continue;
		}
		if (i + 3 <= len &&
		    (memcmp(text + i, "\xE3\x80\x82", 3) == 0 || memcmp(text + i, "\xEF\xBC\x81", 3) == 0 ||
		     memcmp(text + i, "\xEF\xBC\x9F", 3) == 0)) {
			end = next = i + 3; /* 。！？ need no space after them */
			break;
		}
		if (c == '\n') {
			size_t j = i + 1;
			while (j < len && (text[j] == ' ' || text[j] == '\t' || text[j] == '\r'))
				j++;
			if (j >= len || text[j] == '\n' || i - *s >= TOKENS_SENTENCE_SOFT_MAX) {
				end = i;
				next = j;
				break;
			}
		}
		if (i - *s >= TOKENS_SENTENCE_HARD_MAX && tokens_space(c)) {
			end = next = i;
			break;
		}
		i++;
	}
	while (end > *s && tokens_space(text[end - 1]))
		end--;
	*e = end;
	*pos = next;
	return true;
}
