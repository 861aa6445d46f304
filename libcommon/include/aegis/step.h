/*
 * step.h - the step runner: everything a pipeline worker does around its
 * handler, so validate, extract-metadata, extract-content and ai-worker are
 * each mostly one function.
 *
 * For every message on aegis.tasks.<step> (durable consumer <step>):
 *   1. decode StepTask strictly (bad protobuf or wrong step -> TERM + log);
 *   2. claim the step in PostgreSQL for this attempt (the fencing token): a
 *      stale attempt or a cancelled job is acked without effect; an attempt
 *      that already finished republishes its recorded result and acks;
 *   3. run the handler; it may read the file (ag_step_local_path), heartbeat,
 *      and write its effects through ag_step_tx;
 *   4. in that same transaction record the outcome, fenced on the attempt;
 *      COMMIT; publish StepResult (Nats-Msg-Id job:step:attempt); AckSync.
 *
 * Outcomes: handler returns AG_OK -> succeeded; AG_E_REJECTED -> rejected
 * (job ends rejected); any other permanent status -> failed; a transient
 * status -> NAK with exponential backoff and jitter, and on the last
 * allowed delivery -> failed with a dead_letters row. The handler's partial
 * writes are rolled back on every non-OK outcome.
 */
#ifndef AEGIS_STEP_H
#define AEGIS_STEP_H

#include "aegis/cfg.h"
#include "aegis/limits.h"
#include "aegis/metrics.h"
#include "aegis/service.h"
#include "aegis/status.h"
#include "aegis/storage.h"
#include "aegis/v1/pipeline.pb-c.h"

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ag_step_ctx ag_step_ctx;
typedef struct ag_step_worker ag_step_worker;

typedef ag_status (*ag_step_fn)(ag_step_ctx *ctx, void *ud);

typedef struct ag_step_def {
	const char *name; /* "validate" | "metadata" | "content" | "ai" */
	Aegis__V1__Step step;
	ag_step_fn handler;
	void *ud;
	int threads;         /* concurrent tasks in this process */
	int64_t ack_wait_ms; /* heartbeat at a third of it */
	int max_deliver;     /* deliveries before the step is failed and dead-lettered */
	int crash_limit;     /* deliveries of one attempt that ended without an outcome (the worker died) before
	                        the input is taken as the cause and the step fails permanently; 0 = no limit */
} ag_step_def;

/* Settings every pipeline worker reads: embed `ag_step_cfg step;` in the worker's config struct and put
 * AG_STEP_CFG_ITEMS(T, "files validated") in its table (the text completes "... concurrently by this process"). */
typedef struct ag_step_cfg {
	long long threads;
	long long ack_wait_ms;
	long long max_deliver;
	long long crash_limit;
} ag_step_cfg;

#define AG_STEP_CFG_ITEMS(T, what)                                                                            \
	{"WORKER_THREADS",   AG_CFG_INT, offsetof(T, step.threads),           "2", false, 1,                  \
	 AG_BUS_MAX_THREADS, false,      what " concurrently by this process"},                               \
	        {"STEP_ACK_WAIT_MS",                                                                          \
	         AG_CFG_INT,                                                                                  \
	         offsetof(T, step.ack_wait_ms),                                                               \
	         "30000",                                                                                     \
	         false,                                                                                       \
	         1000,                                                                                        \
	         600000,                                                                                      \
	         false,                                                                                       \
	         "redelivery of a task after this much silence (heartbeats keep long work alive)"},           \
	        {"STEP_MAX_DELIVER",                                                                          \
	         AG_CFG_INT,                                                                                  \
	         offsetof(T, step.max_deliver),                                                               \
	         "5",                                                                                         \
	         false,                                                                                       \
	         1,                                                                                           \
	         100,                                                                                         \
	         false,                                                                                       \
	         "deliveries of a task before the step is failed and dead-lettered"},                         \
	{                                                                                                     \
		"STEP_CRASH_LIMIT", AG_CFG_INT, offsetof(T, step.crash_limit), "3", false, 0, 100, false,     \
		        "deliveries of one attempt that ended with the worker gone (crash, kill) before the " \
		        "input is blamed and the step fails permanently (0 = never)"                          \
	}

/* A pipeline worker process from start to exit (see ag_step_main). */
typedef struct ag_step_app {
	ag_service_spec spec; /* DB, bus and storage are added to `needs`; set AG_NEEDS_SANDBOX there if wanted */
	const ag_step_cfg *step_cfg; /* points inside spec.cfg */
	const char *name;            /* step name, as in ag_step_def */
	Aegis__V1__Step step;
	ag_step_fn handler;
	void *ud;                                 /* handed to handler, init and fini */
	ag_status (*init)(void *ud, ag_err *err); /* after config and dependencies are up; NULL = none */
	void (*fini)(void *ud);                   /* after the worker stopped, whenever init ran; NULL = none */
} ag_step_app;

/* Start the service, run init, start the step worker, serve until SIGTERM has drained, free everything.
 * Returns the process exit code, so a worker's main() is `return ag_step_main(&app, argc, argv);`. */
int ag_step_main(const ag_step_app *app, int argc, char **argv);

/* Ensure the consumer, bind, start threads; registers readiness and drain with the service. */
ag_status ag_step_worker_start(ag_step_worker **out, ag_service *svc, const ag_step_def *def, ag_err *err);
void ag_step_worker_free(ag_step_worker *w); /* after ag_service_run returned; NULL ok */
/* Stop fetching and wait (30 s) for the worker's threads: false when a handler is still running, and then
 * neither the worker nor the service may be freed (ag_service_abandon). NULL ok (true). */
bool ag_step_worker_join(ag_step_worker *w);

/* --- for handlers --- */
const Aegis__V1__StepTask *ag_step_task(const ag_step_ctx *ctx);
const Aegis__V1__DocumentRef *ag_step_doc(const ag_step_ctx *ctx);
ag_storage *ag_step_storage(ag_step_ctx *ctx);
ag_metrics *ag_step_metrics(ag_step_ctx *ctx);
/* How many times this task's message has been delivered (1 on the first delivery; NAKed retries count up). */
uint64_t ag_step_delivered(const ag_step_ctx *ctx);
/* A local path to the uploaded file, valid until the handler returns. */
ag_status ag_step_local_path(ag_step_ctx *ctx, const char **path, ag_err *err);
/* The connection of the step's transaction (BEGIN on first call). Do not COMMIT or ROLLBACK it yourself. */
ag_status ag_step_tx(ag_step_ctx *ctx, PGconn **conn, ag_err *err);
/* Keep the message alive during long work; throttled, cheap to call often. Also records the heartbeat in
 * job_steps.heartbeat_at (the orchestrator's step timeout counts from it). */
void ag_step_heartbeat(ag_step_ctx *ctx);
/* true once a heartbeat found the attempt taken away (job cancelled, or the attempt timed out and was
 * redispatched): the handler may stop early; whatever it returns will not be recorded. */
bool ag_step_lost(const ag_step_ctx *ctx);
/* Record why the step did not succeed: a machine-readable reason code ("type_not_allowed") and a sentence
 * for people. Returns `code`, so handlers write `return ag_step_fail(ctx, AG_E_REJECTED, "…", "…");`. */
ag_status ag_step_fail(ag_step_ctx *ctx, ag_status code, const char *reason_code, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

#endif
