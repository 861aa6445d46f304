/*
 * embed.c - the lexical hashed embedding (see aegis/embed.h).
 */
#include "aegis/embed.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EMBED_WORD_MAX 64 /* longer words are cut here (their features still count) */
#define EMBED_WORD_MIN 3  /* shorter words are left out */

/* Function words of en, de, fr, es, it, pt and nl that carry no topic; kept short on purpose. */
static const char *const embed_stop[] = {
        "a",    "an",  "and", "are", "as",   "at",  "be",   "by",  "for",  "from",  "has",  "have", "in",
        "is",   "it",  "its", "of",  "on",   "or",  "that", "the", "this", "to",    "was",  "were", "will",
        "with", "we",  "you", "our", "your", "i",   "der",  "die", "das",  "und",   "ist",  "ein",  "eine",
        "zu",   "den", "dem", "des", "mit",  "von", "im",   "für", "auf",  "nicht", "sich", "le",   "la",
        "les",  "de",  "des", "du",  "et",   "un",  "une",  "est", "en",   "pour",  "dans", "que",  "qui",
        "au",   "aux", "el",  "los", "las",  "y",   "del",  "al",  "por",  "con",   "il",   "di",   "che",
        "e",    "per", "o",   "os",  "as",   "do",  "da",   "het", "een",  "van",   "voor", "op",
};

static bool embed_is_stop(const char *w, size_t n)
{
	for (size_t i = 0; i < sizeof embed_stop / sizeof embed_stop[0]; i++)
		if (strlen(embed_stop[i]) == n && memcmp(embed_stop[i], w, n) == 0)
			return true;
	return false;
}

static uint64_t embed_fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 1099511628211ULL;
	}
	return h;
}

#define EMBED_FNV_BASIS 14695981039346656037ULL

static void embed_add(float *out, size_t dims, uint64_t h, float w)
{
	/* mix the high bits down so that small dims still see all of the hash */
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 32;
	out[h % dims] += (h >> 63) ? -w : w;
}

/* The next word at or after *pos into w (lower-cased, at most EMBED_WORD_MAX bytes); 0 at the end. */
static size_t embed_word(const char *text, size_t len, size_t *pos, char w[EMBED_WORD_MAX])
{
	size_t i = *pos, n = 0;
	for (;;) {
		while (i < len) {
			unsigned char c = (unsigned char)text[i];
			if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80)
				break;
			i++;
		}
		if (i >= len) {
			*pos = i;
			return 0;
		}
		n = 0;
		while (i < len) {
			unsigned char c = (unsigned char)text[i];
			if (c >= 'A' && c <= 'Z')
				c = (unsigned char)(c + 32);
			else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c >= 0x80))
				break;
			/* U+00C0..U+00DE (not U+00D7) in UTF-8 is C3 80..C3 9E: lower-case to C3 A0..C3 BE */
			if (c >= 0x80 && c <= 0x9E && c != 0x97 && n > 0 && (unsigned char)w[n - 1] == 0xC3)
				c = (unsigned char)(c + 0x20);
			if (n < EMBED_WORD_MAX)
				w[n++] = (char)c;
			i++;
		}
		/* a word of punctuation-like symbols only (e.g. U+2013 dash) is still a word: harmless */
		/* words under EMBED_WORD_MIN bytes ("l'", "qu'", "à", "of") carry no topic, only hash collisions */
		if (n >= EMBED_WORD_MIN && !embed_is_stop(w, n)) {
			*pos = i;
			return n;
		}
	}
}

