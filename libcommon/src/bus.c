/*
 * bus.c - the NATS connection of a process and what goes over it directly:
 * connect (unlimited reconnect, retry on failed connect, 10 s pings), the
 * JetStream topology (streams, durable pull consumers, created or updated
 * idempotently), synchronous JetStream publish with Nats-Msg-Id and a
 * traceparent header, and core NATS request/reply. The pull-consumer threads
 * live in bus_worker.c. Pitfalls this contains: shared reference
 * nats-jetstream-reliability.md §0.
 */
#include "aegis/bus.h"

#include "aegis/limits.h"
#include "aegis/log.h"
#include "bus_priv.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BUS_MAX_SERVERS          16    /* URLs in one comma-separated NATS_URL */
#define BUS_URL_MAX              512   /* one server URL */
#define BUS_NAME_MAX             64    /* stream, durable, client names */
#define BUS_PING_INTERVAL_MS     10000 /* a half-open TCP is noticed in ~30 s, not minutes */
#define BUS_MAX_PINGS_OUT        3
#define BUS_JS_WAIT_MS           5000 /* JetStream API calls and AckSync */
#define BUS_PUBLISH_WAIT_MS      5000 /* the stream's publish ack */
#define BUS_CLOSE_WAIT_MS        5000 /* for the closed callback in ag_bus_free */
#define BUS_SERVICE_FREE_WAIT_MS 10000
#define BUS_MAX_WAITING          512 /* pull requests waiting on a consumer (server default; 2.9 cannot update it) */
#define BUS_LABEL_MAX            128

/* Default stream replicas (BUS_STREAM_REPLICAS overrides, ag_bus_set_stream_replicas). 1 for a single server;
 * a 3-node cluster runs R3. Pick R at creation: a live WorkQueue stream rescaled R1 -> R3 stopped removing acked
 * messages (nats-server#3953). */
#define BUS_STREAM_REPLICAS 1

#define NS_PER_MS  1000000LL
#define NS_PER_MIN (60LL * 1000 * NS_PER_MS)

struct ag_bus {
	natsConnection *nc;
	jsCtx *js;
	ag_metrics *metrics;
	ag_gauge *g_connected;
	ag_counter *c_reconnects;
	ag_counter *c_errors;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	bool closed;  /* the closed callback ran; guarded by mu */
	int replicas; /* of the streams ag_bus_ensure_streams makes */
	char name[BUS_NAME_MAX];
};

struct ag_bus_service {
	natsSubscription *sub;
	ag_bus_reply_fn fn;
	void *ud;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	bool complete; /* the last callback returned; guarded by mu */
	bool notify;   /* plain subscription for notifications (no queue group) */
	char subject[BUS_NAME_MAX * 2];
};

typedef struct bus_stream_def {
	const char *name;
	const char *subject;
	jsRetentionPolicy retention;
	int64_t max_age_ns;
	int64_t duplicates_ns;
} bus_stream_def;

static const bus_stream_def bus_streams[] = {
        {AG_STREAM_JOBS, "aegis.jobs.>", js_WorkQueuePolicy, 7 * 24 * 60 * NS_PER_MIN, 10 * NS_PER_MIN},
        {AG_STREAM_TASKS, "aegis.tasks.>", js_WorkQueuePolicy, 7 * 24 * 60 * NS_PER_MIN, 10 * NS_PER_MIN},
        {AG_STREAM_RESULTS, "aegis.results.>", js_WorkQueuePolicy, 7 * 24 * 60 * NS_PER_MIN, 10 * NS_PER_MIN},
        {AG_STREAM_EVENTS, "aegis.events.>", js_LimitsPolicy, 24 * 60 * NS_PER_MIN, 2 * NS_PER_MIN},
};

/* --- shared with bus_worker.c --- */

natsConnection *ag_bus_nc_(ag_bus *b)
{
	return b->nc;
}
jsCtx *ag_bus_js_(ag_bus *b)
{
	return b->js;
}
ag_metrics *ag_bus_metrics_(ag_bus *b)
{
	return b->metrics;
}

