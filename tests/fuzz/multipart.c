/*
 * multipart.c - libFuzzer target for the gateway's streaming multipart
 * parser (services/gateway/multipart.c) and boundary extraction. Input: a
 * Content-Type value, a newline, then the body. The body is parsed twice -
 * in one piece and split into chunks whose sizes come from the input - and
 * both runs must report the same parts, bytes and outcome (the parser is
 * documented to accept any split). Any difference aborts.
 */
#include "gateway/multipart.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
	uint64_t hash; /* FNV-1a over every callback and its bytes */
	int parts;
	size_t bytes;
} seen;

static void mix(seen *s, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++) {
		s->hash ^= b[i];
		s->hash *= 1099511628211ULL;
	}
}

static ag_status on_part(void *ud, const multipart_part *p)
{
	seen *s = ud;
	s->parts++;
	mix(s, "P", 1);
	mix(s, p->cd.name, strlen(p->cd.name));
	mix(s, p->cd.filename, strlen(p->cd.filename));
	mix(s, p->content_type, strlen(p->content_type));
	return AG_OK;
}

static ag_status on_data(void *ud, const char *d, size_t n)
{
	seen *s = ud;
	if (n == 0) /* the parser promises non-empty data */
		abort();
	s->bytes += n;
	mix(s, d, n);
	return AG_OK;
}

static ag_status on_end(void *ud)
{
	mix(ud, "E", 1);
	return AG_OK;
}

static const multipart_callbacks cb = {on_part, on_data, on_end};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size < 512 ? size : 512);
	if (!nl)
		return 0;
	char ctype[512];
	size_t clen = (size_t)(nl - data);
	memcpy(ctype, data, clen);
	ctype[clen] = '\0';
	char boundary[AG_MULTIPART_BOUNDARY_MAX + 1];
	if (multipart_boundary(ctype, boundary) != AG_OK)
		return 0;
	size_t blen = strlen(boundary);
	if (blen == 0 || blen > AG_MULTIPART_BOUNDARY_MAX)
		abort();
	const char *body = (const char *)nl + 1;
	size_t len = size - clen - 1;

	static multipart a, b; /* large (header buffer): not on the stack */
	seen sa = {14695981039346656037ULL, 0, 0}, sb = sa;
	multipart_init(&a, boundary, &cb, &sa);
	ag_status st_a = multipart_feed(&a, body, len);

	multipart_init(&b, boundary, &cb, &sb);
	ag_status st_b = AG_OK;
	size_t off = 0;
	unsigned step = 1;
	while (off < len && st_b == AG_OK) {
		/* chunk sizes 1..64 taken from the body itself, so splits land everywhere */
		step = (step * 31 + (unsigned char)body[off]) % 64 + 1;
		size_t n = len - off < step ? len - off : step;
		st_b = multipart_feed(&b, body + off, n);
		off += n;
	}
	if (st_a != st_b || sa.hash != sb.hash || sa.parts != sb.parts || sa.bytes != sb.bytes ||
	    multipart_complete(&a) != multipart_complete(&b)) {
		fprintf(stderr, "split parse differs: status %d/%d parts %d/%d bytes %zu/%zu complete %d/%d\n", st_a,
		        st_b, sa.parts, sb.parts, sa.bytes, sb.bytes, multipart_complete(&a), multipart_complete(&b));
		abort();
	}
	if (st_a == AG_E_PROTO && multipart_error(&a)[0] == '\0') {
		fprintf(stderr, "error %d without a reason\n", st_a);
		abort();
	}
	if (sa.bytes > len)
		abort();
	return 0;
}
