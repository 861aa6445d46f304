/*
 * timeouts.h - step timeouts: the orchestrator takes back an attempt that
 * stopped showing signs of life and dispatches the step again with attempt
 * + 1, which fences the old attempt (a zombie worker's late result changes
 * nothing). A step that used up its attempts this way is failed and
 * dead-lettered, and the job ends failed.
 *
 * A running step is expired when its job_steps.heartbeat_at (set by the
 * claim and by the step runner's heartbeats) is older than the step's
 * timeout; a dispatched step when nobody claimed it within the dispatch
 * timeout (its task was lost, or the backlog is that long).
 */
#ifndef ORCH_TIMEOUTS_H
#define ORCH_TIMEOUTS_H

#include "aegis/db.h"
#include "aegis/metrics.h"
#include "aegis/status.h"
#include "flow.h"
#include "intake.h"

#define TIMEOUTS_BATCH 100 /* expired steps taken per round */

typedef struct timeouts_cfg {
	long long step_timeout_ms[FLOW_STEPS]; /* running without a heartbeat this long: expired (flow order) */
	long long dispatch_timeout_ms;         /* dispatched and unclaimed this long: expired */
	long long max_attempts;                /* dispatches of a step before an expiry dead-letters it */
} timeouts_cfg;

typedef struct timeouts timeouts;

ag_status timeouts_new(timeouts **out, const timeouts_cfg *cfg, ag_metrics *metrics, ag_err *err);
void timeouts_free(timeouts *t); /* NULL ok */

/* One round on the calling thread: expire up to TIMEOUTS_BATCH steps and drive their jobs. *redriven = steps
 * redispatched, *dead = steps dead-lettered (either may be NULL). */
ag_status timeouts_round(timeouts *t, intake *in, ag_db_pool *db, int *redriven, int *dead, ag_err *err);

#endif
