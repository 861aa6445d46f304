/*
 * submit.c - record a stored file as document + job, announce it, and look
 * up what an Idempotency-Key made before (see submit.h).
 */
#include "submit.h"

#include "aegis/log.h"
#include "aegis/v1/pipeline.pb-c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Parameters per document in submit_record_many: $1 document id .. $7 storage key, then job id, traceparent and
 * Idempotency-Key; the job reuses the document's id and owner. */
#define SUBMIT_PARAMS      10
#define SUBMIT_SQL_PER_DOC 160 /* generous: both VALUES rows of one document with 4-digit parameter numbers */

/* The statement inserting n documents and their jobs: one round trip, and the jobs' foreign keys see the
 * documents inserted by the same statement. */
static char *submit_sql(int n)
{
	static const char docs[] = "WITH d AS (INSERT INTO documents (id, owner_id, filename, claimed_mime, size, "
	                           "sha256, storage_key) VALUES ";
	static const char jobs[] = ") INSERT INTO jobs (id, owner_id, document_id, state, traceparent, "
	                           "idempotency_key) VALUES ";
	size_t cap = sizeof docs + sizeof jobs + (size_t)n * SUBMIT_SQL_PER_DOC, len;
	char *sql = malloc(cap);
	if (!sql)
		return NULL;
	len = (size_t)snprintf(sql, cap, "%s", docs);
	for (int i = 0; i < n; i++) {
		int b = i * SUBMIT_PARAMS;
		len += (size_t)snprintf(sql + len, cap - len, "%s($%d, $%d, $%d, $%d, $%d, $%d, $%d)", i ? ", " : "",
		                        b + 1, b + 2, b + 3, b + 4, b + 5, b + 6, b + 7);
	}
	len += (size_t)snprintf(sql + len, cap - len, "%s", jobs);
	for (int i = 0; i < n; i++) {
		int b = i * SUBMIT_PARAMS;
		len += (size_t)snprintf(sql + len, cap - len, "%s($%d, $%d, $%d, 'queued', $%d, $%d)", i ? ", " : "",
		                        b + 8, b + 2, b + 1, b + 9, b + 10);
	}
	return sql;
}

ag_status submit_record_many(PGconn *c, const submit_doc *const *docs, int n, ag_err *err)
{
	if (n < 1 || n > SUBMIT_BATCH_LIMIT)
		return ag_err_set(err, AG_E_INVAL, "submit_record_many: %d documents (1 to %d)", n, SUBMIT_BATCH_LIMIT);
	char *sql = submit_sql(n);
	const char **p = calloc((size_t)n * SUBMIT_PARAMS, sizeof *p);
	char(*size)[24] = calloc((size_t)n, sizeof *size);
	char(*tp)[AG_TRACEPARENT_LEN + 1] = calloc((size_t)n, sizeof *tp);
	ag_status st = AG_E_NOMEM;
	if (!sql || !p || !size || !tp) {
		ag_err_set(err, st, "submit: out of memory");
		goto out;
	}
	for (int i = 0; i < n; i++) {
		const submit_doc *d = docs[i];
		const char **q = p + i * SUBMIT_PARAMS;
		snprintf(size[i], sizeof size[i], "%llu", (unsigned long long)d->size);
		ag_trace_format(d->trace, tp[i], sizeof tp[i]);
		q[0] = d->document_id;
		q[1] = d->owner;
		q[2] = d->filename;
		q[3] = d->mime && d->mime[0] ? d->mime : NULL;
		q[4] = size[i];
		q[5] = d->sha256;
		q[6] = d->key;
		q[7] = d->job_id;
		q[8] = tp[i];
		q[9] = d->idempotency_key && d->idempotency_key[0] ? d->idempotency_key : NULL;
	}
	st = ag_db_exec(c, sql, n * SUBMIT_PARAMS, p, NULL, err);
out:
	free(sql);
	free(p);
	free(size);
	free(tp);
	return st;
}

ag_status submit_record(PGconn *c, const submit_doc *d, ag_err *err)
{
	return submit_record_many(c, &d, 1, err);
}

