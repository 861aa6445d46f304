/*
 * Tests services/gateway/submitq.c without a database: a batch whose connection cannot be had gives every
 * upload in it that failure (none may be taken for recorded).
 */
#include "../../../../services/gateway/submit.c"
#include "../../../../services/gateway/submitq.c"

#include "test.h"

static void a_batch_without_a_connection_fails_every_upload(void)
{
	ag_db_pool *db = NULL;
	submitq *q = NULL;
	ag_err e1, e2, e;
	ag_err_clear(&e);
	/* port 1 on loopback: refused at once */
	AG_CHECK_INT(ag_db_pool_new(&db, "postgresql://aegis@127.0.0.1:1/aegis?connect_timeout=2", 1, &e), AG_OK);
	AG_CHECK_INT(submitq_new(&q, db, 8, NULL), AG_OK);
	if (!db || !q)
		return;
	submit_doc d = {.document_id = "0f8fad5b-d9cb-469f-a165-70867728950e"};
	submitq_wait w1 = {.doc = &d, .err = &e1}, w2 = {.doc = &d, .err = &e2};
	ag_err_clear(&e1);
	ag_err_clear(&e2);
	q->batch[0] = &w1;
	q->batch[1] = &w2;
	submitq_run(q, 2);
	AG_CHECK(w1.st != AG_OK);
	AG_CHECK(w2.st != AG_OK);
	AG_CHECK(e1.msg[0] != '\0' && e2.msg[0] != '\0');
	/* and through the public call, alone */
	ag_err_clear(&e);
	AG_CHECK(submitq_record(q, &d, &e) != AG_OK);
	submitq *none = NULL;
	AG_CHECK_INT(submitq_new(&none, db, 0, NULL), AG_E_INVAL);
	AG_CHECK(none == NULL);
	submitq_free(q);
	ag_db_pool_free(db);
}

int main(void)
{
	AG_TEST_RUN(a_batch_without_a_connection_fails_every_upload);
	return ag_test_summary();
}
