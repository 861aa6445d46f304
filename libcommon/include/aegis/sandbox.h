/*
 * sandbox.h - running a parser on hostile bytes in a child process, so a
 * crash, a runaway allocation or an endless loop costs one step, never the
 * worker (the Tika lesson).
 *
 * Each run happens in a child that sets RLIMIT_AS (memory), RLIMIT_CPU and
 * RLIMIT_CORE=0, dies with its parent (PR_SET_PDEATHSIG), runs the given
 * function with the input file and a FILE * on a pipe, and _exit()s with its
 * return value. The worker reads the pipe up to max_output bytes under a
 * wall-clock deadline, kills the child when either is exceeded and reports
 * one outcome.
 *
 * Children are not forked from the worker itself. A worker has threads
 * (NATS, the database pool, step threads), and a fork copies only the
 * calling thread: any lock another thread held at that moment stays locked
 * in the child for ever. glibc's malloc guards against this, but other
 * allocators do not (AddressSanitizer's in Debian's gcc 12 is one: a child
 * hung in malloc for the whole parser timeout, about one run in five). So
 * ag_sandbox_start forks a small helper process while the worker is still
 * single-threaded; every run sends it a request over a socket (the input
 * file and the output pipe travel as file descriptors) and the helper forks
 * a monitor, which forks the child, waits for it and reports how it ended.
 * Helper and monitor never start threads, so their forks are always safe.
 *
 * What this means for callers: the argument is copied byte for byte into the
 * child (at most AG_SANDBOX_MAX_ARG bytes) and the child is a copy of the
 * worker as it was when ag_sandbox_start ran (after configuration was loaded,
 * before threads). Pointers in the argument may only point to memory that
 * existed then and has not changed since: the loaded configuration, string
 * literals, functions. Anything else (a MIME type, per-run numbers) goes
 * into the argument by value. The child must not log, use the bus, the
 * database or libmagic.
 *
 * Under AddressSanitizer the memory limit is not applied (ASan reserves
 * terabytes of address space); CPU and wall-clock limits still are.
 */
#ifndef AEGIS_SANDBOX_H
#define AEGIS_SANDBOX_H

#include "aegis/cfg.h"
#include "aegis/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define AG_SANDBOX_EXIT_NOMEM 86 /* what a child function returns when it ran out of memory */
#define AG_SANDBOX_EXIT_FAIL  1  /* what it returns for a parse error it wrote about (see ag_sandbox_outcome) */

typedef enum {
	AG_SANDBOX_OK,      /* the function returned 0; out holds what it wrote */
	AG_SANDBOX_FAILED,  /* it returned another code (exit_code); out holds what it wrote */
	AG_SANDBOX_CRASHED, /* killed by a signal (signal): SIGSEGV, SIGABRT, ... */
	AG_SANDBOX_OOM,     /* returned AG_SANDBOX_EXIT_NOMEM, or was killed by the kernel's OOM killer */
	AG_SANDBOX_TIMEOUT, /* over the CPU limit (SIGXCPU) or the wall-clock deadline (killed) */
	AG_SANDBOX_TOOBIG,  /* wrote more than max_output bytes (killed) */
} ag_sandbox_outcome;

typedef struct ag_sandbox_limits {
	long long memory_bytes; /* RLIMIT_AS of the child; 0 = no limit */
	long long cpu_seconds;  /* RLIMIT_CPU of the child; 0 = no limit */
	long long timeout_ms;   /* wall clock, from fork to exit; must be > 0 */
	size_t max_output;      /* bytes read back from the child; must be > 0 */
} ag_sandbox_limits;

#define AG_SANDBOX_MAX_ARG 4096 /* bytes of argument a run may carry */

/* Runs in the child: `arg` is the child's copy of the argument, `fd` the input file (-1 when the run has none).
 * Write results to `out` (it is flushed and closed for you); return 0, AG_SANDBOX_EXIT_FAIL,
 * AG_SANDBOX_EXIT_NOMEM or another small code. */
typedef int (*ag_sandbox_fn)(void *arg, int fd, FILE *out);

/* One run: the function, its argument (copied; see the top of this file) and the input file. */
typedef struct ag_sandbox_call {
	ag_sandbox_fn fn;
	const void *arg;
	size_t arg_size; /* at most AG_SANDBOX_MAX_ARG */
	int fd;          /* handed to the child; -1 = none */
} ag_sandbox_call;

