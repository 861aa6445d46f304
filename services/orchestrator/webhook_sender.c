/*
 * webhook_sender.c - sending webhook notifications (webhook_sender.h).
 *
 * A round claims due deliveries by moving their next_at past the request
 * timeout in one statement (a lease: SKIP LOCKED keeps replicas apart, and
 * a sender that dies mid-request leaves rows that become due again), then
 * POSTs each outside any transaction and records the outcome. A delivery
 * is therefore at-least-once: receivers deduplicate on Aegis-Delivery.
 */
#include "webhook_sender.h"

#include "bgwait.h"

#include "aegis/log.h"
#include "aegis/str.h"
#include "aegis/webhook.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WEBHOOK_DB_ACQUIRE_MS 10000
#define WEBHOOK_NUM_MAX       24
#define WEBHOOK_HEADER_MAX    192
#define WEBHOOK_ERROR_MAX     300

enum { WH_DELIVERED, WH_RETRY, WH_FAILED, WH_OUTCOMES };
static const char *const webhook_outcome_names[WH_OUTCOMES] = {"delivered", "retry", "failed"};

struct webhook_sender {
	webhook_sender_cfg cfg;
	ag_db_pool *db;
	ag_counter *attempts[WH_OUTCOMES];
	pthread_t tid;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t cond; /* CLOCK_MONOTONIC; signalled on stop and on exit */
	atomic_bool stop;
	atomic_bool exited;
	unsigned int seed; /* jitter; this thread only */
	bool refused;      /* the current request's address was refused by webhook_open_socket */
};

typedef struct webhook_resp {
	char buf[WEBHOOK_RESPONSE_MAX + 1];
	size_t len;
	bool truncated;
} webhook_resp;

static size_t webhook_write(char *data, size_t size, size_t n, void *ud)
{
	webhook_resp *r = ud;
	size_t len = size * n, room = WEBHOOK_RESPONSE_MAX - r->len;
	if (len > room) {
		r->truncated = true; /* stop reading: a receiver does not get to stream us megabytes */
		memcpy(r->buf + r->len, data, room);
		r->len += room;
		return 0;
	}
	memcpy(r->buf + r->len, data, len);
	r->len += len;
	return len;
}

/* Refuse, at connect time, addresses a webhook may not call (the name may resolve differently now than at
 * registration). */
static curl_socket_t webhook_open_socket(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
	webhook_sender *s = ud;
	if (!s->cfg.allow_private && ag_webhook_addr_private(&a->addr)) {
		s->refused = true;
		return CURL_SOCKET_BAD;
	}
	return socket(a->family, a->socktype, a->protocol);
}

/* POST body to url; *code = HTTP status (0 when none); err text on failure. true when delivered (2xx). */
static bool webhook_post(webhook_sender *s, const char *url, const char *secret, const char *event,
                         const char *delivery, const char *body, long *code, char *error, size_t errlen)
{
	char h_sig[WEBHOOK_HEADER_MAX], sig[AG_WEBHOOK_SIGNATURE_MAX], h_event[WEBHOOK_HEADER_MAX],
	        h_delivery[WEBHOOK_HEADER_MAX], curl_err[CURL_ERROR_SIZE] = "";
	webhook_resp resp = {.len = 0};
	struct curl_slist *hdrs = NULL, *tmp;
	bool ok = false;
	*code = 0;
	error[0] = 0;

	ag_webhook_sign(secret, (int64_t)time(NULL), body, strlen(body), sig);
	snprintf(h_sig, sizeof h_sig, "Aegis-Signature: %s", sig);
	snprintf(h_event, sizeof h_event, "Aegis-Event: %s", event);
	snprintf(h_delivery, sizeof h_delivery, "Aegis-Delivery: %s", delivery);
	const char *lines[] = {"Content-Type: application/json",
	                       "User-Agent: aegis-webhooks/1",
	                       "Expect:",
	                       h_sig,
	                       h_event,
	                       h_delivery};
	for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
		tmp = curl_slist_append(hdrs, lines[i]);
		if (!tmp) {
			ag_str_copy(error, errlen, "out of memory");
			goto out;
		}
		hdrs = tmp;
	}
	CURL *h = curl_easy_init();
	if (!h) {
		ag_str_copy(error, errlen, "curl_easy_init failed");
		goto out;
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)s->cfg.timeout_ms);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)s->cfg.timeout_ms);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, webhook_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &resp);
	curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, webhook_open_socket);
	curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, s);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curl_err);
	s->refused = false;
	CURLcode rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, code);
	curl_easy_cleanup(h);
	bool answered = rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && resp.truncated);
	if (answered && *code >= 200 && *code < 300) {
		ok = true;
	} else if (answered) {
		resp.buf[resp.len] = 0;
		snprintf(error, errlen, "HTTP %ld: %.200s", *code, resp.buf);
	} else if (s->refused) {
		ag_str_copy(error, errlen,
		            "the host resolves to a loopback or private address, which webhooks may not call");
	} else {
		snprintf(error, errlen, "%s%s%s", curl_easy_strerror(rc), curl_err[0] ? ": " : "", curl_err);
	}
