/*
 * main.c - the orchestrator: the durable workflow of every upload.
 *
 * Consumes job submissions (AEGIS_JOBS, durable "orchestrator-submitted")
 * and step results (AEGIS_RESULTS, durable "orchestrator-results"); for
 * each it advances the job's state machine in PostgreSQL (flow.c) and
 * publishes the step tasks and progress events that transition asks for
 * (intake.c). A sweeper (sweeper.c) drives jobs that stopped moving, so a
 * submission that was never published or a task lost by the bus does not
 * strand a job, and takes back step attempts that stopped heartbeating
 * (timeouts.c).
 */
#include "aegis/bus.h"
#include "aegis/log.h"
#include "aegis/service.h"
#include "gauges.h"
#include "intake.h"
#include "sweeper.h"
#include "timeouts.h"
#include "webhook_sender.h"

#include <stddef.h>
#include <stdio.h>

#define ORCH_MAX_DELIVER     10
#define ORCH_MAX_ACK_PENDING 256
#define ORCH_JOIN_MS         30000 /* after the run: how long the threads get to stop */

typedef struct orch_cfg {
	ag_common_cfg common;
	long long threads;
	long long sweep_interval_ms;
	long long stuck_after_ms;
	long long ack_wait_ms;
	long long step_timeout_ms[FLOW_STEPS];
	long long dispatch_timeout_ms;
	long long max_attempts;
	long long webhook_poll_ms;
	long long webhook_timeout_ms;
	long long webhook_backoff_ms;
	long long webhook_max_attempts;
	bool webhook_allow_private;
	long long gauge_interval_ms;
} orch_cfg;

static const ag_cfg_item orch_items[] = {
        AG_CFG_COMMON_ITEMS(orch_cfg, "9000"),
        {"ORCH_THREADS", AG_CFG_INT, offsetof(orch_cfg, threads), "4", false, 1, 64, false,
         "worker threads per consumer (submissions, results)"},
        {"ORCH_SWEEP_INTERVAL_MS", AG_CFG_INT, offsetof(orch_cfg, sweep_interval_ms), "30000", false, 0, 3600000, false,
         "how often the sweeper looks for jobs that stopped moving (0 = off)"},
        {"ORCH_STUCK_AFTER_MS", AG_CFG_INT, offsetof(orch_cfg, stuck_after_ms), "120000", false, 1000, 86400000, false,
         "a queued or running job unchanged this long is driven again by the sweeper"},
        {"ORCH_ACK_WAIT_MS", AG_CFG_INT, offsetof(orch_cfg, ack_wait_ms), "30000", false, 1000, 600000, false,
         "redelivery of a submission or result the orchestrator did not acknowledge within this time"},
        {"ORCH_TIMEOUT_VALIDATE_MS", AG_CFG_INT, offsetof(orch_cfg, step_timeout_ms[0]), "600000", false, 1000,
         86400000, false, "a running validate step with no heartbeat this long is dispatched again (attempt + 1)"},
        {"ORCH_TIMEOUT_METADATA_MS", AG_CFG_INT, offsetof(orch_cfg, step_timeout_ms[1]), "600000", false, 1000,
         86400000, false, "a running metadata step with no heartbeat this long is dispatched again (attempt + 1)"},
        {"ORCH_TIMEOUT_CONTENT_MS", AG_CFG_INT, offsetof(orch_cfg, step_timeout_ms[2]), "900000", false, 1000, 86400000,
         false, "a running content step with no heartbeat this long is dispatched again (attempt + 1)"},
        {"ORCH_TIMEOUT_AI_MS", AG_CFG_INT, offsetof(orch_cfg, step_timeout_ms[3]), "900000", false, 1000, 86400000,
         false, "a running ai step with no heartbeat this long is dispatched again (attempt + 1)"},
        {"ORCH_DISPATCH_TIMEOUT_MS", AG_CFG_INT, offsetof(orch_cfg, dispatch_timeout_ms), "1800000", false, 1000,
         604800000, false, "a dispatched step no worker claimed this long is dispatched again (attempt + 1)"},
        {"ORCH_MAX_ATTEMPTS", AG_CFG_INT, offsetof(orch_cfg, max_attempts), "5", false, 1, 100, false,
         "attempts of a step; when the last one times out the step is failed and dead-lettered"},
        {"WEBHOOK_POLL_MS", AG_CFG_INT, offsetof(orch_cfg, webhook_poll_ms), "1000", false, 0, 600000, false,
         "how often the webhook sender looks for due deliveries (0 = this replica sends none)"},
        {"WEBHOOK_TIMEOUT_MS", AG_CFG_INT, offsetof(orch_cfg, webhook_timeout_ms), "10000", false, 100, 120000, false,
         "a webhook request (connect, send, answer) taking longer fails that attempt"},
        {"WEBHOOK_BACKOFF_MS", AG_CFG_INT, offsetof(orch_cfg, webhook_backoff_ms), "10000", false, 100, 3600000, false,
         "wait after a webhook's first failed attempt; doubles with each attempt (+-20 % jitter, 1 h cap)"},
        {"WEBHOOK_MAX_ATTEMPTS", AG_CFG_INT, offsetof(orch_cfg, webhook_max_attempts), "8", false, 1, 50, false,
         "attempts of a webhook delivery before it is marked failed"},
        {"WEBHOOK_ALLOW_PRIVATE", AG_CFG_BOOL, offsetof(orch_cfg, webhook_allow_private), "false", false, 0, 0, false,
         "let webhooks connect to loopback or private addresses (tests, trusted networks only)"},
        {"ORCH_GAUGE_INTERVAL_MS", AG_CFG_INT, offsetof(orch_cfg, gauge_interval_ms), "15000", false, 0, 3600000, false,
         "how often the aegis_jobs and aegis_bus_consumer_* gauges are refreshed (one GROUP BY over jobs; 0 = off)"},
};

