/*
 * job_events.h - publish, after COMMIT, the job_events rows a gateway
 * action (cancel, retry) wrote, on aegis.events.<job> with the message id
 * ev:<job>:<id> the orchestrator uses, so SSE readers see every transition
 * and a republish is dropped by the stream's duplicate window.
 */
#ifndef GATEWAY_JOB_EVENTS_H
#define GATEWAY_JOB_EVENTS_H

#include "aegis/bus.h"
#include "aegis/db.h"
#include "aegis/trace.h"

#define JOB_EVENTS_IDS_MAX 160 /* "{id,id,...}": the few rows one action writes */

/* Append event id `id` to the PostgreSQL array literal `ids` (starts as ""); false when it does not fit. */
bool job_events_note(char *ids, size_t idslen, const char *id);

/*
 * Read the rows of job `job` whose ids are listed in `ids` (from job_events_note) on `conn` (outside a
 * transaction, after the commit) and publish each. Best effort: a failure is logged, the rows stay in
 * job_events (GET /v1/jobs/{id}/events replays them).
 */
void job_events_publish(ag_bus *bus, PGconn *conn, const char *job, const char *ids, const ag_trace *tr);

#endif
