/*
 * Tests libcommon/src/bus.c and bus_worker.c against a real nats-server: topology (streams and consumers,
 * idempotent, updated on change, concurrent creators), publish with Nats-Msg-Id and traceparent, the pull
 * workers (ack, nak with delay, term, stop/join, the durable surviving a worker), request/reply, and the
 * failure cases that matter: NATS down at start and a kill -9 of nats-server while a worker runs.
 *
 * Endpoint: AEGIS_TEST_NATS_URL, else a nats-server of its own on 127.0.0.1:14222. The tests that start,
 * kill and restart a server always use servers of their own on 14223..14225.
 */
#include "aegis/bus.h"
#include "aegis/limits.h"
#include "aegis/log.h"
#include "aegis/metrics.h"
#include "test.h"

#include "../../../libcommon/src/bus_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PORT_MAIN 14222
#define PORT_LATE 14223
#define PORT_KILL 14224
#define PORT_RACE 14225
#define REC_MAX   16
#define NAME_MAX_ 96

static char g_base[64]; /* temp dir of this run */
static char g_url[256]; /* the server most tests use */
static char g_sfx[32];  /* per-run suffix so a shared server sees unique subjects and durables */
static ag_metrics *g_metrics;
static ag_bus *g_bus;

/* --- helpers: time, servers --- */

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

typedef struct natsd {
	pid_t pid;
	int port;
	char dir[128];
} natsd;

static bool port_open(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return false;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bool ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
	close(fd);
	return ok;
}

/* Start nats-server -js on 127.0.0.1:port with store dir <base>/<name> (kept across restarts). */
static bool natsd_start(natsd *d, int port, const char *name)
{
	char portstr[16], logpath[192];
	d->port = port;
	snprintf(d->dir, sizeof d->dir, "%s/%s", g_base, name);
	mkdir(d->dir, 0700);
	snprintf(portstr, sizeof portstr, "%d", port);
	snprintf(logpath, sizeof logpath, "%s.log", d->dir);
	if (port_open(port)) {
		fprintf(stderr, "  port %d already in use\n", port);
		return false;
	}
	pid_t pid = fork();
	if (pid < 0)
		return false;
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive a crashed test */
		int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		execlp("nats-server", "nats-server", "-js", "-sd", d->dir, "-p", portstr, "-a", "127.0.0.1",
		       (char *)NULL);
		_exit(127);
	}
	d->pid = pid;
	for (int i = 0; i < 100; i++) {
		if (port_open(port))
			return true;
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			d->pid = 0;
			return false;
		}
		sleep_ms(50);
	}
	return false;
}

static void natsd_stop(natsd *d, int sig)
{
	if (d->pid <= 0)
		return;
	kill(d->pid, sig);
	int st;
	waitpid(d->pid, &st, 0);
	d->pid = 0;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path);
}

static bool wait_until(bool (*pred)(void *), void *arg, int timeout_ms)
{
	int64_t end = now_ms() + timeout_ms;
	while (now_ms() < end) {
		if (pred(arg))
			return true;
		sleep_ms(20);
	}
	return pred(arg);
}

static bool pred_connected(void *b)
{
	return ag_bus_connected(b);
}
static bool pred_disconnected(void *b)
{
	return !ag_bus_connected(b);
}
static bool pred_bound(void *w)
{
	return ag_bus_worker_bound(w);
}

static void test_name(char *buf, size_t sz, const char *what)
{
	snprintf(buf, sz, "bt%s_%s", g_sfx, what);
}

static void test_subject(char *buf, size_t sz, const char *what)
{
	snprintf(buf, sz, "%sbt%s_%s", AG_SUBJ_TASKS_PREFIX, g_sfx, what);
}

/* Messages stored in AEGIS_TASKS under one subject. */
static int64_t subject_count(ag_bus *b, const char *subj)
{
	jsOptions o;
	jsOptions_Init(&o);
	o.Stream.Info.SubjectsFilter = subj;
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	int64_t n = -1;
	if (js_GetStreamInfo(&si, ag_bus_js_(b), AG_STREAM_TASKS, &o, &jerr) == NATS_OK) {
		n = 0;
		if (si->State.Subjects)
			for (int i = 0; i < si->State.Subjects->Count; i++)
				n += (int64_t)si->State.Subjects->List[i].Msgs;
	}
	jsStreamInfo_Destroy(si);
	return n;
}

static void cleanup_consumer(ag_bus *b, const char *durable, const char *subj)
{
	jsErrCode jerr = 0;
	js_DeleteConsumer(ag_bus_js_(b), AG_STREAM_TASKS, durable, NULL, &jerr);
	jsOptions o;
	jsOptions_Init(&o);
	o.Stream.Purge.Subject = subj;
	js_PurgeStream(ag_bus_js_(b), AG_STREAM_TASKS, &o, &jerr);
}

static ag_status ensure_test_consumer(ag_bus *b, const char *durable, const char *filter, int64_t ack_wait_ms)
{
	ag_bus_consumer_cfg c = {.stream = AG_STREAM_TASKS,
	                         .durable = durable,
	                         .filter = filter,
	                         .ack_wait_ms = ack_wait_ms,
	                         .max_deliver = 5,
	                         .max_ack_pending = 16};
	ag_err e;
	ag_status st = ag_bus_ensure_consumer(b, &c, &e);
	if (st != AG_OK)
		fprintf(stderr, "  ensure_consumer %s: %s\n", durable, e.msg);
	return st;
}