ag_status submit_prior_find(PGconn *c, const char *owner, const char *key, submit_prior *out, ag_err *err)
{
	PGresult *res = NULL;
	const char *p[] = {owner, key};
	ag_status st = ag_db_exec(c,
	                          "SELECT j.id, j.document_id, d.sha256, d.size, d.filename FROM jobs j "
	                          "JOIN documents d ON d.id = j.document_id "
	                          "WHERE j.owner_id = $1 AND j.idempotency_key = $2",
	                          2, p, &res, err);
	if (st != AG_OK)
		return st;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return ag_err_set(err, AG_E_NOTFOUND, "no job with this idempotency key");
	}
	snprintf(out->job_id, sizeof out->job_id, "%s", PQgetvalue(res, 0, 0));
	snprintf(out->document_id, sizeof out->document_id, "%s", PQgetvalue(res, 0, 1));
	snprintf(out->sha256, sizeof out->sha256, "%s", PQgetvalue(res, 0, 2));
	out->size = strtoull(PQgetvalue(res, 0, 3), NULL, 10);
	snprintf(out->filename, sizeof out->filename, "%s", PQgetvalue(res, 0, 4));
	PQclear(res);
	return AG_OK;
}

#define SUBMIT_IDEM_TRIES 3 /* a reservation may vanish between our two queries; look again this often */

ag_status submit_idem_reserve(PGconn *c, const char *owner, const char *key, const char *holder, long long lease_s,
                              submit_idem *out, ag_err *err)
{
	char lease[24];
	PGresult *res = NULL;
	ag_status st;
	snprintf(lease, sizeof lease, "%lld", lease_s);
	const char *p[] = {owner, key, holder, lease};
	*out = (submit_idem){.state = SUBMIT_IDEM_IN_USE, .retry_after = 1};
	for (int i = 0; i < SUBMIT_IDEM_TRIES; i++) {
		/* free, or its holder's lease ran out (a gateway died holding it): ours */
		st = ag_db_exec(c,
		                "INSERT INTO idempotency_keys (owner_id, key, holder, lease_until) "
		                "VALUES ($1, $2, $3, now() + make_interval(secs => $4)) "
		                "ON CONFLICT (owner_id, key) DO UPDATE SET holder = EXCLUDED.holder, "
		                "lease_until = EXCLUDED.lease_until, created_at = now() "
		                "WHERE idempotency_keys.job_id IS NULL AND idempotency_keys.lease_until < now() "
		                "RETURNING holder",
		                4, p, &res, err);
		if (st != AG_OK)
			return st;
		int held = PQntuples(res);
		PQclear(res);
		if (held == 1) {
			out->state = SUBMIT_IDEM_HELD;
			return AG_OK;
		}
		st = ag_db_exec(c,
		                "SELECT job_id IS NOT NULL, "
		                "COALESCE(ceil(extract(epoch FROM lease_until - now()))::bigint, 1) "
		                "FROM idempotency_keys WHERE owner_id = $1 AND key = $2",
		                2, p, &res, err);
		if (st != AG_OK)
			return st;
		if (PQntuples(res) != 1) { /* released meanwhile: try to take it again */
			PQclear(res);
			continue;
		}
		bool done = PQgetvalue(res, 0, 0)[0] == 't';
		long long left = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
		PQclear(res);
		if (!done) {
			out->retry_after = left < 1 ? 1 : left;
			return AG_OK;
		}
		st = submit_prior_find(c, owner, key, &out->prior, err);
		if (st == AG_E_NOTFOUND) /* the job went (deleted) after our look: try again */
			continue;
		if (st == AG_OK)
			out->state = SUBMIT_IDEM_DONE;
		return st;
	}
	return AG_OK; /* IN_USE, retry after 1 s: the key is changing hands quickly */
}