out:
	curl_slist_free_all(hdrs);
	return ok;
}

/* The notification; NULL when out of memory. Caller frees. */
static char *webhook_body(const PGresult *r, int i)
{
	/* columns: 0 id, 1 job, 2 event, 3 attempts, 4 url, 5 secret, 6 state, 7 document, 8 error_code, 9 error,
	 * 10 finished_at, 11 created_at */
	json_t *data = json_pack("{s:s, s:s, s:s}", "job_id", PQgetvalue(r, i, 1), "document_id", PQgetvalue(r, i, 7),
	                         "state", PQgetvalue(r, i, 6));
	if (!data)
		return NULL;
	if (!PQgetisnull(r, i, 8))
		json_object_set_new(data, "error_code", json_string(PQgetvalue(r, i, 8)));
	if (!PQgetisnull(r, i, 9))
		json_object_set_new(data, "error", json_string(PQgetvalue(r, i, 9)));
	if (!PQgetisnull(r, i, 10))
		json_object_set_new(data, "finished_at", json_string(PQgetvalue(r, i, 10)));
	json_t *o = json_pack("{s:I, s:s, s:s, s:o}", "id", (json_int_t)ag_str_to_i64(PQgetvalue(r, i, 0), 0), "event",
	                      PQgetvalue(r, i, 2), "created_at", PQgetvalue(r, i, 11), "data", data);
	char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (text && strlen(text) > WEBHOOK_BODY_MAX) {
		free(text);
		return NULL;
	}
	return text;
}

static long long webhook_backoff_ms(webhook_sender *s, long long attempts)
{
	long long d = s->cfg.backoff_ms;
	for (long long i = 1; i < attempts && d < WEBHOOK_BACKOFF_CAP_MS; i++)
		d *= 2;
	if (d > WEBHOOK_BACKOFF_CAP_MS)
		d = WEBHOOK_BACKOFF_CAP_MS;
	/* +-20 % so receivers that failed together are not retried together */
	long long j = d / 5;
	return j > 0 ? d - j + (long long)(rand_r(&s->seed) % (unsigned)(2 * j + 1)) : d;
}

