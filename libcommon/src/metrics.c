/*
 * metrics.c - the Prometheus registry: families of counters, gauges and
 * histograms keyed by (name, label text), rendered in text format 0.0.4.
 *
 * A mutex guards the family and series tables (get-or-create and render);
 * values are C11 atomics so updates never take it. Doubles are stored as
 * their IEEE-754 bit pattern in an _Atomic uint64_t and added with a
 * compare-and-swap loop. Histogram buckets hold per-bucket counts; render
 * makes them cumulative and derives _count from them, so +Inf always equals
 * _count even while observations race the scrape.
 */
#include "aegis/metrics.h"

#include "aegis/limits.h"
#include "aegis/log.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define METRICS_NAME_MAX   128                /* metric family name */
#define METRICS_LABELS_MAX 1024               /* label text of one series */
#define METRICS_HELP_MAX   512                /* help text kept per family */
#define METRICS_RENDER_MAX (16 * 1024 * 1024) /* a scrape larger than this is a bug, not data */

typedef enum { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM } metric_type;

typedef struct metric_family metric_family;

/* One series. Counters and gauges use `value`; histograms use the rest. */
typedef struct metric_series {
	metric_family *fam;
	char *labels;
	_Atomic uint64_t value;                               /* double bits */
	_Atomic uint64_t sum;                                 /* double bits */
	_Atomic uint64_t buckets[AG_METRICS_MAX_BUCKETS + 1]; /* per bucket, last is +Inf */
} metric_series;

struct metric_family {
	char *name;
	char *help;
	metric_type type;
	double bounds[AG_METRICS_MAX_BUCKETS];
	size_t nbounds;
	metric_series **series;
	size_t nseries, capseries;
};

struct ag_metrics {
	pthread_mutex_t mu;
	metric_family *fams[AG_METRICS_MAX_FAMILIES];
	size_t nfams;
	size_t nseries; /* all families */
	bool cap_warned;
};

/* The opaque public types are the series itself. */
struct ag_counter {
	metric_series s;
};
struct ag_gauge {
	metric_series s;
};
struct ag_histogram {
	metric_series s;
};

const double ag_metrics_seconds_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
const size_t ag_metrics_seconds_buckets_len = sizeof ag_metrics_seconds_buckets / sizeof ag_metrics_seconds_buckets[0];

static uint64_t metrics_bits(double v)
{
	uint64_t u;
	memcpy(&u, &v, sizeof u);
	return u;
}

static double metrics_double(uint64_t u)
{
	double v;
	memcpy(&v, &u, sizeof v);
	return v;
}

static void metrics_atomic_add(_Atomic uint64_t *a, double v)
{
	uint64_t old = atomic_load_explicit(a, memory_order_relaxed);
	while (!atomic_compare_exchange_weak_explicit(a, &old, metrics_bits(metrics_double(old) + v),
	                                              memory_order_relaxed, memory_order_relaxed))
		;
}

ag_status ag_metrics_new(ag_metrics **out)
{
	*out = NULL;
	ag_metrics *m = calloc(1, sizeof *m);
	if (!m)
		return AG_E_NOMEM;
	if (pthread_mutex_init(&m->mu, NULL) != 0) {
		free(m);
		return AG_E_INTERNAL;
	}
	*out = m;
	return AG_OK;
}

static void metrics_family_free(metric_family *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->nseries; i++) {
		free(f->series[i]->labels);
		free(f->series[i]);
	}
	free(f->series);
	free(f->name);
	free(f->help);
	free(f);
}

void ag_metrics_free(ag_metrics *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nfams; i++)
		metrics_family_free(m->fams[i]);
	pthread_mutex_destroy(&m->mu);
	free(m);
}

/* [a-zA-Z_:][a-zA-Z0-9_:]* */
static bool metrics_name_ok(const char *name)
{
	size_t n = name ? strnlen(name, METRICS_NAME_MAX + 1) : 0;
	if (n == 0 || n > METRICS_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
		if (!alpha && !(i > 0 && c >= '0' && c <= '9'))
			return false;
	}
	return true;
}