/* --- a recording handler --- */

enum { MODE_ACK, MODE_NAK_FIRST, MODE_TERM, MODE_BLOCK };

typedef struct rec {
	pthread_mutex_t mu;
	pthread_cond_t cond;
	int mode;
	int64_t nak_delay_ms;
	bool release;
	int n;
	char data[REC_MAX][64];
	char subj[REC_MAX][NAME_MAX_];
	char tp[REC_MAX][64];
	char cur_trace[REC_MAX][33];
	uint64_t delivered[REC_MAX];
	int max_deliver[REC_MAX];
	int64_t at[REC_MAX];
	ag_status in_progress;
} rec;

static void rec_init(rec *r, int mode)
{
	memset(r, 0, sizeof *r);
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cond, NULL);
	r->mode = mode;
	r->in_progress = AG_E_INTERNAL;
}

static void rec_destroy(rec *r)
{
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->mu);
}

static ag_bus_verdict rec_handler(ag_bus_msg *m, void *ud)
{
	rec *r = ud;
	ag_bus_verdict v = {AG_BUS_ACK, 0};
	size_t len = 0;
	const char *data = ag_bus_msg_data(m, &len);
	const char *tp = ag_bus_msg_header(m, "traceparent");

	pthread_mutex_lock(&r->mu);
	int i = r->n < REC_MAX ? r->n : REC_MAX - 1;
	snprintf(r->data[i], sizeof r->data[i], "%.*s", (int)len, data ? data : "");
	snprintf(r->subj[i], sizeof r->subj[i], "%s", ag_bus_msg_subject(m));
	snprintf(r->tp[i], sizeof r->tp[i], "%s", tp ? tp : "");
	snprintf(r->cur_trace[i], sizeof r->cur_trace[i], "%s", ag_trace_current_id());
	r->delivered[i] = ag_bus_msg_delivered(m);
	r->max_deliver[i] = ag_bus_msg_max_deliver(m);
	r->at[i] = now_ms();
	r->n++;
	pthread_cond_broadcast(&r->cond);
	if (r->mode == MODE_NAK_FIRST && ag_bus_msg_delivered(m) == 1)
		v = (ag_bus_verdict){AG_BUS_NAK, r->nak_delay_ms};
	else if (r->mode == MODE_TERM)
		v = (ag_bus_verdict){AG_BUS_TERM, 0};
	else if (r->mode == MODE_BLOCK) {
		r->in_progress = ag_bus_msg_in_progress(m);
		while (!r->release)
			pthread_cond_wait(&r->cond, &r->mu);
	}
	pthread_mutex_unlock(&r->mu);
	return v;
}

static int rec_wait(rec *r, int n, int timeout_ms)
{
	struct timespec dl;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += timeout_ms / 1000;
	dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&r->mu);
	while (r->n < n) {
		if (pthread_cond_timedwait(&r->cond, &r->mu, &dl) == ETIMEDOUT)
			break;
	}
	int got = r->n;
	pthread_mutex_unlock(&r->mu);
	return got;
}

static bool rec_has(rec *r, const char *data)
{
	bool found = false;
	pthread_mutex_lock(&r->mu);
	for (int i = 0; i < r->n && i < REC_MAX; i++)
		found = found || strcmp(r->data[i], data) == 0;
	pthread_mutex_unlock(&r->mu);
	return found;
}

typedef struct rec_find {
	rec *r;
	const char *data;
} rec_find;
static bool pred_rec_has(void *a)
{
	rec_find *f = a;
	return rec_has(f->r, f->data);
}

static void worker_close(ag_bus_worker *w)
{
	ag_bus_worker_stop(w);
	AG_CHECK(ag_bus_worker_join(w, 5000));
	ag_bus_worker_free(w);
}

/* --- tests --- */

static void connect_rejects_bad_arguments(void)
{
	ag_bus *b = NULL;
	ag_err e;
	AG_CHECK_INT(ag_bus_connect(&b, "", "t", NULL, &e), AG_E_INVAL);
	AG_CHECK(b == NULL);
	AG_CHECK_INT(ag_bus_connect(&b, " , ", "t", NULL, &e), AG_E_INVAL);
	AG_CHECK(b == NULL);
	AG_CHECK(ag_bus_connected(g_bus));

	/* Nobody listens on this port: connect returns at once, retrying in the background; free does not hang. */
	int64_t t0 = now_ms();
	AG_CHECK_INT(ag_bus_connect(&b, "nats://127.0.0.1:14229", "t", NULL, &e), AG_OK);
	AG_CHECK(now_ms() - t0 < 1000);
	AG_CHECK(b && !ag_bus_connected(b));
	ag_bus_free(b);
	AG_CHECK(now_ms() - t0 < 4000); /* cnats' close waits out one reconnect wait (2 s) while retrying */
}

