/* status.c - names, texts and transience of ag_status; ag_err formatting. */
#include "aegis/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct {
	const char *name;
	const char *text;
	bool transient;
} status_table[AG_STATUS_COUNT] = {
#define AG_X_ROW(sym, name, transient, text) [AG_##sym] = {name, text, transient},
        AG_STATUS_MAP(AG_X_ROW)
#undef AG_X_ROW
};

static bool status_valid(ag_status s)
{
	return (unsigned)s < AG_STATUS_COUNT;
}

const char *ag_status_str(ag_status s)
{
	return status_valid(s) ? status_table[s].text : "unknown status";
}

const char *ag_status_name(ag_status s)
{
	return status_valid(s) ? status_table[s].name : "unknown";
}

bool ag_status_transient(ag_status s)
{
	return status_valid(s) ? status_table[s].transient : true;
}

ag_status ag_err_set_(ag_err *err, ag_status code, const char *file, int line, const char *fmt, ...)
{
	if (!err)
		return code;
	err->code = code;
	err->file = file;
	err->line = line;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof err->msg, fmt, ap);
	va_end(ap);
	return code;
}

void ag_err_clear(ag_err *err)
{
	if (!err)
		return;
	memset(err, 0, sizeof *err);
}
