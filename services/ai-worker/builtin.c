/*
 * builtin.c - the offline provider: word statistics over the text, no model.
 * The provider object holds only the options and the stop-word table, both
 * read-only after builtin_open, so calls may run on several threads.
 */
#include "builtin.h"

#include "category.h"
#include "stopwords.h"
#include "terms.h"
#include "tokens.h"

#include "aegis/embed.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct builtin {
	ai_opts opts;
	terms stop; /* word -> mask of the languages listing it */
	terms cues; /* category cues (category.h) */
	size_t dims;
	char embed_model[AG_EMBED_MODEL_MAX];
} builtin;

/* Analyse at most BUILTIN_MAX_BYTES, ending on a character boundary. */
static size_t builtin_clip(const char *text, size_t len)
{
	if (len <= BUILTIN_MAX_BYTES)
		return len;
	len = BUILTIN_MAX_BYTES;
	while (len > 0 && ((unsigned char)text[len] & 0xC0) == 0x80)
		len--;
	return len;
}

static uint32_t builtin_stopmask(const builtin *b, const tokens_word *t)
{
	const terms_entry *e = terms_find(&b->stop, t->word, t->len);
	return e ? e->mask : 0;
}

/* The language index, or -1 for "und". */
static int builtin_detect(const builtin *b, const char *text, size_t len)
{
	size_t hits[STOPWORDS_COUNT] = {0}, words = 0, pos = 0;
	tokens_word t;
	while (words < BUILTIN_LANG_SAMPLE && tokens_next(text, len, &pos, &t)) {
		if (t.digit || t.too_long)
			continue;
		words++;
		uint32_t mask = builtin_stopmask(b, &t);
		for (int l = 0; l < STOPWORDS_COUNT; l++)
			hits[l] += (mask >> l) & 1u;
	}
	int best = 0, second = -1;
	for (int l = 1; l < STOPWORDS_COUNT; l++) {
		if (hits[l] > hits[best]) {
			second = best;
			best = l;
		} else if (second < 0 || hits[l] > hits[second]) {
			second = l;
		}
	}
	if (words < BUILTIN_LANG_MIN_WORDS || hits[best] < BUILTIN_LANG_MIN_HITS)
		return -1;
	/* prose: stop words are a good share of the words and one language leads */
	if ((double)hits[best] >= BUILTIN_LANG_MIN_SHARE * (double)words &&
	    (double)hits[best] >= BUILTIN_LANG_MARGIN * (double)hits[second])
		return best;
	/* forms, invoices, tables: few stop words among names and numbers, but clearly of one language */
	if (hits[best] >= BUILTIN_LANG_FORM_HITS && (double)hits[best] >= BUILTIN_LANG_FORM_SHARE * (double)words &&
	    (double)hits[best] >= BUILTIN_LANG_FORM_MARGIN * (double)hits[second])
		return best;
	return -1;
}

/* Stop words to leave out: the text's language and English, or every list when the language is unknown. */
static uint32_t builtin_leave_out(const builtin *b, const char *text, size_t len)
{
	int lang = builtin_detect(b, text, len);
	return lang < 0 ? (1u << STOPWORDS_COUNT) - 1 : (1u << lang) | (1u << STOPWORDS_EN);
}

static bool builtin_content_word(const builtin *b, const tokens_word *t, uint32_t leave_out)
{
	return !t->digit && !t->too_long && t->chars >= BUILTIN_KEYWORD_MIN_CHARS &&
	       (builtin_stopmask(b, t) & leave_out) == 0;
}

/* Count the content words of the text into `freq`; returns the highest count (0 when none). */
static ag_status builtin_count(const builtin *b, const char *text, size_t len, uint32_t leave_out, terms *freq,
                               uint32_t *maxcount)
{
	size_t pos = 0;
	tokens_word t;
	*maxcount = 0;
	ag_status st = terms_init(freq, BUILTIN_MAX_TERMS);
	if (st != AG_OK)
		return st;
	while (tokens_next(text, len, &pos, &t)) {
		if (!builtin_content_word(b, &t, leave_out))
			continue;
		size_t before = freq->n;
		terms_entry *e = terms_add(freq, t.word, t.len);
		if (!e)
			continue; /* the table is full: later new words are not counted */
		if (freq->n != before)
			e->first = (uint32_t)before;
		e->count++;
		if (e->count > *maxcount)
			*maxcount = e->count;
	}
	return AG_OK;
}