ag_status ag_bus_status_(natsStatus s, jsErrCode jerr)
{
	switch (s) {
	case NATS_OK:
		return AG_OK;
	case NATS_TIMEOUT:
		return AG_E_TIMEOUT;
	case NATS_NO_RESPONDERS:
	case NATS_CONNECTION_CLOSED:
	case NATS_CONNECTION_DISCONNECTED:
	case NATS_NOT_YET_CONNECTED:
	case NATS_NO_SERVER:
	case NATS_STALE_CONNECTION:
	case NATS_IO_ERROR:
	case NATS_DRAINING:
	case NATS_CONNECTION_AUTH_FAILED:
	case NATS_NOT_PERMITTED:
		return AG_E_UNAVAILABLE;
	case NATS_NO_MEMORY:
		return AG_E_NOMEM;
	case NATS_INVALID_ARG:
	case NATS_INVALID_SUBJECT:
	case NATS_INVALID_TIMEOUT:
	case NATS_INVALID_QUEUE_NAME:
		return AG_E_INVAL;
	case NATS_NOT_FOUND:
		return AG_E_NOTFOUND;
	case NATS_MAX_PAYLOAD:
		return AG_E_TOOBIG;
	default:
		break;
	}
	switch ((int)jerr) {
	case 0:
		return AG_E_IO; /* no server code: 409s of a fetch, leadership changes: transient */
	case JSConsumerNotFoundErr:
	case JSStreamNotFoundErr:
		return AG_E_NOTFOUND;
	case JSStreamMessageExceedsMaximumErr:
		return AG_E_TOOBIG;
	case JSClusterNotAvailErr:
	case JSNotEnabledForAccountErr:
	case JSNotEnabledErr:
	case JSStreamStoreFailedErr:
		return AG_E_UNAVAILABLE;
	case JSConsumerMaxDeliverBackoffErr:
		return AG_E_INVAL;
	default:
		return AG_E_CONFLICT; /* the server refused a request against what it holds (config, overlap, …) */
	}
}

ag_status ag_bus_err_(ag_err *err, natsStatus s, jsErrCode jerr, const char *what)
{
	ag_status st = ag_bus_status_(s, jerr);
	natsStatus last = NATS_OK;
	const char *text = nats_GetLastError(&last);
	if (!text || !*text)
		text = natsStatus_GetText(s);
	if (jerr)
		ag_err_set(err, st, "%s: %s (jerr %d)", what, text, (int)jerr);
	else
		ag_err_set(err, st, "%s: %s", what, text);
	return st;
}

/* --- connection --- */

static void bus_on_connected(natsConnection *nc, void *closure)
{
	ag_bus *b = closure;
	char url[BUS_URL_MAX] = "";
	natsConnection_GetConnectedUrl(nc, url, sizeof url);
	ag_log_info("nats: connected to %s", url);
	ag_gauge_set(b->g_connected, 1);
}

static void bus_on_disconnected(natsConnection *nc, void *closure)
{
	ag_bus *b = closure;
	if (natsConnection_IsClosed(nc))
		ag_log_debug("nats: disconnected (closing)");
	else
		ag_log_warn("nats: disconnected, reconnecting");
	ag_gauge_set(b->g_connected, 0);
}

static void bus_on_reconnected(natsConnection *nc, void *closure)
{
	ag_bus *b = closure;
	char url[BUS_URL_MAX] = "";
	natsConnection_GetConnectedUrl(nc, url, sizeof url);
	ag_log_info("nats: reconnected to %s", url);
	ag_counter_inc(b->c_reconnects);
	ag_gauge_set(b->g_connected, 1);
}

static void bus_on_closed(natsConnection *nc, void *closure)
{
	ag_bus *b = closure;
	ag_log_info("nats: connection closed");
	ag_gauge_set(b->g_connected, 0);
	pthread_mutex_lock(&b->mu);
	b->closed = true;
	pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->mu);
}

static void bus_on_error(natsConnection *nc, natsSubscription *sub, natsStatus s, void *closure)
{
	ag_bus *b = closure;
	ag_log_warn("nats: asynchronous error: %s", natsStatus_GetText(s));
	ag_counter_inc(b->c_errors);
}

/* Split a comma-separated URL list into trimmed copies in `store`; returns the count or -1. */
static int bus_split_urls(const char *url, char store[][BUS_URL_MAX], const char **ptrs)
{
	int n = 0;
	const char *p = url;
	while (*p) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		const char *s = p;
		while (len && (*s == ' ' || *s == '\t')) {
			s++;
			len--;
		}
		while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
			len--;
		if (len) {
			if (n == BUS_MAX_SERVERS || len >= BUS_URL_MAX)
				return -1;
			memcpy(store[n], s, len);
			store[n][len] = '\0';
			ptrs[n] = store[n];
			n++;
		}
		if (!end)
			break;
		p = end + 1;
	}
	return n;
}

