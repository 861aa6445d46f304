/* Tests libcommon/src/log.c: each line is one valid JSON object, escaped, filtered by level, with trace_id. */
#include "aegis/log.h"
#include "aegis/trace.h"
#include "test.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Run fn with stderr redirected to a temporary file; returns what was written (caller frees). */
static char *capture(void (*fn)(void))
{
	char path[] = "/tmp/aegis-log-test.XXXXXX";
	int fd = mkstemp(path);
	int saved = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	fn();
	dup2(saved, STDERR_FILENO);
	close(saved);
	off_t n = lseek(fd, 0, SEEK_END);
	char *buf = calloc(1, (size_t)n + 1);
	if (pread(fd, buf, (size_t)n, 0) != n)
		buf[0] = '\0';
	close(fd);
	unlink(path);
	return buf;
}

static void emit_levels(void)
{
	ag_log_init("unit", AG_LOG_INFO);
	ag_log_debug("hidden %d", 1);
	ag_log_info("shown %d", 2);
	ag_log_error("also shown");
}

static void level_filters_lines(void)
{
	char *out = capture(emit_levels);
	AG_CHECK(strstr(out, "hidden") == NULL);
	AG_CHECK(strstr(out, "\"msg\":\"shown 2\"") != NULL);
	AG_CHECK(strstr(out, "\"level\":\"error\"") != NULL);
	free(out);
}

static void emit_hostile(void)
{
	ag_trace t;
	ag_trace_parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", &t);
	ag_trace_set_current(&t);
	ag_log_init("unit", AG_LOG_DEBUG);
	ag_log_warn("quote \" backslash \\ newline \n tab \t bell \a end");
	ag_log_writex(AG_LOG_INFO, "\"job_id\":\"j-1\"", "with members");
	ag_trace_set_current(NULL);
}

static void lines_are_json_with_trace_id(void)
{
	char *out = capture(emit_hostile);
	int lines = 0;
	for (const char *p = out; *p; p++)
		lines += *p == '\n';
	char *save = NULL;
	for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_error_t e;
		json_t *j = json_loads(line, 0, &e);
		AG_CHECK(j != NULL);
		if (!j) {
			fprintf(stderr, "  not JSON: %s (%s)\n", line, e.text);
			continue;
		}
		AG_CHECK_STR(json_string_value(json_object_get(j, "service")), "unit");
		AG_CHECK_STR(json_string_value(json_object_get(j, "trace_id")), "4bf92f3577b34da6a3ce929d0e0e4736");
		AG_CHECK(json_string_value(json_object_get(j, "ts")) != NULL);
		const char *msg = json_string_value(json_object_get(j, "msg"));
		if (msg && strncmp(msg, "quote", 5) == 0)
			AG_CHECK_STR(msg, "quote \" backslash \\ newline \n tab \t bell \a end");
		else
			AG_CHECK_STR(json_string_value(json_object_get(j, "job_id")), "j-1");
		json_decref(j);
	}
	AG_CHECK_INT(lines, 2);
	free(out);
}

static void level_names_parse(void)
{
	ag_log_level l;
	AG_CHECK(ag_log_level_parse("warn", &l) && l == AG_LOG_WARN);
	AG_CHECK(ag_log_level_parse("warning", &l) && l == AG_LOG_WARN);
	AG_CHECK(ag_log_level_parse("debug", &l) && l == AG_LOG_DEBUG);
	AG_CHECK(!ag_log_level_parse("loud", &l));
}

int main(void)
{
	AG_TEST_RUN(level_filters_lines);
	AG_TEST_RUN(lines_are_json_with_trace_id);
	AG_TEST_RUN(level_names_parse);
	return ag_test_summary();
}