static ag_status builtin_language(void *self, const char *text, size_t len, char out[AI_LANG_MAX], ag_err *err)
{
	int lang = builtin_detect(self, text, builtin_clip(text, len));
	snprintf(out, AI_LANG_MAX, "%s", lang < 0 ? "und" : stopwords_code((stopwords_lang)lang));
	return AG_OK;
}

static int builtin_by_count(const void *a, const void *b)
{
	const terms_entry *x = *(const terms_entry *const *)a, *y = *(const terms_entry *const *)b;
	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return x->first < y->first ? -1 : x->first > y->first;
}

static ag_status builtin_keywords(void *self, const char *text, size_t len, ai_keywords *out, ag_err *err)
{
	const builtin *b = self;
	terms freq;
	const terms_entry **all = NULL;
	uint32_t maxcount;
	memset(out, 0, sizeof *out);
	len = builtin_clip(text, len);
	ag_status st = builtin_count(b, text, len, builtin_leave_out(b, text, len), &freq, &maxcount);
	if (st != AG_OK)
		return ag_err_set(err, st, "out of memory counting words");
	all = malloc((freq.n ? freq.n : 1) * sizeof *all);
	if (!all) {
		st = ag_err_set(err, AG_E_NOMEM, "out of memory ranking words");
		goto out;
	}
	size_t n = 0;
	for (size_t i = 0; i < freq.cap; i++)
		if (freq.slots[i].len)
			all[n++] = &freq.slots[i];
	qsort(all, n, sizeof *all, builtin_by_count);
	for (size_t i = 0; i < n && out->n < (size_t)b->opts.keywords; i++) {
		memcpy(out->word[out->n], terms_key(&freq, all[i]), all[i]->len);
		out->word[out->n][all[i]->len] = '\0';
		out->n++;
	}
out:
	free(all);
	terms_free(&freq);
	return st;
}

typedef struct builtin_sentence {
	size_t s, e;
	double score;
	bool chosen;
} builtin_sentence;

/* Append the sentence with its whitespace runs folded to one space; false when it does not fit (the summary
 * then ends with an ellipsis if it was empty, so a single huge sentence still yields something). */
static bool builtin_append(char *out, size_t *olen, const char *text, size_t s, size_t e)
{
	size_t o = *olen, room = AI_SUMMARY_MAX_BYTES - 1;
	if (o > 0) {
		if (o + 1 > room)
			return false; /* out[o] is still the NUL */
		out[o++] = ' ';
	}
	bool space = false;
	for (size_t i = s; i < e; i++) {
		char c = text[i];
		bool ws = c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
		if (ws) {
			space = true;
			continue;
		}
		size_t need = (space ? 1 : 0) + 1;
		if (o + need > room) {
			if (*olen > 0) {
				out[*olen] = '\0'; /* drop the separator written above */
				return false;
			}
			/* the first sentence alone is too long: cut it on a character boundary and mark the cut */
			o = room - 3 < o ? room - 3 : o;
			while (o > 0 && ((unsigned char)out[o] & 0xC0) == 0x80)
				o--;
			memcpy(out + o, "\xE2\x80\xA6", 3);
			*olen = o + 3;
			out[*olen] = '\0';
			return false;
		}
		if (space)
			out[o++] = ' ';
		space = false;
		out[o++] = c;
	}
	*olen = o;
	out[o] = '\0';
	return true;
}

static bool builtin_line_starts(const char *l, size_t n, const char *p)
{
	size_t k = strlen(p);
	return n >= k && memcmp(l, p, k) == 0;
}

/* A line of only -, =, *, _ and spaces (a rule or a setext heading underline). */
static bool builtin_rule_line(const char *l, size_t n)
{
	size_t marks = 0;
	for (size_t i = 0; i < n; i++) {
		if (l[i] == '-' || l[i] == '=' || l[i] == '*' || l[i] == '_')
			marks++;
		else if (l[i] != ' ' && l[i] != '\t' && l[i] != '\r')
			return false;
	}
	return marks >= 3;
}

