/* Tests services/gateway/cursor.c the opaque documents-list cursor. */
#include "../../../../services/gateway/cursor.c"
#include "../../../../services/gateway/uuid.c"

#include "test.h"

static void cursor_round_trips(void)
{
	char text[CURSOR_TEXT_MAX], id[UUID_TEXT_LEN + 1];
	int64_t us = 0;
	AG_CHECK_INT(cursor_encode(1795000000123456LL, "0F8FAD5B-D9CB-469F-A165-70867728950E", text, sizeof text),
	             AG_OK);
	AG_CHECK_INT(strlen(text), 34);
	AG_CHECK(strspn(text, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == 34);
	AG_CHECK_INT(cursor_decode(text, &us, id), AG_OK);
	AG_CHECK_INT(us, 1795000000123456LL);
	AG_CHECK_STR(id, "0f8fad5b-d9cb-469f-a165-70867728950e");
	/* the epoch and negative times survive too */
	AG_CHECK_INT(cursor_encode(-1, "00000000-0000-0000-0000-000000000000", text, sizeof text), AG_OK);
	AG_CHECK_INT(cursor_decode(text, &us, id), AG_OK);
	AG_CHECK_INT(us, -1);
}

static void cursor_rejects_what_it_did_not_make(void)
{
	char text[CURSOR_TEXT_MAX], id[UUID_TEXT_LEN + 1];
	int64_t us;
	AG_CHECK_INT(cursor_encode(5, "not-a-uuid", text, sizeof text), AG_E_INVAL);
	char small[10];
	AG_CHECK_INT(cursor_encode(5, "0f8fad5b-d9cb-469f-a165-70867728950e", small, sizeof small), AG_E_INVAL);

	AG_CHECK_INT(cursor_encode(42, "0f8fad5b-d9cb-469f-a165-70867728950e", text, sizeof text), AG_OK);
	char bad[CURSOR_TEXT_MAX + 8];
	memcpy(bad, text, strlen(text) + 1);
	bad[3] = '+'; /* standard-base64 character */
	AG_CHECK_INT(cursor_decode(bad, &us, id), AG_E_INVAL);
	memcpy(bad, text, strlen(text) + 1);
	bad[33] = '\0'; /* too short */
	AG_CHECK_INT(cursor_decode(bad, &us, id), AG_E_INVAL);
	snprintf(bad, sizeof bad, "%sAA", text); /* too long */
	AG_CHECK_INT(cursor_decode(bad, &us, id), AG_E_INVAL);
	snprintf(bad, sizeof bad, "%s==", text); /* padding */
	AG_CHECK_INT(cursor_decode(bad, &us, id), AG_E_INVAL);
	memcpy(bad, text, strlen(text) + 1);
	bad[0] = 'B'; /* another version byte */
	AG_CHECK_INT(cursor_decode(bad, &us, id), AG_E_INVAL);
	AG_CHECK_INT(cursor_decode("", &us, id), AG_E_INVAL);
	AG_CHECK_INT(cursor_decode(NULL, &us, id), AG_E_INVAL);
	AG_CHECK_INT(cursor_decode("not a cursor at all", &us, id), AG_E_INVAL);
}

/* A result as a keyset query returns it: id in column 0, created_at microseconds in column 1. */
static PGresult *page(int rows, const char *bad_us)
{
	static const char *const ids[] = {"0f8fad5b-d9cb-469f-a165-70867728950e",
	                                  "7c9e6679-7425-40de-944b-e07fc1f90ae7",
	                                  "16fd2706-8baf-433b-82eb-8c7fada847da"};
	PGresult *r = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
	PGresAttDesc cols[2] = {{.name = "id", .format = 0}, {.name = "us", .format = 0}};
	AG_CHECK(PQsetResultAttrs(r, 2, cols));
	for (int i = 0; i < rows; i++) {
		char us[24];
		snprintf(us, sizeof us, "%lld", 1795000000000000LL - i);
		const char *v = bad_us && i == rows - 2 ? bad_us : us;
		AG_CHECK(PQsetvalue(r, i, 0, (char *)ids[i], (int)strlen(ids[i])));
		AG_CHECK(PQsetvalue(r, i, 1, (char *)v, (int)strlen(v)));
	}
	return r;
}

static void next_cursor_of_a_page(void)
{
	char id[UUID_TEXT_LEN + 1];
	int64_t us = 0;
	PGresult *r = page(3, NULL);
	json_t *next = cursor_next_json(r, 2, 1); /* a third row exists: the cursor is the second row's */
	AG_CHECK(json_is_string(next));
	AG_CHECK_INT(cursor_decode(json_string_value(next), &us, id), AG_OK);
	AG_CHECK_STR(id, "7c9e6679-7425-40de-944b-e07fc1f90ae7");
	AG_CHECK(us == 1795000000000000LL - 1);
	json_decref(next);
	next = cursor_next_json(r, 3, 1); /* everything shown: no next page */
	AG_CHECK(json_is_null(next));
	json_decref(next);
	PQclear(r);
	r = page(3, "not-a-number");
	AG_CHECK(cursor_next_json(r, 2, 1) == NULL);
	PQclear(r);
}

int main(void)
{
	AG_TEST_RUN(cursor_round_trips);
	AG_TEST_RUN(cursor_rejects_what_it_did_not_make);
	AG_TEST_RUN(next_cursor_of_a_page);
	return ag_test_summary();
}