static void streams_created_idempotent_and_updated(void)
{
	ag_err e;
	AG_CHECK_INT(ag_bus_ensure_streams(g_bus, &e), AG_OK);
	AG_CHECK_INT(ag_bus_ensure_streams(g_bus, &e), AG_OK);

	static const struct {
		const char *name, *subject;
		jsRetentionPolicy ret;
		int64_t max_age_s, dup_s;
	} want[] = {
	        {AG_STREAM_JOBS, "aegis.jobs.>", js_WorkQueuePolicy, 7 * 86400, 600},
	        {AG_STREAM_TASKS, "aegis.tasks.>", js_WorkQueuePolicy, 7 * 86400, 600},
	        {AG_STREAM_RESULTS, "aegis.results.>", js_WorkQueuePolicy, 7 * 86400, 600},
	        {AG_STREAM_EVENTS, "aegis.events.>", js_LimitsPolicy, 86400, 120},
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		jsStreamInfo *si = NULL;
		jsErrCode jerr = 0;
		AG_CHECK_INT(js_GetStreamInfo(&si, ag_bus_js_(g_bus), want[i].name, NULL, &jerr), NATS_OK);
		if (!si)
			continue;
		AG_CHECK_INT(si->Config->Retention, want[i].ret);
		AG_CHECK_INT(si->Config->Storage, js_FileStorage);
		AG_CHECK_INT(si->Config->MaxAge / 1000000000LL, want[i].max_age_s);
		AG_CHECK_INT(si->Config->Duplicates / 1000000000LL, want[i].dup_s);
		AG_CHECK_INT(si->Config->Replicas, 1);
		AG_CHECK_INT(si->Config->SubjectsLen, 1);
		if (si->Config->SubjectsLen == 1)
			AG_CHECK_STR(si->Config->Subjects[0], want[i].subject);
		jsStreamInfo_Destroy(si);
	}

	/* Someone changed AEGIS_EVENTS (an older version, an operator): ensure puts the design back. */
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	AG_CHECK_INT(js_GetStreamInfo(&si, ag_bus_js_(g_bus), AG_STREAM_EVENTS, NULL, &jerr), NATS_OK);
	if (si) {
		jsStreamConfig changed = *si->Config;
		changed.MaxAge = 3600LL * 1000000000LL;
		jsStreamInfo *si2 = NULL;
		AG_CHECK_INT(js_UpdateStream(&si2, ag_bus_js_(g_bus), &changed, NULL, &jerr), NATS_OK);
		if (si2)
			AG_CHECK_INT(si2->Config->MaxAge / 1000000000LL, 3600);
		jsStreamInfo_Destroy(si2);
		jsStreamInfo_Destroy(si);
	}
	AG_CHECK_INT(ag_bus_ensure_streams(g_bus, &e), AG_OK);
	si = NULL;
	AG_CHECK_INT(js_GetStreamInfo(&si, ag_bus_js_(g_bus), AG_STREAM_EVENTS, NULL, &jerr), NATS_OK);
	if (si)
		AG_CHECK_INT(si->Config->MaxAge / 1000000000LL, 86400);
	jsStreamInfo_Destroy(si);
}

static void consumer_ensure_twice_then_update(void)
{
	char durable[NAME_MAX_], subj[NAME_MAX_];
	test_name(durable, sizeof durable, "cons");
	test_subject(subj, sizeof subj, "cons");
	static const int64_t backoff[] = {1000, 5000};
	ag_bus_consumer_cfg c = {.stream = AG_STREAM_TASKS,
	                         .durable = durable,
	                         .filter = subj,
	                         .ack_wait_ms = 30000,
	                         .max_deliver = 4,
	                         .backoff_ms = backoff,
	                         .backoff_len = 2,
	                         .max_ack_pending = 8};
	ag_err e;
	AG_CHECK_INT(ag_bus_ensure_consumer(g_bus, &c, &e), AG_OK);
	AG_CHECK_INT(ag_bus_ensure_consumer(g_bus, &c, &e), AG_OK);

	jsConsumerInfo *ci = NULL;
	jsErrCode jerr = 0;
	AG_CHECK_INT(js_GetConsumerInfo(&ci, ag_bus_js_(g_bus), AG_STREAM_TASKS, durable, NULL, &jerr), NATS_OK);
	if (ci) {
		AG_CHECK_INT(ci->Config->AckPolicy, js_AckExplicit);
		AG_CHECK_INT(ci->Config->MaxDeliver, 4);
		AG_CHECK_INT(ci->Config->BackOffLen, 2);
		if (ci->Config->BackOffLen == 2) {
			AG_CHECK_INT(ci->Config->BackOff[0], 1000LL * 1000000LL); /* ns */
			AG_CHECK_INT(ci->Config->BackOff[1], 5000LL * 1000000LL);
		}
		AG_CHECK_STR(ci->Config->FilterSubject, subj);
		AG_CHECK_INT(ci->Config->MaxAckPending, 8);
		AG_CHECK(ci->Config->MaxWaiting >= 64);
		AG_CHECK(ci->Config->DeliverSubject == NULL || ci->Config->DeliverSubject[0] == '\0'); /* pull */
	}
	jsConsumerInfo_Destroy(ci);

	/* A new release asks for more in flight and another MaxDeliver: the consumer is updated in place. */
	c.max_ack_pending = 32;
	c.max_deliver = 6;
	AG_CHECK_INT(ag_bus_ensure_consumer(g_bus, &c, &e), AG_OK);
	ci = NULL;
	AG_CHECK_INT(js_GetConsumerInfo(&ci, ag_bus_js_(g_bus), AG_STREAM_TASKS, durable, NULL, &jerr), NATS_OK);
	if (ci) {
		AG_CHECK_INT(ci->Config->MaxAckPending, 32);
		AG_CHECK_INT(ci->Config->MaxDeliver, 6);
	}
	jsConsumerInfo_Destroy(ci);

	/* nats-server 2.9 rule, checked before any round trip. */
	c.max_deliver = 2;
	AG_CHECK_INT(ag_bus_ensure_consumer(g_bus, &c, &e), AG_E_INVAL);
	cleanup_consumer(g_bus, durable, subj);
}

