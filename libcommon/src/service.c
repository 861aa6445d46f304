/*
 * service.c - the life of an Aegis process: flags, configuration, logging,
 * dependencies, the health/metrics HTTP endpoints, signals and the drain.
 *
 * Readiness is computed off the loop: a timer queues a probe on the thread
 * pool every second (PostgreSQL SELECT 1, storage check, process RSS) and
 * /readyz only reads the cached answers, so a slow database can never stall
 * the event loop or a health check.
 */
#include "aegis/service.h"

#include "aegis/healthcheck.h"
#include "aegis/log.h"
#include "aegis/sandbox.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SERVICE_MAX_HOOKS         16
#define SERVICE_PROBE_INTERVAL_MS 1000
#define SERVICE_DRAIN_POLL_MS     50
#define SERVICE_START_RETRY_MS    1000
#define SERVICE_START_TIMEOUT_MS  60000
#define SERVICE_VERSION           "0.1.0"

typedef struct service_ready {
	ag_ready_fn fn;
	void *ud;
} service_ready;

typedef struct service_drain {
	void (*begin)(void *ud);
	bool (*drained)(void *ud);
	void *ud;
} service_drain;

struct ag_service {
	ag_service_spec spec;
	uv_loop_t loop;
	uv_signal_t sig_term, sig_int;
	uv_timer_t probe_timer, drain_timer;
	uv_work_t probe_work;
	bool probe_running;

	ag_metrics *metrics;
	ag_http_server *http;
	ag_db_pool *db;
	ag_bus *bus;
	ag_storage *storage;

	service_ready ready[SERVICE_MAX_HOOKS];
	int nready;
	service_drain drain[SERVICE_MAX_HOOKS];
	int ndrain;

	/* written by the probe on the thread pool, read on the loop */
	atomic_bool db_ok, storage_ok;
	atomic_llong rss_bytes;

	bool draining;
	int exit_code; /* what ag_service_run returns: 0, or 1 after a drain the service started itself */
	bool http_closed;
	bool handles_open; /* signals and timers initialised and not yet closed */
	uint64_t drain_deadline;
	char instance[128];
	ag_gauge *g_ready, *g_rss;
};

static int service_parse_flags(const ag_service_spec *spec, int argc, char **argv, bool *check_only, bool *migrate_only)
{
	*check_only = false;
	*migrate_only = false;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--check-config") == 0) {
			*check_only = true;
		} else if (strcmp(argv[i], "--migrate") == 0) {
			*migrate_only = true;
		} else if (strcmp(argv[i], "--healthcheck") == 0) {
			/* Reads only HTTP_PORT/HTTP_HOST: the rest of the configuration is not loaded. */
			const char *path = i + 1 < argc && argv[i + 1][0] == '/' ? argv[i + 1] : NULL;
			if (i + 1 + (path != NULL) < argc) {
				fprintf(stderr, "%s: --healthcheck takes one optional URL path and nothing after it\n",
				        spec->name);
				return 2;
			}
			return ag_healthcheck_main(spec->name, spec->items, spec->nitems, path);
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("%s %s\n", spec->name, SERVICE_VERSION);
			return 0;
		} else if (strcmp(argv[i], "--config-table") == 0) {
			ag_cfg_print_markdown(spec->items, spec->nitems, stdout);
			return 0;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			printf("usage: %s [--check-config | --config-table | --version | --help]\n"
			       "       %s --healthcheck [/readyz | /healthz]   exit 0 when the running service answers "
			       "200\n"
			       "       %s --migrate   apply the database migrations and exit\n\n"
			       "Configuration comes from the environment:\n",
			       spec->name, spec->name, spec->name);
			ag_cfg_print_help(spec->items, spec->nitems, stdout);
			return 0;
		} else {
			fprintf(stderr, "%s: unknown argument '%s' (try --help)\n", spec->name, argv[i]);
			return 2;
		}
	}
	return -1;
}

/* Checks that go beyond one item's own bounds. Returns the number of problems. */
static int service_check_common(const ag_common_cfg *c, ag_log_level *lvl)
{
	int problems = 0;
	if (!ag_log_level_parse(c->log_level, lvl)) {
		fprintf(stderr, "config: LOG_LEVEL=\"%s\" must be debug, info, warn or error\n", c->log_level);
		problems++;
	}
	return problems;
}

/* ---- readiness probe (thread pool) ---- */

static long long service_rss(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long long pages = 0, rss = 0;
	if (!f)
		return 0;
	if (fscanf(f, "%lld %lld", &pages, &rss) != 2)
		rss = 0;
	fclose(f);
	return rss * sysconf(_SC_PAGESIZE);
}

