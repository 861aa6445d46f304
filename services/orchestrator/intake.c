/*
 * intake.c - the orchestrator's message handlers (intake.h): decode a job
 * submission or a step result strictly, advance the job in PostgreSQL
 * (flow.c), publish what the committed transition asks for, then ack.
 *
 * The orchestrator decides from PostgreSQL, never from message contents: a
 * result only says "look at this job again". So redeliveries, duplicates
 * and results arriving out of order are all harmless.
 */
#include "intake.h"

#include "aegis/limits.h"
#include "aegis/log.h"
#include "aegis/str.h"
#include "aegis/trace.h"
#include "flow.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INTAKE_DB_ACQUIRE_MS 10000 /* wait for a pooled connection before NAKing */
#define INTAKE_NAK_BASE_MS   1000  /* redelivery delay after a failure: 1 s x 2^(n-1) */
#define INTAKE_NAK_CAP_MS    30000
#define INTAKE_SUBJECT_MAX   96 /* aegis.events.<uuid> */
#define INTAKE_MSG_ID_MAX    96 /* "<uuid>:<step>:<attempt>" / "ev:<uuid>:<id>" */
#define INTAKE_MEMBERS_MAX   64 /* "job_id":"<uuid>" */

enum intake_kind { INTAKE_SUBMITTED, INTAKE_RESULTS, INTAKE_KINDS };
enum intake_outcome {
	INTAKE_ADVANCED,
	INTAKE_UNKNOWN_JOB,
	INTAKE_MALFORMED,
	INTAKE_ERROR,
	INTAKE_RETRY,
	INTAKE_OUTCOMES
};

static const char *const intake_kind_names[INTAKE_KINDS] = {"submitted", "results"};
static const char *const intake_outcome_names[INTAKE_OUTCOMES] = {"advanced", "unknown_job", "malformed", "error",
                                                                  "retry"};
static const char *const intake_final_states[] = {"succeeded", "failed", "rejected"};
#define INTAKE_FINALS (sizeof intake_final_states / sizeof intake_final_states[0])

struct intake {
	ag_bus *bus;
	ag_db_pool *db;
	ag_counter *messages[INTAKE_KINDS][INTAKE_OUTCOMES];
	ag_counter *dispatched[FLOW_STEPS];
	ag_counter *finished[INTAKE_FINALS];
};

ag_status intake_new(intake **out, ag_bus *bus, ag_db_pool *db, ag_metrics *metrics, ag_err *err)
{
	*out = NULL;
	intake *in = calloc(1, sizeof *in);
	if (!in)
		return ag_err_set(err, AG_E_NOMEM, "no memory for the intake");
	in->bus = bus;
	in->db = db;
	char labels[128];
	for (int k = 0; k < INTAKE_KINDS; k++) {
		for (int o = 0; o < INTAKE_OUTCOMES; o++) {
			snprintf(labels, sizeof labels, "consumer=\"%s\",outcome=\"%s\"", intake_kind_names[k],
			         intake_outcome_names[o]);
			in->messages[k][o] =
			        ag_metrics_counter(metrics, "aegis_orchestrator_messages_total",
			                           "Messages handled by the orchestrator, by outcome", labels);
		}
	}
	for (int i = 0; i < FLOW_STEPS; i++) {
		snprintf(labels, sizeof labels, "step=\"%s\"", flow_step_names[i]);
		in->dispatched[i] = ag_metrics_counter(metrics, "aegis_steps_dispatched_total",
		                                       "Step dispatches (attempts)", labels);
	}
	for (size_t i = 0; i < INTAKE_FINALS; i++) {
		snprintf(labels, sizeof labels, "state=\"%s\"", intake_final_states[i]);
		in->finished[i] =
		        ag_metrics_counter(metrics, "aegis_jobs_finished_total", "Jobs ended, by state", labels);
	}
	*out = in;
	return AG_OK;
}

void intake_free(intake *in)
{
	free(in);
}

static int64_t intake_nak_ms(const ag_bus_msg *m)
{
	int64_t d = INTAKE_NAK_BASE_MS;
	for (uint64_t i = 1; i < ag_bus_msg_delivered(m) && d < INTAKE_NAK_CAP_MS; i++)
		d *= 2;
	return d > INTAKE_NAK_CAP_MS ? INTAKE_NAK_CAP_MS : d;
}