/*
 * A copy of the text in which Markdown that is not prose - headings, table rows, fenced and indented code
 * blocks, rules - is blanked to newlines (offsets unchanged, and a blanked line ends a sentence), so that the
 * summary picks sentences only. malloc'd; NULL on OOM.
 */
static char *builtin_prose(const char *text, size_t len)
{
	char *p = malloc(len + 1);
	if (!p)
		return NULL;
	memcpy(p, text, len);
	p[len] = '\0';
	bool fence = false, blank_before = true;
	size_t pos = 0;
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t e = nl ? (size_t)(nl - text) : len, s = pos, indent = 0;
		while (s < e && (text[s] == ' ' || text[s] == '\t')) {
			indent += text[s] == '\t' ? 4 : 1;
			s++;
		}
		const char *l = text + s;
		size_t n = e - s, pipes = 0;
		for (size_t i = 0; i < n; i++)
			pipes += l[i] == '|';
		bool blank = n == 0 || (n == 1 && l[0] == '\r');
		bool fence_line = builtin_line_starts(l, n, "```") || builtin_line_starts(l, n, "~~~");
		bool drop = fence || fence_line || (!blank && indent >= 4 && blank_before) ||
		            (n > 0 && l[0] == '#' && (n == 1 || l[1] == '#' || l[1] == ' ')) ||
		            (n > 0 && l[0] == '|') || pipes >= 2 || builtin_rule_line(l, n) ||
		            (n > 0 && l[0] == '<' && n > 1 && (l[1] == '/' || (l[1] >= 'a' && l[1] <= 'z')));
		if (fence_line)
			fence = !fence;
		if (drop)
			memset(p + pos, '\n', e - pos);
		/* an indented block continues while lines stay indented */
		blank_before = blank || (drop && indent >= 4);
		pos = e + 1;
	}
	return p;
}

static ag_status builtin_summarize_text(const builtin *b, const char *text, size_t len, char **out, ag_err *err);

static ag_status builtin_summarize(void *self, const char *text, size_t len, char **out, ag_err *err)
{
	len = builtin_clip(text, len);
	char *prose = builtin_prose(text, len);
	if (!prose)
		return ag_err_set(err, AG_E_NOMEM, "out of memory");
	ag_status st = builtin_summarize_text(self, prose, len, out, err);
	/* a text that is all tables or code still gets a summary, from the raw text */
	if (st == AG_OK && **out == '\0') {
		free(*out);
		*out = NULL;
		st = builtin_summarize_text(self, text, len, out, err);
	}
	free(prose);
	return st;
}

static ag_status builtin_summarize_text(const builtin *b, const char *text, size_t len, char **out, ag_err *err)
{
	terms freq;
	builtin_sentence *sent = NULL;
	size_t nsent = 0, cap = 0, pos = 0, s, e;
	uint32_t maxcount;
	char *summary = NULL;
	*out = NULL;
	uint32_t leave_out = builtin_leave_out(b, text, len);
	ag_status st = builtin_count(b, text, len, leave_out, &freq, &maxcount);
	if (st != AG_OK)
		return ag_err_set(err, st, "out of memory counting words");

	while (nsent < BUILTIN_MAX_SENTENCES && tokens_sentence(text, len, &pos, &s, &e)) {
		if (nsent == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			builtin_sentence *p = realloc(sent, ncap * sizeof *p);
			if (!p) {
				st = ag_err_set(err, AG_E_NOMEM, "out of memory splitting sentences");
				goto out;
			}
			sent = p;
			cap = ncap;
		}
		size_t words = 0, content = 0, tp = s;
		double sum = 0;
		tokens_word t;
		while (tokens_next(text, e, &tp, &t)) {
			words++;
			if (!builtin_content_word(b, &t, leave_out))
				continue;
			const terms_entry *te = terms_find(&freq, t.word, t.len);
			if (te && maxcount) {
				sum += (double)te->count / (double)maxcount;
				content++;
			}
		}
		double score = content ? sum / sqrt((double)content) : 0;
		sent[nsent++] =
		        (builtin_sentence){s, e, words < BUILTIN_SUMMARY_MIN_WORDS ? score - 1e6 : score, false};
	}
	/* pick the best ones (the earlier sentence wins a tie) */
	for (int k = 0; k < b->opts.summary_sentences && (size_t)k < nsent; k++) {
		size_t best = SIZE_MAX;
		for (size_t i = 0; i < nsent; i++)
			if (!sent[i].chosen && (best == SIZE_MAX || sent[i].score > sent[best].score))
				best = i;
		sent[best].chosen = true;
	}
	summary = malloc(AI_SUMMARY_MAX_BYTES);
	if (!summary) {
		st = ag_err_set(err, AG_E_NOMEM, "out of memory");
		goto out;
	}
	size_t olen = 0;
	summary[0] = '\0';
	for (size_t i = 0; i < nsent; i++)
		if (sent[i].chosen && !builtin_append(summary, &olen, text, sent[i].s, sent[i].e))
			break;
	*out = summary;
	summary = NULL;
out:
	free(summary);
	free(sent);
	terms_free(&freq);
	return st;
}

