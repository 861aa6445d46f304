/* Tests libcommon/src/metrics.c: exposition format, labels, caps, NULL safety and concurrent updates. */
#include "aegis/limits.h"
#include "aegis/metrics.h"
#include "test.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static char *render(ag_metrics *m)
{
	char *out = NULL;
	size_t len = 0;
	AG_CHECK_INT(ag_metrics_render(m, &out, &len), AG_OK);
	AG_CHECK(out != NULL);
	if (out)
		AG_CHECK_INT(strlen(out), len);
	return out;
}

static void expect_line(const char *text, const char *line)
{
	char want[512];
	snprintf(want, sizeof want, "%s\n", line);
	const char *p = text ? strstr(text, want) : NULL;
	/* must be a whole line */
	while (p && p != text && p[-1] != '\n')
		p = strstr(p + 1, want);
	if (!p)
		fprintf(stderr, "  missing line: %s\n", line);
	AG_CHECK(p != NULL);
}

static void counter_and_gauge_render_with_help_type_and_labels(void)
{
	ag_metrics *m = NULL;
	AG_CHECK_INT(ag_metrics_new(&m), AG_OK);
	ag_counter *ok = ag_metrics_counter(m, "aegis_steps_total", "Steps run.", "step=\"validate\",outcome=\"ok\"");
	ag_counter *bad = ag_metrics_counter(m, "aegis_steps_total", "ignored", "step=\"validate\",outcome=\"failed\"");
	AG_CHECK(ok && bad && ok != bad);
	AG_CHECK(ag_metrics_counter(m, "aegis_steps_total", NULL, "step=\"validate\",outcome=\"ok\"") == ok);
	ag_counter_inc(ok);
	ag_counter_inc(ok);
	ag_counter_add(ok, 0.5);
	ag_counter_add(ok, -3); /* counters never go down */
	ag_counter_inc(bad);
	ag_gauge *g = ag_metrics_gauge(m, "aegis_inflight", "In flight.\nSecond line \\ here", NULL);
	ag_gauge_set(g, 10);
	ag_gauge_add(g, -2.5);
	ag_gauge *plain = ag_metrics_gauge(m, "aegis_up", "", "");
	ag_gauge_set(plain, 1);

	char *out = render(m);
	expect_line(out, "# HELP aegis_steps_total Steps run.");
	expect_line(out, "# TYPE aegis_steps_total counter");
	expect_line(out, "aegis_steps_total{step=\"validate\",outcome=\"ok\"} 2.5");
	expect_line(out, "aegis_steps_total{step=\"validate\",outcome=\"failed\"} 1");
	expect_line(out, "# HELP aegis_inflight In flight.\\nSecond line \\\\ here");
	expect_line(out, "# TYPE aegis_inflight gauge");
	expect_line(out, "aegis_inflight 7.5");
	expect_line(out, "aegis_up 1");
	/* one HELP/TYPE pair per family, families in creation order */
	const char *first = strstr(out, "# TYPE aegis_steps_total");
	AG_CHECK(first && !strstr(first + 1, "# TYPE aegis_steps_total"));
	AG_CHECK(first && strstr(out, "# TYPE aegis_inflight") > first);
	AG_CHECK(out && out[strlen(out) - 1] == '\n');
	free(out);
	ag_metrics_free(m);
}