static void publish_consume_with_trace_and_delivery_count(void)
{
	char durable[NAME_MAX_], subj[NAME_MAX_];
	test_name(durable, sizeof durable, "pc");
	test_subject(subj, sizeof subj, "pc");
	AG_CHECK_INT(ensure_test_consumer(g_bus, durable, subj, 30000), AG_OK);

	ag_trace tr;
	ag_trace_new(&tr);
	char tp[AG_TRACEPARENT_LEN + 1];
	ag_trace_format(&tr, tp, sizeof tp);
	ag_err e;
	char id[NAME_MAX_];
	snprintf(id, sizeof id, "pc-%s", g_sfx); /* Nats-Msg-Id is deduplicated per stream, across runs */
	AG_CHECK_INT(ag_bus_publish(g_bus, subj, "hello", 5, id, &tr, &e), AG_OK);
	AG_CHECK_INT(ag_bus_publish(g_bus, subj, "bare", 4, NULL, NULL, &e), AG_OK);

	rec r;
	rec_init(&r, MODE_ACK);
	ag_bus_worker *w = NULL;
	AG_CHECK_INT(ag_bus_worker_start(&w, g_bus, AG_STREAM_TASKS, durable, 2, rec_handler, &r, &e), AG_OK);
	AG_CHECK(w && ag_bus_worker_bound(w));
	AG_CHECK_INT(rec_wait(&r, 2, 5000), 2);
	for (int i = 0; i < 2 && i < r.n; i++) {
		bool first = strcmp(r.data[i], "hello") == 0;
		AG_CHECK(first || strcmp(r.data[i], "bare") == 0);
		AG_CHECK_STR(r.subj[i], subj);
		AG_CHECK_INT(r.delivered[i], 1);
		AG_CHECK_INT(r.max_deliver[i], 5);
		if (first) {
			AG_CHECK_STR(r.tp[i], tp);
			AG_CHECK_STR(r.cur_trace[i], tr.trace_id); /* the handler ran inside the publisher's trace */
		} else {
			AG_CHECK_STR(r.tp[i], "");
			AG_CHECK_INT(strlen(r.cur_trace[i]), 32); /* a fresh trace for a message without one */
		}
	}
	worker_close(w);

	/* AckSync done: the work queue no longer holds them (2.9 replies before removing: poll briefly). */
	int64_t left = -1;
	for (int i = 0; i < 50 && left != 0; i++, sleep_ms(20))
		left = subject_count(g_bus, subj);
	AG_CHECK_INT(left, 0);
	rec_destroy(&r);
	cleanup_consumer(g_bus, durable, subj);
}

static void duplicate_msg_id_stored_once(void)
{
	char subj[NAME_MAX_], id[NAME_MAX_];
	test_subject(subj, sizeof subj, "dup");
	snprintf(id, sizeof id, "job-%s:validate:1", g_sfx);
	ag_err e;
	AG_CHECK_INT(ag_bus_publish(g_bus, subj, "x", 1, id, NULL, &e), AG_OK);
	AG_CHECK_INT(ag_bus_publish(g_bus, subj, "x", 1, id, NULL, &e), AG_OK); /* duplicate is success */
	AG_CHECK_INT(subject_count(g_bus, subj), 1);
	snprintf(id, sizeof id, "other-%s", g_sfx);
	AG_CHECK_INT(ag_bus_publish(g_bus, subj, "y", 1, id, NULL, &e), AG_OK);
	AG_CHECK_INT(subject_count(g_bus, subj), 2);
	cleanup_consumer(g_bus, "none", subj);
}

static void publish_errors_map_to_status(void)
{
	ag_err e;
	/* No stream listens on this subject: JetStream has no responder. */
	ag_status st = ag_bus_publish(g_bus, "nostream.bustest.x", "x", 1, NULL, NULL, &e);
	AG_CHECK_INT(st, AG_E_UNAVAILABLE);
	AG_CHECK(strstr(e.msg, "nostream.bustest.x") != NULL);
	static char big[AG_BUS_MAX_MSG_BYTES + 1];
	AG_CHECK_INT(ag_bus_publish(g_bus, "aegis.tasks.x", big, sizeof big, NULL, NULL, &e), AG_E_TOOBIG);
	AG_CHECK_INT(ag_bus_publish(g_bus, NULL, "x", 1, NULL, NULL, &e), AG_E_INVAL);
}

