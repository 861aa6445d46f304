/*
 * Tests services/extract-content/store.c: the text[] literal that carries a batch of chunks, and the SQL against
 * the PostgreSQL of AEGIS_TEST_DATABASE_URL (migrated; everything inside one transaction that is rolled back).
 */
#include "../../../../services/extract-content/chunk.c"
#include "../../../../services/extract-content/store.c"

#include "test.h"

#include <stdlib.h>
#include <unistd.h>

static void store_array_quotes_and_escapes(void)
{
	char *buf = NULL;
	size_t len = 0, alloc = 0;
	AG_CHECK_INT(store_array_append(&buf, &len, &alloc, "plain", 5), AG_OK);
	AG_CHECK_STR(buf, "\"plain\"");
	AG_CHECK_INT(store_array_append(&buf, &len, &alloc, "say \"hi\" \\ bye", 14), AG_OK);
	AG_CHECK_INT(store_array_append(&buf, &len, &alloc, "", 0), AG_OK);
	AG_CHECK_INT(store_array_append(&buf, &len, &alloc, "NULL", 4), AG_OK); /* a word, not SQL NULL */
	AG_CHECK_INT(store_array_append(&buf, &len, &alloc, "{a,b}\n caf\xc3\xa9", 12), AG_OK); /* braces, commas */
	AG_CHECK_STR(buf, "\"plain\",\"say \\\"hi\\\" \\\\ bye\",\"\",\"NULL\",\"{a,b}\n caf\xc3\xa9\"");
	AG_CHECK_INT(len, strlen(buf));
	free(buf);
}

static void store_array_grows(void)
{
	char *buf = NULL;
	size_t len = 0, alloc = 0;
	char big[10000];
	memset(big, '"', sizeof big); /* worst case: every byte escaped */
	for (int i = 0; i < 3; i++)
		AG_CHECK_INT(store_array_append(&buf, &len, &alloc, big, sizeof big), AG_OK);
	AG_CHECK_INT(len, 3 * (2 * sizeof big + 2) + 2);
	AG_CHECK(alloc > len);
	AG_CHECK(buf[len] == '\0');
	free(buf);
}

static PGconn *conn;

/* One row, one column of `sql` with `param` as $1, into buf ("" on error). */
static const char *one(const char *sql, const char *param, char *buf, size_t len)
{
	PGresult *r = NULL;
	const char *params[] = {param};
	buf[0] = '\0';
	if (ag_db_exec(conn, sql, param ? 1 : 0, params, &r, NULL) == AG_OK && PQntuples(r) == 1)
		snprintf(buf, len, "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	return buf;
}

static int progress_calls;
static void count_progress(void *ud)
{
	(void)ud;
	progress_calls++;
}

static void store_writes_content_and_chunks(void)
{
	char doc[64], buf[256], email[64];
	ag_err err = {0};
	snprintf(email, sizeof email, "store-test-%ld@example.org", (long)getpid());
	AG_CHECK_INT(ag_db_begin(conn, &err), AG_OK);
	one("INSERT INTO users (email, password_hash) VALUES ($1, 'x') RETURNING id", email, buf, sizeof buf);
	one("INSERT INTO documents (id, owner_id, filename, size, sha256, storage_key) "
	    "VALUES (gen_random_uuid(), $1, 'a.txt', 1, 'x', 'k') RETURNING id",
	    buf, doc, sizeof doc);
	AG_CHECK(doc[0] != '\0');

	/* the content row is upserted */
	AG_CHECK_INT(store_content(conn, doc, "first", "utf-8", 5, &err), AG_OK);
	AG_CHECK_INT(store_content(conn, doc, "caf\xc3\xa9 \"quoted\" \\ text", "windows-1252", 19, &err), AG_OK);
	AG_CHECK_STR(one("SELECT text || '|' || charset || '|' || chars FROM document_content WHERE document_id = $1",
	                 doc, buf, sizeof buf),
	             "caf\xc3\xa9 \"quoted\" \\ text|windows-1252|19");

	/* chunks: more than one batch, texts with quotes, backslashes, braces and commas survive */
	size_t n = 2 * STORE_BATCH_CHUNKS + 17, len = 0;
	char *text = malloc(n * 32);
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(text + len, 32, "w%zu \"{a,\\b}\" end.\n\n", i);
	store_chunks sc;
	progress_calls = 0;
	AG_CHECK_INT(store_chunks_begin(&sc, conn, doc, count_progress, NULL, &err), AG_OK);
	AG_CHECK_INT(chunk_split(text, len, 20, 0, store_chunks_add, &sc), AG_OK);
	AG_CHECK_INT(store_chunks_end(&sc), AG_OK);
	AG_CHECK_INT(sc.total, n);
	AG_CHECK_INT(progress_calls, 3); /* one per batch */
	store_chunks_free(&sc);
	snprintf(buf, sizeof buf, "%zu|0|%zu", n, n - 1);
	char got[64];
	AG_CHECK_STR(one("SELECT count(*) || '|' || min(seq) || '|' || max(seq) FROM chunks WHERE document_id = $1",
	                 doc, got, sizeof got),
	             buf);
	AG_CHECK_STR(one("SELECT text FROM chunks WHERE document_id = $1 AND seq = 300", doc, got, sizeof got),
	             "w300 \"{a,\\b}\" end.\n\n");
	PGresult *r = NULL;
	const char *params[] = {doc};
	AG_CHECK_INT(ag_db_exec(conn, "SELECT string_agg(text, '' ORDER BY seq) FROM chunks WHERE document_id = $1", 1,
	                        params, &r, NULL),
	             AG_OK);
	AG_CHECK(r && PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), text) == 0); /* no overlap: the text again */
	PQclear(r);

	/* a second run replaces every chunk */
	AG_CHECK_INT(store_chunks_begin(&sc, conn, doc, NULL, NULL, &err), AG_OK);
	AG_CHECK_INT(chunk_split("short", 5, 1500, 200, store_chunks_add, &sc), AG_OK);
	AG_CHECK_INT(store_chunks_end(&sc), AG_OK);
	store_chunks_free(&sc);
	AG_CHECK_STR(one("SELECT count(*) || '|' || string_agg(text, '') FROM chunks WHERE document_id = $1", doc, got,
	                 sizeof got),
	             "1|short");
	free(text);
	ag_db_rollback(conn);
}

int main(void)
{
	AG_TEST_RUN(store_array_quotes_and_escapes);
	AG_TEST_RUN(store_array_grows);

	const char *url = getenv("AEGIS_TEST_DATABASE_URL");
	ag_db_pool *pool = NULL;
	ag_err err = {0};
	if (!url || !url[0]) {
		printf("not ok - store_writes_content_and_chunks: AEGIS_TEST_DATABASE_URL is not set\n");
		ag_test_failed++;
	} else if (ag_db_pool_new(&pool, url, 1, &err) != AG_OK || ag_db_migrate(pool, &err) != AG_OK ||
	           ag_db_acquire(pool, &conn, 5000, &err) != AG_OK) {
		printf("not ok - store_writes_content_and_chunks: PostgreSQL: %s\n", err.msg);
		ag_test_failed++;
	} else {
		AG_TEST_RUN(store_writes_content_and_chunks);
	}
	if (conn)
		ag_db_release(pool, conn);
	ag_db_pool_free(pool);
	return ag_test_summary();
}
