/*
 * sink.c - the bounded, UTF-8-checking text writer of parser children.
 */
#include "sink.h"

#include "aegis/sandbox.h"
#include "aegis/str.h"

#include <string.h>

void sink_init(sink *s, FILE *out, size_t max)
{
	*s = (sink){.out = out, .max = max, .newlines = 2};
}

bool sink_full(const sink *s)
{
	return s->truncated;
}

static void sink_put(sink *s, const char *p, size_t n)
{
	if (s->truncated)
		return;
	if (s->len + n > s->max) {
		s->truncated = true;
		return;
	}
	fwrite(p, 1, n, s->out);
	s->len += n;
}

void sink_text(sink *s, const char *text, size_t len)
{
	const unsigned char *p = (const unsigned char *)text;
	size_t i = 0;
	while (i < len && !s->truncated) {
		unsigned char c = p[i];
		if (c == '\n') {
			sink_newline(s);
			i++;
			continue;
		}
		if (c == ' ' || c == '\t' || c == '\r' || c == '\v') {
			sink_space(s);
			i++;
			continue;
		}
		if (c == '\f') {
			sink_page(s);
			i++;
			continue;
		}
		if (c < 0x20 || c == 0x7f) {
			s->dropped += c != 0 ? 0 : 1;
			i++;
			continue;
		}
		size_t n = ag_utf8_len(p + i, len - i);
		if (n == 0) {
			s->dropped++;
			i++;
			continue;
		}
		sink_put(s, (const char *)p + i, n);
		s->newlines = 0;
		s->space = false;
		s->any = true;
		i += n;
	}
}

void sink_str(sink *s, const char *text)
{
	if (text)
		sink_text(s, text, strlen(text));
}

void sink_space(sink *s)
{
	if (s->space || s->newlines > 0)
		return;
	sink_put(s, " ", 1);
	s->space = true;
}

void sink_tab(sink *s)
{
	if (s->newlines > 0 && !s->any)
		return;
	sink_put(s, "\t", 1);
	s->space = true;
}

void sink_newline(sink *s)
{
	if (s->newlines >= 2)
		return;
	sink_put(s, "\n", 1);
	s->newlines++;
	s->space = false;
}

void sink_paragraph(sink *s)
{
	sink_newline(s);
	sink_newline(s);
}

void sink_page(sink *s)
{
	sink_put(s, "\f", 1);
	s->pages++;
	s->newlines = 2;
	s->space = false;
}

int sink_finish(sink *s, const char *charset)
{
	fputc('\0', s->out);
	fprintf(s->out, "%s\t%llu\t%d\t%llu", charset, (unsigned long long)s->dropped, s->truncated ? 1 : 0,
	        (unsigned long long)s->pages);
	return ferror(s->out) ? AG_SANDBOX_EXIT_FAIL : 0;
}
