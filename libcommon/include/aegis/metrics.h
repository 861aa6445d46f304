/*
 * metrics.h - a Prometheus metrics registry: counters, gauges and histograms
 * with fixed label sets, rendered in the text exposition format 0.0.4.
 *
 * Get-or-create is thread-safe and returns the same series for the same
 * (name, labels); updates are lock-free atomics. The registry caps families
 * and series (limits.h); past the cap a getter returns NULL and every update
 * function accepts NULL as a no-op, so a label explosion cannot take a
 * service down.
 */
#ifndef AEGIS_METRICS_H
#define AEGIS_METRICS_H

#include "aegis/status.h"

#include <stddef.h>

typedef struct ag_metrics ag_metrics;
typedef struct ag_counter ag_counter;
typedef struct ag_gauge ag_gauge;
typedef struct ag_histogram ag_histogram;

ag_status ag_metrics_new(ag_metrics **out);
void ag_metrics_free(ag_metrics *m); /* NULL ok; series pointers die with it */

/*
 * `labels` is the label text without braces, e.g. `step="validate",outcome="ok"`,
 * or NULL/"" for none. Values must already be escaped (ag_metrics_label_escape).
 * `help` is used the first time a family is seen.
 */
ag_counter *ag_metrics_counter(ag_metrics *m, const char *name, const char *help, const char *labels);
ag_gauge *ag_metrics_gauge(ag_metrics *m, const char *name, const char *help, const char *labels);
/* `bounds` ascending upper bounds (+Inf is implicit), at most AG_METRICS_MAX_BUCKETS. */
ag_histogram *ag_metrics_histogram(ag_metrics *m, const char *name, const char *help, const char *labels,
                                   const double *bounds, size_t nbounds);

void ag_counter_add(ag_counter *c, double v); /* v >= 0 */
void ag_counter_inc(ag_counter *c);
void ag_gauge_set(ag_gauge *g, double v);
void ag_gauge_add(ag_gauge *g, double v); /* negative to subtract */
void ag_histogram_observe(ag_histogram *h, double v);

/* Default latency buckets in seconds (5 ms .. 60 s). */
extern const double ag_metrics_seconds_buckets[];
extern const size_t ag_metrics_seconds_buckets_len;

/* Render the whole registry. *out is malloc'd, caller free()s. */
ag_status ag_metrics_render(ag_metrics *m, char **out, size_t *len);

/* Escape a label value (\\, \", \n) into buf; returns buf. Truncates to fit. */
char *ag_metrics_label_escape(const char *v, char *buf, size_t bufsz);

#endif
