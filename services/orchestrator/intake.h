/*
 * intake.h - the orchestrator's two message handlers: a job submission
 * (aegis.jobs.submitted) and a step result (aegis.results.<step>) both just
 * name a job to advance. Each decodes strictly, runs flow_advance in
 * PostgreSQL, publishes the plan (StepTasks, then JobEvents) and only then
 * acks; a publish failure NAKs with a delay and the redelivery republishes
 * from the committed state.
 */
#ifndef ORCH_INTAKE_H
#define ORCH_INTAKE_H

#include "aegis/bus.h"
#include "aegis/db.h"
#include "aegis/metrics.h"
#include "flow.h"
#include "aegis/status.h"

#include <stdbool.h>

typedef struct intake intake;

/* `bus`, `db` and `metrics` are borrowed and must outlive the intake. */
ag_status intake_new(intake **out, ag_bus *bus, ag_db_pool *db, ag_metrics *metrics, ag_err *err);
void intake_free(intake *in); /* after the workers using it were joined; NULL ok */

/*
 * Advance job `job_id` and publish its plan: what both handlers (and the sweeper) do. AG_E_NOTFOUND for an
 * unknown job; a transient status when PostgreSQL or NATS failed (the state that was committed stays, and a
 * later call republishes the same message ids). Blocks: worker threads only.
 */
ag_status intake_drive(intake *in, const char *job_id, ag_err *err);
/* intake_drive that also tells whether the call moved the job (wrote a transition) rather than only
 * republishing the tasks of steps already dispatched. */
ag_status intake_drive_ex(intake *in, const char *job_id, bool *advanced, ag_err *err);

/* Publish one committed job_events row of job `job_id` (written outside flow_advance, e.g. by a step
 * timeout) on aegis.events.<job> with message id ev:<job>:<id>, as intake_drive does for its own. */
ag_status intake_publish_event(intake *in, const char *job_id, const flow_event *ev, ag_err *err);

/* ag_bus_handler for the "orchestrator-submitted" consumer; ud = intake. */
ag_bus_verdict intake_on_submitted(ag_bus_msg *m, void *ud);
/* ag_bus_handler for the "orchestrator-results" consumer; ud = intake. */
ag_bus_verdict intake_on_result(ag_bus_msg *m, void *ud);

#endif