static void nak_with_delay_redelivers_later(void)
{
	char durable[NAME_MAX_], subj[NAME_MAX_];
	test_name(durable, sizeof durable, "nak");
	test_subject(subj, sizeof subj, "nak");
	AG_CHECK_INT(ensure_test_consumer(g_bus, durable, subj, 30000), AG_OK);
	rec r;
	rec_init(&r, MODE_NAK_FIRST);
	r.nak_delay_ms = 700;
	ag_bus_worker *w = NULL;
	ag_err e;
	AG_CHECK_INT(ag_bus_worker_start(&w, g_bus, AG_STREAM_TASKS, durable, 1, rec_handler, &r, &e), AG_OK);
	AG_CHECK_INT(ag_bus_publish(g_bus, subj, "again", 5, NULL, NULL, &e), AG_OK);
	AG_CHECK_INT(rec_wait(&r, 2, 5000), 2);
	if (r.n >= 2) {
		AG_CHECK_INT(r.delivered[0], 1);
		AG_CHECK_INT(r.delivered[1], 2);
		int64_t gap = r.at[1] - r.at[0];
		AG_CHECK(gap >= 600); /* the delay was honoured */
		AG_CHECK(gap < 3000); /* and it was the nak, not AckWait (30 s), that redelivered */
		AG_CHECK_STR(r.data[1], "again");
	}
	worker_close(w);
	rec_destroy(&r);
	cleanup_consumer(g_bus, durable, subj);
}

static void term_never_redelivers(void)
{
	char durable[NAME_MAX_], subj[NAME_MAX_];
	test_name(durable, sizeof durable, "term");
	test_subject(subj, sizeof subj, "term");
	AG_CHECK_INT(ensure_test_consumer(g_bus, durable, subj, 1000), AG_OK); /* AckWait 1 s */
	rec r;
	rec_init(&r, MODE_TERM);
	ag_bus_worker *w = NULL;
	ag_err e;
	AG_CHECK_INT(ag_bus_worker_start(&w, g_bus, AG_STREAM_TASKS, durable, 2, rec_handler, &r, &e), AG_OK);
	AG_CHECK_INT(ag_bus_publish(g_bus, subj, "poison", 6, NULL, NULL, &e), AG_OK);
	AG_CHECK_INT(rec_wait(&r, 1, 5000), 1);
	/* Well past AckWait and a Nak-less redelivery: still one delivery. */
	AG_CHECK_INT(rec_wait(&r, 2, 2500), 1);
	worker_close(w);
	AG_CHECK_INT(subject_count(g_bus, subj), 0); /* TERM removes it from the work queue */
	rec_destroy(&r);
	cleanup_consumer(g_bus, durable, subj);
}

static void stop_join_prompt_busy_and_durable_survives(void)
{
	char durable[NAME_MAX_], subj[NAME_MAX_];
	test_name(durable, sizeof durable, "stop");
	test_subject(subj, sizeof subj, "stop");
	AG_CHECK_INT(ensure_test_consumer(g_bus, durable, subj, 30000), AG_OK);
	rec r;
	rec_init(&r, MODE_BLOCK);
	ag_bus_worker *w = NULL;
	ag_err e;
	AG_CHECK_INT(ag_bus_worker_start(&w, g_bus, AG_STREAM_TASKS, durable, 4, rec_handler, &r, &e), AG_OK);
	AG_CHECK(ag_bus_worker_bound(w));
	AG_CHECK_INT(ag_bus_worker_busy(w), 0);
	AG_CHECK_INT(ag_bus_publish(g_bus, subj, "slow", 4, NULL, NULL, &e), AG_OK);
	AG_CHECK_INT(rec_wait(&r, 1, 5000), 1);
	AG_CHECK_INT(ag_bus_worker_busy(w), 1);
	AG_CHECK_INT(r.in_progress, AG_OK);

	/* Stop while one handler runs: join waits for it, the idle threads leave within one fetch timeout. */
	ag_bus_worker_stop(w);
	AG_CHECK(!ag_bus_worker_join(w, 300));
	pthread_mutex_lock(&r.mu);
	r.release = true;
	pthread_cond_broadcast(&r.cond);
	pthread_mutex_unlock(&r.mu);
	int64_t t0 = now_ms();
	AG_CHECK(ag_bus_worker_join(w, 5000));
	int64_t took = now_ms() - t0;
	AG_CHECK(took < 1800);
	AG_CHECK_INT(ag_bus_worker_busy(w), 0);
	AG_CHECK(!ag_bus_worker_bound(w));
	ag_bus_worker_free(w);

	/* The worker only bound: closing it left the durable in place. */
	jsConsumerInfo *ci = NULL;
	jsErrCode jerr = 0;
	AG_CHECK_INT(js_GetConsumerInfo(&ci, ag_bus_js_(g_bus), AG_STREAM_TASKS, durable, NULL, &jerr), NATS_OK);
	jsConsumerInfo_Destroy(ci);
	AG_CHECK_INT(subject_count(g_bus, subj), 0); /* the handled message was acked */
	rec_destroy(&r);
	cleanup_consumer(g_bus, durable, subj);
}

/* The consumer vanishes under a running worker (server state lost, an operator): the worker reports
 * unbound, and binds and consumes again once the consumer is recreated. */
static bool pred_unbound(void *w)
{
	return !ag_bus_worker_bound(w);
}

