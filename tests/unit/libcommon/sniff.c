/* Tests libcommon/src/sniff.c: types and encodings come from the bytes, from several threads at once. */
#include "aegis/sniff.h"

#include "aegis/limits.h"
#include "test.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

static ag_sniff *sniffer;

#define BYTES(lit) (lit), sizeof(lit) - 1

static void sniff_types_from_bytes(void)
{
	static const struct {
		const char *bytes;
		size_t len;
		const char *mime;
		const char *encoding;
	} cases[] = {
	        {BYTES("hello world\n"), "text/plain", "us-ascii"},
	        {BYTES("caf\xc3\xa9 au lait\n"), "text/plain", "utf-8"},
	        {BYTES("caf\xe9 cr\xe8me br\xfbl\xe9\x65, d\xe9j\xe0 vu\n"), "text/plain", "iso-8859-1"},
	        {BYTES("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"), "application/pdf", NULL},
	        {BYTES("{\"a\": [1, 2, 3], \"b\": \"x\"}\n"), "application/json", "us-ascii"},
	        /* libmagic alone says text/plain for a message that starts with Subject (aegis/mime.h) */
	        {BYTES("Subject: hi\r\nFrom: a@example.com\r\nTo: b@example.com\r\n\r\nbody\r\n"), "message/rfc822",
	         NULL},
	        {BYTES("Title: notes\nAuthor: me\n\nsome text\n"), "text/plain", NULL},
	        {BYTES("\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0"), "image/png", "binary"},
	        {BYTES("\x7f"
	               "ELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0\x3e\0"),
	         "application/x-executable", "binary"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		ag_sniff_result r;
		AG_CHECK_INT(ag_sniff_buffer(sniffer, cases[i].bytes, cases[i].len, &r, NULL), AG_OK);
		AG_CHECK_STR(r.mime, cases[i].mime);
		if (cases[i].encoding)
			AG_CHECK_STR(r.encoding, cases[i].encoding);
	}
}

static void sniff_fd_reads_from_start(void)
{
	char path[] = "/tmp/ag-sniff-XXXXXX";
	int fd = mkstemp(path);
	AG_CHECK(fd >= 0);
	if (fd < 0)
		return;
	unlink(path);
	static const char pdf[] = "%PDF-1.7\n1 0 obj\n<< >>\nendobj\n";
	AG_CHECK_INT(write(fd, pdf, sizeof pdf - 1), sizeof pdf - 1);
	/* the file position is at the end; sniffing must still see the header and leave the position alone */
	ag_sniff_result r;
	AG_CHECK_INT(ag_sniff_fd(sniffer, fd, &r, NULL), AG_OK);
	AG_CHECK_STR(r.mime, "application/pdf");
	AG_CHECK_INT(lseek(fd, 0, SEEK_CUR), sizeof pdf - 1);
	close(fd);

	ag_err err = {0};
	AG_CHECK_INT(ag_sniff_fd(sniffer, -1, &r, &err), AG_E_IO);
	AG_CHECK(err.msg[0] != '\0');
}

#define SNIFF_THREADS 4
#define SNIFF_ROUNDS  200

static void *sniff_thread(void *arg)
{
	long bad = 0;
	for (int i = 0; i < SNIFF_ROUNDS; i++) {
		ag_sniff_result r;
		bool pdf = ((i + (int)(long)arg) % 2) == 0;
		const char *b = pdf ? "%PDF-1.4\n" : "plain words here\n";
		if (ag_sniff_buffer(sniffer, b, strlen(b), &r, NULL) != AG_OK ||
		    strcmp(r.mime, pdf ? "application/pdf" : "text/plain") != 0)
			bad++;
	}
	return (void *)bad;
}

static void sniff_is_thread_safe(void)
{
	pthread_t t[SNIFF_THREADS];
	for (long i = 0; i < SNIFF_THREADS; i++)
		AG_CHECK_INT(pthread_create(&t[i], NULL, sniff_thread, (void *)i), 0);
	for (int i = 0; i < SNIFF_THREADS; i++) {
		void *bad = NULL;
		pthread_join(t[i], &bad);
		AG_CHECK_INT((long)bad, 0);
	}
}

int main(void)
{
	ag_err err = {0};
	if (ag_sniff_new(&sniffer, &err) != AG_OK) {
		printf("not ok - libmagic database: %s\n", err.msg);
		return 1;
	}
	AG_TEST_RUN(sniff_types_from_bytes);
	AG_TEST_RUN(sniff_fd_reads_from_start);
	AG_TEST_RUN(sniff_is_thread_safe);
	ag_sniff_free(sniffer);
	return ag_test_summary();
}
