/*
 * Tests libcommon/src/storage.c, storage_fs.c and storage_mem.c: URL and key
 * validation, then one contract run against both backends (commit makes an
 * object visible, abort leaves nothing, reads at offsets, sizes, idempotent
 * deletes, local paths), then what only the file backend promises (no
 * temporary files left, real paths, directories made on demand).
 */
#include "aegis/storage.h"
#include "test.h"

#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define TEST_BIG_BYTES (1024 * 1024 + 123)
#define TEST_CHUNK     (64 * 1024)

static char tmp_root[64]; /* scratch directory of this run */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void rm_rf(const char *path)
{
	nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int tmp_seen;
static int count_tmp_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	if (strncmp(path + ftw->base, ".tmp-", 5) == 0)
		tmp_seen++;
	return 0;
}

/* Number of writer temporary files anywhere under dir. */
static int count_tmp_files(const char *dir)
{
	tmp_seen = 0;
	nftw(dir, count_tmp_entry, 16, FTW_PHYS);
	return tmp_seen;
}

static ag_status put(ag_storage *s, const char *key, const char *text)
{
	ag_storage_writer *w = NULL;
	ag_err e;
	ag_status st = ag_storage_writer_new(s, key, &w, &e);
	if (st != AG_OK)
		return st;
	st = ag_storage_write(w, text, strlen(text), &e);
	if (st != AG_OK) {
		ag_storage_abort(w);
		return st;
	}
	return ag_storage_commit(w, &e);
}

/* Whole object as a string (objects in these tests are small text), or "<status name>". */
static const char *get(ag_storage *s, const char *key, char *buf, size_t cap)
{
	size_t got = 0;
	ag_err e;
	ag_status st = ag_storage_read(s, key, 0, buf, cap - 1, &got, &e);
	if (st != AG_OK) {
		snprintf(buf, cap, "<%s>", ag_status_name(st));
		return buf;
	}
	buf[got] = '\0';
	return buf;
}

/* --- validation ------------------------------------------------------------------------------------------------ */

static void keys_are_validated(void)
{
	char longest[1025], too_long[1026], long_seg[257];
	memset(longest, 'k', sizeof longest - 1);
	longest[sizeof longest - 1] = '\0';
	for (size_t i = 100; i < sizeof longest - 1; i += 100)
		longest[i] = '/';
	memset(too_long, 'k', sizeof too_long - 1);
	too_long[sizeof too_long - 1] = '\0';
	memset(long_seg, 's', sizeof long_seg - 1);
	long_seg[sizeof long_seg - 1] = '\0';
	static const struct {
		const char *key;
		bool ok;
	} cases[] = {
	        {"a", true},
	        {"a/b/c", true},
	        {"documents/3f1c9e2a-0c4b-4a57-9d7e-2b1e0f6a9c11/original.pdf", true},
	        {"A-Z_a-z.0-9", true},
	        {".hidden", true},
	        {"...", true},
	        {"a..b", true},
	        {"", false},
	        {"..", false},
	        {".", false},
	        {"a/../b", false},
	        {"a/./b", false},
	        {"../etc/passwd", false},
	        {"/abs", false},
	        {"/", false},
	        {"a//b", false},
	        {"a/", false},
	        {"a b", false},
	        {"a\\b", false},
	        {"a:b", false},
	        {"caf\xc3\xa9", false},
	        {"a\nb", false},
	        {"a/.tmp-1234", false}, /* reserved for writers' temporary files */
	        {".tmp-x", false},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		if (ag_storage_key_valid(cases[i].key) != cases[i].ok)
			fprintf(stderr, "  key \"%s\": want %s\n", cases[i].key, cases[i].ok ? "valid" : "invalid");
		AG_CHECK(ag_storage_key_valid(cases[i].key) == cases[i].ok);
	}
	AG_CHECK(!ag_storage_key_valid(NULL));
	AG_CHECK(ag_storage_key_valid(longest));
	AG_CHECK(!ag_storage_key_valid(too_long));
	AG_CHECK(!ag_storage_key_valid(long_seg));
	long_seg[255] = '\0';
	AG_CHECK(ag_storage_key_valid(long_seg));
}

