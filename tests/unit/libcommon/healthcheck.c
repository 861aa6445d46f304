/*
 * Tests libcommon/src/healthcheck.c against a real loopback server: a thread
 * that accepts one connection, records the request and answers with canned
 * bytes (or nothing). Ports are chosen by the kernel (bind to port 0), so the
 * test never collides with servers other programs run.
 */
#include "aegis/healthcheck.h"
#include "test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct canned {
	int lfd;
	int port;
	const char *answer; /* NULL: accept, read, then stay silent until the client gives up */
	char request[512];
	pthread_t th;
} canned;

static void *canned_serve(void *arg)
{
	canned *c = arg;
	int fd = accept(c->lfd, NULL, NULL);
	if (fd < 0)
		return NULL;
	ssize_t n = recv(fd, c->request, sizeof c->request - 1, 0);
	c->request[n > 0 ? n : 0] = '\0';
	if (c->answer) {
		ssize_t w = send(fd, c->answer, strlen(c->answer), MSG_NOSIGNAL);
		(void)w;
	} else {
		char sink[64];
		while (recv(fd, sink, sizeof sink, 0) > 0) /* until the client closes */
			;
	}
	close(fd);
	return NULL;
}

static bool canned_start(canned *c, const char *answer)
{
	memset(c, 0, sizeof *c);
	c->answer = answer;
	c->lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof sa;
	if (c->lfd < 0 || bind(c->lfd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(c->lfd, 4) != 0 ||
	    getsockname(c->lfd, (struct sockaddr *)&sa, &len) != 0)
		return false;
	c->port = ntohs(sa.sin_port);
	return pthread_create(&c->th, NULL, canned_serve, c) == 0;
}

static void canned_stop(canned *c)
{
	pthread_join(c->th, NULL);
	close(c->lfd);
}

static void ok_answer_is_200_and_request_is_plain_get(void)
{
	canned c;
	char why[160];
	AG_CHECK(canned_start(&c, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nready\n"));
	AG_CHECK_INT(ag_healthcheck_get("127.0.0.1", c.port, "/readyz", 2000, why, sizeof why), 200);
	canned_stop(&c);
	AG_CHECK(strncmp(c.request, "GET /readyz HTTP/1.1\r\n", 22) == 0);
	AG_CHECK(strstr(c.request, "\r\nConnection: close\r\n") != NULL);
	AG_CHECK(strstr(c.request, "\r\n\r\n") != NULL);
}

static void not_ready_answer_is_its_status(void)
{
	canned c;
	char why[160];
	AG_CHECK(canned_start(&c, "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n\r\nnot ready: draining\n"));
	AG_CHECK_INT(ag_healthcheck_get("127.0.0.1", c.port, "/healthz", 2000, why, sizeof why), 503);
	canned_stop(&c);
	AG_CHECK(strncmp(c.request, "GET /healthz ", 13) == 0);
}

static void garbage_is_not_http(void)
{
	canned c;
	char why[160];
	AG_CHECK(canned_start(&c, "SSH-2.0-OpenSSH_9.2\r\n"));
	AG_CHECK_INT(ag_healthcheck_get("127.0.0.1", c.port, "/readyz", 2000, why, sizeof why), -1);
	canned_stop(&c);
	AG_CHECK_STR(why, "not an HTTP answer");
}

static void silent_server_times_out(void)
{
	canned c;
	char why[160];
	AG_CHECK(canned_start(&c, NULL));
	AG_CHECK_INT(ag_healthcheck_get("127.0.0.1", c.port, "/readyz", 200, why, sizeof why), -1);
	canned_stop(&c);
	AG_CHECK_STR(why, "no answer within 200 ms");
}

static void nothing_listening_is_refused(void)
{
	canned c;
	char why[160];
	/* Take a free port from the kernel, then close it: nobody listens there now. */
	AG_CHECK(canned_start(&c, "HTTP/1.1 200 OK\r\n\r\n"));
	int port = c.port;
	AG_CHECK_INT(ag_healthcheck_get("127.0.0.1", port, "/readyz", 2000, why, sizeof why), 200);
	canned_stop(&c);
	AG_CHECK_INT(ag_healthcheck_get("127.0.0.1", port, "/readyz", 2000, why, sizeof why), -1);
	AG_CHECK(strstr(why, "refused") != NULL);
}

static const ag_cfg_item items[] = {
        {"HTTP_PORT", AG_CFG_INT, 0, "1", false, 1, 65535, false, "port"},
};

static void main_maps_answers_to_exit_codes(void)
{
	canned c;
	char port[16];
	unsetenv("HTTP_HOST");
	AG_CHECK(canned_start(&c, "HTTP/1.1 200 OK\r\n\r\n"));
	snprintf(port, sizeof port, "%d", c.port);
	setenv("HTTP_PORT", port, 1);
	AG_CHECK_INT(ag_healthcheck_main("t", items, 1, NULL), 0);
	canned_stop(&c);
	AG_CHECK(strncmp(c.request, "GET /readyz ", 12) == 0);

	AG_CHECK(canned_start(&c, "HTTP/1.1 503 Service Unavailable\r\n\r\n"));
	snprintf(port, sizeof port, "%d", c.port);
	setenv("HTTP_PORT", port, 1);
	AG_CHECK_INT(ag_healthcheck_main("t", items, 1, "/healthz"), 1);
	canned_stop(&c);
	AG_CHECK(strncmp(c.request, "GET /healthz ", 13) == 0);
}

static void main_refuses_bad_port_and_path(void)
{
	setenv("HTTP_PORT", "80x", 1);
	AG_CHECK_INT(ag_healthcheck_main("t", items, 1, NULL), 2);
	setenv("HTTP_PORT", "70000", 1);
	AG_CHECK_INT(ag_healthcheck_main("t", items, 1, NULL), 2);
	setenv("HTTP_PORT", "8000", 1);
	AG_CHECK_INT(ag_healthcheck_main("t", items, 1, "readyz"), 2);
	AG_CHECK_INT(ag_healthcheck_main("t", items, 1, "/a b"), 2);
	unsetenv("HTTP_PORT");
}

int main(void)
{
	AG_TEST_RUN(ok_answer_is_200_and_request_is_plain_get);
	AG_TEST_RUN(not_ready_answer_is_its_status);
	AG_TEST_RUN(garbage_is_not_http);
	AG_TEST_RUN(silent_server_times_out);
	AG_TEST_RUN(nothing_listening_is_refused);
	AG_TEST_RUN(main_maps_answers_to_exit_codes);
	AG_TEST_RUN(main_refuses_bad_port_and_path);
	return ag_test_summary();
}
