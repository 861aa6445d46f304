/* test.c - counters and the summary line of the unit-test harness. */
#include "test.h"

int ag_test_failed_checks;
int ag_test_passed;
int ag_test_failed;

int ag_test_summary(void)
{
	printf("%d passed, %d failed\n", ag_test_passed, ag_test_failed);
	return ag_test_failed ? 1 : 0;
}
