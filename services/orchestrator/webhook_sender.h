/*
 * webhook_sender.h - the orchestrator's webhook sender: one thread that
 * claims due rows of webhook_deliveries (FOR UPDATE SKIP LOCKED, so
 * replicas share the work), POSTs each signed notification with libcurl
 * and records the attempt: delivered on a 2xx answer, otherwise retried
 * with exponential backoff and jitter until max_attempts, then failed.
 */
#ifndef ORCH_WEBHOOK_SENDER_H
#define ORCH_WEBHOOK_SENDER_H

#include "aegis/db.h"
#include "aegis/metrics.h"
#include "aegis/status.h"

#include <stdbool.h>

#define WEBHOOK_BATCH          16        /* deliveries claimed per round */
#define WEBHOOK_RESPONSE_MAX   1024      /* bytes of a receiver's answer kept (for last_error); the rest is dropped */
#define WEBHOOK_BODY_MAX       2048      /* the notification JSON */
#define WEBHOOK_BACKOFF_CAP_MS 3600000LL /* longest wait between two attempts */

typedef struct webhook_sender_cfg {
	long long poll_ms;      /* look for due deliveries this often */
	long long timeout_ms;   /* whole request, connect included */
	long long backoff_ms;   /* wait after the first failed attempt; doubles each time */
	long long max_attempts; /* then the delivery is failed */
	bool allow_private;     /* may connect to loopback/private addresses */
} webhook_sender_cfg;

typedef struct webhook_sender webhook_sender;

/* Starts the thread. `db` and `metrics` are borrowed and must outlive webhook_sender_free. */
ag_status webhook_sender_start(webhook_sender **out, const webhook_sender_cfg *cfg, ag_db_pool *db, ag_metrics *metrics,
                               ag_err *err);
/* Drain hooks (ag_service_on_drain): stop after the current request; true once the thread has exited. */
void webhook_sender_drain_begin(void *ud);
bool webhook_sender_drained(void *ud);
/* Stops and waits up to timeout_ms; false when the thread is still running (then nothing was freed). */
bool webhook_sender_stop(webhook_sender *s, int timeout_ms);
void webhook_sender_free(webhook_sender *s); /* after webhook_sender_stop returned true; NULL ok */

/* One round on the calling thread (tests): claims and sends what is due; *sent = deliveries attempted. */
ag_status webhook_sender_round(webhook_sender *s, int *sent, ag_err *err);

#endif