/* Count what the committed transition did (dispatches and job endings), and log it. */
static void intake_note(intake *in, const flow_plan *plan, const char *members)
{
	for (size_t i = 0; i < plan->nevents; i++) {
		const flow_event *e = &plan->events[i];
		if (e->step && strcmp(e->step_state, "dispatched") == 0) {
			for (int s = 0; s < FLOW_STEPS; s++)
				if (strcmp(e->step, flow_step_names[s]) == 0)
					ag_counter_inc(in->dispatched[s]);
			if (ag_log_enabled(AG_LOG_INFO))
				ag_log_writex(AG_LOG_INFO, members, "step %s dispatched", e->step);
		} else if (!e->step) {
			for (size_t f = 0; f < INTAKE_FINALS; f++)
				if (strcmp(e->job_state, intake_final_states[f]) == 0)
					ag_counter_inc(in->finished[f]);
			if (ag_log_enabled(AG_LOG_INFO))
				ag_log_writex(AG_LOG_INFO, members, "job %s%s%s", e->job_state, e->error ? ": " : "",
				              e->error ? e->error : "");
		}
	}
}

static ag_status intake_publish(intake *in, const flow_plan *plan, ag_err *err)
{
	char subject[INTAKE_SUBJECT_MAX], msg_id[INTAKE_MSG_ID_MAX], tp[AG_TRACEPARENT_LEN + 1];
	uint8_t *buf = NULL;
	size_t len = 0;
	ag_status st = AG_OK;

	/* Tasks continue the job's trace (the gateway's request) with a span of their own. */
	ag_trace parent, span;
	if (!ag_trace_parse(plan->traceparent, &parent))
		ag_trace_new(&parent);
	ag_trace_child(&parent, &span);
	ag_trace_format(&span, tp, sizeof tp);

	for (size_t i = 0; i < plan->ntasks; i++) {
		const flow_task *t = &plan->tasks[i];
		st = flow_task_encode(plan, i, tp, &buf, &len, err);
		if (st != AG_OK)
			goto out;
		snprintf(subject, sizeof subject, "%s%s", AG_SUBJ_TASKS_PREFIX, t->step);
		snprintf(msg_id, sizeof msg_id, "%s:%s:%" PRIu32, plan->job_id, t->step, t->attempt);
		st = ag_bus_publish(in->bus, subject, buf, len, msg_id, &span, err);
		if (st != AG_OK)
			goto out;
		free(buf);
		buf = NULL;
	}
	snprintf(subject, sizeof subject, "%s%s", AG_SUBJ_EVENTS_PREFIX, plan->job_id);
	for (size_t i = 0; i < plan->nevents; i++) {
		st = flow_event_encode(plan, i, &buf, &len, err);
		if (st != AG_OK)
			goto out;
		snprintf(msg_id, sizeof msg_id, "ev:%s:%" PRId64, plan->job_id, plan->events[i].id);
		st = ag_bus_publish(in->bus, subject, buf, len, msg_id, &span, err);
		if (st != AG_OK)
			goto out;
		free(buf);
		buf = NULL;
	}
out:
	free(buf);
	return st;
}

ag_status intake_publish_event(intake *in, const char *job_id, const flow_event *ev, ag_err *err)
{
	static flow_plan zero;
	flow_plan plan = zero;
	ag_str_copy(plan.job_id, sizeof plan.job_id, job_id);
	plan.traceparent = (char *)""; /* a trace of its own: the job's request is long gone */
	plan.events[0] = *ev;
	plan.nevents = 1;
	return intake_publish(in, &plan, err); /* not flow_plan_free: nothing in it is ours */
}

ag_status intake_drive(intake *in, const char *job_id, ag_err *err)
{
	bool advanced = false;
	return intake_drive_ex(in, job_id, &advanced, err);
}

ag_status intake_drive_ex(intake *in, const char *job_id, bool *advanced, ag_err *err)
{
	PGconn *c = NULL;
	flow_plan plan;
	char members[INTAKE_MEMBERS_MAX];
	memset(&plan, 0, sizeof plan);

	*advanced = false;
	ag_status st = ag_db_acquire(in->db, &c, INTAKE_DB_ACQUIRE_MS, err);
	if (st != AG_OK)
		goto out;
	st = flow_advance(c, job_id, &plan, err);
	ag_db_release(in->db, c);
	if (st != AG_OK)
		goto out;
	snprintf(members, sizeof members, "\"job_id\":\"%s\"", plan.job_id);
	*advanced = plan.nevents > 0;
	intake_note(in, &plan, members);
	st = intake_publish(in, &plan, err);
out:
	flow_plan_free(&plan);
	return st;
}

