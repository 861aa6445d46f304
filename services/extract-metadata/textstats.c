/*
 * textstats.c - counting lines, words and characters in one pass without
 * state beyond a few flags: a UTF-8 code point is every byte that is not a
 * continuation byte, so pieces may split a sequence anywhere. Invalid bytes
 * count as they fall; the counts are for people, not for parsers.
 */
#include "textstats.h"

void textstats_init(textstats *t, bool single_byte)
{
	*t = (textstats){.single_byte = single_byte};
}

static bool textstats_space(unsigned char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

void textstats_feed(textstats *t, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = p[i];
		if (t->single_byte || (c & 0xC0) != 0x80)
			t->chars++;
		if (c == '\n') {
			t->lines++;
			t->open_line = false;
		} else {
			t->open_line = true;
		}
		if (textstats_space(c)) {
			t->in_word = false;
		} else if (!t->in_word) {
			t->in_word = true;
			t->words++;
		}
	}
}

void textstats_finish(textstats *t)
{
	if (t->open_line) {
		t->lines++;
		t->open_line = false;
	}
}
