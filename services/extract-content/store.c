/*
 * store.c - document_content and chunks rows. Chunks travel as text[]
 * literals unnested by the server, so a long document costs a few round
 * trips rather than one per chunk.
 */
#include "store.h"

#include "aegis/db.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

ag_status store_content(PGconn *c, const char *document_id, const char *text, const char *charset, uint64_t chars,
                        ag_err *err)
{
	char nchars[24];
	snprintf(nchars, sizeof nchars, "%" PRIu64, chars);
	const char *params[] = {document_id, text, charset, nchars};
	return ag_db_exec(c,
	                  "INSERT INTO document_content (document_id, text, charset, chars) VALUES ($1, $2, $3, $4) "
	                  "ON CONFLICT (document_id) DO UPDATE SET text = EXCLUDED.text, charset = EXCLUDED.charset, "
	                  "chars = EXCLUDED.chars, updated_at = now()",
	                  4, params, NULL, err);
}

ag_status store_array_append(char **buf, size_t *len, size_t *alloc, const char *s, size_t n)
{
	size_t need = *len + 2 * n + 4; /* worst case: every byte escaped, the quotes, the comma, a NUL */
	if (need > *alloc) {
		size_t want = *alloc ? *alloc * 2 : 4096;
		while (want < need)
			want *= 2;
		char *p = realloc(*buf, want);
		if (!p)
			return AG_E_NOMEM;
		*buf = p;
		*alloc = want;
	}
	char *o = *buf + *len;
	if (*len > 0)
		*o++ = ',';
	*o++ = '"';
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"' || s[i] == '\\')
			*o++ = '\\';
		*o++ = s[i];
	}
	*o++ = '"';
	*o = '\0';
	*len = (size_t)(o - *buf);
	return AG_OK;
}

ag_status store_chunks_begin(store_chunks *s, PGconn *c, const char *document_id, void (*progress)(void *), void *ud,
                             ag_err *err)
{
	*s = (store_chunks){.conn = c, .document_id = document_id, .progress = progress, .ud = ud, .err = err};
	const char *params[] = {document_id};
	return ag_db_exec(c, "DELETE FROM chunks WHERE document_id = $1", 1, params, NULL, err);
}

static ag_status store_chunks_flush(store_chunks *s)
{
	if (s->n == 0)
		return AG_OK;
	/* wrap the elements in braces: shift right by one (the buffer has room for the NUL, add one more) */
	if (s->len + 3 > s->alloc) {
		char *p = realloc(s->arr, s->len + 3);
		if (!p)
			return ag_err_set(s->err, AG_E_NOMEM, "out of memory");
		s->arr = p;
		s->alloc = s->len + 3;
	}
	memmove(s->arr + 1, s->arr, s->len);
	s->arr[0] = '{';
	s->arr[s->len + 1] = '}';
	s->arr[s->len + 2] = '\0';
	char seq[24];
	snprintf(seq, sizeof seq, "%zu", s->first_seq);
	const char *params[] = {s->document_id, seq, s->arr};
	ag_status st = ag_db_exec(s->conn,
	                          "INSERT INTO chunks (document_id, seq, text) "
	                          "SELECT $1, $2::int + u.ord::int - 1, u.t "
	                          "FROM unnest($3::text[]) WITH ORDINALITY AS u(t, ord)",
	                          3, params, NULL, s->err);
	if (st != AG_OK)
		return st;
	s->total += s->n;
	s->n = 0;
	s->len = 0;
	if (s->progress)
		s->progress(s->ud);
	return AG_OK;
}

ag_status store_chunks_add(void *ud, size_t seq, const char *text, size_t len)
{
	store_chunks *s = ud;
	if (s->n == 0)
		s->first_seq = seq;
	if (store_array_append(&s->arr, &s->len, &s->alloc, text, len) != AG_OK)
		return ag_err_set(s->err, AG_E_NOMEM, "out of memory");
	s->n++;
	if (s->n >= STORE_BATCH_CHUNKS || s->len >= STORE_BATCH_BYTES)
		return store_chunks_flush(s);
	return AG_OK;
}

ag_status store_chunks_end(store_chunks *s)
{
	return store_chunks_flush(s);
}

void store_chunks_free(store_chunks *s)
{
	free(s->arr);
	s->arr = NULL;
	s->len = s->alloc = 0;
}
