/* Tests services/gateway/filename.c: sanitising client-supplied file names. */
#include "../../../../services/gateway/filename.c"

#include "test.h"

static const char *san(const char *in)
{
	static char out[AG_FILENAME_MAX_BYTES + 1];
	size_t n = filename_sanitize(in, in ? strlen(in) : 0, out);
	AG_CHECK_INT(n, strlen(out));
	return out;
}

static void keeps_ordinary_names(void)
{
	AG_CHECK_STR(san("report.pdf"), "report.pdf");
	AG_CHECK_STR(san("My Notes (final).md"), "My Notes (final).md");
	AG_CHECK_STR(san("r\xc3\xa9sum\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80.txt"),
	             "r\xc3\xa9sum\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80.txt");
	AG_CHECK_STR(san(".bashrc"), ".bashrc");
}

static void strips_directories(void)
{
	AG_CHECK_STR(san("../../etc/passwd"), "passwd");
	AG_CHECK_STR(san("/abs/path/file.txt"), "file.txt");
	AG_CHECK_STR(san("C:\\Users\\me\\cv.doc"), "cv.doc");
	AG_CHECK_STR(san("dir/sub\\mixed/name.csv"), "name.csv");
	AG_CHECK_STR(san("dir/"), "upload");
	AG_CHECK_STR(san(".."), "upload");
	AG_CHECK_STR(san("a/."), "upload");
}

static void removes_control_and_bidi_characters(void)
{
	AG_CHECK_STR(san("a\tb\nc\rd\x1b[31m.txt"), "abcd[31m.txt");
	AG_CHECK_STR(san("del\x7f.txt"), "del.txt");
	AG_CHECK_STR(san("c1\xc2\x85\xc2\x9b.txt"), "c1.txt"); /* NEL and CSI as code points */
	AG_CHECK_STR(san("invoice\xe2\x80\xae"
	                 "fdp.exe"),
	             "invoicefdp.exe");            /* U+202E */
	AG_CHECK_STR(san("x\xe2\x81\xa6y"), "xy"); /* U+2066 */
	char with_nul[] = "a\0b.txt";
	char out[AG_FILENAME_MAX_BYTES + 1];
	AG_CHECK_INT(filename_sanitize(with_nul, sizeof with_nul - 1, out), 6);
	AG_CHECK_STR(out, "ab.txt");
}

static void replaces_invalid_utf8(void)
{
	AG_CHECK_STR(san("bad\xff.txt"), "bad\xef\xbf\xbd.txt");
	AG_CHECK_STR(san("over\xc0\xaflong"), "over\xef\xbf\xbd\xef\xbf\xbdlong");               /* overlong '/' */
	AG_CHECK_STR(san("sur\xed\xa0\x80.txt"), "sur\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd.txt"); /* surrogate */
	AG_CHECK_STR(san("big\xf4\x90\x80\x80"), "big\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	AG_CHECK_STR(san("cut\xe2\x82"), "cut\xef\xbf\xbd\xef\xbf\xbd"); /* truncated sequence at the end */
	/* the result is always valid UTF-8 */
	const char *r = san("\x80\x81\x82");
	AG_CHECK_STR(r, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
}

static void empty_and_blank_become_upload(void)
{
	AG_CHECK_STR(san(""), "upload");
	AG_CHECK_STR(san(NULL), "upload");
	AG_CHECK_STR(san("   "), "upload");
	AG_CHECK_STR(san("\x01\x02"), "upload");
	AG_CHECK_STR(san("  padded.txt  "), "padded.txt");
}

static void caps_length_on_a_character_boundary(void)
{
	char in[1024], out[AG_FILENAME_MAX_BYTES + 1];
	/* 300 ASCII bytes, no extension: cut at 255 */
	memset(in, 'a', 300);
	AG_CHECK_INT(filename_sanitize(in, 300, out), AG_FILENAME_MAX_BYTES);
	/* long stem keeps its extension */
	memset(in, 'b', 400);
	memcpy(in + 400, ".pdf", 4);
	AG_CHECK_INT(filename_sanitize(in, 404, out), AG_FILENAME_MAX_BYTES);
	AG_CHECK(memcmp(out + AG_FILENAME_MAX_BYTES - 4, ".pdf", 4) == 0);
	AG_CHECK(out[0] == 'b');
	/* 3-byte characters: 85 fit exactly (255 bytes), the 86th is dropped whole */
	size_t n = 0;
	for (int i = 0; i < 100; i++) {
		memcpy(in + n, "\xe2\x82\xac", 3);
		n += 3;
	}
	AG_CHECK_INT(filename_sanitize(in, n, out), 255);
	/* 2-byte characters: 127 fit (254 bytes) */
	n = 0;
	for (int i = 0; i < 200; i++) {
		memcpy(in + n, "\xc3\xa9", 2);
		n += 2;
	}
	AG_CHECK_INT(filename_sanitize(in, n, out), 254);
	memcpy(in + n, ".txt", 4);
	AG_CHECK_INT(filename_sanitize(in, n + 4, out), 254);
	AG_CHECK_STR(out + 250, ".txt");
	/* an over-long "extension" is not treated as one */
	memset(in, 'c', 100);
	in[100] = '.';
	memset(in + 101, 'd', 300);
	AG_CHECK_INT(filename_sanitize(in, 401, out), AG_FILENAME_MAX_BYTES);
	AG_CHECK(out[AG_FILENAME_MAX_BYTES - 1] == 'd');
}

int main(void)
{
	AG_TEST_RUN(keeps_ordinary_names);
	AG_TEST_RUN(strips_directories);
	AG_TEST_RUN(removes_control_and_bidi_characters);
	AG_TEST_RUN(replaces_invalid_utf8);
	AG_TEST_RUN(empty_and_blank_become_upload);
	AG_TEST_RUN(caps_length_on_a_character_boundary);
	return ag_test_summary();
}
