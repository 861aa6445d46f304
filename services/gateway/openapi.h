/*
 * openapi.h - GET /openapi.json: the OpenAPI 3.1 description of the public
 * API. The document is services/gateway/openapi.json, embedded in the binary
 * at build time (scripts/embed-file.sh through the Makefile's EMBED_gateway),
 * so it is one file to edit and served without file I/O. `gateway --routes`
 * prints the route table (openapi_print_route) so a test can check that
 * every routed path and method is described (tests/integration/openapi.sh).
 */
#ifndef GATEWAY_OPENAPI_H
#define GATEWAY_OPENAPI_H

#include "aegis/http.h"

#include <stdio.h>

/* Route handler; user data unused. */
void openapi_get(ag_http_req *req, void *ud);

/* "GET /v1/jobs/{}\n" on `out`: one line of `gateway --routes`. */
void openapi_print_route(FILE *out, ag_http_method m, const char *pattern);

#endif
