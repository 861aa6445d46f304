/* Tests services/extract-metadata/scan.c: one streaming pass yields size, SHA-256, type, charset and counts. */
#include "../../../../services/extract-metadata/scan.c"
#include "../../../../services/extract-metadata/textstats.c"

#include "test.h"

#include <jansson.h>
#include <stdlib.h>

static ag_sniff *sniffer;

/* An unlinked temporary file holding `len` bytes, positioned at its start; -1 on failure. */
static int scan_tmpfile(const void *data, size_t len)
{
	char path[] = "/tmp/ag-scan-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		return -1;
	unlink(path);
	if (write(fd, data, len) != (ssize_t)len || lseek(fd, 0, SEEK_SET) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int progress_calls;
static void count_progress(void *ud)
{
	(void)ud;
	progress_calls++;
}

static void scan_small_text(void)
{
	static const char text[] = "abc";
	int fd = scan_tmpfile(text, 3);
	AG_CHECK(fd >= 0);
	scan_result r;
	AG_CHECK_INT(scan_fd(fd, sniffer, NULL, NULL, &r, NULL), AG_OK);
	close(fd);
	AG_CHECK_INT(r.size, 3);
	AG_CHECK_STR(r.sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"); /* FIPS 180-2 */
	AG_CHECK_STR(r.sniffed.mime, "text/plain");
	AG_CHECK(r.text);
	AG_CHECK_INT(r.stats.lines, 1);
	AG_CHECK_INT(r.stats.words, 1);
	AG_CHECK_INT(r.stats.chars, 3);

	char *json = scan_json(&r);
	AG_CHECK_STR(json,
	             "{\"size\":3,\"sha256\":\"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\","
	             "\"mime\":\"text/plain\",\"charset\":\"us-ascii\",\"lines\":1,\"words\":1,\"chars\":3}");
	free(json);
}

/* A text of several read chunks, with multi-byte characters straddling the chunk boundaries. */
static void scan_large_utf8_text(void)
{
	static const char line[] = "gr\xc3\xbc\xc3\x9f dich caf\xc3\xa9 \xe2\x82\xac\n"; /* 4 words, 17 chars */
	size_t ll = sizeof line - 1, n = (3 * SCAN_CHUNK_BYTES) / ll + 7;
	char *buf = malloc(n * ll);
	for (size_t i = 0; i < n; i++)
		memcpy(buf + i * ll, line, ll);
	unsigned char want[crypto_hash_sha256_BYTES];
	char wanthex[sizeof want * 2 + 1];
	crypto_hash_sha256(want, (const unsigned char *)buf, n * ll);
	sodium_bin2hex(wanthex, sizeof wanthex, want, sizeof want);

	int fd = scan_tmpfile(buf, n * ll);
	AG_CHECK(fd >= 0);
	scan_result r;
	progress_calls = 0;
	AG_CHECK_INT(scan_fd(fd, sniffer, count_progress, NULL, &r, NULL), AG_OK);
	close(fd);
	AG_CHECK_INT(r.size, n * ll);
	AG_CHECK_STR(r.sha256, wanthex);
	AG_CHECK_STR(r.sniffed.mime, "text/plain");
	AG_CHECK_STR(r.sniffed.encoding, "utf-8");
	AG_CHECK(r.text);
	AG_CHECK_INT(r.stats.lines, n);
	AG_CHECK_INT(r.stats.words, 4 * n);
	AG_CHECK_INT(r.stats.chars, 17 * n);
	AG_CHECK(progress_calls >= 4); /* at least once per chunk, so the step can heartbeat */
	free(buf);
}

static void scan_binary_has_no_text_counts(void)
{
	static const unsigned char png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D',
	                                    'R',  0,   0,   0,   1,    0,    0,    0,    1, 8, 2, 0,  0,   0};
	int fd = scan_tmpfile(png, sizeof png);
	scan_result r;
	AG_CHECK_INT(scan_fd(fd, sniffer, NULL, NULL, &r, NULL), AG_OK);
	close(fd);
	AG_CHECK_STR(r.sniffed.mime, "image/png");
	AG_CHECK(!r.text);
	char *json = scan_json(&r);
	json_t *o = json ? json_loads(json, 0, NULL) : NULL;
	AG_CHECK(o != NULL);
	AG_CHECK_INT(json_integer_value(json_object_get(o, "size")), sizeof png);
	AG_CHECK_STR(json_string_value(json_object_get(o, "mime")), "image/png");
	AG_CHECK(json_object_get(o, "charset") == NULL);
	AG_CHECK(json_object_get(o, "lines") == NULL);
	AG_CHECK(json_object_get(o, "chars") == NULL);
	json_decref(o);
	free(json);
}

static void scan_latin1_counts_bytes(void)
{
	static const char text[] = "caf\xe9 cr\xe8me br\xfbl\xe9\x65, d\xe9j\xe0 vu\n";
	int fd = scan_tmpfile(text, sizeof text - 1);
	scan_result r;
	AG_CHECK_INT(scan_fd(fd, sniffer, NULL, NULL, &r, NULL), AG_OK);
	close(fd);
	AG_CHECK_STR(r.sniffed.encoding, "iso-8859-1");
	AG_CHECK(r.text);
	AG_CHECK_INT(r.stats.chars, sizeof text - 1);
	AG_CHECK_INT(r.stats.words, 5);
}

static void scan_empty_file(void)
{
	int fd = scan_tmpfile("", 0);
	scan_result r;
	AG_CHECK_INT(scan_fd(fd, sniffer, NULL, NULL, &r, NULL), AG_OK);
	close(fd);
	AG_CHECK_INT(r.size, 0);
	AG_CHECK_STR(r.sha256, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void scan_read_error_is_io(void)
{
	scan_result r;
	ag_err err = {0};
	AG_CHECK_INT(scan_fd(-1, sniffer, NULL, NULL, &r, &err), AG_E_IO);
	AG_CHECK(err.msg[0] != '\0');
}

static void scan_text_types(void)
{
	AG_CHECK(scan_is_text("text/plain", "utf-8"));
	AG_CHECK(scan_is_text("text/csv", "us-ascii"));
	AG_CHECK(scan_is_text("application/json", "utf-8"));
	AG_CHECK(scan_is_text("application/ld+json", "utf-8"));
	AG_CHECK(scan_is_text("application/atom+xml", "us-ascii"));
	AG_CHECK(scan_is_text("text/plain", "unknown-8bit"));
	AG_CHECK(!scan_is_text("text/plain", "utf-16le")); /* bytes are not characters there */
	AG_CHECK(!scan_is_text("application/pdf", "us-ascii"));
	AG_CHECK(!scan_is_text("image/png", "binary"));
	AG_CHECK(!scan_is_text("application/+xml", "utf-8"));
}

int main(void)
{
	ag_err err = {0};
	if (sodium_init() < 0 || ag_sniff_new(&sniffer, &err) != AG_OK) {
		printf("not ok - libsodium / libmagic: %s\n", err.msg);
		return 1;
	}
	AG_TEST_RUN(scan_small_text);
	AG_TEST_RUN(scan_large_utf8_text);
	AG_TEST_RUN(scan_binary_has_no_text_counts);
	AG_TEST_RUN(scan_latin1_counts_bytes);
	AG_TEST_RUN(scan_empty_file);
	AG_TEST_RUN(scan_read_error_is_io);
	AG_TEST_RUN(scan_text_types);
	ag_sniff_free(sniffer);
	return ag_test_summary();
}
