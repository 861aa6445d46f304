/* Tests libcommon/src/curlbuf.c: an outbound answer collected, NUL-terminated, and refused past its limit. */
#include "aegis/curlbuf.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>

static void collects_up_to_the_limit(void)
{
	ag_curlbuf b = {.max = 10};
	char hello[] = "hello", world[] = "world", more[] = "!";
	AG_CHECK_INT(ag_curlbuf_write(hello, 1, 5, &b), 5);
	AG_CHECK_INT(ag_curlbuf_write(world, 5, 1, &b), 5); /* size x nmemb, either way round */
	AG_CHECK_STR(b.p, "helloworld");
	AG_CHECK_INT(b.n, 10);
	AG_CHECK(!b.toobig);
	AG_CHECK_INT(ag_curlbuf_write(more, 1, 1, &b), 0); /* one byte past max: abort */
	AG_CHECK(b.toobig);
	AG_CHECK_STR(b.p, "helloworld"); /* what came before stays whole */
	free(b.p);
}

static void huge_chunks_do_not_wrap(void)
{
	ag_curlbuf b = {.max = 4};
	char x[] = "x";
	AG_CHECK_INT(ag_curlbuf_write(x, 1, 1, &b), 1);
	AG_CHECK_INT(ag_curlbuf_write(x, (size_t)-1, 1, &b), 0); /* never read: refused by size alone */
	AG_CHECK(b.toobig);
	AG_CHECK_INT(b.n, 1);
	free(b.p);
}

int main(void)
{
	AG_TEST_RUN(collects_up_to_the_limit);
	AG_TEST_RUN(huge_chunks_do_not_wrap);
	return ag_test_summary();
}
