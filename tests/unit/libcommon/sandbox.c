/* Tests libcommon/src/sandbox.c: a parser child that works, fails, crashes, runs out of memory, loops or floods
 * its output is reported with a distinct outcome, and the parent (this program) carries on after each. */
#include "aegis/sandbox.h"

#include "test.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const ag_sandbox_limits limits = {
        .memory_bytes = 256LL * 1024 * 1024, .cpu_seconds = 1, .timeout_ms = 3000, .max_output = 4096};

static int child_hello(void *arg, int fd, FILE *out)
{
	fprintf(out, "hello %s", (const char *)arg);
	return 0;
}

static int child_fail(void *arg, int fd, FILE *out)
{
	fputs("bad_input\tthe input is bad", out);
	return AG_SANDBOX_EXIT_FAIL;
}

static int child_crash(void *arg, int fd, FILE *out)
{
	raise(SIGSEGV);
	return 0;
}

#if !defined(__SANITIZE_ADDRESS__)
/* Allocate and touch memory until malloc fails, like a parser on a decompression bomb. */
static int child_oom(void *arg, int fd, FILE *out)
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

static int child_spin(void *arg, int fd, FILE *out)
{
	volatile unsigned long x = 0;
	for (;;)
		x++;
	return 0;
}

static int child_sleep(void *arg, int fd, FILE *out)
{
	for (;;)
		pause();
	return 0;
}

static int child_flood(void *arg, int fd, FILE *out)
{
	for (;;)
		fputs("0123456789abcdef", out);
	return 0;
}

static void run(ag_sandbox_limits l, ag_sandbox_fn fn, const char *arg, ag_sandbox_result *res)
{
	ag_err err = {0};
	const ag_sandbox_call call = {.fn = fn, .arg = arg, .arg_size = arg ? strlen(arg) + 1 : 0, .fd = -1};
	ag_status st = ag_sandbox_run(&l, &call, NULL, NULL, res, &err);
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

/* The child gets its own copy of the argument and the input file, at any descriptor number. */
typedef struct echo_job {
	int fd;
	char tag[16];
} echo_job;

static int child_echo(void *arg, int fd, FILE *out)
{
	echo_job *j = arg;
	j->fd = fd;
	char buf[64];
	ssize_t n = pread(j->fd, buf, sizeof buf, 0);
	if (n < 0)
		return AG_SANDBOX_EXIT_FAIL;
	fprintf(out, "%s:%.*s", j->tag, (int)n, buf);
	return 0;
}

static void sandbox_passes_argument_and_file(void)
{
	char path[] = "/tmp/ag-sandbox-XXXXXX";
	int fd = mkstemp(path);
	AG_CHECK(fd >= 0);
	unlink(path);
	AG_CHECK(write(fd, "file body", 9) == 9);
	echo_job j = {.fd = -1, .tag = "tag"};
	const ag_sandbox_call call = {.fn = child_echo, .arg = &j, .arg_size = sizeof j, .fd = fd};
	ag_sandbox_result r;
	AG_CHECK_INT(ag_sandbox_run(&limits, &call, NULL, NULL, &r, NULL), AG_OK);
	AG_CHECK_STR(r.out, "tag:file body");
	AG_CHECK_INT(j.fd, -1); /* the caller's copy is untouched */
	ag_sandbox_result_free(&r);
	close(fd);

	static char big[AG_SANDBOX_MAX_ARG + 1];
	const ag_sandbox_call over = {.fn = child_echo, .arg = big, .arg_size = sizeof big, .fd = -1};
	ag_err err = {0};
	AG_CHECK_INT(ag_sandbox_run(&limits, &over, NULL, NULL, &r, &err), AG_E_INVAL);
}

/* Threads that allocate all the time beside sandbox runs whose children allocate too. A child forked straight
 * from this threaded process can inherit an allocator lock held by one of these threads and hang until the
 * deadline (AddressSanitizer's allocator did: 12 hangs in 300 forks with this pattern); children of the helper
 * cannot. Blocks of 64..92 KiB, hundreds at a time, so that thread caches refill from the shared allocator. */
#define CHURN_BLOCKS  512
#define CHURN_SIZE(i) (65536 + ((i) % 8) * 4096)
static atomic_bool churn_stop;

static void *churn(void *arg)
{
	(void)arg;
	void **p = calloc(CHURN_BLOCKS, sizeof *p);
	while (p && !atomic_load(&churn_stop)) {
		for (int i = 0; i < CHURN_BLOCKS; i++)
			p[i] = malloc(CHURN_SIZE(i));
		for (int i = 0; i < CHURN_BLOCKS; i++)
			free(p[i]);
	}
	free(p);
	return NULL;
}

static int child_alloc(void *arg, int fd, FILE *out)
{
	for (int i = 0; i < 64; i++) {
		char *p = malloc(CHURN_SIZE(i));
		if (!p)
			return AG_SANDBOX_EXIT_NOMEM;
		p[0] = 'x';
	}
	fputs("allocated", out);
	return 0;
}

static void sandbox_safe_beside_allocating_threads(void)
{
	enum { THREADS = 3, RUNS = 150 };
	pthread_t t[THREADS];
	atomic_store(&churn_stop, false);
	for (int i = 0; i < THREADS; i++)
		AG_CHECK_INT(pthread_create(&t[i], NULL, churn, NULL), 0);
	ag_sandbox_limits l = limits;
	l.timeout_ms = 20000;
	int ok = 0;
	for (int i = 0; i < RUNS; i++) {
		ag_sandbox_result r;
		run(l, child_alloc, NULL, &r);
		ok += r.outcome == AG_SANDBOX_OK && strcmp(r.out, "allocated") == 0;
		ag_sandbox_result_free(&r);
	}
	atomic_store(&churn_stop, true);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	AG_CHECK_INT(ok, RUNS);
}

/* The helper's pid: the one child of this process. */
static pid_t helper_pid(void)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/self/task/%d/children", (int)getpid());
	FILE *f = fopen(path, "r");
	int pid = -1;
	if (f) {
		if (fscanf(f, "%d", &pid) != 1)
			pid = -1;
		fclose(f);
	}
	return (pid_t)pid;
}

