/*
 * sandbox.c - fork, limit, run, read back, reap (see sandbox.h for why the
 * fork is safe in a threaded worker).
 */
#include "aegis/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define SANDBOX_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANDBOX_ASAN 1
#endif
#endif

#define SANDBOX_READ_BYTES  (64 * 1024)
#define SANDBOX_PROGRESS_MS 1000

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

/* The child: everything here before fn runs is async-signal-safe. Never returns. */
static void sandbox_child(const ag_sandbox_limits *lim, ag_sandbox_fn fn, void *arg, int rfd, int wfd)
{
	close(rfd);
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
	int code = fn(arg, out);
	if (fclose(out) != 0 && code == 0)
		code = AG_SANDBOX_EXIT_FAIL;
	_exit(code);
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

ag_status ag_sandbox_run(const ag_sandbox_limits *lim, ag_sandbox_fn fn, void *arg, void (*progress)(void *ud),
                         void *ud, ag_sandbox_result *res, ag_err *err)
{
	int fds[2] = {-1, -1};
	pid_t pid = -1;
	size_t alloc = 0;
	bool eof = false, full = false, timed_out = false;
	ag_status st = AG_OK;
	int wstatus = 0;

	memset(res, 0, sizeof *res);
	if (pipe2(fds, O_CLOEXEC) != 0)
		return ag_err_set(err, AG_E_UNAVAILABLE, "pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0) {
		st = ag_err_set(err, AG_E_UNAVAILABLE, "fork: %s", strerror(errno));
		goto out;
	}
	if (pid == 0)
		sandbox_child(lim, fn, arg, fds[0], fds[1]);
	close(fds[1]);
	fds[1] = -1;
	fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK);

	int64_t deadline = sandbox_now_ms() + lim->timeout_ms, next_progress = sandbox_now_ms() + SANDBOX_PROGRESS_MS;
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
		struct pollfd p = {.fd = fds[0], .events = POLLIN};
		int r = poll(&p, 1, (int)wait);
		if (r < 0 && errno != EINTR) {
			st = ag_err_set(err, AG_E_IO, "poll: %s", strerror(errno));
			break;
		}
		if (r > 0) {
			st = sandbox_drain(fds[0], res, &alloc, lim->max_output, &eof, &full, err);
			if (st != AG_OK)
				break;
		}
	}
	if (full || timed_out || st != AG_OK)
		kill(pid, SIGKILL);
	/* reap: a child that closed its pipe but lingers is killed at the deadline */
	for (;;) {
		pid_t w = waitpid(pid, &wstatus, WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			if (st == AG_OK)
				st = ag_err_set(err, AG_E_INTERNAL, "waitpid: %s", strerror(errno));
			pid = -1;
			goto out;
		}
		if (sandbox_now_ms() >= deadline && !timed_out && !full) {
			timed_out = true;
			kill(pid, SIGKILL);
		}
		struct timespec ts = {0, 2 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	pid = -1;
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

	if (WIFSIGNALED(wstatus))
		res->signal = WTERMSIG(wstatus);
	if (full)
		res->outcome = AG_SANDBOX_TOOBIG;
	else if (timed_out || res->signal == SIGXCPU)
		res->outcome = AG_SANDBOX_TIMEOUT;
	else if (res->signal == SIGKILL)
		res->outcome = AG_SANDBOX_OOM; /* not killed by us: the kernel's OOM killer (or the CPU hard limit) */
	else if (res->signal)
		res->outcome = AG_SANDBOX_CRASHED;
	else {
		res->exit_code = WEXITSTATUS(wstatus);
		res->outcome = res->exit_code == 0                       ? AG_SANDBOX_OK
		               : res->exit_code == AG_SANDBOX_EXIT_NOMEM ? AG_SANDBOX_OOM
		                                                         : AG_SANDBOX_FAILED;
	}
out:
	if (pid > 0) {
		kill(pid, SIGKILL);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	if (fds[0] >= 0)
		close(fds[0]);
	if (fds[1] >= 0)
		close(fds[1]);
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
