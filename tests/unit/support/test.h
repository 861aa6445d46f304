/*
 * test.h - the tiny test harness of Aegis' unit tests.
 *
 * Each test program defines test functions and lists them in main with
 * AG_TEST_RUN. Every check that fails prints both values; each test prints
 * "ok - name" or "not ok - name" (TAP-like), and the program ends with
 * "N passed, N failed" and a non-zero exit when anything failed.
 * scripts/test-all adds the lines of all programs into one total.
 */
#ifndef AEGIS_TEST_H
#define AEGIS_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

extern int ag_test_failed_checks;
extern int ag_test_passed;
extern int ag_test_failed;

#define AG_CHECK(cond)                                                                             \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "  %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			ag_test_failed_checks++;                                                   \
		}                                                                                  \
	} while (0)

#define AG_CHECK_INT(a, b)                                                                                             \
	do {                                                                                                           \
		long long ag_a_ = (long long)(a), ag_b_ = (long long)(b);                                              \
		if (ag_a_ != ag_b_) {                                                                                  \
			fprintf(stderr, "  %s:%d: %s == %s: got %lld, want %lld\n", __FILE__, __LINE__, #a, #b, ag_a_, \
			        ag_b_);                                                                                \
			ag_test_failed_checks++;                                                                       \
		}                                                                                                      \
	} while (0)

#define AG_CHECK_STR(a, b)                                                                                          \
	do {                                                                                                        \
		const char *ag_a_ = (a), *ag_b_ = (b);                                                              \
		if (!ag_a_ || !ag_b_ || strcmp(ag_a_, ag_b_) != 0) {                                                \
			fprintf(stderr, "  %s:%d: %s == %s: got \"%s\", want \"%s\"\n", __FILE__, __LINE__, #a, #b, \
			        ag_a_ ? ag_a_ : "(null)", ag_b_ ? ag_b_ : "(null)");                                \
			ag_test_failed_checks++;                                                                    \
		}                                                                                                   \
	} while (0)

#define AG_TEST_RUN(fn)                                    \
	do {                                               \
		int ag_before_ = ag_test_failed_checks;    \
		fn();                                      \
		if (ag_test_failed_checks == ag_before_) { \
			ag_test_passed++;                  \
			printf("ok - %s\n", #fn);          \
		} else {                                   \
			ag_test_failed++;                  \
			printf("not ok - %s\n", #fn);      \
		}                                          \
		fflush(stdout);                            \
	} while (0)

/* Print the summary line; returns the exit code for main. */
int ag_test_summary(void);

#endif
