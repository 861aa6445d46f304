/*
 * bus.h - NATS and JetStream through cnats 3.4.1 (see
 * shared reference nats-jetstream-reliability.md §0 for the pitfalls this
 * module exists to contain).
 *
 * - Connect: unlimited reconnect, retry on failed connect, 10 s pings, so a
 *   service can start before NATS and survive its restarts.
 * - Topology: streams and durable consumers are created explicitly and
 *   idempotently (js_AddStream / js_AddConsumer, js_Update* on change). A
 *   pull subscription only ever *binds* to an existing consumer, so closing
 *   it never deletes the consumer.
 * - Publish: synchronous JetStream publish with Nats-Msg-Id and a lower-case
 *   traceparent header; a duplicate within the window counts as success.
 * - Consume: N threads per consumer, one pull subscription each, fetch batch
 *   1 (the 3.4.1 Fetch overflow), NATS_TIMEOUT means "loop again", AckSync
 *   after the handler's commit.
 * - Request/reply on core NATS for the auth service.
 *
 * cnats callbacks run on cnats threads; nothing here touches libuv.
 */
#ifndef AEGIS_BUS_H
#define AEGIS_BUS_H

#include "aegis/metrics.h"
#include "aegis/status.h"
#include "aegis/trace.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ag_bus ag_bus;
typedef struct ag_bus_msg ag_bus_msg;
typedef struct ag_bus_worker ag_bus_worker;
typedef struct ag_bus_service ag_bus_service;

/* Stream names and subjects of the design. */
#define AG_STREAM_JOBS            "AEGIS_JOBS"    /* aegis.jobs.>    work queue: job submissions */
#define AG_STREAM_TASKS           "AEGIS_TASKS"   /* aegis.tasks.>   work queue: one subject per step */
#define AG_STREAM_RESULTS         "AEGIS_RESULTS" /* aegis.results.> work queue: step results to the orchestrator */
#define AG_STREAM_EVENTS          "AEGIS_EVENTS"  /* aegis.events.>  limits: job progress for SSE, kept 24 h */
#define AG_SUBJ_JOB_SUBMITTED     "aegis.jobs.submitted"
#define AG_SUBJ_TASKS_PREFIX      "aegis.tasks."
#define AG_SUBJ_RESULTS_PREFIX    "aegis.results."
#define AG_SUBJ_EVENTS_PREFIX     "aegis.events."
#define AG_SUBJ_AUTH_PREFIX       "aegis.auth."
#define AG_SUBJ_AUTH_KEYS_CHANGED "aegis.auth.keys.changed" /* notification: the signing keys changed */

/* `metrics` may be NULL. Returns once the first connection is up or, when NATS is down, with the client
 * retrying in the background (ag_bus_connected tells). */
ag_status ag_bus_connect(ag_bus **out, const char *url, const char *client_name, ag_metrics *metrics, ag_err *err);
/* Closes the connection (after every worker and service of it was freed). NULL ok. */
void ag_bus_free(ag_bus *b);
/* Tears down the cnats library (nats_Close, waiting up to 5 s for its internal threads) so that leak checkers
 * see a clean exit. Call once at process exit, after every ag_bus_free; no bus call may follow. */
void ag_bus_shutdown_library(void);
bool ag_bus_connected(ag_bus *b);

/* Create or update the four streams of the design. Idempotent; every service calls it at start. */
ag_status ag_bus_ensure_streams(ag_bus *b, ag_err *err);
/* Replicas of the streams ag_bus_ensure_streams creates (BUS_STREAM_REPLICAS): 1 (the default) on a single
 * server, 3 on a 3-node cluster (R3). 1..AG_BUS_MAX_STREAM_REPLICAS, else AG_E_INVAL. Call before
 * ag_bus_ensure_streams. Pick R at creation: a live WorkQueue stream rescaled R1 -> R3 stopped removing acked
 * messages (nats-server#3953). Consumers inherit the stream's replicas. */
ag_status ag_bus_set_stream_replicas(ag_bus *b, int replicas, ag_err *err);

typedef struct ag_bus_consumer_cfg {
	const char *stream;
	const char *durable;
	const char *filter;        /* one subject filter */
	int64_t ack_wait_ms;       /* redelivery after silence; keep short, heartbeat instead */
	int max_deliver;           /* > backoff_len (server 2.9 rule) */
	const int64_t *backoff_ms; /* redelivery delays after ack_wait timeouts; may be NULL */
	int backoff_len;           /* <= AG_BUS_MAX_BACKOFF */
	int max_ack_pending;       /* >= total worker threads of this consumer */
} ag_bus_consumer_cfg;

/* Create the durable pull consumer, or update it when its config differs. Idempotent. */
ag_status ag_bus_ensure_consumer(ag_bus *b, const ag_bus_consumer_cfg *cfg, ag_err *err);

