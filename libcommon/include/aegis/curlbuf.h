/*
 * curlbuf.h - the body of an outbound HTTP answer (libcurl), collected in a
 * growing, NUL-terminated buffer up to a limit, so that a server cannot make
 * a service hold more than it expects.
 *
 *   ag_curlbuf b = {.max = LIMIT};
 *   curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, ag_curlbuf_write);
 *   curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
 *   ... b.toobig: the answer was larger than max (the transfer was aborted);
 *   free(b.p);
 */
#ifndef AEGIS_CURLBUF_H
#define AEGIS_CURLBUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct ag_curlbuf {
	char *p;     /* malloc'd, NUL-terminated; NULL until the first byte */
	size_t n;    /* bytes held, NUL not counted */
	size_t max;  /* the most bytes accepted */
	bool toobig; /* more than max came: the transfer was stopped */
} ag_curlbuf;

/* CURLOPT_WRITEFUNCTION with an ag_curlbuf as CURLOPT_WRITEDATA. Returns 0 (libcurl then aborts) when the answer
 * passes max or memory runs out. */
size_t ag_curlbuf_write(char *data, size_t size, size_t nmemb, void *ud);

#endif