/* A helper that died is reported as such, not as a parser outcome; after a restart runs work again. */
static void sandbox_lost_helper_is_an_error(void)
{
	pid_t h = helper_pid();
	AG_CHECK(h > 0);
	if (h <= 0)
		return;
	AG_CHECK(ag_sandbox_alive());
	kill(h, SIGKILL);
	for (int i = 0; i < 200 && ag_sandbox_alive(); i++) /* dead but not reaped yet */
		usleep(10000);
	AG_CHECK(!ag_sandbox_alive());
	while (waitpid(h, NULL, 0) < 0 && errno == EINTR)
		;
	AG_CHECK(!ag_sandbox_alive()); /* reaped */
	const ag_sandbox_call call = {.fn = child_hello, .arg = "x", .arg_size = 2, .fd = -1};
	ag_sandbox_result r;
	ag_err err = {0};
	AG_CHECK_INT(ag_sandbox_run(&limits, &call, NULL, NULL, &r, &err), AG_E_UNAVAILABLE);
	AG_CHECK(strstr(err.msg, "sandbox helper") != NULL);
	ag_sandbox_stop();
	AG_CHECK_INT(ag_sandbox_start(&err), AG_OK);
	AG_CHECK(ag_sandbox_alive());
	run(limits, child_hello, "back", &r);
	AG_CHECK_STR(r.out, "hello back");
	ag_sandbox_result_free(&r);
}

/* After all of the above, this process still works and, once the helper is stopped, leaves no process behind. */
static void sandbox_parent_keeps_serving(void)
{
	for (int i = 0; i < 20; i++) {
		ag_sandbox_result r;
		run(limits, child_hello, "again", &r);
		AG_CHECK_STR(r.out, "hello again");
		ag_sandbox_result_free(&r);
	}
	ag_sandbox_stop();
	AG_CHECK(waitpid(-1, NULL, WNOHANG) < 0);
}

int main(void)
{
	ag_err err = {0};
	if (ag_sandbox_start(&err) != AG_OK) {
		fprintf(stderr, "cannot start the sandbox helper: %s\n", err.msg);
		return 1;
	}
	AG_TEST_RUN(sandbox_ok_returns_output);
	AG_TEST_RUN(sandbox_failure_keeps_its_output);
	AG_TEST_RUN(sandbox_crash_is_reported);
	AG_TEST_RUN(sandbox_oom_is_reported);
	AG_TEST_RUN(sandbox_cpu_limit_is_a_timeout);
	AG_TEST_RUN(sandbox_wall_clock_is_a_timeout);
	AG_TEST_RUN(sandbox_output_is_bounded);
	AG_TEST_RUN(sandbox_passes_argument_and_file);
	AG_TEST_RUN(sandbox_safe_beside_allocating_threads);
	AG_TEST_RUN(sandbox_lost_helper_is_an_error);
	AG_TEST_RUN(sandbox_parent_keeps_serving);
	return ag_test_summary();
}
