/* Tests libcommon/src/trace.c: W3C traceparent made, parsed, continued, and the thread's current trace. */
#include "aegis/trace.h"
#include "test.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void new_trace_formats_as_traceparent(void)
{
	ag_trace t, back;
	char tp[AG_TRACEPARENT_LEN + 1];
	ag_trace_new(&t);
	ag_trace_format(&t, tp, sizeof tp);
	AG_CHECK_INT(strlen(tp), AG_TRACEPARENT_LEN);
	AG_CHECK(strncmp(tp, "00-", 3) == 0);
	AG_CHECK(ag_trace_parse(tp, &back));
	AG_CHECK_STR(back.trace_id, t.trace_id);
	AG_CHECK_STR(back.span_id, t.span_id);
	AG_CHECK_INT(back.flags, 1);
	ag_trace other;
	ag_trace_new(&other);
	AG_CHECK(strcmp(other.trace_id, t.trace_id) != 0);
	/* a known context, its flags as two hex digits; a short buffer gets a cut, terminated copy */
	AG_CHECK(ag_trace_parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", &back));
	back.flags = 0xa7;
	ag_trace_format(&back, tp, sizeof tp);
	AG_CHECK_STR(tp, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-a7");
	char small[8];
	ag_trace_format(&back, small, sizeof small);
	AG_CHECK_STR(small, "00-4bf9");
}

static void parse_rejects_malformed_headers(void)
{
	static const char *const bad[] = {
	        "",
	        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",       /* no flags */
	        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",    /* zero trace id */
	        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",    /* zero span id */
	        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",    /* upper case */
	        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",    /* forbidden version */
	        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-xx", /* v00 with extra */
	        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",    /* separator */
	        "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",    /* not hex */
	};
	ag_trace t;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (ag_trace_parse(bad[i], &t)) {
			fprintf(stderr, "  accepted: \"%s\"\n", bad[i]);
			ag_test_failed_checks++;
		}
	}
	AG_CHECK(!ag_trace_parse(NULL, &t));
}

static void continue_keeps_trace_id_with_new_span(void)
{
	const char *in = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
	ag_trace t;
	ag_trace_continue(in, &t);
	AG_CHECK_STR(t.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
	AG_CHECK(strcmp(t.span_id, "00f067aa0ba902b7") != 0);
	ag_trace_continue("garbage", &t);
	AG_CHECK(strcmp(t.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736") != 0);
	AG_CHECK_INT(strlen(t.trace_id), 32);
}

static void current_trace_is_per_thread_and_clearable(void)
{
	ag_trace t;
	ag_trace_new(&t);
	ag_trace_set_current(&t);
	AG_CHECK_STR(ag_trace_current_id(), t.trace_id);
	ag_trace_set_current(NULL);
	AG_CHECK_STR(ag_trace_current_id(), "");
}

#define TRACE_IDS 5000

static char ids[2 * TRACE_IDS][33];

static void *make_ids(void *arg)
{
	char(*out)[33] = arg;
	for (int i = 0; i < TRACE_IDS; i++) {
		ag_trace t;
		ag_trace_new(&t);
		memcpy(out[i], t.trace_id, 33);
	}
	return NULL;
}

static int cmp_id(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void ids_are_unique_across_threads_and_forks(void)
{
	pthread_t th[2];
	for (int i = 0; i < 2; i++)
		AG_CHECK(pthread_create(&th[i], NULL, make_ids, ids[i * TRACE_IDS]) == 0);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	qsort(ids, 2 * TRACE_IDS, sizeof ids[0], cmp_id);
	int dups = 0;
	for (int i = 1; i < 2 * TRACE_IDS; i++)
		dups += strcmp(ids[i - 1], ids[i]) == 0;
	AG_CHECK_INT(dups, 0);
	/* a forked child must not repeat its parent's next id */
	ag_trace before;
	ag_trace_new(&before);
	int fd[2];
	AG_CHECK(pipe(fd) == 0);
	pid_t pid = fork();
	if (pid == 0) {
		ag_trace t;
		ag_trace_new(&t);
		ssize_t w = write(fd[1], t.trace_id, 33);
		_exit(w == 33 ? 0 : 1);
	}
	char child[33] = "";
	ag_trace mine;
	ag_trace_new(&mine);
	AG_CHECK(read(fd[0], child, 33) == 33);
	waitpid(pid, NULL, 0);
	close(fd[0]);
	close(fd[1]);
	AG_CHECK(strcmp(child, mine.trace_id) != 0);
	AG_CHECK(strcmp(child, before.trace_id) != 0);
}

int main(void)
{
	AG_TEST_RUN(new_trace_formats_as_traceparent);
	AG_TEST_RUN(parse_rejects_malformed_headers);
	AG_TEST_RUN(continue_keeps_trace_id_with_new_span);
	AG_TEST_RUN(current_trace_is_per_thread_and_clearable);
	AG_TEST_RUN(ids_are_unique_across_threads_and_forks);
	return ag_test_summary();
}
