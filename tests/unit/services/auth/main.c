/*
 * Tests services/auth/main.c end to end: starts the real auth binary (and a
 * second replica) against nats-server and PostgreSQL, then registers, logs
 * in and fetches the JWKS over NATS request/reply the way the gateway will,
 * checks /readyz and /metrics, a clean SIGTERM exit, and start-up failures
 * for a short or a wrong JWT_KEY_SECRET. Logs must hold no password or token.
 */
#include "aegis/bus.h"
#include "aegis/jwt.h"
#include "aegis/limits.h"
#include "aegis/v1/auth.pb-c.h"
#include "authtest.h"
#include "test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>

#define SECRET           "end-to-end-secret-0123456789"
#define PW               "a perfectly fine passphrase"
#define REQ_TIMEOUT_MS   10000
#define START_TIMEOUT_MS 30000
#define HTTP_BUF         65536

typedef struct proc {
	pid_t pid;
	int port;
	char log[256];
} proc;

static char bin[1024];
static const char *nats_url;
static ag_bus *bus;
static proc p1, p2;

static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof a;
	int port = -1;
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

/* Start the auth binary with the given secret; stderr goes to p->log. */
static bool start(proc *p, const char *secret, const char *tag)
{
	p->port = free_port();
	snprintf(p->log, sizeof p->log, "/tmp/aegis-auth-test-%d-%s.log", (int)getpid(), tag);
	p->pid = fork();
	if (p->pid < 0)
		return false;
	if (p->pid == 0) {
		char port[16];
		snprintf(port, sizeof port, "%d", p->port);
		setenv("NATS_URL", nats_url, 1);
		setenv("DATABASE_URL", authtest_url, 1);
		setenv("HTTP_HOST", "127.0.0.1", 1);
		setenv("HTTP_PORT", port, 1);
		setenv("JWT_KEY_SECRET", secret, 1);
		setenv("LOG_LEVEL", "debug", 1);
		setenv("SHUTDOWN_GRACE_MS", "5000", 1);
		int fd = open(p->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0) {
			dup2(fd, 2);
			dup2(fd, 1);
			close(fd);
		}
		execl(bin, bin, (char *)NULL);
		_exit(127);
	}
	return true;
}

/* Wait for the process to exit; its exit status, or -1 on timeout / -2 when killed by a signal. */
static int wait_exit(proc *p, int timeout_ms)
{
	for (int waited = 0; waited < timeout_ms; waited += 50) {
		int status;
		pid_t r = waitpid(p->pid, &status, WNOHANG);
		if (r == p->pid) {
			p->pid = 0;
			return WIFEXITED(status) ? WEXITSTATUS(status) : -2;
		}
		usleep(50 * 1000);
	}
	return -1;
}

static void stop_hard(proc *p)
{
	if (p->pid > 0) {
		kill(p->pid, SIGKILL);
		waitpid(p->pid, NULL, 0);
		p->pid = 0;
	}
}

/* GET path from 127.0.0.1:port; returns the status (0 when unreachable) and the body in buf. */
static int http_get(int port, const char *path, char *buf, size_t cap)
{
	buf[0] = '\0';
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {
	        .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	char req[256];
	int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path);
	if (write(fd, req, (size_t)n) != n) {
		close(fd);
		return 0;
	}
	size_t got = 0;
	ssize_t r;
	while (got + 1 < cap && (r = read(fd, buf + got, cap - 1 - got)) > 0)
		got += (size_t)r;
	buf[got] = '\0';
	close(fd);
	int status = 0;
	if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
		return 0;
	char *body = strstr(buf, "\r\n\r\n");
	if (body)
		memmove(buf, body + 4, strlen(body + 4) + 1);
	return status;
}

static bool wait_ready(proc *p)
{
	static char buf[HTTP_BUF];
	for (int waited = 0; waited < START_TIMEOUT_MS; waited += 100) {
		if (http_get(p->port, "/readyz", buf, sizeof buf) == 200)
			return true;
		int status;
		if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
			p->pid = 0;
			fprintf(stderr, "  auth exited during start-up (see %s)\n", p->log);
			return false;
		}
		usleep(100 * 1000);
	}
	fprintf(stderr, "  auth not ready after %d ms: %s\n", START_TIMEOUT_MS, buf);
	return false;
}

static bool log_contains(const char *path, const char *needle)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	static char text[1 << 20];
	size_t n = fread(text, 1, sizeof text - 1, f);
	text[n] = '\0';
	fclose(f);
	return strstr(text, needle) != NULL;
}