static void histogram_buckets_are_cumulative_with_sum_and_count(void)
{
	ag_metrics *m = NULL;
	ag_metrics_new(&m);
	const double b[] = {0.25, 0.5, 1};
	ag_histogram *h = ag_metrics_histogram(m, "aegis_req_seconds", "Latency.", "route=\"/x\"", b, 3);
	AG_CHECK(h != NULL);
	ag_histogram_observe(h, 0.125);
	ag_histogram_observe(h, 0.25); /* le is inclusive */
	ag_histogram_observe(h, 0.375);
	ag_histogram_observe(h, 2);
	ag_histogram *none = ag_metrics_histogram(m, "aegis_req_seconds", "", NULL, b, 3);
	ag_histogram_observe(none, 0.7);
	/* same family with different bounds is refused, not silently mixed */
	const double other[] = {1, 2};
	AG_CHECK(ag_metrics_histogram(m, "aegis_req_seconds", "", "route=\"/y\"", other, 2) == NULL);
	/* bounds must ascend */
	const double bad[] = {1, 0.5};
	AG_CHECK(ag_metrics_histogram(m, "aegis_bad", "", NULL, bad, 2) == NULL);

	char *out = render(m);
	expect_line(out, "# TYPE aegis_req_seconds histogram");
	expect_line(out, "aegis_req_seconds_bucket{route=\"/x\",le=\"0.25\"} 2");
	expect_line(out, "aegis_req_seconds_bucket{route=\"/x\",le=\"0.5\"} 3");
	expect_line(out, "aegis_req_seconds_bucket{route=\"/x\",le=\"1\"} 3");
	expect_line(out, "aegis_req_seconds_bucket{route=\"/x\",le=\"+Inf\"} 4");
	expect_line(out, "aegis_req_seconds_sum{route=\"/x\"} 2.75");
	expect_line(out, "aegis_req_seconds_count{route=\"/x\"} 4");
	expect_line(out, "aegis_req_seconds_bucket{le=\"0.5\"} 0");
	expect_line(out, "aegis_req_seconds_bucket{le=\"1\"} 1");
	expect_line(out, "aegis_req_seconds_count 1");
	AG_CHECK(strstr(out, "aegis_bad") == NULL);
	free(out);

	/* the default latency buckets: 5 ms .. 60 s, ascending, within the cap */
	AG_CHECK(ag_metrics_seconds_buckets_len <= AG_METRICS_MAX_BUCKETS);
	AG_CHECK(ag_metrics_seconds_buckets[0] == 0.005);
	AG_CHECK(ag_metrics_seconds_buckets[ag_metrics_seconds_buckets_len - 1] == 60);
	ag_histogram *d = ag_metrics_histogram(m, "aegis_default_seconds", "", NULL, ag_metrics_seconds_buckets,
	                                       ag_metrics_seconds_buckets_len);
	AG_CHECK(d != NULL);
	ag_histogram_observe(d, 0.2);
	out = render(m);
	expect_line(out, "aegis_default_seconds_bucket{le=\"0.005\"} 0");
	expect_line(out, "aegis_default_seconds_bucket{le=\"0.25\"} 1");
	free(out);
	ag_metrics_free(m);
}

static void label_escape_and_bad_names(void)
{
	char buf[64];
	AG_CHECK_STR(ag_metrics_label_escape("a\"b\\c\nd", buf, sizeof buf), "a\\\"b\\\\c\\nd");
	AG_CHECK_STR(ag_metrics_label_escape(NULL, buf, sizeof buf), "");
	char small[4];
	/* truncation never splits an escape: "ab\\\"" would need 4 bytes + NUL */
	AG_CHECK_STR(ag_metrics_label_escape("ab\"cd", small, sizeof small), "ab");
	AG_CHECK_STR(ag_metrics_label_escape("abcdef", small, sizeof small), "abc");

	ag_metrics *m = NULL;
	ag_metrics_new(&m);
	AG_CHECK(ag_metrics_counter(m, "9starts_with_digit", "", NULL) == NULL);
	AG_CHECK(ag_metrics_counter(m, "has-dash", "", NULL) == NULL);
	AG_CHECK(ag_metrics_counter(m, "", "", NULL) == NULL);
	AG_CHECK(ag_metrics_counter(m, "ok_name", "", "a=\"1\"\nb=\"2\"") == NULL);
	/* a name is one type only */
	AG_CHECK(ag_metrics_counter(m, "aegis_x", "", NULL) != NULL);
	AG_CHECK(ag_metrics_gauge(m, "aegis_x", "", NULL) == NULL);
	char esc[64], labels[128];
	snprintf(labels, sizeof labels, "path=\"%s\"", ag_metrics_label_escape("/a\"b", esc, sizeof esc));
	ag_counter_inc(ag_metrics_counter(m, "aegis_paths_total", "", labels));
	/* braces are fine inside a label value (route patterns) */
	ag_counter_inc(ag_metrics_counter(m, "aegis_paths_total", "", "path=\"/items/{}\""));
	char *out = render(m);
	expect_line(out, "aegis_paths_total{path=\"/a\\\"b\"} 1");
	expect_line(out, "aegis_paths_total{path=\"/items/{}\"} 1");
	free(out);
	ag_metrics_free(m);
}