static void worker_rebinds_after_consumer_recreated(void)
{
	char durable[NAME_MAX_], subj[NAME_MAX_];
	test_name(durable, sizeof durable, "gone");
	test_subject(subj, sizeof subj, "gone");
	AG_CHECK_INT(ensure_test_consumer(g_bus, durable, subj, 30000), AG_OK);
	rec r;
	rec_init(&r, MODE_ACK);
	ag_bus_worker *w = NULL;
	ag_err e;
	AG_CHECK_INT(ag_bus_worker_start(&w, g_bus, AG_STREAM_TASKS, durable, 2, rec_handler, &r, &e), AG_OK);
	if (!w) {
		rec_destroy(&r);
		return;
	}
	AG_CHECK(ag_bus_worker_bound(w));
	ag_bus_worker_set_verify_idle_(w, 500);
	jsErrCode jerr = 0;
	AG_CHECK_INT(js_DeleteConsumer(ag_bus_js_(g_bus), AG_STREAM_TASKS, durable, NULL, &jerr), NATS_OK);
	AG_CHECK(wait_until(pred_unbound, w, 10000));
	AG_CHECK_INT(ensure_test_consumer(g_bus, durable, subj, 30000), AG_OK);
	AG_CHECK(wait_until(pred_bound, w, 5000));
	AG_CHECK_INT(ag_bus_publish(g_bus, subj, "back", 4, NULL, NULL, &e), AG_OK);
	AG_CHECK_INT(rec_wait(&r, 1, 5000), 1);
	AG_CHECK(rec_has(&r, "back"));
	worker_close(w);
	rec_destroy(&r);
	cleanup_consumer(g_bus, durable, subj);
}

static void worker_refuses_missing_consumer(void)
{
	char durable[NAME_MAX_];
	test_name(durable, sizeof durable, "missing");
	rec r;
	rec_init(&r, MODE_ACK);
	ag_bus_worker *w = NULL;
	ag_err e;
	AG_CHECK_INT(ag_bus_worker_start(&w, g_bus, AG_STREAM_TASKS, durable, 2, rec_handler, &r, &e), AG_E_NOTFOUND);
	AG_CHECK(w == NULL);
	AG_CHECK(strstr(e.msg, durable) != NULL);
	/* and it did not create it */
	jsConsumerInfo *ci = NULL;
	jsErrCode jerr = 0;
	AG_CHECK_INT(js_GetConsumerInfo(&ci, ag_bus_js_(g_bus), AG_STREAM_TASKS, durable, NULL, &jerr), NATS_NOT_FOUND);
	jsConsumerInfo_Destroy(ci);
	AG_CHECK_INT(ag_bus_worker_start(&w, g_bus, AG_STREAM_TASKS, durable, 0, rec_handler, &r, &e), AG_E_INVAL);
	rec_destroy(&r);
}

static void echo_upper(const void *data, size_t len, void **reply, size_t *reply_len, void *ud)
{
	char *out = malloc(len + 1);
	if (!out)
		return;
	for (size_t i = 0; i < len; i++) {
		char c = ((const char *)data)[i];
		out[i] = (c >= 'a' && c <= 'z') ? (char)(c - 32) : c;
	}
	*reply = out;
	*reply_len = len;
	(*(int *)ud)++;
}

static void no_reply(const void *data, size_t len, void **reply, size_t *reply_len, void *ud) {}

static void request_reply_round_trip_and_errors(void)
{
	char subj[NAME_MAX_], silent[NAME_MAX_], nobody[NAME_MAX_];
	snprintf(subj, sizeof subj, "%sbt%s.echo", AG_SUBJ_AUTH_PREFIX, g_sfx);
	snprintf(silent, sizeof silent, "%sbt%s.silent", AG_SUBJ_AUTH_PREFIX, g_sfx);
	snprintf(nobody, sizeof nobody, "%sbt%s.nobody", AG_SUBJ_AUTH_PREFIX, g_sfx);
	int calls = 0;
	ag_bus_service *s1 = NULL, *s2 = NULL;
	ag_err e;
	AG_CHECK_INT(ag_bus_serve(&s1, g_bus, subj, "auth", echo_upper, &calls, &e), AG_OK);
	AG_CHECK_INT(ag_bus_serve(&s2, g_bus, silent, "auth", no_reply, NULL, &e), AG_OK);
	natsConnection_Flush(ag_bus_nc_(g_bus));

	void *reply = NULL;
	size_t n = 0;
	AG_CHECK_INT(ag_bus_request(g_bus, subj, "login", 5, 2000, &reply, &n, &e), AG_OK);
	AG_CHECK_INT(n, 5);
	if (reply && n == 5)
		AG_CHECK(memcmp(reply, "LOGIN", 5) == 0);
	free(reply);
	AG_CHECK_INT(calls, 1);

	AG_CHECK_INT(ag_bus_request(g_bus, nobody, "x", 1, 2000, &reply, &n, &e), AG_E_UNAVAILABLE);
	AG_CHECK(reply == NULL);
	int64_t t0 = now_ms();
	AG_CHECK_INT(ag_bus_request(g_bus, silent, "x", 1, 300, &reply, &n, &e), AG_E_TIMEOUT);
	AG_CHECK(now_ms() - t0 < 1500);

	ag_bus_service_free(s1);
	ag_bus_service_free(s2);
	/* Unsubscribed: nobody answers any more. */
	AG_CHECK_INT(ag_bus_request(g_bus, subj, "x", 1, 1000, &reply, &n, &e), AG_E_UNAVAILABLE);
	ag_bus_service_free(NULL);
}