/* Label text arrives pre-escaped; refuse only what would break the line format. */
static bool metrics_labels_ok(const char *labels)
{
	size_t n = strnlen(labels, METRICS_LABELS_MAX + 1);
	if (n > METRICS_LABELS_MAX)
		return false;
	return memchr(labels, '\n', n) == NULL;
}

static void metrics_cap_warn(ag_metrics *m, const char *what, const char *name)
{
	if (m->cap_warned)
		return;
	m->cap_warned = true;
	ag_log_warn("metrics: %s cap reached at %s; further series are dropped", what, name);
}

/* Get or create the series; caller holds m->mu. NULL on a type clash, bad input or cap. */
static metric_series *metrics_get_locked(ag_metrics *m, const char *name, const char *help, const char *labels,
                                         metric_type type, const double *bounds, size_t nbounds)
{
	metric_family *f = NULL;
	for (size_t i = 0; i < m->nfams; i++) {
		if (strcmp(m->fams[i]->name, name) == 0) {
			f = m->fams[i];
			break;
		}
	}
	if (f) {
		if (f->type != type)
			return NULL;
		if (type == METRIC_HISTOGRAM &&
		    (f->nbounds != nbounds || memcmp(f->bounds, bounds, nbounds * sizeof *bounds) != 0))
			return NULL;
		for (size_t i = 0; i < f->nseries; i++)
			if (strcmp(f->series[i]->labels, labels) == 0)
				return f->series[i];
	}
	if (m->nseries >= AG_METRICS_MAX_SERIES) {
		metrics_cap_warn(m, "series", name);
		return NULL;
	}
	bool new_family = false;
	if (!f) {
		if (m->nfams >= AG_METRICS_MAX_FAMILIES) {
			metrics_cap_warn(m, "family", name);
			return NULL;
		}
		f = calloc(1, sizeof *f);
		if (!f)
			return NULL;
		f->name = strdup(name);
		f->help = strndup(help ? help : "", METRICS_HELP_MAX);
		if (!f->name || !f->help) {
			metrics_family_free(f);
			return NULL;
		}
		f->type = type;
		f->nbounds = nbounds;
		if (nbounds)
			memcpy(f->bounds, bounds, nbounds * sizeof *bounds);
		new_family = true;
	}
	metric_series *s = NULL;
	if (f->nseries == f->capseries) {
		size_t cap = f->capseries ? f->capseries * 2 : 4;
		metric_series **ns = realloc(f->series, cap * sizeof *ns);
		if (!ns)
			goto fail;
		f->series = ns;
		f->capseries = cap;
	}
	s = calloc(1, sizeof *s);
	if (!s)
		goto fail;
	s->labels = strdup(labels);
	if (!s->labels)
		goto fail;
	s->fam = f;
	f->series[f->nseries++] = s;
	m->nseries++;
	if (new_family)
		m->fams[m->nfams++] = f;
	return s;
fail:
	if (s)
		free(s->labels);
	free(s);
	if (new_family)
		metrics_family_free(f);
	return NULL;
}

static metric_series *metrics_get(ag_metrics *m, const char *name, const char *help, const char *labels,
                                  metric_type type, const double *bounds, size_t nbounds)
{
	if (!m || !metrics_name_ok(name))
		return NULL;
	if (!labels)
		labels = "";
	if (!metrics_labels_ok(labels))
		return NULL;
	if (type == METRIC_HISTOGRAM) {
		if (nbounds > AG_METRICS_MAX_BUCKETS || (nbounds && !bounds))
			return NULL;
		for (size_t i = 0; i < nbounds; i++)
			if (isnan(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1])))
				return NULL;
	}
	pthread_mutex_lock(&m->mu);
	metric_series *s = metrics_get_locked(m, name, help, labels, type, bounds, nbounds);
	pthread_mutex_unlock(&m->mu);
	return s;
}