static void urls_are_validated(void)
{
	char url[128];
	ag_storage *s = (ag_storage *)&url; /* must come back NULL on failure */
	ag_err e;
	static const struct {
		const char *url;
		ag_status want;
		const char *msg;
	} cases[] = {
	        {"", AG_E_INVAL, "STORAGE_URL must be file:///path"},
	        {"file://relative/dir", AG_E_INVAL, "STORAGE_URL must be file:///path"},
	        {"file:///", AG_E_INVAL, "other than /"},
	        {"file:///tmp/x?y=1", AG_E_INVAL, "query"},
	        {"/var/lib/aegis", AG_E_INVAL, "STORAGE_URL must be file:///path"},
	        {"http://example/x", AG_E_INVAL, "not http://"},
	        {"s3://bucket/prefix", AG_E_UNSUPPORTED, "not built yet"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		ag_err_clear(&e);
		AG_CHECK_INT(ag_storage_open(&s, cases[i].url, &e), cases[i].want);
		AG_CHECK(s == NULL);
		if (!strstr(e.msg, cases[i].msg))
			fprintf(stderr, "  url \"%s\": message \"%s\" lacks \"%s\"\n", cases[i].url, e.msg,
			        cases[i].msg);
		AG_CHECK(strstr(e.msg, cases[i].msg) != NULL);
	}
	AG_CHECK_INT(ag_storage_open(&s, NULL, &e), AG_E_INVAL);
	AG_CHECK_INT(ag_storage_open(NULL, "mem://", &e), AG_E_INVAL);

	/* mkdir -p of the root, trailing slashes allowed */
	snprintf(url, sizeof url, "file://%s/deep/er/root//", tmp_root);
	AG_CHECK_INT(ag_storage_open(&s, url, &e), AG_OK);
	struct stat st;
	char dir[96];
	snprintf(dir, sizeof dir, "%s/deep/er/root", tmp_root);
	AG_CHECK(stat(dir, &st) == 0 && S_ISDIR(st.st_mode));
	AG_CHECK(ag_storage_ping(s));
	ag_storage_free(s);

	/* a file where the root directory should be */
	snprintf(dir, sizeof dir, "%s/plainfile", tmp_root);
	FILE *f = fopen(dir, "w");
	if (f)
		fclose(f);
	snprintf(url, sizeof url, "file://%s/plainfile/root", tmp_root);
	AG_CHECK(ag_storage_open(&s, url, &e) != AG_OK);
	AG_CHECK(strstr(e.msg, "plainfile") != NULL);
	ag_storage_free(NULL);
	AG_CHECK(!ag_storage_ping(NULL));
}

/* --- the contract, for every backend --------------------------------------------------------------------------- */

static void contract_commit_makes_visible(ag_storage *s)
{
	ag_storage_writer *w = NULL;
	ag_err e;
	char buf[64];
	uint64_t size = 99;
	AG_CHECK_INT(ag_storage_writer_new(s, "docs/one/original.txt", &w, &e), AG_OK);
	AG_CHECK_INT(ag_storage_write(w, "hello ", 6, &e), AG_OK);
	AG_CHECK_INT(ag_storage_write(w, "world", 5, &e), AG_OK);
	AG_CHECK_INT(ag_storage_write(w, NULL, 0, &e), AG_OK);
	/* not visible before commit */
	AG_CHECK_INT(ag_storage_size(s, "docs/one/original.txt", &size, &e), AG_E_NOTFOUND);
	AG_CHECK_STR(get(s, "docs/one/original.txt", buf, sizeof buf), "<not_found>");
	AG_CHECK_INT(ag_storage_commit(w, &e), AG_OK);
	AG_CHECK_INT(ag_storage_size(s, "docs/one/original.txt", &size, &e), AG_OK);
	AG_CHECK_INT(size, 11);
	AG_CHECK_STR(get(s, "docs/one/original.txt", buf, sizeof buf), "hello world");
	/* a second commit to the same key replaces it whole */
	AG_CHECK_INT(put(s, "docs/one/original.txt", "bye"), AG_OK);
	AG_CHECK_STR(get(s, "docs/one/original.txt", buf, sizeof buf), "bye");
	/* an empty object is an object */
	AG_CHECK_INT(ag_storage_writer_new(s, "empty", &w, &e), AG_OK);
	AG_CHECK_INT(ag_storage_commit(w, &e), AG_OK);
	AG_CHECK_INT(ag_storage_size(s, "empty", &size, &e), AG_OK);
	AG_CHECK_INT(size, 0);
	AG_CHECK_STR(get(s, "empty", buf, sizeof buf), "");
	AG_CHECK_INT(ag_storage_commit(NULL, &e), AG_E_INVAL);
}

static void contract_abort_leaves_nothing(ag_storage *s)
{
	ag_storage_writer *w = NULL;
	ag_err e;
	uint64_t size;
	char buf[32];
	AG_CHECK_INT(ag_storage_writer_new(s, "aborted/file.bin", &w, &e), AG_OK);
	AG_CHECK_INT(ag_storage_write(w, "partial", 7, &e), AG_OK);
	ag_storage_abort(w);
	AG_CHECK_INT(ag_storage_size(s, "aborted/file.bin", &size, &e), AG_E_NOTFOUND);
	/* abort of a replacement keeps the old object */
	AG_CHECK_INT(put(s, "kept", "old"), AG_OK);
	AG_CHECK_INT(ag_storage_writer_new(s, "kept", &w, &e), AG_OK);
	AG_CHECK_INT(ag_storage_write(w, "new", 3, &e), AG_OK);
	ag_storage_abort(w);
	AG_CHECK_STR(get(s, "kept", buf, sizeof buf), "old");
	ag_storage_abort(NULL);
}

static void contract_reads_at_offsets(ag_storage *s)
{
	ag_err e;
	char buf[64];
	size_t got = 99;
	AG_CHECK_INT(put(s, "offsets", "0123456789"), AG_OK);
	static const struct {
		uint64_t offset;
		size_t len;
		const char *want;
	} cases[] = {
	        {0, 4, "0123"}, {4, 3, "456"}, {7, 100, "789"},     {9, 1, "9"},
	        {10, 5, ""},    {1000, 5, ""}, {UINT64_MAX, 5, ""},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		memset(buf, 0, sizeof buf);
		AG_CHECK_INT(ag_storage_read(s, "offsets", cases[i].offset, buf, cases[i].len, &got, &e), AG_OK);
		AG_CHECK_INT(got, strlen(cases[i].want));
		AG_CHECK_STR(buf, cases[i].want);
	}
	AG_CHECK_INT(ag_storage_read(s, "missing", 0, buf, sizeof buf, &got, &e), AG_E_NOTFOUND);
	AG_CHECK_INT(got, 0);
	/* a prefix of existing keys is not an object */
	AG_CHECK_INT(put(s, "dir/inner", "x"), AG_OK);
	AG_CHECK_INT(ag_storage_read(s, "dir", 0, buf, sizeof buf, &got, &e), AG_E_NOTFOUND);
	AG_CHECK_INT(ag_storage_read(s, "dir/inner/deeper", 0, buf, sizeof buf, &got, &e), AG_E_NOTFOUND);
}

static void contract_large_object_streams(ag_storage *s)
{
	ag_storage_writer *w = NULL;
	ag_err e;
	unsigned char *chunk = malloc(TEST_CHUNK), *back = malloc(TEST_CHUNK);
	AG_CHECK_INT(ag_storage_writer_new(s, "big/blob", &w, &e), AG_OK);
	for (size_t off = 0; off < TEST_BIG_BYTES; off += TEST_CHUNK) {
		size_t n = TEST_BIG_BYTES - off < TEST_CHUNK ? TEST_BIG_BYTES - off : TEST_CHUNK;
		for (size_t i = 0; i < n; i++)
			chunk[i] = (unsigned char)((off + i) * 7 % 251);
		AG_CHECK_INT(ag_storage_write(w, chunk, n, &e), AG_OK);
	}
	AG_CHECK_INT(ag_storage_commit(w, &e), AG_OK);
	uint64_t size = 0;
	AG_CHECK_INT(ag_storage_size(s, "big/blob", &size, &e), AG_OK);
	AG_CHECK_INT(size, TEST_BIG_BYTES);
	size_t total = 0, got = 0, bad = 0;
	do {
		AG_CHECK_INT(ag_storage_read(s, "big/blob", total, back, TEST_CHUNK, &got, &e), AG_OK);
		for (size_t i = 0; i < got; i++)
			bad += back[i] != (unsigned char)((total + i) * 7 % 251);
		total += got;
	} while (got > 0);
	AG_CHECK_INT(total, TEST_BIG_BYTES);
	AG_CHECK_INT(bad, 0);
	free(chunk);
	free(back);
}

static void contract_delete_is_idempotent(ag_storage *s)
{
	ag_err e;
	uint64_t size;
	AG_CHECK_INT(put(s, "to/delete", "bytes"), AG_OK);
	AG_CHECK_INT(ag_storage_delete(s, "to/delete", &e), AG_OK);
	AG_CHECK_INT(ag_storage_size(s, "to/delete", &size, &e), AG_E_NOTFOUND);
	AG_CHECK_INT(ag_storage_delete(s, "to/delete", &e), AG_OK);
	AG_CHECK_INT(ag_storage_delete(s, "never/existed", &e), AG_OK);
	AG_CHECK_INT(ag_storage_delete(s, "../escape", &e), AG_E_INVAL);
}

static void contract_local_path_has_the_bytes(ag_storage *s)
{
	ag_err e;
	char *path = NULL;
	char buf[32] = {0};
	AG_CHECK_INT(put(s, "local/file.pdf", "%PDF-1.7"), AG_OK);
	AG_CHECK_INT(ag_storage_local_path(s, "local/file.pdf", &path, &e), AG_OK);
	AG_CHECK(path && path[0] == '/');
	FILE *f = path ? fopen(path, "rb") : NULL;
	AG_CHECK(f != NULL);
	if (f) {
		AG_CHECK_INT(fread(buf, 1, sizeof buf - 1, f), 8);
		fclose(f);
	}
	AG_CHECK_STR(buf, "%PDF-1.7");
	ag_storage_local_done(s, path);
	path = (char *)buf;
	AG_CHECK_INT(ag_storage_local_path(s, "local/missing", &path, &e), AG_E_NOTFOUND);
	AG_CHECK(path == NULL);
	ag_storage_local_done(s, NULL);
}

static void contract_rejects_bad_keys_everywhere(ag_storage *s)
{
	ag_storage_writer *w = (ag_storage_writer *)&s;
	ag_err e;
	char buf[8], *path = NULL;
	size_t got;
	uint64_t size;
	static const char *const bad[] = {"../x", "/etc/passwd", "a//b", "", "a/./b"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		AG_CHECK_INT(ag_storage_writer_new(s, bad[i], &w, &e), AG_E_INVAL);
		AG_CHECK(w == NULL);
		AG_CHECK_INT(ag_storage_read(s, bad[i], 0, buf, sizeof buf, &got, &e), AG_E_INVAL);
		AG_CHECK_INT(ag_storage_size(s, bad[i], &size, &e), AG_E_INVAL);
		AG_CHECK_INT(ag_storage_local_path(s, bad[i], &path, &e), AG_E_INVAL);
		AG_CHECK_INT(ag_storage_delete(s, bad[i], &e), AG_E_INVAL);
	}
	AG_CHECK(strstr(e.msg, "invalid storage key") != NULL);
	AG_CHECK_INT(ag_storage_writer_new(s, NULL, &w, &e), AG_E_INVAL);
}

static void contract_interleaved_writers(ag_storage *s)
{
	ag_storage_writer *a = NULL, *b = NULL, *c = NULL;
	ag_err e;
	char buf[32];
	AG_CHECK_INT(ag_storage_writer_new(s, "par/a", &a, &e), AG_OK);
	AG_CHECK_INT(ag_storage_writer_new(s, "par/b", &b, &e), AG_OK);
	AG_CHECK_INT(ag_storage_writer_new(s, "par/a", &c, &e), AG_OK);
	AG_CHECK_INT(ag_storage_write(a, "A1", 2, &e), AG_OK);
	AG_CHECK_INT(ag_storage_write(b, "B1", 2, &e), AG_OK);
	AG_CHECK_INT(ag_storage_write(c, "C1", 2, &e), AG_OK);
	AG_CHECK_INT(ag_storage_write(a, "A2", 2, &e), AG_OK);
	AG_CHECK_INT(ag_storage_commit(b, &e), AG_OK);
	AG_CHECK_INT(ag_storage_commit(c, &e), AG_OK);
	AG_CHECK_INT(ag_storage_commit(a, &e), AG_OK); /* the last commit wins */
	AG_CHECK_STR(get(s, "par/a", buf, sizeof buf), "A1A2");
	AG_CHECK_STR(get(s, "par/b", buf, sizeof buf), "B1");
}

static void run_contract(ag_storage *s)
{
	contract_commit_makes_visible(s);
	contract_abort_leaves_nothing(s);
	contract_reads_at_offsets(s);
	contract_large_object_streams(s);
	contract_delete_is_idempotent(s);
	contract_local_path_has_the_bytes(s);
	contract_rejects_bad_keys_everywhere(s);
	contract_interleaved_writers(s);
	AG_CHECK(ag_storage_ping(s));
}

static void mem_backend_keeps_the_contract(void)
{
	ag_storage *s = NULL;
	ag_err e;
	AG_CHECK_INT(ag_storage_open(&s, "mem://", &e), AG_OK);
	if (!s)
		return;
	run_contract(s);
	/* local_done removes the temporary copy mem:// had to make */
	char *path = NULL;
	AG_CHECK_INT(ag_storage_local_path(s, "kept", &path, &e), AG_OK);
	char copy[PATH_MAX];
	snprintf(copy, sizeof copy, "%s", path ? path : "");
	AG_CHECK(access(copy, F_OK) == 0);
	ag_storage_local_done(s, path);
	AG_CHECK(access(copy, F_OK) != 0);
	/* two opens are two stores */
	ag_storage *other = NULL;
	uint64_t size;
	AG_CHECK_INT(ag_storage_open(&other, "mem://", &e), AG_OK);
	AG_CHECK_INT(ag_storage_size(other, "kept", &size, &e), AG_E_NOTFOUND);
	ag_storage_free(other);
	ag_storage_free(s);
}

static void fs_backend_keeps_the_contract(void)
{
	char root[128], url[160];
	ag_storage *s = NULL;
	ag_err e;
	snprintf(root, sizeof root, "%s/fs", tmp_root);
	snprintf(url, sizeof url, "file://%s", root);
	AG_CHECK_INT(ag_storage_open(&s, url, &e), AG_OK);
	if (!s)
		return;
	run_contract(s);
	AG_CHECK_INT(count_tmp_files(root), 0); /* every commit and abort cleaned up */
	ag_storage_free(s);
}

/* --- what only file:// promises -------------------------------------------------------------------------------- */

static void fs_writer_uses_a_temp_file_in_the_final_directory(void)
{
	char root[128], url[160], path[256];
	ag_storage *s = NULL;
	ag_storage_writer *w = NULL;
	ag_err e;
	struct stat st;
	snprintf(root, sizeof root, "%s/fs2", tmp_root);
	snprintf(url, sizeof url, "file://%s", root);
	AG_CHECK_INT(ag_storage_open(&s, url, &e), AG_OK);
	if (!s)
		return;
	AG_CHECK_INT(ag_storage_writer_new(s, "a/b/c/object", &w, &e), AG_OK);
	AG_CHECK_INT(ag_storage_write(w, "data", 4, &e), AG_OK);
	snprintf(path, sizeof path, "%s/a/b/c", root);
	AG_CHECK(stat(path, &st) == 0 && S_ISDIR(st.st_mode)); /* directories made on demand */
	AG_CHECK_INT(count_tmp_files(path), 1);                /* the temporary file sits next to its final name */
	snprintf(path, sizeof path, "%s/a/b/c/object", root);
	AG_CHECK(access(path, F_OK) != 0);
	AG_CHECK_INT(ag_storage_commit(w, &e), AG_OK);
	AG_CHECK(stat(path, &st) == 0 && S_ISREG(st.st_mode));
	AG_CHECK_INT(st.st_size, 4);
	AG_CHECK_INT(st.st_mode & 0777, 0640);
	AG_CHECK_INT(count_tmp_files(root), 0);

	AG_CHECK_INT(ag_storage_writer_new(s, "a/b/c/aborted", &w, &e), AG_OK);
	AG_CHECK_INT(ag_storage_write(w, "data", 4, &e), AG_OK);
	ag_storage_abort(w);
	AG_CHECK_INT(count_tmp_files(root), 0);
	snprintf(path, sizeof path, "%s/a/b/c/aborted", root);
	AG_CHECK(access(path, F_OK) != 0);

	/* a file where a directory of the key should be */
	AG_CHECK_INT(put(s, "a/b/c/object/below", "x"), AG_E_CONFLICT);
	AG_CHECK_INT(count_tmp_files(root), 0);
	/* an object where a directory is */
	AG_CHECK_INT(put(s, "a/b", "x"), AG_E_CONFLICT);
	AG_CHECK_INT(count_tmp_files(root), 0);
	ag_storage_free(s);
}

static void fs_local_path_is_the_real_file(void)
{
	char real[128], link[128], url[160], path[256];
	ag_storage *s = NULL;
	ag_err e;
	snprintf(real, sizeof real, "%s/real", tmp_root);
	snprintf(link, sizeof link, "%s/link", tmp_root);
	AG_CHECK(mkdir(real, 0750) == 0);
	AG_CHECK(symlink(real, link) == 0);
	snprintf(url, sizeof url, "file://%s", link);
	AG_CHECK_INT(ag_storage_open(&s, url, &e), AG_OK);
	if (!s)
		return;
	AG_CHECK_INT(put(s, "k/v", "value"), AG_OK);
	char *p = NULL;
	AG_CHECK_INT(ag_storage_local_path(s, "k/v", &p, &e), AG_OK);
	char *want_dir = realpath(real, NULL);
	snprintf(path, sizeof path, "%s/k/v", want_dir ? want_dir : "?");
	free(want_dir);
	AG_CHECK_STR(p, path);
	ag_storage_local_done(s, p);
	AG_CHECK(access(path, F_OK) == 0); /* done never removes the real object */
	ag_storage_free(s);
}

static void fs_ping_fails_without_the_directory(void)
{
	char root[128], url[160];
	ag_storage *s = NULL;
	ag_storage_writer *w = NULL;
	ag_err e;
	snprintf(root, sizeof root, "%s/vanishing", tmp_root);
	snprintf(url, sizeof url, "file://%s", root);
	AG_CHECK_INT(ag_storage_open(&s, url, &e), AG_OK);
	if (!s)
		return;
	AG_CHECK(ag_storage_ping(s));
	rm_rf(root);
	AG_CHECK(!ag_storage_ping(s));
	AG_CHECK_INT(ag_storage_writer_new(s, "x", &w, &e), AG_E_IO);
	AG_CHECK(strstr(e.msg, root) != NULL);
	ag_storage_free(s);
}

int main(void)
{
	snprintf(tmp_root, sizeof tmp_root, "/tmp/aegis-storagetest-XXXXXX");
	if (!mkdtemp(tmp_root)) {
		printf("not ok - storage: cannot make a temporary directory\n");
		return 1;
	}
	AG_TEST_RUN(keys_are_validated);
	AG_TEST_RUN(urls_are_validated);
	AG_TEST_RUN(mem_backend_keeps_the_contract);
	AG_TEST_RUN(fs_backend_keeps_the_contract);
	AG_TEST_RUN(fs_writer_uses_a_temp_file_in_the_final_directory);
	AG_TEST_RUN(fs_local_path_is_the_real_file);
	AG_TEST_RUN(fs_ping_fails_without_the_directory);
	rm_rf(tmp_root);
	return ag_test_summary();
}
