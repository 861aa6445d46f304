/*
 * store.h - writing extract-content's results in the step's transaction:
 * the document's text (document_content, upserted) and its chunks (the old
 * ones deleted, the new ones inserted in batches of up to
 * STORE_BATCH_CHUNKS rows or STORE_BATCH_BYTES as one text[] parameter).
 */
#ifndef CONTENT_STORE_H
#define CONTENT_STORE_H

#include "aegis/status.h"

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_BATCH_CHUNKS 256
#define STORE_BATCH_BYTES  (4 * 1024 * 1024)

ag_status store_content(PGconn *c, const char *document_id, const char *text, const char *charset, uint64_t chars,
                        ag_err *err);

typedef struct store_chunks {
	PGconn *conn;
	const char *document_id;
	void (*progress)(void *ud); /* after every batch; may be NULL */
	void *ud;
	ag_err *err; /* detail of a failed store_chunks_add */
	char *arr;   /* the text[] literal of the batch being built */
	size_t len, alloc;
	size_t n; /* chunks in the batch */
	size_t first_seq;
	size_t total; /* chunks inserted */
} store_chunks;

/* Delete the document's old chunks and prepare a batch. */
ag_status store_chunks_begin(store_chunks *s, PGconn *c, const char *document_id, void (*progress)(void *), void *ud,
                             ag_err *err);
/* A chunk_fn (chunk.h): `ud` is the store_chunks. */
ag_status store_chunks_add(void *ud, size_t seq, const char *text, size_t len);
/* Insert what is left in the batch. */
ag_status store_chunks_end(store_chunks *s);
void store_chunks_free(store_chunks *s);

/* Append `s[0..n)` to a PostgreSQL array literal in buf (growing it: *buf malloc'd, caller free()s) as a quoted
 * element, preceded by ',' unless it is the first. The caller adds the braces. */
ag_status store_array_append(char **buf, size_t *len, size_t *alloc, const char *s, size_t n);

#endif