/* --- requests, as the gateway sends them --- */

static Aegis__V1__AuthReply *ask(const char *verb, const ProtobufCMessage *msg)
{
	char subject[64];
	snprintf(subject, sizeof subject, "%s%s", AG_SUBJ_AUTH_PREFIX, verb);
	uint8_t buf[4096];
	size_t len = protobuf_c_message_pack(msg, buf);
	void *reply = NULL;
	size_t reply_len = 0;
	ag_err e;
	if (ag_bus_request(bus, subject, buf, len, REQ_TIMEOUT_MS, &reply, &reply_len, &e) != AG_OK) {
		fprintf(stderr, "  %s: %s\n", subject, e.msg);
		return NULL;
	}
	Aegis__V1__AuthReply *r = aegis__v1__auth_reply__unpack(NULL, reply_len, reply);
	free(reply);
	return r;
}

static Aegis__V1__AuthReply *do_register(const char *email, const char *pw)
{
	Aegis__V1__RegisterRequest q = AEGIS__V1__REGISTER_REQUEST__INIT;
	q.email = (char *)email;
	q.password = (char *)pw;
	return ask("register", &q.base);
}

static Aegis__V1__AuthReply *do_login(const char *email, const char *pw)
{
	Aegis__V1__LoginRequest q = AEGIS__V1__LOGIN_REQUEST__INIT;
	q.email = (char *)email;
	q.password = (char *)pw;
	q.client_ip = (char *)"203.0.113.7";
	return ask("login", &q.base);
}

static Aegis__V1__AuthReply *do_jwks(void)
{
	Aegis__V1__JwksRequest q = AEGIS__V1__JWKS_REQUEST__INIT;
	return ask("jwks", &q.base);
}

static char user_id[64], access_token[AG_JWT_MAX_BYTES + 1], refresh_token[64];

static void register_over_nats(void)
{
	Aegis__V1__AuthReply *r = do_register("  Linus@Example.org", PW);
	AG_CHECK(r != NULL);
	if (!r)
		return;
	AG_CHECK_INT(r->status, 201);
	AG_CHECK_STR(r->error, "");
	AG_CHECK_STR(r->email, "linus@example.org");
	AG_CHECK_INT(strlen(r->user_id), 36);
	AG_CHECK_STR(r->access_token, "");
	snprintf(user_id, sizeof user_id, "%s", r->user_id);
	aegis__v1__auth_reply__free_unpacked(r, NULL);

	/* no account enumeration: a taken address gets the answer of a new one, without an id */
	r = do_register(" Linus@example.org", PW);
	AG_CHECK(r && r->status == 201);
	if (r) {
		AG_CHECK_STR(r->error, "");
		AG_CHECK_STR(r->email, "linus@example.org");
		AG_CHECK_STR(r->user_id, "");
	}
	aegis__v1__auth_reply__free_unpacked(r, NULL);

	r = do_register("linus@example.org", "tooshort");
	AG_CHECK(r && r->status == 400);
	if (r)
		AG_CHECK_STR(r->error, "password must be at least 10 characters");
	aegis__v1__auth_reply__free_unpacked(r, NULL);
}

static void malformed_requests_are_400(void)
{
	static const char junk[] = "\xff\xff\xff\xff\x0f";
	for (int i = 0; i < 3; i++) {
		const char *verb = i == 0 ? "register" : i == 1 ? "login" : "jwks";
		char subject[64];
		snprintf(subject, sizeof subject, "%s%s", AG_SUBJ_AUTH_PREFIX, verb);
		void *reply = NULL;
		size_t len = 0;
		AG_CHECK_INT(ag_bus_request(bus, subject, junk, sizeof junk - 1, REQ_TIMEOUT_MS, &reply, &len, NULL),
		             AG_OK);
		Aegis__V1__AuthReply *r = reply ? aegis__v1__auth_reply__unpack(NULL, len, reply) : NULL;
		AG_CHECK(r != NULL);
		if (r) {
			AG_CHECK_INT(r->status, 400);
			AG_CHECK_STR(r->error, "malformed request");
		}
		aegis__v1__auth_reply__free_unpacked(r, NULL);
		free(reply);
	}
}

