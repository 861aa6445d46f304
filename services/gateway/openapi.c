/*
 * openapi.c - serves the embedded OpenAPI document and names route methods
 * for `gateway --routes` (openapi.h).
 */
#include "openapi.h"

#include <stddef.h>

/* build/gen/embed/services/gateway/openapi.json.c (scripts/embed-file.sh) */
extern const unsigned char embedded_services_gateway_openapi_json[];
extern const size_t embedded_services_gateway_openapi_json_len;

void openapi_get(ag_http_req *req, void *ud)
{
	(void)ud;
	ag_http_resp_header(req, "Cache-Control", "public, max-age=300");
	ag_http_respond(req, 200, "application/json", embedded_services_gateway_openapi_json,
	                embedded_services_gateway_openapi_json_len);
}

static const char *openapi_method_name(ag_http_method m)
{
	switch (m) {
	case AG_HTTP_GET:
		return "GET";
	case AG_HTTP_HEAD:
		return "HEAD";
	case AG_HTTP_POST:
		return "POST";
	case AG_HTTP_PUT:
		return "PUT";
	case AG_HTTP_PATCH:
		return "PATCH";
	case AG_HTTP_DELETE:
		return "DELETE";
	case AG_HTTP_OPTIONS:
		return "OPTIONS";
	}
	return "UNKNOWN";
}

void openapi_print_route(FILE *out, ag_http_method m, const char *pattern)
{
	fprintf(out, "%s %s\n", openapi_method_name(m), pattern);
}