static ag_status bus_set_servers(natsOptions *o, const char *url, ag_err *err)
{
	char store[BUS_MAX_SERVERS][BUS_URL_MAX]; /* cnats copies the strings */
	const char *ptrs[BUS_MAX_SERVERS];
	int n = bus_split_urls(url, store, ptrs);
	if (n <= 0)
		return ag_err_set(err, AG_E_INVAL, "nats url \"%s\": expected 1..%d comma-separated URLs", url,
		                  BUS_MAX_SERVERS);
	natsStatus s = n == 1 ? natsOptions_SetURL(o, ptrs[0]) : natsOptions_SetServers(o, ptrs, n);
	if (s != NATS_OK)
		return ag_bus_err_(err, s, 0, "nats url");
	return AG_OK;
}

ag_status ag_bus_connect(ag_bus **out, const char *url, const char *client_name, ag_metrics *metrics, ag_err *err)
{
	ag_status st = AG_E_INTERNAL;
	natsOptions *o = NULL;
	natsStatus s;
	ag_bus *b = NULL;
	bool sync_init = false;

	*out = NULL;
	if (!url || !*url || !client_name || strlen(client_name) >= BUS_NAME_MAX)
		return ag_err_set(err, AG_E_INVAL, "ag_bus_connect: url and a client name under %d bytes required",
		                  BUS_NAME_MAX);
	b = calloc(1, sizeof *b);
	if (!b)
		return ag_err_set(err, AG_E_NOMEM, "ag_bus_connect: out of memory");
	if (pthread_mutex_init(&b->mu, NULL) != 0 || pthread_cond_init(&b->cond, NULL) != 0) {
		st = ag_err_set(err, AG_E_INTERNAL, "ag_bus_connect: mutex init");
		goto out;
	}
	sync_init = true;
	memcpy(b->name, client_name, strlen(client_name) + 1);
	b->replicas = BUS_STREAM_REPLICAS;
	b->metrics = metrics;
	if (metrics) {
		b->g_connected =
		        ag_metrics_gauge(metrics, "aegis_nats_connected", "1 while the NATS connection is up", NULL);
		b->c_reconnects = ag_metrics_counter(metrics, "aegis_nats_reconnects_total",
		                                     "NATS reconnections after a lost connection", NULL);
		b->c_errors = ag_metrics_counter(metrics, "aegis_nats_errors_total",
		                                 "asynchronous NATS errors (slow consumer, permissions, ...)", NULL);
	}

	if ((s = natsOptions_Create(&o)) != NATS_OK) {
		st = ag_bus_err_(err, s, 0, "natsOptions_Create");
		goto out;
	}
	if ((st = bus_set_servers(o, url, err)) != AG_OK)
		goto out;
	s = natsOptions_SetName(o, client_name);
	if (s == NATS_OK)
		s = natsOptions_SetMaxReconnect(o, -1);
	/* A non-NULL connected callback makes the first connect asynchronous: with a NULL one cnats blocks in
	 * natsConnection_Connect until it connects (forever, with unlimited reconnects). */
	if (s == NATS_OK)
		s = natsOptions_SetRetryOnFailedConnect(o, true, bus_on_connected, b);
	if (s == NATS_OK)
		s = natsOptions_SetPingInterval(o, BUS_PING_INTERVAL_MS);
	if (s == NATS_OK)
		s = natsOptions_SetMaxPingsOut(o, BUS_MAX_PINGS_OUT);
	if (s == NATS_OK)
		s = natsOptions_SetDisconnectedCB(o, bus_on_disconnected, b);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectedCB(o, bus_on_reconnected, b);
	if (s == NATS_OK)
		s = natsOptions_SetClosedCB(o, bus_on_closed, b);
	if (s == NATS_OK)
		s = natsOptions_SetErrorHandler(o, bus_on_error, b);
	if (s != NATS_OK) {
		st = ag_bus_err_(err, s, 0, "nats options");
		goto out;
	}

	s = natsConnection_Connect(&b->nc, o);
	if (s == NATS_OK) {
		char cu[BUS_URL_MAX] = "";
		natsConnection_GetConnectedUrl(b->nc, cu, sizeof cu);
		ag_log_info("nats: connected to %s as %s", cu, client_name);
		ag_gauge_set(b->g_connected, 1);
	} else if (s == NATS_NOT_YET_CONNECTED) {
		ag_log_warn("nats: %s not reachable yet, retrying in the background", url);
		ag_gauge_set(b->g_connected, 0);
	} else {
		st = ag_bus_err_(err, s, 0, "natsConnection_Connect");
		goto out;
	}

	jsOptions jo;
	jsOptions_Init(&jo);
	jo.Wait = BUS_JS_WAIT_MS;
	if ((s = natsConnection_JetStream(&b->js, b->nc, &jo)) != NATS_OK) {
		st = ag_bus_err_(err, s, 0, "natsConnection_JetStream");
		goto out;
	}
	*out = b;
	b = NULL;
	st = AG_OK;
out:
	natsOptions_Destroy(o);
	if (b) {
		if (b->nc) {
			ag_bus_free(b); /* waits for the closed callback that still points at b */
		} else {
			if (sync_init) {
				pthread_cond_destroy(&b->cond);
				pthread_mutex_destroy(&b->mu);
			}
			free(b);
		}
	}
	return st;
}

