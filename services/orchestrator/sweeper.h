/*
 * sweeper.h - the orchestrator's safety net: every interval it claims a
 * batch of queued/running jobs that have not changed for a while and drives
 * each again (intake_drive). That dispatches a job whose submission was
 * never published (the gateway committed, then died), follows up results
 * that were committed but never acted on, and republishes tasks the bus
 * lost; their message ids keep the copies harmless. It also runs the step
 * timeouts (timeouts.h). Several
 * orchestrator replicas share the work (FOR UPDATE SKIP LOCKED).
 */
#ifndef ORCH_SWEEPER_H
#define ORCH_SWEEPER_H

#include "aegis/db.h"
#include "aegis/status.h"
#include "intake.h"
#include "timeouts.h"

#include <stdbool.h>

#define SWEEPER_BATCH 100 /* jobs claimed per round */

typedef struct sweeper sweeper;

/* Start the sweeper thread: each round expires timed-out steps (`to`, may be NULL: none) and drives stuck jobs,
 * counting every remediation in aegis_sweeper_remediations_total. `in`, `db`, `to` and `metrics` are borrowed
 * and must outlive it. */
ag_status sweeper_start(sweeper **out, intake *in, ag_db_pool *db, timeouts *to, ag_metrics *metrics,
                        long long interval_ms, long long stuck_after_ms, ag_err *err);
/* One round, on the calling thread: claim up to SWEEPER_BATCH stuck jobs and drive them; *driven = how many
 * were driven successfully (may be NULL). Exposed for tests. */
ag_status sweeper_round(intake *in, ag_db_pool *db, long long stuck_after_ms, int *driven, ag_err *err);
/* Drain hooks (ud = the sweeper): ask the thread to stop; true once it exited. Never block. */
void sweeper_drain_begin(void *ud);
bool sweeper_drained(void *ud);
/* Stop, join and free. NULL ok. */
void sweeper_free(sweeper *s);
/* Stop and wait up to timeout_ms for the thread: false when a round is still running (a dependency hangs);
 * then the sweeper must not be freed. NULL ok (true). */
bool sweeper_stop(sweeper *s, int timeout_ms);

#endif
