/*
 * gauges.h - the orchestrator's periodic gauges: jobs by state (one
 * GROUP BY over jobs) and, per durable JetStream consumer, the messages
 * pending and awaiting acknowledgement (js_GetConsumerInfo). A thread of
 * its own refreshes them every ORCH_GAUGE_INTERVAL_MS, so /metrics never
 * waits on PostgreSQL or NATS. Every orchestrator replica reports the same
 * figures: aggregate with max(), not sum().
 */
#ifndef ORCH_GAUGES_H
#define ORCH_GAUGES_H

#include "aegis/bus.h"
#include "aegis/db.h"
#include "aegis/metrics.h"
#include "aegis/status.h"

#include <stdbool.h>
#include <stddef.h>

#define GAUGES_MAX_CONSUMERS 16 /* consumers one gauges object watches */

typedef struct gauges gauges;

typedef struct gauges_consumer {
	const char *stream;
	const char *durable;
} gauges_consumer;

/* Register the series: aegis_jobs{state} for the six job states, aegis_bus_consumer_pending{stream,consumer} and
 * aegis_bus_consumer_ack_pending{stream,consumer} for each of `consumers` (copied; at most
 * GAUGES_MAX_CONSUMERS). `db`, `bus` and `metrics` are borrowed and must outlive the object. */
ag_status gauges_new(gauges **out, ag_db_pool *db, ag_bus *bus, ag_metrics *metrics, const gauges_consumer *consumers,
                     size_t nconsumers, ag_err *err);
/* One refresh on the calling thread (blocks up to a few seconds). A consumer that does not exist yet is
 * skipped; the first other failure is returned after the rest was refreshed. Exposed for tests. */
ag_status gauges_refresh(gauges *g, ag_err *err);
/* Start the refresh thread: one refresh now, then every interval_ms (> 0). */
ag_status gauges_start(gauges *g, long long interval_ms, ag_err *err);
/* Drain hooks (ud = the gauges): ask the thread to stop; true once it exited (or never started). Never block. */
void gauges_drain_begin(void *ud);
bool gauges_drained(void *ud);
/* Stop and wait up to timeout_ms for the thread: false when a refresh still runs (then do not free). NULL ok. */
bool gauges_stop(gauges *g, int timeout_ms);
/* Stop, join and free. NULL ok. */
void gauges_free(gauges *g);

#endif