static void service_probe_work(uv_work_t *w)
{
	ag_service *s = w->data;
	if (s->db)
		atomic_store(&s->db_ok, ag_db_ping(s->db));
	if (s->storage)
		atomic_store(&s->storage_ok, ag_storage_ping(s->storage));
	atomic_store(&s->rss_bytes, service_rss());
}

static bool service_ready_now(ag_service *s, char *why, size_t whylen);
static void service_begin_drain(ag_service *s, const char *why, int exit_code);

static void service_probe_done(uv_work_t *w, int status)
{
	ag_service *s = w->data;
	s->probe_running = false;
	if ((s->spec.needs & AG_NEEDS_SANDBOX) && !s->draining && !ag_sandbox_alive()) {
		/* every parse would fail from now on, and a threaded process must not fork a new helper: exit, so
		 * that Kubernetes or compose starts a fresh process */
		ag_log_error(
		        "the sandbox helper process is gone: parsers cannot run; draining and exiting with status 1");
		service_begin_drain(s, "the sandbox helper process is gone", 1);
	}
	ag_gauge_set(s->g_rss, (double)atomic_load(&s->rss_bytes));
	char why[128];
	ag_gauge_set(s->g_ready, service_ready_now(s, why, sizeof why) ? 1 : 0);
}

static void service_probe_tick(uv_timer_t *t)
{
	ag_service *s = t->data;
	if (s->probe_running || s->draining)
		return;
	s->probe_running = true;
	s->probe_work.data = s;
	if (uv_queue_work(&s->loop, &s->probe_work, service_probe_work, service_probe_done) != 0)
		s->probe_running = false;
}

static bool service_ready_now(ag_service *s, char *why, size_t whylen)
{
	if (s->draining) {
		snprintf(why, whylen, "draining");
		return false;
	}
	if (s->bus && !ag_bus_connected(s->bus)) {
		snprintf(why, whylen, "NATS not connected");
		return false;
	}
	if (s->db && !atomic_load(&s->db_ok)) {
		snprintf(why, whylen, "PostgreSQL not reachable");
		return false;
	}
	if (s->storage && !atomic_load(&s->storage_ok)) {
		snprintf(why, whylen, "storage not writable");
		return false;
	}
	if ((s->spec.needs & AG_NEEDS_SANDBOX) && !ag_sandbox_alive()) {
		snprintf(why, whylen, "the sandbox helper process is gone (parsers cannot run; restart the service)");
		return false;
	}
	for (int i = 0; i < s->nready; i++) {
		if (!s->ready[i].fn(s->ready[i].ud, why, whylen))
			return false;
	}
	return true;
}

/* ---- health endpoints ---- */

static void service_healthz(ag_http_req *req, void *ud)
{
	ag_http_respond(req, 200, "text/plain; charset=utf-8", "ok\n", 3);
}

static void service_readyz(ag_http_req *req, void *ud)
{
	ag_service *s = ud;
	char why[160] = "";
	char body[200];
	if (service_ready_now(s, why, sizeof why)) {
		ag_http_respond(req, 200, "text/plain; charset=utf-8", "ready\n", 6);
		return;
	}
	int n = snprintf(body, sizeof body, "not ready: %s\n", why);
	ag_http_resp_header(req, "Retry-After", "1");
	ag_http_respond(req, 503, "text/plain; charset=utf-8", body,
	                n > 0 && (size_t)n < sizeof body ? (size_t)n : strlen(body));
}

