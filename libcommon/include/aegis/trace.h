/*
 * trace.h - W3C trace context (traceparent) made, parsed, propagated and kept
 * as the calling thread's current context for the logger.
 *
 *   traceparent: 00-<32 hex trace id>-<16 hex span id>-<2 hex flags>
 *
 * The gateway starts a trace per request (or continues the client's), puts
 * it on every NATS message header ("traceparent", lower case), and each
 * worker continues it with a new span id. Spans are logged; OTLP export is a
 * later addition behind the same API.
 */
#ifndef AEGIS_TRACE_H
#define AEGIS_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AG_TRACEPARENT_LEN 55 /* without NUL */

typedef struct ag_trace {
	char trace_id[33]; /* lower-case hex, NUL-terminated; "" when no trace */
	char span_id[17];
	uint8_t flags;
} ag_trace;

/* A fresh root context (random ids, sampled flag). */
void ag_trace_new(ag_trace *out);
/* Parse a traceparent header; false (and *out untouched) when malformed or all-zero ids. */
bool ag_trace_parse(const char *traceparent, ag_trace *out);
/* A child of `parent`: same trace id, new span id. */
void ag_trace_child(const ag_trace *parent, ag_trace *out);
/* Continue `header` when valid, else start a new trace. */
void ag_trace_continue(const char *header_or_null, ag_trace *out);
/* Write "00-…-…-01" into buf (>= AG_TRACEPARENT_LEN + 1 bytes). */
void ag_trace_format(const ag_trace *t, char *buf, size_t bufsz);

/* Thread-local current context used by log.h; NULL clears. The pointer is copied. */
void ag_trace_set_current(const ag_trace *t);
/* The current trace id, or "" when none. Valid until the next set on this thread. */
const char *ag_trace_current_id(void);

#endif
