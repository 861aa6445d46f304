/*
 * job_stream.h - GET /v1/jobs/{id}/events: a job's progress as Server-Sent
 * Events (text/event-stream).
 *
 *   id: <job_events.id>
 *   event: step | job          (step: a step changed; job: a job-level change)
 *   data: {"id":…,"job_id":…,"job_state":…,"step":…|null,"step_state":…|null,"error":…|null,"at":…}
 *
 * Owner only (another user's job, an unknown or malformed id: 404). On
 * connect the stream is registered for live events first, then the events
 * after Last-Event-ID (the header; all when absent) are replayed from
 * PostgreSQL, then live events from the gateway's one NATS subscription to
 * aegis.events.* follow; the stream remembers which ids it sent, so there
 * are neither gaps nor duplicates. Ids increase, except that an event of
 * one parallel step may commit (and so arrive) after a higher id of
 * another: it is still sent, after it. Every
 * SSE_HEARTBEAT_S a comment line keeps proxies open, and the stream reads
 * PostgreSQL once more for anything the bus missed (an outage, a slow
 * client). Once the job is in a terminal state and its events are all
 * sent, the stream ends. At most SSE_MAX_STREAMS streams are open per
 * gateway (beyond: 503 problem+json + Retry-After); SIGTERM ends them at
 * once. Route user data: `gateway *`.
 */
#ifndef GATEWAY_JOB_STREAM_H
#define GATEWAY_JOB_STREAM_H

#include "aegis/bus.h"
#include "aegis/http.h"
#include "aegis/status.h"

#define JOB_STREAM_REPLAY_BATCH 500  /* events read from PostgreSQL per query */
#define JOB_STREAM_MAILBOX_MAX  4096 /* live events waiting for the loop thread; beyond, streams re-read the DB */
#define JOB_STREAM_PENDING_MAX  16   /* live events held per stream while its replay runs */
#define JOB_STREAM_RETRY_MS     3000 /* the SSE retry: hint to clients */
#define JOB_STREAM_SENT_MAX     1024 /* event ids a stream remembers having sent (see job_stream.c) */

struct gateway;
typedef struct job_stream_hub job_stream_hub;

/* Subscribe to aegis.events.* (a plain subscription: every replica sees every event). `gw` must outlive it. */
ag_status job_stream_hub_new(job_stream_hub **out, struct gateway *gw, ag_err *err);
/* Unsubscribe and close the loop handles (loop thread; idempotent): at drain start and before the loop ends. */
void job_stream_hub_stop(job_stream_hub *h);
/* After the loop ran dry (every stream finished). NULL ok. */
void job_stream_hub_free(job_stream_hub *h);
/* Streams open now (loop thread). */
int job_stream_hub_count(const job_stream_hub *h);

void job_stream_get(ag_http_req *req, void *gw);

#endif