static void service_metrics(ag_http_req *req, void *ud)
{
	ag_service *s = ud;
	char *text = NULL;
	size_t len = 0;
	if (ag_metrics_render(s->metrics, &text, &len) != AG_OK) {
		ag_http_respond_problem(req, 500, "metrics could not be rendered");
		return;
	}
	ag_http_respond(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
	free(text);
}

/* ---- start-up ---- */

/* Retry a start-up step while its failure is transient, up to SERVICE_START_TIMEOUT_MS. */
static ag_status service_retry(const char *what, ag_status (*fn)(ag_service *s, ag_err *err), ag_service *s,
                               ag_err *err)
{
	int waited = 0;
	for (;;) {
		ag_status st = fn(s, err);
		if (st == AG_OK || !ag_status_transient(st) || waited >= SERVICE_START_TIMEOUT_MS)
			return st;
		if (waited == 0 || waited % 10000 == 0)
			ag_log_warn("%s: %s; retrying", what, err->msg);
		usleep(SERVICE_START_RETRY_MS * 1000);
		waited += SERVICE_START_RETRY_MS;
	}
}

static ag_status service_migrate(ag_service *s, ag_err *err)
{
	return ag_db_migrate(s->db, err);
}

static ag_status service_streams(ag_service *s, ag_err *err)
{
	if (!ag_bus_connected(s->bus))
		return ag_err_set(err, AG_E_UNAVAILABLE, "NATS not connected yet");
	return ag_bus_ensure_streams(s->bus, err);
}

static void service_on_signal(uv_signal_t *h, int signum);

/* --migrate: apply the migrations (retrying while PostgreSQL is not there yet) and return the exit code. */
static int service_migrate_only(const ag_service_spec *spec)
{
	ag_db_pool *db = NULL;
	ag_err err;
	ag_err_clear(&err);
	int waited = 0;
	ag_status st = ag_db_pool_new(&db, spec->common->database_url, 1, &err);
	while (st == AG_OK) {
		st = ag_db_migrate(db, &err);
		if (st == AG_OK || !ag_status_transient(st) || waited >= SERVICE_START_TIMEOUT_MS)
			break;
		if (waited == 0 || waited % 10000 == 0)
			ag_log_warn("database migrations: %s; retrying", err.msg);
		usleep(SERVICE_START_RETRY_MS * 1000);
		waited += SERVICE_START_RETRY_MS;
	}
	ag_db_pool_free(db);
	if (st != AG_OK) {
		ag_log_error("database migrations failed: %s", err.msg[0] ? err.msg : ag_status_str(st));
		return 1;
	}
	ag_log_info("database migrations applied");
	return 0;
}

ag_status ag_service_start(ag_service **out, const ag_service_spec *spec, int argc, char **argv, int *exit_code)
{
	ag_service *s = NULL;
	ag_err err;
	ag_err_clear(&err);
	bool check_only, migrate_only;
	*out = NULL;
	*exit_code = 1;

	int rc = service_parse_flags(spec, argc, argv, &check_only, &migrate_only);
	if (rc >= 0) {
		*exit_code = rc;
		return AG_E_CANCELLED;
	}
	ag_log_level lvl = AG_LOG_INFO;
	int problems = ag_cfg_load(spec->items, spec->nitems, spec->cfg, stderr) != AG_OK;
	if (!problems)
		problems += service_check_common(spec->common, &lvl);
	if (!problems && spec->check)
		problems += spec->check(spec->cfg, stderr);
	if (problems) {
		ag_cfg_free(spec->items, spec->nitems, spec->cfg);
		*exit_code = 2;
		return AG_E_INVAL;
	}
	if (check_only) {
		printf("configuration OK\n");
		ag_cfg_free(spec->items, spec->nitems, spec->cfg);
		*exit_code = 0;
		return AG_E_CANCELLED;
	}
	ag_log_init(spec->name, lvl);
	if (migrate_only) {
		*exit_code = service_migrate_only(spec);
		ag_cfg_free(spec->items, spec->nitems, spec->cfg);
		return AG_E_CANCELLED;
	}

	s = calloc(1, sizeof *s);
	if (!s) {
		ag_cfg_free(spec->items, spec->nitems, spec->cfg);
		return AG_E_NOMEM;
	}
	s->spec = *spec;
	char host[64] = "localhost";
	gethostname(host, sizeof host - 1);
	snprintf(s->instance, sizeof s->instance, "%s:%d", host, (int)getpid());

	/* The thread pool runs deferred DB work and the probe: give it one thread per DB connection plus one. */
	if (!getenv("UV_THREADPOOL_SIZE")) {
		char n[24];
		snprintf(n, sizeof n, "%lld", spec->common->db_pool_size + 1);
		setenv("UV_THREADPOOL_SIZE", n, 0);
	}
	if (uv_loop_init(&s->loop) != 0) {
		free(s);
		ag_cfg_free(spec->items, spec->nitems, spec->cfg);
		return AG_E_INTERNAL;
	}
	*out = s; /* from here on ag_service_free cleans up */

	ag_status st = ag_metrics_new(&s->metrics);
	if (st != AG_OK)
		goto fail;
	s->g_ready = ag_metrics_gauge(s->metrics, "aegis_ready", "1 when the service is ready to take work", NULL);
	s->g_rss = ag_metrics_gauge(s->metrics, "process_resident_memory_bytes", "Resident memory size in bytes", NULL);
	char labels[128];
	snprintf(labels, sizeof labels, "service=\"%s\",version=\"%s\"", spec->name, SERVICE_VERSION);
	ag_gauge_set(ag_metrics_gauge(s->metrics, "aegis_build_info", "Build information", labels), 1);
	ag_gauge_set(ag_metrics_gauge(s->metrics, "process_start_time_seconds", "Start time since the epoch", NULL),
	             (double)time(NULL));

	/* before any thread exists: the sandbox helper must be a copy of a single-threaded process (sandbox.h) */
	if (spec->needs & AG_NEEDS_SANDBOX) {
		st = ag_sandbox_start(&err);
		if (st != AG_OK)
			goto fail;
	}
	if (spec->needs & AG_NEEDS_STORAGE) {
		st = ag_storage_open(&s->storage, spec->common->storage_url, &err);
		if (st != AG_OK)
			goto fail;
	}
	if (spec->needs & AG_NEEDS_DB) {
		st = ag_db_pool_new(&s->db, spec->common->database_url, (int)spec->common->db_pool_size, &err);
		if (st != AG_OK)
			goto fail;
		if (spec->common->migrate_on_start) {
			st = service_retry("database migrations", service_migrate, s, &err);
			if (st != AG_OK)
				goto fail;
		}
	}
	if (spec->needs & AG_NEEDS_BUS) {
		st = ag_bus_connect(&s->bus, spec->common->nats_url, spec->name, s->metrics, &err);
		if (st != AG_OK)
			goto fail;
		if (spec->common->bus_stream_replicas > 0) {
			st = ag_bus_set_stream_replicas(s->bus, (int)spec->common->bus_stream_replicas, &err);
			if (st != AG_OK)
				goto fail;
		}
		st = service_retry("NATS streams", service_streams, s, &err);
		if (st != AG_OK)
			goto fail;
	}

	ag_http_limits def_limits;
	ag_http_limits_default(&def_limits);
	if (spec->common->http_max_connections > 0)
		def_limits.max_connections = (int)spec->common->http_max_connections;
	if (spec->common->http_idle_timeout_ms > 0)
		def_limits.idle_timeout_ms = (uint64_t)spec->common->http_idle_timeout_ms;
	if (spec->common->http_max_header_bytes > 0)
		def_limits.max_header_bytes = (size_t)spec->common->http_max_header_bytes;
	st = ag_http_server_new(&s->http, &s->loop, spec->http_limits ? spec->http_limits : &def_limits, s->metrics);
	if (st != AG_OK)
		goto fail;
	ag_http_route_simple(s->http, AG_HTTP_GET, "/healthz", service_healthz, s);
	ag_http_route_simple(s->http, AG_HTTP_GET, "/readyz", service_readyz, s);
	ag_http_route_simple(s->http, AG_HTTP_GET, "/metrics", service_metrics, s);
	st = ag_http_listen(s->http, spec->common->http_host, (int)spec->common->http_port, &err);
	if (st != AG_OK)
		goto fail;

	uv_signal_init(&s->loop, &s->sig_term);
	uv_signal_init(&s->loop, &s->sig_int);
	s->sig_term.data = s->sig_int.data = s;
	uv_signal_start(&s->sig_term, service_on_signal, SIGTERM);
	uv_signal_start(&s->sig_int, service_on_signal, SIGINT);
	uv_timer_init(&s->loop, &s->probe_timer);
	uv_timer_init(&s->loop, &s->drain_timer);
	s->probe_timer.data = s->drain_timer.data = s;
	uv_timer_start(&s->probe_timer, service_probe_tick, 0, SERVICE_PROBE_INTERVAL_MS);
	s->handles_open = true;

	ag_log_info("%s started on %s:%lld", spec->name, spec->common->http_host, spec->common->http_port);
	*exit_code = 0;
	return AG_OK;

fail:
	ag_log_error("%s could not start: %s", spec->name, err.msg[0] ? err.msg : ag_status_str(st));
	ag_service_free(s);
	*out = NULL;
	*exit_code = 1;
	return st;
}

/* ---- run and drain ---- */

static void service_close_cb(uv_handle_t *h)
{
	(void)h;
}

static void service_finish(ag_service *s)
{
	if (!s->handles_open)
		return;
	s->handles_open = false;
	uv_timer_stop(&s->drain_timer);
	uv_timer_stop(&s->probe_timer);
	uv_signal_stop(&s->sig_term);
	uv_signal_stop(&s->sig_int);
	uv_close((uv_handle_t *)&s->drain_timer, service_close_cb);
	uv_close((uv_handle_t *)&s->probe_timer, service_close_cb);
	uv_close((uv_handle_t *)&s->sig_term, service_close_cb);
	uv_close((uv_handle_t *)&s->sig_int, service_close_cb);
}

static void service_drain_tick(uv_timer_t *t)
{
	ag_service *s = t->data;
	bool done = s->http_closed;
	for (int i = 0; done && i < s->ndrain; i++)
		if (s->drain[i].drained && !s->drain[i].drained(s->drain[i].ud))
			done = false;
	if (done) {
		ag_log_info("drained; exiting");
		service_finish(s);
	} else if (uv_now(&s->loop) >= s->drain_deadline) {
		ag_log_warn("grace period of %lld ms over with work still in flight; exiting (unacked messages "
		            "will be redelivered)",
		            s->spec.common->shutdown_grace_ms);
		service_finish(s);
	}
}

static void service_http_closed(void *ud)
{
	ag_service *s = ud;
	s->http_closed = true;
}

/* Stop taking work, let what runs finish within the grace period, then let ag_service_run return exit_code. */
static void service_begin_drain(ag_service *s, const char *why, int exit_code)
{
	s->draining = true;
	s->exit_code = exit_code;
	ag_log_info("%s: draining (grace %lld ms)", why, s->spec.common->shutdown_grace_ms);
	ag_gauge_set(s->g_ready, 0);
	for (int i = 0; i < s->ndrain; i++)
		if (s->drain[i].begin)
			s->drain[i].begin(s->drain[i].ud);
	ag_http_server_close(s->http, service_http_closed, s);
	s->drain_deadline = uv_now(&s->loop) + (uint64_t)s->spec.common->shutdown_grace_ms;
	uv_timer_start(&s->drain_timer, service_drain_tick, 0, SERVICE_DRAIN_POLL_MS);
}

static void service_on_signal(uv_signal_t *h, int signum)
{
	ag_service *s = h->data;
	char why[32];
	if (s->draining) {
		ag_log_warn("second signal %d during drain: exiting now", signum);
		_exit(1);
	}
	snprintf(why, sizeof why, "signal %d", signum);
	service_begin_drain(s, why, 0);
}

int ag_service_run(ag_service *s)
{
	uv_run(&s->loop, UV_RUN_DEFAULT);
	return s->exit_code;
}

/* ---- accessors ---- */

uv_loop_t *ag_service_loop(ag_service *s)
{
	return &s->loop;
}
ag_http_server *ag_service_http(ag_service *s)
{
	return s->http;
}
ag_metrics *ag_service_metrics(ag_service *s)
{
	return s->metrics;
}
ag_db_pool *ag_service_db(ag_service *s)
{
	return s->db;
}
ag_bus *ag_service_bus(ag_service *s)
{
	return s->bus;
}
ag_storage *ag_service_storage(ag_service *s)
{
	return s->storage;
}
const char *ag_service_name(const ag_service *s)
{
	return s->spec.name;
}
const char *ag_service_instance(const ag_service *s)
{
	return s->instance;
}
bool ag_service_draining(const ag_service *s)
{
	return s->draining;
}

void ag_service_ready_check(ag_service *s, ag_ready_fn fn, void *ud)
{
	if (s->nready < SERVICE_MAX_HOOKS)
		s->ready[s->nready++] = (service_ready){fn, ud};
	else
		ag_log_error("too many readiness checks (max %d)", SERVICE_MAX_HOOKS);
}

void ag_service_on_drain(ag_service *s, void (*begin)(void *ud), bool (*drained)(void *ud), void *ud)
{
	if (s->ndrain < SERVICE_MAX_HOOKS)
		s->drain[s->ndrain++] = (service_drain){begin, drained, ud};
	else
		ag_log_error("too many drain hooks (max %d)", SERVICE_MAX_HOOKS);
}

void ag_service_abandon(ag_service *s, int code)
{
	ag_log_error("%s: threads still running after the drain; exiting without releasing the database pool and "
	             "the NATS connection they use (unacknowledged messages will be redelivered)",
	             s ? s->spec.name : "service");
	fflush(stdout);
	_exit(code);
}

void ag_service_free(ag_service *s)
{
	if (!s)
		return;
	/* After a start-up failure the HTTP server and our handles may still be open: close them and let the
	 * loop run until every close (and any in-flight request) has completed, before anything is freed. */
	if (s->http && !s->http_closed)
		ag_http_server_close(s->http, service_http_closed, s);
	service_finish(s);
	uv_run(&s->loop, UV_RUN_DEFAULT);
	ag_http_server_free(s->http);
	uv_loop_close(&s->loop);
	ag_bus_free(s->bus);
	ag_db_pool_free(s->db);
	ag_storage_free(s->storage);
	if (s->spec.needs & AG_NEEDS_SANDBOX)
		ag_sandbox_stop();
	ag_metrics_free(s->metrics);
	ag_cfg_free(s->spec.items, s->spec.nitems, s->spec.cfg);
	free(s);
	ag_bus_shutdown_library();
}
