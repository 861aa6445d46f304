/*
 * service.h - the life of an Aegis process, so each main.c reads like its
 * specification: flags -> config -> log -> metrics -> storage -> db
 * (+ migrations) -> bus (+ streams) -> HTTP (/healthz, /readyz, /metrics) ->
 * run -> drain on SIGTERM/SIGINT -> exit 0.
 *
 * Flags: --help, --check-config (prints "configuration OK" or every problem,
 * exit 0/2), --version, --healthcheck [/path] (GET /readyz or the path from
 * the running service on HTTP_PORT: exit 0 on 200, else 1; see
 * healthcheck.h), --migrate (apply the migrations, retrying while PostgreSQL
 * is unreachable, then exit 0, or 1 on failure).
 *
 * /healthz answers 200 while the process runs (no dependency checks).
 * /readyz answers 200 only when NATS is connected, PostgreSQL answers, and
 * every registered check passes; otherwise 503 with the reasons, and always
 * 503 once draining has begun.
 *
 * Drain: stop intake (drain hooks), close the HTTP server gracefully, wait
 * until every "drained" hook says so or SHUTDOWN_GRACE_MS passed, then return
 * from ag_service_run with 0 after SIGTERM/SIGINT. A service with
 * AG_NEEDS_SANDBOX whose sandbox helper died drains the same way on its own
 * and returns 1, so that its supervisor starts a fresh process (/readyz says
 * why meanwhile).
 */
#ifndef AEGIS_SERVICE_H
#define AEGIS_SERVICE_H

#include "aegis/bus.h"
#include "aegis/cfg.h"
#include "aegis/db.h"
#include "aegis/http.h"
#include "aegis/metrics.h"
#include "aegis/status.h"
#include "aegis/storage.h"

#include <stdio.h>
#include <uv.h>

typedef struct ag_service ag_service;

enum {
	AG_NEEDS_DB = 1 << 0,
	AG_NEEDS_BUS = 1 << 1,
	AG_NEEDS_STORAGE = 1 << 2,
	AG_NEEDS_SANDBOX = 1 << 3, /* runs parsers in aegis/sandbox.h children: starts the helper before any thread */
};

typedef struct ag_service_spec {
	const char *name;         /* "validate"; also the log "service" field */
	const ag_cfg_item *items; /* the service's whole config table (common items included) */
	size_t nitems;
	void *cfg;                         /* the struct the table fills; freed by ag_service_free */
	ag_common_cfg *common;             /* &cfg->common */
	unsigned needs;                    /* AG_NEEDS_* */
	const ag_http_limits *http_limits; /* NULL = defaults */
	/* Rules that span items (optional): print each problem to `report`, return how many. Runs at start and
	 * for --check-config, after every item passed its own checks. */
	int (*check)(const void *cfg, FILE *report);
} ag_service_spec;

/*
 * Start everything the spec needs. When a flag was handled or the config is
 * invalid, returns non-OK with *exit_code set (0 after --help/--check-config
 * success, 2 for bad config, 1 for start-up failure) and *out NULL: main()
 * returns *exit_code.
 */
ag_status ag_service_start(ag_service **out, const ag_service_spec *spec, int argc, char **argv, int *exit_code);

uv_loop_t *ag_service_loop(ag_service *s);
ag_http_server *ag_service_http(ag_service *s);
ag_metrics *ag_service_metrics(ag_service *s);
ag_db_pool *ag_service_db(ag_service *s);      /* NULL without AG_NEEDS_DB */
ag_bus *ag_service_bus(ag_service *s);         /* NULL without AG_NEEDS_BUS */
ag_storage *ag_service_storage(ag_service *s); /* NULL without AG_NEEDS_STORAGE */
const char *ag_service_name(const ag_service *s);
const char *ag_service_instance(const ag_service *s); /* "host:pid", for job_steps.worker */
bool ag_service_draining(const ag_service *s);

/* A readiness condition; fills `why` (short, no secrets) when false. Runs on the loop thread: must not block. */
typedef bool (*ag_ready_fn)(void *ud, char *why, size_t whylen);
void ag_service_ready_check(ag_service *s, ag_ready_fn fn, void *ud);

/* `begin` runs once on the loop thread when draining starts (stop intake; must not block). `drained` is
 * polled on the loop thread until it returns true (in-flight work finished). Either may be NULL. */
void ag_service_on_drain(ag_service *s, void (*begin)(void *ud), bool (*drained)(void *ud), void *ud);

/* Run until SIGTERM/SIGINT (or a lost sandbox helper) and the drain completes; returns the process exit code:
 * 0 after a signal, 1 after a drain the service started itself. */
int ag_service_run(ag_service *s);
void ag_service_free(ag_service *s); /* NULL ok; also frees the config strings */
/*
 * For a caller whose own threads (bus workers, a sweeper) did not stop after the drain and its join
 * timeout: they still use the DB pool, the NATS connection and the cnats library, so ag_service_free would
 * free them under the threads (a use-after-free, or cnats' silent abort() on a destroyed lock: exit 134).
 * Logs why and ends the process with _exit(code) without freeing anything; unacknowledged messages are
 * redelivered to another instance. Never returns.
 */
_Noreturn void ag_service_abandon(ag_service *s, int code);

#endif
