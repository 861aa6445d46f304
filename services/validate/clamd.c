/*
 * clamd.c - the INSTREAM client (see clamd.h).
 */
#include "clamd.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int clamd_addr_valid(const char *addr)
{
	if (!addr || !*addr)
		return 1;
	if (strncmp(addr, "unix:", 5) == 0)
		return addr[5] == '/' && strlen(addr + 5) < sizeof(((struct sockaddr_un *)0)->sun_path);
	const char *colon = strrchr(addr, ':');
	if (!colon || colon == addr)
		return 0;
	char *end = NULL;
	long port = strtol(colon + 1, &end, 10);
	return end != colon + 1 && *end == '\0' && port > 0 && port < 65536;
}

/* Wait until fd is ready for `events`; AG_E_TIMEOUT when it does not become so in time. */
static ag_status clamd_wait(int fd, short events, long long timeout_ms, ag_err *err)
{
	struct pollfd p = {.fd = fd, .events = events};
	int n;
	do
		n = poll(&p, 1, (int)timeout_ms);
	while (n < 0 && errno == EINTR);
	if (n == 0)
		return ag_err_set(err, AG_E_TIMEOUT, "clamd did not respond within %lld ms", timeout_ms);
	if (n < 0)
		return ag_err_set(err, AG_E_UNAVAILABLE, "poll: %s", strerror(errno));
	return AG_OK;
}

static ag_status clamd_connect(const clamd_cfg *c, int *out, ag_err *err)
{
	struct sockaddr_storage ss;
	socklen_t sl = 0;
	int fd = -1;
	memset(&ss, 0, sizeof ss);
	if (strncmp(c->addr, "unix:", 5) == 0) {
		struct sockaddr_un *un = (struct sockaddr_un *)&ss;
		un->sun_family = AF_UNIX;
		snprintf(un->sun_path, sizeof un->sun_path, "%s", c->addr + 5);
		sl = sizeof *un;
	} else {
		char host[256];
		const char *colon = strrchr(c->addr, ':');
		struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
		snprintf(host, sizeof host, "%.*s", (int)(colon - c->addr), c->addr);
		int g = getaddrinfo(host, colon + 1, &hints, &ai);
		if (g != 0)
			return ag_err_set(err, AG_E_UNAVAILABLE, "clamd at %s: %s", c->addr, gai_strerror(g));
		memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
		sl = ai->ai_addrlen;
		freeaddrinfo(ai);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return ag_err_set(err, AG_E_UNAVAILABLE, "socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&ss, sl) != 0) {
		int e = errno;
		ag_status st = AG_E_UNAVAILABLE;
		if (e == EINPROGRESS || e == EAGAIN) {
			st = clamd_wait(fd, POLLOUT, c->timeout_ms, err);
			socklen_t el = sizeof e;
			if (st == AG_OK && getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) == 0 && e == 0)
				goto connected;
			if (st == AG_E_TIMEOUT)
				st = AG_E_UNAVAILABLE;
		}
		close(fd);
		return ag_err_set(err, st, "cannot connect to clamd at %s: %s", c->addr,
		                  st == AG_E_UNAVAILABLE && e ? strerror(e) : "timed out");
	}
connected:
	*out = fd;
	return AG_OK;
}

static ag_status clamd_send(int fd, const void *buf, size_t len, long long timeout_ms, ag_err *err)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			ag_status st = clamd_wait(fd, POLLOUT, timeout_ms, err);
			if (st != AG_OK)
				return st;
			continue;
		}
		if (n < 0)
			return ag_err_set(err, AG_E_UNAVAILABLE, "sending to clamd: %s", strerror(errno));
		p += n;
		len -= (size_t)n;
	}
	return AG_OK;
}

/* The reply up to its NUL (or the connection's end). */
static ag_status clamd_reply(int fd, char *buf, size_t cap, long long timeout_ms, ag_err *err)
{
	size_t len = 0;
	while (len + 1 < cap) {
		ssize_t n = recv(fd, buf + len, cap - 1 - len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			ag_status st = clamd_wait(fd, POLLIN, timeout_ms, err);
			if (st != AG_OK)
				return st;
			continue;
		}
		if (n < 0)
			return ag_err_set(err, AG_E_UNAVAILABLE, "reading from clamd: %s", strerror(errno));
		if (n == 0)
			break;
		len += (size_t)n;
		if (memchr(buf, '\0', len))
			break;
	}
	buf[len] = '\0';
	size_t l = strlen(buf);
	while (l > 0 && (buf[l - 1] == '\n' || buf[l - 1] == '\r'))
		buf[--l] = '\0';
	if (l == 0)
		return ag_err_set(err, AG_E_UNAVAILABLE, "clamd closed the connection without a verdict");
	return AG_OK;
}

static ag_status clamd_parse(const char *reply, clamd_verdict *v, ag_err *err)
{
	size_t n = strlen(reply);
	if (strstr(reply, "size limit exceeded")) {
		v->outcome = CLAMD_TOO_LARGE;
		return AG_OK;
	}
	if (n >= 4 && strcmp(reply + n - 4, ": OK") == 0) {
		v->outcome = CLAMD_CLEAN;
		return AG_OK;
	}
	const char *colon = strstr(reply, ": ");
	if (n > 6 && strcmp(reply + n - 6, " FOUND") == 0 && colon) {
		v->outcome = CLAMD_INFECTED;
		snprintf(v->signature, sizeof v->signature, "%.*s", (int)(reply + n - 6 - (colon + 2)), colon + 2);
		return AG_OK;
	}
	return ag_err_set(err, AG_E_PROTO, "clamd answered \"%.200s\"", reply);
}

ag_status clamd_scan(const clamd_cfg *c, int fd, long long size, void (*progress)(void *), void *ud, clamd_verdict *v,
                     ag_err *err)
{
	ag_status st = AG_OK;
	int sock = -1;
	char *buf = NULL;
	char reply[CLAMD_REPLY_BYTES];
	size_t chunk = (size_t)c->chunk_bytes;

	memset(v, 0, sizeof *v);
	if (size > c->max_bytes) {
		v->outcome = CLAMD_TOO_LARGE;
		return AG_OK;
	}
	buf = malloc(chunk + 4);
	if (!buf)
		return ag_err_set(err, AG_E_NOMEM, "out of memory");
	st = clamd_connect(c, &sock, err);
	if (st != AG_OK)
		goto out;
	st = clamd_send(sock, "zINSTREAM", 10, c->timeout_ms, err); /* with its NUL */
	for (off_t off = 0; st == AG_OK;) {
		ssize_t n = pread(fd, buf + 4, chunk, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			st = ag_err_set(err, AG_E_IO, "reading the file: %s", strerror(errno));
			goto out;
		}
		uint32_t be = (uint32_t)n;
		buf[0] = (char)(be >> 24);
		buf[1] = (char)(be >> 16);
		buf[2] = (char)(be >> 8);
		buf[3] = (char)be;
		st = clamd_send(sock, buf, (size_t)n + 4, c->timeout_ms, err);
		if (n == 0)
			break; /* the zero length just sent ends the stream */
		off += n;
		if (progress)
			progress(ud);
	}
	/* clamd may stop reading and answer early (size limit): its reply decides even when a send failed */
	ag_err rerr = {0};
	ag_status rst = clamd_reply(sock, reply, sizeof reply, c->timeout_ms, &rerr);
	if (rst == AG_OK)
		st = clamd_parse(reply, v, err);
	else if (st == AG_OK)
		st = ag_err_set(err, rst, "%s", rerr.msg);
out:
	if (sock >= 0)
		close(sock);
	free(buf);
	return st;
}
