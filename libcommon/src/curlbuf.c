/*
 * curlbuf.c - an outbound answer's body, bounded (see curlbuf.h).
 */
#include "aegis/curlbuf.h"

#include <stdlib.h>
#include <string.h>

size_t ag_curlbuf_write(char *data, size_t size, size_t nmemb, void *ud)
{
	ag_curlbuf *b = ud;
	size_t n = size * nmemb;
	if (n > b->max || b->n > b->max - n) {
		b->toobig = true;
		return 0;
	}
	char *p = realloc(b->p, b->n + n + 1);
	if (!p)
		return 0;
	memcpy(p + b->n, data, n);
	b->p = p;
	b->n += n;
	b->p[b->n] = '\0';
	return n;
}