/* UPDATE/DELETE of our own reservation; AG_E_CONFLICT when no row matched. */
static ag_status submit_idem_own(PGconn *c, const char *sql, int n, const char *const *p, ag_err *err)
{
	PGresult *res = NULL;
	ag_status st = ag_db_exec(c, sql, n, p, &res, err);
	if (st != AG_OK)
		return st;
	if (strcmp(PQcmdTuples(res), "1") != 0)
		st = ag_err_set(err, AG_E_CONFLICT, "the Idempotency-Key reservation was taken over");
	PQclear(res);
	return st;
}

ag_status submit_idem_renew(PGconn *c, const char *owner, const char *key, const char *holder, long long lease_s,
                            ag_err *err)
{
	char lease[24];
	snprintf(lease, sizeof lease, "%lld", lease_s);
	const char *p[] = {owner, key, holder, lease};
	return submit_idem_own(c,
	                       "UPDATE idempotency_keys SET lease_until = now() + make_interval(secs => $4) "
	                       "WHERE owner_id = $1 AND key = $2 AND holder = $3 AND job_id IS NULL",
	                       4, p, err);
}

ag_status submit_idem_link(PGconn *c, const char *owner, const char *key, const char *holder, ag_err *err)
{
	const char *p[] = {owner, key, holder};
	return submit_idem_own(c,
	                       "UPDATE idempotency_keys SET job_id = $3, lease_until = NULL "
	                       "WHERE owner_id = $1 AND key = $2 AND holder = $3 AND job_id IS NULL",
	                       3, p, err);
}

ag_status submit_idem_release(PGconn *c, const char *owner, const char *key, const char *holder, ag_err *err)
{
	const char *p[] = {owner, key, holder};
	ag_status st = submit_idem_own(c,
	                               "DELETE FROM idempotency_keys "
	                               "WHERE owner_id = $1 AND key = $2 AND holder = $3 AND job_id IS NULL",
	                               3, p, err);
	if (st == AG_E_CONFLICT) /* taken over after it ran out: nothing of ours left */
		st = AG_OK;
	return st;
}

void submit_publish(gateway *gw, const submit_doc *d)
{
	Aegis__V1__DocumentRef doc = AEGIS__V1__DOCUMENT_REF__INIT;
	Aegis__V1__JobSubmitted msg = AEGIS__V1__JOB_SUBMITTED__INIT;
	char tp[AG_TRACEPARENT_LEN + 1];
	struct timespec now;
	uint8_t *buf = NULL;
	size_t len;
	ag_err err;
	ag_status st = AG_E_NOMEM;

	ag_trace_format(d->trace, tp, sizeof tp);
	clock_gettime(CLOCK_REALTIME, &now);
	doc.document_id = (char *)d->document_id;
	doc.owner_id = (char *)d->owner;
	doc.storage_key = (char *)d->key;
	doc.filename = (char *)d->filename;
	doc.claimed_mime = (char *)(d->mime ? d->mime : "");
	doc.size = d->size;
	doc.sha256 = (char *)d->sha256;
	msg.job_id = (char *)d->job_id;
	msg.document = &doc;
	msg.traceparent = tp;
	msg.submitted_at_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
	ag_err_clear(&err);
	len = aegis__v1__job_submitted__get_packed_size(&msg);
	buf = malloc(len ? len : 1);
	if (buf) {
		aegis__v1__job_submitted__pack(&msg, buf);
		st = ag_bus_publish(gw->bus, AG_SUBJ_JOB_SUBMITTED, buf, len, d->job_id, d->trace, &err);
	}
	if (st != AG_OK)
		ag_log_warn("job %s recorded but not announced (%s); the orchestrator's sweeper will pick it up",
		            d->job_id, err.msg[0] ? err.msg : ag_status_str(st));
	free(buf);
}

bool submit_idem_key_valid(const char *key, size_t max, char *why, size_t whysz)
{
	size_t n = strnlen(key, max + 1);
	if (n == 0 || n > max) {
		snprintf(why, whysz, "Idempotency-Key must be 1 to %zu characters", max);
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		if (key[i] < 0x21 || key[i] > 0x7e) {
			snprintf(why, whysz, "Idempotency-Key may hold only visible ASCII characters");
			return false;
		}
	}
	return true;
}