static void metrics_count_publish_and_actions(void)
{
	char *text = NULL;
	size_t len = 0;
	AG_CHECK_INT(ag_metrics_render(g_metrics, &text, &len), AG_OK);
	if (!text)
		return;
	char want[256];
	AG_CHECK(strstr(text, "aegis_bus_published_total{subject_prefix=\"aegis.tasks\"}") != NULL);
	snprintf(want, sizeof want, "aegis_bus_messages_total{consumer=\"bt%s_pc\",action=\"ack\"} 2", g_sfx);
	AG_CHECK(strstr(text, want) != NULL);
	snprintf(want, sizeof want, "aegis_bus_messages_total{consumer=\"bt%s_nak\",action=\"nak\"} 1", g_sfx);
	AG_CHECK(strstr(text, want) != NULL);
	snprintf(want, sizeof want, "aegis_bus_messages_total{consumer=\"bt%s_term\",action=\"term\"} 1", g_sfx);
	AG_CHECK(strstr(text, want) != NULL);
	snprintf(want, sizeof want, "aegis_bus_handle_seconds_count{consumer=\"bt%s_pc\"} 2", g_sfx);
	AG_CHECK(strstr(text, want) != NULL);
	AG_CHECK(strstr(text, "aegis_nats_connected 1") != NULL);
	free(text);
}

/* Several services start at once against a fresh server: all create the same topology without error. */
typedef struct racer {
	char url[64];
	pthread_barrier_t *go;
	ag_status st_streams, st_consumer;
} racer;

static void *race_main(void *arg)
{
	racer *r = arg;
	ag_bus *b = NULL;
	ag_err e;
	r->st_streams = r->st_consumer = AG_E_INTERNAL;
	if (ag_bus_connect(&b, r->url, "racer", NULL, &e) != AG_OK) {
		pthread_barrier_wait(r->go);
		return NULL;
	}
	for (int i = 0; i < 100 && !ag_bus_connected(b); i++)
		sleep_ms(20);
	pthread_barrier_wait(r->go);
	r->st_streams = ag_bus_ensure_streams(b, &e);
	if (r->st_streams != AG_OK)
		fprintf(stderr, "  racer streams: %s\n", e.msg);
	ag_bus_consumer_cfg c = {.stream = AG_STREAM_TASKS,
	                         .durable = "validate",
	                         .filter = "aegis.tasks.validate",
	                         .ack_wait_ms = 30000,
	                         .max_deliver = 5,
	                         .max_ack_pending = 64};
	r->st_consumer = ag_bus_ensure_consumer(b, &c, &e);
	if (r->st_consumer != AG_OK)
		fprintf(stderr, "  racer consumer: %s\n", e.msg);
	ag_bus_free(b);
	nats_ReleaseThreadMemory();
	return NULL;
}

static void concurrent_starters_create_topology(void)
{
	natsd d = {0};
	if (!natsd_start(&d, PORT_RACE, "race")) {
		AG_CHECK(!"nats-server on the race port");
		return;
	}
	enum { N = 4 };
	racer rs[N];
	pthread_t th[N];
	pthread_barrier_t go;
	pthread_barrier_init(&go, NULL, N);
	for (int i = 0; i < N; i++) {
		memset(&rs[i], 0, sizeof rs[i]);
		snprintf(rs[i].url, sizeof rs[i].url, "nats://127.0.0.1:%d", PORT_RACE);
		rs[i].go = &go;
		pthread_create(&th[i], NULL, race_main, &rs[i]);
	}
	for (int i = 0; i < N; i++) {
		pthread_join(th[i], NULL);
		AG_CHECK_INT(rs[i].st_streams, AG_OK);
		AG_CHECK_INT(rs[i].st_consumer, AG_OK);
	}
	pthread_barrier_destroy(&go);
	natsd_stop(&d, SIGTERM);
}

/* A service starts while NATS is down, then NATS comes up: it connects, binds and consumes. */
static void starts_before_nats_then_consumes(void)
{
	char url[64];
	snprintf(url, sizeof url, "nats://127.0.0.1:%d", PORT_LATE);
	ag_bus *b = NULL;
	ag_err e;
	int64_t t0 = now_ms();
	AG_CHECK_INT(ag_bus_connect(&b, url, "late", NULL, &e), AG_OK);
	AG_CHECK(now_ms() - t0 < 2000); /* did not block waiting for the server */
	if (!b)
		return;
	AG_CHECK(!ag_bus_connected(b));
	rec r;
	rec_init(&r, MODE_ACK);
	ag_bus_worker *w = NULL;
	AG_CHECK_INT(ag_bus_worker_start(&w, b, AG_STREAM_TASKS, "late", 2, rec_handler, &r, &e), AG_OK);
	AG_CHECK(w && !ag_bus_worker_bound(w));

	natsd d = {0};
	AG_CHECK(natsd_start(&d, PORT_LATE, "late"));
	AG_CHECK(wait_until(pred_connected, b, 10000));
	AG_CHECK_INT(ag_bus_ensure_streams(b, &e), AG_OK);
	AG_CHECK_INT(ensure_test_consumer(b, "late", "aegis.tasks.late", 30000), AG_OK);
	if (w)
		AG_CHECK(wait_until(pred_bound, w, 5000));
	AG_CHECK_INT(ag_bus_publish(b, "aegis.tasks.late", "first", 5, "late-1", NULL, &e), AG_OK);
	AG_CHECK_INT(rec_wait(&r, 1, 5000), 1);
	AG_CHECK(rec_has(&r, "first"));
	if (w)
		worker_close(w);
	ag_bus_free(b);
	natsd_stop(&d, SIGTERM);
	rec_destroy(&r);
}

