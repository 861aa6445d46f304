/*
 * sandbox_helper.c - the helper process, the monitors and the children of
 * aegis/sandbox.h. None of them starts a thread, so each fork here copies a
 * single-threaded process and no lock can be left held in the child.
 */
#include "sandbox_priv.h"

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define SANDBOX_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANDBOX_ASAN 1
#endif
#endif

int sandbox_send(int sock, const void *buf, size_t len, const int *fds, int nfd)
{
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	union {
		char buf[CMSG_SPACE(3 * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	if (nfd > 0) {
		memset(&ctl, 0, sizeof ctl);
		msg.msg_control = ctl.buf;
		msg.msg_controllen = CMSG_SPACE((size_t)nfd * sizeof(int));
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN((size_t)nfd * sizeof(int));
		memcpy(CMSG_DATA(c), fds, (size_t)nfd * sizeof(int));
	}
	for (;;) {
		ssize_t n = sendmsg(sock, &msg, MSG_NOSIGNAL);
		if (n >= 0)
			return 0;
		if (errno != EINTR)
			return -1;
	}
}

/* recvmsg of one request; its descriptors in fds (*nfd of them). 0 at end of stream, -1 on error. */
static ssize_t helper_recv(int sock, sandbox_req *req, int fds[3], int *nfd)
{
	struct iovec iov = {.iov_base = req, .iov_len = sizeof *req};
	union {
		char buf[CMSG_SPACE(3 * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct msghdr msg = {
	        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf};
	ssize_t n;
	do
		n = recvmsg(sock, &msg, 0);
	while (n < 0 && errno == EINTR);
	*nfd = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); n > 0 && c; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		int got = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		for (int i = 0; i < got; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + (size_t)i * sizeof(int), sizeof fd);
			if (*nfd < 3)
				fds[(*nfd)++] = fd;
			else
				close(fd);
		}
	}
	return n;
}

/* The child: everything here before fn runs is async-signal-safe. Never returns. */
static void sandbox_child(const ag_sandbox_limits *lim, ag_sandbox_fn fn, void *arg, int in_fd, int wfd)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGPIPE, SIG_DFL);
	/* a crash is the parser's, reported by its signal (sanitizer runtimes would turn it into an exit code) */
	signal(SIGSEGV, SIG_DFL);
	signal(SIGBUS, SIG_DFL);
	signal(SIGFPE, SIG_DFL);
	signal(SIGILL, SIG_DFL);
	struct rlimit core = {0, 0};
	setrlimit(RLIMIT_CORE, &core);
#ifndef SANDBOX_ASAN
	if (lim->memory_bytes > 0) {
		struct rlimit as = {(rlim_t)lim->memory_bytes, (rlim_t)lim->memory_bytes};
		setrlimit(RLIMIT_AS, &as);
	}
#endif
	if (lim->cpu_seconds > 0) {
		/* soft limit: SIGXCPU (reported as a timeout); the hard one a second later is SIGKILL */
		struct rlimit cpu = {(rlim_t)lim->cpu_seconds, (rlim_t)lim->cpu_seconds + 1};
		setrlimit(RLIMIT_CPU, &cpu);
	}
	FILE *out = fdopen(wfd, "w");
	if (!out)
		_exit(AG_SANDBOX_EXIT_NOMEM);
	int code = fn(arg, in_fd, out);
	if (fclose(out) != 0 && code == 0)
		code = AG_SANDBOX_EXIT_FAIL;
	_exit(code);
}

/* A monitor: forks the child, tells the worker its pid, waits for it, tells how it ended, and reaps it once the
 * worker has closed the report socket. Never returns. */
static void helper_monitor(sandbox_req *req, int report, int wfd, int in_fd)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL); /* dies with the helper, which dies with the worker */
	signal(SIGCHLD, SIG_DFL);
	pid_t c = fork();
	if (c == 0) {
		close(report);
		sandbox_child(&req->lim, req->fn, req->arg, in_fd, wfd);
	}
	int fork_errno = errno;
	close(wfd);
	if (in_fd >= 0)
		close(in_fd);
	sandbox_report r = {.kind = SANDBOX_STARTED, .pid = c, .err = c < 0 ? fork_errno : 0};
	if (sandbox_send(report, &r, sizeof r, NULL, 0) != 0 || c < 0) {
		if (c > 0)
			kill(c, SIGKILL);
		_exit(0);
	}
	siginfo_t si;
	memset(&si, 0, sizeof si);
	while (waitid(P_PID, (id_t)c, &si, WEXITED | WNOWAIT) != 0 && errno == EINTR)
		;
	r = (sandbox_report){.kind = SANDBOX_ENDED, .pid = c, .exited = si.si_code == CLD_EXITED, .code = si.si_status};
	(void)sandbox_send(report, &r, sizeof r, NULL, 0);
	char b;
	while (read(report, &b, 1) != 0 && errno == EINTR)
		;
	while (waitpid(c, NULL, 0) < 0 && errno == EINTR)
		;
	_exit(0);
}

void sandbox_helper_main(int sock, pid_t worker)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != worker)
		_exit(0);
	/* the worker's signals are its own: the helper ends when the worker closes the socket or dies */
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGCHLD, SIG_IGN); /* monitors are reaped by the kernel */
	for (;;) {
		sandbox_req req;
		int fds[3] = {-1, -1, -1}, nfd = 0;
		ssize_t n = helper_recv(sock, &req, fds, &nfd);
		if (n <= 0)
			_exit(0);
		bool ok = (size_t)n >= offsetof(sandbox_req, arg) && req.arg_size <= AG_SANDBOX_MAX_ARG &&
		          (size_t)n == offsetof(sandbox_req, arg) + req.arg_size && nfd == (req.has_fd ? 3 : 2);
		if (ok && fork() == 0) {
			close(sock);
			helper_monitor(&req, fds[0], fds[1], req.has_fd ? fds[2] : -1);
		}
		/* a malformed request or a failed fork: closing the report socket tells the worker */
		for (int i = 0; i < nfd; i++)
			close(fds[i]);
	}
}
