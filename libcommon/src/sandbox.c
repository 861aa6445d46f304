/*
 * sandbox.c - the worker's side of a sandboxed run: start the helper
 * process, send it a request, read the child's output under the limits,
 * kill it when they are passed, and turn how it ended into one outcome
 * (sandbox_helper.c is the other side; sandbox.h says why there is one).
 */
#include "sandbox_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SANDBOX_READ_BYTES  (64 * 1024)
#define SANDBOX_PROGRESS_MS 1000
#define SANDBOX_REAP_MS     5000 /* after a kill, how long the end of the child is awaited */

static pthread_mutex_t helper_mu = PTHREAD_MUTEX_INITIALIZER;
static int helper_sock = -1;
static pid_t helper_pid = -1;

const char *ag_sandbox_outcome_name(ag_sandbox_outcome o)
{
	switch (o) {
	case AG_SANDBOX_OK:
		return "ok";
	case AG_SANDBOX_FAILED:
		return "failed";
	case AG_SANDBOX_CRASHED:
		return "crashed";
	case AG_SANDBOX_OOM:
		return "out_of_memory";
	case AG_SANDBOX_TIMEOUT:
		return "timeout";
	case AG_SANDBOX_TOOBIG:
		return "output_too_big";
	}
	return "unknown";
}

ag_sandbox_limits ag_sandbox_limits_of(const ag_sandbox_cfg *c, size_t max_output)
{
	ag_sandbox_limits l = {
	        .memory_bytes = c->memory_mb * 1024 * 1024,
	        .cpu_seconds = c->cpu_seconds,
	        .timeout_ms = c->timeout_ms,
	        .max_output = max_output,
	};
	return l;
}

ag_status ag_sandbox_verdict(const ag_sandbox_result *r, unsigned long long attempt, long long retries)
{
	(void)r;
	return (long long)attempt <= retries ? AG_E_INTERNAL : AG_E_UNSUPPORTED;
}

static int64_t sandbox_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Append what the pipe has; *full when max_output was passed. */
static ag_status sandbox_drain(int rfd, ag_sandbox_result *res, size_t *alloc, size_t max, bool *eof, bool *full,
                               ag_err *err)
{
	for (;;) {
		if (res->len + SANDBOX_READ_BYTES + 1 > *alloc) {
			size_t want = *alloc ? *alloc * 2 : SANDBOX_READ_BYTES + 1;
			if (want > max + SANDBOX_READ_BYTES + 1)
				want = max + SANDBOX_READ_BYTES + 1;
			if (want > *alloc) {
				char *p = realloc(res->out, want);
				if (!p)
					return ag_err_set(err, AG_E_NOMEM, "out of memory reading a parser's output");
				res->out = p;
				*alloc = want;
			}
		}
		ssize_t n = read(rfd, res->out + res->len, SANDBOX_READ_BYTES);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return AG_OK;
		if (n < 0)
			return ag_err_set(err, AG_E_IO, "reading a parser's output: %s", strerror(errno));
		if (n == 0) {
			*eof = true;
			return AG_OK;
		}
		res->len += (size_t)n;
		if (res->len > max) {
			res->len = max;
			*full = true;
			return AG_OK;
		}
	}
}

ag_status ag_sandbox_start(ag_err *err)
{
	ag_status st = AG_OK;
	pthread_mutex_lock(&helper_mu);
	if (helper_sock >= 0)
		goto out;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
		st = ag_err_set(err, AG_E_UNAVAILABLE, "sandbox: socketpair: %s", strerror(errno));
		goto out;
	}
	pid_t worker = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		st = ag_err_set(err, AG_E_UNAVAILABLE, "sandbox: fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		goto out;
	}
	if (pid == 0) {
		close(sv[0]);
		sandbox_helper_main(sv[1], worker);
	}
	close(sv[1]);
	helper_sock = sv[0];
	helper_pid = pid;
out:
	pthread_mutex_unlock(&helper_mu);
	return st;
}