typedef struct orch_consumer {
	const char *stream, *durable, *filter;
	ag_bus_handler fn;
	ag_bus_worker *worker;
} orch_consumer;

static orch_consumer orch_consumers[] = {
        {AG_STREAM_JOBS, "orchestrator-submitted", AG_SUBJ_JOB_SUBMITTED, intake_on_submitted, NULL},
        {AG_STREAM_RESULTS, "orchestrator-results", AG_SUBJ_RESULTS_PREFIX ">", intake_on_result, NULL},
};
#define ORCH_CONSUMERS (sizeof orch_consumers / sizeof orch_consumers[0])

static ag_status orch_consume(ag_service *svc, intake *in, int threads, int64_t ack_wait_ms, orch_consumer *c,
                              ag_err *err)
{
	const int64_t backoff[] = {ack_wait_ms, 2 * ack_wait_ms, 4 * ack_wait_ms};
	ag_bus_consumer_cfg cc = {
	        .stream = c->stream,
	        .durable = c->durable,
	        .filter = c->filter,
	        .ack_wait_ms = ack_wait_ms,
	        .max_deliver = ORCH_MAX_DELIVER,
	        .backoff_ms = backoff,
	        .backoff_len = (int)(sizeof backoff / sizeof backoff[0]),
	        .max_ack_pending = ORCH_MAX_ACK_PENDING,
	};
	ag_status st = ag_bus_ensure_consumer(ag_service_bus(svc), &cc, err);
	if (st != AG_OK)
		return st;
	return ag_bus_worker_start(&c->worker, ag_service_bus(svc), c->stream, c->durable, threads, c->fn, in, err);
}

static bool orch_ready(void *ud, char *why, size_t whylen)
{
	orch_consumer *c = ud;
	if (ag_bus_worker_bound(c->worker))
		return true;
	snprintf(why, whylen, "consumer %s not bound", c->durable);
	return false;
}

static void orch_drain_begin(void *ud)
{
	orch_consumer *c = ud;
	ag_bus_worker_stop(c->worker);
}

static bool orch_drained(void *ud)
{
	orch_consumer *c = ud;
	return ag_bus_worker_busy(c->worker) == 0 && ag_bus_worker_join(c->worker, 0);
}