/* kill -9 of nats-server while a worker runs, restart on the same store: the worker resumes. */
static void worker_survives_nats_kill_and_restart(void)
{
	natsd d = {0};
	if (!natsd_start(&d, PORT_KILL, "kill")) {
		AG_CHECK(!"nats-server on the kill port");
		return;
	}
	char url[64];
	snprintf(url, sizeof url, "nats://127.0.0.1:%d", PORT_KILL);
	ag_bus *b = NULL;
	ag_err e;
	AG_CHECK_INT(ag_bus_connect(&b, url, "kill", NULL, &e), AG_OK);
	if (!b) {
		natsd_stop(&d, SIGKILL);
		return;
	}
	AG_CHECK_INT(ag_bus_ensure_streams(b, &e), AG_OK);
	AG_CHECK_INT(ensure_test_consumer(b, "kill", "aegis.tasks.kill", 30000), AG_OK);
	rec r;
	rec_init(&r, MODE_ACK);
	ag_bus_worker *w = NULL;
	AG_CHECK_INT(ag_bus_worker_start(&w, b, AG_STREAM_TASKS, "kill", 2, rec_handler, &r, &e), AG_OK);
	AG_CHECK_INT(ag_bus_publish(b, "aegis.tasks.kill", "before", 6, "kill-1", NULL, &e), AG_OK);
	AG_CHECK_INT(rec_wait(&r, 1, 5000), 1);

	natsd_stop(&d, SIGKILL);
	AG_CHECK(wait_until(pred_disconnected, b, 5000));
	/* While NATS is down a publish fails with a transient status (the caller retries, same msg id). */
	ag_status st = ag_bus_publish(b, "aegis.tasks.kill", "during", 6, "kill-2", NULL, &e);
	AG_CHECK(st == AG_E_TIMEOUT || st == AG_E_UNAVAILABLE);
	AG_CHECK(ag_status_transient(st));

	AG_CHECK(natsd_start(&d, PORT_KILL, "kill"));
	AG_CHECK(wait_until(pred_connected, b, 10000));
	st = AG_E_INTERNAL;
	for (int i = 0; i < 20 && st != AG_OK; i++) {
		st = ag_bus_publish(b, "aegis.tasks.kill", "after", 5, "kill-3", NULL, &e);
		if (st != AG_OK)
			sleep_ms(250);
	}
	AG_CHECK_INT(st, AG_OK);
	rec_find f = {&r, "after"};
	AG_CHECK(wait_until(pred_rec_has, &f, 10000));
	if (w) {
		AG_CHECK(ag_bus_worker_bound(w));
		worker_close(w);
	}
	ag_bus_free(b);
	natsd_stop(&d, SIGTERM);
	rec_destroy(&r);
}

int main(void)
{
	natsd main_d = {0};
	ag_err e;
	int rc;

	ag_log_init("bus-test", AG_LOG_WARN);
	snprintf(g_base, sizeof g_base, "/tmp/aegis-bus-test-XXXXXX");
	if (!mkdtemp(g_base)) {
		printf("not ok - mkdtemp\n");
		return 1;
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(g_sfx, sizeof g_sfx, "%d_%lx", (int)getpid(), (unsigned long)(ts.tv_nsec / 1000) & 0xfffffUL);
	const char *env = getenv("AEGIS_TEST_NATS_URL");
	if (env && *env) {
		snprintf(g_url, sizeof g_url, "%s", env);
	} else if (natsd_start(&main_d, PORT_MAIN, "main")) {
		snprintf(g_url, sizeof g_url, "nats://127.0.0.1:%d", PORT_MAIN);
	} else {
		printf("not ok - bus tests need AEGIS_TEST_NATS_URL or nats-server on PATH (port %d free)\n",
		       PORT_MAIN);
		nftw(g_base, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
		return 1;
	}
	if (ag_metrics_new(&g_metrics) != AG_OK || ag_bus_connect(&g_bus, g_url, "bus-test", g_metrics, &e) != AG_OK ||
	    !wait_until(pred_connected, g_bus, 5000)) {
		printf("not ok - connect to %s\n", g_url);
		natsd_stop(&main_d, SIGTERM);
		nftw(g_base, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
		return 1;
	}

	AG_TEST_RUN(connect_rejects_bad_arguments);
	AG_TEST_RUN(streams_created_idempotent_and_updated);
	AG_TEST_RUN(consumer_ensure_twice_then_update);
	AG_TEST_RUN(publish_consume_with_trace_and_delivery_count);
	AG_TEST_RUN(duplicate_msg_id_stored_once);
	AG_TEST_RUN(publish_errors_map_to_status);
	AG_TEST_RUN(nak_with_delay_redelivers_later);
	AG_TEST_RUN(term_never_redelivers);
	AG_TEST_RUN(stop_join_prompt_busy_and_durable_survives);
	AG_TEST_RUN(worker_refuses_missing_consumer);
	AG_TEST_RUN(worker_rebinds_after_consumer_recreated);
	AG_TEST_RUN(request_reply_round_trip_and_errors);
	AG_TEST_RUN(metrics_count_publish_and_actions);
	AG_TEST_RUN(concurrent_starters_create_topology);
	AG_TEST_RUN(starts_before_nats_then_consumes);
	AG_TEST_RUN(worker_survives_nats_kill_and_restart);

	ag_bus_free(g_bus);
	ag_metrics_free(g_metrics);
	natsd_stop(&main_d, SIGTERM);
	ag_bus_shutdown_library();
	nftw(g_base, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	rc = ag_test_summary();
	return rc;
}
