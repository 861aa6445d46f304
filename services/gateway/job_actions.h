/*
 * job_actions.h - what a user (or an operator) can do to a job besides
 * reading it: cancel it, redrive a failed one from its failed step, run the
 * pipeline again for a stored document, and (role admin) list dead letters.
 *
 *   DELETE /v1/jobs/{id}, POST /v1/jobs/{id}/cancel  -> 200 job cancelled (idempotent), 409 when already over
 *   POST /v1/jobs/{id}/retry                         -> 202 failed/cancelled job queued again, 409 otherwise
 *   POST /v1/documents/{id}/reprocess                -> 202 a new job, 409 while one is in progress
 *   GET  /v1/admin/dead-letters?limit=N              -> 200 newest first, 403 without role admin
 */
#ifndef GATEWAY_JOB_ACTIONS_H
#define GATEWAY_JOB_ACTIONS_H

#include "aegis/http.h"

void job_actions_cancel(ag_http_req *req, void *gw);
void job_actions_retry(ag_http_req *req, void *gw);
void job_actions_reprocess(ag_http_req *req, void *gw);
void job_actions_dead_letters(ag_http_req *req, void *gw);

#endif