int main(int argc, char **argv)
{
	static orch_cfg cfg;
	ag_service_spec spec = {
	        .name = "orchestrator",
	        .items = orch_items,
	        .nitems = sizeof orch_items / sizeof orch_items[0],
	        .cfg = &cfg,
	        .common = &cfg.common,
	        .needs = AG_NEEDS_DB | AG_NEEDS_BUS,
	};
	ag_service *svc = NULL;
	intake *in = NULL;
	sweeper *sw = NULL;
	timeouts *to = NULL;
	webhook_sender *ws = NULL;
	gauges *gg = NULL;
	ag_err err;
	ag_err_clear(&err);
	int code = 1;
	if (ag_service_start(&svc, &spec, argc, argv, &code) != AG_OK)
		return code;
	code = 1;

	if (intake_new(&in, ag_service_bus(svc), ag_service_db(svc), ag_service_metrics(svc), &err) != AG_OK)
		goto out;
	for (size_t i = 0; i < ORCH_CONSUMERS; i++) {
		if (orch_consume(svc, in, (int)cfg.threads, cfg.ack_wait_ms, &orch_consumers[i], &err) != AG_OK)
			goto out;
		ag_service_ready_check(svc, orch_ready, &orch_consumers[i]);
		ag_service_on_drain(svc, orch_drain_begin, orch_drained, &orch_consumers[i]);
	}
	if (cfg.sweep_interval_ms > 0) {
		timeouts_cfg tc = {.dispatch_timeout_ms = cfg.dispatch_timeout_ms, .max_attempts = cfg.max_attempts};
		for (int i = 0; i < FLOW_STEPS; i++)
			tc.step_timeout_ms[i] = cfg.step_timeout_ms[i];
		if (timeouts_new(&to, &tc, ag_service_metrics(svc), &err) != AG_OK ||
		    sweeper_start(&sw, in, ag_service_db(svc), to, ag_service_metrics(svc), cfg.sweep_interval_ms,
		                  cfg.stuck_after_ms, &err) != AG_OK)
			goto out;
		ag_service_on_drain(svc, sweeper_drain_begin, sweeper_drained, sw);
	}
	if (cfg.webhook_poll_ms > 0) {
		webhook_sender_cfg wc = {.poll_ms = cfg.webhook_poll_ms,
		                         .timeout_ms = cfg.webhook_timeout_ms,
		                         .backoff_ms = cfg.webhook_backoff_ms,
		                         .max_attempts = cfg.webhook_max_attempts,
		                         .allow_private = cfg.webhook_allow_private};
		if (webhook_sender_start(&ws, &wc, ag_service_db(svc), ag_service_metrics(svc), &err) != AG_OK)
			goto out;
		ag_service_on_drain(svc, webhook_sender_drain_begin, webhook_sender_drained, ws);
	}
	if (cfg.gauge_interval_ms > 0) {
		gauges_consumer watch[ORCH_CONSUMERS + FLOW_STEPS];
		size_t nwatch = 0;
		for (size_t i = 0; i < ORCH_CONSUMERS; i++)
			watch[nwatch++] = (gauges_consumer){orch_consumers[i].stream, orch_consumers[i].durable};
		for (int i = 0; i < FLOW_STEPS; i++) /* the step workers' durables are named after their step */
			watch[nwatch++] = (gauges_consumer){AG_STREAM_TASKS, flow_step_names[i]};
		if (gauges_new(&gg, ag_service_db(svc), ag_service_bus(svc), ag_service_metrics(svc), watch, nwatch,
		               &err) != AG_OK ||
		    gauges_start(gg, cfg.gauge_interval_ms, &err) != AG_OK)
			goto out;
		ag_service_on_drain(svc, gauges_drain_begin, gauges_drained, gg);
	}
	code = ag_service_run(svc);

out:
	if (code != 0 && err.code != AG_OK)
		ag_log_error("orchestrator: %s", err.msg);
	/* Stop everything first, then wait: a thread still inside a handler uses the intake, the DB pool and the
	 * NATS connection, and freeing those under it crashes (cnats abort()s on a destroyed lock: exit 134). */
	for (size_t i = 0; i < ORCH_CONSUMERS; i++)
		ag_bus_worker_stop(orch_consumers[i].worker);
	if (!sweeper_stop(sw, ORCH_JOIN_MS)) {
		ag_log_error("orchestrator: the sweeper did not stop within %d ms", ORCH_JOIN_MS);
		ag_service_abandon(svc, code);
	}
	sweeper_free(sw);
	timeouts_free(to);
	if (!webhook_sender_stop(ws, ORCH_JOIN_MS)) {
		ag_log_error("orchestrator: the webhook sender did not stop within %d ms", ORCH_JOIN_MS);
		ag_service_abandon(svc, code);
	}
	webhook_sender_free(ws);
	if (!gauges_stop(gg, ORCH_JOIN_MS)) {
		ag_log_error("orchestrator: the gauges thread did not stop within %d ms", ORCH_JOIN_MS);
		ag_service_abandon(svc, code);
	}
	gauges_free(gg);
	for (size_t i = 0; i < ORCH_CONSUMERS; i++) {
		if (!ag_bus_worker_join(orch_consumers[i].worker, ORCH_JOIN_MS)) {
			ag_log_error("orchestrator: consumer %s threads did not stop within %d ms",
			             orch_consumers[i].durable, ORCH_JOIN_MS);
			ag_service_abandon(svc, code);
		}
		ag_bus_worker_free(orch_consumers[i].worker);
	}
	intake_free(in);
	ag_service_free(svc);
	return code;
}