static ag_status webhook_record(webhook_sender *s, PGconn *c, const char *id, int outcome, long code,
                                long long delay_ms, const char *error, ag_err *err)
{
	static const char sql_ok[] = "UPDATE webhook_deliveries SET status = 'delivered', delivered_at = now(), "
	                             "last_status_code = $2, last_error = NULL WHERE id = $1";
	static const char sql_retry[] =
	        "UPDATE webhook_deliveries SET next_at = now() + $3::bigint * interval '1 millisecond', "
	        "last_status_code = nullif($2, '0')::integer, last_error = $4 WHERE id = $1";
	static const char sql_fail[] = "UPDATE webhook_deliveries SET status = 'failed', last_status_code = "
	                               "nullif($2, '0')::integer, last_error = $3 WHERE id = $1";
	char scode[WEBHOOK_NUM_MAX], sdelay[WEBHOOK_NUM_MAX];
	snprintf(scode, sizeof scode, "%ld", code);
	snprintf(sdelay, sizeof sdelay, "%lld", delay_ms);
	ag_counter_inc(s->attempts[outcome]);
	if (outcome == WH_DELIVERED) {
		const char *p[] = {id, scode};
		return ag_db_exec(c, sql_ok, 2, p, NULL, err);
	}
	if (outcome == WH_RETRY) {
		const char *p[] = {id, scode, sdelay, error};
		return ag_db_exec(c, sql_retry, 4, p, NULL, err);
	}
	const char *p[] = {id, scode, error};
	return ag_db_exec(c, sql_fail, 3, p, NULL, err);
}

ag_status webhook_sender_round(webhook_sender *s, int *sent, ag_err *err)
{
	static const char sql_claim[] =
	        "WITH due AS (SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_at <= now() "
	        "ORDER BY next_at LIMIT $1 FOR UPDATE SKIP LOCKED), "
	        "claimed AS (UPDATE webhook_deliveries d SET attempts = d.attempts + 1, "
	        "next_at = now() + $2::bigint * interval '1 millisecond' FROM due WHERE d.id = due.id "
	        "RETURNING d.id, d.job_id, d.event, d.attempts, d.webhook_id, d.created_at) "
	        "SELECT c.id, c.job_id, c.event, c.attempts, w.url, w.secret, j.state, j.document_id, j.error_code, "
	        "j.error, to_char(j.finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "
	        "to_char(c.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') "
	        "FROM claimed c JOIN webhooks w ON w.id = c.webhook_id JOIN jobs j ON j.id = c.job_id ORDER BY c.id";
	static const char sql_release[] = "UPDATE webhook_deliveries SET attempts = attempts - 1, next_at = now() "
	                                  "WHERE id = $1 AND status = 'pending'";
	PGconn *c = NULL;
	PGresult *r = NULL;
	char batch[WEBHOOK_NUM_MAX], lease[WEBHOOK_NUM_MAX];
	int n = 0;
	snprintf(batch, sizeof batch, "%d", WEBHOOK_BATCH);
	/* the lease covers every request of the batch, so a slow batch does not hand rows to another replica */
	snprintf(lease, sizeof lease, "%lld", (s->cfg.timeout_ms + 1000) * WEBHOOK_BATCH);
	const char *p[] = {batch, lease};
	ag_status st = ag_db_acquire(s->db, &c, WEBHOOK_DB_ACQUIRE_MS, err);
	if (st != AG_OK)
		goto out;
	st = ag_db_exec(c, sql_claim, 2, p, &r, err);
	if (st != AG_OK)
		goto out;
	for (int i = 0; i < PQntuples(r) && !atomic_load(&s->stop); i++, n++) {
		const char *id = PQgetvalue(r, i, 0), *event = PQgetvalue(r, i, 2);
		long long attempts = ag_str_to_i64(PQgetvalue(r, i, 3), 1);
		char error[WEBHOOK_ERROR_MAX] = "", members[WEBHOOK_HEADER_MAX];
		long code = 0;
		bool ok = false;
		char *body = webhook_body(r, i);
		if (!body)
			ag_str_copy(error, sizeof error, "the notification could not be built");
		else
			ok = webhook_post(s, PQgetvalue(r, i, 4), PQgetvalue(r, i, 5), event, id, body, &code, error,
			                  sizeof error);
		free(body);
		int outcome = ok ? WH_DELIVERED : attempts >= s->cfg.max_attempts ? WH_FAILED : WH_RETRY;
		long long delay = outcome == WH_RETRY ? webhook_backoff_ms(s, attempts) : 0;
		snprintf(members, sizeof members, "\"delivery\":%s,\"job_id\":\"%s\",\"attempt\":%lld", id,
		         PQgetvalue(r, i, 1), attempts);
		if (outcome == WH_DELIVERED)
			ag_log_writex(AG_LOG_INFO, members, "webhook %s delivered (HTTP %ld)", event, code);
		else
			ag_log_writex(AG_LOG_WARN, members, "webhook %s not delivered: %s; %s", event, error,
			              outcome == WH_FAILED ? "no attempts left" : "will retry");
		ag_err e;
		ag_err_clear(&e);
		if (webhook_record(s, c, id, outcome, code, delay, error, &e) != AG_OK)
			ag_log_writex(AG_LOG_WARN, members, "webhook attempt not recorded (%s); it is sent again",
			              e.msg);
	}
	/* Stopping: hand the claimed rows not tried back at once instead of leaving them leased. */
	for (int i = n; r && i < PQntuples(r); i++) {
		const char *pid[] = {PQgetvalue(r, i, 0)};
		ag_err e;
		ag_err_clear(&e);
		ag_db_exec(c, sql_release, 1, pid, NULL, &e);
	}
out:
	PQclear(r);
	if (c)
		ag_db_release(s->db, c);
	if (sent)
		*sent = n;
	return st;
}

