/* Tests libcommon/src/cfg.c: a config table filled from the environment, with every problem reported. */
#include "aegis/cfg.h"
#include "test.h"

#include <stdlib.h>

typedef struct t_cfg {
	ag_common_cfg common;
	char *name;
	long long count;
	bool flag;
	char *token;
} t_cfg;

static const ag_cfg_item t_items[] = {
        AG_CFG_COMMON_ITEMS(t_cfg, "9999"),
        {"T_NAME", AG_CFG_STR, offsetof(t_cfg, name), "anon", false, 0, 0, false, "a name"},
        {"T_COUNT", AG_CFG_INT, offsetof(t_cfg, count), "3", false, 1, 10, false, "a count"},
        {"T_FLAG", AG_CFG_BOOL, offsetof(t_cfg, flag), "false", false, 0, 0, false, "a flag"},
        {"T_TOKEN", AG_CFG_STR, offsetof(t_cfg, token), NULL, true, 0, 0, true, "a secret"},
};
#define T_N (sizeof t_items / sizeof t_items[0])

static void t_clear(void)
{
	unsetenv("T_NAME");
	unsetenv("T_COUNT");
	unsetenv("T_FLAG");
	unsetenv("T_TOKEN");
	unsetenv("HTTP_PORT");
}

/* Load with the environment as set; the report goes to a memory stream returned in *report (caller frees). */
static ag_status t_load(t_cfg *c, char **report)
{
	size_t len = 0;
	FILE *f = open_memstream(report, &len);
	ag_status st = ag_cfg_load(t_items, T_N, c, f);
	fclose(f);
	return st;
}

static void defaults_fill_every_item(void)
{
	t_cfg c = {0};
	char *report = NULL;
	t_clear();
	setenv("T_TOKEN", "s3cret", 1);
	AG_CHECK_INT(t_load(&c, &report), AG_OK);
	AG_CHECK_STR(c.name, "anon");
	AG_CHECK_INT(c.count, 3);
	AG_CHECK(!c.flag);
	AG_CHECK_INT(c.common.http_port, 9999);
	AG_CHECK_STR(c.common.log_level, "info");
	AG_CHECK(c.common.migrate_on_start);
	AG_CHECK_STR(report, "");
	free(report);
	ag_cfg_free(t_items, T_N, &c);
	AG_CHECK(c.name == NULL);
}

static void environment_overrides_defaults(void)
{
	t_cfg c = {0};
	char *report = NULL;
	t_clear();
	setenv("T_NAME", "worker-1", 1);
	setenv("T_COUNT", "10", 1);
	setenv("T_FLAG", "yes", 1);
	setenv("T_TOKEN", "x", 1);
	AG_CHECK_INT(t_load(&c, &report), AG_OK);
	AG_CHECK_STR(c.name, "worker-1");
	AG_CHECK_INT(c.count, 10);
	AG_CHECK(c.flag);
	free(report);
	ag_cfg_free(t_items, T_N, &c);
}

static void every_problem_is_reported_at_once(void)
{
	t_cfg c = {0};
	char *report = NULL;
	t_clear();
	setenv("T_COUNT", "11", 1);    /* over max */
	setenv("T_FLAG", "maybe", 1);  /* not a bool */
	setenv("HTTP_PORT", "80x", 1); /* junk */
	/* T_TOKEN missing: required */
	AG_CHECK_INT(t_load(&c, &report), AG_E_INVAL);
	AG_CHECK(strstr(report, "T_COUNT=\"11\" must be a whole number from 1 to 10") != NULL);
	AG_CHECK(strstr(report, "T_FLAG must be true or false") != NULL);
	AG_CHECK(strstr(report, "HTTP_PORT=\"80x\"") != NULL);
	AG_CHECK(strstr(report, "T_TOKEN is required") != NULL);
	AG_CHECK(strstr(report, "4 problems found") != NULL);
	free(report);
	ag_cfg_free(t_items, T_N, &c);
}

static void secrets_are_never_echoed(void)
{
	static const ag_cfg_item secret_int[] = {
	        {"T_COUNT", AG_CFG_INT, offsetof(t_cfg, count), NULL, true, 1, 10, true, "secret number"},
	};
	t_cfg c = {0};
	char *report = NULL;
	size_t len = 0;
	t_clear();
	setenv("T_COUNT", "hunter2", 1);
	FILE *f = open_memstream(&report, &len);
	AG_CHECK_INT(ag_cfg_load(secret_int, 1, &c, f), AG_E_INVAL);
	fclose(f);
	AG_CHECK(strstr(report, "T_COUNT") != NULL);
	AG_CHECK(strstr(report, "hunter2") == NULL);
	free(report);
	t_clear();
}

static void bounded_parser_table(void)
{
	static const struct {
		const char *in;
		bool ok;
		long long want;
	} cases[] = {
	        {"0", true, 0},
	        {"42", true, 42},
	        {"-5", true, -5},
	        {"", false, 0},
	        {" 1", false, 0},
	        {"1 ", false, 0},
	        {"+1", false, 0},
	        {"-", false, 0},
	        {"0x10", false, 0},
	        {"101", false, 0},
	        {"9223372036854775808", false, 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		long long v = -1;
		bool ok = ag_cfg_parse_ll(cases[i].in, -10, 100, &v);
		AG_CHECK_INT(ok, cases[i].ok);
		if (ok)
			AG_CHECK_INT(v, cases[i].want);
	}
}

static void markdown_rows_mark_secrets_and_ranges(void)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	ag_cfg_print_markdown(t_items, T_N, f);
	fclose(f);
	AG_CHECK(strstr(out, "| `T_COUNT` | `3` | a count (1 to 10) |") != NULL);
	AG_CHECK(strstr(out, "| `T_TOKEN` | required | a secret (secret) |") != NULL);
	free(out);
}

int main(void)
{
	AG_TEST_RUN(defaults_fill_every_item);
	AG_TEST_RUN(environment_overrides_defaults);
	AG_TEST_RUN(every_problem_is_reported_at_once);
	AG_TEST_RUN(secrets_are_never_echoed);
	AG_TEST_RUN(bounded_parser_table);
	AG_TEST_RUN(markdown_rows_mark_secrets_and_ranges);
	return ag_test_summary();
}
