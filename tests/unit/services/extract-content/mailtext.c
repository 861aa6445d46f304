/*
 * Tests services/extract-content/mailtext.c: the text of messages built here - header block, text parts in order,
 * HTML read through xmltext (script left out, entities decoded), an attached message's own header block, the
 * attachment lines - and a message over MAIL_MAX_DEPTH failing with mail_too_complex.
 */
#include "../../../../services/extract-content/mailtext.c"
#include "../../../../services/extract-content/sink.c"
#include "../../../../services/extract-content/xmltext.c"

#include "test.h"

#include <stdlib.h>
#include <unistd.h>

/* Run mailtext_fd on `msg`; returns its exit code, the text in *text (malloc'd) and the error line in *why. */
static int run(const char *msg, const ag_mime_limits *lim, char **text, char **why)
{
	char path[] = "/tmp/ag-mailtext-XXXXXX";
	int fd = mkstemp(path);
	char *buf = NULL, *ebuf = NULL;
	size_t len = 0, elen = 0;
	*text = *why = NULL;
	if (fd < 0)
		return -1;
	unlink(path);
	if (write(fd, msg, strlen(msg)) != (ssize_t)strlen(msg)) {
		close(fd);
		return -1;
	}
	FILE *out = open_memstream(&buf, &len), *err = open_memstream(&ebuf, &elen);
	sink s;
	sink_init(&s, out, 1 << 20);
	int rc = mailtext_fd(fd, lim, &s, err);
	fclose(out);
	fclose(err);
	close(fd);
	*text = buf;
	*why = ebuf;
	return rc;
}

static void mailtext_html_forward_and_attachments(void)
{
	static const char msg[] =
	        "From: =?utf-8?q?Zo=C3=AB?= <zoe@example.com>\r\nTo: ops@example.com\r\nSubject: Weekly &amp; notes\r\n"
	        "Date: Mon, 2 Nov 2026 09:30:00 +0000\r\nContent-Type: multipart/mixed; boundary=\"m\"\r\n\r\n"
	        "--m\r\nContent-Type: text/html; charset=windows-1252\r\nContent-Transfer-Encoding: "
	        "quoted-printable\r\n\r\n"
	        "<html><head><title>t</title><style>p{}</style></head><body><p>Caf=E9 opens at nine &amp; closes at "
	        "five.</p><script>var secret = 1;</script><p>Second paragraph.</p></body></html>\r\n"
	        "--m\r\nContent-Type: message/rfc822\r\n\r\nFrom: old@example.com\r\nSubject: the original\r\n\r\n"
	        "Forwarded words.\r\n"
	        "--m\r\nContent-Type: text/plain; name=\"notes.txt\"\r\nContent-Disposition: attachment\r\n"
	        "Content-Transfer-Encoding: base64\r\n\r\naGVsbG8gd29ybGQ=\r\n--m--\r\n";
	char *text, *why;
	AG_CHECK_INT(run(msg, NULL, &text, &why), 0);
	if (!text)
		return;
	AG_CHECK(strncmp(text,
	                 "Subject: Weekly &amp; notes\nFrom: Zo\xc3\xab <zoe@example.com>\nTo: ops@example.com\n"
	                 "Date: Mon, 2 Nov 2026 09:30:00 +0000\n\n",
	                 strlen("Subject: Weekly &amp; notes\nFrom: Zo\xc3\xab <zoe@example.com>\nTo: ops@example.com\n"
	                        "Date: Mon, 2 Nov 2026 09:30:00 +0000\n\n")) == 0);
	AG_CHECK(strstr(text, "Caf\xc3\xa9 opens at nine & closes at five.") != NULL); /* html: entity decoded */
	AG_CHECK(strstr(text, "Second paragraph.") != NULL);
	AG_CHECK(strstr(text, "secret") == NULL && strstr(text, "p{}") == NULL && strstr(text, "<p>") == NULL);
	char *fw = strstr(text, "Subject: the original\nFrom: old@example.com\n");
	AG_CHECK(fw != NULL);
	AG_CHECK(fw && strstr(fw, "Forwarded words.") != NULL);
	AG_CHECK(strstr(text, "hello world") == NULL); /* an attachment's content is not the message's text */
	AG_CHECK(strstr(text, "Attachment: notes.txt (text/plain, 11 bytes)\n") != NULL);
	AG_CHECK(strstr(text, "Caf\xc3\xa9") < strstr(text, "Forwarded words.")); /* parts in order */
	free(text);
	free(why);
}

static void mailtext_too_deep(void)
{
	static const char msg[] = "From: a@example.com\nSubject: deep\nContent-Type: multipart/mixed; boundary=a\n\n"
	                          "--a\nContent-Type: multipart/mixed; boundary=b\n\n"
	                          "--b\nContent-Type: multipart/mixed; boundary=c\n\n--c\n\ntext\n";
	ag_mime_limits lim = {.max_depth = 2, .max_parts = 100};
	char *text, *why;
	AG_CHECK_INT(run(msg, &lim, &text, &why), AG_SANDBOX_EXIT_FAIL);
	AG_CHECK_STR(why, "mail_too_complex\tthe message nests parts deeper than 2 levels (MAIL_MAX_DEPTH)");
	free(text);
	free(why);
	lim.max_depth = 3;
	AG_CHECK_INT(run(msg, &lim, &text, &why), 0);
	AG_CHECK(text && strstr(text, "text") != NULL);
	free(text);
	free(why);
}

int main(void)
{
	AG_TEST_RUN(mailtext_html_forward_and_attachments);
	AG_TEST_RUN(mailtext_too_deep);
	return ag_test_summary();
}
