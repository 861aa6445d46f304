/*
 * flow.h - the job state machine of the orchestrator, on PostgreSQL alone.
 *
 * flow_advance looks at one job's rows (jobs, job_steps) under the job's
 * row lock and moves it on: creates the four step rows, dispatches the
 * steps whose inputs are ready (validate; then metadata and content; ai
 * after content), or ends the job (succeeded, or rejected/failed with the
 * error of the step that ended it). Every transition writes a job_events
 * row in the same transaction.
 *
 * It never talks to NATS: it returns a plan of what to publish after the
 * commit - a StepTask for every step that is in state 'dispatched' (new
 * ones, and older ones whose publish may have been lost; their message ids
 * job:step:attempt make the copies harmless) and a JobEvent for every
 * job_events row it inserted.
 */
#ifndef ORCH_FLOW_H
#define ORCH_FLOW_H

#include "aegis/status.h"
#include "aegis/v1/pipeline.pb-c.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FLOW_STEPS      4  /* validate, metadata, content, ai */
#define FLOW_MAX_EVENTS 16 /* job_events rows one call can write: at most 1 + 4 + 1 */
#define FLOW_STATE_MAX  16 /* longest state name + NUL */
#define FLOW_ID_MAX     37 /* canonical uuid + NUL */

/* Step names in flow order; index = position in flow_plan arrays. */
extern const char *const flow_step_names[FLOW_STEPS];
/* "validate" -> AEGIS__V1__STEP__STEP_VALIDATE; STEP_UNSPECIFIED when unknown. */
Aegis__V1__Step flow_step_id(const char *name);
/* AEGIS__V1__STEP__STEP_AI -> "ai"; NULL when unknown. */
const char *flow_step_name(Aegis__V1__Step step);
/* true for a canonical 8-4-4-4-12 hex uuid. */
bool flow_uuid_valid(const char *s);

/*
 * The pure decision from the job's step states (index as flow_step_names).
 * Either `finish` names the job's final state ("succeeded", "failed",
 * "rejected") with `cause` the index of the step that ended it (-1 for
 * succeeded), or `dispatch[i]` marks the pending steps to dispatch now.
 */
typedef struct flow_decision {
	const char *finish;
	int cause;
	bool dispatch[FLOW_STEPS];
} flow_decision;
void flow_decide(const char *const states[FLOW_STEPS], flow_decision *out);

typedef struct flow_task {
	const char *step; /* static name */
	uint32_t attempt;
	int64_t dispatched_at_ms;
} flow_task;

typedef struct flow_event {
	int64_t id; /* job_events.id */
	char job_state[FLOW_STATE_MAX];
	const char *step; /* static name; NULL for a job-level event */
	char step_state[FLOW_STATE_MAX];
	char *error; /* malloc'd; NULL when none */
	int64_t at_ms;
} flow_event;

/* What to publish after the commit. Strings are malloc'd and freed by flow_plan_free. */
typedef struct flow_plan {
	char job_id[FLOW_ID_MAX];
	char job_state[FLOW_STATE_MAX]; /* after the call */
	char *traceparent;              /* the job's, "" when none */
	/* the DocumentRef of the job */
	char *document_id, *owner_id, *storage_key, *filename, *claimed_mime, *sha256;
	uint64_t size;
	flow_task tasks[FLOW_STEPS];
	size_t ntasks;
	flow_event events[FLOW_MAX_EVENTS];
	size_t nevents;
} flow_plan;

/*
 * Advance job `job_id` in one transaction on `c` (which must not be inside
 * one). AG_E_NOTFOUND when the job does not exist; a terminal job gives an
 * empty plan. On any error the transaction is rolled back and `plan` is
 * empty. Free the plan with flow_plan_free in every case.
 */
ag_status flow_advance(PGconn *c, const char *job_id, flow_plan *plan, ag_err *err);
void flow_plan_free(flow_plan *plan);

/* The StepTask / JobEvent of plan->tasks[i] / plan->events[i], packed; *buf is malloc'd (caller free()s). */
ag_status flow_task_encode(const flow_plan *plan, size_t i, const char *traceparent, uint8_t **buf, size_t *len,
                           ag_err *err);
ag_status flow_event_encode(const flow_plan *plan, size_t i, uint8_t **buf, size_t *len, ag_err *err);

#endif