/* Drive the job and turn the status into a verdict. */
static ag_bus_verdict intake_verdict(intake *in, ag_bus_msg *m, enum intake_kind kind, const char *job_id)
{
	ag_err err;
	ag_err_clear(&err);
	char members[INTAKE_MEMBERS_MAX];
	snprintf(members, sizeof members, "\"job_id\":\"%s\"", job_id);
	ag_status st = intake_drive(in, job_id, &err);
	if (st == AG_OK) {
		ag_counter_inc(in->messages[kind][INTAKE_ADVANCED]);
		return (ag_bus_verdict){AG_BUS_ACK, 0};
	}
	if (st == AG_E_NOTFOUND) {
		ag_log_writex(AG_LOG_WARN, members, "%s message for a job that does not exist; terminated",
		              intake_kind_names[kind]);
		ag_counter_inc(in->messages[kind][INTAKE_UNKNOWN_JOB]);
		return (ag_bus_verdict){AG_BUS_TERM, 0};
	}
	if (!ag_status_transient(st)) {
		ag_log_writex(AG_LOG_ERROR, members, "cannot advance the job: %s; terminated", err.msg);
		ag_counter_inc(in->messages[kind][INTAKE_ERROR]);
		return (ag_bus_verdict){AG_BUS_TERM, 0};
	}
	int64_t delay = intake_nak_ms(m);
	ag_log_writex(AG_LOG_WARN, members, "cannot advance the job now: %s; retry in %" PRId64 " ms", err.msg, delay);
	ag_counter_inc(in->messages[kind][INTAKE_RETRY]);
	return (ag_bus_verdict){AG_BUS_NAK, delay};
}

static const uint8_t *intake_data(ag_bus_msg *m, size_t *len)
{
	const void *d = ag_bus_msg_data(m, len);
	return *len <= AG_BUS_MAX_MSG_BYTES ? d : NULL;
}

ag_bus_verdict intake_on_submitted(ag_bus_msg *m, void *ud)
{
	intake *in = ud;
	size_t len = 0;
	const uint8_t *data = intake_data(m, &len);
	Aegis__V1__JobSubmitted *js = data ? aegis__v1__job_submitted__unpack(NULL, len, data) : NULL;
	ag_bus_verdict v = {AG_BUS_TERM, 0};
	if (!js || !flow_uuid_valid(js->job_id)) {
		ag_log_error("invalid job submission on %s (%zu bytes%s); terminated", ag_bus_msg_subject(m), len,
		             js ? ", bad job id" : ", not a JobSubmitted");
		ag_counter_inc(in->messages[INTAKE_SUBMITTED][INTAKE_MALFORMED]);
		goto out;
	}
	v = intake_verdict(in, m, INTAKE_SUBMITTED, js->job_id);
out:
	if (js)
		aegis__v1__job_submitted__free_unpacked(js, NULL);
	return v;
}

ag_bus_verdict intake_on_result(ag_bus_msg *m, void *ud)
{
	intake *in = ud;
	size_t len = 0;
	const uint8_t *data = intake_data(m, &len);
	Aegis__V1__StepResult *r = data ? aegis__v1__step_result__unpack(NULL, len, data) : NULL;
	ag_bus_verdict v = {AG_BUS_TERM, 0};
	if (!r || !flow_uuid_valid(r->job_id) || !flow_step_name(r->step) || r->attempt == 0 ||
	    r->outcome == AEGIS__V1__STEP_OUTCOME__OUTCOME_UNSPECIFIED) {
		ag_log_error("invalid step result on %s (%zu bytes%s); terminated", ag_bus_msg_subject(m), len,
		             r ? ", bad job id, step, attempt or outcome" : ", not a StepResult");
		ag_counter_inc(in->messages[INTAKE_RESULTS][INTAKE_MALFORMED]);
		goto out;
	}
	/* The subject names the step too; a mismatch means a confused producer. */
	char want[INTAKE_SUBJECT_MAX];
	snprintf(want, sizeof want, "%s%s", AG_SUBJ_RESULTS_PREFIX, flow_step_name(r->step));
	if (strcmp(want, ag_bus_msg_subject(m)) != 0) {
		ag_log_error("step result for %s arrived on %s; terminated", flow_step_name(r->step),
		             ag_bus_msg_subject(m));
		ag_counter_inc(in->messages[INTAKE_RESULTS][INTAKE_MALFORMED]);
		goto out;
	}
	v = intake_verdict(in, m, INTAKE_RESULTS, r->job_id);
out:
	if (r)
		aegis__v1__step_result__free_unpacked(r, NULL);
	return v;
}
