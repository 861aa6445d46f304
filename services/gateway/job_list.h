/*
 * job_list.h - GET /v1/jobs?state=&cursor=&limit=: the caller's jobs, newest
 * first.
 *
 *   {items:[{id, document_id, filename, state, created_at, finished_at, error, error_code}], next_cursor}
 *
 * state: one of queued, running, succeeded, failed, rejected, cancelled
 * (anything else: 400). Keyset pagination on (created_at, id) with the
 * opaque cursor of cursor.h (next_cursor null on the last page; a cursor
 * the server did not make: 400); repeat the same state with the cursor.
 * limit: 1..JOBS_LIST_MAX_LIMIT (default JOB_LIST_LIMIT_DEFAULT, capped at
 * the setting). Only the caller's own jobs, admins included. Route user
 * data: `gateway *`.
 */
#ifndef GATEWAY_JOB_LIST_H
#define GATEWAY_JOB_LIST_H

#include "aegis/http.h"

#define JOB_LIST_LIMIT_DEFAULT 20
#define JOB_LIST_LIMIT_CEILING 1000 /* highest JOBS_LIST_MAX_LIMIT may be set to */

void job_list_get(ag_http_req *req, void *gw);

#endif
