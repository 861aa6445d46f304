/* Tests services/gateway/uuid.c: validation of ids from URLs and random v4 ids. */
#include "../../../../services/gateway/uuid.c"

#include "test.h"

static void uuid_validation(void)
{
	AG_CHECK(uuid_valid("0f8fad5b-d9cb-469f-a165-70867728950e"));
	AG_CHECK(uuid_valid("0F8FAD5B-D9CB-469F-A165-70867728950E"));
	AG_CHECK(!uuid_valid("0f8fad5bd9cb469fa16570867728950e"));
	AG_CHECK(!uuid_valid("{0f8fad5b-d9cb-469f-a165-70867728950e}"));
	AG_CHECK(!uuid_valid("0f8fad5b-d9cb-469f-a165-70867728950"));
	AG_CHECK(!uuid_valid("0f8fad5b-d9cb-469f-a165-70867728950e0"));
	AG_CHECK(!uuid_valid("0f8fad5b-d9cb-469f-a165+70867728950e"));
	AG_CHECK(!uuid_valid("0g8fad5b-d9cb-469f-a165-70867728950e"));
	AG_CHECK(!uuid_valid(""));
	AG_CHECK(!uuid_valid(NULL));
}

static void uuid_v4_is_random_version_4(void)
{
	char a[UUID_TEXT_LEN + 1], b[UUID_TEXT_LEN + 1];
	AG_CHECK(sodium_init() >= 0);
	uuid_v4(a);
	uuid_v4(b);
	AG_CHECK(uuid_valid(a));
	AG_CHECK(strcmp(a, b) != 0);
	AG_CHECK(a[14] == '4');
	AG_CHECK(strchr("89ab", a[19]) != NULL);
}

int main(void)
{
	AG_TEST_RUN(uuid_validation);
	AG_TEST_RUN(uuid_v4_is_random_version_4);
	return ag_test_summary();
}
