/*
 * log.c - JSON-lines logger. Each line is built in a stack buffer and written
 * with one write(2), so lines from several threads never interleave.
 */
#include "aegis/log.h"

#include "aegis/limits.h"
#include "aegis/trace.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *log_service = "aegis";
static ag_log_level log_min = AG_LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void ag_log_init(const char *service, ag_log_level min)
{
	log_service = service;
	log_min = min;
}

bool ag_log_level_parse(const char *name, ag_log_level *out)
{
	for (int i = 0; i < 4; i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*out = (ag_log_level)i;
			return true;
		}
	}
	if (strcmp(name, "warning") == 0) {
		*out = AG_LOG_WARN;
		return true;
	}
	return false;
}

bool ag_log_enabled(ag_log_level lvl)
{
	return lvl >= log_min;
}

/* Append `s` JSON-escaped; stops quietly when the buffer is full (the line is cut, never overrun). */
static size_t log_escape(char *buf, size_t pos, size_t cap, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	for (; *s && pos + 7 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			buf[pos++] = '\\';
			buf[pos++] = (char)c;
		} else if (c == '\n') {
			buf[pos++] = '\\';
			buf[pos++] = 'n';
		} else if (c < 0x20) {
			memcpy(buf + pos, "\\u00", 4);
			pos += 4;
			buf[pos++] = hex[c >> 4];
			buf[pos++] = hex[c & 15];
		} else {
			buf[pos++] = (char)c;
		}
	}
	return pos;
}

static void log_emit(ag_log_level lvl, const char *members, const char *fmt, va_list ap)
{
	char msg[AG_LOG_LINE_MAX / 2];
	char line[AG_LOG_LINE_MAX];
	vsnprintf(msg, sizeof msg, fmt, ap);

	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);

	int n = snprintf(
	        line, sizeof line,
	        "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"level\":\"%s\",\"service\":\"%s\",\"msg\":\"",
	        tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
	        level_names[lvl], log_service);
	size_t pos = (n > 0 && (size_t)n < sizeof line) ? (size_t)n : 0;
	pos = log_escape(line, pos, sizeof line - 64, msg);
	const char *tid = ag_trace_current_id();
	n = snprintf(line + pos, sizeof line - pos, "\"%s%s%s", *tid ? ",\"trace_id\":\"" : "", tid, *tid ? "\"" : "");
	pos += (n > 0 && (size_t)n < sizeof line - pos) ? (size_t)n : 0;
	if (members && *members) {
		size_t ml = strlen(members);
		if (pos + ml + 3 < sizeof line) {
			line[pos++] = ',';
			memcpy(line + pos, members, ml);
			pos += ml;
		}
	}
	if (pos + 2 > sizeof line)
		pos = sizeof line - 2;
	line[pos++] = '}';
	line[pos++] = '\n';
	/* stderr may be a pipe that is gone; there is nowhere else to report that. */
	ssize_t w = write(STDERR_FILENO, line, pos);
	(void)w;
}

void ag_log_write(ag_log_level lvl, const char *fmt, ...)
{
	if (!ag_log_enabled(lvl))
		return;
	va_list ap;
	va_start(ap, fmt);
	log_emit(lvl, NULL, fmt, ap);
	va_end(ap);
}

void ag_log_writex(ag_log_level lvl, const char *json_members, const char *fmt, ...)
{
	if (!ag_log_enabled(lvl))
		return;
	va_list ap;
	va_start(ap, fmt);
	log_emit(lvl, json_members, fmt, ap);
	va_end(ap);
}
