/*
 * healthcheck.c - a tiny blocking HTTP/1.1 client for `<binary> --healthcheck`.
 *
 * It connects to the service's own port (127.0.0.1 unless HTTP_HOST names one
 * address), sends one GET with "Connection: close", reads only the status
 * line and maps 200 to exit 0. Every wait is bounded by one deadline, so a
 * stuck server makes the check fail instead of hang. No libcurl, no loop: the
 * process does nothing else.
 */
#include "aegis/healthcheck.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HC_STATUS_LINE_MAX 256
#define HC_REQUEST_MAX     512
#define HC_PATH_MAX        200

static long long hc_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for `events` on fd until the deadline. Returns 1 ready, 0 timeout, -1 error. */
static int hc_wait(int fd, short events, long long deadline)
{
	for (;;) {
		long long left = deadline - hc_now_ms();
		if (left <= 0)
			return 0;
		struct pollfd p = {.fd = fd, .events = events};
		int n = poll(&p, 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		return n < 0 ? -1 : n;
	}
}

static int hc_connect(const char *host, int port, long long deadline, char *why, size_t whylen)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST};
	struct addrinfo *ai = NULL;
	char portstr[8];
	snprintf(portstr, sizeof portstr, "%d", port);
	int rc = getaddrinfo(host, portstr, &hints, &ai);
	if (rc != 0) {
		snprintf(why, whylen, "bad address %s: %s", host, gai_strerror(rc));
		return -1;
	}
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(why, whylen, "socket: %s", strerror(errno));
		goto out;
	}
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		if (errno != EINPROGRESS) {
			snprintf(why, whylen, "connect %s:%d: %s", host, port, strerror(errno));
			goto fail;
		}
		int w = hc_wait(fd, POLLOUT, deadline);
		int soerr = 0;
		socklen_t len = sizeof soerr;
		if (w <= 0) {
			snprintf(why, whylen, "connect %s:%d: %s", host, port, w == 0 ? "timed out" : strerror(errno));
			goto fail;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0 || soerr != 0) {
			snprintf(why, whylen, "connect %s:%d: %s", host, port, strerror(soerr ? soerr : errno));
			goto fail;
		}
	}
	goto out;
fail:
	close(fd);
	fd = -1;
out:
	freeaddrinfo(ai);
	return fd;
}

int ag_healthcheck_get(const char *host, int port, const char *path, int timeout_ms, char *why, size_t whylen)
{
	long long deadline = hc_now_ms() + timeout_ms;
	char req[HC_REQUEST_MAX];
	char line[HC_STATUS_LINE_MAX];
	size_t have = 0;
	int status = -1;
	why[0] = '\0';

	int n = snprintf(req, sizeof req,
	                 "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: aegis-healthcheck\r\n"
	                 "Connection: close\r\n\r\n",
	                 path, host);
	if (n < 0 || (size_t)n >= sizeof req) {
		snprintf(why, whylen, "path too long");
		return -1;
	}
	int fd = hc_connect(host, port, deadline, why, whylen);
	if (fd < 0)
		return -1;

	for (size_t sent = 0; sent < (size_t)n;) {
		ssize_t w = send(fd, req + sent, (size_t)n - sent, MSG_NOSIGNAL);
		if (w > 0) {
			sent += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && hc_wait(fd, POLLOUT, deadline) > 0)
			continue;
		snprintf(why, whylen, "sending the request failed: %s", w < 0 ? strerror(errno) : "timed out");
		goto out;
	}
	/* Read until the end of the status line (or the buffer is full, or the peer closes). */
	while (have < sizeof line - 1 && !memchr(line, '\n', have)) {
		int ready = hc_wait(fd, POLLIN, deadline);
		if (ready <= 0) {
			snprintf(why, whylen, "no answer within %d ms", timeout_ms);
			goto out;
		}
		ssize_t r = recv(fd, line + have, sizeof line - 1 - have, 0);
		if (r < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
			continue;
		if (r <= 0) {
			if (r < 0)
				snprintf(why, whylen, "reading the answer failed: %s", strerror(errno));
			break;
		}
		have += (size_t)r;
	}
	line[have] = '\0';
	/* "HTTP/1.x NNN reason" */
	if (strncmp(line, "HTTP/1.", 7) != 0 || have < 12 || line[8] != ' ' || line[9] < '1' || line[9] > '5' ||
	    line[10] < '0' || line[10] > '9' || line[11] < '0' || line[11] > '9') {
		if (!why[0])
			snprintf(why, whylen, "not an HTTP answer");
		goto out;
	}
	status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
out:
	close(fd);
	return status;
}

/* The HTTP_PORT the service would use: the environment, else the table's default. 0 when invalid. */
static int hc_port(const ag_cfg_item *items, size_t nitems)
{
	const char *v = getenv("HTTP_PORT");
	if (!v || !*v) {
		v = NULL;
		for (size_t i = 0; i < nitems; i++)
			if (strcmp(items[i].name, "HTTP_PORT") == 0)
				v = items[i].def;
		if (!v)
			return 0;
	}
	char *end = NULL;
	errno = 0;
	long p = strtol(v, &end, 10);
	if (errno || end == v || *end || p < 1 || p > 65535 || v[0] < '0' || v[0] > '9')
		return 0;
	return (int)p;
}

/* 127.0.0.1 for a wildcard or unset HTTP_HOST; the address itself when the server binds one. */
static const char *hc_host(void)
{
	const char *h = getenv("HTTP_HOST");
	if (!h || !*h || strcmp(h, "0.0.0.0") == 0)
		return "127.0.0.1";
	if (strcmp(h, "::") == 0 || strcmp(h, "[::]") == 0)
		return "::1";
	return h;
}

int ag_healthcheck_main(const char *name, const ag_cfg_item *items, size_t nitems, const char *path)
{
	char why[160];
	if (!path)
		path = AG_HEALTHCHECK_DEFAULT_PATH;
	if (path[0] != '/' || strlen(path) > HC_PATH_MAX || strpbrk(path, " \r\n")) {
		fprintf(stderr, "%s: --healthcheck takes a URL path such as /healthz or /readyz\n", name);
		return 2;
	}
	int port = hc_port(items, nitems);
	if (port == 0) {
		fprintf(stderr, "%s: healthcheck: HTTP_PORT must be a number from 1 to 65535\n", name);
		return 2;
	}
	const char *host = hc_host();
	int status = ag_healthcheck_get(host, port, path, AG_HEALTHCHECK_TIMEOUT_MS, why, sizeof why);
	if (status == 200) {
		printf("%s: %s on port %d: 200\n", name, path, port);
		return 0;
	}
	if (status > 0)
		fprintf(stderr, "%s: %s on port %d: %d\n", name, path, port, status);
	else
		fprintf(stderr, "%s: %s on port %d: %s\n", name, path, port, why);
	return 1;
}
