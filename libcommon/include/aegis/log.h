/*
 * log.h - structured logging: one JSON object per line on stderr.
 *
 *   {"ts":"2026-11-22T17:52:00.123Z","level":"info","service":"gateway",
 *    "msg":"listening","trace_id":"4bf9…"}
 *
 * The level is checked before any formatting. The trace id comes from the
 * calling thread's current trace context (trace.h, ag_trace_set_current), so
 * code deep in a handler logs with the right trace_id without passing it.
 * Secrets are never passed to the logger; that is the caller's rule.
 */
#ifndef AEGIS_LOG_H
#define AEGIS_LOG_H

#include <stdbool.h>

typedef enum { AG_LOG_DEBUG, AG_LOG_INFO, AG_LOG_WARN, AG_LOG_ERROR } ag_log_level;

/* Set once at start, before threads: the service name and the minimum level. */
void ag_log_init(const char *service, ag_log_level min);
/* "debug"|"info"|"warn"|"error" -> level; false when the name is unknown. */
bool ag_log_level_parse(const char *name, ag_log_level *out);
bool ag_log_enabled(ag_log_level lvl);

void ag_log_write(ag_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Same, with extra pre-formatted JSON members appended ("\"job_id\":\"…\""); `json_members`
 * must be valid JSON member text without braces, or NULL. */
void ag_log_writex(ag_log_level lvl, const char *json_members, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

#define ag_log_debug(...) (ag_log_enabled(AG_LOG_DEBUG) ? ag_log_write(AG_LOG_DEBUG, __VA_ARGS__) : (void)0)
#define ag_log_info(...)  (ag_log_enabled(AG_LOG_INFO) ? ag_log_write(AG_LOG_INFO, __VA_ARGS__) : (void)0)
#define ag_log_warn(...)  (ag_log_enabled(AG_LOG_WARN) ? ag_log_write(AG_LOG_WARN, __VA_ARGS__) : (void)0)
#define ag_log_error(...) ag_log_write(AG_LOG_ERROR, __VA_ARGS__)

#endif