void ag_bus_free(ag_bus *b)
{
	if (!b)
		return;
	jsCtx_Destroy(b->js);
	bool closed = true;
	if (b->nc) {
		/* Callbacks run on cnats' callback thread and point at b: wait for the closed one, the last. */
		natsConnection_Close(b->nc);
		struct timespec dl;
		clock_gettime(CLOCK_REALTIME, &dl);
		dl.tv_sec += BUS_CLOSE_WAIT_MS / 1000;
		pthread_mutex_lock(&b->mu);
		while (!b->closed) {
			if (pthread_cond_timedwait(&b->cond, &b->mu, &dl) == ETIMEDOUT)
				break;
		}
		closed = b->closed;
		pthread_mutex_unlock(&b->mu);
		natsConnection_Destroy(b->nc);
	}
	if (!closed) {
		ag_log_error("nats: closed callback did not run within %d ms; leaking the bus handle",
		             BUS_CLOSE_WAIT_MS);
		return;
	}
	pthread_cond_destroy(&b->cond);
	pthread_mutex_destroy(&b->mu);
	free(b);
}

void ag_bus_shutdown_library(void)
{
	/* nats_Close does not wait for cnats' internal threads; waiting lets LeakSanitizer see a clean exit. */
	if (nats_CloseAndWait(BUS_CLOSE_WAIT_MS) != NATS_OK)
		ag_log_warn("nats: library threads still running at shutdown");
}

bool ag_bus_connected(ag_bus *b)
{
	return b && b->nc && natsConnection_Status(b->nc) == NATS_CONN_STATUS_CONNECTED;
}

/* --- topology --- */

#define BUS_STREAM_RACE_TRIES 5
#define BUS_NOTIFY_FLUSH_MS   1000

ag_status ag_bus_set_stream_replicas(ag_bus *b, int replicas, ag_err *err)
{
	if (!b || replicas < 1 || replicas > AG_BUS_MAX_STREAM_REPLICAS)
		return ag_err_set(err, AG_E_INVAL, "stream replicas %d: expected 1..%d", replicas,
		                  AG_BUS_MAX_STREAM_REPLICAS);
	b->replicas = replicas;
	return AG_OK;
}

static ag_status bus_ensure_stream(ag_bus *b, const bus_stream_def *d, ag_err *err)
{
	jsStreamConfig sc;
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	const char *subjects[1] = {d->subject};
	char what[BUS_NAME_MAX * 2];

	jsStreamConfig_Init(&sc);
	sc.Name = d->name;
	sc.Subjects = subjects;
	sc.SubjectsLen = 1;
	sc.Retention = d->retention;
	sc.Storage = js_FileStorage;
	sc.Replicas = b->replicas;
	sc.MaxAge = d->max_age_ns;
	sc.Duplicates = d->duplicates_ns;

	/*
	 * Same config: OK. Other config: 10058, then update. When several services start at once on a fresh
	 * server, the loser of the race for a new stream may be told "subjects overlap" (10065) rather than
	 * "name exists": the overlap is then with the stream of the same name that the winner just made, so
	 * update it too. An overlap with a stream of another name leaves the update "not found"; the add is
	 * tried again a few times and then fails with the server's words (a real conflict for an operator).
	 */
	natsStatus s = NATS_ERR;
	for (int attempt = 0; attempt < BUS_STREAM_RACE_TRIES; attempt++) {
		jerr = 0;
		jsStreamInfo_Destroy(si);
		si = NULL;
		s = js_AddStream(&si, b->js, &sc, NULL, &jerr);
		if (s == NATS_OK || (jerr != JSStreamNameExistErr && jerr != JSStreamSubjectOverlapErr))
			break;
		jsStreamInfo_Destroy(si);
		si = NULL;
		jerr = 0;
		s = js_UpdateStream(&si, b->js, &sc, NULL, &jerr);
		if (s == NATS_OK) {
			ag_log_info("nats: stream %s updated", d->name);
			break;
		}
		if (jerr != JSStreamNotFoundErr)
			break;
	}
	jsStreamInfo_Destroy(si);
	if (s != NATS_OK) {
		snprintf(what, sizeof what, "ensure stream %s", d->name);
		return ag_bus_err_(err, s, jerr, what);
	}
	return AG_OK;
}

