/*
 * sandbox_priv.h - what sandbox.c (the worker's side of a run) and
 * sandbox_helper.c (the helper process, its monitors and the children) share:
 * the request and report messages on their sockets.
 */
#ifndef AEGIS_SANDBOX_PRIV_H
#define AEGIS_SANDBOX_PRIV_H

#include "aegis/sandbox.h"

#include <stddef.h>
#include <sys/types.h>

/* Worker -> helper, over the helper's socket, with 2 or 3 descriptors: the report socket, the output pipe's write
 * end and, when has_fd, the input file. Sent up to arg[arg_size]. */
typedef struct sandbox_req {
	ag_sandbox_fn fn;
	ag_sandbox_limits lim;
	size_t arg_size;
	int has_fd;
	_Alignas(max_align_t) unsigned char arg[AG_SANDBOX_MAX_ARG]; /* any struct may live here */
} sandbox_req;

/* Monitor -> worker, over the report socket: first SANDBOX_STARTED (pid, or err when the fork failed), then
 * SANDBOX_ENDED with how the child ended. The monitor reaps the child only after the worker closed its end, so
 * the pid stays the child's for as long as the worker may kill it. */
enum { SANDBOX_STARTED = 1, SANDBOX_ENDED = 2 };
typedef struct sandbox_report {
	int kind;
	pid_t pid;
	int err;    /* STARTED: errno of a failed fork, else 0 */
	int exited; /* ENDED: 1 = exit code in code, 0 = killed by signal `code` */
	int code;
} sandbox_report;

/* The helper: forked by ag_sandbox_start, serves requests on `sock` until the worker closes it. Never returns. */
void sandbox_helper_main(int sock, pid_t worker);

/* sendmsg of one message with up to 3 descriptors (none when nfd is 0); -1 with errno on failure. */
int sandbox_send(int sock, const void *buf, size_t len, const int *fds, int nfd);

#endif
