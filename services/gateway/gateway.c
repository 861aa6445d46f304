/*
 * gateway.c - answers and conversions shared by the gateway's routes.
 */
#include "gateway.h"

#include "aegis/log.h"

#include <limits.h>
#include <string.h>

void gateway_respond_unavailable(ag_http_req *req, const char *detail)
{
	ag_http_resp_header(req, "Retry-After", GATEWAY_RETRY_AFTER_S);
	ag_http_respond_problem(req, 503, "%s", detail);
}

void gateway_respond_error(ag_http_req *req, ag_status st, const ag_err *err, const char *what)
{
	const char *msg = err && err->msg[0] ? err->msg : ag_status_str(st);
	if (ag_status_transient(st) && st != AG_E_INTERNAL && st != AG_E_NOMEM) {
		ag_log_warn("%s: %s (%s)", what, msg, ag_status_name(st));
		char detail[160];
		snprintf(detail, sizeof detail, "%s is temporarily unavailable; try again", what);
		gateway_respond_unavailable(req, detail);
		return;
	}
	ag_log_error("%s: %s (%s)", what, msg, ag_status_name(st));
	ag_http_respond_problem(req, 500, "internal error");
}

json_t *gateway_json_text(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return json_null();
	return json_stringn(PQgetvalue(res, row, col), (size_t)PQgetlength(res, row, col));
}

json_t *gateway_json_int(const PGresult *res, int row, int col)
{
	long long v;
	if (PQgetisnull(res, row, col) || !ag_cfg_parse_ll(PQgetvalue(res, row, col), LLONG_MIN, LLONG_MAX, &v))
		return json_null();
	return json_integer((json_int_t)v);
}