ag_status ag_bus_ensure_streams(ag_bus *b, ag_err *err)
{
	if (!b)
		return ag_err_set(err, AG_E_INVAL, "ag_bus_ensure_streams: no bus");
	for (size_t i = 0; i < sizeof bus_streams / sizeof bus_streams[0]; i++) {
		ag_status st = bus_ensure_stream(b, &bus_streams[i], err);
		if (st != AG_OK)
			return st;
	}
	return AG_OK;
}

ag_status ag_bus_ensure_consumer(ag_bus *b, const ag_bus_consumer_cfg *cfg, ag_err *err)
{
	jsConsumerConfig cc;
	jsConsumerInfo *ci = NULL;
	jsErrCode jerr = 0;
	int64_t backoff_ns[AG_BUS_MAX_BACKOFF];
	char what[BUS_NAME_MAX * 3];

	if (!b || !cfg || !cfg->stream || !cfg->durable || !cfg->filter || strlen(cfg->durable) >= BUS_NAME_MAX)
		return ag_err_set(err, AG_E_INVAL, "ag_bus_ensure_consumer: stream, durable and filter required");
	if (cfg->ack_wait_ms <= 0 || cfg->max_ack_pending < 1 || cfg->backoff_len < 0 ||
	    cfg->backoff_len > AG_BUS_MAX_BACKOFF || (cfg->backoff_len > 0 && !cfg->backoff_ms) ||
	    cfg->max_deliver == 0 || cfg->max_deliver < -1)
		return ag_err_set(err, AG_E_INVAL, "consumer %s: invalid ack_wait/max_ack_pending/backoff/max_deliver",
		                  cfg->durable);
	/* nats-server 2.9 refuses BackOff unless MaxDeliver > len(BackOff) (2.10+ also allows -1). */
	if (cfg->backoff_len > 0 && cfg->max_deliver != -1 && cfg->max_deliver <= cfg->backoff_len)
		return ag_err_set(err, AG_E_INVAL, "consumer %s: max_deliver %d must exceed backoff_len %d",
		                  cfg->durable, cfg->max_deliver, cfg->backoff_len);
	if (cfg->backoff_len > 0 && cfg->max_deliver == -1)
		return ag_err_set(err, AG_E_INVAL, "consumer %s: BackOff needs a finite max_deliver on nats-server 2.9",
		                  cfg->durable);
	for (int i = 0; i < cfg->backoff_len; i++) {
		if (cfg->backoff_ms[i] <= 0)
			return ag_err_set(err, AG_E_INVAL, "consumer %s: backoff[%d] must be > 0", cfg->durable, i);
		backoff_ns[i] = cfg->backoff_ms[i] * NS_PER_MS;
	}

	jsConsumerConfig_Init(&cc);
	cc.Durable = cfg->durable;
	cc.DeliverPolicy = js_DeliverAll;
	cc.AckPolicy = js_AckExplicit;
	/* With BackOff the server uses BackOff[0] as the first AckWait and BackOff[i] for later redeliveries. */
	cc.AckWait = cfg->ack_wait_ms * NS_PER_MS;
	cc.MaxDeliver = cfg->max_deliver;
	cc.BackOff = cfg->backoff_len > 0 ? backoff_ns : NULL;
	cc.BackOffLen = cfg->backoff_len;
	cc.FilterSubject = cfg->filter;
	cc.MaxAckPending = cfg->max_ack_pending;
	cc.MaxWaiting = BUS_MAX_WAITING;

	/* Add returns OK for an identical consumer; for a different one it fails "already exists", then Update.
	 * Concurrent creators: the loser of an add race sees an identical consumer (OK) or "exists" (update
	 * with the same config: OK). A second round covers a consumer deleted between the two calls. */
	natsStatus s = NATS_ERR;
	for (int round = 0; round < 2; round++) {
		jerr = 0;
		s = js_AddConsumer(&ci, b->js, cfg->stream, &cc, NULL, &jerr);
		jsConsumerInfo_Destroy(ci);
		ci = NULL;
		if (s == NATS_OK || (jerr != JSConsumerNameExistErr && jerr != JSConsumerExistingActiveErr &&
		                     jerr != JSConsumerCreateErr))
			break;
		jerr = 0;
		s = js_UpdateConsumer(&ci, b->js, cfg->stream, &cc, NULL, &jerr);
		jsConsumerInfo_Destroy(ci);
		ci = NULL;
		if (s == NATS_OK) {
			ag_log_info("nats: consumer %s on %s updated", cfg->durable, cfg->stream);
			break;
		}
		if (jerr != JSConsumerNotFoundErr)
			break;
	}
	if (s != NATS_OK) {
		snprintf(what, sizeof what, "ensure consumer %s on %s", cfg->durable, cfg->stream);
		return ag_bus_err_(err, s, jerr, what);
	}
	return AG_OK;
}