static void *webhook_main(void *arg)
{
	webhook_sender *s = arg;
	while (!atomic_load(&s->stop)) {
		ag_err err;
		ag_err_clear(&err);
		int sent = 0;
		if (webhook_sender_round(s, &sent, &err) != AG_OK)
			ag_log_warn("webhooks: round failed: %s", err.msg);
		if (sent == WEBHOOK_BATCH)
			continue; /* more may be due */
		(void)bgwait(&s->mu, &s->cond, &s->stop, s->cfg.poll_ms);
	}
	pthread_mutex_lock(&s->mu);
	atomic_store(&s->exited, true);
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

ag_status webhook_sender_start(webhook_sender **out, const webhook_sender_cfg *cfg, ag_db_pool *db, ag_metrics *metrics,
                               ag_err *err)
{
	*out = NULL;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return ag_err_set(err, AG_E_INTERNAL, "webhooks: curl_global_init failed");
	webhook_sender *s = calloc(1, sizeof *s);
	if (!s) {
		curl_global_cleanup();
		return ag_err_set(err, AG_E_NOMEM, "no memory for the webhook sender");
	}
	s->cfg = *cfg;
	s->db = db;
	s->seed = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)s;
	for (int o = 0; o < WH_OUTCOMES; o++) {
		char labels[64];
		snprintf(labels, sizeof labels, "outcome=\"%s\"", webhook_outcome_names[o]);
		s->attempts[o] = ag_metrics_counter(metrics, "aegis_webhook_attempts_total",
		                                    "Webhook delivery attempts, by outcome", labels);
	}
	atomic_init(&s->stop, false);
	atomic_init(&s->exited, false);
	pthread_mutex_init(&s->mu, NULL);
	bgwait_cond_init(&s->cond);
	int rc = pthread_create(&s->tid, NULL, webhook_main, s);
	if (rc != 0) {
		webhook_sender_free(s);
		return ag_err_set(err, AG_E_INTERNAL, "webhooks: pthread_create failed (%d)", rc);
	}
	s->started = true;
	*out = s;
	return AG_OK;
}

void webhook_sender_drain_begin(void *ud)
{
	webhook_sender *s = ud;
	atomic_store(&s->stop, true);
	pthread_mutex_lock(&s->mu);
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->mu);
}

bool webhook_sender_drained(void *ud)
{
	webhook_sender *s = ud;
	return atomic_load(&s->exited);
}

bool webhook_sender_stop(webhook_sender *s, int timeout_ms)
{
	if (!s || !s->started)
		return true;
	webhook_sender_drain_begin(s);
	bool done = bgwait(&s->mu, &s->cond, &s->exited, timeout_ms);
	if (done) {
		pthread_join(s->tid, NULL);
		s->started = false;
	}
	return done;
}

void webhook_sender_free(webhook_sender *s)
{
	if (!s)
		return;
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->mu);
	free(s);
	curl_global_cleanup();
}