ag_counter *ag_metrics_counter(ag_metrics *m, const char *name, const char *help, const char *labels)
{
	return (ag_counter *)metrics_get(m, name, help, labels, METRIC_COUNTER, NULL, 0);
}

ag_gauge *ag_metrics_gauge(ag_metrics *m, const char *name, const char *help, const char *labels)
{
	return (ag_gauge *)metrics_get(m, name, help, labels, METRIC_GAUGE, NULL, 0);
}

ag_histogram *ag_metrics_histogram(ag_metrics *m, const char *name, const char *help, const char *labels,
                                   const double *bounds, size_t nbounds)
{
	return (ag_histogram *)metrics_get(m, name, help, labels, METRIC_HISTOGRAM, bounds, nbounds);
}

void ag_counter_add(ag_counter *c, double v)
{
	if (!c || !(v >= 0)) /* also drops NaN: a counter only goes up */
		return;
	metrics_atomic_add(&c->s.value, v);
}

void ag_counter_inc(ag_counter *c)
{
	ag_counter_add(c, 1.0);
}

void ag_gauge_set(ag_gauge *g, double v)
{
	if (g)
		atomic_store_explicit(&g->s.value, metrics_bits(v), memory_order_relaxed);
}

void ag_gauge_add(ag_gauge *g, double v)
{
	if (g)
		metrics_atomic_add(&g->s.value, v);
}

void ag_histogram_observe(ag_histogram *h, double v)
{
	if (!h || isnan(v))
		return;
	const metric_family *f = h->s.fam;
	size_t i = 0;
	while (i < f->nbounds && v > f->bounds[i])
		i++;
	atomic_fetch_add_explicit(&h->s.buckets[i], 1, memory_order_relaxed);
	metrics_atomic_add(&h->s.sum, v);
}

char *ag_metrics_label_escape(const char *v, char *buf, size_t bufsz)
{
	if (!buf || bufsz == 0)
		return buf;
	size_t o = 0;
	for (; v && *v; v++) {
		const char *rep = NULL;
		char one[2] = {*v, '\0'};
		if (*v == '\\')
			rep = "\\\\";
		else if (*v == '"')
			rep = "\\\"";
		else if (*v == '\n')
			rep = "\\n";
		else
			rep = one;
		size_t rl = strlen(rep);
		if (o + rl >= bufsz) /* never split an escape sequence */
			break;
		memcpy(buf + o, rep, rl);
		o += rl;
	}
	buf[o] = '\0';
	return buf;
}

/* --- rendering --- */

typedef struct {
	char *p;
	size_t len, cap;
	bool failed;
} metrics_buf;