ag_status ag_bus_consumer_info_get(ag_bus *b, const char *stream, const char *durable, ag_bus_consumer_info *out,
                                   ag_err *err)
{
	jsConsumerInfo *ci = NULL;
	jsErrCode jerr = 0;

	memset(out, 0, sizeof *out);
	if (!b || !stream || !*stream || !durable || !*durable)
		return ag_err_set(err, AG_E_INVAL, "ag_bus_consumer_info_get: bus, stream and durable required");
	natsStatus s = js_GetConsumerInfo(&ci, b->js, stream, durable, NULL, &jerr);
	if (s != NATS_OK) {
		char what[BUS_NAME_MAX * 3];
		snprintf(what, sizeof what, "consumer info %s on %s", durable, stream);
		return ag_bus_err_(err, s, jerr, what);
	}
	out->pending = ci->NumPending;
	out->ack_pending = ci->NumAckPending;
	out->redelivered = ci->NumRedelivered;
	out->waiting = ci->NumWaiting;
	jsConsumerInfo_Destroy(ci);
	return AG_OK;
}

/* --- publish --- */

/* "aegis.tasks.validate" -> "aegis.tasks": a bounded label (the first two tokens). */
static void bus_subject_prefix(const char *subject, char *buf, size_t bufsz)
{
	const char *dot = strchr(subject, '.');
	if (dot)
		dot = strchr(dot + 1, '.');
	size_t n = dot ? (size_t)(dot - subject) : strlen(subject);
	if (n >= bufsz)
		n = bufsz - 1;
	memcpy(buf, subject, n);
	buf[n] = '\0';
}

static void bus_count_published(ag_bus *b, const char *subject)
{
	if (!b->metrics)
		return;
	char prefix[BUS_LABEL_MAX], esc[BUS_LABEL_MAX], labels[BUS_LABEL_MAX + 32];
	bus_subject_prefix(subject, prefix, sizeof prefix);
	ag_metrics_label_escape(prefix, esc, sizeof esc);
	snprintf(labels, sizeof labels, "subject_prefix=\"%s\"", esc);
	ag_counter_inc(ag_metrics_counter(b->metrics, "aegis_bus_published_total",
	                                  "JetStream messages published and stored", labels));
}

