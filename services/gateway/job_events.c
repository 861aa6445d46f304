/*
 * job_events.c - publishing the job_events rows a gateway action committed
 * (job_events.h). The rows are read back rather than rebuilt from the
 * action's variables so the message carries exactly what was stored (state,
 * step, error, timestamp) - the same JobEvent the orchestrator publishes.
 */
#include "job_events.h"

#include "aegis/log.h"
#include "aegis/str.h"
#include "aegis/v1/pipeline.pb-c.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JOB_EVENTS_SUBJECT_MAX 96 /* aegis.events.<uuid> */
#define JOB_EVENTS_MSG_ID_MAX  96 /* ev:<uuid>:<id> */

static const struct {
	const char *name;
	Aegis__V1__Step id;
} job_events_steps[] = {
        {"validate", AEGIS__V1__STEP__STEP_VALIDATE},
        {"metadata", AEGIS__V1__STEP__STEP_METADATA},
        {"content", AEGIS__V1__STEP__STEP_CONTENT},
        {"ai", AEGIS__V1__STEP__STEP_AI},
};

bool job_events_note(char *ids, size_t idslen, const char *id)
{
	char tmp[JOB_EVENTS_IDS_MAX];
	size_t n = strlen(ids); /* "" or "{...}" */
	int w = n == 0 ? snprintf(tmp, sizeof tmp, "{%s}", id)
	               : snprintf(tmp, sizeof tmp, "%.*s,%s}", (int)(n - 1), ids, id);
	if (w < 0 || (size_t)w >= sizeof tmp || (size_t)w >= idslen)
		return false;
	memcpy(ids, tmp, (size_t)w + 1);
	return true;
}

static Aegis__V1__Step job_events_step(const char *name)
{
	for (size_t i = 0; i < sizeof job_events_steps / sizeof job_events_steps[0]; i++)
		if (strcmp(name, job_events_steps[i].name) == 0)
			return job_events_steps[i].id;
	return AEGIS__V1__STEP__STEP_UNSPECIFIED;
}

void job_events_publish(ag_bus *bus, PGconn *conn, const char *job, const char *ids, const ag_trace *tr)
{
	static const char sql[] = "SELECT id, job_state, coalesce(step, ''), coalesce(step_state, ''), "
	                          "coalesce(error, ''), (extract(epoch FROM at) * 1000)::bigint FROM job_events "
	                          "WHERE job_id = $1 AND id = ANY($2::bigint[]) ORDER BY id";
	char subject[JOB_EVENTS_SUBJECT_MAX], msg_id[JOB_EVENTS_MSG_ID_MAX];
	PGresult *r = NULL;
	uint8_t *buf = NULL;
	ag_err err;
	ag_err_clear(&err);
	if (!ids || !ids[0])
		return;
	const char *p[] = {job, ids};
	ag_status st = ag_db_exec(conn, sql, 2, p, &r, &err);
	snprintf(subject, sizeof subject, "%s%s", AG_SUBJ_EVENTS_PREFIX, job);
	for (int i = 0; st == AG_OK && i < PQntuples(r); i++) {
		Aegis__V1__JobEvent ev = AEGIS__V1__JOB_EVENT__INIT;
		ev.job_id = (char *)job;
		ev.seq = ag_str_to_i64(PQgetvalue(r, i, 0), 0);
		ev.job_state = PQgetvalue(r, i, 1);
		ev.step = job_events_step(PQgetvalue(r, i, 2));
		ev.step_state = PQgetvalue(r, i, 3);
		ev.error = PQgetvalue(r, i, 4);
		ev.at_ms = ag_str_to_i64(PQgetvalue(r, i, 5), 0);
		size_t len = aegis__v1__job_event__get_packed_size(&ev);
		buf = malloc(len ? len : 1);
		if (!buf) {
			st = ag_err_set(&err, AG_E_NOMEM, "no memory for a job event");
			break;
		}
		aegis__v1__job_event__pack(&ev, buf);
		snprintf(msg_id, sizeof msg_id, "ev:%s:%" PRId64, job, ev.seq);
		st = ag_bus_publish(bus, subject, buf, len, msg_id, tr, &err);
		free(buf);
		buf = NULL;
	}
	if (st != AG_OK)
		ag_log_warn("job %s: events %s committed but not published (%s); they stay readable from the job's "
		            "event history",
		            job, ids, err.msg[0] ? err.msg : ag_status_str(st));
	PQclear(r);
}