/* What JetStream reports about one durable consumer (js_GetConsumerInfo), for metrics. */
typedef struct ag_bus_consumer_info {
	uint64_t pending;    /* messages in the stream for this consumer not yet delivered */
	int64_t ack_pending; /* delivered and not yet acknowledged (in flight, or awaiting redelivery) */
	int64_t redelivered; /* of those, delivered more than once */
	int64_t waiting;     /* pull requests waiting at the server */
} ag_bus_consumer_info;

/* One JetStream API round trip (up to 5 s); blocks, so never call it on an event loop. AG_E_NOTFOUND when the
 * stream or consumer does not exist. */
ag_status ag_bus_consumer_info_get(ag_bus *b, const char *stream, const char *durable, ag_bus_consumer_info *out,
                                   ag_err *err);

/* JetStream publish, waiting for the stream's ack (timeout 5 s). msg_id sets Nats-Msg-Id (may be NULL);
 * trace, when non-NULL, sets the traceparent header. A duplicate is AG_OK. */
ag_status ag_bus_publish(ag_bus *b, const char *subject, const void *data, size_t len, const char *msg_id,
                         const ag_trace *trace, ag_err *err);

/* --- consuming --- */

/* Message accessors; strings and data valid until the handler returns. */
const void *ag_bus_msg_data(const ag_bus_msg *m, size_t *len);
const char *ag_bus_msg_subject(const ag_bus_msg *m);
const char *ag_bus_msg_header(const ag_bus_msg *m, const char *key); /* NULL if absent */
uint64_t ag_bus_msg_delivered(const ag_bus_msg *m);                  /* 1 on first delivery */
int ag_bus_msg_max_deliver(const ag_bus_msg *m);                     /* the consumer's MaxDeliver */
/* Tell JetStream the work goes on (resets AckWait). Cheap; call every ack_wait/3 during long work. */
ag_status ag_bus_msg_in_progress(ag_bus_msg *m);

typedef enum {
	AG_BUS_ACK,  /* done: AckSync (retried on timeout) */
	AG_BUS_NAK,  /* redeliver after delay_ms */
	AG_BUS_TERM, /* never redeliver (poison / permanent failure already recorded) */
} ag_bus_action;

typedef struct ag_bus_verdict {
	ag_bus_action action;
	int64_t delay_ms;
} ag_bus_verdict;

/* Runs on a worker thread; must not block forever. */
typedef ag_bus_verdict (*ag_bus_handler)(ag_bus_msg *m, void *ud);

/* Bind `threads` pull subscriptions to an existing durable (never creates it) and start one thread each. */
ag_status ag_bus_worker_start(ag_bus_worker **out, ag_bus *b, const char *stream, const char *durable, int threads,
                              ag_bus_handler fn, void *ud, ag_err *err);
/* Ask threads to stop after their current message (non-blocking). */
void ag_bus_worker_stop(ag_bus_worker *w);
/* Wait for every thread to exit, up to timeout_ms; true when all exited. */
bool ag_bus_worker_join(ag_bus_worker *w, int timeout_ms);
bool ag_bus_worker_bound(ag_bus_worker *w); /* all subscriptions bound (readiness) */
int ag_bus_worker_busy(ag_bus_worker *w);   /* messages being handled right now */
void ag_bus_worker_free(ag_bus_worker *w);  /* after join; NULL ok */

/* --- request/reply (core NATS) --- */

/* Send a request and wait for the reply; *reply is malloc'd (caller free()s). AG_E_UNAVAILABLE when no
 * responder, AG_E_TIMEOUT on timeout. */
ag_status ag_bus_request(ag_bus *b, const char *subject, const void *data, size_t len, int timeout_ms, void **reply,
                         size_t *reply_len, ag_err *err);

/* Serve requests on `subject` in queue group `queue`. The callback runs on a cnats thread and sets *reply
 * (malloc'd; the bus frees it after sending). */
typedef void (*ag_bus_reply_fn)(const void *data, size_t len, void **reply, size_t *reply_len, void *ud);
ag_status ag_bus_serve(ag_bus_service **out, ag_bus *b, const char *subject, const char *queue, ag_bus_reply_fn fn,
                       void *ud, ag_err *err);
/* With `queue` NULL the subscription is a plain one: every subscriber (every replica) gets each message, and a
 * message without a reply subject (a notification, see ag_bus_notify) is handed to fn, whose reply is dropped. A
 * message with one (e.g. a JetStream publish, whose reply subject is the publisher's ack inbox) is answered only
 * when fn sets *reply, so an observer of a stream's subjects leaves *reply NULL. */

/* Publish a notification on core NATS (no JetStream, no reply) and flush it out (up to 1 s). Subscribers that
 * are not connected at that moment miss it: use it for hints ("look again"), never for work. */
ag_status ag_bus_notify(ag_bus *b, const char *subject, const void *data, size_t len, ag_err *err);
void ag_bus_service_free(ag_bus_service *s); /* unsubscribes (waits for a running callback); NULL ok */

#endif