static ag_status builtin_category(void *self, const char *text, size_t len, char out[AI_CATEGORY_MAX], ag_err *err)
{
	const builtin *b = self;
	category_id c = category_classify(&b->cues, text, builtin_clip(text, len), NULL);
	snprintf(out, AI_CATEGORY_MAX, "%s", category_name(c));
	return AG_OK;
}

static ag_status builtin_embed(void *self, const char *text, size_t len, float **out, size_t *dims, ag_err *err)
{
	const builtin *b = self;
	float *v = malloc(b->dims * sizeof *v);
	if (!v)
		return ag_err_set(err, AG_E_NOMEM, "out of memory");
	ag_embed_hashed(text, len, v, b->dims); /* a chunk without words embeds as the zero vector */
	*out = v;
	*dims = b->dims;
	return AG_OK;
}

static void builtin_free(void *self)
{
	builtin *b = self;
	if (!b)
		return;
	terms_free(&b->cues);
	terms_free(&b->stop);
	free(b);
}

const ai_provider_vt builtin_vt = {
        .name = "builtin",
        .summarize = builtin_summarize,
        .keywords = builtin_keywords,
        .language = builtin_language,
        .category = builtin_category,
        .embed = builtin_embed,
        .free = builtin_free,
};

ag_status builtin_open(ai_provider *out, const ai_opts *opts, ag_err *err)
{
	if (opts->summary_sentences < 1 || opts->summary_sentences > AI_SUMMARY_SENTENCES_MAX || opts->keywords < 1 ||
	    opts->keywords > AI_KEYWORDS_MAX)
		return ag_err_set(err, AG_E_INVAL, "summary sentences must be 1..%d and keywords 1..%d",
		                  AI_SUMMARY_SENTENCES_MAX, AI_KEYWORDS_MAX);
	builtin *b = calloc(1, sizeof *b);
	if (!b)
		return ag_err_set(err, AG_E_NOMEM, "out of memory");
	b->opts = *opts;
	b->dims = opts->embed_dims ? (size_t)opts->embed_dims : AG_EMBED_DIMS_DEFAULT;
	if (b->dims < AG_EMBED_DIMS_MIN || b->dims > AG_EMBED_DIMS_MAX) {
		free(b);
		return ag_err_set(err, AG_E_INVAL, "embedding dimensions must be %d..%d", AG_EMBED_DIMS_MIN,
		                  AG_EMBED_DIMS_MAX);
	}
	ag_embed_model(b->dims, b->embed_model);
	if (stopwords_load(&b->stop) != AG_OK || category_load(&b->cues) != AG_OK) {
		builtin_free(b);
		return ag_err_set(err, AG_E_NOMEM, "out of memory loading stop words");
	}
	*out = (ai_provider){.vt = &builtin_vt, .self = b, .model = NULL, .embed_model = b->embed_model};
	return AG_OK;
}
