/*
 * status.h - the one status enum of Aegis and the error context that carries
 * human detail next to it.
 *
 * Every code is marked transient (worth retrying: the world may change) or
 * permanent (the same input fails the same way). The step runner uses exactly
 * that mark to decide between a delayed redelivery and ending the step.
 */
#ifndef AEGIS_STATUS_H
#define AEGIS_STATUS_H

#include <stdbool.h>
#include <stddef.h>

/* X(enum suffix, stable name, transient, text) */
#define AG_STATUS_MAP(X)                                                \
	X(OK, "ok", false, "ok")                                        \
	X(E_INVAL, "invalid", false, "invalid argument")                \
	X(E_NOMEM, "no_memory", true, "out of memory")                  \
	X(E_TIMEOUT, "timeout", true, "timed out")                      \
	X(E_UNAVAILABLE, "unavailable", true, "dependency unavailable") \
	X(E_IO, "io", true, "input/output error")                       \
	X(E_NOTFOUND, "not_found", false, "not found")                  \
	X(E_EXISTS, "exists", false, "already exists")                  \
	X(E_CONFLICT, "conflict", false, "conflict")                    \
	X(E_RETRY, "retry", true, "transient conflict, retry")          \
	X(E_TOOBIG, "too_big", false, "too large")                      \
	X(E_PROTO, "malformed", false, "malformed message")             \
	X(E_REJECTED, "rejected", false, "rejected by policy")          \
	X(E_UNSUPPORTED, "unsupported", false, "unsupported")           \
	X(E_AUTH, "unauthenticated", false, "not authenticated")        \
	X(E_FORBIDDEN, "forbidden", false, "forbidden")                 \
	X(E_CANCELLED, "cancelled", false, "cancelled")                 \
	X(E_INTERNAL, "internal", true, "internal error")

typedef enum {
#define AG_X_ENUM(sym, name, transient, text) AG_##sym,
	AG_STATUS_MAP(AG_X_ENUM)
#undef AG_X_ENUM
	        AG_STATUS_COUNT
} ag_status;

/* Short English text for a status ("timed out"). Never NULL. */
const char *ag_status_str(ag_status s);
/* Stable lower-case name ("timeout") for logs, metrics labels and reason codes. */
const char *ag_status_name(ag_status s);
/* true when retrying the same work may succeed. */
bool ag_status_transient(ag_status s);

#define AG_ERR_MSG_MAX 256

/*
 * Caller-provided error context. Functions that take an `ag_err *` may be
 * passed NULL when the caller does not want detail. The struct is plain data
 * (no heap), so it can live on the stack and be copied.
 */
typedef struct ag_err {
	ag_status code;
	char msg[AG_ERR_MSG_MAX];
	const char *file; /* static string, __FILE__ */
	int line;
} ag_err;

/* Record `code` and a printf-formatted message into `err` (if non-NULL); returns code. */
ag_status ag_err_set_(ag_err *err, ag_status code, const char *file, int line, const char *fmt, ...)
        __attribute__((format(printf, 5, 6)));
#define ag_err_set(err, code, ...) ag_err_set_((err), (code), __FILE__, __LINE__, __VA_ARGS__)

/* Reset to AG_OK with an empty message. NULL is accepted. */
void ag_err_clear(ag_err *err);

#endif