static void login_then_verify_with_jwks(void)
{
	Aegis__V1__AuthReply *r = do_login("LINUS@example.org ", PW);
	AG_CHECK(r != NULL);
	if (!r)
		return;
	AG_CHECK_INT(r->status, 200);
	AG_CHECK_STR(r->user_id, user_id);
	AG_CHECK_STR(r->role, "user");
	AG_CHECK_INT(r->expires_in, 900);
	AG_CHECK_INT(strlen(r->refresh_token), 43);
	snprintf(access_token, sizeof access_token, "%s", r->access_token);
	snprintf(refresh_token, sizeof refresh_token, "%s", r->refresh_token);
	aegis__v1__auth_reply__free_unpacked(r, NULL);

	r = do_jwks();
	AG_CHECK(r != NULL);
	if (!r)
		return;
	AG_CHECK_INT(r->status, 200);
	AG_CHECK_INT(r->n_keys, 1);
	ag_jwk keys[AG_JWKS_MAX_KEYS];
	size_t n = 0;
	for (size_t i = 0; i < r->n_keys && n < AG_JWKS_MAX_KEYS; i++) {
		AG_CHECK_STR(r->keys[i]->alg, "EdDSA");
		AG_CHECK_INT(r->keys[i]->key.len, AG_JWT_ED25519_PK);
		AG_CHECK(r->keys[i]->expires_at_ms > (int64_t)time(NULL) * 1000);
		if (r->keys[i]->key.len != AG_JWT_ED25519_PK)
			continue;
		snprintf(keys[n].kid, sizeof keys[n].kid, "%s", r->keys[i]->kid);
		memcpy(keys[n].pub, r->keys[i]->key.data, AG_JWT_ED25519_PK);
		n++;
	}
	aegis__v1__auth_reply__free_unpacked(r, NULL);
	ag_jwt_claims cl;
	ag_err e;
	AG_CHECK_INT(ag_jwt_verify(access_token, keys, n, "aegis", "aegis-api", (int64_t)time(NULL), 60, &cl, &e),
	             AG_OK);
	AG_CHECK_STR(cl.sub, user_id);
	AG_CHECK_STR(cl.email, "linus@example.org");
	AG_CHECK_STR(cl.role, "user");

	r = do_login("linus@example.org", "not the passphrase");
	AG_CHECK(r && r->status == 401);
	if (r) {
		AG_CHECK_STR(r->error, "invalid email or password");
		AG_CHECK_STR(r->access_token, "");
	}
	aegis__v1__auth_reply__free_unpacked(r, NULL);
	r = do_login("nobody@example.org", PW);
	AG_CHECK(r && r->status == 401);
	aegis__v1__auth_reply__free_unpacked(r, NULL);
}

static void metrics_count_by_verb_and_status(void)
{
	static char body[HTTP_BUF];
	AG_CHECK_INT(http_get(p1.port, "/metrics", body, sizeof body), 200);
	/* the two replicas share the queue group, so count across both */
	static char body2[HTTP_BUF];
	AG_CHECK_INT(http_get(p2.port, "/metrics", body2, sizeof body2), 200);
	static const struct {
		const char *series;
		int want;
	} series[] = {
	        {"aegis_auth_requests_total{verb=\"register\",status=\"201\"}", 2}, /* a taken address answers 201 */
	        {"aegis_auth_requests_total{verb=\"login\",status=\"200\"}", 1},
	        {"aegis_auth_requests_total{verb=\"login\",status=\"401\"}", 2},
	};
	for (size_t i = 0; i < sizeof series / sizeof series[0]; i++) {
		int total = 0;
		const char *bodies[2] = {body, body2};
		for (int b = 0; b < 2; b++) {
			const char *at = strstr(bodies[b], series[i].series);
			double v = 0;
			if (at && sscanf(at + strlen(series[i].series), " %lf", &v) == 1)
				total += (int)v;
		}
		if (total != series[i].want)
			fprintf(stderr, "  %s\n", series[i].series);
		AG_CHECK_INT(total, series[i].want);
	}
}

static void second_replica_shares_the_key(void)
{
	Aegis__V1__AuthReply *r = do_jwks();
	AG_CHECK(r && r->status == 200 && r->n_keys == 1);
	aegis__v1__auth_reply__free_unpacked(r, NULL);
	char n[16];
	authtest_query1("SELECT count(*) FROM signing_keys", n, sizeof n);
	AG_CHECK_STR(n, "1");
	/* requests are spread over both replicas; every one is answered */
	for (int i = 0; i < 6; i++) {
		r = do_login("linus@example.org", PW);
		AG_CHECK(r && r->status == 200);
		aegis__v1__auth_reply__free_unpacked(r, NULL);
	}
}

