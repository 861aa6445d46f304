/*
 * Tests services/extract-metadata/mailmeta.c through docmeta_run in the sandbox, as the worker runs it: the headers,
 * the date as RFC 3339, the part count and the attachment list with decoded sizes of a message built here; a
 * malformed one still gets its fields plus its defects; one over MAIL_MAX_PARTS fails with mail_too_complex.
 */
#include "../../../../services/extract-metadata/docmeta.c"
#include "../../../../services/extract-metadata/imgmeta.c"
#include "../../../../services/extract-metadata/mailmeta.c"
#include "../../../../services/extract-metadata/pdfmeta.c"
#include "../../../../services/extract-metadata/pkgmeta.c"

#include "test.h"

#include <unistd.h>

static const ag_sandbox_limits limits = {
        .memory_bytes = 512LL * 1024 * 1024, .cpu_seconds = 10, .timeout_ms = 20000, .max_output = DOCMETA_MAX_OUTPUT};

/* docmeta_run on `msg` in a sandbox; the result's outcome and output. */
static ag_sandbox_result run(const char *msg, const ag_mime_limits *lim)
{
	ag_sandbox_result res = {0};
	char path[] = "/tmp/ag-mailmeta-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		return res;
	unlink(path);
	if (write(fd, msg, strlen(msg)) == (ssize_t)strlen(msg)) {
		docmeta_job job = {.fd = -1, .mime = "message/rfc822", .mail = lim ? *lim : ag_mime_default_limits};
		const ag_sandbox_call call = {.fn = docmeta_run, .arg = &job, .arg_size = sizeof job, .fd = fd};
		AG_CHECK_INT(ag_sandbox_run(&limits, &call, NULL, NULL, &res, NULL), AG_OK);
	}
	close(fd);
	return res;
}

static void mailmeta_fields_and_attachments(void)
{
	static const char msg[] =
	        "From: =?utf-8?q?Zo=C3=AB?= <zoe@example.com>\r\nTo: a@example.com,\r\n b@example.com\r\n"
	        "Cc: c@example.com\r\nSubject: =?iso-8859-1?q?Caf=E9?=\r\nDate: Sun, 22 Nov 2026 10:00:00 +0100\r\n"
	        "Message-ID: <m1@example.com>\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n"
	        "--x\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
	        "--x\r\nContent-Type: application/pdf; name=\"a.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
	        "JVBERi0xLjQK\r\n"
	        "--x\r\nContent-Type: image/png\r\nContent-Disposition: attachment; "
	        "filename*=utf-8''%C3%A9t%C3%A9.png\r\n"
	        "Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--x--\r\n";
	ag_sandbox_result res = run(msg, NULL);
	AG_CHECK_INT(res.outcome, AG_SANDBOX_OK);
	json_t *o = res.out ? json_loads(res.out, 0, NULL) : NULL;
	AG_CHECK(o != NULL);
	if (o) {
		AG_CHECK_STR(json_string_value(json_object_get(o, "from")), "Zo\xc3\xab <zoe@example.com>");
		AG_CHECK_STR(json_string_value(json_object_get(o, "to")), "a@example.com, b@example.com");
		AG_CHECK_STR(json_string_value(json_object_get(o, "cc")), "c@example.com");
		AG_CHECK_STR(json_string_value(json_object_get(o, "subject")), "Caf\xc3\xa9");
		AG_CHECK_STR(json_string_value(json_object_get(o, "date")), "2026-11-22T09:00:00Z");
		AG_CHECK_STR(json_string_value(json_object_get(o, "message_id")), "<m1@example.com>");
		AG_CHECK_INT(json_integer_value(json_object_get(o, "parts")), 3);
		AG_CHECK_INT(json_integer_value(json_object_get(o, "attachment_count")), 2);
		char *list = json_dumps(json_object_get(o, "attachments"), JSON_COMPACT | JSON_SORT_KEYS);
		AG_CHECK_STR(list, "[{\"filename\":\"a.pdf\",\"mime\":\"application/pdf\",\"size\":9},"
		                   "{\"filename\":\"\xc3\xa9t\xc3\xa9.png\",\"mime\":\"image/png\",\"size\":8}]");
		free(list);
		AG_CHECK(json_object_get(o, "mail_defects") == NULL);
	}
	json_decref(o);
	ag_sandbox_result_free(&res);
}

static void mailmeta_malformed_and_limits(void)
{
	/* an unterminated multipart and a date that is no date: fields kept, the date as written, defects counted */
	static const char broken[] = "From: a@example.com\nSubject: s\nDate: someday\n"
	                             "Content-Type: multipart/mixed; boundary=b\n\n--b\n\nunterminated\n";
	ag_sandbox_result res = run(broken, NULL);
	AG_CHECK_INT(res.outcome, AG_SANDBOX_OK);
	json_t *o = res.out ? json_loads(res.out, 0, NULL) : NULL;
	AG_CHECK(o != NULL);
	if (o) {
		AG_CHECK_STR(json_string_value(json_object_get(o, "date")), "someday");
		AG_CHECK_INT(json_integer_value(json_object_get(o, "mail_defects")), 1);
		AG_CHECK_STR(json_string_value(json_object_get(o, "mail_defect")),
		             "a multipart without its closing delimiter");
	}
	json_decref(o);
	ag_sandbox_result_free(&res);

	ag_mime_limits lim = {.max_depth = 20, .max_parts = 2};
	static const char many[] = "From: a@example.com\nSubject: s\nContent-Type: multipart/mixed; boundary=b\n\n"
	                           "--b\n\none\n--b\n\ntwo\n--b--\n";
	res = run(many, &lim);
	AG_CHECK_INT(res.outcome, AG_SANDBOX_FAILED);
	AG_CHECK_INT(res.exit_code, AG_SANDBOX_EXIT_FAIL);
	AG_CHECK_STR(res.out, "mail_too_complex\tthe message has more than 2 parts (MAIL_MAX_PARTS)");
	ag_sandbox_result_free(&res);
}

int main(void)
{
	AG_TEST_RUN(mailmeta_fields_and_attachments);
	AG_TEST_RUN(mailmeta_malformed_and_limits);
	return ag_test_summary();
}