static void caps_return_null_and_updates_accept_null(void)
{
	ag_metrics *m = NULL;
	ag_metrics_new(&m);
	char name[64], labels[64];
	int made = 0;
	for (int i = 0; i < AG_METRICS_MAX_FAMILIES + 10; i++) {
		snprintf(name, sizeof name, "fam_%d", i);
		if (ag_metrics_counter(m, name, "", NULL))
			made++;
	}
	AG_CHECK_INT(made, AG_METRICS_MAX_FAMILIES);
	/* existing families still get series until the global series cap */
	int series = made;
	for (int i = 0; i < AG_METRICS_MAX_SERIES + 10; i++) {
		snprintf(labels, sizeof labels, "i=\"%d\"", i);
		ag_counter *c = ag_metrics_counter(m, "fam_0", "", labels);
		if (c)
			series++;
		ag_counter_inc(c); /* NULL past the cap: a no-op */
	}
	AG_CHECK_INT(series, AG_METRICS_MAX_SERIES);
	/* an existing series is still found at the cap */
	AG_CHECK(ag_metrics_counter(m, "fam_1", "", NULL) != NULL);
	ag_counter_inc(NULL);
	ag_counter_add(NULL, 2);
	ag_gauge_set(NULL, 1);
	ag_gauge_add(NULL, 1);
	ag_histogram_observe(NULL, 1);
	AG_CHECK(ag_metrics_counter(NULL, "x", "", NULL) == NULL);
	char *out = render(m);
	AG_CHECK(out && strlen(out) > 0);
	free(out);
	ag_metrics_free(m);
	ag_metrics_free(NULL);
}

#define THREADS    8
#define PER_THREAD 100000

static void *hammer(void *arg)
{
	ag_metrics *m = arg;
	ag_counter *c = ag_metrics_counter(m, "aegis_hits_total", "", "k=\"v\"");
	ag_gauge *g = ag_metrics_gauge(m, "aegis_level", "", NULL);
	const double b[] = {1, 2};
	ag_histogram *h = ag_metrics_histogram(m, "aegis_obs", "", NULL, b, 2);
	for (int i = 0; i < PER_THREAD; i++) {
		ag_counter_inc(c);
		ag_gauge_add(g, 0.5);
		ag_histogram_observe(h, (double)(i % 3));
	}
	return NULL;
}

static void concurrent_updates_sum_exactly(void)
{
	ag_metrics *m = NULL;
	ag_metrics_new(&m);
	pthread_t t[THREADS];
	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, hammer, m);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	char *out = render(m);
	char line[128];
	snprintf(line, sizeof line, "aegis_hits_total{k=\"v\"} %d", THREADS * PER_THREAD);
	expect_line(out, line);
	snprintf(line, sizeof line, "aegis_level %d", THREADS * PER_THREAD / 2);
	expect_line(out, line);
	snprintf(line, sizeof line, "aegis_obs_count %d", THREADS * PER_THREAD);
	expect_line(out, line);
	/* i % 3 over 0..99999: 33334 zeros, 33333 ones, 33333 twos per thread */
	snprintf(line, sizeof line, "aegis_obs_bucket{le=\"1\"} %d", THREADS * (33334 + 33333));
	expect_line(out, line);
	snprintf(line, sizeof line, "aegis_obs_sum %d", THREADS * (33333 + 2 * 33333));
	expect_line(out, line);
	free(out);
	ag_metrics_free(m);
}

static void empty_registry_renders_empty_text(void)
{
	ag_metrics *m = NULL;
	ag_metrics_new(&m);
	char *out = render(m);
	AG_CHECK_STR(out, "");
	free(out);
	ag_metrics_free(m);
}

int main(void)
{
	AG_TEST_RUN(counter_and_gauge_render_with_help_type_and_labels);
	AG_TEST_RUN(histogram_buckets_are_cumulative_with_sum_and_count);
	AG_TEST_RUN(label_escape_and_bad_names);
	AG_TEST_RUN(caps_return_null_and_updates_accept_null);
	AG_TEST_RUN(concurrent_updates_sum_exactly);
	AG_TEST_RUN(empty_registry_renders_empty_text);
	return ag_test_summary();
}