static void sigterm_exits_cleanly(void)
{
	AG_CHECK_INT(kill(p1.pid, SIGTERM), 0);
	AG_CHECK_INT(kill(p2.pid, SIGTERM), 0);
	AG_CHECK_INT(wait_exit(&p1, 15000), 0);
	AG_CHECK_INT(wait_exit(&p2, 15000), 0);
}

static void logs_hold_no_secrets(void)
{
	const char *logs[2] = {p1.log, p2.log};
	for (int i = 0; i < 2; i++) {
		AG_CHECK(!log_contains(logs[i], PW));
		AG_CHECK(!log_contains(logs[i], SECRET));
		AG_CHECK(!log_contains(logs[i], refresh_token));
		AG_CHECK(!log_contains(logs[i], "linus@"));
		AG_CHECK(!log_contains(logs[i], "$argon2id$"));
		if (access_token[0]) {
			char sig[40];
			snprintf(sig, sizeof sig, "%s", strrchr(access_token, '.') + 1);
			AG_CHECK(!log_contains(logs[i], sig));
		}
	}
	AG_CHECK(log_contains(p1.log, "203.0.113.7") || log_contains(p2.log, "203.0.113.7"));
}

static void bad_secrets_stop_start_up(void)
{
	proc p = {0};
	AG_CHECK(start(&p, "short", "short"));
	AG_CHECK_INT(wait_exit(&p, START_TIMEOUT_MS), 2);
	AG_CHECK(log_contains(p.log, "JWT_KEY_SECRET must be at least 16 characters"));
	stop_hard(&p);
	unlink(p.log);

	AG_CHECK(start(&p, "a-different-but-long-secret", "wrong"));
	AG_CHECK_INT(wait_exit(&p, START_TIMEOUT_MS), 1);
	AG_CHECK(log_contains(p.log, "JWT_KEY_SECRET does not open signing key"));
	stop_hard(&p);
	unlink(p.log);
}

/* The binary sits at <BUILD>/bin/auth; this program at <BUILD>/tests/unit/services/auth/main. */
static bool find_binary(const char *argv0)
{
	const char *tail = strstr(argv0, "tests/unit/services/auth/");
	int n = tail ? snprintf(bin, sizeof bin, "%.*sbin/auth", (int)(tail - argv0), argv0) : -1;
	if (n <= 0 || (size_t)n >= sizeof bin || access(bin, X_OK) != 0) {
		fprintf(stderr, "  the auth binary is not built next to this test (%s)\n", n > 0 ? bin : argv0);
		return false;
	}
	return true;
}

static void needs_nats_postgres_and_the_binary(void)
{
	AG_CHECK(!"AEGIS_TEST_NATS_URL, AEGIS_TEST_DATABASE_URL and bin/auth are available");
}

int main(int argc, char **argv)
{
	(void)argc;
	signal(SIGPIPE, SIG_IGN);
	nats_url = getenv("AEGIS_TEST_NATS_URL");
	ag_err e;
	ag_err_clear(&e);
	bool ok = nats_url && *nats_url && find_binary(argv[0]) && authtest_db_create("svc") &&
	          ag_bus_connect(&bus, nats_url, "auth-test", NULL, &e) == AG_OK;
	if (!ok) {
		if (!nats_url)
			fprintf(stderr, "  AEGIS_TEST_NATS_URL is not set\n");
		if (e.msg[0])
			fprintf(stderr, "  %s\n", e.msg);
		AG_TEST_RUN(needs_nats_postgres_and_the_binary);
	} else if (!start(&p1, SECRET, "one") || !wait_ready(&p1) || !start(&p2, SECRET, "two") || !wait_ready(&p2)) {
		AG_TEST_RUN(needs_nats_postgres_and_the_binary);
	} else {
		AG_TEST_RUN(register_over_nats);
		AG_TEST_RUN(malformed_requests_are_400);
		AG_TEST_RUN(login_then_verify_with_jwks);
		AG_TEST_RUN(metrics_count_by_verb_and_status);
		AG_TEST_RUN(second_replica_shares_the_key);
		AG_TEST_RUN(sigterm_exits_cleanly);
		AG_TEST_RUN(logs_hold_no_secrets);
		AG_TEST_RUN(bad_secrets_stop_start_up);
	}
	stop_hard(&p1);
	stop_hard(&p2);
	if (ag_test_failed == 0) {
		unlink(p1.log);
		unlink(p2.log);
	} else {
		fprintf(stderr, "  service logs kept: %s %s\n", p1.log, p2.log);
	}
	ag_bus_free(bus);
	authtest_db_drop();
	return ag_test_summary();
}
