/*
 * Tests the resumable-object calls of libcommon/src/storage.c on both
 * backends (storage_fs.c, storage_mem.c): ag_storage_writer_resume, _sync,
 * _rename - what tus uploads rely on to keep partial bytes across requests
 * and restarts.
 */
#include "aegis/storage.h"

#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *get(ag_storage *s, const char *key)
{
	static char buf[256];
	size_t got = 0;
	if (ag_storage_read(s, key, 0, buf, sizeof buf - 1, &got, NULL) != AG_OK)
		return "(missing)";
	buf[got] = '\0';
	return buf;
}

static ag_status append(ag_storage *s, const char *key, uint64_t offset, const char *text, bool commit)
{
	ag_storage_writer *w = NULL;
	ag_err e;
	ag_err_clear(&e);
	ag_status st = ag_storage_writer_resume(s, key, offset, &w, &e);
	if (st != AG_OK)
		return st;
	st = ag_storage_write(w, text, strlen(text), &e);
	if (st == AG_OK && commit)
		return ag_storage_commit(w, &e);
	if (st == AG_OK)
		st = ag_storage_sync(w, &e);
	ag_storage_abort(w); /* keeps what was synced */
	return st;
}

static void exercise(ag_storage *s)
{
	ag_err e;
	ag_err_clear(&e);
	/* offset 0 creates; commit keeps the object under its own key */
	AG_CHECK_INT(append(s, "uploads/u1", 0, "hello ", true), AG_OK);
	AG_CHECK_STR(get(s, "uploads/u1"), "hello ");
	/* sync then abort also keeps the bytes */
	AG_CHECK_INT(append(s, "uploads/u1", 6, "world", false), AG_OK);
	AG_CHECK_STR(get(s, "uploads/u1"), "hello world");
	/* resuming at an earlier offset cuts off what lies beyond (never acknowledged) */
	AG_CHECK_INT(append(s, "uploads/u1", 5, "!", true), AG_OK);
	AG_CHECK_STR(get(s, "uploads/u1"), "hello!");
	/* resuming past the end means durable bytes are gone: a conflict, nothing changes */
	AG_CHECK_INT(append(s, "uploads/u1", 100, "x", true), AG_E_CONFLICT);
	AG_CHECK_INT(append(s, "uploads/none", 3, "x", true), AG_E_CONFLICT);
	AG_CHECK_STR(get(s, "uploads/u1"), "hello!");
	/* offset 0 on an existing object starts it over */
	AG_CHECK_INT(append(s, "uploads/u2", 0, "old", true), AG_OK);
	AG_CHECK_INT(append(s, "uploads/u2", 0, "new", true), AG_OK);
	AG_CHECK_STR(get(s, "uploads/u2"), "new");
	/* rename moves the object, replacing the target, and into a new directory */
	AG_CHECK_INT(ag_storage_rename(s, "uploads/u1", "documents/d1", &e), AG_OK);
	AG_CHECK_STR(get(s, "documents/d1"), "hello!");
	AG_CHECK_STR(get(s, "uploads/u1"), "(missing)");
	AG_CHECK_INT(ag_storage_rename(s, "uploads/u2", "documents/d1", &e), AG_OK);
	AG_CHECK_STR(get(s, "documents/d1"), "new");
	AG_CHECK_INT(ag_storage_rename(s, "uploads/u1", "documents/d2", &e), AG_E_NOTFOUND);
	AG_CHECK_INT(ag_storage_rename(s, "../x", "documents/d2", &e), AG_E_INVAL);
	/* sync on an ordinary writer is harmless and its object still appears only at commit */
	ag_storage_writer *w = NULL;
	AG_CHECK_INT(ag_storage_writer_new(s, "documents/d3", &w, &e), AG_OK);
	AG_CHECK_INT(ag_storage_write(w, "abc", 3, &e), AG_OK);
	AG_CHECK_INT(ag_storage_sync(w, &e), AG_OK);
	AG_CHECK_STR(get(s, "documents/d3"), "(missing)");
	AG_CHECK_INT(ag_storage_commit(w, &e), AG_OK);
	AG_CHECK_STR(get(s, "documents/d3"), "abc");
}

static void fs_backend(void)
{
	char dir[] = "/tmp/aegis-storage-resume-XXXXXX", url[64];
	AG_CHECK(mkdtemp(dir) != NULL);
	snprintf(url, sizeof url, "file://%s", dir);
	ag_storage *s = NULL;
	AG_CHECK_INT(ag_storage_open(&s, url, NULL), AG_OK);
	exercise(s);
	ag_storage_free(s);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	AG_CHECK_INT(system(cmd), 0);
}

static void mem_backend(void)
{
	ag_storage *s = NULL;
	AG_CHECK_INT(ag_storage_open(&s, "mem://", NULL), AG_OK);
	exercise(s);
	ag_storage_free(s);
}

int main(void)
{
	AG_TEST_RUN(fs_backend);
	AG_TEST_RUN(mem_backend);
	return ag_test_summary();
}