void ag_sandbox_stop(void)
{
	pthread_mutex_lock(&helper_mu);
	if (helper_sock >= 0) {
		close(helper_sock); /* the helper reads end of stream and exits */
		while (waitpid(helper_pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	helper_sock = -1;
	helper_pid = -1;
	pthread_mutex_unlock(&helper_mu);
}

bool ag_sandbox_alive(void)
{
	bool alive = false;
	pthread_mutex_lock(&helper_mu);
	if (helper_pid > 0) {
		siginfo_t si;
		si.si_pid = 0;
		/* WNOWAIT: look without reaping, so ag_sandbox_stop still reaps it; ECHILD (reaped already) is gone too
		 */
		alive = waitid(P_PID, (id_t)helper_pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == 0;
	}
	pthread_mutex_unlock(&helper_mu);
	return alive;
}

/* Wait up to `until` (monotonic ms) for a report of `kind` on fd. 1 = got it, 0 = not in time, -1 = the socket
 * closed or failed (the helper or the monitor is gone). */
static int sandbox_report_wait(int fd, int kind, int64_t until, sandbox_report *r)
{
	for (;;) {
		int64_t wait = until - sandbox_now_ms();
		if (wait <= 0)
			return 0;
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int n = poll(&p, 1, wait > SANDBOX_PROGRESS_MS ? SANDBOX_PROGRESS_MS : (int)wait);
		if (n < 0 && errno != EINTR)
			return -1;
		if (n <= 0)
			continue;
		ssize_t got = recv(fd, r, sizeof *r, 0);
		if (got < 0 && errno == EINTR)
			continue;
		if (got != (ssize_t)sizeof *r)
			return -1;
		if (r->kind == kind)
			return 1;
	}
}

/* Send the request; on success *report is the worker's end of the report socket and *rfd the output pipe. */
static ag_status sandbox_request(const ag_sandbox_limits *lim, const ag_sandbox_call *call, int *report, int *rfd,
                                 ag_err *err)
{
	static sandbox_req zero;
	sandbox_req *req = malloc(sizeof *req);
	if (!req)
		return ag_err_set(err, AG_E_NOMEM, "out of memory");
	*req = zero;
	req->fn = call->fn;
	req->lim = *lim;
	req->arg_size = call->arg_size;
	req->has_fd = call->fd >= 0;
	if (call->arg_size)
		memcpy(req->arg, call->arg, call->arg_size);
	int rep[2] = {-1, -1}, pipefd[2] = {-1, -1};
	ag_status st = AG_OK;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, rep) != 0 || pipe2(pipefd, O_CLOEXEC) != 0) {
		st = ag_err_set(err, AG_E_UNAVAILABLE, "sandbox: %s", strerror(errno));
		goto out;
	}
	int fds[3] = {rep[1], pipefd[1], call->fd};
	pthread_mutex_lock(&helper_mu);
	int sock = helper_sock;
	int sent = sock >= 0 ? sandbox_send(sock, req, offsetof(sandbox_req, arg) + req->arg_size, fds,
	                                    req->has_fd ? 3 : 2)
	                     : -1;
	int send_errno = errno;
	pthread_mutex_unlock(&helper_mu);
	if (sent != 0) {
		st = ag_err_set(err, AG_E_UNAVAILABLE, "the sandbox helper process is gone (%s)",
		                sock >= 0 ? strerror(send_errno) : "not started");
		goto out;
	}
	*report = rep[0];
	*rfd = pipefd[0];
	rep[0] = pipefd[0] = -1;
out:
	for (int i = 0; i < 2; i++) {
		if (rep[i] >= 0)
			close(rep[i]);
		if (pipefd[i] >= 0)
			close(pipefd[i]);
	}
	free(req);
	return st;
}

ag_status ag_sandbox_run(const ag_sandbox_limits *lim, const ag_sandbox_call *call, void (*progress)(void *ud),
                         void *ud, ag_sandbox_result *res, ag_err *err)
{
	int rfd = -1, report = -1;
	pid_t pid = -1;
	size_t alloc = 0;
	bool eof = false, full = false, timed_out = false;
	ag_status st = AG_OK;
	sandbox_report end = {0};

	memset(res, 0, sizeof *res);
	if (call->arg_size > AG_SANDBOX_MAX_ARG || (call->arg_size && !call->arg))
		return ag_err_set(err, AG_E_INVAL, "sandbox: an argument of %zu bytes (at most %d)", call->arg_size,
		                  AG_SANDBOX_MAX_ARG);
	if ((st = ag_sandbox_start(err)) != AG_OK || (st = sandbox_request(lim, call, &report, &rfd, err)) != AG_OK)
		return st;

	int64_t deadline = sandbox_now_ms() + lim->timeout_ms, next_progress = sandbox_now_ms() + SANDBOX_PROGRESS_MS;
	sandbox_report started;
	int got = sandbox_report_wait(report, SANDBOX_STARTED, deadline, &started);
	if (got != 1 || started.pid <= 0) {
		st = ag_err_set(err, AG_E_UNAVAILABLE, "the sandbox helper could not start a child%s%s",
		                got == 1 ? ": " : "", got == 1 ? strerror(started.err) : "");
		goto out;
	}
	pid = started.pid;
	fcntl(rfd, F_SETFL, fcntl(rfd, F_GETFL) | O_NONBLOCK);
	/* read until EOF (the child closed its end: it is exiting), the output ceiling, or the deadline */
	while (!eof && !full) {
		int64_t now = sandbox_now_ms();
		if (now >= deadline) {
			timed_out = true;
			break;
		}
		if (progress && now >= next_progress) {
			progress(ud);
			next_progress = now + SANDBOX_PROGRESS_MS;
		}
		int64_t wait = deadline - now;
		if (wait > SANDBOX_PROGRESS_MS)
			wait = SANDBOX_PROGRESS_MS;
		struct pollfd p = {.fd = rfd, .events = POLLIN};
		int r = poll(&p, 1, (int)wait);
		if (r < 0 && errno != EINTR) {
			st = ag_err_set(err, AG_E_IO, "poll: %s", strerror(errno));
			break;
		}
		if (r > 0) {
			st = sandbox_drain(rfd, res, &alloc, lim->max_output, &eof, &full, err);
			if (st != AG_OK)
				break;
		}
	}
	if (full || timed_out || st != AG_OK)
		kill(pid, SIGKILL);
	/* how it ended: a child that closed its pipe but lingers is killed at the deadline */
	got = sandbox_report_wait(report, SANDBOX_ENDED, deadline, &end);
	if (got == 0) {
		timed_out = !full;
		kill(pid, SIGKILL);
		got = sandbox_report_wait(report, SANDBOX_ENDED, sandbox_now_ms() + SANDBOX_REAP_MS, &end);
	}
	if (got != 1 && st == AG_OK)
		st = ag_err_set(err, AG_E_INTERNAL, "the sandbox helper did not report how the child ended");
	if (st != AG_OK)
		goto out;
	if (!res->out) {
		res->out = malloc(1);
		if (!res->out) {
			st = ag_err_set(err, AG_E_NOMEM, "out of memory");
			goto out;
		}
	}
	res->out[res->len] = '\0';

	if (!end.exited)
		res->signal = end.code;
	if (full)
		res->outcome = AG_SANDBOX_TOOBIG;
	else if (timed_out || res->signal == SIGXCPU)
		res->outcome = AG_SANDBOX_TIMEOUT;
	else if (res->signal == SIGKILL)
		res->outcome = AG_SANDBOX_OOM; /* not killed by us: the kernel's OOM killer (or the CPU hard limit) */
	else if (res->signal)
		res->outcome = AG_SANDBOX_CRASHED;
	else {
		res->exit_code = end.code;
		res->outcome = res->exit_code == 0                       ? AG_SANDBOX_OK
		               : res->exit_code == AG_SANDBOX_EXIT_NOMEM ? AG_SANDBOX_OOM
		                                                         : AG_SANDBOX_FAILED;
	}
out:
	if (pid > 0 && st != AG_OK)
		kill(pid, SIGKILL);
	if (rfd >= 0)
		close(rfd);
	if (report >= 0)
		close(report); /* the monitor reaps the child and exits */
	if (st != AG_OK)
		ag_sandbox_result_free(res);
	return st;
}

void ag_sandbox_result_free(ag_sandbox_result *r)
{
	if (!r)
		return;
	free(r->out);
	memset(r, 0, sizeof *r);
}