static void metrics_buf_put(metrics_buf *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *np = cap <= METRICS_RENDER_MAX ? realloc(b->p, cap) : NULL;
		if (!np) {
			b->failed = true;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void metrics_buf_str(metrics_buf *b, const char *s)
{
	metrics_buf_put(b, s, strlen(s));
}

static void metrics_buf_fmt(metrics_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void metrics_buf_fmt(metrics_buf *b, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof tmp) {
		b->failed = true;
		return;
	}
	metrics_buf_put(b, tmp, (size_t)n);
}

/* Shortest text that reads back as the same double; Prometheus spellings for the specials. */
static void metrics_fmt_double(char *out, size_t outsz, double v)
{
	if (isnan(v)) {
		snprintf(out, outsz, "NaN");
	} else if (isinf(v)) {
		snprintf(out, outsz, "%s", v > 0 ? "+Inf" : "-Inf");
	} else if (v == floor(v) && fabs(v) < 9007199254740992.0) {
		snprintf(out, outsz, "%.0f", v);
	} else {
		for (int prec = 6; prec <= 17; prec++) {
			snprintf(out, outsz, "%.*g", prec, v);
			if (strtod(out, NULL) == v)
				break;
		}
	}
}

/* HELP text escaping: backslash and newline only (format 0.0.4). */
static void metrics_buf_help(metrics_buf *b, const char *help)
{
	for (const char *p = help; *p; p++) {
		if (*p == '\\')
			metrics_buf_put(b, "\\\\", 2);
		else if (*p == '\n')
			metrics_buf_put(b, "\\n", 2);
		else
			metrics_buf_put(b, p, 1);
	}
}

/* name{labels[,extra]} value\n ; `extra` is one more label or NULL */
static void metrics_buf_sample(metrics_buf *b, const char *name, const char *suffix, const char *labels,
                               const char *extra, const char *value)
{
	metrics_buf_str(b, name);
	metrics_buf_str(b, suffix);
	if (*labels || extra) {
		metrics_buf_put(b, "{", 1);
		metrics_buf_str(b, labels);
		if (extra) {
			if (*labels)
				metrics_buf_put(b, ",", 1);
			metrics_buf_str(b, extra);
		}
		metrics_buf_put(b, "}", 1);
	}
	metrics_buf_put(b, " ", 1);
	metrics_buf_str(b, value);
	metrics_buf_put(b, "\n", 1);
}

static void metrics_render_histogram(metrics_buf *b, const metric_family *f, const metric_series *s)
{
	char num[64], le[96];
	uint64_t cum = 0;
	for (size_t i = 0; i <= f->nbounds; i++) {
		cum += atomic_load_explicit(&s->buckets[i], memory_order_relaxed);
		if (i < f->nbounds) {
			metrics_fmt_double(num, sizeof num, f->bounds[i]);
			snprintf(le, sizeof le, "le=\"%s\"", num);
		} else {
			snprintf(le, sizeof le, "le=\"+Inf\"");
		}
		snprintf(num, sizeof num, "%" PRIu64, cum);
		metrics_buf_sample(b, f->name, "_bucket", s->labels, le, num);
	}
	metrics_fmt_double(num, sizeof num, metrics_double(atomic_load_explicit(&s->sum, memory_order_relaxed)));
	metrics_buf_sample(b, f->name, "_sum", s->labels, NULL, num);
	snprintf(num, sizeof num, "%" PRIu64, cum);
	metrics_buf_sample(b, f->name, "_count", s->labels, NULL, num);
}

ag_status ag_metrics_render(ag_metrics *m, char **out, size_t *len)
{
	static const char *const type_names[] = {"counter", "gauge", "histogram"};
	*out = NULL;
	if (len)
		*len = 0;
	if (!m)
		return AG_E_INVAL;
	metrics_buf b = {0};
	metrics_buf_put(&b, "", 0); /* an empty registry renders as "" rather than NULL */
	pthread_mutex_lock(&m->mu);
	for (size_t i = 0; i < m->nfams; i++) {
		const metric_family *f = m->fams[i];
		if (f->nseries == 0)
			continue;
		metrics_buf_fmt(&b, "# HELP %s ", f->name);
		metrics_buf_help(&b, f->help);
		metrics_buf_fmt(&b, "\n# TYPE %s %s\n", f->name, type_names[f->type]);
		for (size_t j = 0; j < f->nseries; j++) {
			const metric_series *s = f->series[j];
			if (f->type == METRIC_HISTOGRAM) {
				metrics_render_histogram(&b, f, s);
			} else {
				char num[64];
				metrics_fmt_double(
				        num, sizeof num,
				        metrics_double(atomic_load_explicit(&s->value, memory_order_relaxed)));
				metrics_buf_sample(&b, f->name, "", s->labels, NULL, num);
			}
		}
	}
	pthread_mutex_unlock(&m->mu);
	if (b.failed) {
		free(b.p);
		return AG_E_NOMEM;
	}
	*out = b.p;
	if (len)
		*len = b.len;
	return AG_OK;
}