ag_status ag_bus_publish(ag_bus *b, const char *subject, const void *data, size_t len, const char *msg_id,
                         const ag_trace *trace, ag_err *err)
{
	ag_status st = AG_E_INTERNAL;
	natsMsg *m = NULL;
	jsPubAck *pa = NULL;
	jsErrCode jerr = 0;
	natsStatus s;

	if (!b || !subject || !*subject || (len && !data))
		return ag_err_set(err, AG_E_INVAL, "ag_bus_publish: bus, subject and data required");
	if (len > AG_BUS_MAX_MSG_BYTES)
		return ag_err_set(err, AG_E_TOOBIG, "publish %s: %zu bytes > %d", subject, len, AG_BUS_MAX_MSG_BYTES);

	if ((s = natsMsg_Create(&m, subject, NULL, data, (int)len)) != NATS_OK) {
		st = ag_bus_err_(err, s, 0, "natsMsg_Create");
		goto out;
	}
	if (trace && trace->trace_id[0]) {
		char tp[AG_TRACEPARENT_LEN + 1];
		ag_trace_format(trace, tp, sizeof tp);
		/* Lower case: cnats header keys are case-sensitive and NATS 2.11 rewrites the key to lower case. */
		if ((s = natsMsgHeader_Set(m, "traceparent", tp)) != NATS_OK) {
			st = ag_bus_err_(err, s, 0, "traceparent header");
			goto out;
		}
	}
	jsPubOptions po;
	jsPubOptions_Init(&po);
	po.MaxWait = BUS_PUBLISH_WAIT_MS;
	po.MsgId = msg_id && *msg_id ? msg_id : NULL;
	s = js_PublishMsg(&pa, b->js, m, &po, &jerr);
	if (s != NATS_OK) {
		char what[BUS_LABEL_MAX * 2];
		snprintf(what, sizeof what, "publish %s", subject);
		st = ag_bus_err_(err, s, jerr, what);
		goto out;
	}
	if (pa->Duplicate)
		ag_log_debug("nats: publish %s msg id %s: duplicate of seq %llu", subject, msg_id,
		             (unsigned long long)pa->Sequence);
	bus_count_published(b, subject);
	st = AG_OK;
out:
	jsPubAck_Destroy(pa);
	natsMsg_Destroy(m);
	return st;
}

/* --- request/reply --- */

ag_status ag_bus_request(ag_bus *b, const char *subject, const void *data, size_t len, int timeout_ms, void **reply,
                         size_t *reply_len, ag_err *err)
{
	ag_status st = AG_E_INTERNAL;
	natsMsg *rm = NULL;

	*reply = NULL;
	*reply_len = 0;
	if (!b || !subject || !*subject || (len && !data) || timeout_ms <= 0)
		return ag_err_set(err, AG_E_INVAL, "ag_bus_request: bus, subject, data and a timeout required");
	if (len > AG_BUS_MAX_MSG_BYTES)
		return ag_err_set(err, AG_E_TOOBIG, "request %s: %zu bytes > %d", subject, len, AG_BUS_MAX_MSG_BYTES);

	natsStatus s = natsConnection_Request(&rm, b->nc, subject, data, (int)len, timeout_ms);
	if (s != NATS_OK) {
		char what[BUS_LABEL_MAX * 2];
		snprintf(what, sizeof what, "request %s", subject);
		st = ag_bus_err_(err, s, 0, what);
		goto out;
	}
	int n = natsMsg_GetDataLength(rm);
	void *copy = malloc(n > 0 ? (size_t)n : 1);
	if (!copy) {
		st = ag_err_set(err, AG_E_NOMEM, "request %s: reply of %d bytes", subject, n);
		goto out;
	}
	if (n > 0)
		memcpy(copy, natsMsg_GetData(rm), (size_t)n);
	*reply = copy;
	*reply_len = (size_t)n;
	st = AG_OK;
out:
	natsMsg_Destroy(rm);
	return st;
}

static void bus_serve_cb(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
	ag_bus_service *svc = closure;
	const char *to = natsMsg_GetReply(msg);
	void *out = NULL;
	size_t out_len = 0;

	if (!to || !*to) {
		if (svc->notify)
			svc->fn(natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg), &out, &out_len, svc->ud);
		else
			ag_log_warn("nats: request on %s without a reply subject dropped", svc->subject);
		goto out;
	}
	svc->fn(natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg), &out, &out_len, svc->ud);
	if (!out) {
		/* An empty reply would decode as an all-defaults protobuf; let the requester time out instead. A plain
		 * (notify) subscriber also sees messages that carry someone else's reply subject (JetStream publishes):
		 * answering none of those is normal. */
		if (!svc->notify)
			ag_log_warn("nats: handler of %s produced no reply", svc->subject);
		goto out;
	}
	if (out_len > AG_BUS_MAX_MSG_BYTES) {
		ag_log_error("nats: reply on %s of %zu bytes exceeds %d; not sent", svc->subject, out_len,
		             AG_BUS_MAX_MSG_BYTES);
		goto out;
	}
	natsStatus s = natsConnection_Publish(nc, to, out, (int)out_len);
	if (s != NATS_OK)
		ag_log_warn("nats: reply on %s failed: %s", svc->subject, natsStatus_GetText(s));
out:
	free(out);
	natsMsg_Destroy(msg);
}

