/*
 * chunk.c - cutting text into overlapping chunks at natural boundaries.
 * Positions are byte offsets; sizes are counted in code points by skipping
 * UTF-8 continuation bytes, so a cut is always on a character boundary.
 * Every preferred cut lies just after an ASCII byte, which is a boundary too.
 */
#include "chunk.h"

#include <stdbool.h>
#include <string.h>

static bool chunk_cont(unsigned char c)
{
	return (c & 0xC0) == 0x80;
}

static bool chunk_space(unsigned char c)
{
	return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

/* Byte offset `n` code points after `pos` (or len). */
static size_t chunk_forward(const char *t, size_t len, size_t pos, size_t n)
{
	while (pos < len && n > 0) {
		pos++;
		while (pos < len && chunk_cont((unsigned char)t[pos]))
			pos++;
		n--;
	}
	return pos;
}

/* Byte offset `n` code points before `pos`, not before `floor`. */
static size_t chunk_back(const char *t, size_t floor, size_t pos, size_t n)
{
	while (pos > floor && n > 0) {
		pos--;
		while (pos > floor && chunk_cont((unsigned char)t[pos]))
			pos--;
		n--;
	}
	return pos;
}

static bool chunk_sentence_end(const char *t, size_t lo, size_t p)
{
	/* p is just after whitespace; before it: [.!?] optionally closed by a quote or bracket, or an ideographic
	 * full stop (U+3002) */
	size_t q = p - 1;
	if (q > lo && strchr("\"')]", t[q - 1]) != NULL)
		q--;
	if (q > lo && strchr(".!?", t[q - 1]) != NULL)
		return true;
	return q >= lo + 3 && memcmp(t + q - 3, "\xE3\x80\x82", 3) == 0;
}

/* The best cut in (lo, hi]: paragraph break, sentence end, whitespace, else hi. */
static size_t chunk_cut(const char *t, size_t lo, size_t hi)
{
	for (size_t p = hi; p > lo + 1; p--)
		if (t[p - 1] == '\n' && t[p - 2] == '\n')
			return p;
	for (size_t p = hi; p > lo + 1; p--)
		if (chunk_space((unsigned char)t[p - 1]) && chunk_sentence_end(t, lo, p))
			return p;
	for (size_t p = hi; p > lo; p--)
		if (chunk_space((unsigned char)t[p - 1]))
			return p;
	return hi;
}

ag_status chunk_split(const char *text, size_t len, size_t max_chars, size_t overlap_chars, chunk_fn fn, void *ud)
{
	if (max_chars < 1 || (overlap_chars > 0 && overlap_chars * 2 >= max_chars))
		return AG_E_INVAL;
	size_t start = 0, seq = 0;
	while (start < len) {
		size_t end = chunk_forward(text, len, start, max_chars);
		size_t cut = end;
		if (end < len) {
			size_t half = chunk_forward(text, len, start, (max_chars + 1) / 2);
			cut = chunk_cut(text, half, end);
		}
		ag_status st = fn(ud, seq++, text + start, cut - start);
		if (st != AG_OK)
			return st;
		if (cut >= len)
			break;
		size_t next = chunk_back(text, start, cut, overlap_chars);
		/* begin the overlap at a word: unless it already does, after the first whitespace in it, if any */
		bool word_start = next > 0 && chunk_space((unsigned char)text[next - 1]) &&
		                  !chunk_space((unsigned char)text[next]);
		for (size_t p = next; !word_start && p < cut; p++) {
			if (chunk_space((unsigned char)text[p])) {
				while (p < cut && chunk_space((unsigned char)text[p]))
					p++;
				if (p <
				    cut) /* a word follows inside the overlap: start there, else keep some overlap */
					next = p;
				break;
			}
		}
		if (next <= start || overlap_chars == 0)
			next = cut;
		start = next;
	}
	return AG_OK;
}
