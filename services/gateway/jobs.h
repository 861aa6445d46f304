/*
 * jobs.h - GET /v1/jobs/{id}: the state of one of the caller's jobs.
 *
 *   {id, document_id, state, steps:[{name,state,attempts,error}], created_at, finished_at, error}
 *
 * Steps come in pipeline order (validate, metadata, content, ai); before the
 * orchestrator created them they read state "pending", attempts 0.
 * Timestamps are RFC 3339 UTC, null when absent. Another user's job, an
 * unknown id and a malformed id are all 404. Route user data: `gateway *`.
 */
#ifndef GATEWAY_JOBS_H
#define GATEWAY_JOBS_H

#include "aegis/http.h"

void jobs_get(ag_http_req *req, void *gw);

#endif
