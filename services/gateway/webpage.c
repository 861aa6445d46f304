/*
 * webpage.c - serves the embedded web page (webpage.h). The HTML is one
 * file to edit, services/gateway/webpage.html, compiled into the binary by
 * the Makefile's EMBED_gateway list (scripts/embed-file.sh), so the gateway
 * needs nothing at run time.
 */
#include "webpage.h"

#include <stddef.h>

extern const unsigned char embedded_services_gateway_webpage_html[];
extern const size_t embedded_services_gateway_webpage_html_len;

void webpage_get(ag_http_req *req, void *ud)
{
	(void)ud;
	ag_http_resp_header(req, "Content-Security-Policy",
	                    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
	                    "connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; "
	                    "base-uri 'none'");
	ag_http_resp_header(req, "X-Content-Type-Options", "nosniff");
	ag_http_resp_header(req, "Referrer-Policy", "no-referrer");
	ag_http_resp_header(req, "Cache-Control", "no-cache");
	ag_http_respond(req, 200, "text/html; charset=utf-8", embedded_services_gateway_webpage_html,
	                embedded_services_gateway_webpage_html_len);
}
