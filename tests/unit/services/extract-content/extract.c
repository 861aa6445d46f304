/* Tests services/extract-content/extract.c: text from files, charset decided over the whole file, the cap. */
#include "../../../../services/extract-content/charset.c"
#include "../../../../services/extract-content/extract.c"

#include "test.h"

static int tmpfile_with(const void *data, size_t len)
{
	char path[] = "/tmp/ag-extract-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		return -1;
	unlink(path);
	if (write(fd, data, len) != (ssize_t)len) {
		close(fd);
		return -1;
	}
	return fd; /* positioned at the end on purpose: extraction must read from the start */
}

static int reads;
static void count_reads(void *ud)
{
	(void)ud;
	reads++;
}

static void extract_latin1_file(void)
{
	static const char text[] = "caf\xe9 cr\xe8me\r\nd\xe9j\xe0 vu\r\n";
	int fd = tmpfile_with(text, sizeof text - 1);
	extract_text t;
	AG_CHECK_INT(extract_text_fd(fd, 1024, NULL, NULL, &t, NULL), AG_OK);
	close(fd);
	AG_CHECK_STR(t.text, "caf\xc3\xa9 cr\xc3\xa8me\nd\xc3\xa9j\xc3\xa0 vu\n");
	AG_CHECK_INT(t.charset, CHARSET_WINDOWS_1252);
	AG_CHECK_INT(t.chars, 19);
	AG_CHECK(!t.truncated);
	extract_text_free(&t);
}

/* A latin-1 byte far behind the first read still makes the whole file windows-1252. */
static void extract_decides_on_the_whole_file(void)
{
	size_t n = 3 * EXTRACT_READ_BYTES;
	char *buf = malloc(n);
	memset(buf, 'a', n);
	buf[n - 2] = '\xe9';
	buf[n - 1] = '\n';
	int fd = tmpfile_with(buf, n);
	extract_text t;
	reads = 0;
	AG_CHECK_INT(extract_text_fd(fd, n * 2, count_reads, NULL, &t, NULL), AG_OK);
	close(fd);
	AG_CHECK_INT(t.charset, CHARSET_WINDOWS_1252);
	AG_CHECK_INT(t.len, n + 1); /* é became two bytes */
	AG_CHECK(memcmp(t.text + n - 2, "\xc3\xa9\n", 3) == 0);
	AG_CHECK(reads >= 6); /* two passes of three reads each report progress */
	extract_text_free(&t);
	free(buf);
}

static void extract_stops_at_the_cap(void)
{
	size_t n = 4 * EXTRACT_READ_BYTES;
	char *buf = malloc(n);
	for (size_t i = 0; i < n; i++)
		buf[i] = i % 50 == 49 ? '\n' : 'x';
	int fd = tmpfile_with(buf, n);
	extract_text t;
	reads = 0;
	AG_CHECK_INT(extract_text_fd(fd, 1000, count_reads, NULL, &t, NULL), AG_OK);
	close(fd);
	AG_CHECK(t.truncated);
	AG_CHECK_INT(t.len, 1000);
	AG_CHECK_INT(strlen(t.text), 1000);
	AG_CHECK_INT(reads, 4 + 1); /* the detection pass reads all, conversion stops after the first read */
	extract_text_free(&t);
	free(buf);
}

static void extract_utf16_and_errors(void)
{
	static const char u16[] = "\xff\xfeH\0i\0 \0\xac\x20";
	int fd = tmpfile_with(u16, sizeof u16 - 1);
	extract_text t;
	AG_CHECK_INT(extract_text_fd(fd, 100, NULL, NULL, &t, NULL), AG_OK);
	close(fd);
	AG_CHECK_STR(t.text, "Hi \xe2\x82\xac");
	AG_CHECK_INT(t.charset, CHARSET_UTF16LE);
	extract_text_free(&t);

	ag_err err = {0};
	AG_CHECK_INT(extract_text_fd(-1, 100, NULL, NULL, &t, &err), AG_E_IO);
	AG_CHECK(t.text == NULL);
	extract_text_free(&t);
	extract_text_free(NULL);
}

static void extract_supported_types(void)
{
	AG_CHECK(extract_supported("text/plain"));
	AG_CHECK(extract_supported("text/markdown"));
	AG_CHECK(extract_supported("text/x-markdown"));
	AG_CHECK(extract_supported("text/csv"));
	AG_CHECK(extract_supported("application/json"));
	AG_CHECK(extract_supported("application/xml"));
	AG_CHECK(extract_supported("text/xml"));
	AG_CHECK(!extract_supported("application/pdf"));
	AG_CHECK(!extract_supported("text/html")); /* not as raw markup */
	AG_CHECK(!extract_supported("image/png"));
	AG_CHECK(!extract_supported(""));
}

int main(void)
{
	AG_TEST_RUN(extract_latin1_file);
	AG_TEST_RUN(extract_decides_on_the_whole_file);
	AG_TEST_RUN(extract_stops_at_the_cap);
	AG_TEST_RUN(extract_utf16_and_errors);
	AG_TEST_RUN(extract_supported_types);
	return ag_test_summary();
}