typedef struct ag_sandbox_result {
	ag_sandbox_outcome outcome;
	int exit_code; /* AG_SANDBOX_OK/FAILED/OOM: the function's return value */
	int signal;    /* CRASHED/OOM/TIMEOUT/TOOBIG: the signal that ended the child, 0 if none */
	char *out;     /* what the child wrote (up to max_output), NUL-terminated, malloc'd; ag_sandbox_result_free */
	size_t len;
} ag_sandbox_result;

/* Start the helper process. Call it before the process starts any thread (ag_service_start does, for services
 * with AG_NEEDS_SANDBOX). A program that never calls it gets the helper on its first run, which is right only for
 * a single-threaded program (tests). */
ag_status ag_sandbox_start(ag_err *err);
/* Stop the helper and reap it (runs still under way fail). Safe to call when it was never started. */
void ag_sandbox_stop(void);
/* The helper was started and has not exited (a readiness check: without it every run fails until a restart). */
bool ag_sandbox_alive(void);

/* Run call->fn in a child under `lim`. `progress` (may be NULL) is called in the caller about every second
 * while waiting, so a step can heartbeat. Thread-safe. Returns AG_OK whenever the child ran, whatever its
 * outcome (see res->outcome); AG_E_UNAVAILABLE when no child can be started, AG_E_NOMEM when the output cannot
 * be held, AG_E_INVAL for an argument over AG_SANDBOX_MAX_ARG. */
ag_status ag_sandbox_run(const ag_sandbox_limits *lim, const ag_sandbox_call *call, void (*progress)(void *ud),
                         void *ud, ag_sandbox_result *res, ag_err *err);
void ag_sandbox_result_free(ag_sandbox_result *r); /* NULL ok; zeroes it */

/* "ok", "failed", "crashed", "out_of_memory", "timeout", "output_too_big" (stable: used in reason codes). */
const char *ag_sandbox_outcome_name(ag_sandbox_outcome o);

/* Settings every worker that parses files reads: embed `ag_sandbox_cfg parser;` in the service's config struct and
 * put AG_SANDBOX_CFG_ITEMS(T) in its table. */
typedef struct ag_sandbox_cfg {
	long long memory_mb;
	long long cpu_seconds;
	long long timeout_ms;
	long long retries;
} ag_sandbox_cfg;

#define AG_SANDBOX_CFG_ITEMS(T)                                                                                \
	{"PARSER_MEMORY_MB",                                                                                   \
	 AG_CFG_INT,                                                                                           \
	 offsetof(T, parser.memory_mb),                                                                        \
	 "1024",                                                                                               \
	 false,                                                                                                \
	 16,                                                                                                   \
	 65536,                                                                                                \
	 false,                                                                                                \
	 "address-space limit of a parser child process, in MiB"},                                             \
	        {"PARSER_CPU_SECONDS",                                                                         \
	         AG_CFG_INT,                                                                                   \
	         offsetof(T, parser.cpu_seconds),                                                              \
	         "60",                                                                                         \
	         false,                                                                                        \
	         1,                                                                                            \
	         3600,                                                                                         \
	         false,                                                                                        \
	         "CPU-time limit of a parser child process, in seconds"},                                      \
	        {"PARSER_TIMEOUT_MS",                                                                          \
	         AG_CFG_INT,                                                                                   \
	         offsetof(T, parser.timeout_ms),                                                               \
	         "120000",                                                                                     \
	         false,                                                                                        \
	         100,                                                                                          \
	         3600000,                                                                                      \
	         false,                                                                                        \
	         "wall-clock limit of a parser child process, in milliseconds"},                               \
	{                                                                                                      \
		"PARSER_RETRIES", AG_CFG_INT, offsetof(T, parser.retries), "1", false, 0, 10, false,           \
		        "attempts retried after a parser crash, OOM or timeout before the step fails for good" \
	}

/* The limits of a sandbox_cfg with the given output ceiling. */
ag_sandbox_limits ag_sandbox_limits_of(const ag_sandbox_cfg *c, size_t max_output);

/* For a child that crashed, ran out of memory, timed out or flooded its output: the status a step returns.
 * Transient (AG_E_INTERNAL: the task is retried) while `attempt` (1-based delivery or attempt number) is at most
 * `retries`, permanent (AG_E_UNSUPPORTED) after, so a file that kills its parser fails for good on a repeat. */
ag_status ag_sandbox_verdict(const ag_sandbox_result *r, unsigned long long attempt, long long retries);

#endif