static void bus_serve_complete(void *closure)
{
	ag_bus_service *svc = closure;
	pthread_mutex_lock(&svc->mu);
	svc->complete = true;
	pthread_cond_broadcast(&svc->cond);
	pthread_mutex_unlock(&svc->mu);
}

ag_status ag_bus_serve(ag_bus_service **out, ag_bus *b, const char *subject, const char *queue, ag_bus_reply_fn fn,
                       void *ud, ag_err *err)
{
	ag_status st = AG_E_INTERNAL;
	ag_bus_service *svc = NULL;
	natsStatus s;

	*out = NULL;
	if (!b || !subject || !fn || strlen(subject) >= sizeof svc->subject)
		return ag_err_set(err, AG_E_INVAL, "ag_bus_serve: bus, subject and handler required");
	svc = calloc(1, sizeof *svc);
	if (!svc)
		return ag_err_set(err, AG_E_NOMEM, "ag_bus_serve: out of memory");
	if (pthread_mutex_init(&svc->mu, NULL) != 0) {
		free(svc);
		return ag_err_set(err, AG_E_INTERNAL, "ag_bus_serve: mutex init");
	}
	if (pthread_cond_init(&svc->cond, NULL) != 0) {
		pthread_mutex_destroy(&svc->mu);
		free(svc);
		return ag_err_set(err, AG_E_INTERNAL, "ag_bus_serve: cond init");
	}
	svc->fn = fn;
	svc->ud = ud;
	svc->notify = queue == NULL;
	memcpy(svc->subject, subject, strlen(subject) + 1);

	s = queue ? natsConnection_QueueSubscribe(&svc->sub, b->nc, subject, queue, bus_serve_cb, svc)
	          : natsConnection_Subscribe(&svc->sub, b->nc, subject, bus_serve_cb, svc);
	if (s == NATS_OK)
		s = natsSubscription_SetOnCompleteCB(svc->sub, bus_serve_complete, svc);
	if (s != NATS_OK) {
		char what[BUS_LABEL_MAX * 2];
		snprintf(what, sizeof what, "serve %s", subject);
		st = ag_bus_err_(err, s, 0, what);
		goto out;
	}
	*out = svc;
	svc = NULL;
	st = AG_OK;
out:
	if (svc) {
		if (svc->sub) {
			/* SetOnCompleteCB fails only on a subscription already closed (the connection closed under us),
			 * whose delivery thread has exited: nothing can run with svc any more. */
			natsSubscription_Unsubscribe(svc->sub);
			natsSubscription_Destroy(svc->sub);
		}
		pthread_cond_destroy(&svc->cond);
		pthread_mutex_destroy(&svc->mu);
		free(svc);
	}
	return st;
}

void ag_bus_service_free(ag_bus_service *svc)
{
	if (!svc)
		return;
	/* Unsubscribe stops delivery; the on-complete callback runs once the handler in flight has returned. */
	natsSubscription_Unsubscribe(svc->sub);
	struct timespec dl;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += BUS_SERVICE_FREE_WAIT_MS / 1000;
	pthread_mutex_lock(&svc->mu);
	while (!svc->complete) {
		if (pthread_cond_timedwait(&svc->cond, &svc->mu, &dl) == ETIMEDOUT)
			break;
	}
	bool complete = svc->complete;
	pthread_mutex_unlock(&svc->mu);
	natsSubscription_Destroy(svc->sub);
	if (!complete) {
		ag_log_error("nats: handler of %s still running after %d ms; leaking its service handle", svc->subject,
		             BUS_SERVICE_FREE_WAIT_MS);
		return;
	}
	pthread_cond_destroy(&svc->cond);
	pthread_mutex_destroy(&svc->mu);
	free(svc);
}

ag_status ag_bus_notify(ag_bus *b, const char *subject, const void *data, size_t len, ag_err *err)
{
	if (!b || !subject || len > AG_BUS_MAX_MSG_BYTES)
		return ag_err_set(err, AG_E_INVAL, "ag_bus_notify: bus and subject required, at most %d bytes",
		                  AG_BUS_MAX_MSG_BYTES);
	natsStatus s = natsConnection_Publish(b->nc, subject, data, (int)len);
	if (s == NATS_OK)
		s = natsConnection_FlushTimeout(b->nc, BUS_NOTIFY_FLUSH_MS);
	if (s != NATS_OK) {
		char what[BUS_LABEL_MAX * 2];
		snprintf(what, sizeof what, "notify %s", subject);
		return ag_bus_err_(err, s, 0, what);
	}
	return AG_OK;
}