bool ag_embed_hashed(const char *text, size_t len, float *out, size_t dims)
{
	char w[EMBED_WORD_MAX], prev[EMBED_WORD_MAX];
	size_t n, prevn = 0, pos = 0;
	bool any = false;
	memset(out, 0, dims * sizeof *out);
	if (dims < AG_EMBED_DIMS_MIN || dims > AG_EMBED_DIMS_MAX || !text)
		return false;
	if (len > AG_EMBED_MAX_BYTES)
		len = AG_EMBED_MAX_BYTES;
	while ((n = embed_word(text, len, &pos, w)) > 0) {
		any = true;
		embed_add(out, dims, embed_fnv(EMBED_FNV_BASIS, w, n), 1.0f);
		if (prevn > 0) {
			uint64_t h = embed_fnv(EMBED_FNV_BASIS, prev, prevn);
			h = embed_fnv(h, " ", 1);
			embed_add(out, dims, embed_fnv(h, w, n), AG_EMBED_BIGRAM_WEIGHT);
		}
		/* a crude stem: the first AG_EMBED_STEM_CHARS bytes of a longer word ("invoice", "invoices") */
		if (n > AG_EMBED_STEM_CHARS)
			embed_add(out, dims, embed_fnv(EMBED_FNV_BASIS ^ 5u, w, AG_EMBED_STEM_CHARS),
			          AG_EMBED_STEM_WEIGHT);
		/* trigrams of "^word$" (bytes), sharing AG_EMBED_TRIGRAM_WEIGHT per word so long words do not dominate
		 */
		if (n >= 4) {
			char b[EMBED_WORD_MAX + 2];
			b[0] = '^';
			memcpy(b + 1, w, n);
			b[n + 1] = '$';
			float tw = AG_EMBED_TRIGRAM_WEIGHT / sqrtf((float)n);
			for (size_t k = 0; k + 3 <= n + 2; k++)
				embed_add(out, dims, embed_fnv(EMBED_FNV_BASIS ^ 3u, b + k, 3), tw);
		}
		memcpy(prev, w, n);
		prevn = n;
	}
	double sum = 0;
	for (size_t i = 0; i < dims; i++)
		sum += (double)out[i] * (double)out[i];
	if (sum <= 0 || !any)
		return false;
	float inv = (float)(1.0 / sqrt(sum));
	for (size_t i = 0; i < dims; i++)
		out[i] *= inv;
	return true;
}

bool ag_embed_prefix_query(const char *text, size_t len, char *out, size_t outsz)
{
	char w[EMBED_WORD_MAX];
	size_t n, pos = 0, o = 0, terms = 0;
	if (outsz == 0)
		return false;
	out[0] = '\0';
	if (len > AG_EMBED_MAX_BYTES)
		len = AG_EMBED_MAX_BYTES;
	while ((n = embed_word(text, len, &pos, w)) > 0) {
		if (n > AG_EMBED_STEM_CHARS) {
			n = AG_EMBED_STEM_CHARS;
			while (n > 0 && ((unsigned char)w[n] & 0xC0) == 0x80) /* keep whole UTF-8 characters */
				n--;
		}
		/* only letters, digits and UTF-8 bytes reach here, so the term needs no quoting */
		int k = snprintf(out + o, outsz - o, "%s%.*s:*", terms ? " | " : "", (int)n, w);
		if (k < 0 || (size_t)k >= outsz - o) {
			out[o] = '\0';
			break;
		}
		o += (size_t)k;
		terms++;
	}
	return terms > 0;
}

void ag_embed_model(size_t dims, char out[AG_EMBED_MODEL_MAX])
{
	snprintf(out, AG_EMBED_MODEL_MAX, "hashed-v1-%zu", dims);
}

double ag_embed_cosine(const float *a, const float *b, size_t n)
{
	double ab = 0, aa = 0, bb = 0;
	for (size_t i = 0; i < n; i++) {
		ab += (double)a[i] * (double)b[i];
		aa += (double)a[i] * (double)a[i];
		bb += (double)b[i] * (double)b[i];
	}
	if (aa <= 0 || bb <= 0)
		return 0;
	return ab / (sqrt(aa) * sqrt(bb));
}

char *ag_embed_pg_array(const float *v, size_t n)
{
	size_t cap = n * 16 + 3, o = 0;
	char *s = malloc(cap);
	if (!s)
		return NULL;
	s[o++] = '{';
	for (size_t i = 0; i < n; i++) {
		int w = snprintf(s + o, cap - o, "%s%.7g", i ? "," : "", (double)v[i]);
		if (w < 0 || (size_t)w >= cap - o) {
			free(s);
			return NULL;
		}
		o += (size_t)w;
	}
	s[o++] = '}';
	s[o] = '\0';
	return s;
}
