/* Tests libcommon/src/status.c: names, transience and error formatting. */
#include "aegis/status.h"
#include "test.h"

static void status_names_are_stable(void)
{
	AG_CHECK_STR(ag_status_name(AG_OK), "ok");
	AG_CHECK_STR(ag_status_name(AG_E_TIMEOUT), "timeout");
	AG_CHECK_STR(ag_status_name(AG_E_REJECTED), "rejected");
	AG_CHECK_STR(ag_status_name((ag_status)999), "unknown");
	AG_CHECK_STR(ag_status_str(AG_E_NOTFOUND), "not found");
}

static void status_transience_decides_retry(void)
{
	AG_CHECK(ag_status_transient(AG_E_TIMEOUT));
	AG_CHECK(ag_status_transient(AG_E_UNAVAILABLE));
	AG_CHECK(ag_status_transient(AG_E_RETRY));
	AG_CHECK(!ag_status_transient(AG_E_REJECTED));
	AG_CHECK(!ag_status_transient(AG_E_PROTO));
	AG_CHECK(!ag_status_transient(AG_E_INVAL));
}

static void err_set_formats_and_returns_code(void)
{
	ag_err e;
	ag_err_clear(&e);
	AG_CHECK_INT(ag_err_set(&e, AG_E_TOOBIG, "file is %d bytes", 42), AG_E_TOOBIG);
	AG_CHECK_INT(e.code, AG_E_TOOBIG);
	AG_CHECK_STR(e.msg, "file is 42 bytes");
	AG_CHECK(e.line > 0);
	AG_CHECK_INT(ag_err_set(NULL, AG_E_IO, "ignored"), AG_E_IO);
	char big[600];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	ag_err_set(&e, AG_E_INVAL, "%s", big);
	AG_CHECK_INT(strlen(e.msg), AG_ERR_MSG_MAX - 1);
}

int main(void)
{
	AG_TEST_RUN(status_names_are_stable);
	AG_TEST_RUN(status_transience_decides_retry);
	AG_TEST_RUN(err_set_formats_and_returns_code);
	return ag_test_summary();
}
