/* Tests libcommon/src/sandbox.c: a parser child that works, fails, crashes, runs out of memory, loops or floods
 * its output is reported with a distinct outcome, and the parent (this program) carries on after each. */
#include "aegis/sandbox.h"

#include "test.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const ag_sandbox_limits limits = {
        .memory_bytes = 256LL * 1024 * 1024, .cpu_seconds = 1, .timeout_ms = 3000, .max_output = 4096};

static int child_hello(void *arg, FILE *out)
{
	fprintf(out, "hello %s", (const char *)arg);
	return 0;
}

static int child_fail(void *arg, FILE *out)
{
	fputs("bad_input\tthe input is bad", out);
	return AG_SANDBOX_EXIT_FAIL;
}

static int child_crash(void *arg, FILE *out)
{
	raise(SIGSEGV);
	return 0;
}

#if !defined(__SANITIZE_ADDRESS__)
/* Allocate and touch memory until malloc fails, like a parser on a decompression bomb. */
static int child_oom(void *arg, FILE *out)
{
	for (size_t total = 0; total < (size_t)64 << 30; total += 16 << 20) {
		char *p = malloc(16 << 20);
		if (!p)
			return AG_SANDBOX_EXIT_NOMEM;
		memset(p, 1, 16 << 20);
	}
	return 0;
}
#endif

static int child_spin(void *arg, FILE *out)
{
	volatile unsigned long x = 0;
	for (;;)
		x++;
	return 0;
}

static int child_sleep(void *arg, FILE *out)
{
	for (;;)
		pause();
	return 0;
}

static int child_flood(void *arg, FILE *out)
{
	for (;;)
		fputs("0123456789abcdef", out);
	return 0;
}

static void run(ag_sandbox_limits l, ag_sandbox_fn fn, void *arg, ag_sandbox_result *res)
{
	ag_err err = {0};
	ag_status st = ag_sandbox_run(&l, fn, arg, NULL, NULL, res, &err);
	AG_CHECK_INT(st, AG_OK);
}

static void sandbox_ok_returns_output(void)
{
	ag_sandbox_result r;
	run(limits, child_hello, "world", &r);
	AG_CHECK_STR(ag_sandbox_outcome_name(r.outcome), "ok");
	AG_CHECK_STR(r.out, "hello world");
	AG_CHECK_INT(r.len, 11);
	ag_sandbox_result_free(&r);
}

static void sandbox_failure_keeps_its_output(void)
{
	ag_sandbox_result r;
	run(limits, child_fail, NULL, &r);
	AG_CHECK_STR(ag_sandbox_outcome_name(r.outcome), "failed");
	AG_CHECK_INT(r.exit_code, AG_SANDBOX_EXIT_FAIL);
	AG_CHECK_STR(r.out, "bad_input\tthe input is bad");
	ag_sandbox_result_free(&r);
}

static void sandbox_crash_is_reported(void)
{
	ag_sandbox_result r;
	run(limits, child_crash, NULL, &r);
	AG_CHECK_STR(ag_sandbox_outcome_name(r.outcome), "crashed");
	AG_CHECK_INT(r.signal, SIGSEGV);
	ag_sandbox_result_free(&r);
}

static void sandbox_oom_is_reported(void)
{
#if defined(__SANITIZE_ADDRESS__)
	printf("# skipped under AddressSanitizer: no address-space limit there\n");
#else
	ag_sandbox_limits l = limits;
	l.cpu_seconds = 30; /* touching 256 MiB may take a while on a busy machine */
	l.timeout_ms = 60000;
	ag_sandbox_result r;
	run(l, child_oom, NULL, &r);
	AG_CHECK_STR(ag_sandbox_outcome_name(r.outcome), "out_of_memory");
	ag_sandbox_result_free(&r);
#endif
}

static void sandbox_cpu_limit_is_a_timeout(void)
{
	ag_sandbox_limits l = limits;
	l.timeout_ms = 60000; /* the CPU limit (1 s) must strike first, even on a busy machine */
	ag_sandbox_result r;
	run(l, child_spin, NULL, &r);
	AG_CHECK_STR(ag_sandbox_outcome_name(r.outcome), "timeout");
	AG_CHECK_INT(r.signal, SIGXCPU);
	ag_sandbox_result_free(&r);
}

static void sandbox_wall_clock_is_a_timeout(void)
{
	ag_sandbox_limits l = limits;
	l.timeout_ms = 300;
	ag_sandbox_result r;
	run(l, child_sleep, NULL, &r);
	AG_CHECK_STR(ag_sandbox_outcome_name(r.outcome), "timeout");
	AG_CHECK_INT(r.signal, SIGKILL);
	ag_sandbox_result_free(&r);
}

static void sandbox_output_is_bounded(void)
{
	ag_sandbox_result r;
	run(limits, child_flood, NULL, &r);
	AG_CHECK_STR(ag_sandbox_outcome_name(r.outcome), "output_too_big");
	AG_CHECK_INT(r.len, limits.max_output);
	ag_sandbox_result_free(&r);
}

/* After all of the above, this process still works and leaves no children behind. */
static void sandbox_parent_keeps_serving(void)
{
	for (int i = 0; i < 20; i++) {
		ag_sandbox_result r;
		run(limits, child_hello, "again", &r);
		AG_CHECK_STR(r.out, "hello again");
		ag_sandbox_result_free(&r);
	}
	AG_CHECK(waitpid(-1, NULL, WNOHANG) < 0);
}

int main(void)
{
	AG_TEST_RUN(sandbox_ok_returns_output);
	AG_TEST_RUN(sandbox_failure_keeps_its_output);
	AG_TEST_RUN(sandbox_crash_is_reported);
	AG_TEST_RUN(sandbox_oom_is_reported);
	AG_TEST_RUN(sandbox_cpu_limit_is_a_timeout);
	AG_TEST_RUN(sandbox_wall_clock_is_a_timeout);
	AG_TEST_RUN(sandbox_output_is_bounded);
	AG_TEST_RUN(sandbox_parent_keeps_serving);
	return ag_test_summary();
}
