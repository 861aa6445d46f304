/*
 * tus.h - resumable uploads, tus 1.0.0 (core + creation,
 * creation-with-upload, termination, expiration) under /v1/uploads.
 *
 *   OPTIONS /v1/uploads          204: Tus-Version, Tus-Extension, Tus-Max-Size (no token needed)
 *   POST    /v1/uploads          201 + Location: create (Upload-Length, Upload-Metadata with base64
 *                                filename / filetype, optional Idempotency-Key); a body of type
 *                                application/offset+octet-stream is the first bytes
 *   HEAD    /v1/uploads/{id}     200: Upload-Offset, Upload-Length, Upload-Expires, Cache-Control: no-store
 *   PATCH   /v1/uploads/{id}     204 + Upload-Offset: append at Upload-Offset
 *   DELETE  /v1/uploads/{id}     204: terminate (then 404)
 *
 * Every request but OPTIONS needs `Tus-Resumable: 1.0.0` (else 412) and a
 * bearer token; uploads are private to their owner (others get 404).
 * Errors are problem+json: 400 bad headers, 409 Upload-Offset differs from
 * the durable offset, 410 expired, 413 over MAX_UPLOAD_BYTES or past
 * Upload-Length, 415 wrong PATCH Content-Type, 422 Idempotency-Key reused
 * for another upload, 409 (+Retry-After) a creation with the same
 * Idempotency-Key is still sending its body (its lease is the upload's id),
 * 423 (+Retry-After) another PATCH holds the upload,
 * 503 (+Retry-After) storage or database unavailable.
 *
 * Across replicas and restarts: the row in `uploads` (migration 0007)
 * holds the durable offset and a lease; bytes go to the staging object
 * uploads/<id> and are fsynced before the offset that covers them is
 * written (also every third of TUS_LOCK_TTL_S during a long PATCH, and when
 * the client goes away), so the offset never runs ahead of storage. When
 * the last byte is durable the object becomes documents/<document id> and
 * the same document + job rows and JobSubmitted message as POST /v1/files
 * are made (submit.h); the answer carries Upload-Job-Id and
 * Location: /v1/jobs/{id}. Unfinished uploads expire TUS_EXPIRE_AFTER_S
 * after their last PATCH; a sweep every TUS_SWEEP_INTERVAL_S (a timer of
 * each gateway, whether or not tus requests come) removes their bytes.
 *
 * Route user data: the `gateway *`.
 */
#ifndef GATEWAY_TUS_H
#define GATEWAY_TUS_H

#include "gateway.h"

#include "aegis/http.h"

extern const ag_http_route_ops tus_create_route; /* POST /v1/uploads */
extern const ag_http_route_ops tus_patch_route;  /* PATCH /v1/uploads/{} */
void tus_options(ag_http_req *req, void *gw);    /* OPTIONS /v1/uploads[/{}] */
void tus_head(ag_http_req *req, void *gw);       /* HEAD /v1/uploads/{} */
void tus_delete(ag_http_req *req, void *gw);     /* DELETE /v1/uploads/{} */

/* The expiry sweep's timer (loop thread): the first sweep a second after start, then every
 * TUS_SWEEP_INTERVAL_S. Stop at the drain; a sweep running then finishes (the drain waits for it). */
void tus_sweeper_start(gateway *gw);
void tus_sweeper_stop(void);

#endif
